"""Whole models: grad, jacfwd, jacrev, hessian and every HVP mode, adlab against JAX.

Each model takes pytree parameters (dicts and lists), and each check runs both eagerly and
under jax.jit. Every HVP mode of both engines is also checked against H v from the dense
Hessian of the raveled loss, which shares no code with the HVP compositions.
"""

import functools

import jax
import jax.numpy as jnp
import pytest
from helpers import MODEL, MODEL_SECOND_ORDER, assert_trees_close
from jax.flatten_util import ravel_pytree

import adlab

# Models are built in float64 here; test_float32.py builds the same ones in float32.
F64 = jnp.float64


def _normal(key, shape, dtype):
    return jax.random.normal(key, shape, dtype)


def mlp_model(key, dtype=F64):
    """A 2-layer tanh MLP with list-of-dict params and a softmax cross-entropy loss."""
    ks = jax.random.split(key, 6)
    params = [
        {"w": _normal(ks[0], (3, 4), dtype), "b": _normal(ks[1], (4,), dtype)},
        {"w": _normal(ks[2], (4, 2), dtype), "b": _normal(ks[3], (2,), dtype)},
    ]
    x = _normal(ks[4], (5, 3), dtype)
    labels = jax.nn.one_hot(jnp.array([0, 1, 1, 0, 1]), 2, dtype=dtype)

    def loss(params):
        h = x
        for layer in params[:-1]:
            h = jnp.tanh(h @ layer["w"] + layer["b"])
        logits = h @ params[-1]["w"] + params[-1]["b"]
        return -jnp.mean(jnp.sum(labels * jax.nn.log_softmax(logits), axis=-1))

    return loss, params


def attention_model(key, dtype=F64):
    """Single-head self-attention with layer norm, GELU and a residual connection."""
    ks = jax.random.split(key, 5)
    d = 4
    params = {name: _normal(k, (d, d), dtype) * 0.5 for name, k in zip(("q", "k", "v", "o"), ks)}
    x = _normal(ks[4], (3, d), dtype)

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


def residual_model(key, dtype=F64):
    """A residual stack h <- h + relu(h W_i) with a logsumexp head."""
    ks = jax.random.split(key, 4)
    params = [_normal(k, (3, 3), dtype) * 0.7 for k in ks[:3]]
    x = _normal(ks[3], (2, 3), dtype)

    def loss(params):
        h = x
        for w in params:
            h = h + jax.nn.relu(h @ w)
        return jnp.mean(jax.nn.logsumexp(h, axis=-1)) + 0.1 * jnp.max(jnp.abs(h))

    return loss, params


def classic_functions_model(key, dtype=F64):
    """Classic optimisation test functions on a vector: Rosenbrock plus Rastrigin."""
    x = jax.random.uniform(key, (4,), dtype, -1.5, 1.5)

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


def _model(name, dtype=F64):
    return MODELS[name](jax.random.key(len(name)), dtype)


def direction(params):
    """The HVP direction: cos(0), cos(1), ... laid over the parameters."""
    return jax.tree.map(
        lambda p: jnp.cos(jnp.arange(p.size, dtype=p.dtype)).reshape(p.shape), params
    )


def dense_hvp(loss, params, v):
    """H v by the dense Hessian of the raveled loss, jax.hessian(f)(x) @ v: no HVP composition.

    Returned as a 1-tuple, the shape of ``hvp(loss, (params,), (v,))``.
    """
    flat, unravel = ravel_pytree(params)
    hessian = jax.jit(jax.hessian(lambda flat: loss(unravel(flat))))(flat)
    return (unravel(hessian @ ravel_pytree(v)[0]),)


@functools.cache
def _dense_hvp(name):
    loss, params = _model(name)
    return dense_hvp(loss, params, direction(params))


def _maybe_jit(fn, jit):
    return jax.jit(fn) if jit else fn


# The residual model's Hessian goes through the division in logsumexp's derivative (its
# softmax), and JAX before 0.12.1 differentiates x / y through y^2 where adlab (and JAX since)
# uses q / y with q = x / y: on JAX 0.10.2 the two differ by up to 8.9e-15 absolute on values up
# to 5.6 (1.6e-15 of the largest entry); on JAX 0.12.1 MODEL_SECOND_ORDER holds.
HESSIAN = {"residual": {**MODEL_SECOND_ORDER, jnp.dtype(F64): (1e-14, 2e-14)}}


@pytest.mark.parametrize("transform", ["grad", "jacfwd", "jacrev", "hessian"])
@pytest.mark.parametrize("name, jit", VARIANTS)
def test_transform(name, jit, transform):
    loss, params = _model(name)
    ours = _maybe_jit(getattr(adlab, transform)(loss), jit)(params)
    theirs = jax.jit(getattr(jax, transform)(loss))(params)
    hessian_tol = HESSIAN.get(name, MODEL_SECOND_ORDER)
    assert_trees_close(ours, theirs, hessian_tol if transform == "hessian" else MODEL)


@pytest.mark.parametrize("mode", adlab.HVP_MODES)
@pytest.mark.parametrize("name, jit", VARIANTS)
def test_hvp(name, jit, mode):
    loss, params = _model(name)
    v = direction(params)
    ours = _maybe_jit(lambda p, v: adlab.hvp(loss, (p,), (v,), mode=mode), jit)(params, v)
    reference = jax.jit(adlab.reference.hvp, static_argnums=0, static_argnames="mode")
    theirs = reference(loss, (params,), (v,), mode=mode)
    # Both engines against the dense H v, then against each other on the same composition.
    assert_trees_close(ours, _dense_hvp(name), MODEL_SECOND_ORDER)
    assert_trees_close(theirs, _dense_hvp(name), MODEL_SECOND_ORDER)
    assert_trees_close(ours, theirs, MODEL_SECOND_ORDER)


@pytest.mark.parametrize("name, jit", VARIANTS)
def test_value_and_grad_with_aux(name, jit):
    loss, params = _model(name)
    with_aux = lambda p: (loss(p), {"loss_twice": 2 * loss(p)})
    ours = _maybe_jit(adlab.value_and_grad(with_aux, has_aux=True), jit)(params)
    theirs = jax.jit(jax.value_and_grad(with_aux, has_aux=True))(params)
    assert_trees_close(ours, theirs, MODEL)


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
