"""What differs between the JAX releases adlab supports, in one place.

adlab reads jaxprs, and a few of the names it needs live in JAX's internals, or changed between
releases. Every such name is imported or adapted here, so that no version check is scattered
through the interpreters. Changes known from JAX 0.11's release notes and from other projects'
fixes for it:

- ``jit``'s ``inline`` param became an enum (``jax.Inline``) in 0.11.0. adlab walks every
  ``jit`` inline whatever that param says (``calls.Jit`` accepts any value), so nothing here.
- ``scan``'s ``num_consts`` and ``num_carry`` became the flat trees ``ft_in`` and ``ft_out``
  in 0.11.0: ``SCAN_COUNT_PARAMS`` names them and ``scan_counts`` reads both forms.
- A ``custom_vjp``'s bwd returns ``(cotangents, logs)`` since 0.11.0 (``defvjp_with_logs``);
  ``bwd_cotangents`` drops the logs, as a plain ``f_vjp(ct)`` call in JAX does.
- An open jaxpr reports no ``constvars`` since 0.11.1: its constants sit at the front of its
  ``invars``. ``open_inputs`` splits them off on every release.
- ``Jaxpr`` and ``ClosedJaxpr`` were merged in 0.11.0: ``closed.jaxpr`` still answers, but a
  closed jaxpr is no longer rebuilt with ``ClosedJaxpr(jaxpr, consts)``. ``with_consts`` does it
  on every release, and ``with_eqns`` replaces its equations.
- ``gather`` and the ``scatter`` family carry ``out_sharding`` since 0.12.1. Like every other
  primitive's sharding param it is accepted only at its default, ``None`` (the rules' own
  ``params``), so nothing here. ``dot_general``, ``reduce_sum`` and ``reduce_max`` may carry
  0.12.1's ``reduction_order``, which no rule accepts: adlab refuses it.
- ``Zero``, ``SymbolicZero`` and ``summarize`` are imported from their public homes, which
  exist in 0.10 and 0.11; ``UnspecifiedValue`` has none, so it is found where each release keeps
  it. ``jax.checkpoint``'s primitive is read from JAX (``remat2`` in 0.10), whatever its name.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import jax
from jax._src.ad_checkpoint import remat_p

# scan's implementation tells which form of its counts the installed JAX uses.
from jax._src.lax.control_flow.loops import _scan_impl

# JAX's pooling derivatives have no public home; adlab's pooling rules emit them as JAX does.
from jax._src.lax.windowed_reductions import select_and_gather_add_p, select_and_scatter_add_p

# A mutable reference's type (jax.new_ref) has no public home.
from jax._src.state.types import AbstractRef
from jax.custom_derivatives import SymbolicZero
from jax.extend.source_info_util import summarize
from jax.interpreters.ad import Zero

checkpoint_name = remat_p.name  # jax.checkpoint's primitive: "remat2" in JAX 0.10

try:  # where JAX 0.10 and 0.11 define it
    from jax._src.named_sharding import UnspecifiedValue
except ImportError:  # pragma: no cover - older layouts re-export it from sharding_impls
    from jax._src.sharding_impls import UnspecifiedValue

__all__ = [
    "EXPERIMENTAL_FLAGS",
    "SCAN_COUNT_PARAMS",
    "SymbolicZero",
    "UnspecifiedValue",
    "Zero",
    "checkpoint_name",
    "convert_like",
    "cotangent_aval",
    "select_and_gather_add_p",
    "select_and_scatter_add_p",
    "bwd_cotangents",
    "experimental_flags_on",
    "has_primitive",
    "is_reference",
    "open_inputs",
    "scan_counts",
    "summarize",
    "with_consts",
    "with_eqns",
]


# --- a cast that keeps a Python scalar's weak type (jax.jacfwd / jacrev's own), every release ---


def convert_like(x, example):
    """``x`` cast to ``example``'s dtype and weak type, as JAX's jacfwd and jacrev cast their
    blocks (a Python scalar's Jacobian is weakly typed). JAX has no public cast that sets the
    weak type."""
    from jax._src.dtypes import is_weakly_typed
    from jax._src.lax.lax import _convert_element_type

    dtype = jax.numpy.result_type(example)
    return _convert_element_type(x, dtype, weak_type=is_weakly_typed(example))


# --- mutable references (jax.new_ref), in every release --------------------------------------


def is_reference(aval: Any) -> bool:
    """Whether a jaxpr variable's type is a mutable reference (``Ref{f32[3]}``)."""
    return isinstance(aval, AbstractRef)


# --- experimental forms of scan, checkpoint, custom_vjp and custom_jvp (off by default) --------
# With these options on, JAX emits `Scan3` over mutable references and `call_hi_primitive` in
# place of scan, remat2, custom_vjp_call and custom_jvp_call. JAX 0.10 has the first three,
# 0.11 all four. adlab reads the default forms.

EXPERIMENTAL_FLAGS = ("jax_scan3", "jax_remat3", "jax_custom_vjp3", "jax_custom_jvp3")


def experimental_flags_on() -> list[str]:
    """Those of the experimental options that the installed JAX has and that are on."""
    return [flag for flag in EXPERIMENTAL_FLAGS if jax.config.values.get(flag, False)]


# --- primitives that only newer JAX has: log2, one_minus_square (0.11), polynomial (0.12) -----


def has_primitive(name: str) -> bool:
    """Whether the installed JAX defines the lax primitive ``name``; its rule is then registered."""
    from jax._src.lax import lax as lax_internal

    return hasattr(lax_internal, f"{name}_p")


# --- scan's counts: num_consts/num_carry (0.10), the flat trees ft_in/ft_out (0.11.0) -------

_SCAN_FLAT_TREES = "ft_in" in inspect.signature(_scan_impl).parameters
SCAN_COUNT_PARAMS = ("ft_in", "ft_out") if _SCAN_FLAT_TREES else ("num_consts", "num_carry")


def scan_counts(params: dict) -> tuple[int, int]:
    """(number of loop-invariant constants, number of carries) of a ``scan`` equation."""
    if "ft_in" in params:  # JAX >= 0.11.0: leaves of (consts, carry, xs)
        consts, carry, _ = params["ft_in"].unpack()
        return len(consts), len(carry)
    return params["num_consts"], params["num_carry"]


# --- custom_vjp's bwd: cotangents (0.10), (cotangents, logs) (0.11.0) --------------------------

_BWD_LOGS = hasattr(jax.custom_vjp, "defvjp_with_logs")


def bwd_cotangents(result: Any) -> list:
    """The input cotangents that a ``custom_vjp_call``'s bwd subfunction returned."""
    if _BWD_LOGS:  # JAX >= 0.11.0: (cotangents, logs); the logs are dropped, as in jax.vjp
        cts, _logs = result
        return list(cts)
    return list(result)


# --- open jaxprs: constvars (0.10), constants at the front of invars (0.11.1) -------------------


def open_inputs(jaxpr: Any, num_consts: int, num_args: int) -> tuple[list, list]:
    """(constant variables, argument variables) of an open jaxpr given ``num_consts`` constants.

    Since JAX 0.11.1 an open jaxpr may list no ``constvars`` and take its constants as its
    leading ``invars``; they are split off here.
    """
    if num_consts and not jaxpr.constvars and len(jaxpr.invars) == num_consts + num_args:
        return list(jaxpr.invars[:num_consts]), list(jaxpr.invars[num_consts:])
    return list(jaxpr.constvars), list(jaxpr.invars)


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


# The JAX releases adlab is tested on, as pyproject.toml requires: from 0.10.2 up to 0.13.
TESTED_JAX = ((0, 10, 2), (0, 13))


def untested_jax(version: str = jax.__version__) -> str | None:
    """What to warn of if JAX ``version`` is outside the tested range (None if inside)."""
    release = tuple(int(p) for p in re.findall(r"\d+", version.split("dev")[0])[:3])
    low, high = TESTED_JAX
    if low <= release < high:
        return None
    return (
        f"adlab is tested with JAX from {'.'.join(map(str, low))} up to (not including) "
        f"{'.'.join(map(str, high))}; JAX {version} is installed. adlab reads JAX's jaxprs, "
        "whose primitives and params change between releases; it refuses those it does not "
        "know, so expect errors rather than wrong derivatives. Install a tested JAX: "
        f"pip install 'jax>={'.'.join(map(str, low))},<{'.'.join(map(str, high))}'."
    )
