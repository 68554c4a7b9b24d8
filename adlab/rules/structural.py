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


# reduce_max / reduce_min: the derivative goes to the position that attains the max, and a
# tie shares it equally (JAX's convention). Which position attains it is decided inside one
# variadic reduction, never by comparing the output with the operand: under jax.jit XLA may
# compute the operand again in another fusion that rounds differently (a mean-centred or
# normalised input), and such a comparison could find no maximum and drop its derivative
# without a word. The reduction carries, per output, the max, the first position that attains
# it and how many positions do; both modes weight the positions by its integer outputs. The
# carried tuples form a commutative monoid with the identity as init value, as XLA requires,
# so any order of reduction gives the same result.


def _combine(op):
    """The monoid on (value, position, count): the first position of the winning value, and
    how many positions attain it."""

    def first(left, right):
        (ma, ia, ca), (mb, ib, cb) = left, right
        m = op(ma, mb)
        a, b = lax.eq(ma, m), lax.eq(mb, m)
        i = lax.select(a, lax.select(b, lax.min(ia, ib), ia), ib)
        zero = lax.full_like(ca, 0)
        return m, i, lax.add(lax.select(a, ca, zero), lax.select(b, cb, zero))

    return first


def _positions(x, axes):
    """Each element's row-major position within its reduction (int32)."""
    position, stride = lax.full(x.shape, 0, np.int32), 1
    for d in sorted(axes, reverse=True):
        term = lax.mul(
            lax.broadcasted_iota(np.int32, x.shape, d), lax.full(x.shape, stride, np.int32)
        )
        position, stride = lax.add(position, term), stride * x.shape[d]
    return position


def _reduce_chooser_rule(op, init):
    first = _combine(op)

    def weights(x, axes, dtype):
        """Each position's share of the derivative: 1 at the unique max, 1/k at a k-way tie.

        The max, the first position that attains it and how many do come out of one
        variadic reduction, and only its integer outputs are used, so nothing here depends on
        two copies of a float being equal, and differentiating the rule again (second order)
        never goes through the reduction. A unique max (the usual case) takes the whole
        derivative at the position the reduction chose: an integer comparison, exact whatever
        XLA recomputes. A tie that the reduction saw is shared equally among the positions
        equal to the max, as in JAX; exact ties come from exact operations (a ReLU's zeros, a
        clip, a repeated value), which every recomputation reproduces. Should a recomputed
        operand match no position, the chosen position takes it all: the shares always sum to
        one, so no derivative is dropped and none becomes NaN.
        """
        spread = lambda v: lax.broadcast_in_dim(v, x.shape, _kept_axes(x, axes))
        position = _positions(x, axes)
        ones = lax.full(x.shape, 1, np.int32)
        inits = (np.array(init, x.dtype), np.array(np.iinfo(np.int32).max, np.int32),
                 np.array(0, np.int32))  # fmt: skip
        m, winner, count = lax.reduce((x, position, ones), inits, first, axes)
        chosen = lax.convert_element_type(lax.eq(position, spread(winner)), dtype)
        hits = lax.convert_element_type(lax.eq(x, spread(m)), dtype)
        n_hits = lax.reduce_sum(hits, axes)
        shared = lax.div(hits, spread(lax.max(n_hits, lax.full_like(n_hits, 1))))
        unique = spread(lax.eq(count, lax.full_like(count, 1)))
        no_hits = spread(lax.eq(n_hits, lax.full_like(n_hits, 0)))
        return lax.select(unique, chosen, lax.select(no_hits, chosen, shared))

    def jvp(x_dot, out, x, *, axes, **_):
        return lax.reduce_sum(lax.mul(x_dot, weights(x, axes, x_dot.dtype)), axes)

    def vjp(ct, out, x, *, axes, **_):
        spread = lambda v: lax.broadcast_in_dim(v, x.shape, _kept_axes(x, axes))
        return lax.mul(spread(ct), weights(x, axes, ct.dtype))

    return jvp, vjp


for _name, _op, _init in (("reduce_max", lax.max, -np.inf), ("reduce_min", lax.min, np.inf)):
    _jvp, _vjp = _reduce_chooser_rule(_op, _init)
    defrule(_name, (_jvp,), (_vjp,), params={"axes": ANY, "out_sharding": UNSET})


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
