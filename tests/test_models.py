"""Whole models: grad, jacfwd, jacrev, hessian and every HVP mode, adlab against JAX.

Each model takes pytree parameters (dicts and lists), and each check runs both eagerly and
under jax.jit.
"""

import jax
import jax.numpy as jnp
import pytest
from helpers import assert_trees_close

import adlab


def _normal(key, shape):
    return jax.random.normal(key, shape, jnp.float64)


def mlp_model(key):
    """A 2-layer tanh MLP with list-of-dict params and a softmax cross-entropy loss."""
    ks = jax.random.split(key, 6)
    params = [
        {"w": _normal(ks[0], (3, 4)), "b": _normal(ks[1], (4,))},
        {"w": _normal(ks[2], (4, 2)), "b": _normal(ks[3], (2,))},
    ]
    x, labels = _normal(ks[4], (5, 3)), jax.nn.one_hot(jnp.array([0, 1, 1, 0, 1]), 2)

    def loss(params):
        h = x
        for layer in params[:-1]:
            h = jnp.tanh(h @ layer["w"] + layer["b"])
        logits = h @ params[-1]["w"] + params[-1]["b"]
        return -jnp.mean(jnp.sum(labels * jax.nn.log_softmax(logits), axis=-1))

    return loss, params


def attention_model(key):
    """Single-head self-attention with layer norm, GELU and a residual connection."""
    ks = jax.random.split(key, 5)
    d = 4
    params = {name: _normal(k, (d, d)) * 0.5 for name, k in zip(("q", "k", "v", "o"), ks)}
    x = _normal(ks[4], (3, d))

    def layer_norm(h):
        mu = jnp.mean(h, -1, keepdims=True)
        return (h - mu) / jnp.sqrt(jnp.var(h, -1, keepdims=True) + 1e-5)

    def loss(params):
        h = layer_norm(x)
        q, k, v = h @ params["q"], h @ params["k"], h @ params["v"]
        att = jax.nn.softmax(q @ k.T / jnp.sqrt(d), axis=-1)
        y = x + jax.nn.gelu(att @ v @ params["o"])
        return jnp.sum(y**2) / y.size

    return loss, params


def residual_model(key):
    """A residual stack h <- h + relu(h W_i) with a logsumexp head."""
    ks = jax.random.split(key, 4)
    params = [_normal(k, (3, 3)) * 0.7 for k in ks[:3]]
    x = _normal(ks[3], (2, 3))

    def loss(params):
        h = x
        for w in params:
            h = h + jax.nn.relu(h @ w)
        return jnp.mean(jax.nn.logsumexp(h, axis=-1)) + 0.1 * jnp.max(jnp.abs(h))

    return loss, params


def classic_functions_model(key):
    """Classic optimisation test functions on a vector: Rosenbrock plus Rastrigin."""
    x = jax.random.uniform(key, (4,), jnp.float64, -1.5, 1.5)

    def loss(x):
        rosen = jnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
        rastrigin = 10 * x.size + jnp.sum(x**2 - 10 * jnp.cos(2 * jnp.pi * x))
        return rosen + rastrigin

    return loss, x


MODELS = {
    "mlp": mlp_model,
    "attention": attention_model,
    "residual": residual_model,
    "test-functions": classic_functions_model,
}
# Every model runs under jax.jit; the small one also runs eagerly, so each API is checked
# both ways (eager dispatch compiles every op per shape, which makes it the slow path).
VARIANTS = [
    pytest.param(name, jit, id=f"{name}-{'jit' if jit else 'eager'}")
    for name in MODELS
    for jit in ((False, True) if name == "test-functions" else (True,))
]


def _model(name):
    return MODELS[name](jax.random.key(len(name)))


def _maybe_jit(fn, jit):
    return jax.jit(fn) if jit else fn


@pytest.mark.parametrize("transform", ["grad", "jacfwd", "jacrev", "hessian"])
@pytest.mark.parametrize("name, jit", VARIANTS)
def test_transform(name, jit, transform):
    loss, params = _model(name)
    ours = _maybe_jit(getattr(adlab, transform)(loss), jit)(params)
    theirs = jax.jit(getattr(jax, transform)(loss))(params)
    assert_trees_close(ours, theirs, scale=100)


@pytest.mark.parametrize("mode", adlab.HVP_MODES)
@pytest.mark.parametrize("name, jit", VARIANTS)
def test_hvp(name, jit, mode):
    loss, params = _model(name)
    v = jax.tree.map(lambda p: jnp.cos(jnp.arange(p.size, dtype=p.dtype)).reshape(p.shape), params)
    ours = _maybe_jit(lambda p, v: adlab.hvp(loss, (p,), (v,), mode=mode), jit)(params, v)
    reference = jax.jit(adlab.reference.hvp, static_argnums=0, static_argnames="mode")
    theirs = reference(loss, (params,), (v,), mode="fwd-over-rev")
    assert_trees_close(ours, theirs, scale=100)
    # the reference's own modes agree with each other too
    assert_trees_close(reference(loss, (params,), (v,), mode=mode), theirs, scale=100)


@pytest.mark.parametrize("name", list(MODELS))
def test_value_and_grad_with_aux(name):
    loss, params = _model(name)
    with_aux = lambda p: (loss(p), {"loss_twice": 2 * loss(p)})
    ours = adlab.value_and_grad(with_aux, has_aux=True)(params)
    assert_trees_close(ours, jax.value_and_grad(with_aux, has_aux=True)(params))


@pytest.mark.parametrize("name", list(MODELS))
def test_compiled_cost_matches_jax(name):
    # Under jit, adlab's program should cost what JAX's costs: compare the FLOPs XLA reports
    # for the two compiled programs (a count, not a timing). The rules follow JAX's own, so
    # only small differences in how XLA simplifies them are allowed.
    loss, params = _model(name)

    def flops(fn, *args):
        return jax.jit(fn).lower(*args).compile().cost_analysis()["flops"]

    assert flops(adlab.grad(loss), params) <= 1.2 * flops(jax.grad(loss), params)
    v = params
    ours = flops(lambda p: adlab.hvp(loss, (p,), (v,)), params)
    assert ours <= 1.2 * flops(lambda p: adlab.reference.hvp(loss, (p,), (v,)), params)
