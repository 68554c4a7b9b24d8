"""Forward mode: the JVP interpreter, and ``linearize``.

``jvp`` walks the jaxpr once, carrying a (primal, tangent) pair for every variable. Each
equation computes its primal output with JAX's own primitive and its output tangent with
adlab's JVP rule. A tangent that is known to be zero is ``None``, and equations whose
inputs all have zero tangent are evaluated without any derivative work.
"""

from __future__ import annotations

from jax import tree_util

from . import _checks, tape
from ._compat import open_inputs
from ._dtypes import zero_tangent
from ._trace import bind, live_equations, read_pair, trace
from .rules import check_not_poisoned, handler_for


def jvp_jaxpr(jaxpr, consts, primals, tangents, call_site=None):
    """Runs the JVP interpreter over an open jaxpr.

    Args:
      jaxpr: the jaxpr to differentiate.
      consts: values of its constvars (they have zero tangent).
      primals: values of its invars.
      tangents: a tangent per invar, ``None`` where it is zero.
      call_site: the outermost jit equation being walked, for error messages.

    Returns:
      (outs, out_tangents), with ``None`` for zero output tangents.
    """
    constvars, invars = open_inputs(jaxpr, len(consts), len(primals))
    env = {v: (c, None) for v, c in zip(constvars, consts)}
    env.update(zip(invars, zip(primals, tangents)))

    for eqn in live_equations(jaxpr):
        xs = [read_pair(env, v)[0] for v in eqn.invars]
        x_dots = [read_pair(env, v)[1] for v in eqn.invars]
        active = any(t is not None for t in x_dots)
        handler = handler_for(eqn, active, "JVP", call_site)
        if handler is None:  # no derivative flows through this equation
            outs, out_dots = bind(eqn, xs), [None] * len(eqn.outvars)
        else:
            check_not_poisoned(x_dots)
            outs, out_dots = handler.jvp_eqn(eqn, xs, x_dots, call_site, jvp_jaxpr)
        env.update(zip(eqn.outvars, zip(outs, out_dots)))
    outs = [read_pair(env, v) for v in jaxpr.outvars]
    return [o for o, _ in outs], [t for _, t in outs]


def jvp(fun, primals, tangents, has_aux: bool = False):
    """Forward-mode Jacobian-vector product, computed by adlab's JVP interpreter.

    Same signature and results as ``jax.jvp``.

    Args:
      fun: a function of ``len(primals)`` arguments, written in plain JAX; its inputs and
        outputs may be pytrees of arrays.
      primals: a tuple or list with the point to differentiate at.
      tangents: a tuple or list of tangents, with the primals' structure, shapes and
        dtypes (``float0`` for integer primals).
      has_aux: if True, ``fun`` returns ``(output, aux)`` and aux is returned as is.

    Returns:
      ``(primals_out, tangents_out)``, or ``(primals_out, tangents_out, aux)``.
    """
    flat_dots = _checks.tangents(primals, tangents, "jvp")
    traced = trace(fun, primals, has_aux)
    flat = traced.flat_primals
    outs, out_dots = jvp_jaxpr(traced.jaxpr.jaxpr, traced.jaxpr.consts, flat, flat_dots)
    check_not_poisoned(out_dots[: traced.num_out])
    return _package(traced, outs, out_dots)


def linearize(fun, *primals):
    """Evaluates ``fun`` once and returns its output and its linear tangent map.

    Same signature and results as ``jax.linearize``. The forward sweep records the
    active equations with their primal values (adlab's tape); the returned ``f_jvp``
    pushes tangents through that tape and reuses the stored primal values instead of
    evaluating ``fun`` again.

    Args:
      fun: a function of ``len(primals)`` arguments.
      *primals: the point to linearize at.

    Returns:
      ``(primals_out, f_jvp)`` where ``f_jvp(*tangents)`` returns the output tangent.
    """
    traced = trace(fun, primals)
    entries, outs, out_slots, in_slots = tape.sweep(traced)

    def f_jvp(*tangents):
        flat_dots = _checks.tangents(primals, tangents, "linearize")
        out_dots = tape.forward(entries, in_slots, flat_dots, out_slots)
        return _package(traced, outs, out_dots)[1]

    return tree_util.tree_unflatten(traced.out_tree, outs[: traced.num_out]), f_jvp


def _package(traced, outs, out_dots):
    # Zero tangents are returned as zeros (float0 for integer outputs), as JAX does.
    n = traced.num_out
    out_dots = [zero_tangent(o) if t is None else t for o, t in zip(outs, out_dots)]
    primal_out = tree_util.tree_unflatten(traced.out_tree, outs[:n])
    tangent_out = tree_util.tree_unflatten(traced.out_tree, out_dots[:n])
    if traced.aux_tree is None:
        return primal_out, tangent_out
    return primal_out, tangent_out, tree_util.tree_unflatten(traced.aux_tree, outs[n:])
