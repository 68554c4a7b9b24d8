"""The primitive table's rows for adlab/rules/windows.py (run by tests/test_primitives.py)."""

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from rows import Row, rand_ties


def pool(init, op, *window):
    return lambda x: lax.reduce_window(x, np.array(init, x.dtype), op, *window)


# (window_dimensions, window_strides, padding[, base_dilation, window_dilation])
OVERLAP = ((2, 2), (1, 1), "VALID")  # overlapping windows
STRIDED = ((3, 3), (2, 2), ((1, 1), (1, 1)))  # stride, padding and overlap
ONE_D = ((3,), (2,), ((1, 2),))
BASE_DILATED = ((2, 2), (1, 2), ((0, 1), (1, 0)), (2, 1), (1, 1))
# Negative padding, base and window dilation: JAX's own max-pooling VJP raises on window
# dilation, so only the sum has that row.
DILATED = ((2, 3), (2, 1), ((1, 0), (2, -1)), (1, 2), (2, 1))

ROWS = [
    Row("reduce_window_sum", pool(0, lax.add, *OVERLAP), [((3, 4),)]),
    Row("reduce_window_sum", pool(0, lax.add, *STRIDED), [((6, 5),)], id="strided-padded"),
    Row("reduce_window_sum", pool(0, lax.add, *ONE_D), [((7,),)], id="1d"),
    Row("reduce_window_sum", pool(0, lax.add, *BASE_DILATED), [((4, 5),)], id="base-dilated"),
    Row("reduce_window_sum", pool(0, lax.add, *DILATED), [((5, 6),)], id="dilated"),
    Row(
        "reduce_window_sum",
        pool(0, lax.add, (1, 2, 2, 1), (1, 2, 2, 1), "SAME"),
        [((1, 5, 5, 2),)],
        id="nhwc-same",
    ),  # fmt: skip
    Row("reduce_window_max", pool(-jnp.inf, lax.max, *OVERLAP), [((3, 4),)]),
    Row("reduce_window_max", pool(-jnp.inf, lax.max, *STRIDED), [((6, 5),)], id="strided-padded"),
    Row("reduce_window_max", pool(-jnp.inf, lax.max, *ONE_D), [((7,),)], id="1d"),
    Row(
        "reduce_window_max",
        pool(-jnp.inf, lax.max, *BASE_DILATED),
        [((4, 5),)],
        id="base-dilated",
    ),  # fmt: skip
    # Ties: the first element of the window (row-major) that attains the max takes it all.
    Row(
        "reduce_window_max",
        pool(-jnp.inf, lax.max, *STRIDED),
        [((6, 5),), ((4, 4),)],
        rand_ties,
        id="ties",
    ),  # fmt: skip
    Row("reduce_window_min", pool(jnp.inf, lax.min, *OVERLAP), [((3, 4),)]),
    Row("reduce_window_min", pool(jnp.inf, lax.min, *STRIDED), [((6, 5),)], id="strided-padded"),
    Row("reduce_window_min", pool(jnp.inf, lax.min, *ONE_D), [((7,),)], id="1d"),
    Row("reduce_window_min", pool(jnp.inf, lax.min, *OVERLAP), [((4, 4),)], rand_ties, id="ties"),
]


# JAX's own derivatives of max (min) pooling, differentiated again: its VJP holds a
# select_and_scatter_add, its JVP a select_and_gather_add. Continuous values: where a window
# ties, XLA leaves the choice of select_and_gather_add to the implementation.
def pooled_vjp(init, op, window):
    return lambda s, x: jax.vjp(pool(init, op, *window), x)[1](s)[0]


def pooled_jvp(init, op, window):
    return lambda t, x: jax.jvp(pool(init, op, *window), (x,), (t,))[1]


ROWS += [
    Row("select_and_scatter_add", pooled_vjp(-jnp.inf, lax.max, STRIDED), [((3, 3), (6, 5))]),
    Row(
        "select_and_scatter_add",
        pooled_vjp(jnp.inf, lax.min, ONE_D),
        [((4,), (7,))],
        id="min-1d",
    ),  # fmt: skip
    Row("select_and_gather_add", pooled_jvp(-jnp.inf, lax.max, STRIDED), [((6, 5), (6, 5))]),
    Row(
        "select_and_gather_add",
        pooled_jvp(jnp.inf, lax.min, OVERLAP),
        [((3, 4), (3, 4))],
        id="min",
    ),  # fmt: skip
]
