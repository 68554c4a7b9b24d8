"""Nesting to third order (adlab inside adlab, and mixed with JAX), and composition with
jax.jit and jax.vmap. Also: the primitive set is closed under adlab's own rules."""

import jax
import jax.numpy as jnp
import pytest
from helpers import SECOND_ORDER, assert_trees_close, primitives_in

import adlab


def f(x):
    return jnp.sum(jnp.sin(x) * jnp.exp(-(x**2)) + jnp.tanh(x) ** 3)


X = jnp.linspace(-1.2, 0.9, 4)
V = jnp.array([0.3, -1.0, 0.5, 2.0])


def third(impl_outer, impl_mid, impl_inner):
    """d/dx <v, d/dx <v, grad f(x)>>: a third derivative contracted twice with v."""
    g = impl_inner.grad(f)
    h = impl_mid.grad(lambda x: jnp.vdot(g(x), V))
    return impl_outer.grad(lambda x: jnp.vdot(h(x), V))(X)


@pytest.mark.parametrize(
    "stack",
    ["aaa", "jaa", "aja", "aaj", "jja"],
    ids=lambda s: s.replace("a", "A").replace("j", "J"),
)
def test_third_order_grad(stack):
    impls = [adlab if c == "a" else jax for c in stack]
    assert_trees_close(third(*impls), third(jax, jax, jax), SECOND_ORDER)


def test_third_order_forward_over_reverse_over_forward():
    ours = adlab.jvp(lambda x: adlab.grad(lambda y: adlab.jvp(f, (y,), (V,))[1])(x), (X,), (V,))
    theirs = jax.jvp(lambda x: jax.grad(lambda y: jax.jvp(f, (y,), (V,))[1])(x), (X,), (V,))
    assert_trees_close(ours, theirs, SECOND_ORDER)


def test_third_derivative_tensor():
    # Jitted: eagerly, the batched third-order program dispatches op by op (about 10 s).
    ours = jax.jit(adlab.jacfwd(adlab.hessian(f)))(X)
    assert_trees_close(ours, jax.jit(jax.jacfwd(jax.hessian(f)))(X), SECOND_ORDER)


def test_scalar_fourth_derivative():
    d = lambda g: adlab.grad(g)
    assert_trees_close(d(d(d(d(jnp.sin))))(0.3), jnp.sin(0.3))


def test_jit_of_adlab_and_adlab_of_jit():
    assert_trees_close(jax.jit(adlab.grad(f))(X), jax.grad(f)(X))
    assert_trees_close(adlab.grad(jax.jit(f))(X), jax.grad(f)(X))
    assert_trees_close(
        jax.jit(lambda x: adlab.jvp(jax.jit(f), (x,), (V,)))(X), jax.jvp(f, (X,), (V,))
    )


def test_vmap_of_adlab_and_adlab_of_vmap():
    xs = jnp.stack([X, X + 0.5, -X])
    assert_trees_close(jax.vmap(adlab.grad(f))(xs), jax.vmap(jax.grad(f))(xs))
    batched = lambda xs: jnp.sum(jax.vmap(f)(xs))
    assert_trees_close(adlab.grad(batched)(xs), jax.grad(batched)(xs))
    per_example_hvp = jax.vmap(lambda x: adlab.hvp(f, (x,), (V,)))(xs)
    theirs = jax.vmap(lambda x: adlab.reference.hvp(f, (x,), (V,)))(xs)
    assert_trees_close(per_example_hvp, theirs, SECOND_ORDER)


def test_closure_over_outer_tracer():
    # The inner function closes over the outer variable: no perturbation confusion.
    ours = adlab.grad(lambda x: adlab.grad(lambda y: jnp.sin(x * y))(2.0))(0.5)
    theirs = jax.grad(lambda x: jax.grad(lambda y: jnp.sin(x * y))(2.0))(0.5)
    assert_trees_close(ours, theirs)


def test_linearize_matches_jvp_and_stores_primal():
    out, f_jvp = adlab.linearize(f, X)
    assert_trees_close(out, f(X))
    assert_trees_close(f_jvp(V), jax.jvp(f, (X,), (V,))[1])
    assert_trees_close(jax.jit(f_jvp)(2 * V), 2 * jax.jvp(f, (X,), (V,))[1])


def test_the_primitive_set_is_closed():
    # Everything adlab emits for a program over the set is itself in the set, so adlab
    # can differentiate it again, to any order.
    def model(x):
        h = jnp.concatenate([x, x[::2]]).reshape(2, 3)
        h = jnp.where(h > 0, h, 0.1 * h) @ jnp.ones((3, 2))
        return jax.nn.logsumexp(h) + jnp.max(h) + jnp.sum(jnp.abs(h) ** 1.5) + jnp.min(h.T)

    x = jnp.linspace(-1, 1, 4)
    for built in (
        adlab.grad(model),
        lambda x: adlab.jvp(model, (x,), (x,)),
        adlab.hessian(model),
        lambda x: adlab.hvp(model, (x,), (x,), mode="rev-over-rev"),
    ):
        assert primitives_in(jax.make_jaxpr(built)(x).jaxpr) <= adlab.PRIMITIVES
