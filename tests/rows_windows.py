"""The primitive table's rows for adlab/rules/windows.py (run by tests/test_primitives.py)."""

import jax.numpy as jnp
import numpy as np
from jax import lax
from rows import Row, rand_default


def rand_ties(key, shape, dtype):
    """Small integers (exact in every float dtype), so that windows hold tied maxima."""
    x = np.asarray(rand_default(key, shape, dtype)).astype(np.float64)
    return jnp.asarray(np.round(x), dtype)


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
