"""adlab.cost: analytic counts on the jaxpr, XLA's analysis, and tape bytes.

Expected values are derived by hand from the cost conventions (XLA's CPU convention, stated
in adlab/cost.py's docstring), never copied from the code under test.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import adlab
from adlab import cost

IMPLS = [pytest.param(adlab, id="adlab"), pytest.param(adlab.reference, id="jax")]
SEED_SHAPES = [(1, 1, 1), (2, 3, 5), (8, 16, 4), (7, 5, 11), (32, 64, 10)]
F32 = jnp.float32


def mean_square(H2):
    return jnp.mean(H2**2)


def seed_loss(X, W1, W2):
    return mean_square(X @ W1 @ W2)


# One draw, sliced per shape: eager random draws would compile once per shape.
POOL = np.asarray(jax.random.normal(jax.random.key(0), (1 << 14,), F32))


def seed_inputs(B, D, C):
    shapes = [(B, D), (D, D), (D, C)]
    ends = np.cumsum([np.prod(s) for s in shapes])
    starts = ends - [np.prod(s) for s in shapes]
    return tuple(
        jnp.asarray(POOL[a:b].reshape(s)) for a, b, s in zip(starts, ends, shapes, strict=True)
    )


def dot_flops(counts):
    return counts.by_primitive["dot_general"].flops


# ---- the seed's formulas ----------------------------------------------------------------------


@pytest.mark.parametrize("B,D,C", SEED_SHAPES)
def test_seed_forward_formula(B, D, C):
    X, W1, W2 = seed_inputs(B, D, C)
    counts = cost.count(seed_loss, X, W1, W2)
    assert dot_flops(counts) == 2 * B * D * D + 2 * B * D * C
    # The rest is the loss, mean(H2^2), counted on its own.
    H2 = jax.ShapeDtypeStruct((B, C), F32)
    assert counts.flops - dot_flops(counts) == cost.count(mean_square, H2).flops


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("B,D,C", SEED_SHAPES)
def test_seed_backward_formula_with_dX(impl, B, D, C):
    X, W1, W2 = seed_inputs(B, D, C)
    out, pullback = impl.vjp(seed_loss, X, W1, W2)
    counts = cost.count(pullback, jnp.ones_like(out))
    assert dot_flops(counts) == 4 * B * D * C + 4 * B * D * D
    assert dot_flops(counts) == 2 * dot_flops(cost.count(seed_loss, X, W1, W2))
    # The rest is the loss's own backward pass.
    h2_out, loss_pullback = impl.vjp(mean_square, jnp.asarray(POOL[: B * C].reshape(B, C)))
    loss_bwd = cost.count(loss_pullback, jnp.ones_like(h2_out)).flops
    assert counts.flops - dot_flops(counts) == loss_bwd


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("B,D,C", SEED_SHAPES)
def test_seed_backward_formula_without_dX(impl, B, D, C):
    X, W1, W2 = seed_inputs(B, D, C)
    out, pullback = impl.vjp(lambda w1, w2: seed_loss(X, w1, w2), W1, W2)
    counts = cost.count(pullback, jnp.ones_like(out))
    assert dot_flops(counts) == 4 * B * D * C + 2 * B * D * D


# ---- conventions, primitive by primitive ------------------------------------------------------


def test_elementwise_one_flop_per_output_element():
    x = jnp.ones((3, 4), F32)
    counts = cost.count(lambda x, y: x * y + x - y, x, x)
    assert (counts.flops, counts.transcendentals) == (3 * 12, 0)


def test_broadcasting_counts_output_elements():
    counts = cost.count(lambda x, y: x + y, jnp.ones((3, 1), F32), jnp.ones((1, 4), F32))
    assert counts.by_primitive["add"].flops == 12


def test_transcendentals_counted_apart():
    counts = cost.count(lambda x: jnp.exp(x) + jnp.tanh(x) * jnp.sqrt(x), jnp.ones((3, 4), F32))
    assert counts.transcendentals == 3 * 12
    assert counts.flops == 2 * 12  # one add, one mul


def test_reductions_one_flop_per_input_element():
    x = jnp.ones((3, 4), F32)
    assert cost.count(lambda x: jnp.sum(x, axis=0), x).flops == 12
    assert cost.count(jnp.max, x).flops == 12


@pytest.mark.parametrize(
    "y,muls",
    [(2, 1), (3, 2), (4, 2), (5, 3), (8, 3), (-2, 2)],  # binary exponentiation, by hand
)
def test_integer_pow_counts_binary_exponentiation(y, muls):
    counts = cost.count(lambda x: lax.integer_pow(x, y), jnp.ones((3, 4), F32))
    assert counts.flops == muls * 12


def test_batched_dot_general():
    a, b = jnp.ones((2, 3, 4), F32), jnp.ones((2, 4, 5), F32)
    counts = cost.count(lambda a, b: jnp.einsum("bij,bjk->bik", a, b), a, b)
    assert counts.flops == 2 * 2 * 3 * 5 * 4


def test_structural_ops_cost_no_flops_but_move_bytes():
    x = jnp.ones((3, 4), F32)
    counts = cost.count(lambda x: x.T.reshape(2, 6), x)
    assert counts.flops == 0
    assert counts.bytes == 2 * (48 + 48)  # each op reads 48 bytes and writes 48


def test_bytes_are_operands_read_plus_results_written():
    x = jnp.ones((3, 4), F32)
    assert cost.count(lambda x, y: x + y, x, x).bytes == 3 * 48


# ---- nesting -------------------------------------------------------------------------------


def test_nested_calls_cost_what_their_bodies_cost():
    @jax.custom_vjp
    def my_exp(x):
        return jnp.exp(x)

    my_exp.defvjp(lambda x: (jnp.exp(x), x), lambda x, ct: (ct * jnp.exp(x),))

    def flat(x):
        return jnp.maximum(x, 0.0) + jnp.exp(x) * x

    def nested(x):
        return jax.jit(jax.nn.relu)(x) + jax.jit(lambda x: my_exp(x) * x)(x)

    x = jnp.ones((5,), F32)
    want, got = cost.count(flat, x), cost.count(nested, x)
    assert (got.flops, got.transcendentals) == (want.flops, want.transcendentals)
    wheres = {r.where for r in got.rows}
    assert any("jit" in w for w in wheres)
    assert any("custom_jvp_call" in w for w in wheres)
    assert any("custom_vjp_call" in w for w in wheres)


def test_scan_body_counted_length_times():
    x = jnp.ones((6,), F32)
    counts = cost.count(lambda x: lax.scan(lambda c, _: (c * 2 + 1, None), x, length=7)[0], x)
    assert counts.flops == 7 * 2 * 6
    assert counts.loops_counted_once == 0


def test_while_body_counted_once_and_flagged():
    x = jnp.ones((6,), F32)
    counts = cost.count(lambda x: lax.while_loop(lambda c: c[0] < 10, lambda c: c * 2, x), x)
    assert counts.loops_counted_once == 1
    assert counts.flops == 6 + 1  # body once (6 muls), condition once (1 comparison)


def test_cond_counts_its_costliest_branch():
    x = jnp.ones((6,), F32)
    counts = cost.count(
        lambda p, x: lax.cond(p, lambda x: x * 2, lambda x: jnp.exp(x) * x + x, x),
        jnp.array(True),
        x,
    )
    assert (counts.flops, counts.transcendentals) == (2 * 6, 6)


# ---- results and errors -------------------------------------------------------------------


def test_by_primitive_rows_and_table_agree_with_totals():
    counts = cost.count(seed_loss, *seed_inputs(4, 6, 3))
    for field in ("flops", "transcendentals", "bytes"):
        total = getattr(counts, field)
        assert sum(getattr(t, field) for t in counts.by_primitive.values()) == total
        assert sum(getattr(r, field) for r in counts.rows) == total
    assert sum(t.eqns for t in counts.by_primitive.values()) == len(counts.rows)
    lines = counts.table().splitlines()
    assert len(lines) == len(counts.rows) + 2  # header, rows, total
    assert "dot_general" in lines[1]
    assert f"{counts.flops:,}" in lines[-1]


def test_unsupported_primitive_is_loud():
    with pytest.raises(NotImplementedError, match="sort"):
        cost.count(jnp.sort, jnp.ones((4,), F32))


def test_count_and_xla_reject_non_callables():
    with pytest.raises(TypeError):
        cost.count(3, jnp.ones(2))
    with pytest.raises(TypeError):
        cost.xla("f", jnp.ones(2))


def test_count_accepts_shape_dtype_structs():
    spec = jax.ShapeDtypeStruct((8, 16), F32)
    assert cost.count(lambda a: a @ a.T, spec).flops == 2 * 8 * 8 * 16


# ---- XLA ----------------------------------------------------------------------------------


def matmul_chain(X, W1, W2, W3):
    return jnp.sum(jnp.tanh(X @ W1 @ W2 @ W3))


@pytest.mark.parametrize("impl", IMPLS)
def test_count_and_xla_agree_on_matmul_heavy_code(impl):
    keys = jax.random.split(jax.random.key(1), 4)
    shapes = [(32, 64), (64, 64), (64, 64), (64, 64)]
    args = [jax.random.normal(k, s, F32) for k, s in zip(keys, shapes, strict=True)]
    out, pullback = impl.vjp(matmul_chain, *args)
    ct = jnp.ones_like(out)
    cases = [(matmul_chain, args), (pullback, [ct]), (impl.grad(matmul_chain, (0, 1, 2, 3)), args)]
    for fun, fun_args in cases:
        counted, compiled = cost.count(fun, *fun_args), cost.xla(fun, *fun_args)
        assert counted.flops == pytest.approx(compiled.flops, rel=0.02)


def test_xla_memory_analysis():
    a, b = jnp.ones((8, 16), F32), jnp.ones((16, 4), F32)
    report = cost.xla(jnp.matmul, a, b)
    assert report.argument_bytes == (8 * 16 + 16 * 4) * 4
    assert report.output_bytes == 8 * 4 * 4
    assert report.flops == 2 * 8 * 4 * 16
    compiled = jax.jit(jnp.matmul).lower(a, b).compile()
    assert report.temp_bytes == compiled.memory_analysis().temp_size_in_bytes


@pytest.mark.parametrize("impl", IMPLS)
def test_xla_passes_residuals_as_arguments(impl):
    X, W1, W2 = seed_inputs(8, 16, 4)
    out, pullback = impl.vjp(seed_loss, X, W1, W2)
    report = cost.xla(pullback, jnp.ones_like(out))
    # The backward pass needs X (for dW1), W1 (for dX) and W2 (for dH1): all are inputs now.
    assert report.argument_bytes >= X.nbytes + W1.nbytes + W2.nbytes


# ---- tape ---------------------------------------------------------------------------------


def deep(x, ws):
    for w in ws:
        x = jnp.tanh(x @ w)
    return jnp.sum(x)


def test_tape_bytes_grows_linearly_with_depth():
    x = jnp.asarray(POOL[:32].reshape(4, 8))
    ws = [jnp.asarray(POOL[64 * i : 64 * (i + 1)].reshape(8, 8)) for i in range(1, 6)]
    tapes = [cost.tape_bytes(deep, x, tuple(ws[:depth])) for depth in range(1, 6)]
    # Each layer keeps its W (for dX) and its tanh output y (for tanh' = 1 - y^2, and as the
    # next layer's X for dW); the first layer keeps its X as well.
    layer = ws[0].nbytes + x.nbytes
    assert tapes == [x.nbytes + depth * layer for depth in range(1, 6)]
