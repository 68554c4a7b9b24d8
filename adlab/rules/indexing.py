"""Indexing: pad, dynamic slices, gather and the scatters, split, tile, stack and unstack.

All of these but scatter-mul, -max and -min move or copy elements, so they are linear in
their float operands; their integer operands (start indices, gather/scatter indices) carry
no derivative and are passed through unchanged, so the adjoint reads or writes exactly the
positions the primal did:

* pad <-> slice (and pad itself, for negative padding);
* dynamic_slice <-> dynamic_update_slice, with the same start indices, which the primitives
  clamp the same way (a window of the same size, in an operand of the same shape);
* gather <-> scatter-add, with dimension numbers swapped as in JAX's own rules;
* split <-> concatenate, tile -> reshape and sum, stack <-> unstack (slices).

scatter-mul is linear in the operand; scatter-max and -min share the derivative among the
values that attain the result (their comments say how).

Out-of-bounds gather/scatter indices: each adjoint uses the mode that makes it exact for
what XLA computes. A ``fill`` gather reads the fill value (derivative zero) where a
``drop`` scatter-add drops the update, and ``clip`` clamps the index in both. The
``promise_in_bounds`` mode (the default of ``x[idx]``) leaves XLA to clamp a gather's
indices and to drop a scatter's updates, so its adjoints are the ``clip`` scatter-add and
the ``fill`` (with zeros) gather. For in-bounds indices every mode gives JAX's result.
"""

import numpy as np
from jax import lax

from .._errors import UnsupportedParamError
from . import ANY, UNSET, deflinear, defmulti, defwhole

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


def _unstack_jvp(tangents, outs, x, *, axis):
    (x_dot,) = tangents
    if x_dot is None:
        return [None] * len(outs)
    return [lax.reshape(lax.slice_in_dim(x_dot, i, i + 1, axis=axis), o.shape)
            for i, o in enumerate(outs)]  # fmt: skip


def _unstack_vjp(cts, outs, x, *, needs, axis):
    return [lax.stack([_or_zeros(c, o) for c, o in zip(cts, outs)], axis)]


defmulti("unstack", _unstack_jvp, _unstack_vjp, params={"axis": ANY})


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


def _read_back(ct, indices, update, *, dimension_numbers, mode, fill=0):
    # The cotangent of a scatter's updates: gather each update's window of `ct` (``fill``,
    # zero by default, for an update the scatter dropped).
    return lax.gather(
        ct,
        indices,
        _gather_dnums(dimension_numbers),
        _window_sizes(dimension_numbers, ct.ndim, update.shape),
        mode=_GATHER_OF_SCATTER[mode],
        fill_value=fill,
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
    "out_sharding": UNSET,  # JAX 0.12.1+; the rules' outputs take the default sharding
}
defwhole("gather", _gather_jvp, _gather_vjp, params=GATHER_PARAMS)


def _combines_with(name):
    """The check of a scatter's ``update_jaxpr``: ``(a, b) -> name(a, b)``, as lax builds it."""

    def check(jaxpr):
        eqns = getattr(jaxpr, "eqns", None)
        return (
            eqns is not None
            and len(eqns) == 1
            and eqns[0].primitive.name == name
            and list(eqns[0].invars) == list(jaxpr.invars)
            and list(eqns[0].outvars) == list(jaxpr.outvars)
        )

    return check


def _scatter_params(params):
    return {
        k: params[k] for k in ("dimension_numbers", "indices_are_sorted", "unique_indices", "mode")
    }


def _linear_scatter_jvp(scatter):
    """The JVP of a scatter linear in (operand, updates): the same scatter of the tangents."""

    def jvp(tangents, out, x, indices, update, **params):
        x_dot, _, u_dot = tangents
        if x_dot is None and u_dot is None:
            return None
        x_dot, u_dot = _or_zeros(x_dot, x), _or_zeros(u_dot, update)
        return scatter(x_dot, indices, u_dot, **_scatter_params(params))

    return jvp


_scatter_add_jvp = _linear_scatter_jvp(lax.scatter_add)


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
    "out_sharding": UNSET,  # JAX 0.12.1+; the rules' outputs take the default sharding
}
defwhole(
    "scatter-add",
    _scatter_add_jvp,
    _scatter_add_vjp,
    params={**SCATTER_PARAMS, "update_jaxpr": _combines_with("add")},
)


def _scatter_sub_vjp(ct, out, x, indices, update, *, needs, **params):
    ct_x, _, ct_update = _scatter_add_vjp(ct, out, x, indices, update, needs=needs, **params)
    return [ct_x, None, None if ct_update is None else lax.neg(ct_update)]


defwhole(
    "scatter-sub",
    _linear_scatter_jvp(lax.scatter_sub),
    _scatter_sub_vjp,
    params={**SCATTER_PARAMS, "update_jaxpr": _combines_with("sub")},
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


# --- scatter-mul (x.at[idx].multiply(y)) -----------------------------------------------------
# Linear in the operand: out = x * (the product of the updates written to each position).
# The updates' derivative is JAX's, which has it for unique indices only: with repeated
# ones, each update's derivative is the product of the others at its position, which JAX
# does not compute; adlab refuses it too.


def _refuse_repeated_multiply(params):
    if not params["unique_indices"]:
        raise UnsupportedParamError(
            "adlab does not differentiate x.at[idx].multiply(y) ('scatter-mul') with "
            "respect to y unless the indices are unique (as in JAX): with repeated indices "
            "each update's derivative is the product of the others at its position. Pass "
            "unique_indices=True if idx has no repeats, or write the product another way "
            "(for example jnp.prod over a gathered array).",
            "scatter-mul",
        )


def _scatter_mul_jvp(tangents, out, x, indices, update, **params):
    x_dot, _, u_dot = tangents
    params = _scatter_params(params)
    total = None if x_dot is None else lax.scatter_mul(x_dot, indices, update, **params)
    if u_dot is not None:
        _refuse_repeated_multiply(params)
        term = lax.mul(x, lax.scatter_add(_zeros(x.shape, u_dot.dtype), indices, u_dot, **params))
        total = term if total is None else lax.add(total, term)
    return total


def _scatter_mul_vjp(ct, out, x, indices, update, *, needs, **params):
    params = _scatter_params(params)
    ct_x = lax.scatter_mul(ct, indices, update, **params) if needs[0] else None
    ct_update = None
    if needs[2]:
        _refuse_repeated_multiply(params)
        dn, mode = params["dimension_numbers"], params["mode"]
        ct_update = _read_back(lax.mul(ct, x), indices, update, dimension_numbers=dn, mode=mode)
    return [ct_x, None, ct_update]


defwhole(
    "scatter-mul",
    _scatter_mul_jvp,
    _scatter_mul_vjp,
    params={**SCATTER_PARAMS, "update_jaxpr": _combines_with("mul")},
)


# --- scatter-max / scatter-min (x.at[idx].max(y), .min(y)) -------------------------------------
# Each position's result is the max of the operand and the updates written to it. JAX's
# convention at ties (its _scatter_extremal_jvp): every value that attains the result, the
# operand's and the updates', gets an equal share of the derivative. Written directly: the
# operand's share c_x = kept / (won + kept) per position, where kept says the operand
# attains the result and won counts the updates that do, and each winning update's share is
# 1 / (won + kept) at its position. An update the scatter dropped (out of bounds) reads
# back NaN, so it never wins.


def _shares(x, out, indices, update, params):
    """(c_x, c_u): the operand's share per position, and each update's share."""
    dn, mode = params["dimension_numbers"], params["mode"]
    dtype = lax.dtype(x)
    won = lax.eq(update, _read_back(out, indices, update, dimension_numbers=dn, mode=mode,
                                    fill=np.nan))  # fmt: skip
    kept = lax.convert_element_type(lax.eq(x, out), dtype)
    count = lax.scatter_add(
        kept, indices, lax.convert_element_type(won, dtype), **params
    )  # won + kept, per position
    c_x = lax.div(kept, count)
    per_update = _read_back(count, indices, update, dimension_numbers=dn, mode=mode, fill=1)
    c_u = lax.select(won, lax.div(_ones_like(per_update), per_update), _zeros(update.shape, dtype))
    return c_x, c_u


def _ones_like(x):
    return lax.full(x.shape, 1, x.dtype)


def _scatter_extremal_jvp(tangents, out, x, indices, update, **params):
    x_dot, _, u_dot = tangents
    if x_dot is None and u_dot is None:
        return None
    params = _scatter_params(params)
    c_x, c_u = _shares(x, out, indices, update, params)
    x_dot, u_dot = _or_zeros(x_dot, x), _or_zeros(u_dot, update)
    return lax.scatter_add(lax.mul(c_x, x_dot), indices, lax.mul(c_u, u_dot), **params)


def _scatter_extremal_vjp(ct, out, x, indices, update, *, needs, **params):
    params = _scatter_params(params)
    c_x, c_u = _shares(x, out, indices, update, params)
    ct_x = lax.mul(c_x, ct) if needs[0] else None
    ct_update = None
    if needs[2]:
        dn, mode = params["dimension_numbers"], params["mode"]
        read = _read_back(ct, indices, update, dimension_numbers=dn, mode=mode)
        ct_update = lax.mul(c_u, read)
    return [ct_x, None, ct_update]


for _name, _op in (("scatter-max", "max"), ("scatter-min", "min")):
    defwhole(
        _name,
        _scatter_extremal_jvp,
        _scatter_extremal_vjp,
        params={**SCATTER_PARAMS, "update_jaxpr": _combines_with(_op)},
    )
