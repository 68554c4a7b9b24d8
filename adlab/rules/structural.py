"""Structural primitives: they move, copy and sum elements, so they are linear.

Each one's tangent is the same op applied to the tangent (``deflinear``). Its cotangent is
the adjoint (transpose) op: the adjoint of a broadcast is a sum, the adjoint of a slice is
a padding with zeros, and the adjoint of a transpose is the inverse permutation.
"""

import numpy as np
from jax import lax

from . import ANY, UNSET, deflinear, defmulti, defrule, defwhole, defzero

# --- Broadcasting and reductions are each other's adjoints ----------------------------------


def _broadcast_in_dim_vjp(ct, out, x, *, broadcast_dimensions, **_):
    # Sum over the new axes and over the size-1 axes that were stretched, then drop them.
    new_axes = [d for d in range(ct.ndim) if d not in broadcast_dimensions]
    stretched = [d for d, n in zip(broadcast_dimensions, x.shape) if n == 1 and ct.shape[d] != 1]
    summed = lax.reduce_sum(ct, tuple(sorted(new_axes + stretched)))
    return lax.reshape(summed, x.shape) if summed.shape != x.shape else summed


deflinear(
    "broadcast_in_dim",
    _broadcast_in_dim_vjp,
    params={"shape": ANY, "broadcast_dimensions": ANY, "sharding": UNSET},
)


def _kept_axes(x, axes):
    return tuple(d for d in range(x.ndim) if d not in axes)


# sum_i x_i: each x_i receives the whole cotangent.
deflinear(
    "reduce_sum",
    lambda ct, out, x, *, axes, **_: lax.broadcast_in_dim(ct, x.shape, _kept_axes(x, axes)),
    params={"axes": ANY, "out_sharding": UNSET},
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
    defrule(
        _name,
        (_reduce_chooser_jvp,),
        (_reduce_chooser_vjp,),
        params={"axes": ANY, "out_sharding": UNSET},
    )


# --- Reshaping: the adjoint puts the elements back ----------------------------------------------


def _reshape_vjp(ct, out, x, *, dimensions, **_):
    # reshape with `dimensions` transposes x by that permutation first, then reshapes
    # (what jnp.ravel(x, order="F") emits). The adjoint undoes both, in reverse order.
    if dimensions is None:
        return lax.reshape(ct, x.shape)
    transposed = tuple(x.shape[d] for d in dimensions)
    return lax.transpose(lax.reshape(ct, transposed), tuple(np.argsort(dimensions)))


deflinear("reshape", _reshape_vjp, params={"new_sizes": ANY, "dimensions": ANY, "sharding": UNSET})
deflinear("squeeze", lambda ct, out, x, **_: lax.reshape(ct, x.shape), params={"dimensions": ANY})

# jnp.copy / jnp.array(x): the identity, its own adjoint.
deflinear("copy", lambda ct, out, x: ct)

# Reversing an axis is its own adjoint.
deflinear(
    "rev", lambda ct, out, x, *, dimensions: lax.rev(ct, dimensions), params={"dimensions": ANY}
)

deflinear(
    "transpose",
    lambda ct, out, x, *, permutation: lax.transpose(ct, tuple(np.argsort(permutation))),
    params={"permutation": ANY},
)


# --- Slicing and concatenation ------------------------------------------------------------------


def _slice_vjp(ct, out, x, *, start_indices, limit_indices, strides, **_):
    # Adjoint of a (strided) slice: put each cotangent element back at its position, with
    # zeros elsewhere. That is one pad with zeros: `start` before, `stride - 1` between the
    # elements, and after them what is left of the axis. The end is that of the last
    # element taken, not `limit`, which a stride may overshoot.
    strides = strides or (1,) * x.ndim
    config = []
    for start, stride, size, m in zip(start_indices, strides, x.shape, ct.shape):
        end = start + (m - 1) * stride + 1 if m > 0 else start
        config.append((start, size - end, stride - 1))
    return lax.pad(ct, np.zeros((), ct.dtype), config)


deflinear("slice", _slice_vjp, params={"start_indices": ANY, "limit_indices": ANY, "strides": ANY})


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


defwhole("concatenate", _concatenate_jvp, _concatenate_vjp, params={"dimension": ANY})


# --- No derivative ---------------------------------------------------------------------

defzero("iota")


# lax.optimization_barrier: the identity, which XLA may not move computations across. adlab
# emits it where checkpointed segments are recomputed; the derivative passes through as is.
defmulti(
    "optimization_barrier",
    lambda tangents, outs, *xs: list(tangents),
    lambda cts, outs, *xs, needs: list(cts),
)
