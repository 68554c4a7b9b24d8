"""Primitives differentiated through their expansion: the generic ``reduce`` and ``reduce_window``.

``lax.reduce`` and ``lax.reduce_window`` become the ``reduce_sum`` / ``reduce_window_max``...
primitives when their computation is add, mul, max or min with its identity as the init
value. Any other computation (a variadic argmax-style reduction, a windowed product, an init
value computed at run time) stays the generic primitive, which holds the computation as a
jaxpr. Its derivative is the derivative of the reduction written out with the computation
applied elementwise (vectorised with ``jax.vmap``, as JAX's own rule does):

* ``reduce``: a tree. The reduced axes are flattened into one, which is halved again and
  again, combining the halves (JAX's ``_reduce_jvp``); an odd half is padded with the init
  value.
* ``reduce_window``: the init value folded with each window offset's strided slice of the
  operand (padded, and dilated, with the init value), in window order.

Both are exact for what XLA may compute, because XLA requires the computation to be
associative and commutative and the init value to be its identity: it may apply them in any
order, and the init value any number of times. For the same reason the derivative with
respect to the init value is not defined, and adlab refuses it, as JAX does.

The expansion is traced into a jaxpr and walked inline, like a ``jit`` (the handler is
``transparent``): each of its equations is differentiated by its own rule, so a computation
with an operation outside the set raises that operation's error, and second derivatives come
for free. JAX has no reverse mode for the generic ``reduce_window``; adlab has both.
"""

from __future__ import annotations

import itertools

import jax
import numpy as np
from jax import lax

from ._compat import with_eqns
from ._errors import UnsupportedPrimitiveError, described, where
from ._trace import bind, eval_jaxpr
from .calls import CallHandler
from .rules import ANY, register


def _vectorised(fun, ndim):
    """``fun`` on scalars, applied elementwise to arrays of rank ``ndim``."""
    for _ in range(ndim):
        fun = jax.vmap(fun)
    return fun


def _as_fun(jaxpr, consts):
    return lambda *args: eval_jaxpr(jaxpr, consts, *args)


def _windows(n, window, dilation, stride):
    """How many windows fit along an axis of (padded, dilated) length n."""
    span = (window - 1) * dilation + 1
    return 0 if n < span else (n - span) // stride + 1


def _expand_reduce(params, n):
    """The tree reduction of ``reduce``: (*operands, *init values) -> outputs."""
    closed, dims = params["jaxpr"], params["dimensions"]

    def expanded(*args):
        xs, inits = list(args[:n]), args[n:]
        shape = xs[0].shape
        kept = [d for d in range(len(shape)) if d not in dims]
        rest = tuple(shape[d] for d in kept)
        size = int(np.prod([shape[d] for d in dims], dtype=int))
        if size == 0:
            return [lax.broadcast(i, rest) for i in inits]
        # The reduced axes first, flattened into one.
        xs = [lax.reshape(x, (size, *rest), (*dims, *kept)) for x in xs]
        combine = _vectorised(_as_fun(closed.jaxpr, closed.consts), len(rest) + 1)
        while xs[0].shape[0] > 1:
            half = (xs[0].shape[0] + 1) // 2
            first = [lax.slice_in_dim(x, 0, half) for x in xs]
            second = [lax.slice_in_dim(x, half, None) for x in xs]
            if second[0].shape[0] != half:  # odd: pad the second half with the init value
                config = [(0, 1, 0)] + [(0, 0, 0)] * len(rest)
                second = [lax.pad(x, i, config) for x, i in zip(second, inits)]
            xs = list(combine(*first, *second))
        return [lax.reshape(x, rest) for x in xs]

    return expanded


def _expand_reduce_window(params, n):
    """The windowed fold of ``reduce_window``: (*operands, *init values) -> outputs."""
    window, strides = params["window_dimensions"], params["window_strides"]
    padding, base, dilation = params["padding"], params["base_dilation"], params["window_dilation"]

    def expanded(*args):
        xs, inits = args[:n], args[n:]
        config = [(lo, hi, b - 1) for (lo, hi), b in zip(padding, base)]
        padded = [lax.pad(x, i, config) for x, i in zip(xs, inits)]
        ndim = xs[0].ndim
        out_shape = tuple(map(_windows, padded[0].shape, window, dilation, strides))
        acc = [lax.broadcast(i, out_shape) for i in inits]
        if 0 in out_shape:
            return acc
        combine = _vectorised(_as_fun(params["jaxpr"], params["consts"]), ndim)
        for offset in itertools.product(*(range(w) for w in window)):
            starts = [o * wd for o, wd in zip(offset, dilation)]
            limits = [st + (m - 1) * s + 1 for st, m, s in zip(starts, out_shape, strides)]
            patches = [lax.slice(p, starts, limits, strides) for p in padded]
            acc = list(combine(*acc, *patches))
        return acc

    return expanded


class Expanded(CallHandler):
    """A primitive walked through its expansion into primitives of the set."""

    transparent = True
    kind = "expansion"

    def __init__(self, name, expand, params):
        self.name, self.expand, self.params = name, expand, params

    def _jaxpr(self, eqn, xs, call_site, active):
        n = len(xs) // 2
        if any(active[n:]):
            raise UnsupportedPrimitiveError(
                f"adlab cannot differentiate {described(self.name)} (from "
                f"{where(eqn, call_site)}) with respect to its init value: XLA may apply "
                "the init value any number of times, so that derivative is not defined (JAX "
                "refuses it too). Pass a constant init value, the identity of the reduction.",
                self.name,
            )
        avals = [jax.ShapeDtypeStruct(np.shape(x), lax.dtype(x)) for x in xs]
        closed = jax.make_jaxpr(self.expand(eqn.params, n))(*avals)
        # Errors inside the expansion name the user's line, not adlab's.
        eqns = [e.replace(source_info=eqn.source_info) for e in closed.jaxpr.eqns]
        return with_eqns(closed, eqns)

    # The values come from the primitive itself, one operation, and only the derivatives from
    # the expansion: under jax.jit, XLA may compute a value the expansion compares twice (in
    # two fusions that round differently), and a reduction's winner or tie count read from the
    # expansion could then disagree with the reduction (adlab's own reduce_max rules emit such
    # a reduction, which second-order derivatives walk through here).

    def jvp_eqn(self, eqn, xs, x_dots, call_site, walk):
        closed = self._jaxpr(eqn, xs, call_site, [t is not None for t in x_dots])
        _, out_dots = walk(closed.jaxpr, closed.consts, xs, x_dots, call_site or eqn)
        return bind(eqn, xs), out_dots

    def record(self, eqn, xs, x_slots, recorder):
        closed = self._jaxpr(eqn, xs, recorder.call_site, [s is not None for s in x_slots])
        _, out_slots = recorder.walk(closed.jaxpr, closed.consts, xs, x_slots, eqn)
        return bind(eqn, xs), out_slots


_WINDOW = ("window_dimensions", "window_strides", "padding", "base_dilation", "window_dilation")
register(
    Expanded("reduce", _expand_reduce, dict.fromkeys(("computation", "jaxpr", "dimensions"), ANY))
)
register(
    Expanded(
        "reduce_window", _expand_reduce_window, dict.fromkeys(("jaxpr", "consts", *_WINDOW), ANY)
    )
)
