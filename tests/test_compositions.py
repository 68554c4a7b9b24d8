"""Random expression trees over the primitive set (hypothesis), checked against JAX."""

import jax
import jax.numpy as jnp
from helpers import assert_trees_close
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import adlab

# Operations that are smooth on their whole input range, so random trees never hit a
# domain error; each maps arrays of shape (3,) to arrays of shape (3,).
UNARY = {
    "sin": jnp.sin,
    "cos": jnp.cos,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "softplus": lambda x: jnp.log1p(jnp.exp(-jnp.abs(x))) + jnp.maximum(x, 0),
    "exp-damped": lambda x: jnp.exp(-(x**2)),
    "sqrt-pos": lambda x: jnp.sqrt(x**2 + 1.0),
    "rsqrt-pos": lambda x: jax.lax.rsqrt(x**2 + 1.0),
    "square": jnp.square,
    "cube": lambda x: x**3,
    "neg": jnp.negative,
    "roll": lambda x: jnp.concatenate([x[1:], x[:1]]),
    "reverse": lambda x: x[::-1],
    "centre": lambda x: x - jnp.mean(x),
    "softmax": jax.nn.softmax,
    "matmul": lambda x: jnp.array([[0.5, -1.0, 0.2], [0.3, 0.8, -0.4], [1.1, 0.0, 0.7]]) @ x,
    "broadcast-max": lambda x: x * jnp.max(x),
}
BINARY = {
    "add": jnp.add,
    "sub": jnp.subtract,
    "mul": jnp.multiply,
    "div-safe": lambda x, y: x / (1.0 + y**2),
    "maximum": jnp.maximum,
    "minimum": jnp.minimum,
    "where": lambda x, y: jnp.where(x > y, x * y, x - y),
    "outer-sum": lambda x, y: jnp.sum(jnp.outer(x, y), axis=0),
}

leaves = st.sampled_from(["x", "y"])
trees = st.recursive(
    leaves,
    lambda sub: st.one_of(
        st.tuples(st.sampled_from(sorted(UNARY)), sub),
        st.tuples(st.sampled_from(sorted(BINARY)), sub, sub),
    ),
    max_leaves=8,
)


def build(tree):
    if tree == "x":
        return lambda x, y: x
    if tree == "y":
        return lambda x, y: y
    if len(tree) == 2:
        op, arg = UNARY[tree[0]], build(tree[1])
        return lambda x, y: op(arg(x, y))
    op, a, b = BINARY[tree[0]], build(tree[1]), build(tree[2])
    return lambda x, y: op(a(x, y), b(x, y))


X = jnp.array([0.3, -1.1, 0.7])
Y = jnp.array([-0.4, 0.9, 1.3])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees)
def test_random_composition(tree):
    fun = build(tree)
    loss = lambda x, y: jnp.sum(jnp.sin(fun(x, y)))
    assert_trees_close(adlab.grad(loss, (0, 1))(X, Y), jax.grad(loss, (0, 1))(X, Y), scale=10)
    tangents = (jnp.ones(3), jnp.array([1.0, -2.0, 0.5]))
    assert_trees_close(adlab.jvp(fun, (X, Y), tangents), jax.jvp(fun, (X, Y), tangents), scale=10)
    v = jnp.array([0.2, 0.1, -0.3])
    assert_trees_close(
        adlab.hvp(loss, (X, Y), (v, v)), adlab.reference.hvp(loss, (X, Y), (v, v)), scale=100
    )
