"""dot_general: contractions with any dimension_numbers, batch dimensions included.

dot_general is bilinear, so d(x . y) = dx . y + x . dy, each term the same dot_general.
The adjoint of x -> x . y is ct -> ct . y with the axes put back in x's order (for the
plain matmul X @ W: ct -> ct @ W.T). The transposes below follow JAX's own
``_dot_general_transpose_lhs/rhs`` so that the emitted programs cost what JAX's cost.
"""

import numpy as np
from jax import lax

from .._errors import UnsupportedParamError
from . import ANY, UNSET, defmulti, defrule, defwhole


def _dot_jvp_lhs(x_dot, out, x, y, **params):
    return lax.dot_general_p.bind(x_dot, y, **params)


def _dot_jvp_rhs(y_dot, out, x, y, **params):
    return lax.dot_general_p.bind(x, y_dot, **params)


def _ranges_like(*xs):
    start = 0
    for x in xs:
        yield list(range(start, start + len(x)))
        start += len(x)


def _remaining(original, *removed):
    removed = set().union(*map(set, removed))
    return [i for i in original if i not in removed]


def _transpose_lhs(ct, x, y, dimension_numbers, precision, preferred_element_type, swap=False):
    (x_contract, y_contract), (x_batch, y_batch) = dimension_numbers
    x_kept = _remaining(range(x.ndim), x_contract, x_batch)
    y_kept = _remaining(range(y.ndim), y_contract, y_batch)
    if swap:
        ans_batch, ans_y, _ = _ranges_like(x_batch, y_kept, x_kept)
    else:
        ans_batch, _, ans_y = _ranges_like(x_batch, x_kept, y_kept)
    # Contract the cotangent with y over y's kept axes; batch axes stay batch axes.
    dims = ((ans_y, y_kept), (ans_batch, list(y_batch)))
    x_contract_sorted_by_y = list(np.take(x_contract, np.argsort(y_contract)))
    unsorted_axes = list(x_batch) + x_kept + x_contract_sorted_by_y
    x_bar = lax.dot_general(
        ct, y, dims, precision=precision, preferred_element_type=preferred_element_type
    )
    perm = tuple(int(a) for a in np.argsort(unsorted_axes))
    if perm != tuple(range(len(perm))):
        x_bar = lax.transpose(x_bar, perm)
    if x_bar.dtype != x.dtype:
        x_bar = lax.convert_element_type(x_bar, x.dtype)
    return x_bar


def _dot_vjp_lhs(ct, out, x, y, *, dimension_numbers, precision, preferred_element_type, **_):
    return _transpose_lhs(ct, x, y, dimension_numbers, precision, preferred_element_type)


def _dot_vjp_rhs(ct, out, x, y, *, dimension_numbers, precision, preferred_element_type, **_):
    (x_contract, y_contract), (x_batch, y_batch) = dimension_numbers
    swapped = ((y_contract, x_contract), (y_batch, x_batch))
    return _transpose_lhs(ct, y, x, swapped, precision, preferred_element_type, swap=True)


defrule(
    "dot_general",
    (_dot_jvp_lhs, _dot_jvp_rhs),
    (_dot_vjp_lhs, _dot_vjp_rhs),
    params={
        "dimension_numbers": ANY,
        "precision": ANY,
        "preferred_element_type": ANY,
        "out_sharding": UNSET,
    },
)


# --- Matrices: the last two axes; any leading axes are a batch --------------------------------
# The derivatives below are from M. B. Giles, "An extended collection of matrix derivative
# results for forward and reverse mode automatic differentiation" (2008), and for Cholesky
# from I. Murray, "Differentiation of the Cholesky decomposition" (2016), as JAX uses them.


def _mT(x):
    """x with its last two axes swapped."""
    perm = (*range(x.ndim - 2), x.ndim - 1, x.ndim - 2)
    return lax.transpose(x, perm)


def _matmul(x, y):
    """Batched x @ y over the last two axes (a dot_general)."""
    batch = tuple(range(x.ndim - 2))
    return lax.dot_general(x, y, (((x.ndim - 1,), (y.ndim - 2,)), (batch, batch)))


def _triangle(x, lower, strict=False):
    """The lower (upper) triangle of x, without the diagonal if ``strict``; zeros elsewhere."""
    rows = lax.broadcasted_iota(np.int32, x.shape, x.ndim - 2)
    cols = lax.broadcasted_iota(np.int32, x.shape, x.ndim - 1)
    keep = (lax.gt if strict else lax.ge)(rows, cols) if lower else (
        (lax.lt if strict else lax.le)(rows, cols))  # fmt: skip
    return lax.select(keep, x, lax.full_like(x, 0))


# --- triangular_solve: X = op(A)^-1 B (left_side) or B op(A)^-1 ------------------------------
# Giles 2008, section 2.3.1 (the inverse and the solve): with op(A) X = B,
#   dX = op(A)^-1 (dB - op(dA) X),  B_bar = op(A)^-T X_bar,  op(A)_bar = -B_bar X^T,
# and the mirrored forms for the right side. The solve reads one triangle of A (and not the
# diagonal with unit_diagonal), so only that triangle of dA counts, and only that triangle of
# A gets a cotangent, as in JAX.


def _solve_params(**params):
    return {k: params[k] for k in ("left_side", "lower", "transpose_a", "conjugate_a",
                                   "unit_diagonal")}  # fmt: skip


def _triangular_solve_jvp(tangents, out, a, b, **params):
    a_dot, b_dot = tangents
    p = _solve_params(**params)
    rhs = b_dot
    if a_dot is not None:
        op_da = _triangle(a_dot, p["lower"], p["unit_diagonal"])
        op_da = _mT(op_da) if p["transpose_a"] else op_da
        term = lax.neg(_matmul(op_da, out) if p["left_side"] else _matmul(out, op_da))
        rhs = term if rhs is None else lax.add(rhs, term)
    if rhs is None:
        return None
    return lax.linalg.triangular_solve(a, rhs, **p)


def _triangular_solve_vjp(ct, out, a, b, *, needs, **params):
    p = _solve_params(**params)
    ct_b = lax.linalg.triangular_solve(a, ct, **{**p, "transpose_a": not p["transpose_a"]})
    ct_a = None
    if needs[0]:
        op_ct = _matmul(ct_b, _mT(out)) if p["left_side"] else _matmul(_mT(out), ct_b)
        op_ct = _mT(op_ct) if p["transpose_a"] else op_ct
        ct_a = lax.neg(_triangle(op_ct, p["lower"], p["unit_diagonal"]))
    return [ct_a, ct_b if needs[1] else None]


defwhole(
    "triangular_solve",
    _triangular_solve_jvp,
    _triangular_solve_vjp,
    params=dict.fromkeys(
        ("left_side", "lower", "transpose_a", "conjugate_a", "unit_diagonal"), ANY
    ),  # conjugate_a changes nothing for the real dtypes adlab differentiates
)


# --- cholesky: A = L L^T, L lower triangular ------------------------------------------------------
# Murray 2016, eq. 10: dL = L Phi(L^-1 dA L^-T), where Phi takes the lower triangle and halves
# the diagonal. Its adjoint (Phi is its own): A_bar = L^-T Phi(L^T L_bar) L^-1. The primitive
# leaves the input's values above the diagonal; L is its lower triangle, as in JAX.
# The primitive reads only the input's lower triangle (LAPACK's potrf), so its derivative is the
# formula above applied to the symmetric matrix that triangle stands for,
# S(dA) = tril(dA) + tril(dA, -1)^T, with adjoint S^T(M) = tril(M) + tril(M^T, -1). JAX does the
# same since 0.11; JAX 0.10 used dA itself, which differs only for a tangent that is not
# symmetric (never through jnp.linalg.cholesky, which symmetrizes its input first).


def _eye_like(x):
    """Identity matrices with x's shape (its last two axes) and dtype."""
    return _eye(x.shape, x.dtype)


def _eye(shape, dtype):
    rows = lax.broadcasted_iota(np.int32, shape, len(shape) - 2)
    cols = lax.broadcasted_iota(np.int32, shape, len(shape) - 1)
    return lax.convert_element_type(lax.eq(rows, cols), dtype)


def _phi(x):
    return lax.div(_triangle(x, lower=True), lax.add(lax.full_like(x, 1), _eye_like(x)))


def _lower_solve(chol, x, *, left_side, transpose_a):
    return lax.linalg.triangular_solve(chol, x, left_side=left_side, lower=True,
                                       transpose_a=transpose_a)  # fmt: skip


def _cholesky_jvp(a_dot, out, a):
    chol = _triangle(out, lower=True)
    a_dot = lax.add(_triangle(a_dot, lower=True), _mT(_triangle(a_dot, lower=True, strict=True)))
    inner = _lower_solve(chol, _lower_solve(chol, a_dot, left_side=False, transpose_a=True),
                         left_side=True, transpose_a=False)  # fmt: skip
    return _matmul(chol, _phi(inner))


def _cholesky_vjp(ct, out, a):
    chol = _triangle(out, lower=True)
    p = _phi(_matmul(_mT(chol), ct))
    m = _lower_solve(chol, _lower_solve(chol, p, left_side=True, transpose_a=True),
                     left_side=False, transpose_a=False)  # fmt: skip
    return lax.add(_triangle(m, lower=True), _triangle(_mT(m), lower=True, strict=True))


defrule("cholesky", (_cholesky_jvp,), (_cholesky_vjp,))


# --- lu: P A = L U with partial pivoting (square matrices) -----------------------------------
# The outputs: L (below the diagonal, unit diagonal implied) and U packed in one matrix, the
# pivots and the permutation (integers: no derivative). F. R. de Hoog, R. S. Anderssen and
# M. A. Lukas, "Differentiation of matrix functionals using triangular factorization" (2011),
# as JAX uses it: with Z = L^-1 P dA U^-1, dL = L tril(Z, -1) and dU = triu(Z) U, so the packed
# tangent is L tril(Z, -1) + triu(Z) U. Its adjoint: Z_bar = tril(L^T C_bar, -1) + triu(C_bar U^T)
# and A_bar = P^T L^-T Z_bar U^-T. P is applied as a one-hot matrix of the permutation.


def _lu_factors(packed):
    strictly_lower = _triangle(packed, lower=True, strict=True)
    return lax.add(strictly_lower, _eye_like(packed)), _triangle(packed, lower=False)


def _permutation_matrix(permutation, like):
    """P with (P x)[i] = x[permutation[i]], batched like ``like``."""
    n = like.shape[-1]
    cols = lax.broadcasted_iota(permutation.dtype, (*permutation.shape, n), permutation.ndim)
    rows = lax.broadcast_in_dim(
        permutation, (*permutation.shape, n), tuple(range(permutation.ndim))
    )
    return lax.convert_element_type(lax.eq(rows, cols), like.dtype)


def _refuse_rectangular(a):
    if a.shape[-1] != a.shape[-2]:
        raise UnsupportedParamError(
            f"adlab differentiates the LU decomposition of square matrices only; this one is "
            f"{a.shape[-2]}x{a.shape[-1]}. Differentiate it with jax.grad / jax.jvp.",
            "lu",
        )


def _lu_jvp(tangents, outs, a):
    (a_dot,) = tangents
    packed, _, permutation = outs
    if a_dot is None:
        return [None, None, None]
    _refuse_rectangular(a)
    lower, upper = _lu_factors(packed)
    x = _matmul(_permutation_matrix(permutation, a), a_dot)
    z = lax.linalg.triangular_solve(lower, x, left_side=True, lower=True, unit_diagonal=True)
    z = lax.linalg.triangular_solve(upper, z, left_side=False, lower=False)
    dl = _matmul(lower, _triangle(z, lower=True, strict=True))
    return [lax.add(dl, _matmul(_triangle(z, lower=False), upper)), None, None]


def _lu_vjp(cts, outs, a, *, needs):
    ct = cts[0]
    if ct is None:
        return [None]
    _refuse_rectangular(a)
    packed, _, permutation = outs
    lower, upper = _lu_factors(packed)
    z = lax.add(_triangle(_matmul(_mT(lower), ct), lower=True, strict=True),
                _triangle(_matmul(ct, _mT(upper)), lower=False))  # fmt: skip
    x = lax.linalg.triangular_solve(lower, z, left_side=True, lower=True, transpose_a=True,
                                    unit_diagonal=True)  # fmt: skip
    x = lax.linalg.triangular_solve(upper, x, left_side=False, lower=False, transpose_a=True)
    return [_matmul(_mT(_permutation_matrix(permutation, a)), x)]


defmulti("lu", _lu_jvp, _lu_vjp)


# --- eigh: A = V diag(w) V^T, A symmetric -------------------------------------------------------
# Giles 2008, section 3.1 (as JAX): with M = V^T dA V and F_ij = 1 / (w_j - w_i) off the
# diagonal (0 on it), dV = V (F * M) and dw = diag(M). The adjoint: A_bar = V (F * (V^T V_bar) +
# diag(w_bar)) V^T. With repeated eigenvalues F is infinite, and so is the derivative, as in JAX:
# the eigenvectors of a repeated eigenvalue are not unique.


def _diagonal(x):
    return lax.reduce_sum(lax.mul(x, _eye_like(x)), (x.ndim - 1,))


def _diagonal_matrix(d):
    shape = (*d.shape, d.shape[-1])
    return lax.mul(lax.broadcast_in_dim(d, shape, tuple(range(d.ndim))), _eye(shape, d.dtype))


def _eigen_gaps(v, w):
    """F: 1 / (w_j - w_i) off the diagonal, 0 on it (JAX's form, without a 0 / 0)."""
    shape = v.shape
    wi = lax.broadcast_in_dim(w, shape, (*range(w.ndim - 1), w.ndim - 1))
    wj = lax.broadcast_in_dim(w, shape, (*range(w.ndim - 1), w.ndim))
    eye = _eye_like(v)
    return lax.sub(lax.integer_pow(lax.add(eye, lax.sub(wj, wi)), -1), eye)


def _whole_spectrum(subset_by_index):
    return subset_by_index is None


def _eigh_jvp(tangents, outs, a, **params):
    (a_dot,) = tangents
    if a_dot is None:
        return [None, None]
    v, w = outs
    m = _matmul(_matmul(_mT(v), a_dot), v)
    return [_matmul(v, lax.mul(_eigen_gaps(v, w), m)), _diagonal(m)]


def _eigh_vjp(cts, outs, a, *, needs, **params):
    ct_v, ct_w = cts
    v, w = outs
    inner = None
    if ct_v is not None:
        inner = lax.mul(_eigen_gaps(v, w), _matmul(_mT(v), ct_v))
    if ct_w is not None:
        term = _diagonal_matrix(ct_w)
        inner = term if inner is None else lax.add(inner, term)
    return [_matmul(_matmul(v, inner), _mT(v))]


defmulti(
    "eigh",
    _eigh_jvp,
    _eigh_vjp,
    params={
        "lower": ANY,
        "sort_eigenvalues": ANY,
        "algorithm": ANY,
        "subset_by_index": _whole_spectrum,
    },  # fmt: skip
)
