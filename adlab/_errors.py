"""The errors adlab raises where it cannot compute a derivative correctly.

adlab never returns a derivative it cannot vouch for. Where one would be needed and adlab
has no correct way to compute it, it raises one of these, naming the operation, the
user's line, and what to do instead.
"""

from __future__ import annotations


class UnsupportedPrimitiveError(NotImplementedError):
    """A derivative had to flow through an operation adlab cannot differentiate.

    Attributes:
      primitive: the name of the JAX primitive (``None`` for a function input).
    """

    def __init__(self, message: str, primitive: str | None = None):
        super().__init__(message)
        self.primitive = primitive


class UnsupportedDtypeError(UnsupportedPrimitiveError):
    """A derivative would flow into or out of a value whose dtype adlab does not handle."""


class UnsupportedParamError(UnsupportedPrimitiveError):
    """A primitive carries a param value that adlab's rule for it does not handle."""


def where(eqn, call_site=None) -> str:
    """The user's line an equation came from.

    ``call_site`` is the outermost ``jit`` equation the equation was found in, if any:
    library code such as ``jnp.cumsum`` wraps its primitive in a jit, and the user's line
    is the call of that jit.
    """
    from jax._src import source_info_util  # only for a readable location

    for site in (eqn, call_site):
        if site is not None:
            text = source_info_util.summarize(site.source_info)
            if text:
                return text
    return "an unknown location"
