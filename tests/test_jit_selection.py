"""Selections under jax.jit: no derivative is lost where XLA computes a value twice.

The derivative of a max (a pooling window, a reduction, an elementwise max, a clamp, a
cumulative max, a sort) goes to the element that attains it. Under jit, XLA may compute the
chooser's operand in two fusions that round differently, for example a mean-centred input
``x - mean(x)``, whose subtraction is contracted into a fused multiply-add in one fusion and
not in the other. A rule that compared two such copies would find no maximum in some windows
and drop their cotangents without a word. These tests build exactly those programs (sizes
that are not powers of two, means, BatchNorm, LayerNorm and softmax feeding the choosers),
compile them, and compare adlab with JAX, both jitted, and with JAX eager.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import CNN_NORMWISE, FIRST_ORDER, assert_tree_normwise_close, assert_trees_close
from jax import lax
from programs import wide

import adlab

F32, F64 = jnp.dtype("float32"), jnp.dtype("float64")


def centred_pool_loss(x):
    """The reduction of a Flax CNN's gradient bug: BatchNorm's centring, then max pooling."""
    h = x - lax.stop_gradient(jnp.mean(x))
    return jnp.sum(lax.reduce_window(h, -jnp.inf, lax.max, (2,), (2,), "VALID"))


@pytest.mark.parametrize("dtype", [F32, F64])
def test_centred_max_pool_keeps_every_window(dtype):
    x = jax.random.normal(jax.random.key(0), (768,), dtype)
    for grad in (adlab.grad(centred_pool_loss), jax.jit(adlab.grad(centred_pool_loss))):
        g = grad(x)
        # Each of the 384 windows passes its cotangent, 1, to exactly one element.
        assert g.dtype == dtype
        assert float(jnp.sum(g)) == 384.0
        assert set(np.unique(np.asarray(g))) == {0.0, 1.0}
        np.testing.assert_array_equal(g, jax.grad(centred_pool_loss)(x))


def conv_bn_pool(params, images):
    """Conv -> BatchNorm (training mode: batch statistics) -> ReLU -> max_pool -> Dense."""
    h = lax.conv_general_dilated(
        images, params["kernel"], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    mean = jnp.mean(h, axis=(0, 1, 2))
    var = jnp.mean(jnp.square(h - mean), axis=(0, 1, 2))
    h = (h - mean) * lax.rsqrt(var + 1e-5) * params["scale"] + params["bias"]
    h = jax.nn.relu(h)
    h = lax.reduce_window(h, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
    return jnp.mean(jnp.tanh(h.reshape(h.shape[0], -1) @ params["dense"]))


def _cnn(batch, dtype):
    k = jax.random.split(jax.random.key(batch), 5)
    params = {
        "kernel": jax.random.normal(k[0], (3, 3, 3, 6), dtype) / 3,
        "scale": 1 + 0.1 * jax.random.normal(k[1], (6,), dtype),
        "bias": 0.1 * jax.random.normal(k[2], (6,), dtype),
        "dense": jax.random.normal(k[3], (5 * 5 * 6, 7), dtype) / 8,
    }
    return params, jax.random.normal(k[4], (batch, 10, 10, 3), dtype)


# float64: normwise over the gradient (helpers.CNN_NORMWISE: sums of a few hundred products, and
# a bias gradient that is round-off); float32: FIRST_ORDER's (max 1.4e-6).
@pytest.mark.parametrize("batch", range(1, 9))
@pytest.mark.parametrize("dtype", [F64, F32])
def test_jitted_conv_batchnorm_pool_gradient_equals_jax(batch, dtype):
    params, images = _cnn(batch, dtype)
    ours = jax.jit(adlab.grad(conv_bn_pool))(params, images)
    theirs = jax.jit(jax.grad(conv_bn_pool))(params, images)
    if dtype == F64:
        assert_tree_normwise_close(ours, theirs, CNN_NORMWISE)
    else:
        assert_trees_close(ours, theirs, FIRST_ORDER)
    # Every pooling window took one cotangent: the pooled map's gradient, summed, is the
    # cotangent's sum. (Checked in float64, where the sums are exact enough to compare.)
    if dtype == F64:
        eager = jax.grad(conv_bn_pool)(params, images)
        assert_tree_normwise_close(ours, eager, CNN_NORMWISE)


# --- Every chooser, fed by a normalisation, at sizes that are not powers of two ------------


def _layernorm(h):
    mean = jnp.mean(h, axis=-1, keepdims=True)
    return (h - mean) * lax.rsqrt(jnp.var(h, axis=-1, keepdims=True) + 1e-5)


def _batchnorm(h):
    return (h - jnp.mean(h, axis=0)) * lax.rsqrt(jnp.var(h, axis=0) + 1e-5)


NORMS = {
    "centre": lambda h: h - lax.stop_gradient(jnp.mean(h, axis=-1, keepdims=True)),
    "layernorm": _layernorm,
    "batchnorm": _batchnorm,
    "softmax": lambda h: jax.nn.softmax(h, axis=-1),
}

CHOOSERS = {
    "reduce_window_max": lambda h: lax.reduce_window(
        h, -jnp.inf, lax.max, (1, 6), (1, 6), ((0, 0), (1, 1))
    ),
    "reduce_window_min": lambda h: lax.reduce_window(h, jnp.inf, lax.min, (2, 3), (1, 3), "SAME"),
    "reduce_max": lambda h: jnp.max(h.reshape(h.shape[0], -1, 6), axis=-1),
    "reduce_min": lambda h: jnp.min(h, axis=0),
    "max": lambda h: jnp.maximum(h, h[:, ::-1]),
    "min": lambda h: jnp.minimum(h, jnp.roll(h, 1, axis=1)),
    "clamp": lambda h: lax.clamp(
        jnp.broadcast_to(-0.5 * jnp.abs(h[:1]), h.shape), h, jnp.broadcast_to(h[1:2], h.shape)
    ),
    "cummax": lambda h: lax.cummax(h, axis=1),
    "cummin": lambda h: lax.cummin(h, axis=0),
    "sort": lambda h: jnp.sort(h, axis=1) * jnp.linspace(-1, 1, h.shape[1], dtype=h.dtype),
    "scatter-max": lambda h: h[0].at[jnp.arange(h.shape[1]) % 7].max(h[1]),
    "top_k": lambda h: lax.top_k(h, 5)[0],
}


def assert_normwise_close(actual, expected, rtol):
    """|actual - expected| <= rtol * max|expected|, leaf by leaf.

    Normwise, because the normalisations' derivatives are sums whose entries cancel: the
    error of an entry is that of the largest terms, not a fraction of its own size.
    """
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True):
        a, e = np.asarray(a), np.asarray(e)
        assert a.shape == e.shape and a.dtype == e.dtype
        np.testing.assert_allclose(a, e, rtol=0, atol=rtol * np.max(np.abs(e)))


# Normwise errors against JAX eager, measured (float64): at most 2.1e-15 (reduce_min after
# BatchNorm), except top_k after BatchNorm at 384 columns, 1.9e-13, where JAX's own jitted
# result differs from its eager one by the same 1.9e-13 (and adlab eager by 3.1e-14).
NORMWISE = 5e-15
NORMWISE_TOP_K_BATCHNORM = 5e-13


@pytest.mark.parametrize("width", [6, 384])
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("chooser", CHOOSERS)
def test_jitted_chooser_after_normalisation_equals_jax(chooser, norm, width):
    """jvp and vjp of norm -> chooser, jitted, against JAX eager, in float64.

    The reference is JAX run eagerly, where every value is one buffer. JAX's own jitted
    derivatives are not a reference here: its rules for reduce_max, reduce_min and max
    compare the operand with the output, and after BatchNorm they lose the derivative of
    141 (reduce_max), 72 (reduce_min) and 4 (max) entries of these programs.
    """
    k = jax.random.split(jax.random.key(width), 3)
    x = jax.random.normal(k[0], (3, width), F64) * jnp.linspace(0.5, 2, width, dtype=F64)
    t = jax.random.normal(k[1], x.shape, F64)
    f = lambda x: CHOOSERS[chooser](NORMS[norm](x))
    ct = jax.random.normal(k[2], jax.eval_shape(f, x).shape, F64)

    ours = jax.jit(lambda x, t, ct: (adlab.jvp(f, (x,), (t,)), adlab.vjp(f, x)[1](ct)))(x, t, ct)
    eager = (jax.jvp(f, (x,), (t,)), jax.vjp(f, x)[1](ct))
    rtol = NORMWISE_TOP_K_BATCHNORM if (chooser, norm) == ("top_k", "batchnorm") else NORMWISE
    assert_normwise_close(ours, eager, rtol)


# --- Second order, jitted: adlab differentiating its own selection rules --------------------


@pytest.mark.parametrize("chooser", ["max", "min"])
@pytest.mark.parametrize("norm", ["layernorm", "batchnorm", "softmax"])
def test_jitted_second_order_through_a_chooser_equals_jax(norm, chooser):
    """fwd-over-rev and rev-over-fwd of a normalisation over 384 columns, then max or min.

    The second order walks through the variadic reduction that reduce_max's own rule emits.
    Its winner and tie count must come from that one reduction: read from an expansion of it
    into comparisons that XLA may compute twice, they once gave a tie count of 0 and NaN
    (JAX 0.12.1, fuzz seed 725).
    """
    rng = np.random.default_rng(0)
    y, t, ct = (jnp.asarray(rng.normal(size=s)) for s in ((3, 4), (3, 4), (1, 4)))
    f = lambda y: wide(y[2:3], norm, chooser)

    def second(ad, y, t, ct):
        fwd_over_rev = ad.jvp(lambda y: ad.vjp(f, y)[1](ct)[0], (y,), (t,))
        rev_over_fwd = ad.vjp(lambda y: ad.jvp(f, (y,), (t,))[1], y)[1](ct)
        return fwd_over_rev, rev_over_fwd

    ours = jax.jit(lambda *a: second(adlab, *a))(y, t, ct)
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(ours))
    assert_normwise_close(ours, second(jax, y, t, ct), NORMWISE)
