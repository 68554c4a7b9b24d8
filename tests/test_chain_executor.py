"""Jacobian chains, the executor: every plan kind gives jax.jacfwd's Jacobian, jitted or not."""

import importlib
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adlab import chain
from adlab.chain import Plan

SIZES = (6, 4, 4, 7, 1)  # dense, elementwise, dense, scalar loss

# Plans multiply the same factors in other orders than jax.jacfwd: measured max relative
# difference 3.6e-15 (float64, both impls, jitted and eager; no entry is near zero).
RTOL = 1e-14

# Every node kind, and every kind of seed under each kind of sweep.
PLANS = [
    "forward",
    "reverse",
    "optimal",
    "((J4 J3) (J2 J1))",
    "(J4 (J3 (J2 J1)))",
    "(((J4 J3) J2) J1)",
    "(tan{J4 J3} adj{J2 J1})",
    "tan{J4 J3 J2 J1}",
    "adj{J4 J3 J2 J1}",
    "tan{J4 J3 | adj{J2 | J1}}",
    "tan{J4 | (J3 tan{J2 J1})}",
    "adj{tan{J4 | J3} | J2 J1}",
    "adj{(J4 J3) | J2 J1}",
    "(adj{J4 | J3} tan{J2 | J1})",
]


@pytest.fixture(params=["adlab", "adlab.reference"])
def impl(request):
    return importlib.import_module(request.param)


def normal_draws(key, *shapes):
    """Standard normal arrays of the given shapes, from one draw (one compilation, not many)."""
    sizes = [int(np.prod(shape)) for shape in shapes]
    flat = np.asarray(jax.random.normal(key, (sum(sizes),)))
    ends = itertools.accumulate(sizes)
    return [
        jnp.asarray(flat[e - n : e].reshape(s)) for e, n, s in zip(ends, sizes, shapes, strict=True)
    ]


def mixed_chain(key):
    """f1 = tanh(W1 x), f2 = x sin(x), f3 = tanh(W3 x), f4 = sum(x^2): sizes 6-4-4-7-1."""
    w1, w3, x = normal_draws(key, (4, 6), (7, 4), (6,))
    fs = [
        lambda x: jnp.tanh(w1 @ x / 2),
        lambda x: x * jnp.sin(x),
        lambda x: jnp.tanh(w3 @ x / 2),
        lambda x: jnp.sum(x**2, keepdims=True),
    ]
    return fs, x


def composed(fs):
    def f(x):
        for g in fs:
            x = g(x)
        return x

    return f


def as_plan(plan):
    return plan if plan in ("forward", "reverse", "optimal") else Plan.parse(plan, SIZES, [1] * 4)


# Eager execution dispatches (and compiles) op by op: a few plans cover every node kind there.
EAGER_PLANS = ["optimal", "(J4 (J3 (J2 J1)))", "tan{J4 J3 | adj{J2 | J1}}", "adj{(J4 J3) | J2 J1}"]


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_every_plan_gives_the_jacobian(impl, jit):
    fs, x = mixed_chain(jax.random.key(0))
    assert x.dtype == jnp.float64
    plans = PLANS if jit else EAGER_PLANS

    def run(x):
        return {plan: chain.jacobian(fs, x, as_plan(plan), impl=impl) for plan in plans}

    got = (jax.jit(run) if jit else run)(x)  # one compilation for all plans
    want = jax.jacfwd(composed(fs))(x)
    for plan in plans:
        assert got[plan].shape == want.shape == (1, 6)
        np.testing.assert_allclose(got[plan], want, rtol=RTOL, atol=0, err_msg=plan)


def test_optimal_and_dense_plans_of_a_tanh_chain(impl):
    sizes = (12, 3, 9, 2, 8, 5, 1, 4)
    *ws, x = normal_draws(jax.random.key(1), *[(m, n) for n, m in itertools.pairwise(sizes)], (12,))
    fs = [lambda x, w=w: jnp.tanh(w @ x / w.shape[1] ** 0.5) for w in ws]
    costs = chain.costs(fs, x, impl=impl)
    plans = {
        "optimal": "optimal",
        "dense": chain.optimal_bracketing(sizes),
        "matrix-free": chain.optimal_plan(sizes, costs),
    }
    assert str(plans["matrix-free"]) != str(plans["dense"])  # the two models disagree here
    got = jax.jit(lambda x: {k: chain.jacobian(fs, x, p, impl=impl) for k, p in plans.items()})(x)
    want = jax.jacfwd(composed(fs))(x)
    for name in plans:
        np.testing.assert_allclose(got[name], want, rtol=RTOL, atol=0, err_msg=name)


def test_costs_are_one_tangent_propagation(impl):
    w = jnp.ones((4, 3))
    fs = [lambda x: w @ x, lambda x: 3.0 * x, lambda x: jnp.tanh(x)]
    costs = chain.costs(fs, jnp.ones(3), impl=impl)
    assert costs[:2] == (2 * 4 * 3, 4)  # one matvec; one multiply per element
    # JAX's tanh rule, which adlab's follows: t' = (t + t y)(1 - y) with y = tanh(x) already
    # computed: add, mul, sub, mul, 4 flops per element.
    assert costs[2] == 4 * 4


def test_bad_chains_are_refused():
    fs, x = mixed_chain(jax.random.key(0))
    with pytest.raises(ValueError, match="1-D"):
        chain.jacobian(fs, jnp.ones((6, 1)), "forward")
    with pytest.raises(ValueError, match="1-D"):
        chain.jacobian([*fs, jnp.sum], x, "forward")
    with pytest.raises(ValueError, match="plan is for sizes"):
        chain.jacobian(fs, x, chain.optimal_bracketing([6, 4, 4, 7, 2]))
    with pytest.raises(ValueError, match="plan must be"):
        chain.jacobian(fs, x, "sideways")
    with pytest.raises(TypeError, match="non-empty"):
        chain.jacobian([], x, "forward")
