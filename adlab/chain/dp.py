"""Optimal plans for Jacobian chains by dynamic programming.

Both programmes fill a table F[i, j], the cheapest way to compute J_{j..i} = J_j ... J_i (an
n_j x n_{i-1} matrix), one diagonal d = j - i at a time. Each diagonal is one vectorised numpy
step over all its (i, j) pairs and all their splits k, so 200 factors take well under a second.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from adlab.chain.plan import (
    Adjoint,
    Factor,
    Node,
    Plan,
    Product,
    Tangent,
    check_costs,
    check_sizes,
)

# Choices recorded in the table. Sweeps come first, so that they win ties against a dense
# product: a sweep of equal cost materialises fewer matrices.
_TANGENT, _ADJOINT, _DENSE = 0, 1, 2


def optimal_bracketing(sizes: Sequence[int]) -> Plan:
    """The classic matrix-chain order: the bracketing of J_L ... J_1 with the fewest FLOPs.

    Dense model: the factors are given as matrices and a (a x b)(b x c) product costs 2abc.
    F[i, i] = 0 and F[i, j] = min_k F[i, k] + F[k+1, j] + 2 n_j n_k n_{i-1}, in O(L^3).

    Args:
      sizes: the chain's sizes ``[n0, ..., nL]``.

    Returns:
      The optimal dense plan, e.g. ``((J4 J3) (J2 J1))``.
    """
    n = check_sizes(sizes)
    return Plan(_solve(n, None), n)


def optimal_plan(sizes: Sequence[int], costs: Sequence[int]) -> Plan:
    """The optimal matrix-free plan, mixing tangent sweeps, adjoint sweeps and dense products.

    Matrix-free model: factor i is available only through JVPs/VJPs costing c_i FLOPs each.
    Following Naumann, "Optimization of generalized Jacobian chain products without memory
    constraints" (Optim. Methods Softw., 2020), with F[i, i] = c_i min(n_i, n_{i-1}) and, for
    i < j, the minimum over every split i <= k < j of three choices:

    - dense product of the two optimal halves:  F[i, k] + F[k+1, j] + 2 n_j n_k n_{i-1};
    - tangent sweep of factors k+1..j seeded with the n_{i-1} columns of J_{k..i}:
      F[i, k] + n_{i-1} sum_{l=k+1..j} c_l;
    - adjoint sweep of factors i..k seeded with the n_j rows of J_{j..k+1}:
      F[k+1, j] + n_j sum_{l=i..k} c_l.

    Args:
      sizes: the chain's sizes ``[n0, ..., nL]``.
      costs: c_1..c_L, the FLOPs of one JVP (or VJP) of each factor.

    Returns:
      The optimal matrix-free plan, e.g. ``(tan{J4 J3} adj{J2 J1})``.
    """
    n = check_sizes(sizes)
    c = check_costs(n, costs)
    return Plan(_solve(n, c), n, c)


def _solve(n: tuple[int, ...], c: tuple[int, ...] | None) -> Node:
    """Fills the DP tables and rebuilds the optimal tree (dense model when ``c is None``)."""
    L = len(n) - 1
    _check_range(n, c)
    sizes = np.asarray(n, dtype=np.int64)
    prefix = np.concatenate([[0], np.cumsum(c if c is not None else np.zeros(L, np.int64))])
    best = np.zeros((L + 2, L + 2), dtype=np.int64)  # best[i, j] for 1 <= i <= j <= L
    choice = np.zeros((L + 2, L + 2), dtype=np.int8)
    split = np.zeros((L + 2, L + 2), dtype=np.int64)
    if c is not None:
        i = np.arange(1, L + 1)
        best[i, i] = np.asarray(c, dtype=np.int64) * np.minimum(sizes[i], sizes[i - 1])

    for d in range(1, L):
        i = np.arange(1, L - d + 1)[:, None]  # one row per (i, j = i + d)
        j = i + d
        k = i + np.arange(d)[None, :]  # one column per split
        left, right = best[i, k], best[k + 1, j]  # J_{k..i} and J_{j..k+1}
        dense = left + right + 2 * sizes[j] * sizes[k] * sizes[i - 1]
        if c is None:
            candidates = dense[:, None, :]
        else:
            tangent = left + sizes[i - 1] * (prefix[j] - prefix[k])
            adjoint = right + sizes[j] * (prefix[k] - prefix[i - 1])
            candidates = np.stack([tangent, adjoint, dense], axis=1)
        flat = candidates.reshape(len(i), -1)
        arg = flat.argmin(axis=1)
        rows = i[:, 0]
        best[rows, rows + d] = flat[np.arange(len(rows)), arg]
        choice[rows, rows + d] = _DENSE if c is None else arg // d
        split[rows, rows + d] = rows + arg % d

    def build(i: int, j: int) -> Node:
        if i == j:
            return Factor(i)
        k = int(split[i, j])
        if choice[i, j] == _DENSE:
            return Product(build(k + 1, j), build(i, k))
        if choice[i, j] == _TANGENT:
            return _tangent(k + 1, j, build(i, k), n)
        return _adjoint(i, k, build(k + 1, j), n)

    return build(1, L)


def _tangent(first: int, last: int, seed: Node, n: tuple[int, ...]) -> Tangent:
    """A tangent sweep, merged with a seed that is itself a tangent sweep (same FLOPs)."""
    if isinstance(seed, Tangent):
        return Tangent(seed.first, last, seed.seed)
    if isinstance(seed, Factor) and n[seed.i - 1] <= n[seed.i]:  # preaccumulated by tangents
        return Tangent(seed.i, last)
    return Tangent(first, last, seed)


def _adjoint(first: int, last: int, seed: Node, n: tuple[int, ...]) -> Adjoint:
    """An adjoint sweep, merged with a seed that is itself an adjoint sweep (same FLOPs)."""
    if isinstance(seed, Adjoint):
        return Adjoint(first, seed.last, seed.seed)
    if isinstance(seed, Factor) and n[seed.i] <= n[seed.i - 1]:  # preaccumulated by adjoints
        return Adjoint(first, seed.i)
    return Adjoint(first, last, seed)


def _check_range(n: tuple[int, ...], c: tuple[int, ...] | None) -> None:
    """Refuses chains whose FLOP counts could overflow the int64 tables."""
    L, widest = len(n) - 1, max(n)
    bound = 2 * L * widest**3 + widest * sum(c or ())  # bounds every table entry
    if 3 * bound + 2 * widest**3 >= 2**63:  # ... and every candidate
        raise OverflowError(f"FLOP counts of this chain may exceed int64 (bound {bound:.3e})")
