"""dot_general's ``precision``: every form JAX accepts is passed on exactly as JAX's rules do.

JAX's JVP of a dot_general is the same dot_general on a tangent, and its transposes
(``_dot_general_transpose_lhs/rhs``) pass ``precision`` and ``preferred_element_type`` on
unchanged. adlab's rules must emit the same: each test lists the ``precision`` of every
dot_general in the jaxpr of adlab's derivative and of JAX's, and the two lists must be equal,
as must the values. A preset the backend cannot run (XLA:CPU before JAX 0.12.1 has no
F16_F16_F32 kernel, for example) fails in adlab as it fails in ``jax.jit(jax.grad(f))``, with a
note that says why eager JAX can differ.
"""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import adlab

P, A = lax.Precision, lax.DotAlgorithmPreset

PRECISIONS = {
    "None": None,
    "DEFAULT": P.DEFAULT,
    "HIGH": P.HIGH,
    "HIGHEST": P.HIGHEST,
    "'highest'": "highest",
    "(HIGHEST, DEFAULT)": (P.HIGHEST, P.DEFAULT),
    **{f"preset {p.name}": p for p in A},
}


def _dot_precisions(jaxpr) -> list[str]:
    """The ``precision`` of every dot_general in a jaxpr, nested jaxprs included, sorted."""
    found = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "dot_general":
            found.append(repr(eqn.params["precision"]))
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            found += _dot_precisions(sub)
    return sorted(found)


def _loss(precision):
    """A batched contraction (batch and transposed axes: both transposes are non-trivial)."""

    def f(x, w):
        y = lax.dot_general(x, w, (((2,), (1,)), ((0,), (0,))), precision=precision)
        return jnp.tanh(y)

    return f


def _inputs(dtype):
    kx, kw, kt, kc = jax.random.split(jax.random.key(3), 4)
    x = jax.random.normal(kx, (2, 3, 5), dtype)
    w = jax.random.normal(kw, (2, 5, 4), dtype)
    tx, tw = jax.random.normal(kt, x.shape, dtype), jax.random.normal(kc, w.shape, dtype)
    ct = jax.random.normal(kc, (2, 3, 4), dtype)
    return x, w, tx, tw, ct


def _derivatives(ad, f, x, w, tx, tw, ct):
    """The jvp, the vjp and a second-order product (reverse over forward) of f."""
    jvp = ad.jvp(f, (x, w), (tx, tw))
    out, pullback = ad.vjp(f, x, w)
    second = ad.vjp(lambda x, w: ad.jvp(f, (x, w), (tx, tw))[1], x, w)[1](ct)
    return jvp, (out, pullback(ct)), second


def _runs_under_jit(fun, *args):
    """JAX's jitted result, or the ValueError the backend raises for a preset it lacks."""
    try:
        return jax.jit(fun)(*args), None
    except ValueError as err:
        return None, err


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", PRECISIONS)
def test_precision_passed_on_as_jax_does(name, dtype):
    f, args = _loss(PRECISIONS[name]), _inputs(jnp.dtype(dtype))
    ours = jax.make_jaxpr(lambda *a: _derivatives(adlab, f, *a))(*args)
    theirs = jax.make_jaxpr(lambda *a: _derivatives(jax, f, *a))(*args)
    assert _dot_precisions(ours.jaxpr) == _dot_precisions(theirs.jaxpr)
    # 2 jvp + 1 primal + 2 transposes at first order; the second order adds more.
    assert len(_dot_precisions(ours.jaxpr)) >= 5
    want, refused = _runs_under_jit(lambda *a: _derivatives(jax, f, *a), *args)
    if refused is not None:  # a preset this backend has no kernel for: adlab fails as jit does
        with pytest.raises(ValueError) as eager:
            _derivatives(adlab, f, *args)
        with pytest.raises(ValueError) as jitted:
            jax.jit(lambda *a: _derivatives(adlab, f, *a))(*args)
        assert str(eager.value) == str(jitted.value) == str(refused)
        # Eagerly, the note names the equation adlab was evaluating (under jit, XLA refuses).
        assert "'dot_general'" in "\n".join(getattr(eager.value, "__notes__", [""]))
        return
    # Same products with the same precision, so the values are JAX's to rounding: adlab
    # sums a product's terms (x' w + x w') in its own order, and entries of y that cancel
    # carry the rounding of the terms. Measured over every precision here, normwise (the
    # largest error over the largest entry): float64 4.6e-16 (2.1 ulp); float32 1.0e-7
    # (0.9 ulp), except the presets that round the operands to bfloat16, 8.3e-7 (7 ulp, on
    # JAX 0.12.1): one ulp of float32 in an operand can move its bfloat16 rounding.
    ulps = 16 if name.startswith("preset BF16") else 4
    for got in (
        _derivatives(adlab, f, *args),
        jax.jit(lambda *a: _derivatives(adlab, f, *a))(*args),
    ):
        _normwise_close(got, want, ulps)


def _normwise_close(actual, expected, ulps):
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True):
        assert (a.shape, a.dtype) == (e.shape, e.dtype)
        a, e, eps = np.asarray(a, np.float64), np.asarray(e, np.float64), jnp.finfo(a.dtype).eps
        assert np.max(np.abs(a - e)) <= ulps * eps * np.max(np.abs(e)), np.max(np.abs(a - e))


def test_float16_attention_as_under_jit():
    """float16 attention asks for the F16_F16_F32 preset, which XLA:CPU lacks before JAX 0.12.1.

    There eager ``jax.grad`` succeeds only because ``jax.nn.dot_product_attention`` catches the
    error while its einsum runs and retries with ``precision=None``; ``jax.jit(jax.grad(f))``
    traces first and fails. adlab traces first too, so it fails as jit does, and its error
    carries a note that names the equation and says so. Where the backend runs the preset,
    adlab's gradient is JAX's.
    """
    keys = jax.random.split(jax.random.key(0), 3)
    q, k, v = (jax.random.normal(s, (2, 5, 3, 8), jnp.float16) for s in keys)
    f = lambda q: jnp.sum(jax.nn.dot_product_attention(q, k, v).astype(jnp.float32))
    assert np.all(np.isfinite(jax.grad(f)(q)))  # eager JAX, with or without its fallback
    want, refused = _runs_under_jit(jax.grad(f), q)
    if refused is None:
        _normwise_close(adlab.grad(f)(q), want, ulps=1)  # measured: equal (JAX 0.12.1)
        return
    assert "F16_F16_F32" in str(refused)
    with pytest.raises(ValueError) as ours:
        adlab.grad(f)(q)
    assert str(ours.value) == str(refused)
    note = "\n".join(getattr(ours.value, "__notes__", []))
    assert "'dot_general'" in note and "test_precision.py" in note
    assert "as jax.jit does" in note


@pytest.mark.skipif(
    "reduction_order" not in inspect.signature(lax.dot_general).parameters,
    reason="JAX before 0.12.1 has no reduction_order",
)
@pytest.mark.parametrize("order", ["linear", "unordered"])
def test_reduction_order_is_refused(order):
    """JAX 0.12.1's ``reduction_order`` (a summation order) is a param adlab does not handle.

    JAX's own JVP keeps it and its transpose drops it; adlab refuses it rather than guess.
    """
    w = jnp.ones((4, 2))
    f = lambda x: jnp.sum(
        jnp.sin(lax.dot_general(x, w, (((1,), (0,)), ((), ())), reduction_order=order))
    )
    with pytest.raises(adlab.UnsupportedParamError, match="reduction_order"):
        adlab.grad(f)(jnp.ones((3, 4)))
    with pytest.raises(adlab.UnsupportedParamError, match="reduction_order"):
        adlab.jvp(f, (jnp.ones((3, 4)),), (jnp.ones((3, 4)),))
