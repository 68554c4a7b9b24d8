"""Explain a gradient: what each mode of automatic differentiation does, step by step.

``adlab.explain(f, *args)`` evaluates ``f`` once with adlab's own interpreters and keeps
every step: each equation's value and tangent (forward mode), each equation's upstream,
local and downstream derivatives (reverse mode), and what the tape stores. It shows them in
the forms the textbooks use:

* ``forward_table()``: each equation in evaluation order, with its value and its tangent;
* ``reverse_table()``: each equation in backward order: upstream x local = downstream;
* ``tape()``: the residuals reverse mode stores, with their bytes and source lines;
* ``code()``: straight-line Python for the forward and the backward sweeps, which runs and
  reproduces the gradient;
* ``graph(path)``: the computational graph, each value showing value | tangent | gradient
  (needs the optional extra ``adlab[graph]``);
* ``cost()``: FLOPs of one pass, stored bytes and passes for the whole Jacobian, per mode.

Tables print as text; ``.markdown()`` renders them for notes. Nested ``jax.jit`` calls
appear as indented groups. This is a lab module: the core never imports it.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from .._dtypes import carries_derivative, zero_tangent
from . import _code, _graph, _tables
from ._code import CodeError
from ._record import Recording, record
from ._tables import Table, fmt


class Explanation:
    """One evaluation of a function, explained in both modes (see ``adlab.explain``).

    Attributes:
      recording: the values, tangents, cotangents and steps (``adlab.explanation._record``).
      fun: the function explained.
      primals: the point it was evaluated at.
    """

    def __init__(self, fun, primals: tuple, tangents=None, cotangent=None):
        self.fun, self.primals = fun, primals
        self.recording: Recording = record(fun, primals, tangents, cotangent)

    # --- values ------------------------------------------------------------------------
    def value(self, name: str) -> Any:
        """The value of the input, intermediate or output called ``name`` in the tables."""
        return self._var(name).value

    def tangent(self, name: str) -> Any:
        """Its tangent along the direction (``None``: zero)."""
        return self._var(name).tangent

    def gradient(self, name: str) -> Any:
        """Its cotangent: d(output . seed) / d(it) (``None``: zero)."""
        return self._var(name).cotangent

    def _var(self, name: str):
        try:
            return self.recording.vars[name]
        except KeyError:
            known = ", ".join(self.recording.vars)
            raise KeyError(f"no value named {name!r} in this explanation; known: {known}") from None

    @property
    def inputs(self) -> list[str]:
        """The names of the input leaves (the parameters' names, with pytree paths)."""
        return list(self.recording.inputs)

    @property
    def outputs(self) -> list[str]:
        """The names of the output leaves."""
        return list(self.recording.outputs)

    # --- views --------------------------------------------------------------------------
    def forward_table(self) -> Table:
        """Each equation in evaluation order: what it computes, its value and its tangent."""
        return _tables.forward_table(self.recording)

    def reverse_table(self) -> Table:
        """Each equation in backward order, per input: upstream, local, downstream."""
        return _tables.reverse_table(self.recording)

    def tape(self) -> Table:
        """What reverse mode stores for the backward sweep: each residual and the total.

        The rows are ``adlab.reverse.residuals(fun, *primals)``, so their bytes add up to
        ``adlab.cost.tape_bytes(fun, *primals)``.
        """
        from .. import reverse

        return _tables.tape_table(reverse.residuals(self.fun, *self.primals))

    def code(self, name: str | None = None) -> str:
        """Straight-line Python: the forward sweep, then the backward sweep.

        ``exec`` it and call ``name(*inputs)`` (the input leaves, in the order of
        ``self.inputs``): it returns the output and one gradient per input, adlab's.

        Raises:
          CodeError: an operation has no template in the code writer.
        """
        return _code.code(self.recording, name)

    def graph(self, path: str | os.PathLike, title: str | None = None):
        """Draws the computational graph into ``path`` (PNG, SVG or PDF) and returns it.

        Raises:
          ImportError: the optional extra is missing: ``pip install "adlab[graph]"``.
        """
        return _graph.draw(self.recording, path, title)

    def graph_layout(self, title: str | None = None) -> dict:
        """The graph laid out as plain data (JSON-ready), for ``_graph.draw_on`` or your own."""
        return _graph.layout(self.recording, title)

    def cost(self) -> Table:
        """One line per mode: FLOPs of one pass, bytes stored, passes for the Jacobian."""
        import jax

        from .. import cost, forward, reverse

        rec = self.recording
        flat, in_tree = rec.traced.flat_primals, rec.traced.in_tree
        dots = [rec.vars[n].tangent for n in rec.inputs]
        dots = [zero_tangent(x) if d is None else d for x, d in zip(flat, dots)]
        outs = [rec.vars[n].value for n in rec.outputs]
        seed = jax.tree.unflatten(rec.traced.out_tree, [np.ones_like(o) for o in outs])

        def f(*leaves):
            return self.fun(*jax.tree.unflatten(in_tree, leaves))

        counts = {
            "f": cost.count(f, *flat),
            "forward": cost.count(lambda *p: forward.jvp(f, p, dots), *flat),
            "reverse": cost.count(lambda *p: reverse.vjp(f, *p)[1](seed), *flat),
        }
        kept = sum(r.nbytes for r in reverse.residuals(self.fun, *self.primals) if not r.yours)
        size = lambda xs: sum(math.prod(np.shape(x)) for x in xs if carries_derivative(x))  # noqa: E731
        return _tables.cost_table(rec, counts, {"forward": 0, "reverse": kept}, size(flat),
                                  size(outs))  # fmt: skip

    def __repr__(self) -> str:
        r = self.recording
        return (
            f"<adlab.explain of {r.fun_name}: {len(r.eqns())} equations, inputs "
            f"{', '.join(r.inputs)}; outputs {', '.join(r.outputs)}>"
        )


def explain(fun, *primals, tangents=None, cotangent=None) -> Explanation:
    """Evaluates ``fun(*primals)`` once and explains its derivatives, step by step.

    Args:
      fun: a plain JAX function; its arguments and outputs may be pytrees of arrays.
      *primals: concrete inputs.
      tangents: the forward-mode direction, a tuple with the primals' structure (default:
        ones for every float input).
      cotangent: the reverse-mode seed, with the output's structure (default: ones; for a
        scalar output that gives the gradient).

    Returns:
      An ``Explanation``: ``forward_table()``, ``reverse_table()``, ``tape()``, ``code()``,
      ``graph(path)`` and ``cost()``.

    Raises:
      The errors of ``adlab.jvp`` and ``adlab.vjp``: a primitive, param or dtype adlab does
      not differentiate is refused, never explained wrongly.
    """
    return Explanation(fun, tuple(primals), tangents, cotangent)


__all__ = ["CodeError", "Explanation", "Table", "explain", "fmt"]
