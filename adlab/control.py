"""Control flow and checkpointing: ``cond``, ``scan``, ``while`` and ``checkpoint``.

Each is a call primitive with one handler (the interface of ``adlab.calls``). Their bodies
run inside XLA, so the handlers emit control flow of their own rather than unrolling it:

* ``cond`` (``lax.cond``, ``lax.switch``): forward mode is a ``lax.switch`` over the
  branches' JVPs. Reverse mode stages each branch (``adlab.staging``): the forward sweep is a
  switch that returns the taken branch's outputs and residuals (slots of the other branches'
  residuals are shared by shape and dtype, and hold zeros), the backward sweep a switch over
  the branches' backward sweeps. Only the branch taken is differentiated. The index carries
  no derivative.
* ``scan`` (``lax.scan``, ``lax.fori_loop`` with static bounds, ``lax.map``): forward mode
  is a scan of the body's JVP. Reverse mode is a scan of the body's staged forward sweep,
  which stacks the residuals of every step, then a scan in the opposite direction of the
  body's backward sweep over them, which sums the cotangents of the loop-invariant operands.
  Nothing is unrolled: the compiled program does not grow with the number of steps.
  Residuals that are loop-invariant operands are read from the operands, not stacked.
* ``while`` (``lax.while_loop``, ``lax.fori_loop`` with traced bounds): forward mode is a
  while loop of the body's JVP. Reverse mode is refused, as in JAX: the number of steps is
  not known, so the residuals cannot be stored.
* ``checkpoint`` (``jax.checkpoint`` / ``jax.remat``): forward mode walks it inline. Reverse
  mode stores only the segment's inputs, and the backward sweep recomputes the segment
  (``recompute_pullback``, the one place that recomputes).

A carry's tangent (cotangent) is nonzero if its initial value's is, or if the body makes it
so: the handlers find the carries that carry one by iterating to a fixed point, as JAX does.
"""

from __future__ import annotations

import jax
import numpy as np
from jax import lax

from . import forward, reverse, staging
from ._compat import SCAN_COUNT_PARAMS, checkpoint_name, scan_counts
from ._dtypes import carries_derivative, zero_tangent
from ._errors import UnsupportedPrimitiveError, where
from ._trace import bind, eval_jaxpr
from .calls import CallHandler
from .rules import ANY, register


def _aval(x):
    """The shape and dtype of an array, a tracer, a NumPy scalar or an aval."""
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return jax.ShapeDtypeStruct(x.shape, x.dtype)
    return jax.ShapeDtypeStruct(np.shape(x), lax.dtype(x))


def _zeros_where(values, dots, wanted):
    """Tangents for ``values``: the given ones, zeros where ``wanted`` and missing."""
    return [zero_tangent(v) if d is None and w else d for v, d, w in zip(values, dots, wanted)]


def _keep(items, mask):
    return [x for x, m in zip(items, mask) if m]


def _fill(mask, kept, default=None):
    """The inverse of _keep: a full list with ``kept`` where ``mask`` is True."""
    kept = iter(kept)
    return [next(kept) if m else default for m in mask]


def _jvp_activity(jaxpr, consts, primals, active):
    """Which outputs of a jaxpr have a nonzero tangent, given which inputs do (traced)."""
    result = {}

    def probe(*xs):
        dots = [zero_tangent(x) if a else None for x, a in zip(xs, active)]
        outs, out_dots = forward.jvp_jaxpr(jaxpr, consts, list(xs), dots)
        result["active"] = [d is not None for d in out_dots]
        return outs

    jax.make_jaxpr(probe)(*map(_aval, primals))
    return result["active"]


def _carry_fixpoint(activity_of, carry_active, n_carry):
    """Grows the set of carries with a derivative until the body preserves it."""
    carry_active = list(carry_active)
    while True:
        out_active = activity_of(carry_active)
        new = [a or b for a, b in zip(carry_active, out_active[:n_carry])]
        if new == carry_active:
            return carry_active, out_active
        carry_active = new


class _ControlHandler(CallHandler):
    def push_entry(self, entry, x_dots):  # linearize: the JVP at the stored primals
        return self.jvp_eqn(entry.eqn, entry.primals, x_dots, None, forward.jvp_jaxpr)[1]


# --- cond -----------------------------------------------------------------------------------


class Cond(_ControlHandler):
    """``branches_platforms`` (jnp.diagonal's cond on the platform) only decides how the index
    is computed (by a platform_index equation), so the branch taken is the index's."""

    name = "cond"
    params = {"branches": ANY, "branches_platforms": ANY}

    def jvp_eqn(self, eqn, xs, x_dots, call_site, walk):
        index, ops, dots = xs[0], xs[1:], x_dots[1:]
        branches = eqn.params["branches"]
        floats = [carries_derivative(v.aval) for v in branches[0].jaxpr.outvars]
        given = [d is not None for d in dots]

        def branch(closed):
            def run(ops, live_dots):
                outs, out_dots = walk(closed.jaxpr, closed.consts, ops, _fill(given, live_dots),
                                      call_site or eqn)  # fmt: skip
                return outs, _keep(_zeros_where(outs, out_dots, floats), floats)

            return run

        outs, out_dots = lax.switch(index, [branch(b) for b in branches], ops, _keep(dots, given))
        return outs, _fill(floats, out_dots)

    def record(self, eqn, xs, x_slots, recorder):
        index, ops = xs[0], xs[1:]
        active = [s is not None for s in x_slots[1:]]
        avals = list(map(_aval, ops))
        splits = [staging.split(b.jaxpr, b.consts, avals, active) for b in eqn.params["branches"]]
        layout, shared = _share_slots([s.residual_avals() for s in splits])

        def forward_branch(k):
            def run(*ops):
                outs, res = splits[k].run_forward(*ops)
                slots = [lax.full(a.shape, 0, a.dtype) for a in shared]
                for r, slot in zip(res, layout[k]):
                    slots[slot] = r
                return outs, slots

            return run

        outs, slots = lax.switch(index, [forward_branch(k) for k in range(len(splits))], *ops)
        return outs, recorder.append(self, eqn, x_slots, xs, outs, saved=slots,
                                     extra=(splits, layout))  # fmt: skip

    def pull_entry(self, entry, cts):
        splits, layout = entry.extra
        floats = splits[0].differentiable
        cts = _keep(_zeros_where(entry.outs, cts, floats), floats)

        def backward_branch(k):
            def run(slots, cts):
                return splits[k].run_backward([slots[i] for i in layout[k]], cts)

            return run

        in_cts = lax.switch(entry.primals[0], [backward_branch(k) for k in range(len(splits))],
                            entry.saved, cts)  # fmt: skip
        return [None, *_fill(splits[0].active, in_cts)]


def _share_slots(avals_per_branch):
    """Residual slots shared between branches: (slot of each residual, per branch; slot avals).

    A branch's residuals take distinct slots; residuals of different branches share a slot
    when their shapes and dtypes match, since only one branch runs.
    """
    shared: list = []
    layout = []
    for avals in avals_per_branch:
        taken: set = set()
        mine = []
        for aval in avals:
            key = (tuple(aval.shape), aval.dtype)
            slot = next((i for i, a in enumerate(shared)
                         if i not in taken and (tuple(a.shape), a.dtype) == key), None)  # fmt: skip
            if slot is None:
                slot = len(shared)
                shared.append(jax.ShapeDtypeStruct(aval.shape, aval.dtype))
            taken.add(slot)
            mine.append(slot)
        layout.append(mine)
    return layout, shared


# --- scan -----------------------------------------------------------------------------------


class Scan(_ControlHandler):
    name = "scan"
    params = dict.fromkeys(("reverse", "length", "jaxpr", "unroll", *SCAN_COUNT_PARAMS), ANY)

    @staticmethod
    def _parts(eqn, values):
        nc, nk = scan_counts(eqn.params)
        return values[:nc], values[nc : nc + nk], values[nc + nk :]

    @staticmethod
    def _slices(xs):
        return [jax.ShapeDtypeStruct(np.shape(x)[1:], lax.dtype(x)) for x in xs]

    def jvp_eqn(self, eqn, xs, x_dots, call_site, walk):
        p = eqn.params
        body = p["jaxpr"]
        consts, init, seq = self._parts(eqn, xs)
        c_dots, i_dots, s_dots = self._parts(eqn, x_dots)
        const_given, seq_given = [d is not None for d in c_dots], [d is not None for d in s_dots]
        floats = [carries_derivative(v.aval) for v in body.jaxpr.outvars]
        primals = [*consts, *init, *self._slices(seq)]

        def activity(carry_active):
            given = [*const_given, *carry_active, *seq_given]
            return _jvp_activity(body.jaxpr, body.consts, primals, given)

        carry_active, out_active = _carry_fixpoint(
            activity, [d is not None for d in i_dots], len(init)
        )
        ys_active = out_active[len(init) :]

        def step(carry, x):
            (c, c_live), (x, x_live) = carry, x
            dots = [*c_dots, *_fill(carry_active, c_live), *_fill(seq_given, x_live)]
            outs, out_dots = walk(body.jaxpr, body.consts, [*consts, *c, *x], dots,
                                  call_site or eqn)  # fmt: skip
            out_dots = _zeros_where(outs, out_dots, [*carry_active, *ys_active])
            k = len(init)
            return (outs[:k], _keep(out_dots[:k], carry_active)), (
                outs[k:], _keep(out_dots[k:], ys_active))  # fmt: skip

        init_dots = _keep(_zeros_where(init, i_dots, carry_active), carry_active)
        (carry, carry_dots), (ys, ys_dots) = lax.scan(
            step, (list(init), init_dots), (list(seq), _keep(s_dots, seq_given)),
            length=p["length"], reverse=p["reverse"], unroll=p["unroll"],
        )  # fmt: skip
        out_dots = [*_fill(carry_active, carry_dots), *_fill(ys_active, ys_dots)]
        return [*carry, *ys], [d if f else None for d, f in zip(out_dots, floats)]

    def record(self, eqn, xs, x_slots, recorder):
        p = eqn.params
        body = p["jaxpr"]
        consts, init, seq = self._parts(eqn, xs)
        const_act, init_act, seq_act = self._parts(eqn, [s is not None for s in x_slots])
        avals = [*map(_aval, consts), *map(_aval, init), *self._slices(seq)]
        splits = {}

        def activity(carry_active):
            key = tuple(carry_active)
            splits[key] = staging.split(body.jaxpr, body.consts, avals,
                                        [*const_act, *carry_active, *seq_act])  # fmt: skip
            return splits[key].out_active

        carry_active, _ = _carry_fixpoint(activity, init_act, len(init))
        split = splits[tuple(carry_active)]
        nc, nk = len(consts), len(init)
        # Residuals that are a loop-invariant operand are read from it, not stacked.
        stacked = [i is None or i >= nc for i in split.from_input]

        def step(carry, x):
            outs, res = split.run_forward(*consts, *carry, *x)
            return outs[:nk], (outs[nk:], _keep(res, stacked))

        carry, (ys, res) = lax.scan(step, list(init), list(seq), length=p["length"],
                                    reverse=p["reverse"], unroll=p["unroll"])  # fmt: skip
        outs = [*carry, *ys]
        return outs, recorder.append(self, eqn, x_slots, xs, outs, saved=res,
                                     extra=(split, stacked, carry_active))  # fmt: skip

    def pull_entry(self, entry, cts):
        p = entry.eqn.params
        split, stacked, carry_active = entry.extra
        consts, _, _ = self._parts(entry.eqn, entry.primals)
        nc, nk = scan_counts(p)
        floats = split.differentiable
        cts = _zeros_where(entry.outs, cts, floats)
        carry_cts, ys_cts = cts[:nk], cts[nk:]
        active = split.active
        const_active = active[:nc]
        n_const_cts = sum(const_active)
        n_carry_cts = sum(active[nc : nc + nk])

        def step(carry, x):
            carry_ct, const_ct = carry
            res_stacked, ys_ct = x
            res_stacked = iter(res_stacked)
            res = [next(res_stacked) if s else consts[i]
                   for s, i in zip(stacked, split.from_input)]  # fmt: skip
            out_cts = _keep([*_fill(floats[:nk], carry_ct), *ys_ct], floats)
            in_cts = split.run_backward(res, out_cts)
            new_const = in_cts[:n_const_cts]
            const_ct = [lax.add(a, b) for a, b in zip(const_ct, new_const)]
            carry_in = _fill(active[nc : nc + nk], in_cts[n_const_cts : n_const_cts + n_carry_cts])
            carry_ct = _keep(_zeros_where(entry.outs[:nk], carry_in, floats[:nk]), floats[:nk])
            return (carry_ct, const_ct), in_cts[n_const_cts + n_carry_cts :]

        const_zero = [zero_tangent(c) for c, a in zip(consts, const_active) if a]
        (carry_ct, const_ct), seq_cts = lax.scan(
            step, (_keep(carry_cts, floats[:nk]), const_zero), (entry.saved, ys_cts),
            length=p["length"], reverse=not p["reverse"], unroll=p["unroll"],
        )  # fmt: skip
        carry_ct = _fill(floats[:nk], carry_ct)
        needs = [s is not None for s in entry.in_slots]
        in_cts = [*_fill(const_active, const_ct), *carry_ct, *_fill(active[nc + nk :], seq_cts)]
        return [c if n else None for c, n in zip(in_cts, needs)]


# --- while ----------------------------------------------------------------------------------


def _while_reverse_error(eqn, call_site) -> Exception:
    return WhileReverseError(
        "Reverse-mode differentiation does not work for lax.while_loop or lax.fori_loop with "
        f"traced bounds (from {where(eqn, call_site)}): the number of steps is not known, so "
        "the values the backward sweep needs cannot be stored. Use lax.scan, or "
        "lax.fori_loop with Python integers as bounds (it becomes a scan), or forward mode "
        "(adlab.jvp, adlab.jacfwd).",
        "while",
    )


class WhileReverseError(UnsupportedPrimitiveError, ValueError):
    """Reverse mode through a while loop, which neither adlab nor JAX differentiates."""


class While(_ControlHandler):
    name = "while"
    params = dict.fromkeys(("cond_nconsts", "cond_jaxpr", "body_nconsts", "body_jaxpr"), ANY)

    def jvp_eqn(self, eqn, xs, x_dots, call_site, walk):
        p = eqn.params
        cn, bn = p["cond_nconsts"], p["body_nconsts"]
        cond, body = p["cond_jaxpr"], p["body_jaxpr"]
        cond_consts, body_consts, init = xs[:cn], xs[cn : cn + bn], xs[cn + bn :]
        b_dots, i_dots = x_dots[cn : cn + bn], x_dots[cn + bn :]
        const_given = [d is not None for d in b_dots]
        primals = [*body_consts, *map(_aval, init)]

        def activity(carry_active):
            return _jvp_activity(body.jaxpr, body.consts, primals, [*const_given, *carry_active])

        carry_active, _ = _carry_fixpoint(activity, [d is not None for d in i_dots], len(init))

        def cond_fun(state):
            return eval_jaxpr(cond.jaxpr, cond.consts, *cond_consts, *state[0])[0]

        def body_fun(state):
            c, live = state
            dots = [*b_dots, *_fill(carry_active, live)]
            outs, out_dots = walk(body.jaxpr, body.consts, [*body_consts, *c], dots,
                                  call_site or eqn)  # fmt: skip
            return outs, _keep(_zeros_where(outs, out_dots, carry_active), carry_active)

        init_dots = _keep(_zeros_where(init, i_dots, carry_active), carry_active)
        outs, dots = lax.while_loop(cond_fun, body_fun, (list(init), init_dots))
        return outs, _fill(carry_active, dots)

    def record(self, eqn, xs, x_slots, recorder):
        raise _while_reverse_error(eqn, recorder.call_site)


# --- checkpoint -----------------------------------------------------------------------------


def recompute_pullback(jaxpr, consts, primals, active, prevent_cse=True):
    """The one place that recomputes: the segment's VJP, evaluated again from its inputs.

    Called in the backward sweep. With ``prevent_cse`` the inputs pass through an
    optimization barrier first, so that XLA does not merge the recomputation with the
    forward sweep's evaluation (which would keep the segment's values alive after all).

    Returns:
      ``pullback(cts)`` -> one cotangent per input (``None`` where zero or inactive).
    """
    if prevent_cse:
        primals = list(lax.optimization_barrier(list(primals)))
    _, pullback = reverse.vjp_flat(lambda *xs: eval_jaxpr(jaxpr, consts, *xs), primals, active)
    return pullback


class Checkpoint(_ControlHandler):
    name = checkpoint_name
    params = {
        "jaxpr": ANY,
        "prevent_cse": ANY,
        "differentiated": ANY,
        "policy": lambda p: p is None,
    }

    def jvp_eqn(self, eqn, xs, x_dots, call_site, walk):
        return walk(eqn.params["jaxpr"], [], xs, x_dots, call_site or eqn)

    def record(self, eqn, xs, x_slots, recorder):
        outs = bind(eqn, xs)  # the segment's outputs only: its intermediates are not kept
        return outs, recorder.append(self, eqn, x_slots, xs, outs)

    def pull_entry(self, entry, cts):
        p = entry.eqn.params
        active = [s is not None for s in entry.in_slots]
        pullback = recompute_pullback(p["jaxpr"], [], entry.primals, active, p["prevent_cse"])
        return pullback(cts)


for _handler in (Cond(), Scan(), While(), Checkpoint()):
    register(_handler)
