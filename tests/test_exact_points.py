"""Points of non-differentiability: adlab makes exactly JAX's choices there."""

import jax
import jax.numpy as jnp
import pytest
from helpers import assert_trees_close

import adlab

CASES = {
    "relu at 0": (jax.nn.relu, (0.0,)),
    "abs at 0": (jnp.abs, (0.0,)),
    "abs at 0 (vector)": (lambda x: jnp.sum(jnp.abs(x)), (jnp.array([0.0, -0.0, 1.0]),)),
    "sign at 0": (jnp.sign, (0.0,)),
    "maximum tie": (jnp.maximum, (1.5, 1.5)),
    "minimum tie": (jnp.minimum, (-2.0, -2.0)),
    "max with a constant at the kink": (lambda x: jnp.maximum(x, 0.0), (0.0,)),
    "reduce_max three-way tie": (jnp.max, (jnp.array([1.0, 3.0, 3.0, 3.0]),)),
    "reduce_min tie along an axis": (
        lambda x: jnp.sum(jnp.min(x, axis=1)),
        (jnp.array([[1.0, 1.0], [0.0, 2.0]]),),
    ),
    "where at the boundary": (lambda x: jnp.where(x > 0, x**2, -x), (0.0,)),
    "clip at its bounds": (lambda x: jnp.sum(jnp.clip(x, -1.0, 1.0)), (jnp.array([-1.0, 1.0]),)),
    "sqrt of a square at 0": (lambda x: jnp.sqrt(x**2 + 1e-300) * 0 + jnp.abs(x), (0.0,)),
    "pow with zero base": (lambda x, y: x**y, (0.0, 2.5)),
    "integer_pow at 0": (lambda x: x**3, (0.0,)),
    "norm at a kink-free point": (lambda x: jnp.linalg.norm(x), (jnp.array([3.0, 4.0]),)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_gradient_at_exact_point(name):
    fun, args = CASES[name]
    argnums = tuple(range(len(args)))
    scalar = lambda *a: jnp.sum(fun(*a))
    assert_trees_close(adlab.grad(scalar, argnums)(*args), jax.grad(scalar, argnums)(*args))
    tangents = tuple(jnp.ones_like(jnp.asarray(a)) for a in args)
    assert_trees_close(adlab.jvp(fun, args, tangents), jax.jvp(fun, args, tangents))


def test_tie_splits_the_cotangent_in_half():
    # The value is JAX's convention; check it by value, not only by agreement.
    assert adlab.grad(jnp.maximum, (0, 1))(1.0, 1.0) == (0.5, 0.5)
    assert adlab.grad(jax.nn.relu)(0.0) == 0.0
