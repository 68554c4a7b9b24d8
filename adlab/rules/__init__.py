"""adlab's rule table: how each primitive pushes tangents forward and pulls cotangents back.

Every primitive in the set has one :class:`Rule` in ``RULES`` (the call primitives have a
handler with the same interface, registered by ``adlab.calls``). The rules of one family
live in one module (``elementwise``, ``structural``, ``linalg``), each registered right
under its function by one of the builders below:

* ``defelementwise(name, *partials)``: a diagonal local Jacobian. One expression
  ``partial(g, out, *primals)`` = ``g * d out / d x_i`` serves both modes (``g`` is a
  tangent or a cotangent); ``None`` marks an argument with zero derivative.
* ``deflinear(name, *transposes)``: a primitive linear in its one operand. Its tangent is the
  same primitive with the same params on the operand's tangent; ``transpose(ct, out,
  *primals)`` is its adjoint.
* ``defrule(name, jvps, vjps)``: separate per-argument JVP terms (summed) and VJPs.
* ``defwhole(name, jvp, vjp)``: rules that see every argument at once: ``jvp(tangents, out,
  *primals)`` returns the output tangent and ``vjp(ct, out, *primals, needs)`` one
  cotangent per argument.
* ``defmulti(name, jvp, vjp)``: primitives with several outputs (``split``, ``sort``...):
  ``jvp(tangents, outs, *primals)`` returns one tangent per output and ``vjp(cts, outs,
  *primals, needs)`` takes one cotangent per output (``None`` where zero).
* ``defzero(*names)``: outputs that carry no derivative (comparisons, sign...).

Every rule states the params it handles (``params={"axes": ANY, "out_sharding": UNSET}``).
An equation with a param the rule does not list, or a value its check rejects, raises
:class:`UnsupportedParamError` instead of being differentiated as if the param were not
there.

A rule never sees a symbolic zero: ``None`` (known to be zero) tangents and cotangents are
skipped, and only the cotangents of arguments that need one (``needs``) are computed.
Elementwise rules may return a term with the full output shape for an operand that was
implicitly broadcast (a rank-0 literal, a size-1 axis); tangents are broadcast up and
cotangents summed down here, so the rules stay one-liners.

Every rule emits only primitives that are themselves in the set, so adlab can
differentiate its own output to any order.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jax import lax

from .._compat import has_primitive
from .._dtypes import carries_derivative
from .._errors import (
    UnsupportedParamError,
    UnsupportedPrimitiveError,
    described,
    experimental_hint,
    where,
)
from .._trace import bind

ANY = lambda value: True  # noqa: E731  (every value of this param is handled)
UNSET = lambda value: value is None  # noqa: E731  (only the default, None, is handled)

HANDLERS: dict[str, Any] = {}
"""Primitive name -> its Rule (or call handler). The set adlab differentiates."""


@dataclass(frozen=True, eq=False)
class Rule:
    """How one primitive is differentiated, in both modes.

    Attributes:
      name: the primitive's name.
      jvp: ``jvp(tangents, out, *primals, **params)`` -> output tangent or ``None``;
        ``None`` for a linear rule (the primitive itself) or a zero-derivative one.
      vjp: ``vjp(ct, out, *primals, needs, **params)`` -> one cotangent per argument.
      params: param name -> check of its value; ``None`` for a zero-derivative rule,
        which holds whatever the params are.
      kind: how the rule is written, for the README's table.
      linear: the tangent is the primitive itself applied to the operand's tangent.
      multiple: the primitive has several outputs; jvp and vjp take and return lists.
    """

    name: str
    jvp: Callable | None
    vjp: Callable | None
    params: Mapping[str, Callable[[Any], bool]] | None
    kind: str
    linear: bool = False
    multiple: bool = False
    transparent: bool = field(default=False, init=False)  # walked inline (calls only)

    @property
    def zero(self) -> bool:
        """Whether the outputs carry no derivative, whatever the inputs."""
        return self.kind == "zero"

    def check_params(self, eqn, call_site=None) -> None:
        """Raises UnsupportedParamError unless every param of ``eqn`` is handled."""
        if self.params is not None:
            check_params(self.name, self.params, eqn, call_site)

    # --- The interpreters' interface (shared with the call handlers) ---------------------

    def push(self, prim, params, x_dots, primals, outs) -> list:
        """Output tangents (one, ``None`` if zero) from input tangents."""
        if self.multiple:
            return list(self.jvp(x_dots, outs, *primals, **params))
        if self.linear:
            (x_dot,) = x_dots
            return [prim.bind(x_dot, **params)]
        return [self.jvp(x_dots, outs[0], *primals, **params)]

    def pull(self, params, cts, primals, outs, needs) -> list:
        """Input cotangents (``None`` where zero or not needed) from output cotangents."""
        if self.multiple:
            in_cts = self.vjp(cts, outs, *primals, needs=needs, **params)
        else:
            in_cts = self.vjp(cts[0], outs[0], *primals, needs=needs, **params)
        return [c if need else None for c, need in zip(in_cts, needs)]

    def jvp_eqn(self, eqn, xs, x_dots, call_site, walk):
        """Evaluates one equation with tangents: (outs, out tangents)."""
        outs = bind(eqn, xs)
        return outs, self.push(eqn.primitive, eqn.params, x_dots, xs, outs)

    def record(self, eqn, xs, x_slots, recorder):
        """Evaluates one equation and appends it to the tape: (outs, out slots)."""
        outs = bind(eqn, xs)
        return outs, recorder.append(self, eqn, x_slots, xs, outs)

    def push_entry(self, entry, x_dots) -> list:
        return self.push(entry.eqn.primitive, entry.eqn.params, x_dots, entry.primals, entry.outs)

    def pull_entry(self, entry, cts) -> list:
        needs = [s is not None for s in entry.in_slots]
        return self.pull(entry.eqn.params, cts, entry.primals, entry.outs, needs)


def check_params(name: str, accepted: Mapping, eqn, call_site=None) -> None:
    """Raises UnsupportedParamError unless ``accepted`` lists and accepts every param."""
    for key, value in eqn.params.items():
        accepts = accepted.get(key)
        if accepts is None or not accepts(value):
            raise UnsupportedParamError(
                f"adlab's rule for {described(name)} does not handle {key}={value!r} (from "
                f"{where(eqn, call_site)}); it handles these params: "
                f"{', '.join(sorted(accepted)) or 'none'}, with the values JAX uses by "
                "default. Differentiate that operation with jax.grad / jax.jvp, or write "
                "it without that option.",
                name,
            )


def register(handler) -> None:
    """Adds a rule or a call handler to the set."""
    HANDLERS[handler.name] = handler


NEWER: dict[str, tuple[str, Any]] = {}
"""Rules for primitives that only newer JAX releases have: name -> (the release that added
the primitive, its rule). The rule is in HANDLERS where the installed JAX has the primitive."""


def since(release: str, *names: str) -> None:
    """Marks the rules just registered for ``names`` as rules of primitives added in ``release``,
    and takes them out of the set where the installed JAX does not have them."""
    for name in names:
        NEWER[name] = (release, HANDLERS[name])
        if not has_primitive(name):
            del HANDLERS[name]


LIBRARY_LOOKUPS: list[Callable] = []
"""Functions primitive -> handler or None, for primitives that a library (not JAX) defines
with rules of its own; ``adlab.library`` registers its lookup here."""


def _library_handler(prim):
    for lookup in LIBRARY_LOOKUPS:
        handler = lookup(prim)
        if handler is not None:
            return handler
    return None


def supported() -> frozenset[str]:
    """The names of every primitive adlab can differentiate."""
    return frozenset(HANDLERS)


def unsupported(eqn, mode: str, call_site=None) -> UnsupportedPrimitiveError:
    """Builds the error for an equation whose primitive adlab cannot differentiate."""
    name = eqn.primitive.name
    return UnsupportedPrimitiveError(
        f"adlab has no {mode} rule for the primitive {described(name)}, from "
        f"{where(eqn, call_site)}. adlab differentiates the closed set of primitives in "
        "adlab.PRIMITIVES (the README's table 'The primitive set' says what each covers). "
        "Rewrite that part with supported operations, keep it off the differentiated path "
        "(its inputs constant or behind lax.stop_gradient), or wrap it in jax.custom_jvp / "
        "jax.custom_vjp to give it a rule." + experimental_hint(),
        name,
    )


def handler_for(eqn, active: bool, mode: str, call_site=None):
    """The rule or call handler that differentiates ``eqn``, or ``None`` if none is needed.

    None is needed when no input carries a derivative (``active`` is False), when no
    output can carry one (every output is an integer or a boolean, as for ``argmax``, or
    there are none, as for ``debug_print``), or when the rule says the derivative is zero.

    Raises:
      UnsupportedDtypeError: a derivative would flow into a complex (or other unsupported)
        output.
      UnsupportedPrimitiveError: the primitive is outside the set.
      UnsupportedParamError: the rule does not handle one of the equation's params.
    """
    if not active:
        return None
    handler = _library_handler(eqn.primitive) or HANDLERS.get(eqn.primitive.name)
    if handler is None or not handler.transparent:
        name = eqn.primitive.name
        origin = f"the output of {described(name)} (from {where(eqn, call_site)})"
        carried = [carries_derivative(v.aval, origin, name) for v in eqn.outvars]
        if not any(carried):
            return None
    if handler is None:
        raise unsupported(eqn, mode, call_site)
    if handler.zero:
        return None
    handler.check_params(eqn, call_site)
    return handler


class Poisoned:
    """A tangent that must not be used: using it raises ``error()``.

    The outputs of a custom_vjp function have no tangent in forward mode. As in JAX, the
    error is raised only when such a tangent is used, so a custom_vjp call whose output
    does not influence what is differentiated is harmless.
    """

    def __init__(self, error: Callable[[], Exception]):
        self.error = error


def check_not_poisoned(x_dots) -> None:
    """Raises the error of the first poisoned tangent among ``x_dots``."""
    for t in x_dots:
        if isinstance(t, Poisoned):
            raise t.error()


# ---------------------------------------------------------------------------------------
# Builders: each turns one way of writing a rule into a Rule
# ---------------------------------------------------------------------------------------


def sum_terms(terms, out):
    """The sum of tangent terms, each broadcast to ``out``'s shape; ``None`` where none."""
    total = None
    for term in terms:
        term = match_shape(term, out)
        if term is not None:
            total = term if total is None else lax.add(total, term)
    return total


def _jvp_from(partials):
    def jvp(tangents, out, *primals, **params):
        terms = (
            rule(x_dot, out, *primals, **params)
            for rule, x_dot in zip(partials, tangents)
            if rule is not None and x_dot is not None
        )
        return sum_terms(terms, out)

    return jvp


def _vjp_from(transposes):
    def vjp(ct, out, *primals, needs, **params):
        return [
            unbroadcast(rule(ct, out, *primals, **params), x) if need and rule else None
            for rule, x, need in zip(transposes, primals, needs)
        ]

    return vjp


def defelementwise(name: str, *partials: Callable | None, params=None) -> None:
    """Registers an elementwise primitive: ``partial(g, out, *x)`` = g * d out/d x_i."""
    register(Rule(name, _jvp_from(partials), _vjp_from(partials), params or {}, "elementwise"))


def deflinear(name: str, *transposes: Callable | None, params=None) -> None:
    """Registers a primitive linear in its operand: its tangent is itself on the tangent."""
    register(Rule(name, None, _vjp_from(transposes), params or {}, "linear", linear=True))


def defrule(name: str, jvps, vjps, params=None) -> None:
    """Registers per-argument JVP terms (summed) and per-argument VJPs."""
    register(Rule(name, _jvp_from(jvps), _vjp_from(vjps), params or {}, "per argument"))


def defwhole(name: str, jvp: Callable, vjp: Callable, params=None) -> None:
    """Registers rules that take every argument's tangent (cotangent) at once."""
    register(Rule(name, jvp, vjp, params or {}, "whole"))


def defmulti(name: str, jvp: Callable, vjp: Callable, params=None) -> None:
    """Registers a primitive with several outputs: rules take and return one entry per output."""
    register(Rule(name, jvp, vjp, params or {}, "whole", multiple=True))


def defzero(*names: str) -> None:
    """Registers primitives whose outputs carry zero derivative, whatever their params."""
    for name in names:
        register(Rule(name, None, None, None, "zero"))


# ---------------------------------------------------------------------------------------
# Implicit broadcasting in jaxprs
# ---------------------------------------------------------------------------------------


def match_shape(x_dot, out):
    """Broadcasts a tangent term from a smaller operand up to the output's shape.

    Elementwise equations in a jaxpr may mix a rank-0 operand (``x * 2.0``) or size-1
    axes (``x - max(x, keepdims)``) with full-shape ones, with NumPy's alignment.
    """
    if x_dot is None or x_dot.shape == out.shape:
        return x_dot
    lead = out.ndim - x_dot.ndim  # broadcast_in_dim stretches size-1 axes itself
    return lax.broadcast_in_dim(x_dot, out.shape, tuple(range(lead, out.ndim)))


def unbroadcast(ct, x):
    """Sums a cotangent down to an operand that was implicitly broadcast (the adjoint)."""
    shape = tuple(getattr(x, "shape", ()))
    if ct is None or ct.shape == shape:
        return ct
    lead = ct.ndim - len(shape)
    stretched = [lead + i for i, n in enumerate(shape) if n == 1 and ct.shape[lead + i] != 1]
    summed = lax.reduce_sum(ct, (*range(lead), *stretched))
    return lax.reshape(summed, shape) if summed.shape != shape else summed


# Register the tables: each family module registers its rules when imported.
EXTRA_FAMILIES = ("special", "indexing", "cumulative", "windows", "conv", "sorting")
FAMILIES: dict[str, str] = {}
"""Primitive name -> the family module its rule is written in."""

for _family in ("elementwise", "structural", "linalg", *EXTRA_FAMILIES):
    _before = set(HANDLERS) | set(NEWER)
    importlib.import_module(f"{__name__}.{_family}")
    FAMILIES.update(dict.fromkeys((set(HANDLERS) | set(NEWER)) - _before, _family))
