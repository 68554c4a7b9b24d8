"""What differs between the JAX releases adlab supports, in one place.

adlab reads jaxprs, and a few of the names it needs live in JAX's internals, or changed between
releases. Every such name is imported or adapted here, so that no version check is scattered
through the interpreters. Changes known from JAX 0.11's release notes and from other projects'
fixes for it:

- ``jit``'s ``inline`` param became an enum (``jax.Inline``) in 0.11.0. adlab walks every
  ``jit`` inline whatever that param says (``calls.Jit`` accepts any value), so nothing here.
- ``Jaxpr`` and ``ClosedJaxpr`` were merged in 0.11.1: ``closed.jaxpr`` still answers, but a
  closed jaxpr is no longer rebuilt with ``ClosedJaxpr(jaxpr, consts)``. ``with_consts`` does it
  on every release, and ``with_eqns`` replaces its equations.
- ``Zero``, ``SymbolicZero`` and ``summarize`` are imported from their public homes, which
  exist in 0.10 and 0.11; ``UnspecifiedValue`` has none, so it is found where each release keeps
  it. ``jax.checkpoint``'s primitive is read from JAX (``remat2`` in 0.10), whatever its name.
"""

from __future__ import annotations

from typing import Any

import jax
from jax._src.ad_checkpoint import remat_p

# JAX's pooling derivatives have no public home; adlab's pooling rules emit them as JAX does.
from jax._src.lax.windowed_reductions import select_and_gather_add_p, select_and_scatter_add_p
from jax.custom_derivatives import SymbolicZero
from jax.extend.source_info_util import summarize
from jax.interpreters.ad import Zero

checkpoint_name = remat_p.name  # jax.checkpoint's primitive: "remat2" in JAX 0.10

try:  # where JAX 0.10 and 0.11 define it
    from jax._src.named_sharding import UnspecifiedValue
except ImportError:  # pragma: no cover - older layouts re-export it from sharding_impls
    from jax._src.sharding_impls import UnspecifiedValue

__all__ = [
    "SymbolicZero",
    "UnspecifiedValue",
    "Zero",
    "checkpoint_name",
    "cotangent_aval",
    "select_and_gather_add_p",
    "select_and_scatter_add_p",
    "summarize",
    "with_consts",
    "with_eqns",
]


def cotangent_aval(x: Any) -> Any:
    """The abstract value of a cotangent of ``x`` (for a ``SymbolicZero``)."""
    aval = jax.typeof(x)
    to_ct = getattr(aval, "to_ct_aval", None) or aval.to_cotangent_aval  # 0.10: to_ct_aval
    return to_ct()


def with_consts(closed: Any, consts: list[Any]) -> Any:
    """The closed jaxpr `closed` with its constants replaced by `consts` (same jaxpr).

    Args:
      closed: a closed jaxpr, from ``jax.make_jaxpr``.
      consts: one value per constant of its jaxpr.

    Returns:
      The closed jaxpr over the new constants.
    """
    if hasattr(closed, "with_consts"):  # JAX >= 0.11.1: one Jaxpr type, carrying its consts
        return closed.with_consts(consts)
    return closed.replace(consts=consts)


def with_eqns(closed: Any, eqns: list[Any]) -> Any:
    """The closed jaxpr `closed` with its equations replaced by `eqns` (same variables)."""
    if hasattr(closed, "with_consts"):  # JAX >= 0.11.1: one Jaxpr type
        return closed.replace(eqns=eqns)
    return closed.replace(jaxpr=closed.jaxpr.replace(eqns=eqns))
