"""The primitive table's rows for adlab/rules/indexing.py (run by tests/test_primitives.py)."""

import jax.numpy as jnp
import numpy as np
from jax import lax
from rows import ARRAYS, Row, rand_ties

# Fixed integer index arrays (closures): repeated indices, and out-of-bounds ones.
REPEATED = np.array([0, 2, 2, 4], np.int32)
OUT_OF_BOUNDS = np.array([0, 7, 2, 2], np.int32)  # 7 is past the end of every axis here
ALONG = np.array([[0, 2], [1, 1], [2, 0], [0, 0], [1, 2]], np.int32)  # for a (5, 3) operand


def _split_unequal(x):
    # Unequal sizes; the middle output is unused, so its cotangent is None (zero).
    a, _, c = lax.split(x, (1, 3, 2), axis=x.ndim - 1)
    return lax.concatenate([lax.mul(c, c), a], x.ndim - 1)


def _clamped(i):
    # A traced start index past the last valid start: the primitive clamps it.
    return lax.max(i, jnp.int32(0)) + 4


ROWS: list = [
    # pad: the padding value is an operand and carries a derivative.
    Row("pad", lambda x, v: lax.pad(x, v, ((1, 2, 0), (0, 1, 0))), [((3, 4), ())]),
    Row(
        "pad",
        lambda x, v: lax.pad(x, v, ((1, -2, 1), (-1, 1, 0))),
        [((3, 4), ())],
        id="negative-interior",
    ),
    Row("pad", lambda x, v: lax.pad(x, v, ((-1, -2, 0),)), [((6,), ())], id="negative"),
    Row("pad", lambda x, v: lax.pad(x, v, ((0, 0, 2),)), [((4,), ())], id="interior"),
    Row(
        "pad",
        lambda x, v: lax.pad(x, v, ((-2, 3, 2), (2, -3, 1))),
        [((3, 4), ())],
        id="negative-into-interior",
    ),
    Row("pad", lambda x: jnp.pad(x, ((1, 2), (0, 1))), [((3, 4),)], id="jnp.pad"),
    Row(
        "pad",
        lambda x, v: jnp.pad(x, ((1, 0), (2, 1)), constant_values=v),
        [((3, 4), ())],
        id="jnp.pad-value",
    ),
    # dynamic_slice / dynamic_update_slice: traced start indices (ints in [-2, 3], negative
    # ones wrapped by lax), and starts that the primitive clamps.
    Row(
        "dynamic_slice",
        lambda x, i: lax.dynamic_slice(x, (i, i + 1), (2, 3)),
        [((5, 4), ())],
        int_args=(1,),
    ),
    Row(
        "dynamic_slice",
        lambda x, i: lax.dynamic_slice(x, (_clamped(i), i), (3, 2)),
        [((5, 4), ())],
        int_args=(1,),
        id="clamped",
    ),
    Row("dynamic_slice", lambda x, i: x[i], [((5, 3), ())], int_args=(1,), id="x[i]"),
    Row(
        "dynamic_update_slice",
        lambda x, u, i: lax.dynamic_update_slice(x, u, (i, i * 0)),
        [((5, 4), (2, 4), ())],
        int_args=(2,),
    ),
    Row(
        "dynamic_update_slice",
        lambda x, u, i: lax.dynamic_update_slice(x, u, (_clamped(i), i * 0 + 1)),
        [((5, 4), (2, 3), ())],
        int_args=(2,),
        id="clamped",
    ),
    Row(
        "dynamic_update_slice",
        lambda x, u, i: lax.dynamic_update_slice(x, u, (_clamped(i),)),
        [((6,), (3,), ())],
        int_args=(2,),
        id="clamped-1d",
    ),
    # split, tile, stack
    Row("split", _split_unequal, [((6,),), ((3, 6),)]),
    Row("split", lambda x: lax.mul(*jnp.split(x, 2, axis=0)), [((4, 3),)], id="jnp.split"),
    Row("tile", lambda x: lax.tile(x, (2, 3)[: x.ndim]), ARRAYS),
    Row("tile", lambda x: jnp.tile(x, (3, 1)), [((2, 4),)], id="jnp.tile"),
    Row("stack", lambda x, y: jnp.stack([x, y, x], axis=1), [((4,), (4,)), ((3, 4), (3, 4))]),
    Row("stack", lambda x, y: jnp.stack([x, y]), [((3, 4), (3, 4))], id="axis0"),
    # gather: x[idx] (promise_in_bounds), take (fill, clip), take_along_axis (batching dims)
    Row("gather", lambda x: x[REPEATED], [((5,),), ((5, 3),)]),
    Row("gather", lambda x, i: x[i], [((5, 3), (3,))], int_args=(1,), id="traced-idx"),
    Row(
        "gather",
        lambda x: jnp.take_along_axis(x, ALONG, axis=1),
        [((5, 3),)],
        id="take_along_axis",
    ),
    Row(
        "gather",
        lambda x: jnp.take(x, OUT_OF_BOUNDS, axis=0, mode="fill", fill_value=0.5),
        [((5,),), ((5, 3),)],
        id="fill-out-of-bounds",
    ),
    Row(
        "gather",
        lambda x: jnp.take(x, OUT_OF_BOUNDS, axis=1, mode="clip"),
        [((3, 5),)],
        id="clip-out-of-bounds",
    ),
    # scatter-add: .at[idx].add (fill_or_drop by default)
    Row("scatter-add", lambda x, y: x.at[REPEATED].add(y), [((5,), (4,)), ((5, 3), (4, 3))]),
    Row(
        "scatter-add",
        lambda x, y: x.at[OUT_OF_BOUNDS].add(y),
        [((5, 3), (4, 3))],
        id="drop-out-of-bounds",
    ),
    Row(
        "scatter-add",
        lambda x, y: x.at[OUT_OF_BOUNDS].add(y, mode="clip"),
        [((5,), (4,))],
        id="clip-out-of-bounds",
    ),
    Row(
        "scatter-add",
        lambda x, y: x.at[REPEATED].add(y, mode="promise_in_bounds"),
        [((5, 2), (4, 2))],
        id="promise_in_bounds",
    ),
    Row(
        "scatter-add",
        lambda x, y: x.at[:, ALONG[:3].T].add(y),
        [((4, 5), (4, 2, 3))],
        id="2d-index",
    ),
]

ROWS += [
    # scatter: .at[idx].set, repeated indices (JAX's id convention), unique ones, dropped
    Row("scatter", lambda x, y: x.at[REPEATED].set(y), [((5,), (4,)), ((5, 3), (4, 3))]),
    Row(
        "scatter",
        lambda x, y: x.at[np.array([3, 0, 1])].set(y, unique_indices=True),
        [((5, 2), (3, 2))],
        id="unique",
    ),
    Row(
        "scatter",
        lambda x, y: x.at[OUT_OF_BOUNDS].set(y),
        [((5, 3), (4, 3))],
        id="drop-out-of-bounds",
    ),
    Row(
        "scatter",
        lambda x, y: x.at[OUT_OF_BOUNDS].set(y, mode="clip"),
        [((5,), (4,))],
        id="clip-out-of-bounds",
    ),
    Row(
        "scatter",
        lambda x, y: x.at[:, ALONG[:3].T].set(y),
        [((4, 5), (4, 2, 3))],
        id="2d-index",
    ),
]


def _fixed_updates(x):
    # Constant multipliers for the operand-only scatter-mul row (repeated indices).
    return jnp.asarray(np.array([1.5, -0.5, 2.0, 0.75]), x.dtype)


def _unstacked(x):
    # Unequal uses of the pieces; the third is unused, so its cotangent is None (zero).
    a, b, _, d = jnp.unstack(x, axis=1)
    return a * b + jnp.sin(d)


ROWS += [
    Row("scatter-sub", lambda x, y: x.at[REPEATED].subtract(y), [((5,), (4,)), ((5, 3), (4, 3))]),
    # scatter-mul: the operand's derivative for any indices, the updates' for unique ones
    # (JAX's scope; repeated indices with a differentiated y are refused, tests/test_errors.py).
    Row("scatter-mul", lambda x: x.at[REPEATED].multiply(_fixed_updates(x)), [((5,),)]),
    Row(
        "scatter-mul",
        lambda x, y: x.at[np.array([3, 0, 1])].multiply(y, unique_indices=True),
        [((5, 2), (3, 2))],
        id="unique",
    ),
    # scatter-max / -min: repeated indices; ties share the derivative equally (JAX's
    # convention), between updates and with the operand; dropped and clipped indices.
    Row("scatter-max", lambda x, y: x.at[REPEATED].max(y), [((5,), (4,)), ((5, 3), (4, 3))]),
    Row(
        "scatter-max",
        lambda x, y: x.at[REPEATED].max(y),
        [((5,), (4,)), ((5, 3), (4, 3))],
        rand_ties,
        id="ties",
    ),
    Row(
        "scatter-max",
        lambda x, y: x.at[OUT_OF_BOUNDS].max(y),
        [((5, 3), (4, 3))],
        id="drop-out-of-bounds",
    ),
    # JAX's own rule reads the clipped index back with a NaN-filling gather, so its
    # derivative is NaN there; the reference clips the index itself.
    Row(
        "scatter-max",
        lambda x, y: x.at[OUT_OF_BOUNDS].max(y, mode="clip"),
        [((5,), (4,))],
        reference=lambda x, y: x.at[np.minimum(OUT_OF_BOUNDS, 4)].max(y),
        id="clip-out-of-bounds",
    ),
    Row("scatter-min", lambda x, y: x.at[REPEATED].min(y), [((5,), (4,)), ((5, 3), (4, 3))]),
    Row(
        "scatter-min",
        lambda x, y: x.at[:, ALONG[:3].T].min(y),
        [((4, 5), (4, 2, 3))],
        rand_ties,
        id="2d-index-ties",
    ),
    Row("unstack", _unstacked, [((3, 4),)]),
]
