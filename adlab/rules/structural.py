"""Structural primitives: they move, copy and sum elements, so they are linear.

Each one's tangent is the same op applied to the tangent (``LINEAR``). Its cotangent is
the adjoint (transpose) op: the adjoint of a broadcast is a sum, the adjoint of a slice is
an embedding into zeros, and the adjoint of a transpose is the inverse permutation.
"""

import numpy as np
from jax import lax

from . import LINEAR, defjvp, defjvp_whole, defnondiff, defvjp, defvjp_whole

# --- Broadcasting and reductions are each other's adjoints ----------------------------------


def _broadcast_in_dim_vjp(ct, out, x, *dyn_shape, broadcast_dimensions, **_):
    # Sum over the new axes and over the size-1 axes that were stretched, then drop them.
    new_axes = [d for d in range(ct.ndim) if d not in broadcast_dimensions]
    stretched = [d for d, n in zip(broadcast_dimensions, x.shape) if n == 1 and ct.shape[d] != 1]
    summed = lax.reduce_sum(ct, tuple(sorted(new_axes + stretched)))
    return lax.reshape(summed, x.shape) if summed.shape != x.shape else summed


defjvp("broadcast_in_dim", LINEAR)
defvjp("broadcast_in_dim", _broadcast_in_dim_vjp)


def _kept_axes(x, axes):
    return tuple(d for d in range(x.ndim) if d not in axes)


# sum_i x_i: each x_i receives the whole cotangent.
defjvp("reduce_sum", LINEAR)
defvjp(
    "reduce_sum",
    lambda ct, out, x, *, axes, **_: lax.broadcast_in_dim(ct, x.shape, _kept_axes(x, axes)),
)


def _chosen(x, out, axes):
    # Indicators of the positions that attain the max (min), and how many tie there.
    kept = _kept_axes(x, axes)
    hits = lax.convert_element_type(
        lax.eq(x, lax.broadcast_in_dim(out, x.shape, kept)), lax.dtype(x)
    )
    return hits, lax.reduce_sum(hits, axes), kept


def _reduce_chooser_jvp(x_dot, out, x, *, axes, **_):
    # The tangent of a max is the mean tangent over the positions that tie for it (JAX's rule).
    hits, counts, _ = _chosen(x, out, axes)
    return lax.div(lax.reduce_sum(lax.mul(x_dot, hits), axes), counts)


def _reduce_chooser_vjp(ct, out, x, *, axes, **_):
    # Adjoint of the above: the cotangent is shared equally by the tied positions.
    hits, counts, kept = _chosen(x, out, axes)
    return lax.mul(lax.broadcast_in_dim(lax.div(ct, counts), x.shape, kept), hits)


for _name in ("reduce_max", "reduce_min"):
    defjvp(_name, _reduce_chooser_jvp)
    defvjp(_name, _reduce_chooser_vjp)


# --- Reshaping: the adjoint puts the elements back ----------------------------------------------

for _name in ("reshape", "squeeze"):
    defjvp(_name, LINEAR)
    defvjp(_name, lambda ct, out, x, *dyn, **_: lax.reshape(ct, x.shape))

# jnp.copy / jnp.array(x): the identity, its own adjoint.
defjvp("copy", LINEAR)
defvjp("copy", lambda ct, out, x: ct)

# Reversing an axis is its own adjoint.
defjvp("rev", LINEAR)
defvjp("rev", lambda ct, out, x, *, dimensions: lax.rev(ct, dimensions))

defjvp("transpose", LINEAR)
defvjp(
    "transpose",
    lambda ct, out, x, *, permutation: lax.transpose(ct, tuple(np.argsort(permutation))),
)


# --- Slicing and concatenation ------------------------------------------------------------------


def _embed(ct, axis, start, stride, size):
    # Adjoint of taking every `stride`-th element from `start` along `axis`: put each
    # cotangent element back at its position and fill the rest with zeros. Built from
    # broadcast/concatenate/reshape/slice so the result stays inside the primitive set.
    m = ct.shape[axis]
    if stride > 1 and m > 0:
        shape = list(ct.shape)
        shape.insert(axis + 1, 1)
        dims = [d if d <= axis else d + 1 for d in range(ct.ndim)]
        spread = lax.broadcast_in_dim(ct, tuple(shape), tuple(dims))
        gap_shape = list(shape)
        gap_shape[axis + 1] = stride - 1
        gap = lax.full(tuple(gap_shape), 0, ct.dtype)
        spread = lax.concatenate([spread, gap], axis + 1)
        merged = list(ct.shape)
        merged[axis] = m * stride
        ct = lax.slice_in_dim(
            lax.reshape(spread, tuple(merged)), 0, (m - 1) * stride + 1, axis=axis
        )
    pieces = []
    before, after = start, size - start - ct.shape[axis]
    for count in (before, None, after):
        if count is None:
            pieces.append(ct)
        elif count > 0:
            pad_shape = list(ct.shape)
            pad_shape[axis] = count
            pieces.append(lax.full(tuple(pad_shape), 0, ct.dtype))
    return lax.concatenate(pieces, axis) if len(pieces) > 1 else ct


def _slice_vjp(ct, out, x, *, start_indices, limit_indices, strides, **_):
    strides = strides or (1,) * x.ndim
    for axis, (start, stride, size) in enumerate(zip(start_indices, strides, x.shape)):
        ct = _embed(ct, axis, start, stride, size)
    return ct


defjvp("slice", LINEAR)
defvjp("slice", _slice_vjp)


def _concatenate_jvp(tangents, out, *xs, dimension):
    if all(t is None for t in tangents):
        return None
    dots = [lax.full_like(x, 0) if t is None else t for t, x in zip(tangents, xs)]
    return lax.concatenate(dots, dimension)


def _concatenate_vjp(ct, out, *xs, needs, dimension):
    # Each operand receives the slab of the cotangent it occupied.
    cts, start = [], 0
    for x, need in zip(xs, needs):
        stop = start + x.shape[dimension]
        cts.append(lax.slice_in_dim(ct, start, stop, axis=dimension) if need else None)
        start = stop
    return cts


defjvp_whole("concatenate", _concatenate_jvp)
defvjp_whole("concatenate", _concatenate_vjp)


# --- No derivative ---------------------------------------------------------------------

defnondiff("iota")
