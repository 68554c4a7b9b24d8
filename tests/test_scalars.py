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
    # Jacobian blocks take the output's (jacfwd) or the input's (jacrev) dtype and weak type.
    for api in ("jacfwd", "jacrev", "hessian"):
        _same(getattr(adlab, api)(f)(x), getattr(jax, api)(f)(x))
    for t in (1.0, np.ones((), jnp.result_type(x))):
        if jnp.result_type(t) != jnp.result_type(x):
            continue  # a tangent must have its primal's dtype, in JAX as in adlab
        # Values and dtypes as JAX's. The weak type of a tangent or cotangent is not always
        # JAX's where a strongly typed (co)tangent meets a weakly typed primal, or the other
        # way round (jvp of tanh at 0.5 with np.ones(()): JAX's output tangent is weak), so
        # it is not compared here.
        _same(adlab.jvp(f, (x,), (t,)), jax.jvp(f, (x,), (t,)), weak=False)
        _same(adlab.linearize(f, x)[1](t), jax.linearize(f, x)[1](t), weak=False)
        _same(adlab.vjp(f, x)[1](t), jax.vjp(f, x)[1](t), weak=False)


def test_tanh_at_saturation():
    assert adlab.grad(jnp.tanh)(1000.0) == jax.grad(jnp.tanh)(1000.0) == 0.0
    _same(adlab.jvp(jnp.tanh, (0.0,), (1.0,)), jax.jvp(jnp.tanh, (0.0,), (1.0,)), weak=False)


def test_jacobian_blocks_take_jaxs_dtypes():
    # jacfwd casts each block to its output's dtype: an integer output's block is integer
    # zeros (not float0), as in JAX; jacrev casts to the input's dtype.
    f = lambda x: (jnp.sin(x), jnp.argmax(x))
    x = jnp.arange(3.0)
    ours, theirs = adlab.jacfwd(f)(x), jax.jacfwd(f)(x)
    assert ours[1].dtype == theirs[1].dtype == jnp.argmax(x).dtype
    np.testing.assert_array_equal(ours[1], theirs[1])
    _same(ours[0], theirs[0])
    _same(adlab.jacrev(lambda x: jnp.sin(x).astype(jnp.float32))(x), jax.jacrev(
        lambda x: jnp.sin(x).astype(jnp.float32))(x))  # fmt: skip
