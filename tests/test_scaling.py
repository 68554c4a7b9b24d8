"""The scaling experiment's parts: its programs, the many-devices check, merging backends.

The quick run of every experiment, its JSON and figures, are tested in test_experiments.py.
"""

import copy

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import adlab
from experiments import _common, _devices, _models, scaling


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def test_every_timed_program_computes_the_jacobian(x64):
    """jvp, vjp, jacfwd, jacrev and grad of both engines, against JAX's jacrev, in float64."""
    for n, m in [(3, 5), (6, 1), (1, 4)]:
        key = jax.random.key(n * 10 + m)
        f, x = _models.mlp_map(n, m, 7, key, jnp.float64)
        J = np.asarray(jax.jacrev(f)(x))
        v, c = _models.normal_arrays(jax.random.fold_in(key, 1), [(n,), (m,)], jnp.float64)
        want = {"jvp": J @ v, "vjp": c @ J, "jacfwd": J, "jacrev": J, "grad": J[0]}
        programs = scaling.map_programs(f, x, jax.random.fold_in(key, 1))
        for engine, progs in programs.items():
            assert set(progs) == set(scaling.MAP_METHODS) | ({"grad"} if m == 1 else set())
            for method, (fun, args) in progs.items():
                got = np.asarray(jax.jit(fun)(*args))
                scale = np.max(np.abs(want[method]))
                # measured: at most 2.8e-16 of the largest entry
                assert np.max(np.abs(got - want[method])) <= 1e-15 * scale, (engine, method)


def test_the_chain_planner_computes_the_jacobian_of_the_bottleneck_chain(x64):
    widths = scaling.chain_widths(4, 12, 3)
    assert widths == [12, 12, 3, 12, 12]
    assert scaling.chain_widths(1, 12, 3) == [12, 12]
    layers, x = _models.dense_chain(widths, jax.random.key(0), jnp.float64)

    def f(x):
        for layer in layers:
            x = layer(x)
        return x

    J = np.asarray(jax.jacrev(f)(x))
    for impl in (adlab, adlab.reference):
        plan = adlab.chain.optimal_plan(widths, adlab.chain.costs(layers, x, impl))
        assert "tan" in str(plan) and "adj" in str(plan)  # mixes both modes at the bottleneck
        got = np.asarray(
            jax.jit(lambda x, plan=plan, i=impl: adlab.chain.jacobian(layers, x, plan, i))(x)
        )
        # measured: at most 5.1e-16 of the largest entry
        assert np.max(np.abs(got - J)) <= 2e-15 * np.max(np.abs(J))


def test_collectives_are_read_from_the_compiled_hlo():
    hlo = """
  %all-reduce.6 = (f32[64,64]{1,0}, /*index=1*/f32[10]{0}) all-reduce(%dot.7, %f), to_apply=%r
  %get-tuple-element = f32[64,64]{1,0} get-tuple-element(%all-reduce.6), index=0
  %ars = (f32[3,4]{1,0}, f32[]) all-reduce-start(%a, %b), channel_id=2
  %ard = (f32[3,4]{1,0}, f32[]) all-reduce-done(%ars)
  ROOT %all-gather = f32[8]{0} all-gather(%q), dimensions={0}
"""
    found = _devices.collectives(hlo)
    assert found["all-reduce"] == {"count": 2, "elements": 64 * 64 + 10 + 12 + 1}
    assert found["all-gather"] == {"count": 1, "elements": 8}
    assert found["reduce-scatter"] == {"count": 0, "elements": 0}


@pytest.fixture(scope="module")
def sharded():
    """The check in a subprocess with 4 simulated CPU devices, in float64."""
    return _devices.run([1, 2, 4], width=16, batch=32, dtype="float64", repeats=1)


def test_sharded_gradient_and_hvp_equal_one_device(sharded):
    assert sharded["device_count"] == 4 and sharded["platform"] == "cpu"
    runs = sharded["runs"]
    assert {(r["devices"], r["engine"], r["method"]) for r in runs} == {
        (d, e, m) for d in (1, 2, 4) for e in ("adlab", "jax") for m in ("grad", "hvp")
    }
    for r in runs:
        assert r["out_shards"] == r["devices"]  # the result really lives on the d devices
        # measured: at most 6.2e-16 (2.8 eps) of the largest entry: the sum over the batch is
        # reordered
        assert r["max_rel_error"] <= 8 * sharded["eps"], r
        assert r["max_rel_error_vs_jax"] <= 8 * sharded["eps"], r


def test_xla_inserts_one_all_reduce_of_the_parameters(sharded):
    n = sharded["n"]
    for r in sharded["runs"]:
        reduce = r["collectives"]["all-reduce"]
        if r["devices"] == 1:
            assert reduce["count"] == 0
        else:
            assert reduce["count"] == 1, r
            if r["method"] == "grad":
                assert reduce["elements"] == n  # the gradient, summed over the devices
        others = {op: c for op, c in r["collectives"].items() if op != "all-reduce"}
        assert all(c["count"] == 0 for c in others.values()), r


def test_the_devices_summary_and_figure(sharded, tmp_path):
    s = scaling._sharded(sharded)
    assert s["equal"] and s["adlab_same_as_jax"]
    assert s["all_reduces"] == [1] and s["devices"] == [1, 2, 4]
    assert sharded["n"] in s["all_reduce_elements"]
    broken = copy.deepcopy(sharded)
    broken["runs"][-1]["max_rel_error"] = 1.0
    assert not scaling._sharded(broken)["equal"]
    data = {
        "experiment": "scaling",
        "quick": True,
        "params": scaling.QUICK,
        "meta": _common.metadata(),
        "points": [{"part": "devices", "sharded": sharded}],
        "summary": {"devices": s},
    }
    png = tmp_path / "scaling_devices.png"
    scaling._plot_devices(data, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_devices_that_do_not_divide_the_batch_are_refused():
    with pytest.raises(RuntimeError, match="must divide evenly over 3 devices"):
        _devices.run([3], width=4, batch=8, repeats=1)


def _run(backend, points, params=None):
    meta = {**_common.metadata(), "backend": backend, "device_kind": f"{backend} kind"}
    return {
        "experiment": "scaling",
        "quick": False,
        "params": params or {"sizes": [1, 2]},
        "meta": meta,
        "points": points,
        "summary": {"backend": backend},
    }


def test_two_files_from_different_backends_merge_without_losing_points():
    cpu = _run("cpu", [{"part": "map", "n": 1, "m": 1, "backend": "cpu"}])
    gpu = _run("gpu", [{"part": "map", "n": 1, "m": 1, "backend": "gpu"}, {"part": "devices"}])
    merged = _common.merge_runs([cpu, gpu])
    runs = _common.backend_runs(merged)
    assert list(runs) == ["cpu", "gpu"]
    assert runs["cpu"]["points"] == cpu["points"] and runs["gpu"]["points"] == gpu["points"]
    assert runs["gpu"]["meta"]["device_kind"] == "gpu kind"
    assert runs["gpu"]["summary"] == {"backend": "gpu"}
    assert merged["params"] == cpu["params"]
    # Merging a third backend into a merged file keeps all three.
    tpu = _run("tpu", [{"part": "map", "n": 2, "m": 2, "backend": "tpu"}])
    three = _common.merge_runs([tpu, merged])
    assert list(_common.backend_runs(three)) == ["tpu", "cpu", "gpu"]
    assert sum(len(r["points"]) for r in _common.backend_runs(three).values()) == 4


def test_merging_refuses_two_runs_on_one_backend_or_other_params():
    cpu = _run("cpu", [{"part": "map", "n": 1, "m": 1}])
    with pytest.raises(ValueError, match="two files hold a run on 'cpu'"):
        _common.merge_runs([cpu, copy.deepcopy(cpu)])
    other = _run("gpu", [], params={"sizes": [1, 2, 4]})
    with pytest.raises(ValueError, match="another params"):
        _common.merge_runs([cpu, other])


def test_a_ratio_within_the_points_own_noise_is_a_tie():
    def point(control_s):
        return {
            "control": {"samples_s": [control_s] * 3},
            "programs": {"jax": {"jacrev": {"samples_s": [1.0] * 3}}},
        }

    noisy, quiet = point(1.3), point(1.0)  # A/A controls of 1.3 and 1.0
    assert scaling.is_tie(noisy, 1.25) and scaling.is_tie(noisy, 0.75)
    assert not scaling.is_tie(noisy, 1.35)
    assert scaling.is_tie(quiet, 1.09) and not scaling.is_tie(quiet, 1.11)
