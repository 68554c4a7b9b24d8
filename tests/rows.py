"""The primitive table's building blocks: the Row, the domain samplers and the shape cases.

tests/test_primitives.py runs every row (its own, and those of tests/rows_*.py, one module
per rule family) against jax.jvp / jax.vjp, at first and second order.
"""

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

# --- Domain samplers: (key, shape, dtype) -> array ------------------------------------------
# Each draws a fixed-size pool with jax.random (one compilation per dtype rather than one
# per shape) and cuts the requested shape out of it.

POOL = 128


def _cut(pool, shape):
    return jnp.asarray(np.asarray(pool)[: int(np.prod(shape))].reshape(shape))


def rand_default(key, shape, dtype):
    return _cut(jax.random.normal(key, (POOL,), dtype), shape)


def rand_positive(key, shape, dtype):
    return _cut(jax.random.uniform(key, (POOL,), dtype, 0.5, 2.0), shape)


def rand_nonzero(key, shape, dtype):
    k1, k2 = jax.random.split(key)
    sign = jnp.where(jax.random.bernoulli(k1, 0.5, (POOL,)), 1, -1).astype(dtype)
    return _cut(sign * jax.random.uniform(k2, (POOL,), dtype, 0.5, 2.0), shape)


def rand_ties(key, shape, dtype):
    """Small integers (exact in every float dtype), so that maxima and sorted values tie."""
    x = np.asarray(rand_default(key, shape, dtype)).astype(np.float64)
    return jnp.asarray(np.round(x), dtype)


def rand_well_conditioned(key, shape, dtype):
    """Normal entries, plus n on the diagonal of square matrices (well conditioned)."""
    x = rand_default(key, shape, dtype)
    if len(shape) >= 2 and shape[-1] == shape[-2]:
        x = x + shape[-1] * jnp.eye(shape[-1], dtype=dtype)
    return x


def rand_spd(key, shape, dtype):
    """Symmetric positive definite matrices: X X^T + n I (other shapes: normal entries)."""
    x = rand_default(key, shape, dtype)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        return x
    return x @ jnp.swapaxes(x, -1, -2) + shape[-1] * jnp.eye(shape[-1], dtype=dtype)


def rand_exponent(key, shape, dtype):
    """int32 exponents in [-2, 3] (zero and negative included), whatever the row's dtype."""
    del dtype
    return _cut(jax.random.randint(key, (POOL,), -2, 4, jnp.int32), shape)


UNARY = [((),), ((4,),), ((3, 4),)]
BINARY = [
    ((), ()), ((4,), (4,)), ((3, 4), (3, 4)),  # equal shapes
    ((3, 4), ()), ((), (3, 4)), ((3, 1), (3, 4)), ((1, 4), (3, 4)),  # rank-0 and size-1
]  # fmt: skip
ARRAYS = [((4,),), ((3, 4),)]


@dataclass(frozen=True)
class Row:
    primitive: str  # the primitive this row exercises (checked to be in the jaxpr)
    fun: Callable
    shapes: list
    domain: Callable = rand_default
    modes: tuple = ("jvp", "vjp")  # custom_vjp functions have no forward mode
    id: str = ""
    int_args: tuple = ()  # positions drawn by rand_exponent; their tangents are float0
    # Where JAX cannot differentiate `fun` itself, `reference` computes the same values with
    # operations JAX differentiates (the test checks the values agree) and JAX differentiates
    # it instead.
    reference: Callable | None = None
    # The tolerance tables, where the row's sums differ from JAX's in order (defaults:
    # helpers.FIRST_ORDER and SECOND_ORDER); the row's comment gives the measured error.
    first_order: dict | None = None
    second_order: dict | None = None
    low_precision: bool = True  # False where JAX has no float16 / bfloat16 kernel (LAPACK)

    @property
    def jax_fun(self) -> Callable:
        return self.reference or self.fun
