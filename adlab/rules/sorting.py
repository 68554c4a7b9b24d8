"""Sorting: sort (one or several operands) and top_k.

Both move elements without changing them, so their derivatives move the tangents (and
cotangents) the same way. No gather is needed:

* sort: the tangents ride along as extra payload operands of the same sort (same keys, same
  ``num_keys``, same ``is_stable``), so they come out in the order the primal outputs did.
  The adjoint first recovers the permutation by sorting an iota payload with the same keys,
  then un-sorts every cotangent at once by sorting (permutation, cotangents...) on the
  permutation alone (``num_keys=1``; its values are distinct, so any sort is exact).
  With ``is_stable=True`` the permutation is the primal's exactly: equal keys keep their
  input order, as in JAX's rule (which sorts an iota payload too).
  With ``is_stable=False`` the order of equal keys is the backend's choice, and the
  derivative's sorts have other operands than the primal's, so nothing promises the same
  choice (XLA:CPU makes it: its choices depend on the keys only). Where every operand is a
  key, that only picks which tangent goes where among outputs of equal values (a point
  where sort has no derivative, and JAX's own choice is the backend's too). A payload that
  carries a derivative would follow a permutation that may not be the primal's, so that
  case raises UnsupportedParamError.
* top_k: the outputs are the operand at the returned indices. The tangent is taken at those
  indices, and the cotangent put back at them, through a one-hot mask ``indices == iota``
  (eq, convert_element_type, mul, reduce_sum: each sum has one nonzero term, so it is
  exact). Ties follow top_k's own indices, as JAX's rule does.

Integer operands (argsort's iota) carry no derivative: their tangents are ``None``.
"""

from jax import lax

from .._errors import UnsupportedParamError
from . import ANY, defmulti


def _sort(operands, dimension, is_stable, num_keys):
    return lax.sort_p.bind(*operands, dimension=dimension, is_stable=is_stable, num_keys=num_keys)


def _check_unstable_payload(carried, is_stable, num_keys):
    if not is_stable and any(i >= num_keys for i in carried):
        raise UnsupportedParamError(
            "adlab's rule for sort does not handle is_stable=False when an operand after the "
            f"first num_keys={num_keys} (a payload, not a key) is differentiated: the order "
            "of equal keys is then up to the backend, and the derivative's sort may choose "
            "another one than the primal's. Sort with is_stable=True (jnp.sort, jnp.argsort "
            "and lax.sort do by default), or differentiate with jax.grad / jax.jvp.",
            "sort",
        )


def _sort_jvp(tangents, outs, *primals, dimension, is_stable, num_keys):
    carried = [i for i, t in enumerate(tangents) if t is not None]
    _check_unstable_payload(carried, is_stable, num_keys)
    if not carried:
        return [None] * len(outs)
    keys = list(primals[:num_keys])
    moved = _sort(keys + [tangents[i] for i in carried], dimension, is_stable, num_keys)
    out_dots = [None] * len(outs)
    for i, t in zip(carried, moved[num_keys:]):
        out_dots[i] = t
    return out_dots


def _sort_vjp(cts, outs, *primals, needs, dimension, is_stable, num_keys):
    wanted = [i for i, (c, need) in enumerate(zip(cts, needs)) if c is not None and need]
    _check_unstable_payload(wanted, is_stable, num_keys)
    x_bars = [None] * len(primals)
    if not wanted:
        return x_bars
    shape = primals[0].shape
    iota = lax.broadcasted_iota("int32", shape, dimension)
    # perm[j] = the input position of the j-th output element.
    perm = _sort([*primals[:num_keys], iota], dimension, is_stable, num_keys)[-1]
    # Sorting by perm puts each cotangent element back at its input position.
    back = _sort([perm, *(cts[i] for i in wanted)], dimension, True, 1)
    for i, x_bar in zip(wanted, back[1:]):
        x_bars[i] = x_bar
    return x_bars


defmulti(
    "sort",
    _sort_jvp,
    _sort_vjp,
    params={
        "dimension": ANY,
        "is_stable": lambda v: isinstance(v, bool),
        "num_keys": ANY,
    },
)


# --- top_k ----------------------------------------------------------------------------------


def _one_hot(indices, n, axis, dtype):
    # mask[..., j, i, ...] = (indices[..., j, ...] == i): a new axis of size n after `axis`.
    shape = (*indices.shape[: axis + 1], n, *indices.shape[axis + 1 :])
    dims = tuple(d if d <= axis else d + 1 for d in range(indices.ndim))
    spread = lax.broadcast_in_dim(indices, shape, dims)
    hits = lax.eq(spread, lax.broadcasted_iota(indices.dtype, shape, axis + 1))
    return lax.convert_element_type(hits, dtype), shape


def _top_k_jvp(tangents, outs, operand, *, k, axis, is_stable=True):
    (t,) = tangents
    if t is None:
        return [None, None]
    mask, shape = _one_hot(outs[1], operand.shape[axis], axis, t.dtype)
    # The operand's axis lines up with the mask's new axis; the k axis is broadcast.
    dims = tuple(d if d < axis else d + 1 for d in range(t.ndim))
    spread = lax.broadcast_in_dim(t, shape, dims)
    return [lax.reduce_sum(lax.mul(spread, mask), (axis + 1,)), None]


def _top_k_vjp(cts, outs, operand, *, needs, k, axis, is_stable=True):
    ct = cts[0]
    if ct is None or not needs[0]:
        return [None]
    mask, shape = _one_hot(outs[1], operand.shape[axis], axis, ct.dtype)
    dims = tuple(d if d <= axis else d + 1 for d in range(ct.ndim))
    spread = lax.broadcast_in_dim(ct, shape, dims)
    return [lax.reduce_sum(lax.mul(spread, mask), (axis,))]


# is_stable (JAX 0.11.0) orders tied values; the rules follow the indices top_k returned, so
# either order is differentiated exactly.
defmulti("top_k", _top_k_jvp, _top_k_vjp, params={"k": ANY, "axis": ANY, "is_stable": ANY})
