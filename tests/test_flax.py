"""Flax models, differentiated by adlab's rules, against jax.grad.

Flax 0.12 needs JAX 0.11.1 or newer, so the ``dev`` extra installs it on Python 3.12 and newer
only; on Python 3.11 (JAX 0.10.2) these tests are skipped and say why. The models are the
kinds of programs nobody here wrote: nnx modules split into a graph and a parameter state
(a pytree), LayerNorm's statistics, and a linen CNN with BatchNorm in training mode and max
pooling, jitted (the case where a pooling derivative once lost windows under XLA's fusion).
"""

import jax
import jax.numpy as jnp
import pytest
from helpers import CNN_NORMWISE, MODEL, assert_tree_normwise_close, assert_trees_close

import adlab

flax = pytest.importorskip("flax", reason="flax is installed with the dev extra on Python 3.12+")
from flax import linen, nnx  # noqa: E402

KEYS = jax.random.split(jax.random.key(0), 4)
F64 = jnp.float64  # parameters in float64, so that MODEL's float64 tolerances apply


class MLP(nnx.Module):
    def __init__(self, rngs):
        self.hidden = nnx.Linear(6, 16, param_dtype=F64, rngs=rngs)
        self.norm = nnx.LayerNorm(16, param_dtype=F64, rngs=rngs)
        self.out = nnx.Linear(16, 1, param_dtype=F64, rngs=rngs)

    def __call__(self, x):
        return self.out(jax.nn.gelu(self.norm(self.hidden(x))))


def test_nnx_mlp_with_layer_norm_equals_jax():
    graphdef, params = nnx.split(MLP(nnx.Rngs(0)), nnx.Param)
    x = jax.random.normal(KEYS[0], (32, 6), jnp.float64)
    y = jax.random.normal(KEYS[1], (32,), jnp.float64)

    def loss(params, x, y):
        model = nnx.merge(graphdef, params)
        return jnp.mean((model(x)[:, 0] - y) ** 2)

    expected = jax.grad(loss)(params, x, y)
    # two kernels and two biases, LayerNorm's scale and bias
    assert [leaf.dtype for leaf in jax.tree.leaves(expected)] == [F64] * 6
    assert_trees_close(adlab.grad(loss)(params, x, y), expected, MODEL)
    assert_trees_close(jax.jit(adlab.grad(loss))(params, x, y), expected, MODEL)
    v = jax.tree.map(lambda p: jnp.ones_like(p), params)
    assert_trees_close(adlab.jvp(loss, (params, x, y), (v, 0 * x, 0 * y)),
                       jax.jvp(loss, (params, x, y), (v, 0 * x, 0 * y)), MODEL)  # fmt: skip


class CNN(linen.Module):
    @linen.compact
    def __call__(self, x):
        x = linen.Conv(8, (3, 3), param_dtype=F64)(x)
        x = linen.BatchNorm(use_running_average=False, param_dtype=F64)(x)
        x = linen.max_pool(linen.relu(x), (2, 2), strides=(2, 2))
        return linen.Dense(3, param_dtype=F64)(x.reshape((x.shape[0], -1)))


def test_linen_cnn_with_batch_norm_and_max_pooling_equals_jax_under_jit():
    model = CNN()
    x = jax.random.normal(KEYS[2], (4, 12, 12, 3), jnp.float64)
    variables = model.init(KEYS[3], x)

    def loss(params, x):
        out, _ = model.apply(
            {"params": params, "batch_stats": variables["batch_stats"]}, x, mutable=["batch_stats"]
        )
        return jnp.sum(jnp.tanh(out))

    expected = jax.grad(loss)(variables["params"], x)
    assert all(leaf.dtype == F64 for leaf in jax.tree.leaves(expected))
    ours = adlab.grad(loss)(variables["params"], x)
    assert_tree_normwise_close(ours, expected, CNN_NORMWISE)
    ours_jitted = jax.jit(adlab.grad(loss))(variables["params"], x)
    assert_tree_normwise_close(ours_jitted, expected, CNN_NORMWISE)
    assert_tree_normwise_close(
        ours_jitted, jax.jit(jax.grad(loss))(variables["params"], x), CNN_NORMWISE
    )
