"""The call primitives: one handler each, with the interface of a ``Rule``.

A call primitive holds a whole program (a jaxpr or a Python function) in its params. Each
handler says how its primitive evaluates with tangents (``jvp_eqn``), how it records onto
the tape (``record``), how a recorded entry pushes tangents (``push_entry``, for
``linearize``) and how it pulls cotangents (``pull_entry``). The interpreters look the
handler up by the equation's primitive and never name one.

* ``jit``: walked inline (it is ``transparent``), so the tape stays flat and under
  ``jax.jit`` the program XLA sees is the same as for the function without the inner jit.
* ``custom_jvp_call``: the function's own JVP rule, exactly as JAX uses it
  (``adlab.grad(jax.nn.relu)(0.0) == 0.0``). Reverse mode needs no extra rule: the custom
  rule's tangent map is linear, and adlab's own VJP interpreter transposes it.
* ``custom_vjp_call``: reverse mode runs fwd in the forward sweep and bwd in the backward
  sweep. Forward mode is an error, as in JAX, raised where the tangent is used.
"""

from __future__ import annotations

import contextlib
import contextvars

from jax import lax

from . import forward, reverse
from ._compat import SymbolicZero, UnspecifiedValue, Zero, bwd_cotangents, cotangent_aval
from ._dtypes import carries_derivative, zero_tangent
from ._errors import where
from ._trace import bind, eval_jaxpr
from .rules import ANY, Poisoned, check_params, register

LINEAR = contextvars.ContextVar("adlab_linear", default=False)
"""True while recording the tangent map of a JVP rule (a custom_jvp's, a library primitive's)
to transpose it: every equation recorded then is linear in its active inputs (JAX's contract
for JVP rules), as in JAX's partial evaluation of a linearized function."""


@contextlib.contextmanager
def linear_context():
    token = LINEAR.set(True)
    try:
        yield
    finally:
        LINEAR.reset(token)


class CallHandler:
    """The common part of the call handlers: name, params check, defaults."""

    name: str
    transparent = False  # walked inline: the inner equations are checked one by one
    zero = False
    kind = "call"
    params: dict = {}

    def push_entry(self, entry, x_dots):  # only handlers that record entries define these
        raise AssertionError(f"'{self.name}' records no tape entries of its own")

    pull_entry = push_entry

    def check_params(self, eqn, call_site=None) -> None:
        check_params(self.name, self.params, eqn, call_site)


# --- jit ------------------------------------------------------------------------------------


def _all_unspecified(shardings) -> bool:
    return all(isinstance(s, UnspecifiedValue) for s in shardings)


def _all_none(layouts) -> bool:
    return all(x is None for x in layouts)


class Jit(CallHandler):
    """``jax.jit`` inside the differentiated function: its program is walked inline.

    Walking inline computes the same values; the params that only steer compilation
    (name, donation, inlining, keep_unused, the mesh context) change nothing. Shardings,
    layouts and compiler options are handled only at their defaults.
    """

    name = "jit"
    transparent = True
    params = {
        "jaxpr": ANY,
        "in_shardings": _all_unspecified,
        "out_shardings": _all_unspecified,
        "in_layouts": _all_none,
        "out_layouts": _all_none,
        "donated_invars": ANY,
        "ctx_mesh": ANY,
        "name": ANY,
        "keep_unused": ANY,
        "inline": ANY,
        "compiler_options_kvs": lambda kvs: not kvs,
    }

    def jvp_eqn(self, eqn, xs, x_dots, call_site, walk):
        inner = eqn.params["jaxpr"]
        return walk(inner.jaxpr, inner.consts, xs, x_dots, call_site or eqn)

    def record(self, eqn, xs, x_slots, recorder):
        inner = eqn.params["jaxpr"]
        return recorder.walk(inner.jaxpr, inner.consts, xs, x_slots, eqn)


# --- custom_jvp -------------------------------------------------------------------------------


def _closed_over_error(eqn, call_site):
    return TypeError(
        "Detected differentiation of a custom_jvp function with respect to a closed-over "
        f"value (from {where(eqn, call_site)}). That isn't supported because the custom "
        "JVP rule only specifies how to differentiate the function with respect to its "
        "explicit arguments, so the derivative with respect to that value would be lost. "
        "Pass the closed-over value into the custom_jvp function as an argument, and "
        "extend its JVP rule to it."
    )


def _run_custom_jvp(params, primals, tangents):
    """Runs a custom_jvp function's own rule: (primals, tangents) -> (outs, out tangents)."""
    n = params["num_consts"]
    args, arg_dots = primals[n:], tangents[n:]
    if params["symbolic_zeros"]:
        # As JAX does for defjvp(..., symbolic_zeros=True): the rule is told which tangents
        # are zero (it sees them as SymbolicZero objects) and reads only the others.
        zeros = [t is None for t in arg_dots]
        arg_dots = [t for t in arg_dots if t is not None]
    else:
        zeros = [False] * len(args)
        arg_dots = [zero_tangent(x) if t is None else t for x, t in zip(args, arg_dots)]
    jaxpr, consts, out_zeros = params["jvp_jaxpr_fun"].call_wrapped(*zeros)
    outs = eval_jaxpr(jaxpr, consts, *args, *arg_dots)
    out_primals, nonzero_dots = outs[: len(out_zeros)], iter(outs[len(out_zeros) :])
    out_dots = [None if z else next(nonzero_dots) for z in out_zeros]
    out_dots = [t if t is not None and carries_derivative(o) else None
                for o, t in zip(out_primals, out_dots)]  # fmt: skip
    return out_primals, out_dots


def _placed(values, positions, like) -> list:
    """``values`` at ``positions`` of a list as long as ``like``, ``None`` elsewhere."""
    out = [None] * len(like)
    for i, v in zip(positions, values):
        out[i] = v
    return out


class CustomJvp(CallHandler):
    name = "custom_jvp_call"
    params = {"call_jaxpr": ANY, "jvp_jaxpr_fun": ANY, "num_consts": ANY, "symbolic_zeros": ANY}

    @staticmethod
    def _check_consts(eqn, active, call_site):
        if any(active[: eqn.params["num_consts"]]):
            raise _closed_over_error(eqn, call_site)

    def jvp_eqn(self, eqn, xs, x_dots, call_site, walk):
        self._check_consts(eqn, [t is not None for t in x_dots], call_site)
        return _run_custom_jvp(eqn.params, xs, x_dots)

    def record(self, eqn, xs, x_slots, recorder):
        if LINEAR.get():
            # Inside a tangent map the function is linear in what it reads: as JAX's partial
            # evaluation does, differentiate its own program, not its rule (a rule that
            # applies the function to the tangents would otherwise be transposed forever).
            closed = eqn.params["call_jaxpr"]
            return recorder.walk(closed.jaxpr, closed.consts, xs, x_slots, eqn)
        self._check_consts(eqn, [s is not None for s in x_slots], recorder.call_site)
        outs = bind(eqn, xs)
        return outs, recorder.append(self, eqn, x_slots, xs, outs)

    def push_entry(self, entry, x_dots):
        return _run_custom_jvp(entry.eqn.params, entry.primals, x_dots)[1]

    def pull_entry(self, entry, cts):
        # The custom rule's tangent map is linear in the tangents: transpose it with
        # adlab's own VJP, at zero tangents.
        # The inputs with no derivative get no tangent (a symbolic zero), as in JAX.
        params, primals = entry.eqn.params, entry.primals
        active = [i for i, s in enumerate(entry.in_slots) if s is not None]

        def tangent_map(*dots):
            outs, out_dots = _run_custom_jvp(params, primals, _placed(dots, active, primals))
            return [zero_tangent(o) if t is None else t for o, t in zip(outs, out_dots)]

        with linear_context():
            zeros = [zero_tangent(primals[i]) for i in active]
            _, pullback = reverse.vjp_flat(tangent_map, zeros)
        # None cotangents stay symbolic zeros (not materialised), as in JAX: a zero array
        # passed back through an identity tangent map would reach, e.g., equinox's
        # nondifferentiable_backward as a "nonzero" cotangent and raise.
        return _placed(pullback(list(cts)), active, primals)


# --- custom_vjp -------------------------------------------------------------------------------


def custom_vjp_forward_mode_error() -> TypeError:
    """The error JAX raises for forward mode through a custom_vjp function."""
    return TypeError(
        "can't apply forward-mode autodiff (jvp) to a custom_vjp function: a custom_vjp "
        "function defines only its reverse-mode rule. Use reverse mode (adlab.vjp, "
        "adlab.grad, adlab.jacrev), or define the function with jax.custom_jvp instead."
    )


class CustomVjp(CallHandler):
    name = "custom_vjp_call"
    params = {
        "call_jaxpr": ANY,
        "fwd_jaxpr_thunk": ANY,
        "num_consts": ANY,
        "bwd": ANY,
        "out_trees": ANY,
        "symbolic_zeros": ANY,
    }

    def jvp_eqn(self, eqn, xs, x_dots, call_site, walk):
        outs = bind(eqn, xs)
        return outs, [Poisoned(custom_vjp_forward_mode_error) if carries_derivative(o) else None
                      for o in outs]  # fmt: skip

    def record(self, eqn, xs, x_slots, recorder):
        # Run fwd: it returns the outputs and the residuals that bwd will read.
        _, fwd, bwd = eqn.primitive.get_bind_params(eqn.params)["subfuns"]
        active = [s is not None for s in x_slots]
        res_and_outs = fwd.call_wrapped(*[x for pair in zip(xs, active) for x in pair])
        _, res_tree, input_fwds = eqn.params["out_trees"]()
        num_res = res_tree.num_leaves - sum(f is not None for f in input_fwds)
        fresh, outs = iter(res_and_outs[:num_res]), list(res_and_outs[num_res:])
        res = [next(fresh) if f is None else xs[f] for f in input_fwds]
        return outs, recorder.append(self, eqn, x_slots, xs, outs, saved=res, extra=bwd)

    def push_entry(self, entry, x_dots):
        raise custom_vjp_forward_mode_error()

    def pull_entry(self, entry, cts):
        if entry.eqn.params["symbolic_zeros"]:  # bwd is told which cotangents are zero
            cts = [SymbolicZero(cotangent_aval(o)) if c is None else c
                   for c, o in zip(cts, entry.outs)]  # fmt: skip
        else:
            cts = [zero_tangent(o) if c is None else c for c, o in zip(cts, entry.outs)]
        cts_in = bwd_cotangents(entry.extra.call_wrapped(*entry.saved, *cts))  # bwd(res, cts)
        return [None if isinstance(c, Zero | SymbolicZero) or not carries_derivative(c) else c
                for c in cts_in]  # fmt: skip


# --- custom_linear_solve ----------------------------------------------------------------------


class CustomLinearSolve(CallHandler):
    """``lax.custom_linear_solve`` (``jnp.linalg.solve``, ``inv``): x = A^-1 b, A a matvec.

    JAX's implicit differentiation: A x = b gives dx = A^-1 (db - dA x), where dA x is the
    matvec's derivative with respect to what it closes over. The solvers are taken to invert
    the matvec, so what they close over gets no derivative (in ``jnp.linalg.solve`` it is the
    LU factorisation, computed behind stop_gradient). Reverse mode: b_bar = A^-T x_bar, a
    solve with the transposed solver, and the matvec's operands get -(d(A x)/d them)^T b_bar.
    """

    name = "custom_linear_solve"
    params = {"const_lengths": ANY, "jaxprs": ANY}

    @staticmethod
    def _split(params, values):
        lengths = params["const_lengths"]
        n = [lengths.matvec, lengths.vecmat, lengths.solve, lengths.transpose_solve]
        starts = [0, n[0], n[0] + n[1], n[0] + n[1] + n[2], sum(n)]
        matvec = values[: starts[1]]
        return matvec, values[starts[4] :], starts[4]

    def jvp_eqn(self, eqn, xs, x_dots, call_site, walk):
        # With has_aux, the outputs are the solution (one leaf per leaf of b) and then the
        # solver's aux values, which carry no derivative: their tangents are zero, as in JAX.
        matvec, b, nc = self._split(eqn.params, xs)
        m_dots, b_dots = x_dots[: len(matvec)], x_dots[nc:]
        outs = bind(eqn, xs)
        x, no_aux = outs[: len(b)], [None] * (len(outs) - len(b))
        rhs = list(b_dots)
        if any(d is not None for d in m_dots):
            closed = eqn.params["jaxprs"].matvec
            _, dax = walk(closed.jaxpr, closed.consts, [*matvec, *x],
                          [*m_dots, *[None] * len(x)], call_site or eqn)  # fmt: skip
            rhs = [lax.neg(t) if r is None else (r if t is None else lax.sub(r, t))
                   for r, t in zip(rhs, dax)]  # fmt: skip
        if all(r is None for r in rhs):
            return outs, [None] * len(outs)
        rhs = [zero_tangent(v) if r is None else r for v, r in zip(b, rhs)]
        return outs, [*bind(eqn, [*xs[:nc], *rhs])[: len(b)], *no_aux]

    def record(self, eqn, xs, x_slots, recorder):
        outs = bind(eqn, xs)
        return outs, recorder.append(self, eqn, x_slots, xs, outs)

    def push_entry(self, entry, x_dots):
        return self.jvp_eqn(entry.eqn, entry.primals, x_dots, None, forward.jvp_jaxpr)[1]

    def pull_entry(self, entry, cts):
        params, primals = entry.eqn.params, entry.primals
        matvec, b, nc = self._split(params, primals)
        # The aux outputs' tangents are zero (jvp_eqn), so their cotangents go nowhere.
        x = entry.outs[: len(b)]
        cts = [zero_tangent(o) if c is None else c for c, o in zip(cts, x)]
        lengths, jaxprs = params["const_lengths"], params["jaxprs"]
        # The transposed solve: its consts in the transposed order (vecmat, matvec, transpose
        # solve, solve).
        m, v, s = lengths.matvec, lengths.vecmat, lengths.solve
        consts = primals[:nc]
        order = [*consts[m : m + v], *consts[:m], *consts[m + v + s :], *consts[m + v : m + v + s]]
        ct_b = entry.eqn.primitive.bind(
            *order, *cts, const_lengths=lengths.transpose(), jaxprs=jaxprs.transpose()
        )[: len(b)]
        ct_m = [None] * m
        needs = [s_ is not None for s_ in entry.in_slots[:m]]
        if any(needs):
            closed = jaxprs.matvec
            _, pullback = reverse.vjp_flat(
                lambda *c: eval_jaxpr(closed.jaxpr, closed.consts, *c, *x), matvec, needs
            )
            ct_m = [None if c is None else lax.neg(c) for c in pullback(list(ct_b))]
        return [*ct_m, *[None] * (nc - m), *ct_b]


for _handler in (Jit(), CustomJvp(), CustomVjp(), CustomLinearSolve()):
    register(_handler)
