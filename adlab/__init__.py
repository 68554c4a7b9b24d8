"""adlab: a laboratory for forward- and reverse-mode automatic differentiation on JAX.

Users write plain JAX. adlab takes the jaxpr (``jax.make_jaxpr``) and differentiates it
with its own JVP (forward) and VJP (reverse) interpreters over a closed set of primitives,
``adlab.PRIMITIVES``. ``adlab.reference`` offers the same functions computed by JAX.

Submodules: ``adlab.cost`` (FLOP, byte and tape counts; XLA's cost analysis),
``adlab.bench`` (timing), ``adlab.chain`` (Jacobian chains: cost models, optimal
bracketing and a plan executor), ``adlab.docs`` (README sections generated from the code).
"""

from . import bench, chain, cost, reference
from .derived import HVP_MODES, grad, hessian, hvp, jacfwd, jacrev, value_and_grad
from .forward import jvp, linearize
from .reverse import vjp
from .rules import UnsupportedPrimitiveError, supported

PRIMITIVES: frozenset[str] = supported()
"""The names of the primitives adlab differentiates (the set is closed under its rules)."""

__all__ = [
    "HVP_MODES",
    "PRIMITIVES",
    "UnsupportedPrimitiveError",
    "bench",
    "chain",
    "cost",
    "grad",
    "hessian",
    "hvp",
    "jacfwd",
    "jacrev",
    "jvp",
    "linearize",
    "reference",
    "value_and_grad",
    "vjp",
]
