"""User function -> jaxpr. Tracing is JAX's job (``jax.make_jaxpr``); adlab only reads it.

This module also holds the small pieces every interpreter needs: flattening pytrees of
arguments, reading an equation's inputs, and evaluating an equation (or a whole jaxpr)
on primal values by binding JAX's own primitives.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from jax import tree_util
from jax.extend.core import ClosedJaxpr, Literal

from ._compat import is_reference, open_inputs
from ._errors import evaluation_failed, references_refused


@dataclass(frozen=True)
class Traced:
    """A user function as adlab sees it: a closed jaxpr over flat inputs and outputs.

    Attributes:
      jaxpr: the ClosedJaxpr; its invars are the flattened primals.
      flat_primals: the primals' leaves as arrays (Python scalars converted, as JAX does).
      in_tree: pytree structure of the primals.
      out_tree: pytree structure of the differentiated output.
      num_out: how many leading jaxpr outputs belong to the differentiated output; the
        rest are the auxiliary outputs of a ``has_aux`` function.
      aux_tree: pytree structure of the auxiliary output (``None`` without aux).
    """

    jaxpr: ClosedJaxpr
    flat_primals: list
    in_tree: Any
    out_tree: Any
    num_out: int
    aux_tree: Any = None


def trace(fun, primals: tuple, has_aux: bool = False) -> Traced:
    """Traces ``fun(*primals)`` to a jaxpr over the flattened primals."""
    if not callable(fun):
        raise TypeError(f"Expected a callable to differentiate, got {type(fun).__name__}.")
    flat, in_tree = tree_util.tree_flatten(tuple(primals))
    flat = [jnp.asarray(x) for x in flat]
    trees = {}

    def flat_fun(*flat_args):
        out = fun(*tree_util.tree_unflatten(in_tree, flat_args))
        if has_aux:
            if not (isinstance(out, tuple | list) and len(out) == 2):
                raise TypeError(
                    "With has_aux=True the function must return a pair (output, aux); "
                    f"it returned {type(out).__name__}."
                )
            out, aux = out
            aux_flat, trees["aux"] = tree_util.tree_flatten(aux)
        else:
            aux_flat = []
        out_flat, trees["out"] = tree_util.tree_flatten(out)
        trees["num_out"] = len(out_flat)
        return [*out_flat, *aux_flat]

    closed = jax.make_jaxpr(flat_fun)(*flat)
    return Traced(closed, flat, in_tree, trees["out"], trees["num_out"], trees.get("aux"))


def live_equations(jaxpr) -> list:
    """The equations that contribute to the outputs (or have effects), in program order.

    The interpreters skip the rest: no primal or derivative work is spent on values that
    nothing uses, as XLA would also drop them.

    Raises:
      UnsupportedPrimitiveError: an equation reads or writes a mutable reference, live or
        not (a write through a reference is invisible to the value flow followed here).
    """
    live = {v for v in jaxpr.outvars if not isinstance(v, Literal)}
    kept = []
    for eqn in reversed(jaxpr.eqns):
        if any(is_reference(v.aval) for v in (*eqn.invars, *eqn.outvars)):
            raise references_refused(eqn)
        if eqn.effects or any(v in live for v in eqn.outvars):
            kept.append(eqn)
            live.update(v for v in eqn.invars if not isinstance(v, Literal))
    return kept[::-1]


def read(env: dict, v):
    """The value of a jaxpr atom: a literal's constant, or the variable's entry in env."""
    return v.val if isinstance(v, Literal) else env[v]


def read_pair(env: dict, v):
    """A (value, derivative) pair for an atom; a literal is a constant, so its derivative
    part is ``None``."""
    return (v.val, None) if isinstance(v, Literal) else env[v]


def bind(eqn, args) -> list:
    """Evaluates one equation on primal values with JAX's own primitive; returns a list.

    An error JAX raises here (a backend without a kernel for the equation, say) passes
    through unchanged, with a note naming the equation and the user's line.
    """
    try:
        out = eqn.primitive.bind(*args, **eqn.primitive.get_bind_params(eqn.params))
    except Exception as err:
        evaluation_failed(err, eqn)
        raise
    return list(out) if eqn.primitive.multiple_results else [out]


def eval_jaxpr(jaxpr, consts, *args) -> list:
    """Evaluates an (open) jaxpr on primal values, equation by equation."""
    constvars, invars = open_inputs(jaxpr, len(consts), len(args))
    env = dict(zip(constvars, consts))
    env.update(zip(invars, args))
    for eqn in jaxpr.eqns:
        env.update(zip(eqn.outvars, bind(eqn, [read(env, v) for v in eqn.invars])))
    return [read(env, v) for v in jaxpr.outvars]


def leaf_names(fun: Callable, primals: Sequence[Any]) -> list[str]:
    """A name per input leaf, as the user wrote it: ``x``, or ``params['w1']`` in a pytree.

    The parameter names come from ``fun``'s signature; ``arg0``, ``arg1``... where it has none.
    """
    try:
        params = list(inspect.signature(fun).parameters.values())
    except (TypeError, ValueError):
        params = []
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    names = []
    for i, arg in enumerate(primals):
        base = positional[i] if i < len(positional) else f"arg{i}"
        for path, _ in tree_util.tree_flatten_with_path(arg)[0]:
            names.append(base + tree_util.keystr(path))
    return names
