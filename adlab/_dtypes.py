"""adlab's one dtype policy: which values carry a derivative, and of what dtype.

Every interpreter, the tape, the call handlers and the input checks ask this module, and
no other place decides. It follows JAX's primal-to-tangent dtype map:

* float16, bfloat16, float32 and float64 carry a derivative of their own dtype;
* integers, booleans, float0 and PRNG keys carry none (their tangent is ``float0``);
* every other inexact dtype (complex64, complex128, the float8 family...) would carry a
  derivative that adlab's rules do not compute, so a derivative flowing into or out of
  such a value raises :class:`UnsupportedDtypeError`. It is never treated as "no
  derivative", which would silently turn a real gradient into zero.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import dtypes, lax

from ._errors import UnsupportedDtypeError

DIFFERENTIABLE = frozenset(
    jnp.dtype(d) for d in (jnp.float16, jnp.bfloat16, jnp.float32, jnp.float64)
)
"""The dtypes whose values adlab differentiates."""


def dtype_of(x):
    """The dtype of an array, an aval, or a Python scalar (as JAX would convert it)."""
    return x.dtype if hasattr(x, "dtype") else jnp.result_type(x)


def carries_derivative(x, origin: str = "a value", primitive: str | None = None) -> bool:
    """Whether ``x`` (an array, aval or scalar) carries a derivative.

    Args:
      x: the value, or its aval.
      origin: words naming where the value comes from, for the error message.
      primitive: the primitive that produced it, if any (kept on the error).

    Returns:
      True for the differentiable float dtypes, False for integers, booleans, float0 and
      keys.

    Raises:
      UnsupportedDtypeError: for any other inexact dtype (complex, float8...). Call this
        only where a derivative would actually flow, so that such values are refused
        exactly where adlab would otherwise have to differentiate them.
    """
    dt = dtype_of(x)
    if dt in DIFFERENTIABLE:
        return True
    if dtypes.issubdtype(dt, np.inexact):
        kind = "complex" if dtypes.issubdtype(dt, np.complexfloating) else f"{dt}"
        raise UnsupportedDtypeError(
            f"adlab does not differentiate {kind} values, and a derivative would flow into "
            f"or out of one here: {origin} has dtype {dt}. adlab differentiates "
            "float16, bfloat16, float32 and float64. Keep the differentiated computation "
            "real (e.g. split a complex number into its real and imaginary parts), or use "
            "jax.grad / jax.jvp, which support complex numbers.",
            primitive,
        )
    return False


def tangent_dtype(x):
    """JAX's tangent dtype for ``x``: its own dtype if it carries a derivative, else float0."""
    return dtype_of(x) if carries_derivative(x) else dtypes.float0


def zero_tangent(x):
    """A zero tangent (or cotangent) for ``x``: zeros of ``x``'s dtype, or float0 zeros."""
    if carries_derivative(x):
        return lax.full_like(x, 0) if hasattr(x, "dtype") else jnp.zeros((), dtype_of(x))
    return np.zeros(jnp.shape(x), dtypes.float0)
