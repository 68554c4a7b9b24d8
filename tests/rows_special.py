"""The primitive table's rows for adlab/rules/special.py (run by tests/test_primitives.py)."""

import jax
import jax.numpy as jnp
from jax import lax
from rows import BINARY, POOL, UNARY, Row, _cut, rand_nonzero, rand_positive

# --- Domain samplers ----------------------------------------------------------------------------


def rand_unit(key, shape, dtype):
    """Inside (-1, 1), away from its ends: asin, acos, atanh, erf_inv (and tan's poles)."""
    return _cut(jax.random.uniform(key, (POOL,), dtype, -0.9, 0.9), shape)


def rand_above_one(key, shape, dtype):
    """Above 1, away from it: acosh."""
    return _cut(jax.random.uniform(key, (POOL,), dtype, 1.2, 3.0), shape)


def rand_with_zeros(key, shape, dtype):
    """Normal draws with an exact 0 at every third entry (from the second): bessel at 0."""
    pool = jax.random.normal(key, (POOL,), dtype)
    pool = jnp.where(jnp.arange(POOL) % 3 == 1, jnp.zeros((), dtype), pool)
    return _cut(pool, shape)


def rand_between_integers(key, shape, dtype):
    """k + f with k in [-3, 3] and f in [0.1, 0.4] or [0.6, 0.9]: away from the jumps of
    floor and ceil (integers) and of round (halves)."""
    k1, k2, k3 = jax.random.split(key, 3)
    whole = jax.random.randint(k1, (POOL,), -3, 4).astype(dtype)
    frac = jax.random.uniform(k2, (POOL,), dtype, 0.1, 0.4)
    upper = jax.random.bernoulli(k3, 0.5, (POOL,))
    frac = jnp.where(upper, frac + jnp.asarray(0.5, dtype), frac)
    return _cut(whole + frac, shape)


def rand_near_one(key, shape, dtype):
    """|v| in [1, 1.1], either sign: for rem(2.5 x, y), |2.5 x / y| stays in [2.27, 2.75],
    away from the jumps of trunc."""
    k1, k2 = jax.random.split(key)
    sign = jnp.where(jax.random.bernoulli(k1, 0.5, (POOL,)), 1, -1).astype(dtype)
    return _cut(sign * jax.random.uniform(k2, (POOL,), dtype, 1.0, 1.1), shape)


def rand_small_integers(key, shape, dtype):
    """-1, 0 or 1: clamp's operands tie with its bounds, and the bounds with each other."""
    return _cut(jax.random.randint(key, (POOL,), -1, 2).astype(dtype), shape)


def _polygamma(m, x):
    # m is an int32 drawn in [-2, 3]; |m| is the order (0..3), a constant with no derivative.
    return lax.polygamma(lax.convert_element_type(lax.abs(m), x.dtype), x)


def _clamp(lo, x, hi):
    # From draws in [0.5, 2): lo in (-2, -0.5], hi in [0.5, 2), x in [-2, 4): below, inside
    # and above the bounds, never tied with them.
    return lax.clamp(-lo, x * 4 - 4, hi)


# JAX's own clamp jvp fails for a rank-0 bound that carries a tangent (its select mixes the
# bound's rank-0 tangent with full-shape zeros), so rank-0 bounds are constants here.
CLAMP_SHAPES = [((),) * 3, ((4,),) * 3, ((3, 4),) * 3]


def _clamp_scalar_bounds(lo, hi):
    return lambda x: lax.clamp(jnp.asarray(lo, x.dtype), x, jnp.asarray(hi, x.dtype))


ROWS: list = [
    # Error function
    Row("erf", lax.erf, UNARY),
    Row("erfc", lax.erfc, UNARY),
    Row("erf_inv", lax.erf_inv, UNARY, rand_unit),
    # Gamma family, away from the poles
    Row("lgamma", lax.lgamma, UNARY, rand_positive),
    Row("digamma", lax.digamma, UNARY, rand_positive),
    Row("polygamma", _polygamma, [((4,), (4,)), ((), (3, 4)), ((3, 4), (3, 4))], rand_positive,
        int_args=(0,)),
    Row("polygamma", lambda x: lax.polygamma(jnp.asarray(2.0, x.dtype), x), UNARY, rand_positive,
        id="constant-order"),
    # Exponentially scaled Bessel functions, exact zeros included
    Row("bessel_i0e", lax.bessel_i0e, UNARY, rand_with_zeros),
    Row("bessel_i1e", lax.bessel_i1e, UNARY, rand_with_zeros),
    # Trigonometric and hyperbolic
    Row("tan", lax.tan, UNARY, rand_unit),
    Row("asin", lax.asin, UNARY, rand_unit),
    Row("acos", lax.acos, UNARY, rand_unit),
    Row("atan", lax.atan, UNARY),
    Row("atan2", lax.atan2, BINARY, rand_nonzero),
    Row("sinh", lax.sinh, UNARY),
    Row("cosh", lax.cosh, UNARY),
    Row("asinh", lax.asinh, UNARY),
    Row("acosh", lax.acosh, UNARY, rand_above_one),
    Row("atanh", lax.atanh, UNARY, rand_unit),
    Row("cbrt", lax.cbrt, UNARY, rand_nonzero),
    Row("exp2", lax.exp2, UNARY),
    # Zero derivatives: the row's derivative is floor(x) etc., never 0 + noise
    Row("floor", lambda x: lax.mul(lax.floor(x), x), UNARY, rand_between_integers),
    Row("ceil", lambda x: lax.mul(lax.ceil(x), x), UNARY, rand_between_integers),
    Row("round", lambda x: lax.mul(lax.round(x), x), UNARY, rand_between_integers,
        id="away-from-zero"),
    Row("round",
        lambda x: lax.mul(lax.round(x, lax.RoundingMethod.TO_NEAREST_EVEN), x),
        UNARY, rand_between_integers, id="to-nearest-even"),
    # Remainder, both operands, with rank-0 and size-1 broadcasting
    Row("rem", lambda x, y: lax.rem(x * 2.5, y), BINARY, rand_near_one),
    # clamp: all three operands carry tangents (full-shape bounds)
    Row("clamp", _clamp, CLAMP_SHAPES, rand_positive),
    # Exactly at the bounds (and lo == hi, lo > hi): JAX's selects, which give nobody the
    # derivative at a tie. Then rank-0 bounds (constants), inside and at the bounds.
    Row("clamp", lax.clamp, CLAMP_SHAPES, rand_small_integers, id="ties"),
    Row("clamp", _clamp_scalar_bounds(-0.5, 0.5), UNARY, id="rank-0-bounds"),
    Row("clamp", _clamp_scalar_bounds(-1.0, 1.0), UNARY, rand_small_integers,
        id="rank-0-bounds-ties"),
    # Identities
    Row("reduce_precision", lambda x: lax.reduce_precision(x, 5, 10), UNARY, id="e5m10"),
    Row("reduce_precision", lambda x: lax.reduce_precision(x, 8, 7), UNARY, id="e8m7"),
    Row("device_put", lambda x: lax.mul(jax.device_put(x), x), UNARY),
    Row("device_put", lambda x, y: lax.mul(*jax.device_put((x, y))), [((4,), (4,)), ((3, 4), ())],
        id="two-operands"),
]  # fmt: skip
