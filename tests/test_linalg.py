"""Linear algebra against JAX: solve, det, slogdet, inv, and Cholesky-based Gaussian
log-likelihoods, in float64, at first and second order, in both modes."""

import jax
import jax.numpy as jnp
import pytest
from helpers import MODEL, MODEL_SECOND_ORDER, assert_trees_close

import adlab

KEYS = jax.random.split(jax.random.key(0), 4)
N = 6
A = jax.random.normal(KEYS[0], (N, N), jnp.float64) + N * jnp.eye(N)  # well conditioned
SPD = A @ A.T
B = jax.random.normal(KEYS[1], (N, 3), jnp.float64)


def gaussian_log_likelihood(cov, x):
    """log N(x; 0, cov) of each column of x, through the Cholesky factor."""
    chol = jnp.linalg.cholesky(cov)
    z = jax.scipy.linalg.solve_triangular(chol, x, lower=True)
    log_det = 2 * jnp.sum(jnp.log(jnp.diag(chol)))
    return jnp.sum(-0.5 * jnp.sum(z**2, axis=0) - 0.5 * log_det - 0.5 * N * jnp.log(2 * jnp.pi))


def cho_solve_quadratic(cov, x):
    factor = jax.scipy.linalg.cho_factor(cov)
    return jnp.sum(x * jax.scipy.linalg.cho_solve(factor, x))


LOSSES = {
    "solve": (lambda a, b: jnp.sum(jnp.sin(jnp.linalg.solve(a, b))), (A, B)),
    "det": (lambda a, b: jnp.linalg.det(a), (A, B)),
    "det-3x3": (lambda a, b: jnp.linalg.det(a[:3, :3]), (A, B)),
    "slogdet": (lambda a, b: jnp.linalg.slogdet(a)[1], (A, B)),
    "inv": (lambda a, b: jnp.sum(jnp.linalg.inv(a) @ b), (A, B)),
    "gaussian-log-likelihood": (gaussian_log_likelihood, (SPD, B)),
    "cho-solve": (cho_solve_quadratic, (SPD, B)),
    "trace-of-inverse": (lambda a, b: jnp.trace(jnp.linalg.inv(a)), (A, B)),
}


def _directions(args):
    keys = jax.random.split(KEYS[2], len(args))
    return tuple(jax.random.normal(k, x.shape, x.dtype) for k, x in zip(keys, args))


@pytest.mark.parametrize("name", list(LOSSES))
def test_first_order_equals_jax(name):
    fun, args = LOSSES[name]
    argnums = tuple(range(len(args)))
    v = _directions(args)
    assert_trees_close(adlab.grad(fun, argnums)(*args), jax.grad(fun, argnums)(*args), MODEL)
    assert_trees_close(adlab.jvp(fun, args, v), jax.jvp(fun, args, v), MODEL)


def _jax_second_order(fun, args, v, mode):
    """JAX's composition that each adlab.hvp mode computes."""
    argnums = tuple(range(len(args)))
    if mode == "fwd-over-rev":
        return jax.jvp(jax.grad(fun, argnums), args, v)[1]
    if mode == "rev-over-rev":
        return jax.vjp(jax.grad(fun, argnums), *args)[1](v)
    return jax.grad(lambda *x: jax.jvp(fun, x, v)[1], argnums)(*args)


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("mode", ["fwd-over-rev", "rev-over-rev", "rev-over-fwd"])
def test_second_order_equals_jax(name, mode):
    # Each mode against JAX's same composition: the modes differ where a Cholesky factor
    # reads one triangle of its input (cho_factor), as in JAX, whose rules differentiate
    # symmetric perturbations only, so that "Hessian" is not symmetric.
    fun, args = LOSSES[name]
    v = _directions(args)
    expected = _jax_second_order(fun, args, v, mode)
    # Entries that cancel carry the absolute error of the largest ones: det's Hessian reaches
    # 2.1e3, and an entry of -22.6 differs by 2.9e-13 (1.4e-16 of the largest entry).
    scale = max(float(jnp.max(jnp.abs(e))) for e in expected)
    tol = {**MODEL_SECOND_ORDER, jnp.dtype("float64"): (1e-14, 4e-16 * scale)}
    assert_trees_close(adlab.hvp(fun, args, v, mode=mode), expected, tol)


def test_the_gaussian_log_likelihood_is_the_textbook_one():
    # An independent check of the loss itself: the same value as jax.scipy.stats.
    expected = jnp.sum(jax.scipy.stats.multivariate_normal.logpdf(B.T, jnp.zeros(N), SPD))
    assert jnp.allclose(gaussian_log_likelihood(SPD, B), expected, rtol=1e-13)
