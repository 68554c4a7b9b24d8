"""Library-defined primitives (lineax, equinox...): honoured through the rules their library
registered with JAX, as custom_jvp / custom_vjp functions are honoured through theirs.

* Forward mode calls the library's JVP rule, ``ad.primitive_jvps[prim](primals, tangents,
  **params)``, with JAX's symbolic ``ad.Zero`` for zero tangents, exactly as JAX's JVPTrace
  does; ``Zero`` outputs (and tangents of integer outputs) become adlab's ``None``.
* Reverse mode transposes that JVP's tangent map with adlab's own VJP interpreter (as
  ``CustomJvp.pull_entry`` does). Every equation of a JVP's tangent map that reads a tangent
  is linear in what it reads (JAX's contract for JVP rules); a library primitive among them is
  recorded as such (``calls.LINEAR``) and pulled with the library's transpose rule,
  ``ad.primitive_transposes[prim](cts, *args, **params)``, with ``ad.UndefinedPrimal`` for
  the inputs it is linear in. Transposing its JVP instead would loop: the JVP of a linear
  primitive is the primitive itself.
"""

from __future__ import annotations

import sys

import jax
from jax.extend.core import Primitive
from jax.interpreters import ad

from . import reverse
from ._dtypes import carries_derivative, zero_tangent
from ._errors import UnsupportedPrimitiveError, where
from ._trace import bind
from .calls import LINEAR, CallHandler, linear_context
from .rules import LIBRARY_LOOKUPS

# --- which primitives are JAX's own --------------------------------------------------------

_JAX_OWNED: set = set()
_NOT_JAX: set = set()


def _scan_jax_modules() -> None:
    for name, module in list(sys.modules.items()):
        if name in ("jax", "jaxlib") or name.startswith(("jax.", "jaxlib.")):
            for value in list(getattr(module, "__dict__", {}).values()):
                if isinstance(value, Primitive):
                    _JAX_OWNED.add(value)


def is_jax_primitive(prim) -> bool:
    """Whether ``prim`` is one of JAX's own primitives: a global of a module of jax/jaxlib.

    Every JAX primitive is a module global (``lax.sin_p``...) of the module that defines it,
    which is imported by the time the primitive can appear in a jaxpr; a library's primitive
    is a global of the library's module only. The type says nothing (both are
    ``jax.extend.core.Primitive``) and neither does the name (a library may reuse one).
    Modules imported later (jax.experimental...) are picked up by a rescan on a miss.
    """
    if prim in _JAX_OWNED:
        return True
    if prim in _NOT_JAX:
        return False
    _scan_jax_modules()
    if prim in _JAX_OWNED:
        return True
    _NOT_JAX.add(prim)
    return False


# --- the handler -----------------------------------------------------------------------------


def _zero(x):
    return ad.Zero(jax.typeof(x).to_tangent_aval())


def _from_jax(t, out):
    """A tangent (cotangent) from a JAX rule, as adlab writes it: None for a zero."""
    if t is None or t is ad.Zero or isinstance(t, ad.Zero) or not carries_derivative(out):
        return None
    return t


def run_jvp(prim, params, xs, x_dots):
    """The library's JVP rule: (primals, tangents with None for zero) -> (outs, out tangents)."""
    # Tuples, as JAX's JVPTrace passes them (equinox's vprim rule vmaps over them).
    tangents = tuple(_zero(x) if t is None else t for x, t in zip(xs, x_dots))
    outs, out_dots = ad.primitive_jvps[prim](tuple(xs), tangents, **params)
    if not prim.multiple_results:
        outs, out_dots = [outs], [out_dots]
    outs = list(outs)
    return outs, [_from_jax(t, o) for t, o in zip(out_dots, outs)]


class LibraryPrimitive(CallHandler):
    """One handler for every library primitive that registers a JVP rule with JAX."""

    name = "<library primitive>"
    kind = "library"

    def check_params(self, eqn, call_site=None) -> None:
        pass  # the params are the library's own, read only by its own rules

    def jvp_eqn(self, eqn, xs, x_dots, call_site, walk):
        return run_jvp(eqn.primitive, eqn.params, xs, x_dots)

    def record(self, eqn, xs, x_slots, recorder):
        outs = bind(eqn, xs)
        return outs, recorder.append(self, eqn, x_slots, xs, outs, extra=LINEAR.get())

    def push_entry(self, entry, x_dots):
        return run_jvp(entry.eqn.primitive, entry.eqn.params, entry.primals, x_dots)[1]

    def pull_entry(self, entry, cts):
        if entry.extra:  # inside a JVP's tangent map: linear in its active inputs
            return self._transpose(entry, cts)
        prim, params, xs = entry.eqn.primitive, entry.eqn.params, entry.primals
        idx = [i for i, s in enumerate(entry.in_slots) if s is not None]

        def tangent_map(*dots):
            full = [None] * len(xs)
            for i, d in zip(idx, dots):
                full[i] = d
            outs, out_dots = run_jvp(prim, params, xs, full)
            return [zero_tangent(o) if t is None else t for o, t in zip(outs, out_dots)]

        with linear_context():
            _, pullback = reverse.vjp_flat(tangent_map, [zero_tangent(xs[i]) for i in idx])
        in_cts = [None] * len(xs)
        for i, c in zip(idx, pullback(list(cts))):  # None cotangents stay symbolic zeros
            in_cts[i] = c
        return in_cts

    @staticmethod
    def _transpose(entry, cts):
        eqn, xs = entry.eqn, entry.primals
        rule = ad.primitive_transposes.get(eqn.primitive)
        if rule is None:
            raise UnsupportedPrimitiveError(
                f"the library primitive '{eqn.primitive.name}' (from {where(eqn)}) registers "
                "no transpose rule, so its linear use in a JVP rule cannot be reversed.",
                eqn.primitive.name,
            )
        args = [x if s is None else ad.UndefinedPrimal(jax.typeof(x))
                for x, s in zip(xs, entry.in_slots)]  # fmt: skip
        cts = [_zero(o) if c is None else c for c, o in zip(cts, entry.outs)]
        out = rule(cts if eqn.primitive.multiple_results else cts[0], *args, **eqn.params)
        return [None if s is None else _from_jax(c, x)
                for c, x, s in zip(out, xs, entry.in_slots)]  # fmt: skip


LIBRARY = LibraryPrimitive()
LIBRARY_LOOKUPS.append(lambda prim: library_handler(prim))


def library_handler(prim):
    """The handler for ``prim`` if it is a library primitive with a JVP rule, else None."""
    if prim in ad.primitive_jvps and not is_jax_primitive(prim):
        return LIBRARY
    return None
