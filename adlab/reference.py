"""The same API as adlab, computed by JAX itself.

``jvp``, ``vjp``, ``linearize``, ``grad``, ``value_and_grad``, ``jacfwd``, ``jacrev`` and
``hessian`` are JAX's own functions. JAX has no ``hvp``; ``hvp`` here is the four
compositions of JAX's autodiff cookbook (see ``adlab.derived.make_hvp``) over
``jax.jvp`` and ``jax.grad``. A test or experiment can swap ``adlab`` for
``adlab.reference`` and nothing else changes.
"""

import jax
from jax import grad, hessian, jacfwd, jacrev, jvp, linearize, value_and_grad, vjp

from .derived import HVP_MODES, make_hvp

hvp = make_hvp(jax.jvp, jax.grad)
hvp.__name__ = "hvp"

__all__ = [
    "HVP_MODES",
    "grad",
    "hessian",
    "hvp",
    "jacfwd",
    "jacrev",
    "jvp",
    "linearize",
    "value_and_grad",
    "vjp",
]
