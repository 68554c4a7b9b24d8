"""Random JAX programs f(x, y) and their comparison with JAX, shared by the random tests.

A program is the source of one Python expression in ``x`` and ``y`` (``Program.src``),
built from a random expression tree over the operations in ``OPS`` and evaluated in this
module's namespace, so a failing program's repr is its own reproduction::

    # in tests/, with jax_enable_x64 on
    from programs import *
    check(Program(src="...", x_shape=(3, 4), y_shape=(), ...), seed)

Every value has one of a handful of fixed shapes (``SHAPES``), so JAX's eager
compilation caches stay warm. A node is generated for a target shape: an operation is
picked among those that can produce it, and its operands' shapes follow (a broadcasting
pair such as (3, 1) with (1, 4) for (3, 4), a reduction of (3, 4) for (4,), ...). A leaf
is ``x``, ``y`` or a constant, brought to the target shape by a shortest random chain of
structural operations (reductions, reshapes, transposes, slices, broadcasts).

Domains: every operation is applied where it is smooth and well conditioned (logs of
``a**2 + 1``, divisions by ``1 + b**2``, powers with positive bases...), and each node
carries a bound on the magnitude of its value; a node whose bound exceeds ``LIMIT`` is
scaled down by a power of two (exact in floating point). Without this, nested powers and
products reach 1e10 and the derivatives become sums of huge terms that cancel, where two
correct implementations legitimately differ by far more than float64 round-off.

The same generator serves hypothesis (``programs_and_seeds()``, a strategy) and the seeded
fuzz campaign (``random_program(seed)``): it only asks a ``Chooser`` for integers.
"""

from __future__ import annotations

import ast
import bisect
import copy
import dataclasses
import functools
import itertools
import math
from collections import deque
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from rows_expansions import window_reference

import adlab

# --- The namespace programs are evaluated in ------------------------------------------------

SHAPES = ((), (3,), (4,), (3, 1), (1, 4), (3, 4), (4, 3))
"""Every value in a program has one of these shapes."""

INPUT_SHAPES = (
    ((), (3, 4)),  # rank 0 with a matrix
    ((3, 1), (1, 4)),  # an outer broadcast
    ((4,), (3, 4)),  # a row broadcast over a matrix
    ((3, 4), (3, 4)),
    ((3, 4), ()),
    ((1, 4), (3, 1)),
    ((3, 4), (3, 1)),
    ((3,), (4, 3)),
    ((4,), (4,)),
    ((), ()),
)
"""The (x, y) shape pairs; most broadcast against each other."""

_RNG = np.random.default_rng(20240611)
W33 = _RNG.normal(size=(3, 3))
W34 = _RNG.normal(size=(3, 4))
W44 = _RNG.normal(size=(4, 4))
_CONSTS = {s: [_RNG.normal(size=s) for _ in range(2)] for s in SHAPES}


def const(shape, k):
    """A fixed float64 array of ``shape`` (``k`` is 0 or 1): a leaf with no derivative."""
    return _CONSTS[tuple(shape)][k]


@jax.custom_jvp
def softplus(a):
    """log(1 + e^a), with its own JVP rule (a custom_jvp function)."""
    return jnp.log1p(jnp.exp(-jnp.abs(a))) + jnp.maximum(a, 0.0)


@softplus.defjvp
def _softplus_jvp(primals, tangents):
    (a,), (t,) = primals, tangents
    return softplus(a), jax.nn.sigmoid(a) * t


@jax.custom_vjp
def sin_vjp(a):
    """a sin(a), with its own fwd and bwd (a custom_vjp function)."""
    return a * jnp.sin(a)


def _sin_vjp_fwd(a):
    return a * jnp.sin(a), (a, jnp.cos(a))


def _sin_vjp_bwd(res, g):
    a, cos_a = res
    return (g * (jnp.sin(a) + a * cos_a),)


sin_vjp.defvjp(_sin_vjp_fwd, _sin_vjp_bwd)


@jax.custom_vjp
def mul_vjp(a, b):
    """a tanh(b), for operands of one shape, with its own fwd and bwd (custom_vjp)."""
    return a * jnp.tanh(b)


def _mul_vjp_fwd(a, b):
    t = jnp.tanh(b)
    return a * t, (a, t)


def _mul_vjp_bwd(res, g):
    a, t = res  # the operands may have different float dtypes: keep each one's
    return (g * t).astype(a.dtype), (g * a * (1.0 - t**2)).astype(t.dtype)


mul_vjp.defvjp(_mul_vjp_fwd, _mul_vjp_bwd)


def argmax_scale(a, b):
    """a times the (integer) argmax of b: a constant multiplier from an integer path."""
    return a * jnp.argmax(b)


def iota_mask(a, b):
    """a masked by arange(n) <= argmax(b): an index-free mask from an integer path."""
    return a * (jnp.arange(a.shape[-1]) <= jnp.argmax(b))


def grow(a):
    """(3,) -> (4,): the vector with its first entry appended (concatenate, slice)."""
    return jnp.concatenate([a, a[:1]])


def splice(a, b):
    """The first column of a next to the rest of b, along the last axis (concatenate)."""
    return jnp.concatenate([a[..., :1], b[..., 1:]], axis=-1)


def center(a):
    """a minus its mean along the last axis."""
    return a - jnp.mean(a, axis=-1, keepdims=True)


def maxpool(a):
    """2x2 max pooling with SAME padding (reduce_window_max)."""
    return jax.lax.reduce_window(a, -jnp.inf, jax.lax.max, (2, 2), (1, 1), "SAME")


# Wide values: normalisations feeding the choosers at sizes that are not powers of two. Under
# jax.jit, XLA may compute a normalised value in two fusions that round differently; a rule
# that compared the two copies would lose derivatives (tests/test_jit_selection.py).
WIDE = 96
_WIDE_PATTERN = np.random.default_rng(768).uniform(0.5, 1.5, WIDE) * np.tile([1.0, -1.0], WIDE // 2)


def _layernorm(h, axis):
    mean = jnp.mean(h, axis=axis, keepdims=True)
    return (h - mean) * jax.lax.rsqrt(jnp.var(h, axis=axis, keepdims=True) + 1e-5)


WIDE_NORMS = {
    "centre": lambda h: h - jax.lax.stop_gradient(jnp.mean(h, axis=-1, keepdims=True)),
    "layernorm": lambda h: _layernorm(h, -1),
    "batchnorm": lambda h: _layernorm(h, 0),
    "softmax": lambda h: jax.nn.softmax(h, axis=-1),
}

WIDE_CHOOSERS = {  # each reduces the last axis, of length WIDE
    "pool": lambda g: jax.lax.reduce_window(
        g, -jnp.inf, jax.lax.max, (1,) * (g.ndim - 1) + (WIDE,), (1,) * g.ndim, "VALID"
    )[..., 0],
    "max": lambda g: jnp.max(g, axis=-1),
    "min": lambda g: jnp.min(g, axis=-1),
    "maximum": lambda g: jnp.mean(jnp.maximum(g, g[..., ::-1]), axis=-1),
    "cummax": lambda g: jax.lax.cummax(g, axis=g.ndim - 1)[..., -1],
    "sort": lambda g: jnp.sort(g, axis=-1)[..., -2],
    "clip": lambda g: jnp.mean(jnp.clip(g, -0.5, 0.5), axis=-1),
}


def wide(a, norm, chooser):
    """Each entry of a spread over WIDE columns (times a fixed pattern), normalised, and
    brought back to a's shape by a chooser over its WIDE columns (288 or 384 of them)."""
    a = jnp.asarray(a, float)
    h = (a[..., None] * _WIDE_PATTERN).reshape(*a.shape[:-1], a.shape[-1] * WIDE)
    h = WIDE_NORMS[norm](h)
    return WIDE_CHOOSERS[chooser](h.reshape(*a.shape, WIDE))


def odot(a, b):
    """a + b + ab = (1 + a)(1 + b) - 1: associative, identity 0, no monoid lax recognises."""
    return a + b + a * b


# Set while JAX computes its side of a comparison (Case.jax_results).
_JAX_SIDE = False


def pool_with(a, init, op, window, padding):
    """lax.reduce_window with a computation of its own (the generic primitive).

    JAX has no reverse mode for it, so on JAX's side of a comparison the same fold is
    written with gathers (tests/rows_expansions.py), which JAX differentiates; the two
    sides' values are compared too.
    """
    a = jnp.asarray(a, float)
    strides = (1,) * a.ndim
    if isinstance(padding, str):
        padding = jax.lax.padtype_to_pads(a.shape, window, strides, padding)
    window = (window, strides, padding)
    if _JAX_SIDE:
        return window_reference(op, lambda _: init, window)(a)
    return jax.lax.reduce_window(a, init, op, *window)


def scan_rows(a):
    """A recurrence down the rows of a (lax.scan): c = tanh(c) v + c / 2; each row's c v."""
    a = jnp.asarray(a, float)

    def step(c, v):
        c = jnp.tanh(c) * v + 0.5 * c
        return c, c * v

    return jax.lax.scan(step, 0.5 * a[0], a)[1]


def scan_with(a, w):
    """A reversed scan down the rows of a that closes over w (a loop-invariant operand)."""
    a, w = jnp.asarray(a, float), jnp.mean(jnp.asarray(w, float))

    def step(c, v):
        c = jnp.tanh(c * w + v)
        return c, c + v

    c, ys = jax.lax.scan(step, jnp.zeros_like(a[0]), a, reverse=True)
    return ys + c


def sum_times_prod(a):
    """A variadic lax.reduce over axis 0: the sum of a times the product of tanh(a)."""
    a = jnp.asarray(a, float)
    total, product = jax.lax.reduce(
        (a, jnp.tanh(a)), (0.0, 1.0), lambda p, q: (p[0] + q[0], p[1] * q[1]), (0,)
    )
    return total * product


def unstacked(a):
    """The columns of a (unstack), recombined unequally."""
    columns = jnp.unstack(a, axis=-1)
    return jnp.stack([c * (i + 1) for i, c in enumerate(columns[::-1])], axis=-1)


jit_sinmul = jax.jit(lambda a: jnp.sin(a) * a)
jit_nested = jax.jit(lambda a, b: jit_sinmul(a) * jnp.cos(b) + jnp.maximum(a, b))
jit_softplus = jax.jit(softplus)
jit_sin_vjp = jax.jit(sin_vjp)


@functools.lru_cache(maxsize=4096)
def _lambda(params: str, src: str):
    return eval(f"lambda {params}: {src}", globals())  # our own generated source


@functools.partial(jax.jit, static_argnums=0)
def jit_call(src, a, b):
    """A jitted sub-program: ``src`` is an expression in ``a`` and ``b``."""
    return _lambda("a, b", src)(a, b)


# --- Operations, by the shapes they produce ---------------------------------------------------

LIMIT = 8.0
"""Node values are kept within about +-LIMIT (see the module docstring)."""

LEAF_BOUND = 3.0
"""x, y and the constants are standard normal: nearly always within +-3."""


@dataclass(frozen=True)
class Op:
    """An operation: ``variants[T]`` lists the ways it produces a value of shape T.

    Attributes:
      name: names it in ``Program.ops``.
      weight: how often it is picked, relative to the others that can produce a shape.
      variants: result shape -> [(template, operand shapes)] (or (template, operand
        shapes, bound) where the bound differs between variants); ``{i}`` is operand i.
      bound: operand bounds -> a bound on the result's magnitude.
      flow: which operands the result's derivative depends on: ``all``; ``none``
        (stop_gradient, integer round trips); ``first`` (later operands only feed an
        integer or a boolean); ``branches`` (all but the first: a where's condition, the
        values that only select in JAX's max-pooling derivatives); ``complex``
        (the operand is cast to complex); ``custom_vjp`` (all, through a custom_vjp
        function); ``jit_call`` (a jitted sub-program over the operands).
    """

    name: str
    weight: int
    variants: dict
    bound: object = None  # default: the largest operand bound
    flow: str = "all"


def _broadcast(*shapes):
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        return None


def _each(template, min_ndim=0):
    """A same-shape unary operation on every shape of rank >= min_ndim."""
    return {t: [(template, (t,))] for t in SHAPES if len(t) >= min_ndim}


def _into(t):
    """The shapes that broadcast to t."""
    return [s for s in SHAPES if _broadcast(s, t) == t]


def _pairs(template, extra=0):
    """A broadcasting operation: every operand shape pair whose broadcast is in SHAPES.

    ``extra`` operands (e.g. a where's condition) come first, each of any shape that
    broadcasts to the result.
    """
    out = {}
    for a, b in itertools.product(SHAPES, SHAPES):
        t = _broadcast(a, b)
        if t in SHAPES:
            firsts = itertools.product(*[_into(t)] * extra)
            out.setdefault(t, []).extend((template, (*f, a, b)) for f in firsts)
    return out


def _listed(*entries):
    """variants from (template, operand shapes, result shape[, bound]) entries."""
    out = {}
    for template, shapes, t, *bound in entries:
        out.setdefault(t, []).append((template, shapes, *bound))
    return out


def _c(value):
    return lambda *b: value


def _lin(k=1.0, c=0.0):
    return lambda *b: k * max(b) + c


def _prod(k=1.0):
    return lambda *b: k * math.prod(b)


def _reductions():
    """(template, operand shape, result shape, bound) for every reduction in SHAPES."""
    out = []
    for s in SHAPES:
        for axis in [None, *range(len(s))] if s else []:
            for keep in (False, True) if axis is not None else (False,):
                if axis is None:
                    t = ()
                else:
                    t = tuple(1 if i == axis else n for i, n in enumerate(s) if keep or i != axis)
                if t not in SHAPES:
                    continue
                n = math.prod(s) // max(math.prod(t), 1)
                kd = ", keepdims=True" if keep else ""
                for fn, bound in (
                    ("jnp.sum", _lin(n)),
                    ("jnp.mean", _lin()),
                    ("jnp.max", _lin()),
                    ("jnp.min", _lin()),
                    ("jax.nn.logsumexp", _lin(1.0, math.log(n))),
                ):
                    out.append((f"{fn}({{0}}, axis={axis}{kd})", s, t, bound))
    return out


# (template, operand shape, result shape, bound): shape-changing structural operations,
# also used to bring leaves to the shape they are needed in.
EDGES = [
    *_reductions(),
    *[
        (f"jnp.broadcast_to({{0}}, {t})", s, t, _lin())
        for s in SHAPES
        for t in SHAPES
        if t != s and _broadcast(s, t) == t
    ],
    *[
        (f"{{0}}.reshape({t})", s, t, _lin())
        for s in SHAPES
        for t in SHAPES
        if t != s and s and t and math.prod(s) == math.prod(t)
    ],
    *[
        (template, s, t, _lin())
        for template, s, t in [
            ("{0}.T", (3, 4), (4, 3)),
            ("jnp.transpose({0})", (4, 3), (3, 4)),
            ("{0}[:, 1:2]", (3, 4), (3, 1)),
            ("{0}[:, ::4]", (3, 4), (3, 1)),
            ("{0}[2:3]", (3, 4), (1, 4)),
            ("{0}[::3]", (3, 4), (1, 4)),
            ("{0}[1]", (3, 4), (4,)),
            ("{0}[:, -1]", (3, 4), (3,)),
            ("{0}[0]", (4, 3), (3,)),
            ("{0}[:, 1]", (4, 3), (4,)),
            ("{0}[1:, 2:]", (4, 3), (3, 1)),
            ("{0}[1:]", (4,), (3,)),
            ("{0}[2]", (4,), ()),
            ("{0}[0]", (3,), ()),
            ("{0}[0, 3]", (1, 4), ()),
            ("{0}[1, 0]", (3, 1), ()),
            ("{0}[0]", (1, 4), (4,)),
            ("{0}[:, 0]", (3, 1), (3,)),
            ("jnp.squeeze({0}, axis=1)", (3, 1), (3,)),
            ("jnp.squeeze({0}, axis=0)", (1, 4), (4,)),
            ("{0}[:, None]", (3,), (3, 1)),
            ("{0}[None, :]", (4,), (1, 4)),
            ("grow({0})", (3,), (4,)),
            # pad (positive, negative and interior; a traced padding value), gather, a
            # clamped dynamic slice, tile and stack.
            ("jnp.pad({0}, (0, 1))", (3,), (4,)),
            ("jax.lax.pad({0}, {0}[0], ((-1, 0, 1),))", (3,), (4,)),
            ("{0}[jnp.array([0, 2, 2])]", (4,), (3,)),
            ("jnp.take({0}, jnp.array([0, 5, 1]), mode='fill', fill_value=0.0)", (4,), (3,)),
            ("jax.lax.dynamic_slice_in_dim({0}, 5, 3)", (4,), (3,)),
            ("jnp.tile({0}, (1, 4))", (3, 1), (3, 4)),
            ("jnp.tile({0}, (3, 1))", (1, 4), (3, 4)),
            ("jnp.stack([{0}, 2 * {0}, {0}, -{0}], axis=1)", (3,), (3, 4)),
        ]
    ],
]


def _structural():
    """Variants of the shape-changing operations (EDGES) and of same-shape ones."""
    out = {}
    for template, s, t, bound in EDGES:
        out.setdefault(t, []).append((template, (s,), bound))
    for template, bound in [
        ("{0}[::-1]", _lin()),
        ("jnp.flip({0}, -1)", _lin()),
        ("jnp.roll({0}, 1, axis=-1)", _lin()),
        ("center({0})", _lin(2.0)),
        ("jax.nn.softmax({0}, axis=-1)", _c(1.0)),
        ("jax.nn.log_softmax({0}, axis=0)", _lin(2.0, 2.5)),
        ("jnp.sort({0}, axis=-1)", _lin()),
        ("jax.lax.top_k({0}, {0}.shape[-1])[0]", _lin()),
        ("jnp.cumsum({0}, axis=-1)", _lin(4.0)),
        ("jax.lax.cummax({0}, 0)", _lin()),
        ("jax.lax.cumlogsumexp(jnp.tanh({0}), 0)", _c(3.0)),
        ("jnp.cumprod(jnp.tanh({0}), axis=0)", _c(1.0)),
        ("wide({0}, 'centre', 'pool')", _lin(3.0)),
        ("wide({0}, 'layernorm', 'max')", _c(20.0)),
        ("wide({0}, 'batchnorm', 'min')", _c(2.0)),
        ("wide({0}, 'softmax', 'cummax')", _c(1.0)),
        ("wide({0}, 'layernorm', 'sort')", _c(20.0)),
        ("wide({0}, 'centre', 'maximum')", _lin(3.0)),
        ("wide({0}, 'batchnorm', 'clip')", _c(0.5)),
    ]:
        for t in SHAPES:
            if t:
                out.setdefault(t, []).append((template, (t,), bound))
    return out


# dot_general by contraction size k (the result's bound is k times the operands'):
# (k, weight, [(template, operand shapes, result shape)]).
DOTS = [
    (
        1,
        1,
        [
            ("{0} @ {1}", ((3, 1), (1, 4)), (3, 4)),
            ("jnp.einsum('i,j->ij', {0}, {1})", ((3,), (4,)), (3, 4)),
            ("jnp.einsum('i,j->ij', {0}, {1})", ((4,), (3,)), (4, 3)),
        ],
    ),
    (
        3,
        2,
        [
            ("{0} @ {1}", ((4, 3), (3,)), (4,)),
            ("{0} @ {1}", ((3,), (3, 4)), (4,)),
            ("jnp.dot({0}, {1})", ((3,), (3,)), ()),
            ("jnp.einsum('ij,ij->i', {0}, {1})", ((4, 3), (4, 3)), (4,)),
            ("jnp.einsum('ij,ij->j', {0}, {1})", ((3, 4), (3, 4)), (4,)),
            ("jnp.einsum('ij,ik->jk', {0}, {1})", ((3, 1), (3, 4)), (1, 4)),
        ],
    ),
    (
        4,
        2,
        [
            ("{0} @ {1}", ((3, 4), (4,)), (3,)),
            ("{0} @ {1}", ((4,), (4, 3)), (3,)),
            ("{0} @ {1}", ((4,), (4,)), ()),
            ("jnp.einsum('ij,ij->i', {0}, {1})", ((3, 4), (3, 4)), (3,)),
            ("jnp.einsum('ij,ij->j', {0}, {1})", ((4, 3), (4, 3)), (3,)),
            ("jnp.einsum('ij,kj->ik', {0}, {1})", ((3, 4), (1, 4)), (3, 1)),
        ],
    ),
    (
        12,
        1,
        [
            ("jnp.einsum('ij,ji->', {0}, {1})", ((3, 4), (4, 3)), ()),
            ("jnp.tensordot({0}, {1}, axes=2)", ((3, 4), (3, 4)), ()),
        ],
    ),
]


def _unary(weight, *entries, flow="all"):
    return [Op(t, weight, _each(t), bound, flow) for t, bound in entries]


OPS = [
    # Smooth elementwise, each where it is smooth and well conditioned.
    *_unary(
        2,
        ("jnp.sin({0})", _c(1.0)),
        ("jnp.cos({0})", _c(1.0)),
        ("jnp.tanh({0})", _c(1.0)),
        ("jnp.exp(jnp.tanh({0}))", _c(math.e)),
        ("jnp.log({0} ** 2 + 1.0)", lambda b: math.log(b * b + 1.0)),
        ("jnp.log1p({0} ** 2)", lambda b: math.log(b * b + 1.0)),
        ("jnp.sqrt({0} ** 2 + 1.0)", _lin(1.0, 1.0)),
        ("jax.lax.rsqrt({0} ** 2 + 0.5)", _c(1.5)),
        ("jax.nn.sigmoid({0})", _c(1.0)),
        ("jnp.square({0})", lambda b: b * b),
        ("{0} ** 3", lambda b: b**3),
        ("({0} ** 2 + 1.0) ** -2", _c(1.0)),
        ("({0} ** 2 + 0.5) ** 1.5", lambda b: (b * b + 0.5) ** 1.5),
        ("jnp.power(2.0, jnp.tanh({0}))", _c(2.0)),
        ("jnp.expm1(jnp.sin({0}))", _c(2.0)),
        ("1.0 / (2.0 + jnp.cos({0}))", _c(1.0)),
        ("-{0}", _lin()),
        ("2.5 * {0} - 0.75", _lin(2.5, 0.75)),
        ("jax.nn.gelu({0})", _lin(1.0, 0.2)),
        ("jax.nn.silu({0})", _lin(1.0, 0.3)),
    ),
    # Kinks, where JAX's conventions at ties and zeros must be matched.
    *_unary(
        2, ("jnp.abs({0})", _lin()), ("jax.nn.relu({0})", _lin()), ("jax.nn.elu({0})", _lin(1, 1))
    ),
    *_unary(1, ("jnp.clip({0}, -1.0, 1.0)", _c(1.0)), ("jnp.maximum({0}, 0.5)", _lin())),
    # Round trips through lower precisions: the derivative is rounded as the value is.
    *_unary(
        1,
        ("{0}.astype(jnp.float32).astype(jnp.float64)", _lin()),
        ("{0}.astype(jnp.bfloat16).astype(jnp.float64)", _lin()),
        ("{0}.astype(jnp.float16).astype(jnp.float64)", _lin()),
    ),
    # Library custom_jvp functions, and our own.
    *_unary(2, ("jax.nn.softplus({0})", _lin(1, 1)), ("softplus({0})", _lin(1, 1))),
    # Zero derivative: stop_gradient, sign, an integer round trip.
    *_unary(
        1,
        ("jax.lax.stop_gradient({0})", _lin()),
        ("jnp.sign({0})", _c(1.0)),
        ("{0}.astype(jnp.int32).astype(jnp.float64)", _lin()),
        flow="none",
    ),
    # Broadcasting binary arithmetic.
    *[
        Op(t, w, _pairs(t), bound)
        for t, w, bound in [
            ("{0} + {1}", 6, lambda a, b: a + b),
            ("{0} - {1}", 4, lambda a, b: a + b),
            ("{0} * {1}", 6, _prod()),
            ("{0} / (1.0 + {1} ** 2)", 3, lambda a, b: a),
            ("{0} / (2.0 + jnp.cos({1}))", 2, lambda a, b: a),
            ("jnp.maximum({0}, {1})", 3, _lin()),
            ("jnp.minimum({0}, {1})", 3, _lin()),
            ("jnp.power({0} ** 2 + 0.5, jnp.tanh({1}))", 2, lambda a, b: max(a * a + 0.5, 2.0)),
            ("jnp.logaddexp({0}, {1})", 2, _lin(1.0, 0.7)),
            ("jit_nested({0}, {1})", 1, _lin(2.0)),
        ]
    ],
    Op("where-0", 1, _pairs("jnp.where({0} > 0.25, {1}, 0.0)"), lambda c, a: a, "branches"),
    Op(
        "where",
        4,
        _pairs("jnp.where({0} > 0.25, {1}, {2})", extra=1),
        lambda c, a, b: max(a, b),
        "branches",
    ),
    # Structural operations and dot_general.
    Op("structural", 14, _structural()),
    *[Op(f"dot-{k}", w, _listed(*entries), _prod(k)) for k, w, entries in DOTS],
    Op(
        "dot-const",
        3,
        _listed(
            ("{0} @ W44", ((3, 4),), (3, 4)),
            ("W33 @ {0}", ((3, 4),), (3, 4)),
            ("W34 @ {0}", ((4,),), (3,)),
            ("{0} @ W34", ((3,),), (4,)),
        ),
        _lin(12.0),
    ),
    Op("splice", 1, {t: [("splice({0}, {1})", (t, t))] for t in SHAPES if t and t[-1] > 1}),
    # Special functions, each where it is smooth and well conditioned.
    *_unary(
        1,
        ("jax.scipy.special.erf({0})", _c(1.0)),
        ("jax.scipy.special.erfc({0})", _c(2.0)),
        ("jax.scipy.special.erfinv(0.9 * jnp.tanh({0}))", _c(1.17)),
        ("jax.scipy.special.gammaln({0} ** 2 + 1.0)", lambda b: max(math.lgamma(b * b + 1), 0.13)),
        ("jax.scipy.special.digamma({0} ** 2 + 1.0)", lambda b: math.log(b * b + 1.0) + 0.6),
        ("jax.scipy.special.polygamma(1, {0} ** 2 + 1.0)", _c(1.65)),
        ("jax.scipy.special.i0e({0})", _c(1.0)),
        ("jax.scipy.special.i1e({0})", _c(0.5)),
        ("jnp.arctan({0})", _c(1.58)),
        ("jnp.arcsin(0.9 * jnp.tanh({0}))", _c(1.12)),
        ("jnp.arccos(0.9 * jnp.tanh({0}))", _c(2.7)),
        ("jnp.arctanh(0.9 * jnp.tanh({0}))", _c(1.48)),
        ("jnp.tan(jnp.tanh({0}))", _c(1.56)),
        ("jnp.sinh(jnp.tanh({0}))", _c(1.18)),
        ("jnp.cosh(jnp.tanh({0}))", _c(1.55)),
        ("jnp.arcsinh({0})", lambda b: math.asinh(b)),
        ("jnp.arccosh({0} ** 2 + 1.5)", lambda b: math.acosh(b * b + 1.5)),
        ("jnp.cbrt({0} ** 2 + 0.5)", lambda b: (b * b + 0.5) ** (1 / 3)),
        ("jnp.exp2(jnp.tanh({0}))", _c(2.0)),
        ("jax.device_put({0})", _lin()),
        ("jax.lax.reduce_precision({0}, 8, 23)", _lin()),
        ("jax.lax.clamp(-1.0, jnp.asarray({0}, float), 1.0)", _c(1.0)),
    ),
    *_unary(1, ("jnp.floor({0})", _lin(1, 1)), ("jnp.round({0})", _lin(1, 0.5)), flow="none"),
    Op(
        "prod",
        1,
        _listed(
            ("jnp.prod(jnp.tanh({0}), axis=0)", ((3, 4),), (4,)),
            ("jnp.prod(jnp.tanh({0}), axis=0)", ((4, 3),), (3,)),
            ("jnp.prod(jnp.tanh({0}))", ((4,),), ()),
        ),
        _c(1.0),
    ),
    Op(
        "pooling",
        1,
        _listed(
            (
                "jax.lax.reduce_window({0}, 0.0, jax.lax.add, (2, 2), (1, 1), 'SAME')",
                ((3, 4),),
                (3, 4),
            ),
            (
                "jax.lax.reduce_window({0}, -jnp.inf, jax.lax.max, (2, 2), (1, 1), 'SAME')",
                ((4, 3),),
                (4, 3),
            ),
        ),
        _lin(4.0),
    ),
    Op(
        "split",
        1,
        {
            t: [("jnp.concatenate(jnp.split({0}, [1, 3], axis=-1)[::-1], axis=-1)", (t,))]
            for t in SHAPES
            if t and t[-1] == 4
        },
        _lin(),
    ),
    Op("arctan2", 1, _pairs("jnp.arctan2({0}, 1.0 + {1} ** 2)"), _c(1.58)),
    Op("rem", 1, _pairs("jnp.fmod({0}, 1.5 + {1} ** 2)"), lambda a, b: a),
    Op(  # jnp.asarray: a leaf may be a NumPy constant; float: a value may be float32 after a
        # complex round trip, and these lax functions do not promote
        "scatter",
        1,
        _listed(
            ("jnp.asarray({0}).at[jnp.array([0, 2, 2])].add({1})", ((4,), (3,)), (4,)),
            ("jnp.asarray({0}).at[jnp.array([0, 2, 2])].set({1})", ((4,), (3,)), (4,)),
            ("jnp.asarray({0}).at[jnp.array([0, 2, 2])].subtract({1})", ((4,), (3,)), (4,)),
            ("jnp.asarray({0}).at[jnp.array([0, 2, 2])].max({1})", ((4,), (3,)), (4,)),
            ("jnp.asarray({0}).at[jnp.array([1, 1, 3])].min({1})", ((4,), (3,)), (4,)),
            (
                "jax.lax.dynamic_update_slice(jnp.asarray({0}, float), "
                "jnp.asarray({1}, float), (2,))",
                ((4,), (3,)),
                (4,),
            ),
        ),
        _lin(3.0),
    ),
    Op(
        "scatter-mul",
        1,
        _listed(
            (
                "jnp.asarray({0}).at[jnp.array([0, 3, 1])].multiply(jnp.tanh({1}), "
                "unique_indices=True)",
                ((4,), (3,)),
                (4,),
            ),
            ("jnp.asarray({0}).at[jnp.array([2, 2, 0])].multiply(jnp.full(3, 0.5))", ((4,),), (4,)),
        ),
        _lin(),
    ),
    Op(
        "max-pooling-derivatives",  # JAX's own: select_and_scatter_add, select_and_gather_add
        1,
        _listed(
            (
                "jax.vjp(maxpool, jnp.asarray({0}, float))[1](jnp.asarray({1}, float))[0]",
                ((3, 4), (3, 4)),
                (3, 4),
            ),
            (
                "jax.jvp(maxpool, (jnp.asarray({0}, float),), (jnp.asarray({1}, float),))[1]",
                ((4, 3), (4, 3)),
                (4, 3),
            ),
        ),
        lambda a, b: 4.0 * b,
        flow="branches",  # {0} only selects
    ),
    Op(
        "generic-reductions",  # lax.reduce and lax.reduce_window with their own computation
        1,
        _listed(
            ("sum_times_prod({0})", ((3, 4),), (4,)),
            ("sum_times_prod({0})", ((4, 3),), (3,)),
            (
                "pool_with(jnp.tanh({0}), 1.0, jax.lax.mul, (2, 2), 'SAME')",
                ((3, 4),),
                (3, 4),
                _c(1.0),
            ),
            (
                "pool_with(0.5 * jnp.tanh({0}), 0.0, odot, (2,), ((0, 0),))",
                ((4,),),
                (3,),
                _c(1.25),
            ),
        ),
        lambda a: 4.0 * a,
    ),
    Op("unstack", 1, {t: [("unstacked({0})", (t,))] for t in SHAPES if t}, _lin(4.0)),
    # Control flow: the branch taken (the predicate and index carry no derivative), scans
    # (a carry, a loop-invariant operand, reverse), and a checkpointed segment.
    Op(
        "cond",
        1,
        _pairs(
            "jax.lax.cond(jnp.sum({0}) > 0.0, lambda v, u: jnp.sin(v) * u, "
            "lambda v, u: 0.5 * v - u, {0}, {1})"
        ),
        lambda a, b: 0.5 * a + b,
    ),
    *_unary(
        1,
        (
            "jax.lax.switch(jnp.clip(jnp.floor(jnp.sum({0})).astype(int) + 1, 0, 2), "
            "[jnp.sin, jnp.tanh, lambda v: 0.5 * v], {0})",
            _lin(0.5, 1.0),
        ),
        ("jax.checkpoint(lambda v: jnp.sin(v) * v)({0})", _lin()),
    ),
    Op("scan", 1, {t: [("scan_rows({0})", (t,))] for t in SHAPES if t}, lambda a: 2 * a * a + a),
    Op(
        "scan-closing-over",
        1,
        {t: [("scan_with({0}, {1})", (t, u)) for u in SHAPES] for t in SHAPES if t},
        lambda a, b: a + 2.0,
    ),
    Op(
        "sort-payload",
        1,
        {t: [("jax.lax.sort(({0}, {1}), num_keys=1)[1]", (t, t))] for t in SHAPES if t},
        lambda a, b: b,
    ),
    Op(
        "conv",  # depthwise 1-D: {0} is 3 channels of length 4, {1} their kernels
        8,  # it makes (3, 4) values only: weighted up so that the random tests reach it
        _listed(
            *[
                (
                    "jax.lax.conv_general_dilated(jnp.asarray({0}, float)[None], "
                    "jnp.asarray({1}, float)[:, None, :], (1,), 'SAME', feature_group_count=3)[0]",
                    ((3, 4), kernel),
                    (3, 4),
                )
                for kernel in ((3, 4), (3, 1))
            ]
        ),
        _prod(4.0),
    ),
    Op("concatenate", 1, _listed(("jnp.concatenate([{0}, {1}[None]])", ((3,), ()), (4,)))),
    # Integer and boolean paths: no derivative flows through the second operand.
    Op(
        "argmax_scale",
        2,
        {t: [("argmax_scale({0}, {1})", (t, s)) for s in SHAPES] for t in SHAPES},
        lambda a, b: 11.0 * a,
        "first",
    ),
    Op(
        "iota_mask",
        1,
        {t: [("iota_mask({0}, {1})", (t, s)) for s in SHAPES] for t in SHAPES if t},
        lambda a, b: a,
        "first",
    ),
    Op(
        "compare",
        2,
        {t: [("{0} * ({1} > 0.25)", (t, s)) for s in _into(t)] for t in SHAPES},
        lambda a, b: a,
        "first",
    ),
    Op(
        "int-multiplier",
        1,
        {t: [("{0} * {1}.astype(jnp.int32)", (t, s)) for s in _into(t)] for t in SHAPES},
        _prod(),
        "first",
    ),
    # Calls: nested jit, custom_vjp.
    *_unary(1, ("jit_sinmul({0})", _lin()), ("jit_softplus({0})", _lin(1, 1))),
    Op("sin_vjp", 2, _each("sin_vjp({0})"), _lin(), "custom_vjp"),
    Op("jit_sin_vjp", 1, _each("jit_sin_vjp({0})"), _lin(), "custom_vjp"),
    Op(
        "mul_vjp",
        1,
        {t: [("mul_vjp({0}, {1})", (t, t))] for t in SHAPES},
        lambda a, b: a,
        "custom_vjp",
    ),
    Op("jit_call", 2, _pairs("jit_call"), None, "jit_call"),
    # Complex casts: a derivative flowing through one makes adlab raise.
    Op(
        "complex64",
        1,
        _each("jnp.real({0}.astype(jnp.complex64) * (2 + 1j))"),
        _lin(2.0),
        "complex",
    ),
    Op("abs-complex", 1, _each("jnp.abs({0} + 1j)"), _lin(1.0, 1.0), "complex"),
]


# --- The generator ------------------------------------------------------------------------------

MAX_OPS = 6
"""The most operations a fuzz program has (the structural chains at leaves not counted)."""


class Chooser:
    """A source of choices: ``below(n)`` returns an integer in [0, n)."""

    def below(self, n: int) -> int:
        raise NotImplementedError

    def weighted(self, weights) -> int:
        cumulative = list(itertools.accumulate(weights))
        return bisect.bisect_right(cumulative, self.below(cumulative[-1]))


class SeededChooser(Chooser):
    """Choices from a numpy Generator (the fuzz campaign)."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def below(self, n):
        return int(self.rng.integers(n))


class DrawChooser(Chooser):
    """Choices drawn by hypothesis, so that failing programs shrink."""

    def __init__(self, draw):
        self.draw = draw

    def below(self, n):
        from hypothesis import strategies as st

        return self.draw(st.integers(0, n - 1)) if n > 1 else 0


@dataclass(frozen=True)
class Expr:
    """A generated expression.

    Attributes:
      src: its Python source.
      shape: the shape of its value.
      bound: about the largest magnitude its value takes.
      active: whether a derivative of the inputs flows out of it.
      complex_active: whether a derivative flows into a complex value somewhere in it.
      custom_vjp: whether it calls a custom_vjp function.
      atomic: whether ``src`` can be an operand without parentheses.
      ops: the names of the operations in it.
    """

    src: str
    shape: tuple
    bound: float
    active: bool
    complex_active: bool = False
    custom_vjp: bool = False
    atomic: bool = True
    ops: frozenset = frozenset()


@functools.cache
def _atomic(template: str) -> bool:
    node = ast.parse(template.format(*["_"] * template.count("{")), mode="eval").body
    return isinstance(node, ast.Call | ast.Name | ast.Attribute | ast.Subscript)


@functools.cache
def _is_argument(template: str, i: int) -> bool:
    """Whether operand i is a whole argument of a call (needs no parentheses).

    An operand the template uses more than once (``jnp.stack([{0}, 2 * {0}])``) is always
    parenthesised.
    """
    parts = template.split(f"{{{i}}}")
    if len(parts) != 2:
        return False
    before, after = parts
    return before.endswith(("(", "[", ", ")) and after.startswith((")", ",", "]"))


def _apply(template, kids, shape, bound, flow="all", name="structural") -> Expr:
    """The expression ``template`` over ``kids``, scaled down if its bound exceeds LIMIT."""
    src = template.format(
        *(
            k.src if k.atomic or _is_argument(template, i) else f"({k.src})"
            for i, k in enumerate(kids)
        )
    )
    active = {
        "none": False,
        "first": kids[0].active,
        "branches": any(k.active for k in kids[1:]),
    }.get(flow, any(k.active for k in kids))
    e = Expr(
        src,
        shape,
        bound(*(k.bound for k in kids)),
        active,
        any(k.complex_active for k in kids) or (flow == "complex" and active),
        any(k.custom_vjp for k in kids) or flow == "custom_vjp",
        _atomic(template),
        frozenset({name}).union(*(k.ops for k in kids)),
    )
    if e.bound <= LIMIT:
        return e
    scale = 2.0 ** -math.ceil(math.log2(e.bound / LIMIT))  # a power of two: exact
    return _apply(f"{scale!r} * {{0}}", [e], shape, lambda b: b * scale)


def _shortest_paths():
    """dist[s][t]: the fewest structural edges from shape s to shape t."""
    dist = {}
    for s in SHAPES:
        d, queue = {s: 0}, deque([s])
        while queue:
            u = queue.popleft()
            for _, a, b, _ in EDGES:
                if a == u and b not in d:
                    d[b] = d[u] + 1
                    queue.append(b)
        dist[s] = d
    return dist


_DIST = _shortest_paths()
_OPS_FOR = {t: [op for op in OPS if op.variants.get(t)] for t in SHAPES}


def _leaf(ch, shape, env) -> Expr:
    names = list(env)
    k = ch.weighted([4] * len(names) + [1])
    if k == len(names):
        return Expr(f"const({shape}, {ch.below(2)})", shape, LEAF_BOUND, False)
    s, bound, active = env[names[k]]
    e = Expr(names[k], s, bound, active)
    while e.shape != shape:  # a random shortest chain of structural operations
        steps = [
            (template, b, bound)
            for template, a, b, bound in EDGES
            if a == e.shape and _DIST[b].get(shape) == _DIST[a][shape] - 1
        ]
        template, b, bound = steps[ch.below(len(steps))]
        e = _apply(template, [e], b, bound)
    return e


def _split(ch, n, k):
    """n operations split among k operands."""
    parts = []
    for _ in range(k - 1):
        parts.append(ch.below(n + 1))
        n -= parts[-1]
    return [*parts, n]


def _gen(ch, shape, budget, env) -> Expr:
    """A random expression of ``shape`` with ``budget`` operations over the leaves ``env``."""
    if budget == 0:
        return _leaf(ch, shape, env)
    ops = _OPS_FOR[shape]
    op = ops[ch.weighted([o.weight for o in ops])]
    variants = op.variants[shape]
    template, shapes, *bound = variants[ch.below(len(variants))]
    bound = bound[0] if bound else op.bound or _lin()
    if op.flow == "jit_call":
        *budgets, inner_budget = _split(ch, budget - 1, 3)
        a, b = (_gen(ch, s, n, env) for s, n in zip(shapes, budgets))
        leaves = {"a": (a.shape, a.bound, a.active), "b": (b.shape, b.bound, b.active)}
        inner = _gen(ch, shape, inner_budget, leaves)
        inner = dataclasses.replace(inner, src=repr(inner.src), atomic=True)
        return _apply(
            "jit_call({0}, {1}, {2})", [inner, a, b], shape, lambda i, a, b: i, "first", op.name
        )
    kids = [_gen(ch, s, n, env) for s, n in zip(shapes, _split(ch, budget - 1, len(shapes)))]
    return _apply(template, kids, shape, bound, op.flow, op.name)


@dataclass(frozen=True)
class Program:
    """A random program ``f(x, y)``; calling it evaluates ``lambda x, y: <src>``.

    Attributes:
      src: the body of the lambda, in this module's namespace.
      x_shape, y_shape: the shapes of the float64 inputs.
      complex_active: a derivative of x or y flows into a complex value: adlab must raise
        UnsupportedDtypeError for every derivative, and JAX succeeds.
      custom_vjp: it calls a custom_vjp function, so it has no forward mode.
      ops: the names of the operations (``Op.name``) it was built from.
    """

    src: str
    x_shape: tuple
    y_shape: tuple
    complex_active: bool
    custom_vjp: bool
    ops: frozenset = dataclasses.field(default=frozenset(), repr=False, compare=False)

    def __call__(self, x, y):
        return _lambda("x, y", self.src)(x, y)


def generate(ch: Chooser, max_ops: int = MAX_OPS) -> Program:
    """A random program with up to ``max_ops`` operations, from the choices of ``ch``."""
    x_shape, y_shape = INPUT_SHAPES[ch.below(len(INPUT_SHAPES))]
    env = {"x": (x_shape, LEAF_BOUND, True), "y": (y_shape, LEAF_BOUND, True)}
    budget = ch.below(max_ops + 1)
    n_out = 2 if ch.below(8) == 0 else 1  # sometimes a pair of outputs
    outs = [_gen(ch, SHAPES[ch.below(len(SHAPES))], n, env) for n in _split(ch, budget, n_out)]
    srcs = [e.src for e in outs]
    if n_out == 2 and ch.below(3) == 0:  # an integer or boolean second output (float0)
        srcs[1] = ("jnp.argmax({})", "{} > 0.25")[ch.below(2)].format(srcs[1])
    src = srcs[0] if n_out == 1 else f"({srcs[0]}, {srcs[1]})"
    return Program(
        src,
        x_shape,
        y_shape,
        any(e.complex_active for e in outs),
        any(e.custom_vjp for e in outs),
        frozenset().union(*(e.ops for e in outs)),
    )


def random_program(seed: int, max_ops: int = MAX_OPS) -> Program:
    """The fuzz campaign's program number ``seed``."""
    return generate(SeededChooser(np.random.default_rng([seed, 0])), max_ops)


def programs_and_seeds(max_ops: int = MAX_OPS):
    """A hypothesis strategy of (program, seed for its inputs)."""
    from hypothesis import strategies as st

    @st.composite
    def strategy(draw):
        return generate(DrawChooser(draw), max_ops), draw(st.integers(0, 2**32 - 1))

    return strategy()


# --- The comparison with JAX --------------------------------------------------------------------

# (rtol, atol): |adlab - jax| <= atol + rtol |jax| for every entry. Measured over the 10,000
# fuzz programs (JAX 0.10.2, XLA:CPU, float64, the domains above):
# first order (jvp, vjp, and the primal values they return): max absolute error 1.1e-15 on
#   values up to 17 (most agree bit for bit); entries that cancel to about zero have relative
#   errors up to 3. At rtol 3e-15 the largest atol needed was 9.5e-16.
# second order: max absolute 3.6e-15 on values up to 100; at rtol 5e-15 the largest atol
#   needed was 1.4e-15 (1.4e-15 at rtol 1e-14 too).
FIRST_ORDER = (4e-15, 3e-15)
SECOND_ORDER = (1e-14, 5e-15)
# adlab jitted against JAX eager: XLA reassociates sums and contracts multiply-adds, so the
# compiled program rounds otherwise. Measured over fuzz seeds 0..749: first order, max
# absolute 1.2e-14 on entries that cancel to 1e-15 (a BatchNorm over identical rows, seed
# 236); second order, max absolute 1.5e-13 on values up to 9.9 (1.5e-14 relative, seed 251)
# and 2.1e-14 on an entry of 0.022 (seed 211).
JIT_FIRST_ORDER = (1e-14, 3e-14)
JIT_SECOND_ORDER = (3e-14, 5e-14)
# Some programs amplify rounding a thousandfold: a BatchNorm over identical rows divides
# rounding noise by sqrt(eps). There JAX's own result is only known to its noise: at fuzz seed
# 1825 (a BatchNorm, then a LayerNorm, over three equal columns), JAX's compiled derivatives
# differ from its eager ones by up to 6.4e-12 on entries that are exactly 0 in theory, adlab's
# eager ones by 5.7e-14 and adlab's compiled ones by the same 6.4e-12 as JAX's. So a
# derivative that misses the tolerances above is compared again with each leaf's atol raised
# to twice the distance between JAX's eager results and JAX's own controls (compiled, and at
# inputs moved by a few ulps; see jax_noise): adlab is asked to agree with JAX as closely as
# JAX agrees with itself. A wrong derivative is still caught, unless JAX's own results move
# as much under rounding alone.
NOISE_FACTOR = 2


def second_order_mode(program: Program, seed: int) -> str:
    """The second-order product a program is checked with (custom_vjp: reverse only)."""
    if program.custom_vjp:
        return "rev-over-rev"
    # Mostly forward-over-reverse, which JAX computes about twice as fast as the others.
    return ("fwd-over-rev", "fwd-over-rev", "fwd-over-rev", "rev-over-fwd", "rev-over-rev")[
        seed % 5
    ]


def _cotangent(draw):
    def cotangent(out):
        if jnp.issubdtype(out.dtype, jnp.floating):
            return draw(out.shape).astype(out.dtype)
        return np.zeros(out.shape, jax.dtypes.float0)  # integer and boolean outputs

    return cotangent


class Case:
    """A program at random inputs, tangents and cotangents (float64) drawn from ``seed``.

    Its methods compute each derivative with an AD module, ``adlab`` or ``jax``: both have
    ``jvp`` and ``vjp`` with the same signatures.
    """

    def __init__(self, program: Program, seed: int):
        self.f, self.seed = program, seed
        rng = np.random.default_rng([seed, 1])
        draw = lambda s: jnp.asarray(rng.normal(size=s))
        xs, ys = program.x_shape, program.y_shape
        self.x, self.y, self.tx, self.ty = draw(xs), draw(ys), draw(xs), draw(ys)
        out = jax.eval_shape(program, self.x, self.y)
        self.ct = jax.tree.map(_cotangent(draw), out)
        self.ct2 = (draw(xs), draw(ys))
        self.mode = second_order_mode(program, seed)

    def value(self, ad):
        return self.f(self.x, self.y)

    def jvp(self, ad):
        return ad.jvp(self.f, (self.x, self.y), (self.tx, self.ty))

    def vjp(self, ad):
        value, pullback = ad.vjp(self.f, self.x, self.y)
        return value, pullback(self.ct)

    def pullback_of_ct(self, x, y, ad):
        return ad.vjp(self.f, x, y)[1](self.ct)

    def second(self, ad):
        """The second-order product: its value is a first-order derivative."""
        g = functools.partial(self.pullback_of_ct, ad=ad)
        if self.mode == "fwd-over-rev":  # value: the vjp
            return ad.jvp(g, (self.x, self.y), (self.tx, self.ty))
        if self.mode == "rev-over-fwd":  # value: the jvp
            h = lambda x, y: ad.jvp(self.f, (x, y), (self.tx, self.ty))[1]
            value, pullback = ad.vjp(h, self.x, self.y)
            return value, pullback(self.ct)
        value, pullback = ad.vjp(g, self.x, self.y)  # rev-over-rev; value: the vjp
        return value, pullback(self.ct2)

    def jitted(self, names, ad=adlab) -> dict:
        """The derivatives ``names`` by ``ad``, from one jax.jit-compiled function of the arrays.

        The inputs, tangents and cotangents are the compiled function's arguments, not
        constants, so XLA fuses and schedules the program as it would a user's.
        """

        def run(x, y, tx, ty, ct, ct2):
            case = copy.copy(self)
            case.x, case.y, case.tx, case.ty, case.ct, case.ct2 = x, y, tx, ty, ct, ct2
            return {n: (case.second if n == case.mode else getattr(case, n))(ad) for n in names}

        return jax.jit(run)(self.x, self.y, self.tx, self.ty, self.ct, self.ct2)

    def jax_jitted(self, names) -> dict:
        """JAX's own derivatives ``names``, compiled: the A/A control of ``noise_bound``."""
        global _JAX_SIDE
        _JAX_SIDE = True
        try:
            return self.jitted(names, jax)
        finally:
            _JAX_SIDE = False

    def jax_results(self) -> dict:
        """JAX's result for each derivative adlab is checked on, from two JAX calls.

        The second-order product's value is itself the vjp (or the jvp) and is reused,
        so JAX runs only two transformations. JAX runs with jit disabled: its jitted
        functions then run primitive by primitive, so XLA compiles each (primitive,
        shapes, params) once for all programs rather than each program's jitted pieces.
        ``pool_with`` runs its reference formulation meanwhile (JAX cannot reverse the
        generic reduce_window).
        """
        global _JAX_SIDE
        _JAX_SIDE = True
        try:
            with jax.disable_jit():
                return self._jax_results()
        finally:
            _JAX_SIDE = False

    def _jax_results(self) -> dict:
        second = self.second(jax)
        if self.mode == "rev-over-fwd":
            value, ct = self.vjp(jax)
            return {"jvp": (value, second[0]), "vjp": (value, ct), self.mode: second}
        value, dot = self.jvp(jax) if not self.f.custom_vjp else (self.value(jax), None)
        out = {"vjp": (value, second[0]), self.mode: second}
        return out if self.f.custom_vjp else {"jvp": (value, dot), **out}


def compare(actual, expected, tolerance=FIRST_ORDER, noise=None) -> str | None:
    """Why ``actual`` does not match JAX's ``expected`` (None if it does).

    ``noise``, if given, is one number per leaf of ``expected``: the rounding noise JAX's
    result itself carries (``jax_noise``). Each leaf's atol is then at least ``NOISE_FACTOR``
    times it.
    """
    rtol, atol = tolerance
    if jax.tree.structure(actual) != jax.tree.structure(expected):
        return f"pytree structure {jax.tree.structure(actual)} != {jax.tree.structure(expected)}"
    noises = [0.0] * len(jax.tree.leaves(expected)) if noise is None else noise
    for a, e, n in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), noises):
        a, e = np.asarray(a), np.asarray(e)
        if (a.shape, a.dtype) != (e.shape, e.dtype):
            return f"shape and dtype {a.shape} {a.dtype} != JAX's {e.shape} {e.dtype}"
        if e.dtype == jax.dtypes.float0:
            continue
        leaf_atol = max(atol, NOISE_FACTOR * n)
        try:
            np.testing.assert_allclose(a, e, rtol=rtol, atol=leaf_atol)
        except AssertionError as err:
            noise = "" if leaf_atol == atol else f" (atol {leaf_atol:.2g}: JAX's own noise)"
            return str(err) + noise
    return None


def measure(actual, expected, rtol, into: dict) -> None:
    """Adds to ``into`` the largest absolute error, |value| and atol needed at ``rtol``."""
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected)):
        e = np.asarray(e)
        if e.dtype == jax.dtypes.float0 or not e.size:
            continue
        a, e = np.asarray(a, np.float64), e.astype(np.float64)
        d = np.abs(a - e)
        for key, value in (
            ("max abs error", d.max()),
            ("max |value|", np.abs(e).max()),
            (f"atol needed at rtol {rtol:g}", (d - rtol * np.abs(e)).max()),
        ):
            into[key] = max(into.get(key, 0.0), float(value))


def check(program: Program, seed: int, measured: dict | None = None) -> list[str]:
    """Compares adlab with JAX on ``program``; returns the mismatches (empty if none).

    First order ``jvp`` (not for custom_vjp programs) and ``vjp``, and one second-order
    product. Where a derivative flows into a complex value, JAX must succeed and adlab
    must raise ``UnsupportedDtypeError`` for each; otherwise adlab's results must have
    JAX's structure, shapes and dtypes, and its values to FIRST_ORDER or SECOND_ORDER.
    ``measured``, if given, collects the errors per order (see ``measure``). adlab's
    derivatives are then computed again under ``jax.jit``, in one compiled function, and
    compared with the same (eager) JAX results.
    """
    case = Case(program, seed)
    expected = case.jax_results()
    where = f"{program!r}, seed={seed}"
    problems, results = [], []  # results: (label, name, adlab's result, tolerance)
    for name, want in expected.items():
        compute = case.second if name == case.mode else getattr(case, name)
        if program.complex_active:
            try:
                compute(adlab)
            except adlab.UnsupportedDtypeError:
                continue
            except Exception as err:  # noqa: BLE001  (reported, with the program)
                problems.append(f"{name}: raised {type(err).__name__}: {err}\n  {where}")
                continue
            problems.append(f"{name}: returned, should raise UnsupportedDtypeError\n  {where}")
            continue
        try:
            got = compute(adlab)
        except Exception as err:  # noqa: BLE001  (reported, with the program)
            problems.append(f"{name}: raised {type(err).__name__}: {err}\n  {where}")
            continue
        order = "second" if name == case.mode else "first"
        tolerance = SECOND_ORDER if order == "second" else FIRST_ORDER
        results.append((name, name, got, tolerance))
        if measured is not None:
            measure(got, want, tolerance[0], measured.setdefault(order, {}))
    if not program.complex_active:
        # The same derivatives, adlab's jitted, against JAX's eager ones.
        try:
            jitted = case.jitted(list(expected))
        except Exception as err:  # noqa: BLE001  (reported, with the program)
            problems.append(f"jit: raised {type(err).__name__}: {err}\n  {where}")
        else:
            for name in expected:
                tolerance = JIT_SECOND_ORDER if name == case.mode else JIT_FIRST_ORDER
                results.append((f"jit {name}", name, jitted[name], tolerance))
    return problems + _differences(case, expected, results, where)


NOISY: list[int] = []  # the seeds whose mismatches were all within JAX's own noise


PERTURBATION = 1e-15  # relative: the inputs of the second control, a few ulps away


def jax_noise(case, expected) -> dict:
    """Per derivative, per leaf: how far JAX's own result moves under rounding alone.

    Two controls, each against the eager ``expected``: JAX's derivatives compiled by
    jax.jit (XLA rounds otherwise), and JAX's eager derivatives at inputs each moved by a
    random relative PERTURBATION (another rounding of the same sums; the derivatives
    themselves move by about |second derivative| x 1e-15 |x|). At fuzz seed 3299, JAX's
    compiled and eager results are both exactly 0 where adlab's compiled one is -6.4e-14,
    in a BatchNorm of a constant matrix: its equal entries cancel exactly in JAX's programs
    and not in adlab's, and once moved apart they no longer cancel in JAX's either.
    """
    moved, rng = copy.copy(case), np.random.default_rng([case.seed, 2])
    # Each entry moved apart: equal entries (a broadcast, a constant row) become unequal, so
    # sums that cancelled exactly now round as they would anywhere else.
    move = lambda a: a * (1 + PERTURBATION * rng.standard_normal(np.shape(a)))  # noqa: E731
    moved.x, moved.y = move(case.x), move(case.y)
    controls = [case.jax_jitted(list(expected)), moved.jax_results()]
    noise = {}
    for name, want in expected.items():
        per_leaf = []
        for i, e in enumerate(jax.tree.leaves(want)):
            e = np.asarray(e)
            if not np.issubdtype(e.dtype, np.inexact) or not e.size:
                per_leaf.append(0.0)
                continue
            per_leaf.append(
                max(
                    float(np.max(np.abs(np.asarray(jax.tree.leaves(c[name])[i]) - e)))
                    for c in controls
                )
            )
        noise[name] = per_leaf
    return noise


def _differences(case, expected, results, where) -> list[str]:
    """The results that differ from JAX's: beyond the tolerance, and beyond JAX's own noise.

    ``results`` holds (label, derivative's name, adlab's result, tolerance). Only where one
    misses its tolerance is JAX's noise measured (``jax_noise``), and each such result is
    judged again with it.
    """
    differing = [r for r in results if compare(r[2], expected[r[1]], r[3]) is not None]
    if not differing:
        return []
    noise = jax_noise(case, expected)
    problems = []
    for label, name, got, tolerance in differing:
        why = compare(got, expected[name], tolerance, noise[name])
        if why is not None:
            problems.append(f"{label}: differs from JAX beyond its own noise: {why}\n  {where}")
    if not problems:
        NOISY.append(case.seed)
    return problems


if __name__ == "__main__":
    # Re-measures the errors behind FIRST_ORDER and SECOND_ORDER over the fuzz programs
    # start..stop: python tests/programs.py 0 10000 (about 10 minutes per 5,000).
    import sys

    jax.config.update("jax_enable_x64", True)
    start, stop = (int(a) for a in sys.argv[1:3])
    measured, problems = {}, []
    for seed in range(start, stop):
        problems += check(random_program(seed), seed, measured)
    print("\n".join(problems))
    print(f"{stop - start} programs, {len(problems)} mismatches; measured: {measured}")
