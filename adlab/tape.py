"""The tape: a flat record of the active equations of one evaluation, with their residuals.

Reverse mode and ``linearize`` both start with a forward sweep that evaluates the program
once and records, for every equation that depends on a differentiated input, which slots
it reads and writes and the primal values its rule needs later (its inputs and its output:
the residuals). Nested ``jit`` calls are walked inline, so the tape is always flat.

* ``backward`` walks the tape in reverse: each entry turns its upstream cotangent into
  downstream cotangents with its rule, and cotangents that reach one slot from several
  consumers are summed.
* ``forward`` walks it in order, pushing tangents with the rules and reusing the stored
  primal values instead of recomputing them.

A slot is an integer naming one differentiable value; ``None`` marks a value that does not
depend on the inputs being differentiated (a constant, an integer, a comparison).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from jax import lax

from ._compat import open_inputs
from ._dtypes import carries_derivative
from ._trace import bind, live_equations, read_pair
from .rules import handler_for


@dataclass
class Entry:
    """One active equation on the tape.

    Attributes:
      handler: the rule (or call handler) that pushes and pulls through it.
      eqn: the jaxpr equation (its primitive and params).
      in_slots / out_slots: where its inputs come from and its outputs go.
      primals / outs: residuals: primal inputs and outputs, kept for the rule.
      saved: any other arrays the handler keeps (custom_vjp: the residuals fwd returned).
      extra: anything else the handler keeps that is not an array (custom_vjp: bwd).
    """

    handler: Any
    eqn: Any = field(repr=False)
    in_slots: list
    out_slots: list
    primals: list = field(repr=False)
    outs: list = field(repr=False)
    saved: list = field(default_factory=list, repr=False)
    extra: Any = field(default=None, repr=False)

    def arrays(self) -> list:
        """Every array this entry keeps: its primal inputs, its outputs, what it saved."""
        return [*self.primals, *self.outs, *self.saved]


class Recorder:
    """Evaluates jaxprs while appending their active equations to a tape.

    Attributes:
      tape: the list of entries, in evaluation order.
      call_site: the outermost jit equation being walked, for error messages.
    """

    def __init__(self, tape: list, first_slot: int, call_site=None, slots=None):
        self.tape = tape
        self.call_site = call_site
        self._slots = slots if slots is not None else itertools.count(first_slot)

    def walk(self, jaxpr, consts, args, in_slots, call_site=None):
        """Evaluates an open jaxpr and records it: (outs, out_slots) for its outvars.

        ``call_site`` is given when walking into a jit equation; the outermost one is kept.
        """
        inner = self
        if call_site is not None and self.call_site is None:
            inner = Recorder(self.tape, 0, call_site, self._slots)
        constvars, invars = open_inputs(jaxpr, len(consts), len(args))
        env = {v: (c, None) for v, c in zip(constvars, consts)}
        env.update(zip(invars, zip(args, in_slots)))
        for eqn in live_equations(jaxpr):
            xs, x_slots = _unzip([read_pair(env, v) for v in eqn.invars], len(eqn.invars))
            active = any(s is not None for s in x_slots)
            handler = handler_for(eqn, active, "VJP", inner.call_site)
            if handler is None:  # no derivative flows through this equation
                outs, o_slots = bind(eqn, xs), [None] * len(eqn.outvars)
            else:
                outs, o_slots = handler.record(eqn, xs, x_slots, inner)
            env.update(zip(eqn.outvars, zip(outs, o_slots)))
        return _unzip([read_pair(env, v) for v in jaxpr.outvars], len(jaxpr.outvars))

    def append(self, handler, eqn, in_slots, primals, outs, saved=(), extra=None) -> list:
        """Appends an entry; returns the fresh slots of the outputs that carry a derivative."""
        out_slots = [next(self._slots) if carries_derivative(o) else None for o in outs]
        entry = Entry(handler, eqn, in_slots, out_slots, primals, outs, list(saved), extra)
        self.tape.append(entry)
        return out_slots


def input_slots(flat, active=None) -> list:
    """A slot per input leaf: its index if it is differentiated, else ``None``.

    Raises UnsupportedDtypeError for an input (complex...) whose derivative adlab cannot
    compute.
    """
    active = active if active is not None else [True] * len(flat)
    return [
        i if a and carries_derivative(x, f"input leaf {i} of the function") else None
        for i, (x, a) in enumerate(zip(flat, active))
    ]


def sweep(traced, active=None):
    """The forward sweep over a traced function: (tape, outs, out_slots, in_slots)."""
    flat = traced.flat_primals
    in_slots = input_slots(flat, active)
    entries: list = []
    recorder = Recorder(entries, len(flat))
    outs, out_slots = recorder.walk(traced.jaxpr.jaxpr, traced.jaxpr.consts, flat, in_slots)
    return entries, outs, out_slots, in_slots


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
        for slot, downstream in zip(entry.in_slots, entry.handler.pull_entry(entry, upstream)):
            accumulate(slot, downstream)
    return [ct.get(s) if s is not None else None for s in in_slots]


def forward(tape: list, in_slots: list, in_dots: list, out_slots: list) -> list:
    """Pushes tangents through a recorded tape, reusing its stored primal values."""
    dot = {s: t for s, t in zip(in_slots, in_dots) if s is not None and t is not None}
    for entry in tape:
        x_dots = [dot.get(s) if s is not None else None for s in entry.in_slots]
        if all(t is None for t in x_dots):
            continue
        for slot, t in zip(entry.out_slots, entry.handler.push_entry(entry, x_dots)):
            if slot is not None and t is not None:
                dot[slot] = t
    return [dot.get(s) if s is not None else None for s in out_slots]


def _unzip(pairs, n):
    if not n:
        return [], []
    a, b = zip(*pairs)
    return list(a), list(b)
