"""The array language real JAX code uses, differentiated by adlab and by JAX, in float64.

Each case is a function people really differentiate: every activation and normalisation of
jax.nn, exact GELU, indexing, sorting, cumulative ops, norms, pooling and a small CNN. For each,
adlab's jvp and vjp equal JAX's, and so does a second-order product (forward over reverse:
the JVP of x -> J(x)^T ct). Inputs avoid the kinks of relu-like functions and the ties of
max, where the derivative is a convention rather than a limit.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import MODEL, MODEL_SECOND_ORDER, assert_trees_close
from jax import lax

import adlab

KEY = jax.random.key(7)


def _away_from_zero(shape, key=KEY):
    """Normal draws pushed at least 0.1 away from 0 (the kink of relu and its cousins)."""
    x = jax.random.normal(key, shape, jnp.float64)
    return jnp.where(x >= 0, x + 0.1, x - 0.1)


def _distinct(shape, key=KEY):
    """A random permutation of evenly spaced values: no ties, for sort and max."""
    n = int(np.prod(shape))
    values = jnp.linspace(-2.0, 2.0, n, dtype=jnp.float64)
    return jax.random.permutation(key, values).reshape(shape)


X = _away_from_zero((3, 5))
ACTIVATIONS = [
    "relu", "relu6", "sigmoid", "softplus", "sparse_plus", "sparse_sigmoid", "soft_sign",
    "silu", "swish", "log_sigmoid", "leaky_relu", "hard_sigmoid", "hard_silu", "hard_swish",
    "hard_tanh", "elu", "celu", "selu", "gelu", "squareplus", "mish", "tanh",
]  # fmt: skip


def _nn(name):
    return getattr(jax.nn, name), (X,)


CASES = {
    **{f"jax.nn.{name}": _nn(name) for name in ACTIVATIONS},
    "jax.nn.gelu exact": (lambda x: jax.nn.gelu(x, approximate=False), (X,)),
    "jax.nn.glu": (jax.nn.glu, (_away_from_zero((3, 6)),)),
    "jax.nn.softmax": (jax.nn.softmax, (X,)),
    "jax.nn.log_softmax": (jax.nn.log_softmax, (X,)),
    "jax.nn.logsumexp": (lambda x: jax.nn.logsumexp(x, axis=-1), (X,)),
    "jax.nn.logmeanexp": (lambda x: jax.nn.logmeanexp(x, axis=-1), (X,)),
    "jax.nn.log1mexp": (jax.nn.log1mexp, (jnp.abs(X),)),  # defined for x > 0
    "jax.nn.standardize": (jax.nn.standardize, (X,)),
    "jax.nn.one_hot cross-entropy": (
        lambda x: -jnp.sum(jax.nn.one_hot(jnp.array([1, 0, 4]), 5) * jax.nn.log_softmax(x)),
        (X,),
    ),
}

IDX = jnp.array([2, 0, 2, 4])  # a repeated index
V = _distinct((3, 5))
CASES.update(
    {
        "x[idx]": (lambda x: x[:, IDX] ** 2, (X,)),
        "x.at[idx].add(y)": (lambda x, y: x.at[:, IDX].add(y * x[:, :4]), (X, X[:, :4])),
        "jnp.take_along_axis": (
            lambda x: jnp.take_along_axis(x, jnp.argsort(x, axis=1)[:, :3], axis=1) * x[:, :3],
            (V,),
        ),
        "jnp.sort": (lambda x: jnp.sort(x, axis=1) * jnp.arange(5.0), (V,)),
        "jnp.cumsum": (lambda x: jnp.cumsum(x * x, axis=1), (X,)),
        "jnp.cumprod": (lambda x: jnp.cumprod(x, axis=0), (X,)),
        "jnp.cumprod with zeros": (
            lambda x: jnp.cumprod(x * jnp.array([1.0, 0.0, 1.0, 1.0, 0.0]), axis=1),
            (X,),
        ),
        "jnp.linalg.norm vector": (lambda x: jnp.linalg.norm(x[0]), (X,)),
        "jnp.linalg.norm matrix": (jnp.linalg.norm, (X,)),
        "jnp.linalg.norm ord=1": (lambda x: jnp.linalg.norm(x, ord=1), (V,)),
        "max pooling": (
            lambda x: lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID"),
            (_distinct((2, 4, 6, 3)),),
        ),
        "average pooling": (
            lambda x: lax.reduce_window(x, 0.0, lax.add, (1, 3, 3, 1), (1, 1, 1, 1), "SAME") / 9,
            (_away_from_zero((2, 4, 6, 3)),),
        ),
    }
)


def cnn_loss(params, images, labels):
    """Two convolutions with relu, average and max pooling, a dense head, cross-entropy."""
    h = images
    for w, b in params["convs"]:
        h = lax.conv_general_dilated(
            h, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        h = jax.nn.relu(h + b)
        h = lax.reduce_window(h, 0.0, lax.add, (1, 2, 2, 1), (1, 2, 2, 1), "VALID") / 4
    h = lax.reduce_window(h, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "SAME")
    logits = h.reshape(h.shape[0], -1) @ params["dense"]
    log_p = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(log_p, labels[:, None], axis=1))


def cnn_params(key, channels=(3, 4, 6), classes=5, size=8):
    keys = jax.random.split(key, len(channels))
    convs = [
        (jax.random.normal(k, (3, 3, a, b), jnp.float64) / (3 * a**0.5), jnp.full((b,), 0.05))
        for k, a, b in zip(keys, channels, channels[1:])
    ]
    side = size // 2 ** len(convs) // 2
    dense = jax.random.normal(keys[-1], (side * side * channels[-1], classes)) / 4
    return {"convs": convs, "dense": dense}


CNN = (
    cnn_params(KEY),
    jax.random.normal(jax.random.fold_in(KEY, 1), (4, 8, 8, 3), jnp.float64),
    jnp.array([0, 3, 1, 4]),
)


def test_a_small_cnn_with_integer_labels():
    params, images, labels = CNN
    loss = lambda p: cnn_loss(p, images, labels)
    _check(loss, (params,))
    assert_trees_close(jax.jit(adlab.grad(loss))(params), jax.grad(loss)(params), MODEL)


def _check(fun, args):
    leaves, tree = jax.tree.flatten(args)
    keys = jax.random.split(KEY, len(leaves))
    dirs = jax.tree.unflatten(
        tree, [jax.random.normal(k, a.shape, a.dtype) for k, a in zip(keys, leaves)]
    )
    assert_trees_close(adlab.jvp(fun, args, dirs), jax.jvp(fun, args, dirs), MODEL)
    out, pullback = adlab.vjp(fun, *args)
    ref_out, ref_pullback = jax.vjp(fun, *args)
    ct = jax.tree.map(lambda o: jnp.cos(jnp.arange(o.size, dtype=o.dtype)).reshape(o.shape), out)
    assert_trees_close(out, ref_out, MODEL)
    assert_trees_close(pullback(ct), ref_pullback(ct), MODEL)

    def pulled(impl):
        return lambda *x: impl.vjp(fun, *x)[1](ct)

    ours = adlab.jvp(pulled(adlab), args, dirs)
    assert_trees_close(ours, jax.jvp(pulled(jax), args, dirs), MODEL_SECOND_ORDER)


@pytest.mark.parametrize("name", sorted(CASES))
def test_equal_to_jax_to_second_order(name):
    fun, args = CASES[name]
    _check(fun, args)


def test_every_activation_of_jax_nn_is_covered():
    """The activations listed here are every elementwise activation jax.nn exports."""
    exported = {n for n in dir(jax.nn) if not n.startswith("_")}
    assert set(ACTIVATIONS) <= exported
    others = {  # not elementwise activations: covered by their own cases or not functions
        "dot_product_attention", "get_scaled_dot_general_config", "glu", "identity",
        "initializers", "log1mexp", "log_softmax", "logmeanexp", "logsumexp", "one_hot",
        "scaled_dot_general", "scaled_matmul", "softmax", "standardize", "normalize",
    }  # fmt: skip
    missing = exported - set(ACTIVATIONS) - others
    assert not missing, f"jax.nn exports functions this file does not cover: {sorted(missing)}"


def test_out_of_bounds_index_follows_the_clamped_element_in_both_modes():
    """x[idx] under JAX's default mode clamps an out-of-bounds index. adlab's VJP is the
    transpose of JAX's own forward-mode Jacobian (JAX's VJP drops that cotangent instead)."""
    idx = jnp.array([0, 7, 2])  # 7 is clamped to 4
    f = lambda x: x[idx]
    x = jnp.arange(5.0)
    J = jax.jacfwd(f)(x)
    assert J[1, 4] == 1.0
    ones = jnp.ones(3)
    np.testing.assert_array_equal(adlab.vjp(f, x)[1](ones)[0], ones @ J)
    np.testing.assert_array_equal(adlab.jvp(f, (x,), (x,))[1], J @ x)
