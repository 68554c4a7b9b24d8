"""The primitive table's rows for adlab/expansions.py: the generic reduce and reduce_window.

``lax.reduce`` / ``lax.reduce_window`` stay generic when the computation is not add, mul,
max or min with its identity. JAX differentiates the generic reduce itself, except when an
operand is an integer (an argmax-style reduction), where the row's reference is jnp.max. JAX
has no reverse mode for the generic reduce_window (and its forward over forward fails), so
those rows' reference is the same fold written with gathers: for each window offset, the
operand's element at every window's position, or the init value where the position falls in
padding or between dilated elements.
"""

import functools
import itertools

import jax.numpy as jnp
import numpy as np
from jax import lax
from rows import Row
from rows_windows import DILATED, ONE_D, STRIDED


def _zero(x):
    return np.array(0, x.dtype)


def _one(x):
    return np.array(1, x.dtype)


def _odot(a, b):
    # a + b + ab = (1 + a)(1 + b) - 1: associative and commutative, with identity 0, and no
    # monoid lax recognises.
    return a + b + a * b


def _sum_and_product(axes):
    def fun(x):
        total, product = lax.reduce(
            (x, x), (_zero(x), _one(x)), lambda a, b: (a[0] + b[0], a[1] * b[1]), axes
        )
        return total * product

    return fun


def _max_and_argmax(x):
    # The value half of a variadic (value, index) reduction, as argmax-style code writes it.
    index = lax.broadcasted_iota(jnp.int32, x.shape, 1)

    def larger(a, b):
        pick = a[0] >= b[0]
        return lax.select(pick, a[0], b[0]), lax.select(pick, a[1], b[1])

    value, _ = lax.reduce((x, index), (np.array(-np.inf, x.dtype), np.int32(0)), larger, (1,))
    return value


def _window(op, init, window):
    return lambda x: lax.reduce_window(x, init(x), op, *window)


def window_reference(op, init, window):
    """lax.reduce_window's definition, with NumPy index arithmetic and JAX gathers."""
    dims, strides, padding, base, dilation = (*window, None, None)[:5]

    def reference(x):
        base_ = base or (1,) * x.ndim
        dilation_ = dilation or (1,) * x.ndim
        # Axis length after base dilation and padding, and the number of windows along it.
        lengths = [(n - 1) * b + 1 + lo + hi for n, b, (lo, hi) in zip(x.shape, base_, padding)]
        counts = [(m - ((w - 1) * d + 1)) // s + 1
                  for m, w, d, s in zip(lengths, dims, dilation_, strides)]  # fmt: skip
        acc = jnp.full(counts, init(x))
        for offset in itertools.product(*(range(w) for w in dims)):
            index, valid = [], []
            for n, c, k, s, d, b, (lo, _) in zip(
                x.shape, counts, offset, strides, dilation_, base_, padding
            ):
                q = np.arange(c) * s + k * d - lo  # position among the dilated elements
                index.append(np.clip(q // b, 0, n - 1))
                valid.append((q % b == 0) & (q >= 0) & (q // b < n))
            mask = functools.reduce(np.logical_and, np.ix_(*map(np.int8, valid))).astype(bool)
            acc = op(acc, jnp.where(mask, x[np.ix_(*index)], init(x)))
        return acc

    return reference


ROWS = [
    # Odd lengths: the tree pads a half with the init value.
    Row("reduce", _sum_and_product((0,)), [((3, 4),)]),
    Row("reduce", _sum_and_product((1, 0)), [((3, 5),)], id="two-axes"),
    Row("reduce", lambda x: lax.reduce(x, _zero(x), _odot, (0,)), [((5,),), ((3, 4),)], id="odot"),
    Row(
        "reduce",
        _max_and_argmax,
        [((3, 5),)],
        reference=lambda x: jnp.max(x, axis=1),
        id="argmax-style",
    ),
    Row(
        "reduce_window",
        _window(lax.mul, _one, STRIDED),
        [((4, 5),)],
        reference=window_reference(lax.mul, _one, STRIDED),
    ),
    Row(
        "reduce_window",
        _window(lax.mul, _one, DILATED),
        [((3, 5),)],
        reference=window_reference(lax.mul, _one, DILATED),
        id="dilated",
    ),
    Row(
        "reduce_window",
        _window(_odot, _zero, ONE_D),
        [((7,),)],
        reference=window_reference(_odot, _zero, ONE_D),
        id="odot",
    ),
]
