"""A differentiated sub-program as two jaxprs: the forward sweep and the backward sweep.

The loop and branch handlers (``adlab/control.py``) cannot keep a Python tape per iteration
or per branch: the body of a ``lax.scan`` or a ``lax.cond`` runs inside XLA. They split the
body's reverse mode into two programs instead, both built with adlab's own tape:

* ``forward(*inputs) -> (*outputs, *residuals)`` runs the body and returns, beside its
  outputs, the residuals: the arrays the backward sweep reads;
* ``backward(*residuals, *output cotangents) -> input cotangents``.

The residuals are found the way ``adlab.reverse.residuals`` finds them: the backward sweep
is traced with ``jax.make_jaxpr``, and the arrays it closes over become its constants. A
scan stacks the residuals of every step; a cond returns those of the branch it took.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
from jax import lax
from jax.extend.core import Literal

from . import tape
from ._dtypes import carries_derivative, zero_tangent
from ._trace import eval_jaxpr


@dataclass(frozen=True)
class Split:
    """One body's reverse mode, staged as a forward and a backward jaxpr.

    Attributes:
      forward: closed jaxpr, ``(*inputs) -> (*outputs, *residuals)``.
      backward: open jaxpr whose constvars are the residuals and whose invars are one
        cotangent per float output; it returns one cotangent per active input.
      num_out: the number of outputs (the residuals follow them).
      out_active: per output, whether it depends on an active input.
      differentiable: per output, whether it is a float (takes a cotangent).
      active: per input, whether it is differentiated (gets a cotangent).
      from_input: per residual, the index of the input it is (a residual that is simply
        an input, for a loop to read from its invariant operands), or ``None``.
    """

    forward: Any
    backward: Any
    num_out: int
    out_active: list
    differentiable: list
    active: list
    from_input: list

    def residual_avals(self) -> list:
        return [v.aval for v in self.forward.jaxpr.outvars[self.num_out :]]

    def run_forward(self, *inputs) -> tuple[list, list]:
        """(outputs, residuals)."""
        outs = eval_jaxpr(self.forward.jaxpr, self.forward.consts, *inputs)
        return outs[: self.num_out], outs[self.num_out :]

    def run_backward(self, residuals, cts) -> list:
        """Cotangents of the active inputs (zeros where none flows), from every float
        output's cotangent (``None`` for zero)."""
        avals = [v.aval for v in self.backward.invars]
        cts = [lax.full(a.shape, 0, a.dtype) if c is None else c for c, a in zip(cts, avals)]
        return eval_jaxpr(self.backward, residuals, *cts)


def split(jaxpr, consts, avals, active) -> Split:
    """Stages the reverse mode of an open jaxpr at inputs of the given avals.

    Args:
      jaxpr, consts: the body.
      avals: one ``jax.ShapeDtypeStruct`` (or aval) per invar.
      active: per invar, whether it is differentiated.
    """
    found = {}

    def forward(*xs):
        in_slots = tape.input_slots(list(xs), active)
        entries: list = []
        outs, out_slots = tape.Recorder(entries, len(xs)).walk(jaxpr, consts, list(xs), in_slots)
        floats = [carries_derivative(o) for o in outs]

        def backward(*cts):
            full = iter(cts)
            cts = [next(full) if f else None for f in floats]
            in_cts = tape.backward(entries, out_slots, cts, in_slots)
            return [zero_tangent(x) if c is None else c
                    for x, c, s in zip(xs, in_cts, in_slots) if s is not None]  # fmt: skip

        ct_avals = [jax.ShapeDtypeStruct(np.shape(o), o.dtype) for o, f in zip(outs, floats) if f]
        staged = jax.make_jaxpr(backward)(*ct_avals)
        found.update(
            backward=staged.jaxpr,
            out_active=[s is not None for s in out_slots],
            differentiable=floats,
            active=[s is not None for s in in_slots],
        )
        return [*outs, *staged.consts]

    fwd = jax.make_jaxpr(forward)(*avals)
    num_out = len(jaxpr.outvars)
    position = {v: i for i, v in enumerate(fwd.jaxpr.invars)}
    from_input = [
        None if isinstance(v, Literal) else position.get(v) for v in fwd.jaxpr.outvars[num_out:]
    ]
    return Split(fwd, found["backward"], num_out, found["out_active"], found["differentiable"],
                 found["active"], from_input)  # fmt: skip
