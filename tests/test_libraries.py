"""Primitives that libraries define (lineax, equinox, diffrax), honoured through their own rules.

lineax's ``linear_solve`` and equinox's ``maybe_set`` are JAX primitives that their library
defines, with a JVP rule and a transpose rule registered with JAX. adlab differentiates JAX's
own primitives with its own rules, and these through the library's: forward mode with the
registered JVP rule, reverse mode as adlab's transpose of that JVP (the library's transpose
rule for the library primitives inside it). The packages are in the ``libraries`` extra,
which ``dev`` includes, so these tests run wherever the suite does.
"""

import diffrax
import jax
import jax.numpy as jnp
import lineax as lx
import pytest
from helpers import MODEL, MODEL_SECOND_ORDER, assert_trees_close

import adlab

A = jnp.array([[3.0, 1.0, 0.2], [0.5, 4.0, 1.0], [0.1, 0.3, 2.0]])
B = jnp.array([1.0, 2.0, 3.0])


def solve_loss(a, b, solver):
    x = lx.linear_solve(lx.MatrixLinearOperator(a), b, solver=solver).value
    return jnp.sum(jnp.sin(x) ** 2)


@pytest.mark.parametrize("solver", [lx.LU(), lx.QR()], ids=["LU", "QR"])
def test_lineax_linear_solve_equals_jax(solver):
    f = lambda a, b: solve_loss(a, b, solver)
    assert "linear_solve" in str(jax.make_jaxpr(f)(A, B))
    assert_trees_close(adlab.grad(f, (0, 1))(A, B), jax.grad(f, (0, 1))(A, B), MODEL)
    assert_trees_close(jax.jit(adlab.grad(f, (0, 1)))(A, B), jax.grad(f, (0, 1))(A, B), MODEL)
    t = (jnp.full_like(A, 0.3), jnp.array([1.0, -0.5, 0.2]))
    assert_trees_close(adlab.jvp(f, (A, B), t), jax.jvp(f, (A, B), t), MODEL)
    assert_trees_close(adlab.hessian(f)(A, B), jax.hessian(f)(A, B), MODEL_SECOND_ORDER)


def test_explain_says_a_library_rule_was_used():
    table = str(adlab.explain(lambda b: solve_loss(A, b, lx.LU()), B).reverse_table())
    assert "its library's own rules" in table


def ode_loss(k, y0, adjoint=None):
    adjoint = adjoint or diffrax.RecursiveCheckpointAdjoint()
    term = diffrax.ODETerm(lambda t, y, args: -args * y + jnp.sin(y))
    sol = diffrax.diffeqsolve(
        term, diffrax.Tsit5(), 0.0, 1.0, 0.25, y0, args=k, saveat=diffrax.SaveAt(t1=True),
        stepsize_controller=diffrax.ConstantStepSize(), adjoint=adjoint, max_steps=16,
    )  # fmt: skip
    return jnp.sum(sol.ys[-1] ** 2)


K, Y0 = jnp.asarray(0.7), jnp.array([1.0, 2.0])


def test_diffrax_default_adjoint_gradient_equals_jax():
    expected = jax.grad(ode_loss, (0, 1))(K, Y0)
    assert_trees_close(adlab.grad(ode_loss, (0, 1))(K, Y0), expected, MODEL)
    assert_trees_close(jax.jit(adlab.grad(ode_loss, (0, 1)))(K, Y0), expected, MODEL)


def test_diffrax_direct_adjoint_through_maybe_set_equals_jax():
    f = lambda k, y0: ode_loss(k, y0, diffrax.DirectAdjoint())
    assert "maybe_set" in str(jax.make_jaxpr(f)(K, Y0))
    assert_trees_close(adlab.grad(f, (0, 1))(K, Y0), jax.grad(f, (0, 1))(K, Y0), MODEL)
    t = (jnp.asarray(1.0), jnp.array([0.5, -1.0]))
    assert_trees_close(adlab.jvp(f, (K, Y0), t), jax.jvp(f, (K, Y0), t), MODEL)
