"""Matrix decompositions whose reverse mode is the transpose of their JVP: ``svd`` and ``qr``.

Some derivatives are long to write twice. For these, only the JVP is written (from the
literature, as JAX uses it), and reverse mode transposes it: the JVP is linear in the input
tangents, so adlab's own VJP of that linear map at the stored primal values is its adjoint
(the same move as for ``custom_jvp`` functions, in ``adlab.calls``). The JVP emits only
primitives of the set, so its transpose does too, and both can be differentiated again.
"""

from __future__ import annotations

from jax import lax

from . import reverse
from ._dtypes import carries_derivative, zero_tangent
from ._errors import UnsupportedParamError
from ._trace import bind
from .calls import CallHandler
from .rules import ANY, register
from .rules.linalg import (
    _diagonal,
    _diagonal_matrix,
    _eye_like,
    _matmul,
    _mT,
    _permutation_matrix,
    _triangle,
)


class Linearized(CallHandler):
    """A primitive with a JVP rule; reverse mode is adlab's transpose of that rule."""

    kind = "linearized"

    def __init__(self, name, jvp, params):
        self.name, self.jvp, self.params = name, jvp, params

    def jvp_eqn(self, eqn, xs, x_dots, call_site, walk):
        outs = bind(eqn, xs)
        return outs, self.jvp(x_dots, outs, *xs, **eqn.params)

    def record(self, eqn, xs, x_slots, recorder):
        outs = bind(eqn, xs)
        return outs, recorder.append(self, eqn, x_slots, xs, outs)

    def push_entry(self, entry, x_dots):
        return self.jvp(x_dots, entry.outs, *entry.primals, **entry.eqn.params)

    def pull_entry(self, entry, cts):
        active = [s is not None for s in entry.in_slots]
        floats = [carries_derivative(o) for o in entry.outs]
        params, outs, primals = entry.eqn.params, entry.outs, entry.primals

        def tangent_map(*dots):
            given = iter(dots)
            full = [next(given) if a else None for a in active]
            out_dots = self.jvp(full, outs, *primals, **params)
            return [zero_tangent(o) if d is None else d
                    for o, d, f in zip(outs, out_dots, floats) if f]  # fmt: skip

        zeros = [zero_tangent(x) for x, a in zip(primals, active) if a]
        _, pullback = reverse.vjp_flat(tangent_map, zeros)
        cts = [zero_tangent(o) if c is None else c for o, c, f in zip(outs, cts, floats) if f]
        in_cts = iter(pullback(cts))
        return [next(in_cts) if a else None for a in active]


# --- svd: A = U diag(s) V^T ---------------------------------------------------------------------
# Giles 2008, section 3.2, and J. Townsend, "Differentiating the singular value decomposition"
# (2016), as JAX's rule writes them: with dS = U^T dA V, ds = diag(dS), and F_ij =
# 1 / (s_j^2 - s_i^2) off the diagonal,
#   dU = U (F * (dS S + S dS^T) + (dS - dS^T) / 2 S^-1) + (I - U U^T) dA V S^-1,
#   dV = V (F * (S dS + dS^T S)) + (I - V V^T) dA^T U S^-1.
# Repeated singular values make F infinite, as in JAX.


def _by_column(s, like):
    """s broadcast along the rows of ``like``: entry (i, j) is s_j."""
    return lax.broadcast_in_dim(s, like.shape, (*range(s.ndim - 1), s.ndim))


def _svd_jvp(tangents, outs, a, *, full_matrices, compute_uv, subset_by_index, algorithm):
    (da,) = tangents
    if da is None:
        return [None] * len(outs)
    m, n = a.shape[-2:]
    if compute_uv and full_matrices and m != n:
        raise UnsupportedParamError(
            f"adlab differentiates the full SVD of square matrices only, as JAX; this one is "
            f"{m}x{n}. Use jnp.linalg.svd(a, full_matrices=False).",
            "svd",
        )
    u, s, vt = lax.linalg.svd(a, full_matrices=False, compute_uv=True)
    v = _mT(vt)
    ds_mat = _matmul(_matmul(_mT(u), da), v)
    ds = _diagonal(ds_mat)
    if not compute_uv:
        return [ds]
    s_row = _by_column(s, ds_mat)  # s_j
    s_col = _mT(s_row)  # s_i
    eye = _eye_like(ds_mat)
    gaps = lax.mul(lax.add(s_row, s_col), lax.sub(s_row, s_col))  # s_j^2 - s_i^2
    f = lax.sub(lax.div(lax.full_like(eye, 1), lax.add(gaps, eye)), eye)
    dss, sds = lax.mul(s_row, ds_mat), lax.mul(s_col, ds_mat)
    zero = lax.convert_element_type(lax.eq(s, lax.full_like(s, 0)), s.dtype)
    s_inv = lax.sub(lax.div(lax.full_like(s, 1), lax.add(s, zero)), zero)
    skew = lax.mul(lax.mul(lax.full_like(ds_mat, 0.5), lax.sub(ds_mat, _mT(ds_mat))),
                   _diagonal_matrix(s_inv))  # fmt: skip
    du = _matmul(u, lax.add(lax.mul(f, lax.add(dss, _mT(dss))), skew))
    dv = _matmul(v, lax.mul(f, lax.add(sds, _mT(sds))))
    if m > n:
        dav = _matmul(da, v)
        rest = lax.sub(dav, _matmul(u, _matmul(_mT(u), dav)))
        du = lax.add(du, lax.div(rest, _by_column(s, rest)))
    if n > m:
        dau = _matmul(_mT(da), u)
        rest = lax.sub(dau, _matmul(v, _matmul(vt, dau)))
        dv = lax.add(dv, lax.div(rest, _by_column(s, rest)))
    return [ds, du, _mT(dv)]


register(
    Linearized(
        "svd",
        _svd_jvp,
        {
            "full_matrices": ANY,
            "compute_uv": ANY,
            "subset_by_index": lambda subset: subset is None,
            "algorithm": ANY,
        },
    )
)


# --- qr: A = Q R ------------------------------------------------------------------------------
# The thin factorisation of an m x n matrix with m >= n (J. Townsend, "Differentiating the QR
# decomposition" (2018); M. Seeger et al., "Auto-differentiating linear algebra" (2017)), as
# JAX's rule writes it: with C = Q^T dA R^-1 and Omega = tril(C, -1) - tril(C, -1)^T (skew),
#   dQ = Q (Omega - C) + dA R^-1,   dR = (C - Omega) R.
# A wide matrix (m < n), A = [A1 A2] with A1 square: the thin rule for A1 = Q R1, and
# R2 = Q^T A2 gives dR2 = dQ^T A2 + Q^T dA2. The full Q of a tall matrix (m > n) adds its last
# m - n columns by equations 32-33 of arXiv:2409.13374 (as JAX cites it): with
# Z = Q_pn (Q_nn - I)^-1, dQ_mp = dQ_mn Z^T - (Q_mn + Q_mp Z) (dQ_pn - Z dQ_nn)^T, where
# Q_mn = [Q_nn; Q_pn] is the thin factor and Q_mp the rest. A singular R (a rank-deficient A)
# gives inf / NaN, as in JAX. With pivoting, A[:, p] = Q R: A's and dA's columns are permuted
# first (A2 above is a block of A[:, p]; JAX before 0.12.1 read it from the unpermuted A, which
# finite differences contradict for a wide matrix).


def _columns(x, start, stop):
    return lax.slice_in_dim(x, start, stop, axis=x.ndim - 1)


def _rows(x, start, stop):
    return lax.slice_in_dim(x, start, stop, axis=x.ndim - 2)


def _thin_qr_jvp(q, r, da):
    da_r_inv = lax.linalg.triangular_solve(r, da)  # dA R^-1: a solve from the right
    c = _matmul(_mT(q), da_r_inv)
    below = _triangle(c, lower=True, strict=True)
    omega = lax.sub(below, _mT(below))
    dq = lax.add(_matmul(q, lax.sub(omega, c)), da_r_inv)
    return dq, _matmul(lax.sub(c, omega), r)


def _solve_transposed(m, b):
    """X with M^T X = B, through M's LU factors (P M = L U, so M^T = U^T L^T P)."""
    packed, _, permutation = lax.linalg.lu(m)
    y = lax.linalg.triangular_solve(packed, b, left_side=True, lower=False, transpose_a=True)
    y = lax.linalg.triangular_solve(packed, y, left_side=True, lower=True, transpose_a=True,
                                    unit_diagonal=True)  # fmt: skip
    return _matmul(_mT(_permutation_matrix(permutation, m)), y)


def _full_q_columns(q, dq_mn, n):
    """The tangent of the last m - n columns of a tall matrix's full Q."""
    m = q.shape[-1]
    q_mn, q_mp = _columns(q, 0, n), _columns(q, n, m)
    q_nn, q_pn = _rows(q_mn, 0, n), _rows(q_mn, n, m)
    z_t = _solve_transposed(lax.sub(q_nn, _eye_like(q_nn)), _mT(q_pn))  # Z^T, n x p
    z = _mT(z_t)
    dq_nn, dq_pn = _rows(dq_mn, 0, n), _rows(dq_mn, n, m)
    rest = _mT(lax.sub(dq_pn, _matmul(z, dq_nn)))
    return lax.sub(_matmul(dq_mn, z_t), _matmul(lax.add(q_mn, _matmul(q_mp, z)), rest))


def _qr_jvp(tangents, outs, a, *, pivoting, full_matrices, use_magma):
    (da,) = tangents
    q, r, *permutation = outs
    if da is None:
        return [None] * len(outs)
    m, n = a.shape[-2:]
    if pivoting:  # Q R = A P: the factorisation of the permuted columns A[..., p]
        p_t = _mT(_permutation_matrix(permutation[0], da))
        a, da = _matmul(a, p_t), _matmul(da, p_t)
    if m < n:
        dq, dr1 = _thin_qr_jvp(q, _columns(r, 0, m), _columns(da, 0, m))
        dr2 = lax.add(_matmul(_mT(dq), _columns(a, m, n)), _matmul(_mT(q), _columns(da, m, n)))
        dr = lax.concatenate([dr1, dr2], r.ndim - 1)
    else:
        dq, dr = _thin_qr_jvp(_columns(q, 0, n), _rows(r, 0, n), da)
        if full_matrices and m > n:
            dq = lax.concatenate([dq, _full_q_columns(q, dq, n)], q.ndim - 1)
            zeros = lax.full((*dr.shape[:-2], m - n, n), 0, dr.dtype)
            dr = lax.concatenate([dr, zeros], r.ndim - 2)
    return [dq, dr, *([None] if pivoting else [])]


# use_magma chooses the GPU implementation of the same factorisation.
register(Linearized("qr", _qr_jvp, {"pivoting": ANY, "full_matrices": ANY, "use_magma": ANY}))
