"""float32 as a user without x64 runs it: grad, jvp, vjp and every HVP mode, adlab against JAX.

conftest.py enables x64 for the whole suite, so each test turns it off with
``jax.enable_x64(False)``: Python scalars, ``jnp.arange``, ``one_hot`` and every weak type are
then float32, as they are by default, and each test checks that they really are. Inside,
adlab is compared with JAX in the same setting at the float32 tables of helpers.py. Each
result is also compared with JAX in float64 on the same (float32-representable) inputs, at
the accuracy float32 can reach, so that adlab and JAX agreeing on a wrong answer would fail.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import FIRST_ORDER, MODEL, MODEL_SECOND_ORDER, SECOND_ORDER, assert_trees_close
from test_models import MODELS, dense_hvp, direction

import adlab

F32, F64 = jnp.dtype("float32"), jnp.dtype("float64")

# float32 results against float64 ones on the same inputs, |f32 - f64| <= atol + rtol |f64|.
# This is float32's own accuracy, not an adlab-JAX difference: JAX's float32 results are off
# from float64 by as much (measured: the same max error on 7 of the 9 cases here, within a
# factor 1.8 either way on tanh and div). Measured for adlab: max absolute 1.1e-6 on values
# up to 25 (primitives), 3.2e-7 on values up to 2.3 (model HVPs); at rtol 1e-5 the largest
# atol needed was 3.0e-7 (an entry of log's HVP that cancels).
ACCURACY = {F32: (1e-5, 1e-6)}


def _all_float32(tree):
    leaves = jax.tree.leaves(tree)
    assert leaves and all(jnp.result_type(leaf) == F32 for leaf in leaves), jax.tree.map(
        jnp.result_type, tree
    )


def _to64(tree):
    return jax.tree.map(lambda a: np.asarray(a, np.float64), tree)


def _close_to_float64(ours, reference):
    """ours: a float32 result; reference: the same quantity computed by JAX in float64."""
    assert_trees_close(_to64(ours), reference, ACCURACY, dtype=F32)


# ---- models --------------------------------------------------------------------------------
# Each engine's results come out of one jitted call (one compilation per engine and model).

FLOAT32_MODELS = ["mlp", "attention"]


def _model(name):
    loss, params = MODELS[name](jax.random.key(len(name)), jnp.float32)
    return loss, params, direction(params)


def _model_results(impl, loss, params, v):
    """grad, jvp, vjp and every HVP mode of `loss` at params along v, by `impl`."""

    def results(p, v):
        one = jnp.ones((), jax.eval_shape(loss, p).dtype)
        first = {
            "grad": impl.grad(loss)(p),
            "jvp": impl.jvp(loss, (p,), (v,)),
            "vjp": impl.vjp(loss, p)[1](one / 2),
        }
        return first, {mode: impl.hvp(loss, (p,), (v,), mode=mode) for mode in adlab.HVP_MODES}

    return jax.jit(results)(params, v)


@pytest.mark.parametrize("name", FLOAT32_MODELS)
def test_model(name):
    with jax.enable_x64(False):
        loss, params, v = _model(name)
        _all_float32((params, v, loss(params), jnp.sum(jnp.arange(3.0))))
        ours, theirs = (_model_results(impl, loss, params, v) for impl in (adlab, adlab.reference))
        _all_float32((ours, theirs))
    assert_trees_close(ours[0], theirs[0], MODEL)
    for mode in adlab.HVP_MODES:
        assert_trees_close(ours[1][mode], theirs[1][mode], MODEL_SECOND_ORDER)

    # x64 back on: the same loss and point in float64 (float32 data widens exactly), with
    # the HVPs against the dense Hessian's H v.
    params64, v64 = _to64(params), _to64(v)
    first64 = jax.jit(
        lambda p, v: {
            "grad": jax.grad(loss)(p),
            "jvp": jax.jvp(loss, (p,), (v,)),
            "vjp": jax.vjp(loss, p)[1](jnp.float64(0.5)),
        }
    )(params64, v64)
    _close_to_float64(ours[0], first64)
    dense64 = dense_hvp(loss, params64, v64)
    for mode in adlab.HVP_MODES:
        _close_to_float64(ours[1][mode], dense64)


# ---- primitives ----------------------------------------------------------------------------

N = np.array([[-2, 0, 1, 3]], np.int32)  # a broadcast integer exponent

# name: (function, shapes, draw) with draw in {"normal", "positive", "nonzero"}
PRIMITIVES = {
    "sin": (jnp.sin, [(3, 4)], "normal"),
    "log": (jnp.log, [(3, 4)], "positive"),
    "tanh": (jnp.tanh, [(3, 4)], "normal"),
    "div (broadcast)": (jnp.divide, [(3, 1), (1, 4)], "nonzero"),
    "pow (broadcast int exponent)": (lambda x: x**N, [(3, 1)], "nonzero"),
    "dot_general": (jnp.matmul, [(3, 4), (4, 5)], "normal"),
    "reduce_max": (lambda x: jnp.max(x, axis=0), [(3, 4)], "normal"),
}


def _draw(rng, shape, kind):
    x = rng.standard_normal(shape)
    if kind == "positive":
        x = np.exp(x / 2)
    elif kind == "nonzero":
        x = np.sign(x) * (0.5 + np.abs(x))
    return jnp.asarray(x.astype(np.float32))


def _primitive_results(impl, fun, args, dirs, ct):
    """grad of sum(sin(fun)), fun's jvp and vjp, and every HVP mode, by `impl`."""
    loss = lambda *a: jnp.sum(jnp.sin(fun(*a)))  # a nonzero Hessian even for linear `fun`
    argnums = tuple(range(len(args)))
    first = {
        "grad": impl.grad(loss, argnums)(*args),
        "jvp": impl.jvp(fun, args, dirs),
        "vjp": impl.vjp(fun, *args)[1](ct),
    }
    hvp = impl.hvp if impl is not jax else adlab.reference.hvp
    return first, {mode: hvp(loss, args, dirs, mode=mode) for mode in adlab.HVP_MODES}


@pytest.mark.parametrize("name", list(PRIMITIVES))
def test_primitive(name):
    fun, shapes, kind = PRIMITIVES[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    with jax.enable_x64(False):
        args = tuple(_draw(rng, s, kind) for s in shapes)
        dirs = tuple(_draw(rng, s, "normal") for s in shapes)
        ct = _draw(rng, jax.eval_shape(fun, *args).shape, "normal")
        # Jitted, one compilation per engine (the primitive table runs float32 eagerly).
        ours, theirs = (
            jax.jit(functools.partial(_primitive_results, impl, fun))(args, dirs, ct)
            for impl in (adlab, jax)
        )
        _all_float32((args, dirs, ct, ours))
    assert_trees_close(ours[0], theirs[0], FIRST_ORDER)
    for mode in adlab.HVP_MODES:
        assert_trees_close(ours[1][mode], theirs[1][mode], SECOND_ORDER)

    reference = jax.jit(functools.partial(_primitive_results, jax, fun))(*_to64((args, dirs, ct)))
    _close_to_float64(ours[0], reference[0])
    for mode in adlab.HVP_MODES:
        _close_to_float64(ours[1][mode], reference[1]["fwd-over-rev"])
