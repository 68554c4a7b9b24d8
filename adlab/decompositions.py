"""Matrix decompositions whose reverse mode is the transpose of their JVP: ``svd``.

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
from .rules.linalg import _diagonal, _diagonal_matrix, _eye_like, _matmul, _mT


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
