"""Indexing: pad, dynamic slices, gather and scatter, split, tile and stack.

All of these move or copy elements, so they are linear in their float operands; their
integer operands (start indices, gather/scatter indices) carry no derivative and are passed
through unchanged, so the adjoint reads or writes exactly the positions the primal did:

* pad <-> slice (and pad itself, for negative padding);
* dynamic_slice <-> dynamic_update_slice, with the same start indices, which the primitives
  clamp the same way (a window of the same size, in an operand of the same shape);
* gather <-> scatter-add, with dimension numbers swapped as in JAX's own rules;
* split <-> concatenate, tile -> reshape and sum, stack -> slices.

Out-of-bounds gather/scatter indices: each adjoint uses the mode that makes it exact for
what XLA computes. A ``fill`` gather reads the fill value (derivative zero) where a
``drop`` scatter-add drops the update, and ``clip`` clamps the index in both. The
``promise_in_bounds`` mode (the default of ``x[idx]``) leaves XLA to clamp a gather's
indices and to drop a scatter's updates, so its adjoints are the ``clip`` scatter-add and
the ``fill`` (with zeros) gather. For in-bounds indices every mode gives JAX's result.
"""

import numpy as np
from jax import lax

from . import ANY, deflinear, defmulti, defwhole

CLIP = lax.GatherScatterMode.CLIP
FILL_OR_DROP = lax.GatherScatterMode.FILL_OR_DROP
PROMISE_IN_BOUNDS = lax.GatherScatterMode.PROMISE_IN_BOUNDS
MODES = (CLIP, FILL_OR_DROP, PROMISE_IN_BOUNDS)  # not ONE_HOT


def _zero(dtype):
    return np.zeros((), dtype)


def _zeros(shape, dtype):
    return lax.full(tuple(shape), 0, dtype)


def _or_zeros(t, x):
    return _zeros(x.shape, lax.dtype(x)) if t is None else t


# --- pad: linear in (operand, padding_value) ----------------------------------------------


def _pad_jvp(tangents, out, x, value, *, padding_config):
    x_dot, v_dot = tangents
    if x_dot is None and v_dot is None:
        return None
    v_dot = _zero(lax.dtype(x)) if v_dot is None else v_dot
    return lax.pad(_or_zeros(x_dot, x), v_dot, padding_config)


def _unpad(ct, padding_config):
    # The operand's positions in the cotangent: undo the negative padding (a pad with
    # zeros: those elements were cut off, their cotangent is zero), then take every
    # (interior + 1)-th element after the positive low padding.
    undo = [(max(-lo, 0), max(-hi, 0), 0) for lo, hi, _ in padding_config]
    if any(lo or hi for lo, hi, _ in undo):
        ct = lax.pad(ct, _zero(ct.dtype), undo)
    starts = [max(lo, 0) for lo, _, _ in padding_config]
    limits = [n - max(hi, 0) for n, (_, hi, _) in zip(ct.shape, padding_config)]
    strides = [interior + 1 for _, _, interior in padding_config]
    if any(starts) or limits != list(ct.shape) or any(s != 1 for s in strides):
        ct = lax.slice(ct, starts, limits, strides)
    return ct


def _pad_vjp(ct, out, x, value, *, needs, padding_config):
    ct_x = _unpad(ct, padding_config)
    ct_value = None
    if needs[1]:
        # The padding value fills every position that is not the operand's.
        every = tuple(range(ct.ndim))
        ct_value = lax.sub(lax.reduce_sum(ct, every), lax.reduce_sum(ct_x, every))
    return [ct_x, ct_value]


defwhole("pad", _pad_jvp, _pad_vjp, params={"padding_config": ANY})


# --- dynamic_slice and dynamic_update_slice -------------------------------------------------
# The primitives clamp their start indices into [0, size - window]; binding them again with
# the same (unnormalized: allow_negative_indices=False) indices clamps them the same way.


def _dynamic_slice_jvp(tangents, out, x, *starts, slice_sizes):
    x_dot = tangents[0]
    if x_dot is None:
        return None
    return lax.dynamic_slice(x_dot, starts, slice_sizes, allow_negative_indices=False)


def _dynamic_slice_vjp(ct, out, x, *starts, needs, slice_sizes):
    zeros = _zeros(x.shape, ct.dtype)
    ct_x = lax.dynamic_update_slice(zeros, ct, starts, allow_negative_indices=False)
    return [ct_x, *(None for _ in starts)]


defwhole("dynamic_slice", _dynamic_slice_jvp, _dynamic_slice_vjp, params={"slice_sizes": ANY})


def _dynamic_update_slice_jvp(tangents, out, x, update, *starts):
    x_dot, u_dot = tangents[:2]
    if x_dot is None and u_dot is None:
        return None
    x_dot, u_dot = _or_zeros(x_dot, x), _or_zeros(u_dot, update)
    return lax.dynamic_update_slice(x_dot, u_dot, starts, allow_negative_indices=False)


def _dynamic_update_slice_vjp(ct, out, x, update, *starts, needs):
    ct_x = ct_update = None
    if needs[0]:  # the operand's elements outside the window
        zeros = _zeros(update.shape, ct.dtype)
        ct_x = lax.dynamic_update_slice(ct, zeros, starts, allow_negative_indices=False)
    if needs[1]:
        ct_update = lax.dynamic_slice(ct, starts, update.shape, allow_negative_indices=False)
    return [ct_x, ct_update, *(None for _ in starts)]


defwhole("dynamic_update_slice", _dynamic_update_slice_jvp, _dynamic_update_slice_vjp)


# --- split, tile, stack -----------------------------------------------------------------------


def _split_jvp(tangents, outs, x, *, sizes, axis):
    (x_dot,) = tangents
    if x_dot is None:
        return [None] * len(outs)
    return lax.split(x_dot, sizes, axis)


def _split_vjp(cts, outs, x, *, needs, sizes, axis):
    pieces = [_or_zeros(c, o) for c, o in zip(cts, outs)]
    return [lax.concatenate(pieces, axis) if len(pieces) > 1 else pieces[0]]


defmulti("split", _split_jvp, _split_vjp, params={"sizes": ANY, "axis": ANY})


def _tile_vjp(ct, out, x, *, reps):
    # out = x repeated: view each axis of the cotangent as (rep, n) and sum the reps.
    split_shape = tuple(k for r, n in zip(reps, x.shape) for k in (r, n))
    return lax.reduce_sum(lax.reshape(ct, split_shape), tuple(range(0, 2 * x.ndim, 2)))


deflinear("tile", _tile_vjp, params={"reps": ANY})


def _stack_jvp(tangents, out, *xs, axis):
    if all(t is None for t in tangents):
        return None
    return lax.stack([_or_zeros(t, x) for t, x in zip(tangents, xs)], axis)


def _stack_vjp(ct, out, *xs, needs, axis):
    # Operand i is the slab i of the new axis.
    return [
        lax.reshape(lax.slice_in_dim(ct, i, i + 1, axis=axis), x.shape) if need else None
        for i, (x, need) in enumerate(zip(xs, needs))
    ]


defwhole("stack", _stack_jvp, _stack_vjp, params={"axis": ANY})


# --- gather and scatter-add: each other's adjoints -------------------------------------------


def _scatter_dnums(dn):
    return lax.ScatterDimensionNumbers(
        update_window_dims=dn.offset_dims,
        inserted_window_dims=dn.collapsed_slice_dims,
        scatter_dims_to_operand_dims=dn.start_index_map,
        operand_batching_dims=dn.operand_batching_dims,
        scatter_indices_batching_dims=dn.start_indices_batching_dims,
    )


def _gather_dnums(dn):
    return lax.GatherDimensionNumbers(
        offset_dims=dn.update_window_dims,
        collapsed_slice_dims=dn.inserted_window_dims,
        start_index_map=dn.scatter_dims_to_operand_dims,
        operand_batching_dims=dn.operand_batching_dims,
        start_indices_batching_dims=dn.scatter_indices_batching_dims,
    )


def _window_sizes(dn, operand_ndim, update_shape):
    # The gather's slice_sizes that read back each update's window of the operand.
    sizes, pos = [], 0
    for i in range(operand_ndim):
        if i in dn.inserted_window_dims or i in dn.operand_batching_dims:
            sizes.append(1)
        else:
            sizes.append(update_shape[dn.update_window_dims[pos]])
            pos += 1
    return tuple(sizes)


# The mode of the adjoint of a gather (a scatter-add), and of a scatter (a gather).
_SCATTER_OF_GATHER = {CLIP: CLIP, FILL_OR_DROP: FILL_OR_DROP, PROMISE_IN_BOUNDS: CLIP}
_GATHER_OF_SCATTER = {CLIP: CLIP, FILL_OR_DROP: FILL_OR_DROP, PROMISE_IN_BOUNDS: FILL_OR_DROP}


def _read_back(ct, indices, update, *, dimension_numbers, mode):
    # The cotangent of a scatter's updates: gather each update's window of `ct` (zero for
    # an update the scatter dropped).
    return lax.gather(
        ct,
        indices,
        _gather_dnums(dimension_numbers),
        _window_sizes(dimension_numbers, ct.ndim, update.shape),
        mode=_GATHER_OF_SCATTER[mode],
        fill_value=0,
    )


def _gather_jvp(tangents, out, x, indices, *, fill_value, **params):
    x_dot = tangents[0]
    if x_dot is None:
        return None
    # The fill value is a constant: its tangent is zero.
    return lax.gather(x_dot, indices, fill_value=0, **params)


def _gather_vjp(ct, out, x, indices, *, needs, dimension_numbers, slice_sizes, mode, **params):
    del params["fill_value"]
    ct_x = lax.scatter_add(
        _zeros(x.shape, ct.dtype),
        indices,
        ct,
        _scatter_dnums(dimension_numbers),
        mode=_SCATTER_OF_GATHER[mode],
        **params,
    )
    return [ct_x, None]


GATHER_PARAMS = {
    "dimension_numbers": ANY,
    "slice_sizes": ANY,
    "indices_are_sorted": ANY,
    "unique_indices": ANY,
    "mode": lambda mode: mode in MODES,
    "fill_value": ANY,
}
defwhole("gather", _gather_jvp, _gather_vjp, params=GATHER_PARAMS)


def _is_add_jaxpr(jaxpr):
    # scatter-add's combiner, as lax.scatter_add builds it: (a, b) -> a + b.
    eqns = getattr(jaxpr, "eqns", None)
    return (
        eqns is not None
        and len(eqns) == 1
        and eqns[0].primitive.name == "add"
        and len(jaxpr.invars) == 2
        and list(eqns[0].outvars) == list(jaxpr.outvars)
    )


def _scatter_params(params):
    return {
        k: params[k] for k in ("dimension_numbers", "indices_are_sorted", "unique_indices", "mode")
    }


def _scatter_add_jvp(tangents, out, x, indices, update, **params):
    x_dot, _, u_dot = tangents
    if x_dot is None and u_dot is None:
        return None
    x_dot, u_dot = _or_zeros(x_dot, x), _or_zeros(u_dot, update)
    return lax.scatter_add(x_dot, indices, u_dot, **_scatter_params(params))


def _scatter_add_vjp(ct, out, x, indices, update, *, needs, dimension_numbers, mode, **_):
    ct_update = None
    if needs[2]:
        ct_update = _read_back(ct, indices, update, dimension_numbers=dimension_numbers, mode=mode)
    return [ct, None, ct_update]


SCATTER_PARAMS = {
    "dimension_numbers": ANY,
    "indices_are_sorted": ANY,
    "unique_indices": ANY,
    "mode": lambda mode: mode in MODES,
    "update_consts": lambda consts: len(consts) == 0,
}
defwhole(
    "scatter-add",
    _scatter_add_jvp,
    _scatter_add_vjp,
    params={**SCATTER_PARAMS, "update_jaxpr": _is_add_jaxpr},
)


# --- scatter (x.at[idx].set(y)): the last update written to a position wins ---------------
# With unique indices, the derivative is the scatter of the tangents. With repeated ones,
# XLA does not say which update wins; JAX's convention (its _scatter_jvp) finds out by
# scattering ids: each update gets a positive id, the ids are scattered like the updates
# and gathered back, and an update whose id came back won. Operand positions whose id is
# still 0 were not written. The derivative flows from the winners and the untouched
# operand positions only, through a scatter-add of the masked tangents.


def _winners(x, indices, update, *, dimension_numbers, indices_are_sorted, unique_indices, mode):
    """(kept, won): the operand positions not overwritten, and the updates that won."""
    dn = dimension_numbers
    ids_shape = [1 if d in dn.update_window_dims else n for d, n in enumerate(update.shape)]
    count = int(np.prod(ids_shape))
    ids = lax.add(lax.iota(np.int32, count), np.int32(1))
    ids = lax.broadcast_in_dim(
        lax.reshape(ids, tuple(ids_shape)), update.shape, tuple(range(update.ndim))
    )
    scattered = lax.scatter(
        _zeros(x.shape, np.int32),
        indices,
        ids,
        dn,
        indices_are_sorted=indices_are_sorted,
        unique_indices=unique_indices,
        mode=mode,
    )
    returned = _read_back(scattered, indices, update, dimension_numbers=dn, mode=mode)
    return lax.eq(scattered, _zeros(x.shape, np.int32)), lax.eq(ids, returned)


def _masked(mask, t):
    return lax.select(mask, t, _zeros(t.shape, t.dtype))


def _scatter_jvp(tangents, out, x, indices, update, **params):
    x_dot, _, u_dot = tangents
    if x_dot is None and u_dot is None:
        return None
    x_dot, u_dot = _or_zeros(x_dot, x), _or_zeros(u_dot, update)
    params = _scatter_params(params)
    if params["unique_indices"]:
        return lax.scatter(x_dot, indices, u_dot, **params)
    kept, won = _winners(x, indices, update, **params)
    return lax.scatter_add(_masked(kept, x_dot), indices, _masked(won, u_dot), **params)


def _scatter_vjp(ct, out, x, indices, update, *, needs, **params):
    params = _scatter_params(params)
    dn, mode = params["dimension_numbers"], params["mode"]
    if params["unique_indices"]:
        ct_x = ct_update = None
        if needs[0]:  # the positions written get no cotangent
            ct_x = lax.scatter(ct, indices, _zeros(update.shape, ct.dtype), **params)
        if needs[2]:
            ct_update = _read_back(ct, indices, update, dimension_numbers=dn, mode=mode)
        return [ct_x, None, ct_update]
    kept, won = _winners(x, indices, update, **params)
    ct_x = _masked(kept, ct) if needs[0] else None
    ct_update = None
    if needs[2]:
        read = _read_back(ct, indices, update, dimension_numbers=dn, mode=mode)
        ct_update = _masked(won, read)
    return [ct_x, None, ct_update]


defwhole(
    "scatter",
    _scatter_jvp,
    _scatter_vjp,
    params={**SCATTER_PARAMS, "update_jaxpr": lambda jaxpr: jaxpr is None},
)
