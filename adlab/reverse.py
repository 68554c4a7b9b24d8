"""Reverse mode: ``vjp``.

A forward sweep evaluates the program and records the tape (see tape.py): every active
equation with the residuals its rule needs. The pullback then runs the backward sweep:
in reverse order, each equation turns its upstream cotangent into downstream cotangents
(upstream x local = downstream), and cotangents that reach a variable from several
consumers are summed.
"""

from __future__ import annotations

import jax
from jax import tree_util

from . import _checks, tape
from ._dtypes import zero_tangent
from ._trace import trace


def vjp_flat(fun, flat_primals, active=None):
    """``vjp`` on a function of flat positional arrays returning a list of arrays.

    Args:
      fun: the function.
      flat_primals: a list of arrays.
      active: which inputs to differentiate (default: every float input).

    Returns:
      ``(outs, pullback)``; ``pullback(cts)`` takes a list of output cotangents
      (``None`` for zero) and returns input cotangents, ``None`` where zero.
    """
    traced = trace(lambda *xs: list(fun(*xs)), tuple(flat_primals))
    entries, outs, out_slots, in_slots = tape.sweep(traced, active)

    def pullback(cts):
        return tape.backward(entries, out_slots, list(cts), in_slots)

    return outs, pullback


def vjp(fun, *primals, has_aux: bool = False):
    """Reverse-mode vector-Jacobian product, computed by adlab's VJP interpreter.

    Same signature and results as ``jax.vjp``.

    Args:
      fun: a function of ``len(primals)`` arguments, written in plain JAX; inputs and
        outputs may be pytrees of arrays.
      *primals: the point to differentiate at.
      has_aux: if True, ``fun`` returns ``(output, aux)`` and aux is returned as is.

    Returns:
      ``(primals_out, pullback)`` or ``(primals_out, pullback, aux)``. ``pullback(ct)``
      takes a cotangent with the output's structure, shapes and dtypes and returns a
      tuple with one cotangent per primal (``float0`` zeros for integer primals).
    """
    traced = trace(fun, primals, has_aux)
    flat = traced.flat_primals
    entries, outs, out_slots, in_slots = tape.sweep(traced)
    n = traced.num_out

    def pullback(ct):
        flat_ct = _checks.cotangent(traced.out_tree, outs[:n], ct)
        cts = tape.backward(entries, out_slots[:n], flat_ct, in_slots)
        cts = [zero_tangent(x) if c is None else c for x, c in zip(flat, cts)]
        return tree_util.tree_unflatten(traced.in_tree, cts)

    primal_out = tree_util.tree_unflatten(traced.out_tree, outs[:n])
    if traced.aux_tree is None:
        return primal_out, pullback
    return primal_out, pullback, tree_util.tree_unflatten(traced.aux_tree, outs[n:])


def residuals(fun, *primals) -> list:
    """The arrays adlab's backward sweep reads from the tape: the memory price of reverse mode.

    The pullback is traced once with ``jax.make_jaxpr``; the concrete arrays it closes over
    and actually uses become the jaxpr's constants, and those are the residuals.

    Args:
      fun: a function of ``len(primals)`` arguments.
      *primals: the point to differentiate at.

    Returns:
      A list of the distinct residual arrays.
    """
    out, pullback = vjp(fun, *primals)
    ct = tree_util.tree_map(zero_tangent, out)
    closed = jax.make_jaxpr(pullback)(ct)
    seen, kept = set(), []
    for c in closed.consts:
        if id(c) not in seen and hasattr(c, "nbytes"):
            seen.add(id(c))
            kept.append(c)
    return kept
