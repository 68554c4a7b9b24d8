"""The primitive table's rows for adlab/rules/sorting.py (run by tests/test_primitives.py)."""

import jax
import jax.numpy as jnp
from jax import lax
from rows import POOL, Row, _cut


def rand_distinct(key, shape, dtype):
    """Distinct values (multiples of 1/4 in [-16, 16), exact in every float dtype), shuffled.

    Sorting has no derivative where two keys tie (the order, and so which tangent goes
    where, flips with the direction), nor does top_k.
    """
    perm = jax.random.permutation(key, POOL)
    return _cut(((perm - POOL // 2) * 0.25).astype(dtype), shape)


def _iota(x, axis):
    return lax.broadcasted_iota(jnp.int32, x.shape, axis)


def _float(i, x):
    return lax.convert_element_type(i, x.dtype)


def _sort_pair(x, y, dimension):
    keys, values = lax.sort((x, y), dimension=dimension, num_keys=1)
    return keys * values


def _by_int_key(i, x, y):
    # The int32 key has many ties (rand_exponent draws from [-2, 3]); x breaks them.
    i_s, x_s, y_s = lax.sort((i, x, y), dimension=x.ndim - 1, num_keys=2)
    return x_s * y_s + _float(i_s, x)


def _sort_with_indices(x, y):
    # What jnp.argsort(x) and then y[perm] compute, without a gather: y rides along.
    axis = x.ndim - 1
    keys, perm, values = lax.sort((x, _iota(x, axis), y), dimension=axis, num_keys=1)
    return keys * values + _float(perm, x)


def _top_k(x, k, axis=-1):
    values, indices = lax.top_k(x, k, axis=axis)
    return values * values + _float(indices, x)


VECTORS = [((6,),), ((3, 5),)]

ROWS: list = [
    # One operand: the last axis (jnp.sort's default), then the first one.
    Row("sort", lambda x: lax.sort(x) * lax.rev(x, (x.ndim - 1,)), VECTORS, rand_distinct),
    Row("sort", lambda x: jnp.sort(x, axis=0) * x, [((4, 3),)], rand_distinct, id="axis0"),
    Row(
        "sort",
        lambda x: jnp.sort(x, descending=True) * x,
        [((3, 4),)],
        rand_distinct,
        id="descending",
    ),  # fmt: skip
    # is_stable=False: every operand a key (a differentiated payload is refused).
    Row(
        "sort",
        lambda x: lax.sort(x, is_stable=False) * x,
        [((3, 5),)],
        rand_distinct,
        id="unstable",
    ),  # fmt: skip
    # Several operands: a key and a payload, along each axis.
    Row(
        "sort", lambda x, y: _sort_pair(x, y, 1), [((3, 4), (3, 4))], rand_distinct, id="payload"
    ),  # fmt: skip
    Row(
        "sort",
        lambda x, y: _sort_pair(x, y, 0),
        [((4, 3), (4, 3))],
        rand_distinct,
        id="payload-axis0",
    ),  # fmt: skip
    # num_keys=2: an integer first key with ties, broken by a float second key.
    Row(
        "sort",
        _by_int_key,
        [((8,),) * 3, ((3, 6),) * 3],
        rand_distinct,
        int_args=(0,),
        id="num_keys=2",
    ),  # fmt: skip
    # num_keys=2 over two float keys (the second one decides nothing where the first differ).
    Row(
        "sort",
        lambda x, y, z: lax.mul(*lax.sort((x, y, z), dimension=0, num_keys=2)[1:]),
        [((5, 2),) * 3],
        rand_distinct,
        id="float-keys",
    ),  # fmt: skip
    # An argsort's iota as a payload, and jnp.argsort itself (integer output: no derivative).
    Row("sort", _sort_with_indices, [((3, 5),) * 2], rand_distinct, id="iota-payload"),
    Row(
        "sort",
        lambda x: x * _float(jnp.argsort(x), x),
        [((3, 5),)],
        rand_distinct,
        id="argsort",
    ),  # fmt: skip
    # top_k: last axis, an inner axis, a leading one, and k = the whole axis.
    Row("top_k", lambda x: _top_k(x, 3), VECTORS, rand_distinct),
    Row("top_k", lambda x: _top_k(x, 2, axis=1), [((2, 4, 3),)], rand_distinct, id="inner-axis"),
    Row("top_k", lambda x: _top_k(x, 2, axis=0), [((5, 3),)], rand_distinct, id="axis0"),
    Row("top_k", lambda x: _top_k(x, 5), [((2, 5),)], rand_distinct, id="k=n"),
]
