"""Shared test helpers: dtype-keyed tolerances and pytree comparison."""

import jax
import jax.numpy as jnp
import numpy as np

# float64 equivalence with JAX is tight; float32 is looser (STYLE.md).
RTOL = {jnp.dtype("float64"): 1e-10, jnp.dtype("float32"): 1e-5}
ATOL = {jnp.dtype("float64"): 1e-12, jnp.dtype("float32"): 1e-6}


def assert_trees_close(actual, expected, dtype=None, scale=1.0):
    """Asserts two pytrees have the same structure, shapes, dtypes and close values."""
    assert jax.tree.structure(actual) == jax.tree.structure(expected)
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected)):
        a, e = np.asarray(a), np.asarray(e)
        assert a.shape == e.shape, (a.shape, e.shape)
        assert a.dtype == e.dtype, (a.dtype, e.dtype)
        if e.dtype == jax.dtypes.float0:
            continue
        d = jnp.dtype(dtype or e.dtype)
        np.testing.assert_allclose(a, e, rtol=scale * RTOL[d], atol=scale * ATOL[d])


def primitives_in(jaxpr) -> set:
    """The names of every primitive in a jaxpr, nested jaxprs included."""
    names = set()
    for eqn in jaxpr.eqns:
        names.add(eqn.primitive.name)
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            names |= primitives_in(sub)
    return names
