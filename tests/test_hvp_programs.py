"""The programs the hvp experiment times compute H v, and its losses are what they say.

Every program of `experiments.hvp.programs` (three scalable modes, fwd-over-fwd and the dense
Hessian, for adlab and for JAX), jitted as the experiment jits it, is compared in float64 with
the dense Hessian built by `jax.jacrev(jax.jacrev(f))`, a composition that none of the programs
uses, times v.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adlab import bench
from experiments import _models, hvp

F64 = {**hvp.QUICK, "dtype": "float64"}
SMALL = [("rosenbrock", 7), ("mlp", 2), ("transformer", 8)]


@pytest.mark.parametrize("workload, size", SMALL)
def test_every_timed_program_equals_the_dense_hessian_times_v(workload, size):
    loss = hvp.build({"workload": workload, "size": size}, F64)
    v = jax.random.normal(jax.random.key(7), loss.theta.shape, jnp.float64)
    expected = jax.jacrev(jax.jacrev(loss.fun))(loss.theta) @ v
    progs, skipped = hvp.programs(loss, v, max_dense_n=loss.n)
    assert not skipped
    grad = jax.grad(loss.fun)(loss.theta)
    for engine, methods in progs.items():
        assert tuple(methods) == hvp.METHODS
        for method, (fun, args) in methods.items():
            jitted, call_args = bench.jit_hoisted(fun, *args)
            got = jitted(*call_args)
            want = grad if method == "grad" else expected
            # Measured: at most 1.4e-15 of the largest entry (the transformer block).
            error = np.max(np.abs(got - want)) / np.max(np.abs(want))
            assert error < 1e-14, (engine, method, error)


def test_large_points_skip_the_methods_that_do_not_scale():
    loss = hvp.build({"workload": "rosenbrock", "size": 64}, F64)
    progs, skipped = hvp.programs(loss, loss.theta, max_dense_n=32)
    assert set(skipped) == set(hvp.SMALL_ONLY)
    assert "64 x 64 Hessian" in skipped["dense"]
    for methods in progs.values():
        assert tuple(methods) == ("grad", *hvp.SCALABLE)


def test_flatten_round_trips_a_pytree():
    params = {"w": jnp.arange(6.0).reshape(2, 3), "b": (jnp.ones(4), jnp.zeros((1, 2)))}
    theta, unflatten = _models.flatten(params)
    assert theta.shape == (12,)
    back = unflatten(theta)
    assert jax.tree.structure(back) == jax.tree.structure(params)
    for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(params), strict=True):
        np.testing.assert_array_equal(a, b)


def test_losses_have_the_documented_sizes():
    key = jax.random.key(0)
    assert _models.rosenbrock(5, key).n == 5
    # width -> width -> width -> 10, with biases
    width = 8
    assert _models.mlp(width, key).n == 2 * (width * width + width) + width * 10 + 10
    # qkv, out, w1, w2 with biases b1, b2 and two layer norms
    d = 8
    expected = 3 * d * d + d * d + d * 4 * d + 4 * d + 4 * d * d + d + 4 * d
    assert _models.transformer(d, 4, key).n == expected
    # Rosenbrock's value at a known point: (1, 1, ..., 1) is its minimum, 0
    assert _models.rosenbrock(3, key).fun(jnp.ones(3)) == 0.0
    with pytest.raises(ValueError, match="dim >= 2"):
        _models.rosenbrock(1, key)
    with pytest.raises(ValueError, match="multiple of heads"):
        _models.transformer(6, 4, key)
