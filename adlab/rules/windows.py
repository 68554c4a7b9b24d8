"""Windowed reductions (pooling): reduce_window_sum, reduce_window_max, reduce_window_min, and
JAX's own derivatives of max pooling, select_and_gather_add and select_and_scatter_add.

``reduce_window_sum`` is linear. Its adjoint is JAX's: itself, with ``base_dilation`` as
strides, on the cotangent padded and dilated by the strides (a ``pad``).

``reduce_window_max`` / ``_min`` do not emit JAX's ``select_and_gather_add`` /
``select_and_scatter_add``, whose ties XLA leaves open. The padded, dilated operand is cut into
one strided slice per window offset (a "patch": the element at that offset of every window);
the output's tangent is, in each window, the tangent of the first element in window order
(row-major) that attains the max. That is JAX's choice at ties, and also in padding: a
window whose max is the padding's -inf (+inf) gets a zero tangent when a padding position
comes first. The cotangent goes back through the adjoint of each strided slice (a pad with
interior zeros) and of the padding (a slice). Everything stays inside the primitive set.
The generic ``reduce_window`` (any other computation) is in ``adlab/expansions.py``.
"""

import itertools

import numpy as np
from jax import lax

from . import ANY, deflinear, defrule, defwhole


def _pad(x, config, value=0):
    """``lax.pad`` with a Python scalar padding value: ``config`` has one ``(lo, hi, interior)``
    per axis; ``lo`` and ``hi`` may be negative."""
    return lax.pad(x, lax.full((), value, x.dtype), tuple(tuple(c) for c in config))


def _unpad(ct, config, shape):
    """The adjoint of :func:`_pad` (with zeros): the cotangent of the padded operand."""
    ct = _pad(ct, [(max(-lo, 0), max(-hi, 0), 0) for lo, hi, _ in config])
    starts = [max(lo, 0) for lo, _, _ in config]
    limits = [
        s + (n - 1) * (i + 1) + 1 if n else s for s, n, (_, _, i) in zip(starts, shape, config)
    ]
    return lax.slice(ct, starts, limits, [i + 1 for _, _, i in config])


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


# --- reduce_window_max / _min: the first element that attains the max in each window -----------


def _patches(out, x, window_dimensions, window_strides, padding, base_dilation, window_dilation):
    """The padding config and, for each window offset, its strided slice's bounds."""
    config = [(lo, hi, b - 1) for (lo, hi), b in zip(padding, base_dilation)]
    slices = []
    for offset in itertools.product(*(range(w) for w in window_dimensions)):
        starts = [o * d for o, d in zip(offset, window_dilation)]
        limits = [st + (m - 1) * s + 1 for st, m, s in zip(starts, out.shape, window_strides)]
        slices.append((starts, limits))
    return config, slices


def _chooser_rule(init):
    def choices(out, x, params):
        """Per window offset: its slice's bounds, and where it is the chosen element."""
        config, slices = _patches(out, x, **params)
        padded = _pad(x, config, init)
        found = lax.full(out.shape, False, bool)
        taken = []
        for starts, limits in slices:
            hit = lax.eq(lax.slice(padded, starts, limits, params["window_strides"]), out)
            take = lax.select(found, lax.full(out.shape, False, bool), hit)
            found = lax.select(found, found, hit)
            taken.append((starts, limits, take))
        return config, taken

    def jvp(x_dot, out, x, **params):
        if out.size == 0:
            return lax.full_like(out, 0)
        config, taken = choices(out, x, params)
        padded = _pad(x_dot, config)
        zero = lax.full_like(out, 0)
        total = None
        for starts, limits, take in taken:
            term = lax.select(
                take, lax.slice(padded, starts, limits, params["window_strides"]), zero
            )
            total = term if total is None else lax.add(total, term)
        return total

    def vjp(ct, out, x, **params):
        if out.size == 0 or x.size == 0:
            return lax.full_like(x, 0)
        config, taken = choices(out, x, params)
        padded_shape = [
            max(_dilated(n, b) + lo + hi, 0)
            for n, (lo, hi), b in zip(x.shape, params["padding"], params["base_dilation"])
        ]
        zero = lax.full_like(ct, 0)
        total = None
        for starts, limits, take in taken:
            spread = [
                (st, n - lim, s - 1)
                for st, lim, n, s in zip(starts, limits, padded_shape, params["window_strides"])
            ]
            term = _pad(lax.select(take, ct, zero), spread)
            total = term if total is None else lax.add(total, term)
        return _unpad(total, config, x.shape)

    return jvp, vjp


_MAX_JVP, _MAX_VJP = _chooser_rule(-np.inf)
_MIN_JVP, _MIN_VJP = _chooser_rule(np.inf)
defrule("reduce_window_max", (_MAX_JVP,), (_MAX_VJP,), params=_WINDOW_PARAMS)
defrule("reduce_window_min", (_MIN_JVP,), (_MIN_VJP,), params=_WINDOW_PARAMS)


# --- select_and_gather_add / select_and_scatter_add: JAX's own pooling derivatives ------------
# They appear when adlab differentiates code that JAX has already differentiated (a
# jax.grad or jax.jvp of max pooling). select_and_gather_add(t, x) reads, in each window,
# the entry of t where x attains its max (``select_prim=ge``) or min (``le``): it is the
# tangent map of reduce_window_max/min at x, so its derivatives are the chooser's above.
# select_and_scatter_add(s, x) is its adjoint. Both are linear in their first operand, and x
# only selects (zero derivative).


def _chooser_of(select_prim):
    is_max = select_prim is lax.ge_p
    return (
        (_MAX_JVP, _MAX_VJP, -np.inf, lax.max) if is_max else (_MIN_JVP, _MIN_VJP, np.inf, lax.min)
    )


def _pooled(x, select_prim, params):
    """reduce_window_max (min) of x: the chooser's reference output."""
    _, _, init, op = _chooser_of(select_prim)
    return lax.reduce_window(
        x, np.array(init, lax.dtype(x)), op, params["window_dimensions"],
        params["window_strides"], params["padding"], params["base_dilation"],
        params["window_dilation"],
    )  # fmt: skip


def _undilated(params, ndim):
    return {**params, "base_dilation": (1,) * ndim, "window_dilation": (1,) * ndim}


def _gather_add_tangent(t, x, select_prim, **params):  # select_and_gather_add itself
    jvp, *_ = _chooser_of(select_prim)
    return jvp(t, _pooled(x, select_prim, params), x, **params)


def _gather_add_adjoint(ct, x, select_prim, **params):  # its adjoint: select_and_scatter_add
    _, vjp, *_ = _chooser_of(select_prim)
    return vjp(ct, _pooled(x, select_prim, params), x, **params)


def _select_and_gather_add_jvp(tangents, out, t, x, **params):
    return None if tangents[0] is None else _gather_add_tangent(tangents[0], x, **params)


def _select_and_gather_add_vjp(ct, out, t, x, *, needs, **params):
    return [_gather_add_adjoint(ct, x, **params), None]


def _select_and_scatter_add_jvp(tangents, out, s, x, **params):
    if tangents[0] is None:
        return None
    return _gather_add_adjoint(tangents[0], x, **_undilated(params, x.ndim))


def _select_and_scatter_add_vjp(ct, out, s, x, *, needs, **params):
    return [_gather_add_tangent(ct, x, **_undilated(params, x.ndim)), None]


_SELECT = {"select_prim": lambda p: p is lax.ge_p or p is lax.le_p}
defwhole(
    "select_and_gather_add",
    _select_and_gather_add_jvp,
    _select_and_gather_add_vjp,
    params={**_WINDOW_PARAMS, **_SELECT},
)
defwhole(
    "select_and_scatter_add",
    _select_and_scatter_add_jvp,
    _select_and_scatter_add_vjp,
    params={"window_dimensions": ANY, "window_strides": ANY, "padding": ANY, **_SELECT},
)
