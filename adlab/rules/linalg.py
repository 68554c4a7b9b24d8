"""dot_general: contractions with any dimension_numbers, batch dimensions included.

dot_general is bilinear, so d(x . y) = dx . y + x . dy, each term the same dot_general.
The adjoint of x -> x . y is ct -> ct . y with the axes put back in x's order (for the
plain matmul X @ W: ct -> ct @ W.T). The transposes below follow JAX's own
``_dot_general_transpose_lhs/rhs`` so that the emitted programs cost what JAX's cost.
"""

import numpy as np
from jax import lax

from . import ANY, UNSET, defrule


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
