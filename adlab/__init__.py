"""adlab: a laboratory for forward- and reverse-mode automatic differentiation on JAX.

Users write plain JAX. adlab takes the jaxpr (``jax.make_jaxpr``) and differentiates it
with its own JVP (forward) and VJP (reverse) interpreters over a closed set of primitives,
``adlab.PRIMITIVES``. ``adlab.reference`` offers the same functions computed by JAX.

``import adlab`` loads the core: the interpreters, the rules and this API. The lab
modules build on the core and load on first use: ``adlab.cost`` (FLOP, byte and tape
counts; XLA's cost analysis), ``adlab.bench`` (timing), ``adlab.chain`` (Jacobian
chains: cost models, optimal bracketing and a plan executor) and ``adlab.explanation``
(``adlab.explain``: a gradient explained step by step). The core never imports them.
"""

import importlib
import warnings

from . import _compat, reference
from . import calls as _calls  # noqa: F401  (registers the call-primitive handlers)
from . import control as _control  # noqa: F401  (registers cond, scan, while and checkpoint)
from . import decompositions as _decompositions  # noqa: F401  (registers svd)
from . import expansions as _expansions  # noqa: F401  (registers reduce and reduce_window)
from . import library as _library  # noqa: F401  (honours library-defined primitives)
from ._dtypes import DIFFERENTIABLE
from ._errors import UnsupportedDtypeError, UnsupportedParamError, UnsupportedPrimitiveError
from .derived import HVP_MODES, grad, hessian, hvp, jacfwd, jacrev, value_and_grad
from .forward import jvp, linearize
from .reverse import vjp
from .rules import supported

_LAB = ("bench", "chain", "cost")

if (_untested := _compat.untested_jax()) is not None:
    warnings.warn(_untested, stacklevel=2)


def explain(fun, *primals, tangents=None, cotangent=None):
    """Evaluates ``fun(*primals)`` once and explains its derivatives, step by step.

    A lab tool (``adlab.explanation``, loaded on first use): ``forward_table()``,
    ``reverse_table()``, ``tape()``, ``code()``, ``graph(path)`` and ``cost()``. See
    ``adlab.explanation.explain`` for the arguments.
    """
    lab = importlib.import_module(f"{__name__}.explanation")  # loaded on first use, as the lab
    return lab.explain(fun, *primals, tangents=tangents, cotangent=cotangent)


def __getattr__(name):
    # The lab modules load on first use (PEP 562), so `import adlab` loads only the core.
    if name in _LAB:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


PRIMITIVES: frozenset[str] = supported()
"""The names of the primitives adlab differentiates (the set is closed under its rules)."""

__all__ = [
    "DIFFERENTIABLE",
    "HVP_MODES",
    "PRIMITIVES",
    "UnsupportedDtypeError",
    "UnsupportedParamError",
    "UnsupportedPrimitiveError",
    "bench",
    "chain",
    "cost",
    "explain",
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
