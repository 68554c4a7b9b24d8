"""Bad input raises a clear error that says what to change; nothing is silently wrong."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import adlab

X = jnp.linspace(0.0, 1.0, 3)


def test_grad_of_non_scalar_output():
    with pytest.raises(TypeError, match=r"scalar output.*shape\(s\) \[\(3,\)\]"):
        adlab.grad(jnp.sin)(X)


def test_grad_wrt_integer_or_boolean_input():
    with pytest.raises(TypeError, match="floating-point inputs.*int"):
        adlab.grad(lambda n: jnp.sum(n * 2.0))(jnp.arange(3))
    with pytest.raises(TypeError, match="floating-point inputs.*bool"):
        adlab.grad(lambda b: jnp.sum(jnp.where(b, 1.0, 0.0)))(jnp.array([True, False]))


def test_integer_argument_not_differentiated_is_fine():
    g = adlab.grad(lambda x, n: jnp.sum(x**2) * n, argnums=0)(X, 3)
    np.testing.assert_allclose(g, 6 * X)


def test_tangents_must_be_tuples():
    with pytest.raises(TypeError, match="tuple or list"):
        adlab.jvp(jnp.sin, X, X)


def test_tangent_structure_mismatch():
    with pytest.raises(TypeError, match="same pytree structure"):
        adlab.jvp(lambda a, b: a * b, (X, X), (X,))
    with pytest.raises(TypeError, match="same pytree structure"):
        adlab.jvp(lambda d: d["a"], ({"a": X},), ({"b": X},))


def test_tangent_shape_mismatch():
    with pytest.raises(ValueError, match=r"shape \(4,\).*shape \(3,\)"):
        adlab.jvp(jnp.sin, (X,), (jnp.ones(4),))


def test_tangent_dtype_mismatch():
    with pytest.raises(TypeError, match="dtype float32.*float64.*astype"):
        adlab.jvp(jnp.sin, (X,), (jnp.ones(3, jnp.float32),))


def test_integer_primal_needs_float0_tangent():
    with pytest.raises(TypeError, match="float0"):
        adlab.jvp(lambda n: n * 2, (jnp.arange(3),), (jnp.arange(3),))
    _, t = adlab.jvp(lambda n: n * 2, (jnp.arange(3),), (np.zeros(3, jax.dtypes.float0),))
    assert t.dtype == jax.dtypes.float0


def test_cotangent_shape_and_dtype():
    _, pullback = adlab.vjp(jnp.sin, X)
    with pytest.raises(ValueError, match=r"cotangent leaf 0 has shape \(2,\)"):
        pullback(jnp.ones(2))
    with pytest.raises(TypeError, match="dtype float32"):
        pullback(jnp.ones(3, jnp.float32))
    with pytest.raises(TypeError, match="structure"):
        pullback((jnp.ones(3), jnp.ones(3)))


@pytest.mark.parametrize(
    "fun, name, user_terms",
    [
        (
            lambda x: jnp.sum(
                lax.linalg.tridiagonal_solve(x, x + 4.0, x, jnp.ones_like(x)[:, None])
            ),
            "tridiagonal_solve",
            "lax.linalg.tridiagonal_solve",
        ),
        (
            lambda x: jnp.sum(jax.scipy.special.gammainc(2.0, x + 1.0)),
            "igamma",
            "jax.scipy.special.gammainc",
        ),
        (
            lambda x: jnp.sum(jax.pure_callback(np.sin, jax.ShapeDtypeStruct((3,), x.dtype), x)),
            "pure_callback",
            "jax.pure_callback",
        ),
    ],
)
def test_unsupported_primitive_is_loud(fun, name, user_terms):
    # The error names the primitive, the user code that emits it, the user's line, and
    # where the supported set is listed; the exception carries the primitive's name.
    for run in (lambda: adlab.grad(fun)(X), lambda: adlab.jvp(fun, (X,), (X,))):
        with pytest.raises(adlab.UnsupportedPrimitiveError) as info:
            run()
        message = str(info.value)
        assert info.value.primitive == name
        assert f"'{name}'" in message and user_terms in message, message
        assert "test_errors.py" in message and "The primitive set" in message


def test_unsupported_primitive_on_constants_is_fine():
    # A primitive outside the set is evaluated, not differentiated, where no derivative
    # flows through it.
    idx = jnp.argsort(jnp.array([3.0, 1.0, 2.0]))
    g = adlab.grad(lambda x: jnp.sum(x * jnp.cumsum(jnp.ones(3))[idx]))(X)
    np.testing.assert_allclose(g, jnp.cumsum(jnp.ones(3))[idx])


def test_custom_vjp_in_forward_mode():
    @jax.custom_vjp
    def f(x):
        return jnp.sin(x)

    f.defvjp(lambda x: (f(x), jnp.cos(x)), lambda c, g: (c * g,))
    with pytest.raises(TypeError, match="forward-mode.*custom_vjp"):
        adlab.jvp(f, (X,), (X,))
    np.testing.assert_allclose(adlab.grad(lambda x: jnp.sum(f(x)))(X), jnp.cos(X))


def test_bad_argnums_and_hvp_mode():
    with pytest.raises(ValueError, match="argnums"):
        adlab.grad(lambda x: jnp.sum(x), argnums=2)(X)
    with pytest.raises(ValueError, match="unknown mode"):
        adlab.hvp(lambda x: jnp.sum(x**2), (X,), (X,), mode="sideways")


def test_has_aux_must_return_a_pair():
    with pytest.raises(TypeError, match="pair"):
        adlab.grad(lambda x: jnp.sum(x), has_aux=True)(X)


def test_the_payload_of_an_unstable_sort_is_refused():
    # With is_stable=False, the order of tied keys is the backend's choice, so the payload's
    # derivative is not defined by the program; differentiating only the keys is fine.
    keys = jnp.array([1.0, 0.0, 1.0])
    payload = lambda y: jax.lax.sort((keys, y), num_keys=1, is_stable=False)[1]
    with pytest.raises(adlab.UnsupportedParamError, match="is_stable"):
        adlab.vjp(payload, X)[1](X)
    with pytest.raises(adlab.UnsupportedParamError, match="is_stable"):
        adlab.jvp(payload, (X,), (X,))
    sort_keys = lambda x: jax.lax.sort((x, jnp.arange(3)), num_keys=1, is_stable=False)[0]
    assert_same = np.testing.assert_array_equal
    assert_same(adlab.jvp(sort_keys, (X,), (X,))[1], jax.jvp(sort_keys, (X,), (X,))[1])


def test_a_scatter_multiply_refuses_the_derivative_of_repeated_updates():
    # With repeated indices, each update's derivative is the product of the others at its
    # position; JAX does not compute it, and neither does adlab. The operand's is fine.
    idx = jnp.array([0, 2, 2])
    fun = lambda x, y: jnp.sum(x.at[idx].multiply(y))
    y = jnp.array([2.0, -1.0, 3.0])
    with pytest.raises(NotImplementedError):
        jax.grad(fun, 1)(X, y)
    for run in (
        lambda: adlab.grad(fun, 1)(X, y),
        lambda: adlab.jvp(lambda y: fun(X, y), (y,), (y,)),
    ):
        with pytest.raises(adlab.UnsupportedParamError, match=r"x.at\[idx\].multiply.*unique"):
            run()
    np.testing.assert_allclose(adlab.grad(fun)(X, y), jax.grad(fun)(X, y), rtol=0, atol=0)


@pytest.mark.parametrize(
    "fun",
    [
        lambda x: jax.lax.reduce(x, jnp.min(x) * 0.0, lambda a, b: a + b * b, (0,)),
        lambda x: jnp.sum(
            jax.lax.reduce_window(x, jnp.min(x) * 0.0, jax.lax.mul, (2,), (1,), "VALID")
        ),
    ],
    ids=["reduce", "reduce_window"],
)
def test_the_derivative_of_a_reductions_init_value_is_refused(fun):
    # XLA may apply the init value any number of times, so its derivative is not defined;
    # JAX refuses it too.
    with pytest.raises((NotImplementedError, TypeError)):
        jax.jvp(fun, (X,), (X,))
    for run in (lambda: adlab.grad(fun)(X), lambda: adlab.jvp(fun, (X,), (X,))):
        with pytest.raises(adlab.UnsupportedPrimitiveError, match="init value.*constant"):
            run()


def test_an_operation_outside_the_set_inside_a_reduction_names_the_users_line():
    fun = lambda x: jax.lax.reduce(x, 0.0, lambda a, b: a + jax.lax.igamma(2.0, b), (0,))
    for run in (lambda: adlab.grad(fun)(X + 1), lambda: adlab.jvp(fun, (X + 1,), (X,))):
        with pytest.raises(adlab.UnsupportedPrimitiveError, match="'igamma'.*test_errors.py"):
            run()
