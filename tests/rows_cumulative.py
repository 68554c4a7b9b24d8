"""The primitive table's rows for adlab/rules/cumulative.py (run by tests/test_primitives.py)."""

import jax.numpy as jnp
import numpy as np
from helpers import F64, SECOND_ORDER
from jax import lax
from rows import ARRAYS, Row, rand_default, rand_positive, rand_ties


def rand_with_zeros(key, shape, dtype):
    """Normal values with exact zeros at every flat index = 1 or 3 (mod 5).

    A (3, 4) matrix gets two zeros in rows 0 and 2, one in row 1, two in column 3 and one
    in each other column: single and double zeros along either axis, and slices with none.
    """
    x = np.asarray(rand_default(key, shape, dtype)).copy()
    flat = x.reshape(-1)
    flat[np.isin(np.arange(flat.size) % 5, (1, 3))] = 0
    return jnp.asarray(flat.reshape(shape))


LONG = [((9,),), ((4, 5),)]  # 9 and 5: odd lengths, several levels of the scan's tree

ROWS = [
    Row("cumsum", lambda x: lax.cumsum(x, 0), ARRAYS),
    Row("cumsum", lambda x: lax.cumsum(x, 1, reverse=True), [((3, 4),)], id="axis1-reverse"),
    Row("cumsum", lambda x: jnp.cumsum(x, axis=0), [((3, 4),)], id="jnp"),
    Row("cummax", lambda x: lax.cummax(x, 0), [*ARRAYS, *LONG]),
    Row("cummax", lambda x: lax.cummax(x, 1, reverse=True), [((3, 8),)], id="axis1-reverse"),
    # Ties: JAX splits the tangent in half at each node of its scan's tree where they meet.
    Row("cummax", lambda x: lax.cummax(x, 0), [((8, 3),), ((7,),)], rand_ties, id="ties"),
    Row("cummin", lambda x: lax.cummin(x, 0), [*ARRAYS, *LONG]),
    Row("cummin", lambda x: lax.cummin(x, 1, reverse=True), [((3, 8),)], id="axis1-reverse"),
    Row("cummin", lambda x: lax.cummin(x, 1), [((3, 6),)], rand_ties, id="ties"),
    Row("cumprod", lambda x: lax.cumprod(x, 0), [*ARRAYS, *LONG]),
    Row("cumprod", lambda x: lax.cumprod(x, 1, reverse=True), [((3, 7),)], id="axis1-reverse"),
    Row("cumprod", lambda x: lax.cumprod(x, 1), [((3, 4),), ((4, 5),)], rand_with_zeros, id="0s"),
    Row(
        "cumprod",
        lambda x: lax.cumprod(x, 0, reverse=True),
        [((5, 4),), ((10,),)],
        rand_with_zeros,
        id="0s-axis0-reverse",
    ),
    Row("cumprod", lambda x: jnp.cumprod(x, axis=1), [((3, 4),)], rand_positive, id="jnp"),
    Row("cumlogsumexp", lambda x: lax.cumlogsumexp(x, 0), [*ARRAYS, *LONG]),
    # Second order, float64: adlab differs from JAX by up to 2.2e-16 absolute (values up to
    # 0.38; JAX 0.12, 1.7e-16 on 0.10.2), on an entry of -1.7e-4; JAX's own fwd-over-rev and
    # rev-over-rev differ by up to 1.4e-16.
    Row(
        "cumlogsumexp",
        lambda x: lax.cumlogsumexp(x, 1, reverse=True),
        [((3, 6),)],
        id="axis1-reverse",
        second_order={**SECOND_ORDER, F64: (1e-14, 3e-16)},
    ),
    Row("reduce_prod", lambda x: lax.reduce_prod(x, (0,)), ARRAYS),
    Row("reduce_prod", lambda x: lax.reduce_prod(x, (1,)), [((3, 4),)], id="axis1"),
    Row("reduce_prod", lambda x: lax.reduce_prod(x, (0, 2)), [((3, 2, 4),)], id="two-axes"),
    Row("reduce_prod", lambda x: jnp.prod(x), [((3, 4),)], id="all"),
    Row(
        "reduce_prod",
        lambda x: lax.reduce_prod(x, (1,)),
        [((3, 4),), ((4, 5),)],
        rand_with_zeros,
        id="0s",
    ),
    Row("reduce_prod", lambda x: jnp.prod(x, axis=0), [((5, 4),)], rand_with_zeros, id="0s-axis0"),
]
