"""One evaluation of a function, recorded equation by equation, in both modes.

The recording walks the jaxpr as adlab's interpreters do, with the same rules and handlers:
each live equation gets its primal values, its tangents (forward mode, ``handler.jvp_eqn``)
and its tape entries (reverse mode, ``handler.record``). The backward sweep then runs over
those entries, as ``tape.backward`` does, and keeps each equation's upstream and downstream
cotangents. Nested ``jit`` calls are walked inline, as the interpreters walk them, but their
start and end are kept so that the tables can show them as indented groups.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import jax.numpy as jnp
from jax import lax, tree_util
from jax.extend.core import Literal

from .. import forward, tape
from .._checks import cotangent as check_cotangent
from .._checks import tangents as check_tangents
from .._compat import open_inputs
from .._dtypes import carries_derivative
from .._errors import where
from .._trace import bind, leaf_names, live_equations, trace
from ..calls import Jit
from ..rules import FAMILIES, HANDLERS, Rule, check_not_poisoned, handler_for

ELEMENTWISE_FAMILIES = ("elementwise", "special")


@dataclass
class Var:
    """One value of the program: an input, a constant, a literal or an equation's output.

    Attributes:
      name: its name in the tables and in the generated code.
      value: the concrete array.
      kind: "input", "const", "literal" or "value".
      tangent: its tangent for the chosen direction (``None``: zero).
      cotangent: d(output . cotangent)/d(this value) (``None``: zero or no derivative).
      slot: its slot on the tape (``None``: no derivative flows through it).
    """

    name: str
    value: Any = field(repr=False)
    kind: str
    tangent: Any = field(default=None, repr=False)
    cotangent: Any = field(default=None, repr=False)
    slot: int | None = None


@dataclass
class Step:
    """One equation, or the start or end of a jit scope.

    Attributes:
      kind: "eqn", "enter" (a jit scope starts) or "exit" (it ends).
      primitive: the primitive's name (the jit's name for a scope).
      inputs / outputs: the names of the values it reads and writes.
      depth: how many jit scopes it is inside.
      line: the user's source line.
      eqn: the jaxpr equation (for its params), ``None`` for a scope.
      active: whether a derivative flows through it.
      local: per input, the elementwise local derivative d out / d input (elementwise
        primitives only; else ``None``).
      upstream: per output, the cotangent that reached it in the backward sweep.
      downstream: per input, the cotangent this equation sent back to it.
    """

    kind: str
    primitive: str
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    depth: int = 0
    line: str = ""
    eqn: Any = field(default=None, repr=False)
    active: bool = False
    local: list = field(default_factory=list, repr=False)
    upstream: list = field(default_factory=list, repr=False)
    downstream: list = field(default_factory=list, repr=False)
    entries: list = field(default_factory=list, repr=False)


@dataclass
class Recording:
    """Everything ``explain`` shows: the values, the steps, and which are inputs and outputs."""

    fun_name: str
    vars: dict[str, Var]
    steps: list[Step]
    inputs: list[str]
    outputs: list[str]
    traced: Any = field(repr=False)
    # No cotangent was given and an output is not a scalar: the seed is ones, so reverse mode
    # gives the gradient of the sum of the outputs' entries, which the tables say.
    sum_seeded: bool = False

    def eqns(self) -> list[Step]:
        return [s for s in self.steps if s.kind == "eqn"]


def input_names(fun, primals) -> list[str]:
    """A Python name per input leaf: ``params['w1']`` -> ``params_w1`` (see ``leaf_names``)."""
    return [identifier(name) for name in leaf_names(fun, primals)]


def identifier(text: str) -> str:
    """``params['w1']`` -> ``params_w1``: a Python name for the generated code."""
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in text)
    out = "_".join(part for part in out.split("_") if part) or "arg"
    return out if not out[0].isdigit() else f"v{out}"


class _Recorder:
    def __init__(self, fun, primals, tangents, cotangent):
        self.traced = trace(fun, primals)
        flat = self.traced.flat_primals
        names = input_names(fun, primals)
        if tangents is None:
            dots = [_ones_or_none(x) for x in flat]
        else:
            dots = [None if not carries_derivative(t) else t
                    for t in check_tangents(primals, tangents, "explain")]  # fmt: skip
        self.vars: dict[str, Var] = {}
        self.steps: list[Step] = []
        self.entries: list = []
        in_slots = tape.input_slots(flat)
        self.slots = itertools.count(len(flat))
        self.counter = itertools.count()  # literals and constants
        self.values = itertools.count()  # the equations' outputs: v0, v1, ...
        self.inputs = []
        for name, x, dot, slot in zip(names, flat, dots, in_slots):
            self.inputs.append(self._add(name, x, "input", dot if slot is not None else None, slot))
        jaxpr = self.traced.jaxpr
        self.outputs = self._walk(jaxpr.jaxpr, jaxpr.consts, self.inputs, 0, None)
        self.outputs = self._rename_outputs(self.outputs)
        self._backward(cotangent)

    # --- naming ------------------------------------------------------------------------
    def _add(self, name, value, kind, tangent=None, slot=None) -> str:
        while name in self.vars:
            name = f"{name}_"
        self.vars[name] = Var(name, value, kind, tangent, None, slot)
        return name

    def _fresh(self, value, tangent, slot) -> str:
        return self._add(f"v{next(self.values)}", value, "value", tangent, slot)

    def _atom(self, env, v) -> str:
        if isinstance(v, Literal):
            return self._add(f"lit{next(self.counter)}", jnp.asarray(v.val), "literal")
        return env[v]

    def _rename_outputs(self, outs) -> list[str]:
        """The function's outputs are called ``out`` (``out0``, ``out1``... if several)."""
        renamed = []
        for i, name in enumerate(outs):
            var = self.vars[name]
            if var.kind != "value" or name in renamed:
                renamed.append(name)
                continue
            new = "out" if len(outs) == 1 else f"out{i}"
            if new in self.vars:
                renamed.append(name)
                continue
            self.vars[new] = self.vars.pop(name)
            var.name = new
            for step in self.steps:
                step.inputs = [new if n == name else n for n in step.inputs]
                step.outputs = [new if n == name else n for n in step.outputs]
            renamed.append(new)
        return renamed

    # --- the forward sweep: values, tangents and the tape ---------------------------------
    def _walk(self, jaxpr, consts, in_names, depth, call_site) -> list[str]:
        constvars, invars = open_inputs(jaxpr, len(consts), len(in_names))
        env = dict(zip(invars, in_names))
        for v, c in zip(constvars, consts):
            env[v] = self._add(f"c{next(self.counter)}", jnp.asarray(c), "const")
        for eqn in live_equations(jaxpr):
            names = [self._atom(env, v) for v in eqn.invars]
            xs = [self.vars[n].value for n in names]
            dots = [self.vars[n].tangent for n in names]
            slots = [self.vars[n].slot for n in names]
            active = any(s is not None for s in slots)
            if isinstance(HANDLERS.get(eqn.primitive.name), Jit):
                handler_for(eqn, active, "JVP", call_site)  # refuses a param it does not handle
                label = str(eqn.params.get("name", eqn.primitive.name))
                line = where(eqn, call_site)
                self.steps.append(Step("enter", label, names, [], depth, line, eqn, True))
                inner = eqn.params["jaxpr"]
                outs = self._walk(inner.jaxpr, inner.consts, names, depth + 1, call_site or eqn)
                self.steps.append(Step("exit", label, names, outs, depth, line, eqn, True))
                env.update(zip(eqn.outvars, outs))
                continue
            handler = handler_for(eqn, active, "JVP", call_site)
            step = Step("eqn", eqn.primitive.name, names, [], depth, where(eqn, call_site), eqn)
            if handler is None:
                outs, out_dots, out_slots = bind(eqn, xs), [None] * len(eqn.outvars), None
            else:
                check_not_poisoned(dots)
                _, out_dots = handler.jvp_eqn(eqn, xs, dots, call_site, forward.jvp_jaxpr)
                start = len(self.entries)
                recorder = tape.Recorder(self.entries, 0, call_site, self.slots)
                outs, out_slots = handler_for(eqn, True, "VJP", call_site).record(
                    eqn, xs, slots, recorder
                )
                step.entries = self.entries[start:]
                step.active = True
                step.local = self._local(handler, eqn, xs, outs)
            out_slots = out_slots or [None] * len(outs)
            step.outputs = [self._fresh(o, d, s) for o, d, s in zip(outs, out_dots, out_slots)]
            self.steps.append(step)
            env.update(zip(eqn.outvars, step.outputs))
        return [self._atom(env, v) for v in jaxpr.outvars]

    @staticmethod
    def _local(handler, eqn, xs, outs) -> list:
        """d out / d x_i, elementwise, for an elementwise primitive with one output."""
        elementwise = FAMILIES.get(eqn.primitive.name) in ELEMENTWISE_FAMILIES
        if not (isinstance(handler, Rule) and elementwise and len(outs) == 1):
            return [None] * len(xs)
        local = []
        for i, x in enumerate(xs):
            if jnp.shape(x) != jnp.shape(outs[0]) or not carries_derivative(x):
                local.append(None)
                continue
            dots = [jnp.ones_like(x) if j == i else None for j in range(len(xs))]
            d = handler.push(eqn.primitive, eqn.params, dots, xs, outs)[0]
            local.append(jnp.zeros_like(outs[0]) if d is None else d)
        return local

    # --- the backward sweep --------------------------------------------------------------
    def _backward(self, cotangent) -> None:
        outs = [self.vars[n] for n in self.outputs]
        if cotangent is None:
            seeds = [_ones_or_none(v.value) for v in outs]
        else:
            tree = tree_util.tree_structure([0] * len(outs))
            if self.traced.num_out == len(outs):
                tree = self.traced.out_tree
            seeds = check_cotangent(tree, [v.value for v in outs], cotangent)
        ct: dict[int, Any] = {}

        def accumulate(slot, c):
            if slot is not None and c is not None:
                ct[slot] = c if slot not in ct else lax.add(ct[slot], c)

        for v, c in zip(outs, seeds):
            accumulate(v.slot, c)
        slot_vars = {v.slot: v for v in self.vars.values() if v.slot is not None}
        for step in reversed(self.steps):
            if step.kind != "eqn" or not step.active:
                continue
            step.upstream = [ct.get(self.vars[n].slot) for n in step.outputs]
            for n, c in zip(step.outputs, step.upstream):
                self.vars[n].cotangent = c
            step.downstream = [None] * len(step.inputs)
            if all(c is None for c in step.upstream):
                continue
            positions = {}
            for i, n in enumerate(step.inputs):
                positions.setdefault(self.vars[n].slot, i)
            for entry in reversed(step.entries):
                upstream = [ct.pop(s, None) if s is not None else None for s in entry.out_slots]
                if all(c is None for c in upstream):
                    continue
                for slot, c in zip(entry.in_slots, entry.handler.pull_entry(entry, upstream)):
                    accumulate(slot, c)
                    i = positions.get(slot)
                    if i is not None and c is not None:
                        d = step.downstream[i]
                        step.downstream[i] = c if d is None else lax.add(d, c)
        for slot, v in slot_vars.items():
            if v.kind == "input":
                v.cotangent = ct.get(slot)


def _ones_or_none(x):
    """The default direction or seed: ones for a float array; none for an integer one."""
    return jnp.ones_like(x) if carries_derivative(x) else None


def record(fun, primals, tangents=None, cotangent=None) -> Recording:
    """Evaluates ``fun(*primals)`` once, with tangents and cotangents, step by step.

    Args:
      fun: a plain JAX function.
      primals: its arguments (pytrees of arrays).
      tangents: the forward-mode direction, with the primals' structure (default: ones).
      cotangent: the reverse-mode seed, with the output's structure (default: ones, which
        gives the gradient of a scalar output, and of the sum of the entries of any other).

    Returns:
      The recording.
    """
    r = _Recorder(fun, tuple(primals), tangents, cotangent)
    name = getattr(fun, "__name__", type(fun).__name__)
    summed = cotangent is None and any(
        jnp.size(r.vars[n].value) != 1 for n in r.outputs if r.vars[n].slot is not None
    )
    return Recording(name, r.vars, r.steps, r.inputs, r.outputs, r.traced, summed)
