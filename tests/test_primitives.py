"""The primitive table: every primitive in adlab's set against jax.jvp / jax.vjp.

One row per primitive (JAX's lax_autodiff_test layout). Each row has a domain sampler,
so log gets positive inputs instead of NaNs being caught afterwards, and a list of shape
cases: scalar, vector, matrix, and the size-1 / rank-0 broadcast pairs that jaxprs contain.
Each case runs in float32 and float64, at first and second order, in both modes. The first
row of every primitive (and the variants with a rule path of their own) also runs in float16
and bfloat16, on its last shape case, against JAX in that same dtype. Tolerances are the
named tables of helpers.py, with the errors measured for each.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import rows_control
import rows_conv
import rows_cumulative
import rows_expansions
import rows_indexing
import rows_linalg
import rows_sorting
import rows_special
import rows_windows
from helpers import BF16, F32, FIRST_ORDER, SECOND_ORDER, assert_trees_close, primitives_in
from jax import lax
from rows import (  # noqa: F401  (the samplers and shape cases the rows below use)
    ARRAYS,
    BINARY,
    UNARY,
    Row,
    rand_default,
    rand_exponent,
    rand_nonzero,
    rand_positive,
)

import adlab


def dot(contract, batch):
    return lambda x, y: lax.dot_general(x, y, (contract, batch))


def _other(x):
    """A float dtype other than x's, so that converting to it is never a no-op."""
    return jnp.float32 if x.dtype == jnp.float16 else jnp.float16


def _custom_jvp_fun():
    @jax.custom_jvp
    def softplus(x):
        return jnp.log1p(jnp.exp(x))

    softplus.defjvp(lambda p, t: (softplus(p[0]), t[0] * jax.nn.sigmoid(p[0])))
    return softplus


def _custom_vjp_fun():
    @jax.custom_vjp
    def clip_gradient(x, y):
        return jnp.sin(x) * y

    fwd = lambda x, y: (clip_gradient(x, y), (jnp.cos(x), x, y))
    bwd = lambda res, g: (jnp.clip(res[0] * res[2] * g, -1, 1), jnp.sin(res[1]) * g)
    clip_gradient.defvjp(fwd, bwd)
    return clip_gradient


DIV_FIRST = {**FIRST_ORDER, F32: (2e-6, 5e-7), BF16: (1.6e-2, 3.2e-2)}

CORE_ROWS = [
    # Elementwise, unary
    Row("neg", lax.neg, UNARY),
    Row("sin", lax.sin, UNARY),
    Row("cos", lax.cos, UNARY),
    Row("exp", lax.exp, UNARY),
    Row("log", lax.log, UNARY, rand_positive),
    Row("log1p", lax.log1p, UNARY, rand_positive),
    Row("expm1", lax.expm1, UNARY),
    Row("tanh", lax.tanh, UNARY),
    Row("logistic", lax.logistic, UNARY),
    Row("sqrt", lax.sqrt, UNARY, rand_positive),
    Row("rsqrt", lax.rsqrt, UNARY, rand_positive),
    Row("abs", lax.abs, UNARY, rand_nonzero),
    Row("sign", lambda x: lax.mul(lax.sign(x), x), UNARY, rand_nonzero),
    Row("integer_pow", lambda x: lax.integer_pow(x, 3), UNARY, id="y=3"),
    Row("integer_pow", lambda x: lax.integer_pow(x, -2), UNARY, rand_nonzero, id="y=-2"),
    Row("integer_pow", lambda x: lax.integer_pow(x, 1), UNARY, id="y=1"),
    Row("square", lax.square, UNARY),
    Row("is_finite", lambda x: lax.select(lax.is_finite(x), x, lax.full_like(x, 0)), UNARY),
    Row("stop_gradient", lambda x: lax.mul(x, lax.stop_gradient(x)), UNARY),
    # Elementwise, binary (with rank-0 and size-1 broadcasting)
    Row("add", lax.add, BINARY),
    Row("sub", lax.sub, BINARY),
    Row("mul", lax.mul, BINARY),
    # Mixed precision: the product in another dtype than the operands' (up or down).
    Row(
        "mul",
        lambda x, y: lax.mul(
            x, y, out_dtype=jnp.float32 if x.dtype == jnp.float64 else jnp.float64
        ),
        BINARY[:4],
        id="out_dtype",
    ),
    # JAX before 0.12.1 writes the y-term as -x dy / y^2, adlab (and JAX since) as -q dy / y
    # with q = x / y: on JAX 0.10.2 the two differ by up to 2.4e-7 in float32 (an entry of
    # -0.0056 that cancels; values up to 4.2) and 1.6e-2 in bfloat16 (half an ulp of values
    # up to 5.4), at first order; on JAX 0.12.1 they agree to the default tolerances.
    Row("div", lax.div, BINARY, rand_nonzero, first_order=DIV_FIRST),
    Row("max", lax.max, BINARY),
    Row("min", lax.min, BINARY),
    Row("pow", lax.pow, BINARY, rand_positive),
    # An integer exponent: any real base (negative ones included), no derivative in n.
    Row(
        "pow",
        lax.pow,
        [((3, 4), (3, 4)), ((3, 4), ()), ((3, 1), (1, 4))],
        rand_nonzero,
        int_args=(1,),
        id="int-exponent",
    ),  # fmt: skip
    Row("pow", lambda x, n: x**n, [((3, 1), (1, 4))], rand_nonzero, int_args=(1,), id="x**n"),
    Row(
        "pow",
        lambda x: x ** jnp.array([[-2, 0, 1, 3]], jnp.int32),
        [((3, 1),)],
        rand_nonzero,
        id="x**const",
    ),
    Row("add_any", jax.grad(lambda t: jnp.sum(jnp.sin(t) * t)), UNARY, id="jax-grad-output"),
    Row(
        "select_n",
        lambda p, x, y: lax.select(lax.gt(p, lax.full_like(p, 0)), x, y),
        [((4,),) * 3, ((3, 4),) * 3, ((), (3, 4), (3, 4))],
    ),  # fmt: skip
    Row(
        "select_n",
        lambda p, x, y, z: lax.select_n(
            lax.convert_element_type(lax.gt(p, lax.full_like(p, 0)), "int32")
            + lax.convert_element_type(lax.gt(p, lax.full_like(p, 1)), "int32"),
            x,
            y,
            z,
        ),
        [((5,),) * 4],
        id="3-cases",
    ),  # fmt: skip
    *[
        Row(
            c,
            lambda x, y, c=c: lax.mul(lax.convert_element_type(getattr(lax, c)(x, y), x.dtype), x),
            BINARY,
        )  # fmt: skip
        for c in ("eq", "ne", "lt", "le", "gt", "ge")
    ],
    Row(
        "convert_element_type",
        lambda x: lax.convert_element_type(lax.convert_element_type(x, _other(x)) * 2, x.dtype),
        UNARY,
    ),  # fmt: skip
    Row("iota", lambda x: lax.mul(x, lax.broadcasted_iota(x.dtype, x.shape, x.ndim - 1)), ARRAYS),
    # Structure
    Row(
        "broadcast_in_dim",
        lambda x: lax.broadcast_in_dim(x, (2, *x.shape), tuple(range(1, x.ndim + 1))),
        UNARY,
    ),  # fmt: skip
    Row(
        "broadcast_in_dim",
        lambda x: lax.broadcast_in_dim(x, (3, 5, 4), (0, 2)),
        [((3, 1),), ((1, 4),), ((1, 1),)],
        id="stretch",
    ),  # fmt: skip
    Row("broadcast_in_dim", lambda x: lax.expand_dims(x, (0, 2)), ARRAYS, id="expand_dims"),
    Row("reshape", lambda x: lax.reshape(x, (1, x.size)), ARRAYS),
    Row("reshape", lambda x: lax.reshape(x, (2, 6)), [((3, 4),)], id="2x6"),
    Row("squeeze", lambda x: lax.squeeze(x, (1,)), [((3, 1, 4),), ((2, 1),)]),
    Row("transpose", lambda x: lax.transpose(x, (1, 0)), [((3, 4),)]),
    Row("transpose", lambda x: lax.transpose(x, (2, 0, 1)), [((2, 3, 4),)], id="3d"),
    Row("copy", lambda x: jnp.copy(x) * x, UNARY),
    Row("rev", lambda x: lax.rev(x, (0,)), ARRAYS),
    Row("rev", lambda x: lax.rev(x, (0, 1)), [((3, 4),)], id="both-axes"),
    Row("slice", lambda x: lax.slice(x, (1,), (4,)), [((6,),)]),
    Row("slice", lambda x: lax.slice(x, (0, 1), (5, 4), (2, 2)), [((6, 5),)], id="strided"),
    Row("slice", lambda x: lax.slice(x, (1, 0), (7, 3), (3, 1)), [((7, 3),)], id="stride-to-end"),
    Row(
        "concatenate", lambda x, y: lax.concatenate([x, y, x], 0), [((2, 3), (4, 3)), ((2,), (5,))]
    ),  # fmt: skip
    Row("concatenate", lambda x, y: lax.concatenate([x, y], 1), [((2, 3), (2, 1))], id="axis1"),
    Row("reduce_sum", lambda x: lax.reduce_sum(x, (0,)), ARRAYS),
    Row("reduce_sum", lambda x: lax.reduce_sum(x, (0, 1)), [((3, 4),)], id="all"),
    Row("reduce_max", lambda x: lax.reduce_max(x, (0,)), ARRAYS),
    Row("reduce_max", lambda x: lax.reduce_max(x, (1,)), [((3, 4),)], id="axis1"),
    Row("reduce_min", lambda x: lax.reduce_min(x, (0,)), ARRAYS),
    Row("reduce_min", lambda x: lax.reduce_min(x, (0, 1)), [((3, 4),)], id="all"),
    # dot_general, every kind of dimension_numbers
    Row("dot_general", dot(((1,), (0,)), ((), ())), [((3, 4), (4, 5))], id="matmul"),
    Row("dot_general", dot(((0,), (0,)), ((), ())), [((4,), (4,))], id="inner"),
    Row("dot_general", dot(((1,), (0,)), ((), ())), [((3, 4), (4,))], id="matvec"),
    Row("dot_general", dot(((), ()), ((), ())), [((3,), (4,))], id="outer"),
    Row("dot_general", dot(((2,), (1,)), ((0,), (0,))), [((2, 3, 4), (2, 4, 5))], id="batched"),
    Row(
        "dot_general",
        dot(((1, 2), (1, 0)), ((), ())),
        [((3, 4, 5), (5, 4, 2))],
        id="multi-contract",
    ),  # fmt: skip
    Row(
        "dot_general",
        dot(((0,), (2,)), ((1,), (0,))),
        [((4, 2, 3), (2, 5, 4))],
        id="batch-not-leading",
    ),  # fmt: skip
    Row("dot_general", dot(((0,), (0,)), ((), ())), [((4, 3), (4, 2))], id="lhs-transposed"),
    # Calls
    Row("jit", jax.jit(lambda x, y: jnp.sin(x) * y + x), [((4,), (4,))]),
    Row("custom_jvp_call", jax.nn.relu, UNARY, rand_nonzero, id="relu"),
    Row("custom_jvp_call", _custom_jvp_fun(), UNARY, id="own-rule"),
    Row("custom_vjp_call", _custom_vjp_fun(), [((4,), (4,))], modes=("vjp",)),
]

# Primitives that only newer JAX has (log2 and one_minus_square since 0.11, polynomial since
# 0.12): their rows run where the installed JAX defines them; test_rows_of_newer_primitives says
# which are skipped.
NEWER_ROWS = [
    Row("log2", lambda x: lax.log2(x), UNARY, rand_positive),
    Row("one_minus_square", lambda x: lax.one_minus_square(x), UNARY),
    # every operand broadcast against the others; a constant coefficient among them
    Row(
        "polynomial",
        lambda x, c1, c2: lax.polynomial(x, [0.5, c1, c2]),
        [((3, 1), (1, 4), (3, 4)), ((4,), (4,), (4,))],
    ),
    # past the unroll threshold JAX lowers Horner's rule to a scan; the value is the same
    Row(
        "polynomial",
        lambda x, c: lax.polynomial(x, [c, 1.0, c, -2.0, c], unroll=2),
        [((4,), (4,))],
        id="scan-lowered",
    ),
]

# The rows of the other rule families live beside their family's name, in tests/rows_*.py.
ROWS = [
    *CORE_ROWS,
    *[row for row in NEWER_ROWS if hasattr(lax, row.primitive)],
    *rows_special.ROWS,
    *rows_indexing.ROWS,
    *rows_cumulative.ROWS,
    *rows_windows.ROWS,
    *rows_conv.ROWS,
    *rows_sorting.ROWS,
    *rows_expansions.ROWS,
    *rows_control.ROWS,
    *rows_linalg.ROWS,
]


def _param(row, shapes, dtype):
    name = f"{row.primitive}{'-' + row.id if row.id else ''}-{shapes}-{jnp.dtype(dtype).name}"
    return pytest.param(row, shapes, dtype, id=name)


# float16 and bfloat16 run the first row of each primitive, and the variants with a rule
# path of their own; each on the row's last shape case (the most general: a matrix, or a
# broadcast pair). The other variants repeat a rule the subset already runs in that dtype.
LOW_PRECISION_VARIANTS = {
    ("integer_pow", "y=-2"),
    ("pow", "int-exponent"),
    ("dot_general", "batched"),
    ("mul", "out_dtype"),
}


def _low_precision_rows():
    seen = set()
    for row in ROWS:
        if not row.low_precision:
            continue
        if row.primitive not in seen or (row.primitive, row.id) in LOW_PRECISION_VARIANTS:
            seen.add(row.primitive)
            yield row


CASES = [
    *[
        _param(row, s, dtype)
        for row in ROWS
        for s in row.shapes
        for dtype in (jnp.float32, jnp.float64)
    ],
    *[
        _param(row, row.shapes[-1], dtype)
        for row in _low_precision_rows()
        for dtype in (jnp.float16, jnp.bfloat16)
    ],
]


def _inputs(row, shapes, dtype, seed):
    keys = jax.random.split(jax.random.key(seed), 2 * len(shapes) + 1)
    args, dirs = [], []
    for i, (k, kd, s) in enumerate(zip(keys, keys[len(shapes) :], shapes)):
        if i in row.int_args:
            args.append(rand_exponent(k, s, dtype))
            dirs.append(np.zeros(s, jax.dtypes.float0))
        else:
            args.append(row.domain(k, s, dtype))
            dirs.append(rand_default(kd, s, dtype))
    return tuple(args), tuple(dirs), keys[-1]


def test_every_primitive_has_a_row():
    assert {row.primitive for row in ROWS} == set(adlab.PRIMITIVES)


@pytest.mark.parametrize("row, shapes, dtype", CASES)
def test_first_order(row, shapes, dtype):
    args, dirs, key = _inputs(row, shapes, dtype, 1)
    # The row tests what it claims to test, in the dtype it claims.
    assert row.primitive in primitives_in(jax.make_jaxpr(row.fun)(*args).jaxpr)
    assert all(a.dtype == (jnp.int32 if i in row.int_args else dtype) for i, a in enumerate(args))
    tol = row.first_order
    if "jvp" in row.modes:
        assert_trees_close(adlab.jvp(row.fun, args, dirs), jax.jvp(row.jax_fun, args, dirs), tol)
    if "vjp" in row.modes:
        out, pullback = adlab.vjp(row.fun, *args)
        ref_out, ref_pullback = jax.vjp(row.jax_fun, *args)
        ct = rand_default(key, jnp.shape(ref_out), jnp.result_type(ref_out))
        assert_trees_close(out, ref_out, tol)
        assert_trees_close(pullback(ct), ref_pullback(ct), tol)


# Under jax.jit: each row's last (most general) shape case, in float32 and float64, its jvp
# and vjp compiled in one function by adlab and by JAX, so that XLA fuses the rule's output
# with the primitive's as it would in a user's program.
JIT_CASES = [
    _param(row, row.shapes[-1], dtype) for row in ROWS for dtype in (jnp.float32, jnp.float64)
]


# lu in float32 at this draw (a batch matrix of condition number 67): adlab's and JAX's vjps
# are each about 8.5e-6 from the float64 result on values up to 8.8, in different entries,
# so they differ from each other by up to 1.7e-5 (5.4e-5 relative); adlab jitted equals adlab
# eager there bit for bit.
JIT_TOLERANCE = {("lu", jnp.dtype(jnp.float32)): {jnp.dtype(jnp.float32): (2e-6, 4e-5)}}


@pytest.mark.parametrize("row, shapes, dtype", JIT_CASES)
def test_first_order_jitted(row, shapes, dtype):
    args, dirs, key = _inputs(row, shapes, dtype, 3)
    out = jax.eval_shape(row.jax_fun, *args)
    ct = rand_default(key, out.shape, out.dtype)

    def derivatives(impl, fun):
        def run(args, dirs, ct):
            results = {}
            if "jvp" in row.modes:
                results["jvp"] = impl.jvp(fun, args, dirs)
            if "vjp" in row.modes:
                value, pullback = impl.vjp(fun, *args)
                results["vjp"] = (value, pullback(ct))
            return results

        return jax.jit(run)(args, dirs, ct)

    ours, theirs = derivatives(adlab, row.fun), derivatives(jax, row.jax_fun)
    tol = JIT_TOLERANCE.get((row.primitive, jnp.dtype(dtype)), row.first_order)
    assert_trees_close(ours, theirs, tol)


@pytest.mark.parametrize("row, shapes, dtype", CASES)
def test_second_order(row, shapes, dtype):
    args, dirs, key = _inputs(row, shapes, dtype, 2)
    tol = row.second_order or SECOND_ORDER
    out = jax.eval_shape(row.fun, *args)
    ct = rand_default(key, out.shape, out.dtype)

    if "vjp" not in row.modes:  # forward over forward: d/dx [J(x) dirs] . dirs
        pushed = lambda impl, fun: lambda *x: impl.jvp(fun, x, dirs)[1]
        ours = adlab.jvp(pushed(adlab, row.fun), args, dirs)
        assert_trees_close(ours, jax.jvp(pushed(jax, row.jax_fun), args, dirs), tol)
        return

    def pulled(impl, fun):  # x -> J(x)^T ct, by `impl`'s reverse mode
        return lambda *x: impl.vjp(fun, *x)[1](ct)

    ours_pulled, jax_pulled = pulled(adlab, row.fun), pulled(jax, row.jax_fun)
    # forward over reverse: d/dx [J(x)^T ct] . dirs
    if "jvp" in row.modes:
        ours = adlab.jvp(ours_pulled, args, dirs)
        assert_trees_close(ours, jax.jvp(jax_pulled, args, dirs), tol)
    # reverse over reverse: the same quantity's transpose, pulled back along dirs
    ours = adlab.vjp(ours_pulled, *args)[1](dirs)
    assert_trees_close(ours, jax.vjp(jax_pulled, *args)[1](dirs), tol)


@pytest.mark.parametrize("row", NEWER_ROWS, ids=lambda row: row.id or row.primitive)
def test_rows_of_newer_primitives(row):
    """A newer primitive's row runs in the table where the installed JAX has the primitive."""
    if not hasattr(lax, row.primitive):
        pytest.skip(f"JAX {jax.__version__} has no {row.primitive} primitive; its row is not run")
    assert row in ROWS
    assert row.primitive in adlab.PRIMITIVES
