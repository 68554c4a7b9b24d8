"""Python scalars, NumPy scalars and 0-d arrays as primals, tangents and cotangents, as in JAX."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_trees_close

import adlab

POINTS = {
    "python float": 0.5,
    "numpy float32": np.float32(0.5),
    "numpy float64": np.float64(0.5),
    "0-d array": np.array(0.5),
}
FUNS = {"tanh": jnp.tanh, "sparse_plus": jax.nn.sparse_plus, "sin*x": lambda x: jnp.sin(x) * x}


def _weak(a):
    """Whether a value is weakly typed, as JAX would treat it (a Python scalar is)."""
    return getattr(a, "weak_type", isinstance(a, int | float))


def _same(ours, theirs, weak=True):
    assert_trees_close(ours, theirs)
    if not weak:
        return
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
        assert _weak(a) == _weak(b), (a, b)


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("fun", FUNS)
def test_scalar_primals_and_tangents(fun, point):
    f, x = FUNS[fun], POINTS[point]
    _same(adlab.grad(f)(x), jax.grad(f)(x))
    _same(adlab.value_and_grad(f)(x), jax.value_and_grad(f)(x))
    for t in (1.0, np.ones((), jnp.result_type(x))):
        if jnp.result_type(t) != jnp.result_type(x):
            continue  # a tangent must have its primal's dtype, in JAX as in adlab
        # Values and dtypes as JAX's; a (co)tangent's weak type is not yet always JAX's (a
        # rule's constants are strongly typed), so it is not compared here.
        _same(adlab.jvp(f, (x,), (t,)), jax.jvp(f, (x,), (t,)), weak=False)
        _same(adlab.linearize(f, x)[1](t), jax.linearize(f, x)[1](t), weak=False)
        _same(adlab.vjp(f, x)[1](t), jax.vjp(f, x)[1](t), weak=False)


def test_tanh_at_saturation():
    assert adlab.grad(jnp.tanh)(1000.0) == jax.grad(jnp.tanh)(1000.0) == 0.0
    _same(adlab.jvp(jnp.tanh, (0.0,), (1.0,)), jax.jvp(jnp.tanh, (0.0,), (1.0,)), weak=False)
