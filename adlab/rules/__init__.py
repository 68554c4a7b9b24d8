"""adlab's rule tables: how each primitive pushes tangents forward and pulls cotangents back.

There is one table per transformation (the HIPS/autograd layout) and one module per primitive
family (``elementwise``, ``structural``, ``linalg``); each rule is registered right under its
function. ``calls`` holds the helpers for the call primitives (jit, custom_jvp_call,
custom_vjp_call), which the interpreters walk inline.

A rule never sees a symbolic zero: the interpreters skip arguments whose tangent or
cotangent is ``None`` (known to be zero) and only call the rules they need.

JVP rules (``JVP_RULES[name]``), one of
  * a tuple of per-argument rules ``rule(x_dot, out, *primals, **params)``. Each returns
    that argument's contribution to the output tangent, and the interpreter adds them up.
    ``None`` in the tuple marks an argument with zero derivative (the predicate of
    ``select_n``).
  * ``LINEAR``: the primitive is linear in its operand, so its tangent is the same
    primitive, with the same params, applied to the operand's tangent.
  * a whole rule ``rule(tangents, out, *primals, **params)`` for primitives whose tangent
    is not a sum of per-argument terms (``select_n``, ``concatenate``). ``tangents`` may
    hold ``None``.

VJP rules (``VJP_RULES[name]``) are a tuple of per-argument rules
``rule(ct, out, *primals, **params)`` that return the cotangent of that argument. The
backward sweep calls only the rules of arguments that need a cotangent, so the
cotangent of a constant weight matrix is never computed. Variadic primitives
(``select_n``, ``concatenate``) register a whole rule
``rule(ct, out, *primals, needs, **params)`` that returns one cotangent per argument.

Elementwise rules may return a value with the full output shape for a rank-0 operand
(``x * 2.0`` has a scalar literal); the interpreters broadcast tangents up and sum
cotangents down, so the rules stay one-liners.

Every rule emits only primitives that are themselves in the set, so adlab can
differentiate its own output to any order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np
from jax import dtypes, lax

JVP_RULES: dict[str, Any] = {}
VJP_RULES: dict[str, tuple[Callable | None, ...]] = {}
# Primitives whose outputs have zero derivative (comparisons, sign, stop_gradient, iota...).
NONDIFF: set[str] = set()
# The call primitives the interpreters walk inline (see calls.py).
CALLS = ("jit", "custom_jvp_call", "custom_vjp_call")

LINEAR = "linear"


def defjvp(name: str, *rules) -> None:
    """Registers per-argument JVP rules (or one of ``LINEAR`` / a whole rule)."""
    JVP_RULES[name] = rules[0] if len(rules) == 1 and not callable(rules[0]) else rules


def defjvp_whole(name: str, rule: Callable) -> None:
    """Registers a JVP rule that takes every tangent at once (``None`` for zeros)."""
    JVP_RULES[name] = rule


def defvjp(name: str, *rules: Callable | None) -> None:
    """Registers one cotangent rule per argument; ``None`` means zero cotangent."""
    VJP_RULES[name] = rules


def defvjp_whole(name: str, rule: Callable) -> None:
    """Registers a VJP rule that returns every argument's cotangent at once."""
    VJP_RULES[name] = rule


def defelementwise(name: str, *rules: Callable | None) -> None:
    """Registers per-argument rules of an elementwise primitive for both modes.

    An elementwise op has a diagonal local Jacobian, so its tangent contribution
    ``x_dot * d out/dx`` and its cotangent ``ct * d out/dx`` are the same expression.
    """
    JVP_RULES[name] = rules
    VJP_RULES[name] = rules


def defnondiff(*names: str) -> None:
    """Marks primitives whose outputs carry zero derivative."""
    NONDIFF.update(names)


class UnsupportedPrimitiveError(NotImplementedError):
    """A primitive outside adlab's closed set had to be differentiated."""


def unsupported(eqn, mode: str, call_site=None) -> UnsupportedPrimitiveError:
    """Builds the error for an equation whose primitive adlab cannot differentiate.

    ``call_site`` is the outermost ``jit`` equation the primitive was found in, if any:
    library code such as ``jnp.cumsum`` wraps its primitive in a jit, and the user's line
    is the call of that jit.
    """
    from jax._src import source_info_util  # only for a readable location

    where = ""
    for site in (eqn, call_site):
        if site is not None and not where:
            where = source_info_util.summarize(site.source_info)
    where = where or "an unknown location"
    return UnsupportedPrimitiveError(
        f"adlab has no {mode} rule for the primitive '{eqn.primitive.name}' "
        f"(from {where}). adlab differentiates a closed set of primitives: "
        f"{', '.join(sorted(supported()))}. Rewrite that part with supported "
        "operations, or wrap it in jax.custom_jvp / jax.custom_vjp to give it a rule."
    )


def is_float(x) -> bool:
    """Whether a value (or aval) has a floating dtype, i.e. can carry a derivative."""
    return dtypes.issubdtype(lax.dtype(x) if not hasattr(x, "dtype") else x.dtype, jnp.floating)


def zero_tangent(x):
    """A zero tangent for ``x``: zeros of its dtype, or JAX's float0 for integer values."""
    if is_float(x):
        return lax.full_like(x, 0)
    return np.zeros(np.shape(x), dtypes.float0)


def supported() -> frozenset[str]:
    """The names of every primitive adlab can differentiate."""
    return frozenset(JVP_RULES) | frozenset(NONDIFF) | frozenset(CALLS)


# ---------------------------------------------------------------------------------------
# Applying one rule (shared by the JVP interpreter, linearize and the backward sweep)
# ---------------------------------------------------------------------------------------


def push_tangent(eqn_prim, params, tangents, primals, out):
    """The output tangent of one equation, or ``None`` if it is zero."""
    rule = JVP_RULES[eqn_prim.name]
    if rule is LINEAR:
        (x_dot,) = tangents
        return eqn_prim.bind(x_dot, **params)
    if callable(rule):
        return rule(tangents, out, *primals, **params)
    total = None
    for arg_rule, x_dot in zip(rule, tangents):
        if x_dot is None or arg_rule is None:
            continue
        term = _match_shape(arg_rule(x_dot, out, *primals, **params), out)
        if term is not None:
            total = term if total is None else lax.add(total, term)
    return total


def pull_cotangent(eqn_prim, params, ct, primals, out, needs):
    """The cotangents of one equation's inputs (``None`` where not needed or zero)."""
    rules = VJP_RULES[eqn_prim.name]
    if callable(rules):
        cts = rules(ct, out, *primals, needs=needs, **params)
        return [c if need else None for c, need in zip(cts, needs)]
    cts = []
    for arg_rule, x, need in zip(rules, primals, needs):
        if not need or arg_rule is None:
            cts.append(None)
            continue
        cts.append(_unbroadcast(arg_rule(ct, out, *primals, **params), x))
    return cts


def _match_shape(x_dot, out):
    """Broadcasts a tangent term from a smaller operand up to the output's shape.

    Elementwise equations in a jaxpr may mix a rank-0 operand (``x * 2.0``) or size-1
    axes (``x - max(x, keepdims)``) with full-shape ones, with NumPy's alignment.
    """
    if x_dot is None or x_dot.shape == out.shape:
        return x_dot
    lead = out.ndim - x_dot.ndim
    return lax.broadcast_in_dim(x_dot, out.shape, tuple(range(lead, out.ndim)))


def _unbroadcast(ct, x):
    """Sums a cotangent down to an operand that was implicitly broadcast (the adjoint)."""
    if ct is None or ct.shape == x.shape:
        return ct
    lead = ct.ndim - len(x.shape)
    stretched = [lead + i for i, n in enumerate(x.shape) if n == 1 and ct.shape[lead + i] != 1]
    summed = lax.reduce_sum(ct, (*range(lead), *stretched))
    return lax.reshape(summed, tuple(x.shape)) if summed.shape != tuple(x.shape) else summed


# Register the tables. Imported for their side effects, in family order.
from . import elementwise, linalg, structural  # noqa: E402,F401
