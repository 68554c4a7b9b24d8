"""The primitive table's rows for adlab/control.py: cond, scan, while, checkpoint.

Whole models over these (RNNs, RK4, Newton, a checkpointed MLP) are in tests/test_control.py;
these rows run each primitive through the table's dtypes and shapes. ``while`` has forward
mode only: reverse mode is refused, as in JAX.
"""

import jax
import jax.numpy as jnp
from helpers import F64, MODEL_SECOND_ORDER, SECOND_ORDER
from jax import lax
from rows import ARRAYS, UNARY, Row


def _switch(x, y):
    # Three branches; the index is computed from y (it carries no derivative).
    index = jnp.clip(jnp.floor(jnp.sum(y)).astype(jnp.int32) + 1, 0, 2)
    return lax.switch(index, [jnp.sin, lambda v: v * y, lambda v: jnp.exp(-(v**2))], x)


def _scan(x):
    def step(c, v):
        return jnp.sin(c) * v + 0.5 * c, c * v

    c, ys = lax.scan(step, x[0], x)
    return c + ys


def _scan_closing_over(x, y):
    # y is a loop-invariant operand (a const of the body); the carry is a pair.
    def step(carry, v):
        a, b = carry
        return (jnp.tanh(a * y + v), a + b), a * b

    (a, b), ys = lax.scan(step, (x[0], x[0]), x, reverse=True)
    return a + b + jnp.sum(ys)


def _fori_traced(x, n):
    # A traced bound: a while loop.
    return lax.fori_loop(0, jnp.maximum(n, 1), lambda i, c: jnp.sin(c) * 1.5 + x, x)


ROWS = [
    Row("cond", lambda x: lax.cond(jnp.sum(x) > -1e3, jnp.sin, lambda v: v**2, x), UNARY),
    Row(
        "cond", lambda x: lax.cond(jnp.sum(x) > 1e3, jnp.sin, lambda v: v**2, x), UNARY, id="false"
    ),
    Row("cond", _switch, [((4,), ()), ((3, 4), ())], id="switch"),
    # jnp.diagonal picks its kernel by platform: a cond with branches_platforms.
    Row("cond", lambda x: jnp.diagonal(x) ** 2, [((3, 3),)], id="platform-diagonal"),
    Row("scan", _scan, ARRAYS),
    # The const's cotangent is a sum over the steps, in another order than JAX's: float64
    # second order differs by 1.6e-16 absolute on an entry of -2.1e-4 (values up to 15.7),
    # within the whole-model table; float32 by one ulp, within the default one.
    Row(
        "scan",
        _scan_closing_over,
        [((5,), ()), ((4, 3), (3,))],
        id="consts-reverse",
        second_order={**SECOND_ORDER, F64: MODEL_SECOND_ORDER[F64]},
    ),
    Row("while", _fori_traced, [((4,), ())], int_args=(1,), modes=("jvp",)),
    Row("remat2", jax.checkpoint(lambda x: jnp.sin(x) * jnp.cos(x) ** 2), UNARY),
    Row(
        "optimization_barrier",
        lambda x: lax.optimization_barrier((jnp.sin(x), x))[0] * x,
        UNARY,
    ),
]
