"""Windowed reductions (pooling): reduce_window_sum, reduce_window_max, reduce_window_min, and
JAX's own derivatives of max pooling, select_and_gather_add and select_and_scatter_add.

``reduce_window_sum`` is linear. Its adjoint is JAX's: itself, with ``base_dilation`` as
strides, on the cotangent padded and dilated by the strides (a ``pad``).

``reduce_window_max`` / ``_min`` are differentiated as JAX does: the tangent is JAX's
``select_and_gather_add`` and the cotangent its ``select_and_scatter_add``, each of which selects
every window's max inside one operation (see the banner below for why that matters under jit).
The generic ``reduce_window`` (any other computation) is in ``adlab/expansions.py``.
"""

import numpy as np
from jax import lax

from .._compat import select_and_gather_add_p, select_and_scatter_add_p
from .._errors import UnsupportedParamError
from . import ANY, deflinear, defrule, defwhole


def _pad(x, config, value=0):
    """``lax.pad`` with a Python scalar padding value: ``config`` has one ``(lo, hi, interior)``
    per axis; ``lo`` and ``hi`` may be negative."""
    return lax.pad(x, lax.full((), value, x.dtype), tuple(tuple(c) for c in config))


def _dilated(n, d):
    return 0 if n == 0 else 1 + d * (n - 1)


# --- reduce_window_sum: linear ------------------------------------------------------------------


def _reduce_window_sum_vjp(
    ct, out, x, *, window_dimensions, window_strides, padding, base_dilation, window_dilation
):
    # JAX's _reduce_window_sum_transpose_rule, with pad written in the primitive set.
    config = []
    for n, w, s, (lo, _), b, wd, m in zip(
        x.shape, window_dimensions, window_strides, padding, base_dilation, window_dilation,
        ct.shape,
    ):  # fmt: skip
        before = _dilated(w, wd) - lo - 1
        after = _dilated(n, b) + _dilated(w, wd) - 1 - _dilated(m, s) - before
        config.append((before, after, s - 1))
    return lax.reduce_window(
        _pad(ct, config),
        np.array(0, ct.dtype),
        lax.add,
        window_dimensions,
        base_dilation,
        [(0, 0)] * x.ndim,
        window_dilation=window_dilation,
    )


_WINDOW_PARAMS = {
    "window_dimensions": ANY,
    "window_strides": ANY,
    "padding": ANY,
    "base_dilation": ANY,
    "window_dilation": ANY,
}

deflinear("reduce_window_sum", _reduce_window_sum_vjp, params=_WINDOW_PARAMS)


# --- reduce_window_max / _min, select_and_gather_add, select_and_scatter_add -----------------
# The derivative of max (min) pooling selects, in each window, the element that attains the
# max. The selection is made inside one operation, as JAX makes it, and never by comparing
# the pooled output with the operand: under jax.jit, XLA may compute the operand twice, in two
# fusions that round differently, and then a window would match no element and lose its
# cotangent without a word.
#
# * select_and_gather_add(t, x) reads, in each window, the entry of t where x attains its max
#   (``select_prim=ge``) or min (``le``). One reduction over (x, t) pairs picks the element and
#   carries its tangent along, so each window yields exactly one entry whatever x's rounding.
#   It is the tangent map of reduce_window_max (min) at x: JAX's own JVP.
# * select_and_scatter_add(s, x), its adjoint, adds each window's s to the element of x that
#   the same selection picks (XLA's SelectAndScatter): exactly one element per window.
#
# Both are linear in their first operand, and x only selects (zero derivative), so the three
# rules close on each other and adlab differentiates its own output to any order. Ties are
# XLA's (on CPU, the first element in window order), as in JAX. Reverse mode with window
# dilation is refused, as in JAX: XLA's SelectAndScatter has no window dilation.


def _select_prim(is_max):
    return lax.ge_p if is_max else lax.le_p


def _gather_add(t, x, select_prim, window_dimensions, window_strides, padding, base_dilation,
                window_dilation):  # fmt: skip
    return select_and_gather_add_p.bind(
        t, x, select_prim=select_prim, window_dimensions=tuple(window_dimensions),
        window_strides=tuple(window_strides), padding=tuple(map(tuple, padding)),
        base_dilation=tuple(base_dilation), window_dilation=tuple(window_dilation),
    )  # fmt: skip


def _refuse_window_dilation(window_dilation, name):
    if any(d != 1 for d in window_dilation):
        raise UnsupportedParamError(
            f"adlab's reverse mode of {name} does not handle window_dilation="
            f"{tuple(window_dilation)} (dilated max or min pooling), nor does JAX's: the "
            "selection it needs (XLA's SelectAndScatter) has no window dilation. Use forward "
            "mode (adlab.jvp, adlab.jacfwd), or pool without window dilation.",
            name,
        )


def _scatter_add_back(ct, x, select_prim, window_dimensions, window_strides, padding,
                      base_dilation, window_dilation, name):  # fmt: skip
    """The adjoint of ``t -> select_and_gather_add(t, x)``: JAX's transpose rule."""
    _refuse_window_dilation(window_dilation, name)
    dilated = any(d != 1 for d in base_dilation)
    if dilated:  # the dilation's holes never win a window
        init = -np.inf if select_prim is lax.ge_p else np.inf
        x = _pad(x, [(0, 0, d - 1) for d in base_dilation], init)
    out = select_and_scatter_add_p.bind(
        ct, x, select_prim=select_prim, window_dimensions=tuple(window_dimensions),
        window_strides=tuple(window_strides), padding=tuple(map(tuple, padding)),
    )  # fmt: skip
    if dilated:
        out = lax.slice(out, (0,) * out.ndim, out.shape, tuple(base_dilation))
    return out


def _chooser_rule(is_max, name):
    select_prim = _select_prim(is_max)

    def jvp(x_dot, out, x, **params):
        return _gather_add(x_dot, x, select_prim, **params)

    def vjp(ct, out, x, **params):
        return _scatter_add_back(ct, x, select_prim, **params, name=name)

    return jvp, vjp


for _name, _is_max in (("reduce_window_max", True), ("reduce_window_min", False)):
    _jvp, _vjp = _chooser_rule(_is_max, _name)
    defrule(_name, (_jvp,), (_vjp,), params=_WINDOW_PARAMS)


# They appear when adlab differentiates code that JAX has already differentiated (a jax.grad
# or jax.jvp of max pooling), and in adlab's own derivatives of pooling.


def _select_and_gather_add_vjp(ct, out, t, x, *, needs, **params):
    return [_scatter_add_back(ct, x, **params, name="select_and_gather_add"), None]


def _select_and_scatter_add_tangent(s_dot, x, *, select_prim, window_dimensions, window_strides,
                                    padding):  # fmt: skip
    return select_and_scatter_add_p.bind(
        s_dot, x, select_prim=select_prim, window_dimensions=window_dimensions,
        window_strides=window_strides, padding=padding,
    )  # fmt: skip


def _select_and_scatter_add_vjp(ct, out, s, x, *, needs, **params):
    ones = (1,) * x.ndim
    return [_gather_add(ct, x, **params, base_dilation=ones, window_dilation=ones), None]


_SELECT = {"select_prim": lambda p: p is lax.ge_p or p is lax.le_p}
defwhole(
    "select_and_gather_add",
    lambda tangents, out, t, x, **params: (
        None if tangents[0] is None else _gather_add(tangents[0], x, **params)
    ),
    _select_and_gather_add_vjp,
    params={**_WINDOW_PARAMS, **_SELECT},
)
defwhole(
    "select_and_scatter_add",
    lambda tangents, out, s, x, **params: (
        None if tangents[0] is None else _select_and_scatter_add_tangent(tangents[0], x, **params)
    ),
    _select_and_scatter_add_vjp,
    params={"window_dimensions": ANY, "window_strides": ANY, "padding": ANY, **_SELECT},
)
