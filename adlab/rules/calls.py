"""The call primitives: jit, custom_jvp_call and custom_vjp_call.

``jit`` needs no rule: the interpreters walk its inner jaxpr inline, so under
``jax.jit`` the program XLA sees is the same as for the function without the inner jit.

A ``custom_jvp`` function brings its own JVP rule, and adlab uses it exactly as JAX does
(``adlab.grad(jax.nn.relu)(0.0) == 0.0``). Reverse mode needs no extra rule: the custom
JVP's tangent map is linear, and adlab's own VJP interpreter transposes it.

A ``custom_vjp`` function brings fwd and bwd. Reverse mode runs fwd in the forward sweep
and bwd in the backward sweep. Forward mode is an error, as in JAX.
"""

from __future__ import annotations

from jax import lax
from jax._src.ad_util import Zero
from jax._src.custom_derivatives import SymbolicZero

from .._trace import eval_jaxpr
from . import is_float, zero_tangent


def custom_jvp(params, primals, tangents):
    """Runs a custom_jvp function's own rule: (primals, tangents) -> (outs, out tangents)."""
    n = params["num_consts"]
    args, arg_dots = primals[n:], tangents[n:]
    arg_dots = [zero_tangent(x) if t is None else t for x, t in zip(args, arg_dots)]
    jaxpr, consts, out_zeros = params["jvp_jaxpr_fun"].call_wrapped(*[False] * len(args))
    outs = eval_jaxpr(jaxpr, consts, *args, *arg_dots)
    out_primals, nonzero_dots = outs[: len(out_zeros)], iter(outs[len(out_zeros) :])
    out_dots = [None if z else next(nonzero_dots) for z in out_zeros]
    out_dots = [t if t is not None and is_float(t) else None for t in out_dots]
    return out_primals, out_dots


def custom_jvp_tangent_map(params, primals):
    """The (linear) map from input tangents to output tangents at ``primals``."""

    def tangent_map(*arg_dots):
        dots = [None] * params["num_consts"] + list(arg_dots)
        outs, out_dots = custom_jvp(params, primals, dots)
        return [zero_tangent(o) if t is None else t for o, t in zip(outs, out_dots)]

    return tangent_map


def custom_vjp_forward(prim, params, primals, active):
    """Runs fwd: returns (outputs, residuals, bwd)."""
    _, fwd, bwd = prim.get_bind_params(params)["subfuns"]
    fwd_args = [x for pair in zip(primals, active) for x in pair]
    res_and_outs = fwd.call_wrapped(*fwd_args)  # raises JAX's error for active consts
    _, res_tree, input_fwds = params["out_trees"]()
    num_res = res_tree.num_leaves - sum(f is not None for f in input_fwds)
    fresh, outs = res_and_outs[:num_res], res_and_outs[num_res:]
    fresh = iter(fresh)
    res = [next(fresh) if f is None else primals[f] for f in input_fwds]
    return list(outs), res, bwd


def custom_vjp_backward(bwd, res, outs, cts):
    """Runs bwd on the output cotangents; returns one cotangent per input (None: zero)."""
    cts = [lax.full_like(o, 0) if c is None else c for c, o in zip(cts, outs)]
    cts_in = bwd.call_wrapped(*res, *cts)
    return [None if isinstance(c, Zero | SymbolicZero) or not is_float(c) else c for c in cts_in]


def custom_vjp_forward_mode_error() -> TypeError:
    """The error JAX raises for forward mode through a custom_vjp function."""
    return TypeError(
        "can't apply forward-mode autodiff (jvp) to a custom_vjp function: a custom_vjp "
        "function defines only its reverse-mode rule. Use reverse mode (adlab.vjp, "
        "adlab.grad, adlab.jacrev), or define the function with jax.custom_jvp instead."
    )
