"""Jacobian chains, the maths: closed forms, plan text, and both DPs against brute force."""

import functools
import itertools

import numpy as np
import pytest

from adlab import chain
from adlab.chain import Adjoint, Factor, Plan, Product, Tangent

HOURGLASS = (1000, 100, 10, 100, 1000)


def matvec_costs(sizes):
    """c_i of a dense factor whose JVP is one matvec: 2 n_i n_{i-1}."""
    return [2 * a * b for a, b in itertools.pairwise(sizes)]


def random_chains(seed, lengths, per_length, max_size=12, max_cost=60):
    """Seeded random (sizes, costs) pairs, sizes in [1, max_size], costs in [0, max_cost]."""
    rng = np.random.default_rng(seed)
    for L in lengths:
        for _ in range(per_length):
            sizes = rng.integers(1, max_size + 1, L + 1).tolist()
            yield sizes, rng.integers(0, max_cost, L).tolist()


# ---------------------------------------------------------------------------------------------
# Brute force: every tree of the plan language over the factors lo..hi
# ---------------------------------------------------------------------------------------------


@functools.cache
def all_bracketings(lo, hi):
    if lo == hi:
        return (Factor(lo),)
    return tuple(
        Product(left, right)
        for k in range(lo, hi)
        for right in all_bracketings(lo, k)
        for left in all_bracketings(k + 1, hi)
    )


@functools.cache
def all_plans(lo, hi, identity_sweeps):
    """Every matrix-free plan: products, and sweeps seeded by any plan of the rest.

    Identity-seeded sweeps never beat the same sweep seeded with a preaccumulated factor, so the
    search for L up to 7 leaves them out; ``identity_sweeps=True`` includes them (small L only).
    """
    plans = [Factor(lo)] if lo == hi else []
    if identity_sweeps:
        plans += [Tangent(lo, hi), Adjoint(lo, hi)]
    for k in range(lo, hi):
        rights, lefts = all_plans(lo, k, identity_sweeps), all_plans(k + 1, hi, identity_sweeps)
        plans += [Product(left, right) for right in rights for left in lefts]
        plans += [Tangent(k + 1, hi, right) for right in rights]
        plans += [Adjoint(lo, k, left) for left in lefts]
    return tuple(plans)


def brute_force_min(trees, sizes, costs=None):
    return min(Plan(tree, sizes, costs).flops for tree in trees)


# ---------------------------------------------------------------------------------------------
# Closed forms
# ---------------------------------------------------------------------------------------------


def test_closed_forms_by_hand():
    # J2 J1 with J1: 4x3, J2: 2x4, costs 5, 7
    assert chain.forward_flops([3, 4, 2]) == 2 * 3 * (2 * 4)
    assert chain.reverse_flops([3, 4, 2]) == 2 * 2 * (4 * 3)
    assert chain.tangent_flops([3, 4, 2], [5, 7]) == 3 * 12
    assert chain.adjoint_flops([3, 4, 2], [5, 7]) == 2 * 12
    # one factor: nothing to multiply in the dense model
    assert chain.forward_flops([3, 4]) == chain.reverse_flops([3, 4]) == 0


def test_hourglass_headline_numbers():
    assert chain.forward_flops(HOURGLASS) == chain.reverse_flops(HOURGLASS) == 204_000_000
    dense = chain.optimal_bracketing(HOURGLASS)
    assert str(dense) == "((J4 J3) (J2 J1))"
    assert dense.flops == 24_000_000  # 204 / 24 = 8.5x fewer
    costs = matvec_costs(HOURGLASS)
    free = chain.optimal_plan(HOURGLASS, costs)
    assert str(free) == "(tan{J4 J3} adj{J2 J1})"
    assert chain.tangent_flops(HOURGLASS, costs) == chain.adjoint_flops(HOURGLASS, costs)
    assert round(chain.tangent_flops(HOURGLASS, costs) / free.flops, 1) == 16.8


def test_scalar_loss_sums_of_seed_004():
    # dl/dx = dl/dz3 dz3/dz2 dz2/dz1 dz1/dx, sizes [|x|, |z1|, |z2|, |z3|, 1]
    x, z1, z2, z3 = 784, 256, 64, 10
    sizes = [x, z1, z2, z3, 1]
    # starting from the scalar loss (the article's "forwards computation") is reverse mode
    assert chain.reverse_flops(sizes) == 2 * (1 * z3 * z2 + 1 * z2 * z1 + 1 * z1 * x)
    assert chain.forward_flops(sizes) == 2 * (z2 * z1 * x + z3 * z2 * x + 1 * z3 * x)
    assert str(chain.optimal_bracketing(sizes)) == "(((J4 J3) J2) J1)"


@pytest.mark.parametrize(("sizes", "costs"), list(random_chains(0, [1, 2, 5, 9], 3)))
def test_closed_forms_price_the_pure_plans(sizes, costs):
    L = len(sizes) - 1
    forward, reverse = Factor(1), Factor(L)
    for i in range(2, L + 1):
        forward = Product(Factor(i), forward)  # J_i (J_{i-1} ... J_1)
        reverse = Product(reverse, Factor(L + 1 - i))  # (J_L ... J_{L-i+2}) J_{L-i+1}
    assert Plan(forward, sizes).flops == chain.forward_flops(sizes)
    assert Plan(reverse, sizes).flops == chain.reverse_flops(sizes)
    assert Plan(Tangent(1, L), sizes, costs).flops == chain.tangent_flops(sizes, costs)
    assert Plan(Adjoint(1, L), sizes, costs).flops == chain.adjoint_flops(sizes, costs)


def test_preaccumulation_costs_the_cheaper_mode():
    assert Plan(Factor(1), [3, 5], [7]).flops == 7 * 3
    assert Plan(Factor(1), [5, 3], [7]).flops == 7 * 3
    assert Plan(Tangent(1, 1), [5, 3], [7]).flops == 7 * 5
    assert Plan(Factor(1), [5, 3]).flops == 0  # dense model: factors are given


# ---------------------------------------------------------------------------------------------
# Dynamic programmes against brute force
# ---------------------------------------------------------------------------------------------

CHAINS = list(random_chains(1, [1, 2, 3, 4, 5, 6], 6)) + list(random_chains(2, [7], 2))


@pytest.mark.parametrize(("sizes", "costs"), CHAINS)
def test_optimal_bracketing_matches_brute_force(sizes, costs):
    plan = chain.optimal_bracketing(sizes)
    assert plan.model == "dense"
    assert plan.flops == brute_force_min(all_bracketings(1, len(sizes) - 1), sizes)
    assert plan.flops <= min(chain.forward_flops(sizes), chain.reverse_flops(sizes))


@pytest.mark.parametrize(("sizes", "costs"), CHAINS)
def test_optimal_plan_matches_brute_force(sizes, costs):
    plan = chain.optimal_plan(sizes, costs)
    assert plan.model == "matrix-free"
    assert plan.flops == brute_force_min(all_plans(1, len(sizes) - 1, False), sizes, costs)
    pure = min(chain.tangent_flops(sizes, costs), chain.adjoint_flops(sizes, costs))
    assert plan.flops <= pure


@pytest.mark.parametrize(("sizes", "costs"), list(random_chains(3, [1, 2, 3, 4], 4)))
def test_identity_sweeps_never_beat_the_reduced_search(sizes, costs):
    L = len(sizes) - 1
    full = brute_force_min(all_plans(1, L, True), sizes, costs)
    assert full == brute_force_min(all_plans(1, L, False), sizes, costs)
    assert full == chain.optimal_plan(sizes, costs).flops


def test_zero_cost_and_size_one_factors():
    sizes, costs = [1, 1, 1, 1], [0, 0, 0]
    assert chain.optimal_plan(sizes, costs).flops == 0
    assert chain.optimal_bracketing(sizes).flops == 2 * 2


# ---------------------------------------------------------------------------------------------
# Text form
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("L", [1, 2, 3])
def test_every_plan_round_trips_through_text(L):
    sizes, costs = list(range(2, L + 3)), list(range(1, L + 1))
    trees = all_plans(1, L, True)
    assert len({str(t) for t in trees}) == len(trees)  # the text tells every tree apart
    for tree in trees:
        plan = Plan(tree, sizes, costs)
        assert Plan.parse(str(plan), sizes, costs) == plan


@pytest.mark.parametrize(("sizes", "costs"), list(random_chains(4, [8, 30], 3, 200, 10**6)))
def test_optimal_plans_round_trip_through_text(sizes, costs):
    for plan in (chain.optimal_bracketing(sizes), chain.optimal_plan(sizes, costs)):
        assert Plan.parse(str(plan), plan.sizes, plan.costs) == plan


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("J1", Factor(1)),
        ("((J3 J2) J1)", Product(Product(Factor(3), Factor(2)), Factor(1))),
        ("tan{J3 J2 J1}", Tangent(1, 3)),
        ("adj{J3 | J2 J1}", Adjoint(1, 2, Factor(3))),
        ("tan{J3 | adj{J2 J1}}", Tangent(3, 3, Adjoint(1, 2))),
        ("adj{ tan{J3 J2} |J1 }", Adjoint(1, 1, Tangent(2, 3))),
    ],
)
def test_parse_examples(text, tree):
    assert chain.parse_tree(text) == tree


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "unexpected end"),
        ("J1 J2", "trailing"),
        ("(J2 J1", r"expected '\)'"),
        ("(J1 J2)", "spans do not meet"),
        ("tan{J2 J3}", "consecutive"),
        ("tan{J3 J1}", "consecutive"),
        ("tan{(J2 J1)}", "bare factors"),
        ("adj{J4 J3 | J2 J1}", "one seed"),
        ("tan{J3 | J1}", "does not end at J2"),
        ("J0", "start at 1"),
        ("K1", "cannot read"),
    ],
)
def test_parse_errors(text, match):
    with pytest.raises(ValueError, match=match):
        chain.parse_tree(text)


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sizes", "error", "match"),
    [
        ([3], ValueError, "L >= 1"),
        ([3, -1, 2], ValueError, "positive"),
        ([3, 0], ValueError, "positive"),
        ([3, 2.5], TypeError, "integers"),
    ],
)
def test_bad_sizes(sizes, error, match):
    with pytest.raises(error, match=match):
        chain.optimal_bracketing(sizes)
    with pytest.raises(error, match=match):
        chain.forward_flops(sizes)


def test_bad_costs():
    with pytest.raises(ValueError, match="2 factors need 2 costs"):
        chain.optimal_plan([3, 4, 5], [1])
    with pytest.raises(ValueError, match="non-negative"):
        chain.tangent_flops([3, 4, 5], [1, -1])


def test_plan_must_match_its_chain():
    with pytest.raises(ValueError, match="chain with 4 sizes"):
        Plan.parse("(J2 J1)", [3, 4, 5, 6])
    with pytest.raises(ValueError, match="matrix-free model"):
        Plan.parse("tan{J2 J1}", [3, 4, 5])


def test_huge_chains_are_refused_not_overflowed():
    with pytest.raises(OverflowError):
        chain.optimal_bracketing([10**7] * 5)
