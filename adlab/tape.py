"""The tape: a flat record of the active equations of one evaluation, with their residuals.

Reverse mode and ``linearize`` both start with a forward sweep that evaluates the program
once and records, for every equation that depends on a differentiated input, which slots
it reads and writes and the primal values its rule needs later (its inputs and its output:
the residuals). Nested ``jit`` calls are walked inline, so the tape is always flat.

* ``backward`` walks the tape in reverse: each entry turns its upstream cotangent into
  downstream cotangents with its VJP rule, and cotangents that reach one slot from several
  consumers are summed.
* ``forward`` walks it in order, pushing tangents with the JVP rules and reusing the stored
  primal values instead of recomputing them.

A slot is an integer naming one differentiable value; ``None`` marks a value that does not
depend on the inputs being differentiated (a constant, an integer, a comparison).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from jax import lax

from ._trace import bind, live_equations, read_pair
from .rules import (
    JVP_RULES,
    NONDIFF,
    VJP_RULES,
    calls,
    is_float,
    pull_cotangent,
    push_tangent,
    unsupported,
)


@dataclass
class Entry:
    """One active equation on the tape.

    Attributes:
      prim: the JAX primitive.
      params: its params (as in the jaxpr).
      in_slots / out_slots: where its inputs come from and its outputs go.
      primals / outs: the residuals: primal inputs and outputs, kept for the rules.
      custom: for custom_vjp calls, the (residuals, bwd) pair that fwd returned.
    """

    prim: Any
    params: dict
    in_slots: list
    out_slots: list
    primals: list
    outs: list
    custom: Any = field(default=None, repr=False)

    def push(self, x_dots: list) -> list:
        """Output tangents from input tangents (``None`` = zero)."""
        name = self.prim.name
        if name == "custom_jvp_call":
            return calls.custom_jvp(self.params, self.primals, x_dots)[1]
        if name == "custom_vjp_call":
            raise calls.custom_vjp_forward_mode_error()
        return [push_tangent(self.prim, self.params, x_dots, self.primals, self.outs[0])]

    def pull(self, cts: list) -> list:
        """Input cotangents from output cotangents (``None`` = zero or not needed)."""
        name = self.prim.name
        needs = [s is not None for s in self.in_slots]
        if name == "custom_jvp_call":
            return _transpose_custom_jvp(self.params, self.primals, self.outs, cts, needs)
        if name == "custom_vjp_call":
            res, bwd = self.custom
            return calls.custom_vjp_backward(bwd, res, self.outs, cts)
        return pull_cotangent(self.prim, self.params, cts[0], self.primals, self.outs[0], needs)


def record(jaxpr, consts, args, in_slots, tape: list, slots=None, call_site=None):
    """Evaluates ``jaxpr`` on ``args``, appending its active equations to ``tape``.

    Args:
      jaxpr: an open jaxpr.
      consts: values of its constvars (never differentiated at this level).
      args: values of its invars.
      in_slots: a slot per invar, ``None`` for inputs that are not differentiated.
      tape: the list the entries are appended to.
      slots: the counter that hands out fresh slots (shared by nested calls).
      call_site: the outermost jit equation being walked, for error messages.

    Returns:
      (outs, out_slots) for the jaxpr's outvars.
    """
    slots = slots if slots is not None else itertools.count(len(in_slots))
    env = {v: (c, None) for v, c in zip(jaxpr.constvars, consts)}
    env.update(zip(jaxpr.invars, zip(args, in_slots)))
    for eqn in live_equations(jaxpr):
        xs, x_slots = _unzip([read_pair(env, v) for v in eqn.invars], len(eqn.invars))
        name = eqn.primitive.name
        if all(s is None for s in x_slots) or name in NONDIFF:
            outs, o_slots = bind(eqn, xs), [None] * len(eqn.outvars)
        elif name == "jit":
            inner = eqn.params["jaxpr"]
            site = call_site or eqn
            outs, o_slots = record(inner.jaxpr, inner.consts, xs, x_slots, tape, slots, site)
        else:
            custom = None
            if name == "custom_vjp_call":
                active = [s is not None for s in x_slots]
                outs, res, bwd = calls.custom_vjp_forward(eqn.primitive, eqn.params, xs, active)
                custom = (res, bwd)
            elif name == "custom_jvp_call" or (name in JVP_RULES and name in VJP_RULES):
                outs = bind(eqn, xs)
            else:
                raise unsupported(eqn, "VJP", call_site)
            o_slots = [next(slots) if is_float(o) else None for o in outs]
            tape.append(Entry(eqn.primitive, eqn.params, x_slots, o_slots, xs, outs, custom))
        env.update(zip(eqn.outvars, zip(outs, o_slots)))
    outs, out_slots = _unzip([read_pair(env, v) for v in jaxpr.outvars], len(jaxpr.outvars))
    return outs, out_slots


def backward(tape: list, out_slots: list, out_cts: list, in_slots: list) -> list:
    """The backward sweep: cotangents of the inputs from cotangents of the outputs."""
    ct: dict[int, Any] = {}

    def accumulate(slot, c):
        if slot is not None and c is not None:
            # Fan-out in the forward sweep is fan-in here: contributions add up.
            ct[slot] = c if slot not in ct else lax.add(ct[slot], c)

    for slot, c in zip(out_slots, out_cts):
        accumulate(slot, c)
    for entry in reversed(tape):
        upstream = [ct.pop(s, None) if s is not None else None for s in entry.out_slots]
        if all(c is None for c in upstream):
            continue  # nothing flows back through this equation
        for slot, downstream in zip(entry.in_slots, entry.pull(upstream)):
            accumulate(slot, downstream)
    return [ct.get(s) if s is not None else None for s in in_slots]


def forward(tape: list, in_slots: list, in_dots: list, out_slots: list) -> list:
    """Pushes tangents through a recorded tape, reusing its stored primal values."""
    dot = {s: t for s, t in zip(in_slots, in_dots) if s is not None and t is not None}
    for entry in tape:
        x_dots = [dot.get(s) if s is not None else None for s in entry.in_slots]
        if all(t is None for t in x_dots):
            continue
        for slot, t in zip(entry.out_slots, entry.push(x_dots)):
            if slot is not None and t is not None:
                dot[slot] = t
    return [dot.get(s) if s is not None else None for s in out_slots]


def _unzip(pairs, n):
    if not n:
        return [], []
    a, b = zip(*pairs)
    return list(a), list(b)


def _transpose_custom_jvp(params, primals, outs, cts, needs):
    # The custom rule's tangent map is linear in the tangents: transpose it with adlab's
    # own VJP at zero tangents.
    from .reverse import vjp_flat

    n = params["num_consts"]
    args = primals[n:]
    tangent_map = calls.custom_jvp_tangent_map(params, primals)
    zeros = [calls.zero_tangent(x) for x in args]
    _, pullback = vjp_flat(tangent_map, zeros, active=needs[n:])
    cts = [calls.zero_tangent(o) if c is None else c for c, o in zip(cts, outs)]
    return [None] * n + pullback(cts)
