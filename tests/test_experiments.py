"""The experiment runner and its helpers: contract, JSON, resuming, CLI.

The CLI tests run every experiment once with `--quick` in a subprocess (as a user would), then
truncate each JSON and check that a second run measures only the missing points.
"""

import copy
import inspect
import json
import os
import pathlib
import statistics
import subprocess
import sys
import types

import jax
import numpy as np
import pytest
from matplotlib.text import Text

import experiments
from experiments import __main__ as runner
from experiments import _common, _plot

REPO = pathlib.Path(__file__).resolve().parent.parent
FIGURES = REPO / "figures"
NAMES = experiments.available()
META_KEYS = ("date", "git_commit", "jax", "jaxlib", "backend", "device_kind", "cpu_count")


# A loaded machine is slow, not wrong: no run here has a time limit that a slow machine could
# reach. The limit only stops a run that hangs (the quick run takes minutes on 2 idle cores).
HANG = 3 * 3600


def run_cli(*args, timeout=HANG):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-m", "experiments", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def point_lines(name, stdout):
    return [line for line in stdout.splitlines() if line.startswith(f"{name} | ")]


# ---- the contract -------------------------------------------------------------------------


def test_experiments_are_discovered():
    assert "backprop_flops" in NAMES
    assert all(not n.startswith("_") for n in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_experiment_follows_the_contract(name):
    module = experiments.load(name)
    assert module.__doc__ and module.__doc__.strip()
    assert isinstance(module.DEFAULT, dict) and isinstance(module.QUICK, dict)
    assert module.DEFAULT != module.QUICK
    sizes = ["out_dir", "quick", "full"] if hasattr(module, "FULL") else ["out_dir", "quick"]
    assert list(inspect.signature(module.run).parameters) == sizes
    if hasattr(module, "FULL"):
        assert module.FULL not in (module.DEFAULT, module.QUICK)
    assert list(inspect.signature(module.plot).parameters) == ["json_path", "png_path"]


def test_unknown_experiment_is_an_error():
    with pytest.raises(KeyError, match="no_such_experiment"):
        experiments.load("no_such_experiment")
    with pytest.raises(SystemExit) as exit_info:
        runner.main(["no_such_experiment"])
    assert exit_info.value.code == 2


def test_unknown_experiment_next_to_all_is_an_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        runner.main(["all", "bogus"])
    assert exit_info.value.code == 2
    assert "bogus" in capsys.readouterr().err


def test_quick_never_writes_into_figures(capsys):
    assert runner.QUICK_OUT.resolve() != runner.FIGURES.resolve()
    with pytest.raises(SystemExit):
        runner.main([NAMES[0], "--quick", "--out", str(REPO / "figures")])
    assert "never writes into figures" in capsys.readouterr().err


def test_quick_and_full_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as exit_info:
        runner.main([NAMES[0], "--quick", "--full"])
    assert exit_info.value.code == 2
    assert "not allowed with" in capsys.readouterr().err


def test_full_runs_the_full_size_where_there_is_one(capsys):
    WithFull = types.ModuleType("experiments.big")
    WithFull.FULL = {}
    WithoutFull = types.ModuleType("experiments.small")

    full = runner._parser().parse_args(["x", "--full"])
    assert runner._size(WithFull, full) == {"quick": False, "full": True}
    assert runner._size(WithoutFull, full) == {"quick": False}
    assert "small: no full size" in capsys.readouterr().out
    quick = runner._parser().parse_args(["x", "--quick"])
    assert runner._size(WithFull, quick) == {"quick": True}
    assert runner.FULL_OUT.resolve() != runner.FIGURES.resolve()


@pytest.mark.parametrize("module", ["experiments", "experiments.readme"])
def test_every_cli_describes_itself(module):
    done = subprocess.run(
        [sys.executable, "-m", module, "--help"], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    description = done.stdout.split("\n\n")[1]
    assert len(description.split()) >= 10, done.stdout


def test_list_names_every_experiment(capsys):
    assert runner.main(["--list"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == NAMES


# ---- _common: JSON and sweeps ---------------------------------------------------------------


def test_write_json_is_atomic_and_round_trips(tmp_path):
    path = tmp_path / "sub" / "x.json"
    obj = {"a": [1, 2.5, None], "n": np.float32(1.5), "arr": np.arange(3)}
    _common.write_json(path, obj)
    assert _common.read_json(path) == {"a": [1, 2.5, None], "n": 1.5, "arr": [0, 1, 2]}
    assert [p.name for p in path.parent.iterdir()] == ["x.json"]  # no temporary left behind
    with pytest.raises(ValueError):
        _common.write_json(path, {"bad": float("nan")})
    assert _common.read_json(path)["n"] == 1.5  # a failed write leaves the old file intact
    assert [p.name for p in path.parent.iterdir()] == ["x.json"]


def test_metadata_describes_the_run():
    meta = _common.metadata()
    for key in META_KEYS:
        assert key in meta
    assert meta["jax"] == jax.__version__


class Counter:
    def __init__(self):
        self.seen = []

    def __call__(self, key):
        self.seen.append(dict(key))
        return {"y": key["x"] ** 2, "trace": [key["x"]] * 2}


def sweep(tmp_path, measure, params=None, xs=(1, 2, 3, 4)):
    grid = [{"x": x} for x in xs]
    return _common.run_sweep("toy", tmp_path, params or {"p": 1}, grid, measure)


def test_run_sweep_saves_every_point_and_describes_it(tmp_path, capsys):
    measure = Counter()
    path = sweep(tmp_path, measure)
    data = _common.read_json(path)
    assert data["experiment"] == "toy" and data["params"] == {"p": 1}
    assert [p["x"] for p in data["points"]] == [1, 2, 3, 4]
    assert [p["y"] for p in data["points"]] == [1, 4, 9, 16]
    assert point_lines("toy", capsys.readouterr().out) == [
        f"toy | x={x} y={x * x}" for x in (1, 2, 3, 4)
    ]


def test_run_sweep_resumes_only_missing_points(tmp_path):
    path = sweep(tmp_path, Counter())
    data = _common.read_json(path)
    data["points"] = [data["points"][0], data["points"][2]]
    _common.write_json(path, data)
    measure = Counter()
    sweep(tmp_path, measure)
    assert measure.seen == [{"x": 2}, {"x": 4}]
    assert [p["x"] for p in _common.read_json(path)["points"]] == [1, 2, 3, 4]


def test_a_finished_run_is_measured_afresh_unless_resume_is_asked(tmp_path, monkeypatch, capsys):
    sweep(tmp_path, Counter())
    again = Counter()
    sweep(tmp_path, again)
    assert len(again.seen) == 4  # a new run measures: it never replays an old file
    assert "measuring afresh" in capsys.readouterr().out
    monkeypatch.setattr(_common.RESUME, "policy", "always")
    kept = Counter()
    sweep(tmp_path, kept)
    assert kept.seen == []


def test_fresh_never_resumes(tmp_path, monkeypatch):
    path = sweep(tmp_path, Counter())
    data = _common.read_json(path)
    _common.write_json(path, {**data, "points": data["points"][:1]})
    monkeypatch.setattr(_common.RESUME, "policy", "never")
    measure = Counter()
    sweep(tmp_path, measure)
    assert len(measure.seen) == 4


def test_run_sweep_saves_after_each_point(tmp_path):
    def flaky(key):
        if key["x"] == 3:
            raise KeyboardInterrupt
        return {"y": 0}

    with pytest.raises(KeyboardInterrupt):
        sweep(tmp_path, flaky)
    saved = _common.read_json(tmp_path / "toy.json")
    assert [p["x"] for p in saved["points"]] == [1, 2]


def test_run_sweep_starts_over_when_params_change(tmp_path):
    sweep(tmp_path, Counter())
    measure = Counter()
    sweep(tmp_path, measure, params={"p": 2})
    assert len(measure.seen) == 4


@pytest.mark.parametrize("field", ["jaxlib", "host", "cpu_model", "code"])
def test_an_interrupted_run_resumes_only_on_the_same_machine_and_code(tmp_path, field):
    path = sweep(tmp_path, Counter())
    data = _common.read_json(path)
    interrupted = {**data, "points": data["points"][:2]}
    _common.write_json(path, {**interrupted, "meta": {**data["meta"], field: "elsewhere"}})
    measure = Counter()
    sweep(tmp_path, measure)
    assert len(measure.seen) == 4


def test_run_sweep_keeps_the_metadata_of_the_first_run(tmp_path):
    path = sweep(tmp_path, Counter())
    data = _common.read_json(path)
    first = {**data["meta"], "date": "2000-01-01T00:00:00+00:00"}
    _common.write_json(path, {**data, "meta": first, "points": data["points"][:2]})
    sweep(tmp_path, Counter())
    meta = _common.read_json(path)["meta"]
    assert meta["date"] == first["date"]
    assert len(meta["resumed"]) == 1
    _common.RESUME.policy = "always"
    try:
        sweep(tmp_path, Counter())  # nothing left to measure: nothing to record
    finally:
        _common.RESUME.policy = "auto"
    assert _common.read_json(path)["meta"] == meta


def test_a_run_on_another_backend_is_kept_beside_this_one(tmp_path, capsys):
    path = sweep(tmp_path, Counter())
    gpu = _common.read_json(path)
    gpu["meta"] = {**gpu["meta"], "backend": "gpu", "device_kind": "NVIDIA H200"}
    gpu["points"] = [{**p, "y": -p["y"]} for p in gpu["points"]]  # the GPU's own results
    _common.write_json(path, gpu)
    measure = Counter()
    sweep(tmp_path, measure)
    assert len(measure.seen) == 4  # this backend measures afresh...
    data = _common.read_json(path)
    assert data["meta"]["backend"] == jax.default_backend()
    assert [p["y"] for p in data["points"]] == [1, 4, 9, 16]
    assert data["other_backends"]["gpu"]["points"] == gpu["points"]  # ...and keeps the GPU's
    assert data["other_backends"]["gpu"]["meta"]["device_kind"] == "NVIDIA H200"
    assert "keeping the gpu run" in capsys.readouterr().out
    runs = _common.backend_runs(data)
    assert list(runs) == [jax.default_backend(), "gpu"]
    sweep(tmp_path, Counter())  # a second run here keeps it too
    assert _common.read_json(path)["other_backends"]["gpu"]["points"] == gpu["points"]
    sweep(tmp_path, Counter(), params={"p": 2})  # other parameters: nothing to keep
    assert "other_backends" not in _common.read_json(path)


def test_run_sweep_rejects_duplicate_points(tmp_path):
    with pytest.raises(ValueError, match="duplicate"):
        sweep(tmp_path, Counter(), xs=(1, 1))


# ---- the CLI, every experiment --------------------------------------------------------------


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("figures")
    done = run_cli("all", "--quick", "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    return out, done


@pytest.mark.parametrize("name", NAMES)
def test_quick_run_writes_json_and_png(quick_run, name):
    out, done = quick_run
    data = json.loads((out / f"{name}.json").read_text())
    assert data["experiment"] == name and data["quick"] is True
    assert data["params"] == json.loads(json.dumps(experiments.load(name).QUICK))
    for key in META_KEYS:
        assert key in data["meta"], key
    assert data["points"]
    assert len(point_lines(name, done.stdout)) == len(data["points"])
    png = (out / f"{name}.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    # The run ends with a summary: the headline finding of each experiment, one line each.
    summary = done.stdout.split("\nSummary (quick run: not for citation)\n", 1)[1]
    assert any(line.startswith(f"{name}: ") for line in summary.splitlines())


@pytest.mark.parametrize("name", ["chain_order", "hvp", "scaling"])
def test_a_detail_figure_is_drawn_beside_the_finding(quick_run, name):
    out, _ = quick_run
    detail = (out / f"{name}_detail.png").read_bytes()
    assert detail[:8] == b"\x89PNG\r\n\x1a\n" and len(detail) > 10_000


def test_scaling_draws_the_devices_figure_only_where_they_were_measured(quick_run):
    out, _ = quick_run
    assert experiments.load("scaling").QUICK["devices"] == []
    assert not (out / "scaling_devices.png").exists()  # none measured: no empty figure


@pytest.fixture(scope="module")
def resumed_run(quick_run, tmp_path_factory):
    """Every quick JSON with every other point removed (as if interrupted), then rerun."""
    out, _ = quick_run
    again = tmp_path_factory.mktemp("resumed")
    originals = {}
    for name in NAMES:
        data = json.loads((out / f"{name}.json").read_text())
        originals[name] = data["points"]
        _common.write_json(again / f"{name}.json", {**data, "points": data["points"][::2]})
    done = run_cli("all", "--quick", "--out", str(again))
    assert done.returncode == 0, done.stderr[-3000:]
    return again, done, originals


@pytest.mark.parametrize("name", NAMES)
def test_interrupted_run_resumes(resumed_run, name):
    again, done, originals = resumed_run
    original = originals[name]
    assert len(point_lines(name, done.stdout)) == len(original[1::2])  # only the missing ones
    resumed = json.loads((again / f"{name}.json").read_text())["points"]
    assert len(resumed) == len(original)
    assert resumed[::2] == original[::2]  # kept points untouched, order preserved
    assert (again / f"{name}.png").exists()


@pytest.mark.skipif(
    any(d.platform == "gpu" for d in jax.devices()), reason="this machine has a GPU"
)
@pytest.mark.parametrize("name", [NAMES[0], "scaling"])
def test_device_gpu_without_gpu_fails_clearly(tmp_path, name):
    done = run_cli(name, "--quick", "--device", "gpu", "--out", str(tmp_path))
    assert done.returncode != 0
    assert "JAX sees no GPU" in done.stderr
    assert not any(tmp_path.iterdir())


def test_backprop_flops_records_the_seed_formulas(quick_run):
    out, _ = quick_run
    data = json.loads((out / "backprop_flops.json").read_text())
    for p in data["points"]:
        B, D, C = p["B"], p["D"], p["C"]
        assert p["count"]["fwd"]["dot"] == 2 * B * D * D + 2 * B * D * C
        for impl in ("adlab", "jax"):
            assert p["count"][impl]["bwd"]["dot"] == 4 * B * D * C + 4 * B * D * D
            assert p["count"][impl]["bwd_params"]["dot"] == 4 * B * D * C + 2 * B * D * D
            for kind in ("bwd", "bwd_params", "grad"):
                counted, compiled = p["count"][impl][kind]["total"], p["xla"][impl][kind]
                assert counted == pytest.approx(compiled, rel=0.02)
            for v in p["time"][impl].values():  # the quoted ratio is the median of the pairs
                assert len(v["ratios"]) == data["params"]["pairs"]
                assert v["ratio"] == statistics.median(v["ratios"])
    assert data["summary"]["max_rel_gap_count_vs_formula_matmul"] == 0


# ---- hvp ------------------------------------------------------------------------------------


def test_hvp_summary_is_computed_from_the_points(quick_run):
    from experiments import hvp

    out, _ = quick_run
    data = json.loads((out / "hvp.json").read_text())
    assert data["summary"] == json.loads(json.dumps(hvp.summary(data)))
    for p in data["points"]:
        assert p["backend"] == jax.default_backend() and p["device_kind"]
        assert len(p["control_samples_s"]) == data["params"]["rounds"]
        for engine in hvp.ENGINES:
            small = p["n"] <= data["params"]["max_dense_n"]
            expected = hvp.METHODS if small else ("grad", *hvp.SCALABLE)
            assert tuple(p["programs"][engine]) == expected
            assert bool(p["skipped"]) != small

    def scaled(factor):  # every HVP takes `factor` times as long, round by round
        points = []
        for p in data["points"]:
            programs = {
                engine: {
                    method: {
                        **found,
                        "samples_s": [
                            t * (1 if method == "grad" else factor) for t in found["samples_s"]
                        ],
                    }
                    for method, found in methods.items()
                }
                for engine, methods in p["programs"].items()
            }
            points.append({**p, "programs": programs})
        return hvp.summary({**data, "points": points})

    for factor in (0.5, 3.0):
        s = scaled(factor)
        before = data["summary"]["verdicts"]["one_gradient"]["measured"]
        after = s["verdicts"]["one_gradient"]["measured"]
        for engine in hvp.ENGINES:
            assert after[engine] == pytest.approx(factor * before[engine], rel=1e-12)
        assert s["verdicts"]["one_gradient"]["holds"] == (max(after.values()) <= hvp.ONE_GRADIENT)
    assert scaled(0.5)["verdicts"]["one_gradient"]["holds"]
    assert not scaled(3.0)["verdicts"]["one_gradient"]["holds"]
    # Where the measured JAX ratio lies against the published band: factors chosen from this
    # run's own ratio, so the check does not depend on how fast the machine was.
    lo, hi = hvp.PUBLISHED["JAX jit"]
    jax_ratio = data["summary"]["verdicts"]["one_gradient"]["measured"]["jax"]
    for target, where in ((0.8 * lo, "below"), ((lo + hi) / 2, "in"), (1.2 * hi, "above")):
        published = scaled(target / jax_ratio)["verdicts"]["published"]
        assert published["measured"] == pytest.approx(target, rel=1e-12)
        assert published["where"] == where


def test_scaling_merge_command_merges_and_redraws(quick_run, tmp_path, capsys):
    """A GPU file (the quick CPU run, relabelled) merged with the CPU file, then drawn."""
    cpu_path = quick_run[0] / "scaling.json"
    cpu = _common.read_json(cpu_path)
    gpu = copy.deepcopy(cpu)
    gpu["meta"] = {**gpu["meta"], "backend": "gpu", "device_kind": "NVIDIA H200"}
    for p in gpu["points"]:
        p["backend"], p["device_kind"] = "gpu", "NVIDIA H200"
    gpu_path = tmp_path / "gpu" / "scaling.json"
    _common.write_json(gpu_path, gpu)
    out = tmp_path / "merged" / "scaling.json"
    from experiments import merge as merge_tool

    assert merge_tool.main([str(cpu_path), str(gpu_path), "--out", str(out)]) == 0
    merged = _common.read_json(out)
    runs = _common.backend_runs(merged)
    assert runs["cpu"]["points"] == cpu["points"] and runs["gpu"]["points"] == gpu["points"]
    assert (out.parent / "scaling.png").exists() and "cpu, gpu" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        merge_tool.main([str(cpu_path), str(cpu_path), "--out", str(out)])


def test_scaling_points_record_where_they_ran(quick_run):
    data = _common.read_json(quick_run[0] / "scaling.json")
    for p in data["points"]:
        assert p["backend"] == jax.default_backend()
        assert p["device_kind"] == jax.devices()[0].device_kind


def test_scaling_summary_is_computed_from_the_points(quick_run):
    from experiments import scaling

    data = _common.read_json(quick_run[0] / "scaling.json")
    assert scaling.summary(data) == data["summary"]
    # Times that follow the FLOP model exactly (jacfwd ~ n, jacrev ~ m): the model picks every
    # winner, and the crossover is at m = n. Swapped, it picks none, and the winners swap.
    model = copy.deepcopy(data)
    for p in model["points"]:
        if p["part"] == "map":
            for progs in p["programs"].values():
                rounds = len(progs["jacfwd"]["samples_s"])
                progs["jacfwd"]["samples_s"] = [float(p["n"])] * rounds
                progs["jacrev"]["samples_s"] = [float(p["m"])] * rounds
            p["control"]["samples_s"] = [float(p["m"])] * rounds  # A/A: exactly 1
    swapped = copy.deepcopy(model)
    for p in swapped["points"]:
        for progs in p.get("programs", {}).values():
            progs["jacfwd"], progs["jacrev"] = progs["jacrev"], progs["jacfwd"]
        if p["part"] == "map":
            p["control"]["samples_s"] = p["programs"]["jax"]["jacrev"]["samples_s"]
    agrees = scaling.summary(model)["plane"]
    disagrees = scaling.summary(swapped)["plane"]
    for engine in ("adlab", "jax"):
        plane = agrees[engine]
        assert plane["model_agrees"] == plane["off_diagonal"] > 0
        assert not plane["model_disagrees"] and not plane["ties"]
        assert plane["crossover"]["factor"] == pytest.approx(1)
        assert disagrees[engine]["model_agrees"] == 0
        assert len(disagrees[engine]["model_disagrees"]) == plane["off_diagonal"]
        assert disagrees[engine]["fwd_best"]["factor"] == pytest.approx(plane["rev_best"]["factor"])


def test_hvp_crossing_is_interpolated_log_log():
    from experiments._stats import first_crossing

    assert first_crossing([10, 1000], [0.1, 10.0]) == {"n": pytest.approx(100), "where": "between"}
    assert first_crossing([10, 1000], [2.0, 10.0]) == {"n": 10.0, "where": "at or below"}
    assert first_crossing([10, 1000], [0.1, 0.5]) == {"n": 1000.0, "where": "above"}


def test_loops_gradients_equal_jax_and_the_summary_is_computed(quick_run):
    from experiments import loops

    out, _ = quick_run
    data = json.loads((out / "loops.json").read_text())
    assert data["summary"] == json.loads(json.dumps(loops.summary(data)))
    for p in data["points"]:
        assert p["backend"] == jax.default_backend() and p["device_kind"]
        # float32 gradients through 10-30 steps: measured at most 1.9e-7 of the largest entry.
        assert p["max_relative_difference"] < 1e-6
    # Nothing is unrolled: each engine's program has one size, whatever the steps.
    assert data["summary"]["constant_program"]
    # The verdict follows the times: adlab twice as slow fails "at most what JAX costs".
    slow = json.loads(json.dumps(data))
    for p in slow["points"]:
        p["programs"]["adlab"]["samples_s"] = [2 * t for t in p["programs"]["jax"]["samples_s"]]
    assert not loops.summary(slow)["at_most_jax"]


# ---- figures: the words of a title, the panels, the fonts -----------------------------------


@pytest.mark.parametrize(
    "outcome, ratios, sentence",
    [
        ("faster", [0.82, 0.92], "faster than JAX's (0.82–0.92× its time)"),
        ("equal", [0.97, 1.03], "as fast as JAX's, within ±5% (0.97–1.03× its time)"),
        ("equal", [0.99, 0.994], "as fast as JAX's, within ±5% (0.99× its time)"),
        ("slower", [1.1, 1.3], "slower than JAX's (1.10–1.30× its time)"),
        (
            "mixed",
            [0.8, 1.0, 1.2],
            "mixed against JAX's: faster at some points, slower at others (0.80–1.20× its time)",
        ),
        ("mixed", [0.82, 1.004], "faster than JAX's or within ±5% of it (0.82–1.00× its time)"),
        ("mixed", [0.98, 1.2], "slower than JAX's or within ±5% of it (0.98–1.20× its time)"),
        ("faster", [1 / 7.2], "7.2× faster than JAX's"),  # a large gap reads as a speed-up
        ("slower", [2.5, 3.0], "2.5–3.0× slower than JAX's"),
    ],
)
def test_versus_words_a_ratio_range_for_every_outcome(outcome, ratios, sentence):
    assert _plot.pace(ratios) == outcome
    assert _plot.versus(ratios, "JAX's") == sentence


def test_versus_states_its_band():
    assert (
        _plot.versus([1.08], "JAX's", band=0.1) == "as fast as JAX's, within ±10% (1.08× its time)"
    )
    assert _plot.pace([1.08], band=0.05) == "slower"


@pytest.mark.parametrize(
    "ratios, words",
    [([0.9, 0.93], "faster than"), ([1.0, 1.02], "as fast as"), ([1.2, 1.3], "slower than"),
     ([0.8, 1.2], "mixed against")],
)  # fmt: skip
def test_titles_comparing_adlab_with_jax_follow_the_ratios(ratios, words):
    from experiments import cnn, loops

    rows = [{"jit_ratio": r, "eager_ratio": r} for r in ratios]
    assert cnn._title({"rows": rows}).startswith(f"Jitted, adlab's CNN gradient is {words}")
    data = {"params": {"sizes": [1]}, "summary": {"rows": rows}}
    assert f"jitted: adlab's is {words}" in cnn.headline(data)
    summary = {"rows": [{"ratio": r} for r in ratios], "constant_program": True}
    assert f"adlab's is {words}" in loops.headline({"summary": summary})


EXTRA_FIGURES = {
    "chain_order": ["chain_order_detail.png"],
    "hvp": ["hvp_detail.png"],
    "scaling": ["scaling_detail.png", "scaling_devices.png"],
}


@pytest.fixture
def draw(monkeypatch):
    """Draws one experiment's figures from a results dict; returns {PNG name: figure}."""
    drawn = {}
    finish = _plot.finish

    def keep(fig, data, png_path, title, sizes):
        finish(fig, data, png_path, title, sizes)
        drawn[pathlib.Path(png_path).name] = fig

    monkeypatch.setattr(_plot, "finish", keep)

    def run(name, data, out):
        drawn.clear()
        _common.write_json(out / f"{name}.json", data)
        experiments.load(name).plot(out / f"{name}.json", out / f"{name}.png")
        return dict(drawn)

    return run


@pytest.mark.parametrize("name", NAMES)
def test_committed_figures_redraw_from_their_json(draw, tmp_path, name):
    """Every figure from its committed JSON: the files beside it, no empty panel, text ≥ 10 pt."""
    figures = draw(name, _common.read_json(FIGURES / f"{name}.json"), tmp_path)
    assert sorted(figures) == sorted([f"{name}.png", *EXTRA_FIGURES.get(name, [])])
    for png, fig in figures.items():
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        for ax in fig.axes:
            assert ax.has_data() or ax.texts, f"{png}: an empty panel, {ax.get_title()!r}"
        small = {
            (t.get_text(), t.get_fontsize())
            for t in fig.findobj(Text)
            if t.get_visible() and t.get_text().strip() and t.get_fontsize() < 10
        }
        assert not small, f"{png}: text under 10 pt: {sorted(small)[:5]}"


@pytest.mark.parametrize("name", ["hvp", "scaling"])
def test_a_backends_panel_only_where_another_backend_ran(draw, tmp_path, name):
    data = _common.read_json(FIGURES / f"{name}.json")
    alone = {k: v for k, v in data.items() if k != "other_backends"}
    gpu = {
        "meta": {**alone["meta"], "backend": "gpu", "device_kind": "NVIDIA H200"},
        "points": alone["points"],
        "summary": alone["summary"],
    }
    both = {**alone, "other_backends": {"gpu": gpu}}
    detail = f"{name}_detail.png"
    without = draw(name, alone, tmp_path / "alone")[detail].axes
    beside = draw(name, both, tmp_path / "both")[detail].axes
    assert len(beside) == len(without) + 1
    assert any("NVIDIA H200" in ax.get_title() for ax in beside)
    assert not any("GPU" in ax.get_title() or "H200" in ax.get_title() for ax in without)
