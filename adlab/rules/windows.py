"""Windowed reductions (pooling): reduce_window_sum, reduce_window_max, reduce_window_min, and
the primitives their derivatives need.

``reduce_window_sum`` is linear. Its adjoint is JAX's: itself, with ``base_dilation`` as
strides, on the cotangent padded and dilated by the strides (a ``pad``).

``reduce_window_max`` / ``_min`` do not use JAX's ``select_and_gather_add`` /
``select_and_scatter_add`` (two more primitives). The padded, dilated operand is cut into
one strided slice per window offset (a "patch": the element at that offset of every window);
the output's tangent is, in each window, the tangent of the first element in window order
(row-major) that attains the max. That is JAX's choice at ties, and also in padding: a
window whose max is the padding's -inf (+inf) gets a zero tangent when a padding position
comes first. The cotangent goes back through the adjoint of each strided slice (a pad with
interior zeros) and of the padding (a slice). Everything stays inside the primitive set.
"""

import itertools

import numpy as np
from jax import lax

from . import ANY, deflinear, defrule


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

    return (jvp,), (vjp,)


defrule("reduce_window_max", *_chooser_rule(-np.inf), params=_WINDOW_PARAMS)
defrule("reduce_window_min", *_chooser_rule(np.inf), params=_WINDOW_PARAMS)
