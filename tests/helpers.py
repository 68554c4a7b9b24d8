"""Shared test helpers: dtype-keyed tolerances and pytree comparison.

Every tolerance is a ``{dtype: (rtol, atol)}`` table, checked elementwise as
``|actual - expected| <= atol + rtol * |expected|``. Each entry sits a few times above the
largest error measured for it across the whole suite (JAX 0.10.2, XLA:CPU; the measured
numbers are in the comments), so a test fails when adlab's arithmetic changes, not only when
it is wrong by orders of magnitude. ``rtol`` carries the comparison; ``atol`` only covers
entries that cancel to about zero, whose error is that of the terms that cancelled.

A test that needs more than its table gives says why, with its own measured error.
"""

import jax
import jax.numpy as jnp
import numpy as np

F64, F32, F16, BF16 = (jnp.dtype(d) for d in ("float64", "float32", "float16", "bfloat16"))

# First derivatives (and primal outputs) against JAX's, same dtype, same point.
# float64: max relative error 9.3e-16 (4 ulp; test_nesting, test_models), 5.6e-16 in the
#   primitive table; max absolute 8.9e-16 on values up to 4.2. At rtol 2e-15 the largest
#   atol needed was 2.3e-17, by entries of test_compositions' random jvps that cancel.
# float32: max relative 9.8e-7 (8 ulp; tanh, div), max absolute 9.5e-7 on values up to 8.2;
#   at rtol 2e-6 no entry needed atol. When test_float32's primitives ran eagerly, tanh's
#   vjp needed 7.1e-8.
# float16 (eps 9.8e-4): max absolute 2.0e-3 on values up to 6.2 (half an ulp there);
#   relative 1.2e-2 on an entry where tanh's 1 - y^2 cancels. At rtol 2e-3 the largest atol
#   needed was 3.8e-4.
# bfloat16 (eps 7.8e-3): max relative 7.2e-3 (div; one ulp), max absolute 7.8e-3 on values
#   up to 4.9; at rtol 1e-2 no entry needed atol.
# Most low-precision rows agree bit for bit; those that do not (log, log1p, tanh, sqrt,
# rsqrt, div) round an intermediate (1 - y^2, 1/y) that JAX's rule does not.
FIRST_ORDER = {
    F64: (2e-15, 1e-16),
    F32: (2e-6, 2e-7),
    F16: (2e-3, 1e-3),
    BF16: (1.6e-2, 8e-3),
}

# Second and third derivatives (primitive table, test_nesting, test_float32's primitive
# HVPs): one more rounded product per order, and sums taken in another order than JAX's.
# float64: max relative 3.4e-15 (div; 15 ulp); 2.0e-15 for a vmapped HVP, 9.3e-16 at third
#   order. At rtol 5e-15 no entry needed atol.
# float32: max relative 8.9e-7 (tanh) in the primitive table; max absolute 4.8e-7 on values
#   up to 6.2 in test_float32, where an entry of log's HVP cancels to -1.1e-3. At rtol 2e-6
#   the largest atol needed was 8.4e-8 (3.0e-7 when those HVPs ran eagerly).
# float16: max absolute 2.0e-3, about one ulp of the largest values (up to 2.5); relative
#   1.2e-1 on entries that cancel (tanh). At rtol 4e-3 the largest atol needed was 1.9e-3.
# bfloat16: max relative 3.5e-2 (div; 4.5 ulp), absolute 1.6e-2 on values up to 1.8; at
#   rtol 3e-2 the largest atol needed was 1.5e-4.
SECOND_ORDER = {
    F64: (1e-14, 1e-16),
    F32: (2e-6, 5e-7),
    F16: (4e-3, 4e-3),
    BF16: (6e-2, 1.6e-2),
}

# Whole models (test_models.py, test_float32.py, the README example): sums of tens of
# products, with entries up to 1.3e3 (Rosenbrock), so an entry that cancels carries the
# absolute error of large terms.
# First order (grad, jvp, vjp, jacfwd, jacrev, value_and_grad):
# float64: max relative 9.3e-16 and max absolute 1.1e-13 on values up to 3.5e2; at rtol
#   3e-15 the largest atol needed was 4.6e-17 (README example, an entry that cancels).
# float32 (x64 off): max absolute 3.0e-8 on values up to 0.27, relative 4.9e-6 on entries
#   that cancel; at rtol 2e-6 the largest atol needed was 8.2e-10.
MODEL = {
    F64: (3e-15, 1e-16),
    F32: (2e-6, 5e-9),
}
# Second order (hessian; every HVP mode of both engines, against each other and against the
# dense H v):
# float64: max absolute 4.6e-13 on values up to 1.3e3, relative 4.8e-13 on entries that
#   cancel; at rtol 1e-14 the largest atol needed was 1.2e-16 (dense H v).
# float32: max absolute 4.8e-7 on values up to 2.3, relative 1.7e-5 on entries that cancel;
#   at rtol 2e-6 the largest atol needed was 5.8e-8.
MODEL_SECOND_ORDER = {
    F64: (1e-14, 5e-16),
    F32: (2e-6, 2e-7),
}

# Conv -> BatchNorm (training mode) -> max_pool gradients in float64 (test_jit_selection,
# test_flax), normwise over the whole gradient (assert_tree_normwise_close): the conv's bias
# gradient is zero in exact arithmetic (BatchNorm centres it away) and comes out as round-off,
# so no entrywise or leafwise tolerance fits it. Measured over batches 1 to 8 and the flax
# model, on JAX 0.10.2 and 0.12.1: at most 9.0e-16 of the largest entry, between adlab and JAX
# eager or jitted; JAX's own jitted and eager gradients differ by the same 9.0e-16.
CNN_NORMWISE = 2e-15

TOL = FIRST_ORDER  # the default


def assert_trees_close(actual, expected, tol=None, dtype=None):
    """Asserts two pytrees have the same structure, shapes, dtypes and close values.

    Args:
      actual, expected: the pytrees.
      tol: a ``{dtype: (rtol, atol)}`` table (default ``FIRST_ORDER``).
      dtype: look the tolerance up under this dtype instead of each leaf's own.
    """
    tol = TOL if tol is None else tol
    assert jax.tree.structure(actual) == jax.tree.structure(expected), (
        jax.tree.structure(actual),
        jax.tree.structure(expected),
    )
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected)):
        a, e = np.asarray(a), np.asarray(e)
        assert a.shape == e.shape, (a.shape, e.shape)
        assert a.dtype == e.dtype, (a.dtype, e.dtype)
        if e.dtype == jax.dtypes.float0:
            continue
        if not jnp.issubdtype(e.dtype, jnp.inexact):
            np.testing.assert_array_equal(a, e)
            continue
        rtol, atol = tol[jnp.dtype(dtype or e.dtype)]
        # numpy has no bfloat16 arithmetic; every float dtype widens to float64 exactly.
        np.testing.assert_allclose(a.astype(np.float64), e.astype(np.float64), rtol=rtol, atol=atol)


def primitives_in(jaxpr) -> set:
    """The names of every primitive in a jaxpr, nested jaxprs included."""
    names = set()
    for eqn in jaxpr.eqns:
        names.add(eqn.primitive.name)
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            names |= primitives_in(sub)
    return names


def assert_tree_normwise_close(actual, expected, rtol):
    """max |actual - expected| <= rtol * max |expected|, both maxima over every leaf."""
    pairs = list(zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True))
    assert jax.tree.structure(actual) == jax.tree.structure(expected)
    for a, e in pairs:
        assert (a.shape, a.dtype) == (e.shape, e.dtype), (a.shape, a.dtype, e.shape, e.dtype)
    error = max(float(np.max(np.abs(np.asarray(a) - np.asarray(e)))) for a, e in pairs)
    scale = max(float(np.max(np.abs(np.asarray(e)))) for _, e in pairs)
    assert error <= rtol * scale, f"normwise error {error / scale:.3g} > {rtol:g}"
