"""Reverse mode: ``vjp``.

A forward sweep evaluates the program and records the tape (see tape.py): every active
equation with the residuals its rule needs. The pullback then runs the backward sweep:
in reverse order, each equation turns its upstream cotangent into downstream cotangents
(upstream x local = downstream), and cotangents that reach a variable from several
consumers are summed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jax
from jax import tree_util

from . import _checks, tape
from ._dtypes import zero_tangent
from ._errors import where
from ._trace import leaf_names, trace


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


@dataclass(frozen=True)
class Residual:
    """One array the backward sweep reads from the tape.

    Attributes:
      array: the array itself.
      stored_by: what put it on the tape: ``"input 1 of mul"``, ``"output of tanh"``, or
        ``"your input: params['w1']"`` for an array the caller passed in (it costs no extra
        memory: the caller holds it anyway), or ``"a constant"`` for one the function
        closes over.
      where: the source line of the equation that stored it.
    """

    array: Any = field(repr=False)
    stored_by: str
    where: str

    @property
    def nbytes(self) -> int:
        return int(self.array.nbytes)

    @property
    def yours(self) -> bool:
        """Whether the caller passed this array in (its memory is not the tape's)."""
        return self.stored_by.startswith("your input")


class Tape(list):
    """The residuals of one reverse-mode evaluation; ``str()`` is a table with the total."""

    def __str__(self) -> str:
        rows = [("stored by", "shape", "dtype", "bytes", "source line")]
        for r in self:
            shape = "x".join(map(str, r.array.shape)) or "scalar"
            rows.append((r.stored_by, shape, str(r.array.dtype), f"{r.nbytes:,}", r.where))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[4] for row in rows]
        lines.append(self.summary())
        return "\n".join(lines)

    def summary(self) -> str:
        """The totals: residuals, bytes, and the bytes the tape keeps beyond your inputs."""
        kept = sum(r.nbytes for r in self if not r.yours)
        return (
            f"{len(self)} residuals, {sum(r.nbytes for r in self):,} bytes in all; {kept:,} "
            "bytes kept by the tape beyond your own inputs"
        )


def residuals(fun, *primals) -> Tape:
    """What adlab's backward sweep reads from the tape: the memory price of reverse mode.

    The pullback is traced once with ``jax.make_jaxpr``; the concrete arrays it closes over
    and actually uses become the jaxpr's constants, and those are the residuals. Each is
    labelled with the equation that stored it and that equation's source line.

    Args:
      fun: a function of ``len(primals)`` arguments.
      *primals: the point to differentiate at.

    Returns:
      A ``Tape``: a list of the distinct residuals, in the order the forward sweep stored
      them; ``print`` it for a table with the total bytes.
    """
    traced = trace(fun, primals)
    entries, outs, out_slots, in_slots = tape.sweep(traced)
    n = traced.num_out

    def pullback(*cts):
        return tape.backward(entries, out_slots[:n], list(cts), in_slots)

    used = {id(c) for c in jax.make_jaxpr(pullback)(*map(zero_tangent, outs[:n])).consts}
    labels: dict[int, tuple[str, str]] = {}
    for name, x in zip(leaf_names(fun, primals), traced.flat_primals):
        labels.setdefault(id(x), (f"your input: {name}", "(argument)"))
    for entry in entries:
        name, line = entry.eqn.primitive.name, where(entry.eqn)
        stored = [(f"output of {name}", o) for o in entry.outs]
        stored += [(f"input {k} of {name}", x) for k, x in enumerate(entry.primals)]
        stored += [(f"residual of {name}", r) for r in entry.saved]
        for label, x in stored:
            labels.setdefault(id(x), (label, line))
    found: dict[int, Residual] = {}
    for entry in entries:  # in the order the forward sweep stored them
        for x in entry.arrays():
            if id(x) in used and id(x) not in found and hasattr(x, "nbytes"):
                found[id(x)] = Residual(x, *labels[id(x)])
    return Tape(found.values())
