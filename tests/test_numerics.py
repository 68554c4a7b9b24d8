"""Finite differences and the adjoint identity: checks that do not rely on JAX's AD."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import adlab


def f(x, w):
    h = jnp.tanh(w @ x)
    return jnp.concatenate([jnp.exp(-h) * jnp.sin(x[:2]).sum(), jnp.log1p(h**2), h[::2] / 3.0])


KEY = jax.random.key(7)
k1, k2, k3, k4, k5, k6 = jax.random.split(KEY, 6)
X = jax.random.normal(k1, (4,), jnp.float64)
W = jax.random.normal(k2, (3, 4), jnp.float64)


def test_jvp_matches_central_differences():
    u = (jax.random.normal(k3, (4,), jnp.float64), jax.random.normal(k4, (3, 4), jnp.float64))
    eps = 1e-6
    plus = f(X + eps * u[0], W + eps * u[1])
    minus = f(X - eps * u[0], W - eps * u[1])
    fd = (plus - minus) / (2 * eps)
    _, ours = adlab.jvp(f, (X, W), u)
    # Central differences are accurate to O(eps^2) plus rounding O(1e-16 / eps) = O(1e-10):
    # measured max relative difference 2.9e-10, absolute 1.5e-10 on values up to 2.4.
    np.testing.assert_allclose(ours, fd, rtol=1e-9, atol=0)


def test_grad_matches_central_differences_per_coordinate():
    loss = lambda x: jnp.sum(f(x, W) ** 2)
    g = adlab.grad(loss)(X)
    eps = 1e-6
    eye = np.eye(X.size)
    fd = [(loss(X + eps * e) - loss(X - eps * e)) / (2 * eps) for e in eye]
    # measured: max relative difference 1.2e-9 (rounding in a loss of about 10, over 2 eps)
    np.testing.assert_allclose(g, np.array(fd), rtol=5e-9, atol=0)


@pytest.mark.parametrize("seed", range(3))
def test_adjoint_identity(seed):
    # <v, J u> == <J^T v, u> between adlab's own forward and reverse modes.
    ka, kb, kc = jax.random.split(jax.random.key(seed), 3)
    u = (jax.random.normal(ka, (4,), jnp.float64), jax.random.normal(kb, (3, 4), jnp.float64))
    out, pullback = adlab.vjp(f, X, W)
    v = jax.random.normal(kc, out.shape, jnp.float64)
    _, ju = adlab.jvp(f, (X, W), u)
    jtv = pullback(v)
    lhs = jnp.vdot(v, ju)
    rhs = sum(jnp.vdot(a, b) for a, b in zip(jtv, u))
    # measured: relative difference at most 1.1e-15 over the three seeds
    np.testing.assert_allclose(lhs, rhs, rtol=5e-15)


def test_hessian_is_symmetric_and_matches_fd_of_grad():
    loss = lambda x: jnp.sum(f(x, W) ** 2)
    h = adlab.hessian(loss)(X)
    # jacfwd(jacrev) computes h[i, j] and h[j, i] by different products: measured max
    # asymmetry 6.2e-15 on entries up to 10.
    np.testing.assert_allclose(h, h.T, rtol=0, atol=2e-14)
    eps = 1e-5
    g = jax.jit(adlab.grad(loss))  # one trace for the eight evaluations
    fd = np.stack([(g(X + eps * e) - g(X - eps * e)) / (2 * eps) for e in np.eye(X.size)])
    # measured: max relative difference 7.4e-10 (entries from 0.048 to 10)
    np.testing.assert_allclose(h, fd, rtol=3e-9, atol=0)


@pytest.mark.parametrize("scale", [1e20, 1e-20], ids=["large", "small"])
def test_quotient_derivative_where_y_squared_leaves_float32(scale):
    # d(x / y)/dy = -x / y^2 = -(x / y) / y. At |y| = 1e20 (1e-20), y^2 underflows to 0
    # (overflows to inf) in float32, though -x / y^2 is an ordinary float32 number: the formula
    # with y^2 would give a zero (infinite) derivative. The exact value, in float64:
    x, y = np.float32(2.0 * scale), np.float32(scale)
    exact = -np.float64(x) / np.float64(y) ** 2
    loss = lambda x, y: x / y
    for got in (
        adlab.grad(loss, argnums=1)(x, y),
        adlab.jvp(loss, (x, y), (np.float32(0.0), np.float32(1.0)))[1],
        adlab.vjp(loss, x, y)[1](np.float32(1.0))[1],
    ):
        assert got.dtype == jnp.float32
        np.testing.assert_allclose(np.float64(got), exact, rtol=2e-7)  # measured: 1 rounding
