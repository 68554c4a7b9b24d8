"""custom_jvp / custom_vjp with symbolic zeros, and custom_linear_solve's aux outputs, as in JAX.

``defjvp(..., symbolic_zeros=True)`` tells the rule which tangents are zero by passing
``SymbolicZero`` objects, and ``defvjp(..., symbolic_zeros=True)`` does the same for the
cotangents that bwd receives; rules that check for them (as diffrax's adjoints do) must see
them in adlab too. A ``custom_linear_solve`` with ``has_aux=True`` returns the solver's aux
values beside the solution: they carry no derivative, so their tangents are zero.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_trees_close
from jax import lax

import adlab
from adlab import reference

SymbolicZero = jax.custom_derivatives.SymbolicZero


@jax.custom_jvp
def scale(x, t):
    return x * t


def _scale_jvp(primals, tangents):
    (x, t), (x_dot, t_dot) = primals, tangents
    if not isinstance(t_dot, SymbolicZero):
        raise RuntimeError("t cannot be differentiated")
    out_dot = (
        SymbolicZero(jax.typeof(x).to_tangent_aval())
        if isinstance(x_dot, SymbolicZero)
        else x_dot * t
    )
    return x * t, out_dot


scale.defjvp(_scale_jvp, symbolic_zeros=True)


@pytest.mark.parametrize("impl", [adlab, reference], ids=["adlab", "jax"])
def test_custom_jvp_rule_sees_symbolic_zeros(impl):
    f = lambda x: scale(x, 2.0)
    assert impl.grad(f)(1.5) == 2.0
    assert jax.jit(impl.grad(f))(1.5) == 2.0
    assert impl.jvp(f, (1.5,), (1.0,))[1] == 2.0
    assert impl.linearize(f, 1.5)[1](1.0) == 2.0
    # The rule refuses a nonzero tangent for t, in both engines.
    with pytest.raises(RuntimeError, match="t cannot be differentiated"):
        impl.grad(lambda t: scale(1.5, t))(2.0)


@jax.custom_vjp
def sin_times(x, y):
    return jnp.sin(x) * y, x


def _sin_times_fwd(x, y):
    assert isinstance(x, jax.custom_derivatives.CustomVJPPrimal)
    return sin_times(x.value, y.value), (x.value, y.value, x.perturbed, y.perturbed)


def _sin_times_bwd(res, cts):
    x, y, *_ = res
    g, g_x = cts
    if not isinstance(g_x, SymbolicZero):
        raise RuntimeError("the second output's cotangent should be a symbolic zero")
    return jnp.cos(x) * y * g, jnp.sin(x) * g


sin_times.defvjp(_sin_times_fwd, _sin_times_bwd, symbolic_zeros=True)


def test_custom_vjp_bwd_sees_symbolic_zeros():
    f = lambda x, y: sin_times(x, y)[0]
    ours = adlab.grad(f, (0, 1))(0.4, 3.0)
    assert_trees_close(ours, jax.grad(f, (0, 1))(0.4, 3.0))
    assert_trees_close(jax.jit(adlab.grad(f, (0, 1)))(0.4, 3.0), ours)


AUX = {"converged": np.array(1.0), "nfev": np.array(12345.0)}


def _solve_aux(matvec, b):
    return lax.stop_gradient(jnp.linalg.solve(jax.jacobian(matvec)(b), b)), AUX


def _solve_with_aux(a, b):
    return lax.custom_linear_solve(
        partial(jnp.dot, a), b, _solve_aux, _solve_aux, symmetric=True, has_aux=True
    )


def test_custom_linear_solve_aux_tangents_are_zero():
    a = jnp.array([[3.0, 1.0], [1.0, 2.0]])
    b = jnp.array([1.0, 2.0])
    ta, tb = jnp.full_like(a, 0.3), jnp.array([1.0, -1.0])
    ours = adlab.jvp(_solve_with_aux, (a, b), (ta, tb))
    theirs = jax.jvp(_solve_with_aux, (a, b), (ta, tb))
    assert_trees_close(ours, theirs)
    assert all(float(t) == 0.0 for t in jax.tree.leaves(ours[1][1]))
    loss = lambda a, b: jnp.sum(_solve_with_aux(a, b)[0] ** 2)
    assert_trees_close(adlab.grad(loss, (0, 1))(a, b), jax.grad(loss, (0, 1))(a, b))
