"""The primitive table's rows for the matrix primitives: triangular_solve, cholesky, lu, eigh,
svd, qr and custom_linear_solve (jnp.linalg.solve). JAX has no float16 / bfloat16 kernels for most
of them on CPU, so they run in float32 and float64. Whole losses over them are in
tests/test_linalg.py.
"""

from functools import partial

import jax
import jax.numpy as jnp
from helpers import F32, F64, FIRST_ORDER, MODEL_SECOND_ORDER, SECOND_ORDER
from jax import lax
from rows import Row, rand_spd, rand_well_conditioned

WELL = rand_well_conditioned


def _solve(**options):
    return lambda a, b: lax.linalg.triangular_solve(a, b, **options)


SQUARE_AND_RHS = [((4, 4), (4, 3)), ((2, 3, 3), (2, 3, 2))]  # one matrix, and a batch
RHS_LEFT = [((4, 4), (3, 4)), ((2, 3, 3), (2, 2, 3))]  # b @ op(A)^-1: b has A's columns


def _symmetric_cholesky(a):
    # jnp.linalg.cholesky symmetrizes its input, so the cotangent is symmetric, as in JAX.
    return jnp.linalg.cholesky(a)


QR_FIRST = {**FIRST_ORDER, F64: (2e-15, 5e-15)}
QR_SECOND = {**SECOND_ORDER, F64: (1e-14, 2e-14), F32: (2e-6, 4e-6)}
EIGH_FIRST = {**FIRST_ORDER, F64: (2e-15, 5e-16)}
EIGH_SECOND = {**SECOND_ORDER, F32: (2e-6, 1e-6)}


def _eigen_features(decomposition):
    w, v = decomposition
    return v * jnp.sin(w)[..., None, :]


def _orthogonal_features(qr):
    """Q and R of ``qr(a)`` in one array: sin(Q) (its entries enter non-linearly), then R."""

    def features(a):
        q, r = qr(a)[:2]
        flat = lambda x: x.reshape(*x.shape[:-2], -1)  # noqa: E731
        return jnp.concatenate([flat(jnp.sin(q)), flat(r)], axis=-1)

    return features


def _qr_of_pivoted_columns(a):
    """Q and R of A P = Q R without pivoting: the pivoted factors, which every JAX
    differentiates right. (JAX before 0.12.1 took a wide matrix's trailing block R2 = Q^T A2
    from the unpermuted A; test_linalg checks adlab against finite differences there.)"""
    p = jax.scipy.linalg.qr(lax.stop_gradient(a), pivoting=True, mode="economic")[2]
    return jnp.linalg.qr(a[..., p])


def _singular_features(decomposition):
    u, s, vt = decomposition
    left = jnp.sum(u * jnp.sin(s)[..., None, :], axis=-2)
    return jnp.concatenate([left, jnp.sum(vt * s[..., None], axis=-2)], axis=-1)


def _row(*args, **kwargs):
    return Row(*args, **kwargs, low_precision=False)


ROWS = [
    _row("triangular_solve", _solve(left_side=True, lower=True), SQUARE_AND_RHS, WELL),
    _row(
        "triangular_solve",
        _solve(left_side=True, lower=False, transpose_a=True),
        SQUARE_AND_RHS,
        WELL,
        id="upper-transposed",
    ),
    _row(
        "triangular_solve",
        _solve(left_side=False, lower=True, unit_diagonal=True),
        RHS_LEFT,
        WELL,
        id="right-unit-diagonal",
    ),
    _row(
        "triangular_solve",
        _solve(left_side=False, lower=False, transpose_a=True, unit_diagonal=True),
        RHS_LEFT,
        WELL,
        id="right-upper-transposed",
    ),
    _row("cholesky", _symmetric_cholesky, [((4, 4),), ((2, 3, 3),)], rand_spd),
    # The permutation is a one-hot matmul where JAX gathers rows: float64 second order differs
    # by 2.2e-16 absolute on an entry that JAX rounds to -2.2e-16 and adlab to 0 (values up to
    # 0.63), within the whole-model table.
    _row(
        "lu",
        lambda a: lax.linalg.lu(a)[0],
        [((4, 4),), ((2, 3, 3),)],
        WELL,
        second_order={**SECOND_ORDER, F64: MODEL_SECOND_ORDER[F64]},
    ),
    # Distinct eigenvalues (random SPD matrices); the output mixes eigenvalues and vectors.
    # adlab's adjoint multiplies V (F * V^T V_bar) V^T where JAX transposes its JVP, so the
    # products associate differently: float64 first order differs by 3.7e-16 absolute (values
    # up to 0.62), float32 second order by 5.4e-7 (values up to 1.1), about 3 and 5 ulp.
    _row(
        "eigh",
        lambda a: _eigen_features(jnp.linalg.eigh(a)),
        [((4, 4),), ((2, 3, 3),)],
        rand_spd,
        first_order=EIGH_FIRST,
        second_order=EIGH_SECOND,
    ),
    _row(
        "eigh",
        lambda a: _eigen_features(jnp.linalg.eigh(a, UPLO="U")),
        [((3, 3),)],
        rand_spd,
        id="upper",
        first_order=EIGH_FIRST,
        second_order=EIGH_SECOND,
    ),
    # Distinct singular values (random matrices); tall, wide and batched. Second order, 1/s and
    # 1/(s_j^2 - s_i^2) amplify round-off (JAX's own HVP modes differ as much, see
    # tests/test_linalg.py): float64 differs by up to 3.7e-14 absolute and 5.0e-14 relative
    # (values up to 4.5), float32 by 1.0e-6 absolute and 2.2e-5 relative on an entry of 0.05.
    # First order, float64: adlab's vjp differs from JAX's by up to 3.3e-16 absolute (values up
    # to 2.6; JAX 0.12, 2.2e-16 on 0.10.2), less than JAX's own vjp and jacfwd differ (3.9e-16,
    # 6.7e-16), and a near-cancelled entry (-0.044) carries it.
    _row(
        "svd",
        lambda a: _singular_features(jnp.linalg.svd(a, full_matrices=False)),
        [((4, 3),), ((3, 4),), ((2, 3, 3),)],
        first_order={**FIRST_ORDER, F64: (2e-15, 4e-16)},
        second_order={**SECOND_ORDER, F64: (1e-13, 5e-14), F32: (4e-5, 2e-6)},
    ),
    _row("svd", lambda a: jnp.linalg.svd(a, compute_uv=False), [((4, 3),)], id="values-only"),
    # QR of full-rank matrices: thin (tall, wide, square and batched), complete (the full Q of a
    # tall matrix) and column-pivoted. Reverse mode is adlab's transpose of the JVP, which sums
    # in another order than JAX's: float64 differs by up to 2.9e-15 absolute at first order and
    # 8.1e-15 at second order (relative 1.2e-14 and 1.0e-13, on entries near 0), float32 by
    # 2.5e-6 absolute at second order (values up to 2.9).
    *(
        _row(
            "qr",
            _orthogonal_features(qr),
            shapes,
            id=name,
            first_order=QR_FIRST,
            second_order=QR_SECOND,
            reference=reference,
        )
        for name, qr, shapes, reference in (
            ("", jnp.linalg.qr, [((4, 3),), ((3, 4),), ((3, 3),), ((2, 4, 3),)], None),
            (
                "complete",
                partial(jnp.linalg.qr, mode="complete"),
                [((4, 2),), ((2, 5, 3),)],
                None,
            ),
            (
                "pivoting",
                partial(jax.scipy.linalg.qr, pivoting=True, mode="economic"),
                [((4, 3),), ((3, 4),)],
                _orthogonal_features(_qr_of_pivoted_columns),
            ),
        )
    ),
    _row("custom_linear_solve", jnp.linalg.solve, SQUARE_AND_RHS, WELL),
    _row(
        "custom_linear_solve",
        lambda a, b: jax.scipy.sparse.linalg.cg(lambda x: a @ x, b)[0],
        [((4, 4), (4,))],
        rand_spd,
        id="symmetric-cg",
    ),
]
