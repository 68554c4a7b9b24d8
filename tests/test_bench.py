"""adlab.bench: the timer's bookkeeping, interleaving and hoisting (no timing assertions)."""

import statistics

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import adlab
from adlab import bench

F32 = jnp.float32


def test_timeit_compiles_jitted_functions_apart():
    x = jnp.ones((8, 8), F32)
    timing = bench.timeit(jax.jit(lambda x: x @ x), x, repeats=5, warmup=1, min_sample_s=0)
    assert timing.compile_s is not None and timing.compile_s > 0
    assert len(timing.samples_s) == 5
    assert timing.min_s == min(timing.samples_s)
    assert timing.median_s == statistics.median(timing.samples_s)
    # spread: interquartile range over median, by numpy's percentiles (linear interpolation)
    q1, median, q3 = np.percentile(timing.samples_s, [25, 50, 75])
    assert timing.spread == pytest.approx((q3 - q1) / median, rel=1e-12)
    assert timing.number == 1  # min_sample_s=0: one call per sample is already long enough


def test_timeit_of_a_plain_function_has_no_compile_time():
    calls = []
    timing = bench.timeit(lambda: calls.append(1), repeats=3, warmup=2, min_sample_s=0)
    assert timing.compile_s is None
    # at least: first call + 2 warm-up calls + 3 samples of `number` calls each
    assert len(calls) >= 1 + 2 + 3 * timing.number


def test_compare_interleaves_and_alternates_order():
    log = []
    pairs = 6
    result = bench.compare(
        lambda: log.append("a"), lambda: log.append("b"), repeats=pairs, warmup=0, min_sample_s=0
    )
    assert result.a.number == result.b.number == 1
    assert "".join(log[-2 * pairs :]) == "ab" + "ba" + "ab" + "ba" + "ab" + "ba"
    assert len(result.ratios) == pairs


def test_compare_ratios_are_pairwise_quotients():
    x = jnp.ones((16, 16), F32)
    result = bench.compare(jax.jit(lambda x: x @ x @ x), jax.jit(lambda x: x @ x), x, repeats=5)
    expected = [a / b for a, b in zip(result.a.samples_s, result.b.samples_s, strict=True)]
    np.testing.assert_allclose(result.ratios, expected)
    assert result.median_ratio == statistics.median(result.ratios)
    assert result.a.compile_s is not None and result.b.compile_s is not None


def test_interleave_runs_every_callable_once_per_round_in_a_varying_order():
    log = []
    rounds = 40
    result = bench.interleave(
        {name: (lambda name=name: log.append(name), ()) for name in "abcd"},
        repeats=rounds,
        warmup=0,
        min_sample_s=0,
    )
    timed = log[-4 * rounds :]
    assert [tuple(timed[4 * r : 4 * r + 4]) for r in range(rounds)] == list(result.order)
    assert all(sorted(o) == list("abcd") for o in result.order)
    assert all(len(t.samples_s) == rounds for t in result.timings.values())
    # No callable always runs first, and none always follows the same other one: a rotation
    # (abcd, bcda, ...) would put "a" after "d" in every round.
    assert {o[0] for o in result.order} == set("abcd")
    after_a = {o[o.index("a") + 1] for o in result.order if o[-1] != "a"}
    assert len(after_a) == 3
    # The order is drawn from the seed: reproducible.
    again = bench.interleave(
        {name: (lambda: None, ()) for name in "abcd"}, repeats=rounds, warmup=0, min_sample_s=0
    )
    assert again.order == result.order


def test_interleave_ratios_are_per_round_quotients():
    x = jnp.ones((16, 16), F32)
    calls = {
        "cube": (jax.jit(lambda x: x @ x @ x), (x,)),
        "square": (jax.jit(lambda x: x @ x), (x,)),
    }
    result = bench.interleave(calls, repeats=5)
    cube, square = result.timings["cube"].samples_s, result.timings["square"].samples_s
    np.testing.assert_allclose(
        result.ratios("cube", "square"), [a / b for a, b in zip(cube, square)]
    )
    assert result.timings["cube"].compile_s is not None
    with pytest.raises(ValueError, match="at least one"):
        bench.interleave({})


def test_a_compiled_executable_is_timed_as_it_is():
    x = jnp.ones((8, 8), F32)
    compiled = jax.jit(lambda x: x @ x).lower(x).compile()
    timing = bench.interleave({"c": (compiled, (x,))}, repeats=2).timings["c"]
    assert timing.compile_s is None and len(timing.samples_s) == 2


def test_environment_records_where_numbers_come_from():
    env = bench.environment()
    for key in ("backend", "device_kind", "jax", "jaxlib", "cpu_count"):
        assert env[key], key
    assert env["jax"] == jax.__version__
    assert env["backend"] == jax.default_backend()


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError):
        bench.timeit(lambda: None, repeats=0)
    with pytest.raises(ValueError):
        bench.compare(lambda: None, lambda: None, repeats=0)
    with pytest.raises(TypeError):
        bench.timeit(42)


@pytest.mark.parametrize("impl", [adlab, adlab.reference], ids=["adlab", "jax"])
def test_jit_hoisted_passes_residuals_as_arguments(impl):
    keys = jax.random.split(jax.random.key(0), 2)
    w = jax.random.normal(keys[0], (6, 6), F32)
    x = jax.random.normal(keys[1], (6,), F32)
    out, pullback = impl.vjp(lambda w, x: jnp.tanh(w @ x), w, x)
    ct = jnp.ones_like(out)
    jitted, call_args = bench.jit_hoisted(pullback, ct)
    hoisted, rest = call_args[0], call_args[1:]
    assert len(rest) == 1 and rest[0] is ct
    assert sum(a.nbytes for a in hoisted) >= w.nbytes  # d/dx needs w
    for got, want in zip(jitted(*call_args), pullback(ct), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)  # float32, jit vs eager


def test_jit_hoisted_keeps_output_structure():
    def f(x, pair):
        return {"sum": x + pair[0], "prod": x * pair[1]}

    x = jnp.arange(3.0, dtype=F32)
    jitted, call_args = bench.jit_hoisted(f, x, (x, 2 * x))
    assert call_args[0] == []  # nothing closed over
    got = jitted(*call_args)
    assert set(got) == {"sum", "prod"}
    np.testing.assert_allclose(got["prod"], x * 2 * x)
