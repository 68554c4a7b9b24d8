"""Linear algebra against JAX: solve, det, slogdet, inv, Cholesky-based Gaussian
log-likelihoods, eigh-, svd- and qr-based losses, in float64, at first and second order, in both
modes."""

import jax
import jax.numpy as jnp
import numpy as np
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


def cho_solve_quadratic_reference(cov, x):
    # cho_factor (upper, by default) reads only cov's upper triangle (LAPACK's potrf), so the
    # loss is a function of that triangle alone; the reference says so with JAX operations,
    # which every JAX release differentiates the same way. (JAX 0.10's own Cholesky rule took a
    # tangent of cov as if it were symmetric; its gradient of this loss is off by 2e-2.)
    return cho_solve_quadratic(jnp.triu(cov) + jnp.triu(cov, 1).T, x)


def eigen_loss(a, b):
    # Eigenvalues and eigenvectors (their signs cancel in the squares); distinct eigenvalues.
    w, v = jnp.linalg.eigh(a)
    return jnp.sum(jnp.sin(w) * v[0] ** 2) + jnp.sum(v[:2] ** 2 * jnp.arange(N)) + jnp.sum(b**2)


def singular_loss(a, b):
    # Singular values and vectors of a tall matrix (signs cancel in the squares).
    u, s, vt = jnp.linalg.svd(a @ b, full_matrices=False)
    return jnp.sum(jnp.sin(s)) + jnp.sum(u[0] ** 2 * s) + jnp.sum(vt[:, 0] ** 2 * s)


def least_squares_by_qr(a, b):
    # The least-squares solution of a tall system through its thin QR factors, and a term that
    # reads Q alone (its signs cancel in the square).
    q, r = jnp.linalg.qr(a[:, :4])
    x = jax.scipy.linalg.solve_triangular(r, q.T @ b, lower=False)
    return jnp.sum(jnp.sin(x)) + jnp.sum(q[:, 0] ** 2 * jnp.arange(N))


LOSSES = {
    "solve": (lambda a, b: jnp.sum(jnp.sin(jnp.linalg.solve(a, b))), (A, B)),
    "det": (lambda a, b: jnp.linalg.det(a), (A, B)),
    "det-3x3": (lambda a, b: jnp.linalg.det(a[:3, :3]), (A, B)),
    "slogdet": (lambda a, b: jnp.linalg.slogdet(a)[1], (A, B)),
    "inv": (lambda a, b: jnp.sum(jnp.linalg.inv(a) @ b), (A, B)),
    "gaussian-log-likelihood": (gaussian_log_likelihood, (SPD, B)),
    "cho-solve": (cho_solve_quadratic, (SPD, B)),
    "trace-of-inverse": (lambda a, b: jnp.trace(jnp.linalg.inv(a)), (A, B)),
    "eigh": (eigen_loss, (SPD, B)),
    "eigvalsh": (lambda a, b: jnp.sum(jnp.log(jnp.linalg.eigvalsh(a))), (SPD, B)),
    "svd": (singular_loss, (A, B)),
    "spectral-norm": (lambda a, b: jnp.linalg.norm(a @ b, ord=2), (A, B)),
    "nuclear-norm": (lambda a, b: jnp.linalg.norm(a, ord="nuc"), (A, B)),
    "least-squares-by-qr": (least_squares_by_qr, (A, B)),
}


# Where JAX's own derivative of a loss is not the derivative of what the loss computes, JAX
# differentiates a reference with the same values instead (checked in test_references_agree).
REFERENCES = {"cho-solve": cho_solve_quadratic_reference}


def _reference(name):
    return REFERENCES.get(name, LOSSES[name][0])


def test_references_agree():
    for name, reference in REFERENCES.items():
        fun, args = LOSSES[name]
        np.testing.assert_allclose(reference(*args), fun(*args), rtol=1e-15)


def _directions(args):
    keys = jax.random.split(KEYS[2], len(args))
    return tuple(jax.random.normal(k, x.shape, x.dtype) for k, x in zip(keys, args))


@pytest.mark.parametrize("name", list(LOSSES))
def test_first_order_equals_jax(name):
    fun, args = LOSSES[name]
    argnums = tuple(range(len(args)))
    v = _directions(args)
    reference = _reference(name)
    assert_trees_close(adlab.grad(fun, argnums)(*args), jax.grad(reference, argnums)(*args), MODEL)
    assert_trees_close(adlab.jvp(fun, args, v), jax.jvp(reference, args, v), MODEL)


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
    # Each mode against JAX's same composition.
    fun, args = LOSSES[name]
    v = _directions(args)
    expected = _jax_second_order(_reference(name), args, v, mode)
    # Entries that cancel carry the absolute error of the largest ones: det's Hessian reaches
    # 2.1e3, and an entry of -22.6 differs by 2.9e-13 (1.4e-16 of the largest entry).
    scale = max(float(jnp.max(jnp.abs(e))) for e in expected)
    tol = {
        **MODEL_SECOND_ORDER,
        jnp.dtype("float64"): (1e-14, SCALED_ATOL.get(name, 4e-16) * scale),
    }
    assert_trees_close(adlab.hvp(fun, args, v, mode=mode), expected, tol)


# Absolute tolerances, as a fraction of the largest entry, where 4e-16 is not enough:
# * svd: 1/s and 1/(s_j^2 - s_i^2) amplify round-off. adlab differs from JAX by up to 6.6e-14
#   of the largest entry (5.3e-12 at 80.7), and JAX's own fwd-over-rev and rev-over-rev differ
#   from each other by as much (1.3e-11 at 80.7, 1.6e-13 of it).
# * nuclear-norm: 1.7e-16 absolute on an entry of 3.0e-3 (values up to 0.16), 1.0e-15 of it.
SCALED_ATOL = {"svd": 2e-13, "nuclear-norm": 2e-15}


def test_the_gaussian_log_likelihood_is_the_textbook_one():
    # An independent check of the loss itself: the same value as jax.scipy.stats.
    expected = jnp.sum(jax.scipy.stats.multivariate_normal.logpdf(B.T, jnp.zeros(N), SPD))
    assert jnp.allclose(gaussian_log_likelihood(SPD, B), expected, rtol=1e-13)


def test_repeated_eigenvalues_give_jaxs_non_finite_eigenvector_derivatives():
    # The eigenvectors of a repeated eigenvalue are not unique: JAX's derivative is inf / nan
    # there, and adlab's is the same, entry for entry; the eigenvalues' stays finite.
    a = jnp.diag(jnp.array([1.0, 2.0, 2.0]))
    v = jnp.ones((3, 3))
    vectors = lambda a: jnp.linalg.eigh(a)[1]
    ours, theirs = adlab.jvp(vectors, (a,), (v,))[1], jax.jvp(vectors, (a,), (v,))[1]
    assert not jnp.all(jnp.isfinite(theirs))
    np.testing.assert_array_equal(ours, theirs)
    values = lambda a: jnp.sum(jnp.linalg.eigvalsh(a) ** 2)
    np.testing.assert_array_equal(adlab.grad(values)(a), jax.grad(values)(a))


def test_rank_deficient_qr_blows_up_as_jax_does():
    # The third column is the sum of the first two: R's last diagonal entry is round-off
    # (9e-16), and the derivative through R^-1 reaches 1e15, as JAX's does.
    a = jnp.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])

    def loss(a):
        q, r = jnp.linalg.qr(a)
        return jnp.sum(jnp.sin(q)) + jnp.sum(r)

    expected = jax.grad(loss)(a)
    assert float(jnp.max(jnp.abs(expected))) > 1e14
    # Measured: equal bit for bit; the suite's float64 first-order tolerance.
    np.testing.assert_allclose(adlab.grad(loss)(a), expected, rtol=2e-15)


def test_cholesky_of_one_triangle_matches_finite_differences():
    # lax.linalg.cholesky without symmetrize_input reads only the lower triangle, so a tangent
    # that is not symmetric moves it as its lower triangle says. Central differences (step 1e-6)
    # agree with adlab's JVP to 1.8e-10, and the VJP is its exact transpose.
    keys = jax.random.split(KEYS[3], 2)
    d = jax.random.normal(keys[0], (N, N), jnp.float64)
    ct = jax.random.normal(keys[1], (N, N), jnp.float64)
    f = lambda a: jax.lax.linalg.cholesky(a, symmetrize_input=False)
    eps = 1e-6
    differences = (f(SPD + eps * d) - f(SPD - eps * d)) / (2 * eps)
    tangent = adlab.jvp(f, (SPD,), (d,))[1]
    np.testing.assert_allclose(tangent, differences, rtol=0, atol=1e-9)
    # the entries above the diagonal do not count (central differences say the same: exactly 0)
    np.testing.assert_array_equal(adlab.jvp(f, (SPD,), (jnp.triu(d, 1),))[1], 0.0)
    np.testing.assert_array_equal(f(SPD + eps * jnp.triu(d, 1)), f(SPD))
    (pulled,) = adlab.vjp(f, SPD)[1](ct)
    np.testing.assert_allclose(jnp.vdot(pulled, d), jnp.vdot(ct, tangent), rtol=1e-13)


@pytest.mark.parametrize("shape", [(3, 5), (5, 3)], ids=["wide", "tall"])
def test_pivoted_qr_matches_finite_differences(shape):
    # A P = Q R. For a wide A, R's trailing block is Q^T (A P)[:, m:]; JAX before 0.12.1 read
    # it from A's unpermuted columns. Central differences (step 1e-6) agree with adlab's JVP to
    # 2e-10 here (the pivots do not change within the step), and the VJP is its transpose.
    keys = jax.random.split(jax.random.key(5), 3)
    a, d = (jax.random.normal(k, shape, jnp.float64) for k in keys[:2])
    f = lambda a: jax.scipy.linalg.qr(a, pivoting=True, mode="economic")[:2]
    eps = 1e-6
    assert np.array_equal(jax.scipy.linalg.qr(a + eps * d, pivoting=True)[2],
                          jax.scipy.linalg.qr(a - eps * d, pivoting=True)[2])  # fmt: skip
    plus, minus = f(a + eps * d), f(a - eps * d)
    tangent = adlab.jvp(f, (a,), (d,))[1]
    for t, hi, lo in zip(tangent, plus, minus, strict=True):
        np.testing.assert_allclose(t, (hi - lo) / (2 * eps), rtol=0, atol=1e-9)
    cts = tuple(jax.random.normal(keys[2], t.shape, jnp.float64) for t in tangent)
    (pulled,) = adlab.vjp(f, a)[1](cts)
    lhs = sum(jnp.vdot(c, t) for c, t in zip(cts, tangent))
    np.testing.assert_allclose(jnp.vdot(pulled, d), lhs, rtol=1e-13)
