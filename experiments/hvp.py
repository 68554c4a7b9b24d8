"""hvp: what a Hessian-vector product costs in every mode, against a gradient and a dense Hessian.

For three scalar losses with a size knob (`experiments/_models.py`: Rosenbrock in n dimensions, a
depth-3 tanh MLP with cross-entropy, one transformer block), each over one flat parameter vector
theta of n entries, and for both engines (adlab's own interpreters and JAX's, `adlab.reference`),
this experiment compiles and times under `jax.jit`:

- the gradient, `grad(f)(theta)`: the unit of cost;
- H v in the three modes that scale: fwd-over-rev `jvp(grad f)`, rev-over-fwd
  `grad(x -> jvp(f, x, v))` and rev-over-rev `grad(x -> <grad f(x), v>)` (Pearlmutter 1994,
  "Fast exact multiplication by the Hessian"; the compositions of JAX's autodiff cookbook);
- where n is small (at most `max_dense_n`): fwd-over-fwd, which takes n nested forward passes
  (vmapped), and the dense Hessian then a matrix-vector product, `hessian(f)(theta) @ v`.

All the programs of one point run in interleaved rounds (`adlab.bench.interleave`), so every
ratio is taken round by round under the same load; JAX's gradient also runs twice per round as an
A/A control. For every program the point stores its per-round times, XLA's FLOPs and memory
(argument + output + temporary bytes, `memory_analysis`) and adlab's jaxpr FLOP count split
into matrix products and the rest (`adlab.cost.count`).

The summary, computed from the points, gives HVP/grad per mode and engine beside the published
ratios (Dagréou et al., "How to compute Hessian-vector products?", ICLR 2024 blog track),
verdicts on two claims (an HVP costs one forward and one backward pass; fwd-over-rev is
typically the most efficient mode) and where k HVPs cost as much as one dense Hessian.
"""

from __future__ import annotations

import math
import pathlib
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import adlab
from adlab import bench, cost
from experiments import _models, _plot
from experiments._common import backend_runs, read_json, run_sweep
from experiments._compiled import where_measured
from experiments._stats import crossing_text, first_crossing, spread

NAME = "hvp"

# ---- constants ------------------------------------------------------------------------------
# Sizes: Rosenbrock's n; the MLP's width (n is about 2 width^2); the transformer's d_model, which
# is also its sequence length (n is about 12 d_model^2).
DEFAULT = {
    "rosenbrock": [2, 8, 32, 128, 512, 2048, 8192, 32768, 100000],
    "mlp": [1, 2, 4, 8, 16, 64, 256, 1024],
    "transformer": [16, 32, 64, 128],
    "max_dense_n": 2048,  # fwd-over-fwd and the dense Hessian only up to this n
    "dtype": "float32",
    "seed": 0,
    "rounds": 15,
    "min_sample_s": 0.004,
}
QUICK = {  # compiling is most of the time: two engines, up to six programs each, per point
    **DEFAULT,
    "rosenbrock": [2, 64, 512],
    "mlp": [2, 8],
    "transformer": [],
    "max_dense_n": 1024,
    "rounds": 3,
    "min_sample_s": 0.001,
}
FULL = {
    **DEFAULT,
    "mlp": [*DEFAULT["mlp"], 2048],
    "transformer": [*DEFAULT["transformer"], 256],
    "max_dense_n": 8192,
    "rounds": 25,
}

WORKLOADS = ("rosenbrock", "mlp", "transformer")
KNOB = {"rosenbrock": "n", "mlp": "width", "transformer": "d_model = sequence length"}
ENGINES = {"adlab": adlab, "jax": adlab.reference}
SCALABLE = ("fwd-over-rev", "rev-over-fwd", "rev-over-rev")
SMALL_ONLY = ("fwd-over-fwd", "dense")  # n passes, or an n x n matrix
METHODS = ("grad", *SCALABLE, *SMALL_ONLY)
CONTROL = "grad (A/A)"  # JAX's gradient, timed a second time in every round
LARGE_GRAD_S = 1e-3  # points whose gradient takes this long are compute-bound enough to quote
ONE_GRADIENT = 1.5  # "costs about one gradient" holds up to this HVP/grad ratio
STEADY = 1.5  # "regardless of size" holds if a workload's ratios stay within this factor
PUBLISHED = {  # Dagréou et al. 2024, HVP time / gradient time, ResNet34, ViT and BERT, A100
    "JAX jit": (2.25, 2.55),
    "PyTorch eager": (2.8, 4.0),
}
CROSSOVER_K = (1, 10)  # k HVPs against one dense Hessian; k = n is handled apart


def build(point: Mapping[str, Any], params: Mapping[str, Any]) -> _models.Loss:
    """The loss of one point.

    Args:
      point: {"workload": ..., "size": ...}.
      params: the experiment parameters (dtype, seed).

    Returns:
      The `_models.Loss`.
    """
    key = jax.random.key(params["seed"])
    dtype = jnp.dtype(params["dtype"])
    size = point["size"]
    if point["workload"] == "rosenbrock":
        return _models.rosenbrock(size, key, dtype)
    if point["workload"] == "mlp":
        return _models.mlp(size, key, dtype)
    if point["workload"] == "transformer":
        return _models.transformer(size, size, key, dtype)
    raise ValueError(f"unknown workload {point['workload']!r}; choose one of {WORKLOADS}")


def programs(
    loss: _models.Loss, v: jax.Array, max_dense_n: int
) -> tuple[dict[str, dict[str, tuple[Callable, tuple]]], dict[str, str]]:
    """The programs of one point, per engine, as `(function, args)`; and what was left out.

    Args:
      loss: the point's loss.
      v: the vector of the HVP.
      max_dense_n: fwd-over-fwd and the dense Hessian run only up to this n.

    Returns:
      `(programs, skipped)`: programs[engine][method] with method in METHODS (the
      small-only ones only when n <= max_dense_n), and skipped[method] saying why a method
      did not run.
    """
    f, theta = loss.fun, loss.theta
    skipped = {}
    if loss.n > max_dense_n:
        gigabytes = loss.n**2 * theta.dtype.itemsize / 1e9
        skipped["fwd-over-fwd"] = f"n = {loss.n} nested forward passes: does not scale"
        skipped["dense"] = f"the {loss.n} x {loss.n} Hessian alone needs {gigabytes:.3g} GB"
    out = {}
    for engine, impl in ENGINES.items():

        def hvp(mode: str, impl: Any = impl) -> Callable:
            return lambda x, u: impl.hvp(f, (x,), (u,), mode)[0]

        out[engine] = {"grad": (impl.grad(f), (theta,))}
        out[engine].update({mode: (hvp(mode), (theta, v)) for mode in SCALABLE})
        if "dense" not in skipped:
            out[engine]["fwd-over-fwd"] = (hvp("fwd-over-fwd"), (theta, v))
            out[engine]["dense"] = (lambda x, u, impl=impl: impl.hessian(f)(x) @ u, (theta, v))
    return out, skipped


def measure(point: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """Compiles, analyses and times every program of one point.

    Args:
      point: {"workload": ..., "size": ...}.
      params: the experiment parameters.

    Returns:
      n, the backend and device kind, and per engine and method: the per-round times
      ("samples_s"), compile time, XLA FLOPs and memory, and adlab's FLOP count; plus the A/A
      control's times and the methods skipped (with why).
    """
    loss = build(point, params)
    v = jax.random.normal(jax.random.key(params["seed"] + 1), loss.theta.shape, loss.theta.dtype)
    progs, skipped = programs(loss, v, params["max_dense_n"])
    calls, found = {}, {}
    for engine, methods in progs.items():
        found[engine] = {}
        for method, (fun, args) in methods.items():
            jitted, call_args = bench.jit_hoisted(fun, *args)
            start = time.perf_counter()
            compiled = jitted.lower(*call_args).compile()
            compile_s = time.perf_counter() - start
            calls[f"{engine}/{method}"] = (compiled, call_args)
            xla = cost.analysed(compiled)
            counted = cost.count(fun, *args)
            dot = counted.by_primitive.get("dot_general", cost.Tally()).flops
            found[engine][method] = {
                "compile_s": compile_s,
                "xla_flops": xla.flops,
                "memory_bytes": _memory(xla),
                "temp_bytes": xla.temp_bytes,
                "count_flops": counted.flops,
                "count_dot_flops": dot,
            }
    calls[CONTROL] = calls["jax/grad"]
    rounds = bench.interleave(
        calls, repeats=params["rounds"], warmup=1, min_sample_s=params["min_sample_s"]
    )
    for name, timing in rounds.timings.items():
        if name != CONTROL:
            engine, method = name.split("/")
            found[engine][method]["samples_s"] = list(timing.samples_s)
    return {
        "n": loss.n,
        **where_measured(),
        "programs": found,
        "control_samples_s": list(rounds.timings[CONTROL].samples_s),
        "skipped": skipped,
    }


def _memory(xla: cost.XlaCost) -> int | None:
    parts = (xla.argument_bytes, xla.output_bytes, xla.temp_bytes)
    return None if None in parts else sum(parts)


# ---- ratios read from a point ---------------------------------------------------------------


def round_ratios(point: Mapping[str, Any], a: tuple[str, str], b: tuple[str, str]) -> list[float]:
    """time(a) / time(b) in each round of one point; a and b are (engine, method) pairs.

    ("jax", CONTROL) names the A/A control.
    """

    def samples(which: tuple[str, str]) -> list[float]:
        if which == ("jax", CONTROL):
            return point["control_samples_s"]
        return point["programs"][which[0]][which[1]]["samples_s"]

    return [x / y for x, y in zip(samples(a), samples(b), strict=True)]


def vs_grad(point: Mapping[str, Any], engine: str, method: str) -> float:
    """Median over rounds of time(method) / time(grad), both of one engine."""
    return statistics.median(round_ratios(point, (engine, method), (engine, "grad")))


def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    """(first quartile, median, third quartile)."""
    if len(values) < 2:
        return (values[0],) * 3
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def control(point: Mapping[str, Any]) -> float:
    """The A/A control of one point: median over rounds of JAX's gradient ÷ itself."""
    return statistics.median(round_ratios(point, ("jax", CONTROL), ("jax", "grad")))


def grad_s(point: Mapping[str, Any], engine: str = "jax") -> float:
    """The median time of one gradient at this point."""
    return statistics.median(point["programs"][engine]["grad"]["samples_s"])


def describe(point: Mapping[str, Any]) -> str:
    """One self-describing line per finished point: the HVP/grad time ratio of every mode.

    Args:
      point: a finished point, as stored in the JSON.

    Returns:
      The line, e.g. `hvp | mlp size=256 n=134154 grad=1.2ms adlab fwd-over-rev=2.31 ...`.
    """
    parts = [
        f"{NAME} | {point['workload']} size={point['size']} n={point['n']}",
        f"grad={grad_s(point) * 1e3:.3g}ms",
        f"A/A={control(point):.2f}",
    ]
    for engine, methods in point["programs"].items():
        ratios = " ".join(f"{m}={vs_grad(point, engine, m):.3g}" for m in methods if m != "grad")
        parts.append(f"{engine}: {ratios}")
    return " ".join(parts)


def run(out_dir: pathlib.Path, quick: bool = False, full: bool = False) -> pathlib.Path:
    """Runs the sweep (resuming an interrupted run) and stores the summary in the JSON.

    Args:
      out_dir: where `hvp.json` goes.
      quick: the QUICK parameters (seconds).
      full: the FULL parameters (larger sizes and more rounds, for the published figure).

    Returns:
      The JSON path.
    """
    params = QUICK if quick else FULL if full else DEFAULT
    grid = [{"workload": w, "size": s} for w in WORKLOADS for s in params[w]]
    return run_sweep(
        NAME,
        out_dir,
        params,
        grid,
        lambda p: measure(p, params),
        describe=describe,
        summarize=summary,
        quick=quick,
    )


# ---- summary --------------------------------------------------------------------------------


def summary(data: Mapping[str, Any]) -> dict[str, Any]:
    """The headline numbers and verdicts of one run, computed from its points.

    Args:
      data: the decoded JSON (or one backend's run of it: "points" is all that is read).

    Returns:
      - "compute_bound": the points (workload, size) whose gradient took >= LARGE_GRAD_S
        (every point if none did); the ratios below are medians over them;
      - "hvp_over_grad": per engine and mode, the median and range of the time ratio;
      - "flops_over_grad", "memory_over_grad": the same for XLA's FLOPs and memory;
      - "adlab_over_jax": per method, the median time ratio and the largest relative gap in
        XLA FLOPs;
      - "control": the median and the largest distance from 1 of the A/A control;
      - "verdicts": "one_gradient", "regardless_of_size", "fwd_over_rev_fastest", "published";
      - "crossover": per workload and engine, the n where k HVPs cost one dense Hessian;
      - "explain": the FLOPs of each mode at the largest MLP and transformer points.
    """
    points = data["points"]
    large = [p for p in points if grad_s(p) >= LARGE_GRAD_S] or points
    ratio = {e: {m: spread([vs_grad(p, e, m) for p in large]) for m in SCALABLE} for e in ENGINES}
    flops = {e: {m: spread([_over_grad(p, e, m, "xla_flops") for p in large]) for m in SCALABLE}
             for e in ENGINES}  # fmt: skip
    memory = {
        e: {m: spread([_over_grad(p, e, m, "memory_bytes") for p in large]) for m in SCALABLE}
        for e in ENGINES
    }
    controls = [control(p) for p in large]
    noise = max(abs(c - 1) for c in controls)
    return {
        "compute_bound": [[p["workload"], p["size"]] for p in large],
        "hvp_over_grad": ratio,
        "flops_over_grad": flops,
        "memory_over_grad": memory,
        "adlab_over_jax": _adlab_over_jax(large),
        "control": {"median": statistics.median(controls), "max_distance_from_1": noise},
        "verdicts": _verdicts(large, ratio, noise),
        "crossover": {w: _crossover(points, w) for w in ("rosenbrock", "mlp")},
        "explain": _explain(points),
    }


def _over_grad(point: Mapping[str, Any], engine: str, method: str, field: str) -> float:
    found = point["programs"][engine]
    return found[method][field] / found["grad"][field]


def _adlab_over_jax(points: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    out = {}
    for method in ("grad", *SCALABLE):
        times = [
            statistics.median(round_ratios(p, ("adlab", method), ("jax", method))) for p in points
        ]
        gaps = [_over_engine(p, method, "xla_flops") for p in points]
        memory = [_over_engine(p, method, "memory_bytes") for p in points]
        out[method] = {
            "time_median": statistics.median(times),
            "time_min": min(times),
            "time_max": max(times),
            "flops_max_rel_gap": max(abs(g - 1) for g in gaps),
            "memory_min": min(memory),
            "memory_max": max(memory),
        }
    return out


def _over_engine(point: Mapping[str, Any], method: str, field: str) -> float:
    found = point["programs"]
    return found["adlab"][method][field] / found["jax"][method][field]


def _verdicts(
    points: Sequence[Mapping[str, Any]], ratio: Mapping[str, Any], noise: float
) -> dict[str, Any]:
    """The claims tested, each with the measured figure and whether it holds."""
    measured = {e: ratio[e]["fwd-over-rev"]["median"] for e in ENGINES}
    worst_drift = 0.0
    for workload in WORKLOADS:
        for engine in ENGINES:
            rs = [vs_grad(p, engine, "fwd-over-rev") for p in points if p["workload"] == workload]
            if len(rs) >= 2:
                worst_drift = max(worst_drift, max(rs) / min(rs))
    fastest = tied = total = 0
    for p in points:
        for engine in ENGINES:
            total += 1
            others = [
                statistics.median(round_ratios(p, (engine, "fwd-over-rev"), (engine, m)))
                for m in SCALABLE
                if m != "fwd-over-rev"
            ]
            slowest = max(others)  # below 1: fwd-over-rev beat every other mode
            fastest += slowest < 1
            tied += 1 <= slowest <= 1 + noise
    band = PUBLISHED["JAX jit"]
    jax_ratio = measured["jax"]
    return {
        "one_gradient": {
            "claim": "an HVP costs one forward and one backward pass, i.e. one gradient",
            "measured": measured,
            "threshold": ONE_GRADIENT,
            "holds": all(r <= ONE_GRADIENT for r in measured.values()),
        },
        "regardless_of_size": {
            "claim": "the cost of an HVP relative to a gradient does not grow with n",
            "measured": worst_drift,
            "threshold": STEADY,
            "holds": worst_drift <= STEADY,
        },
        "fwd_over_rev_fastest": {
            "claim": "fwd-over-rev is typically the most efficient mode",
            "fastest": fastest,
            "within_noise": tied,
            "of": total,
            "noise": noise,
            "holds": fastest + tied > total / 2,
        },
        "published": {
            "claim": "HVP/grad is 2.25-2.55 with JAX jit (Dagréou et al. 2024, A100)",
            "measured": jax_ratio,
            "where": "below" if jax_ratio < band[0] else "above" if jax_ratio > band[1] else "in",
        },
    }


def _crossover(points: Sequence[Mapping[str, Any]], workload: str) -> dict[str, Any]:
    """Where k HVPs (fwd-over-rev) cost as much as one dense Hessian and its matvec, per engine.

    For k in CROSSOVER_K and for k = n: the n at which time(dense) / time(HVP) reaches k
    (`_stats.first_crossing`).
    """
    out = {}
    for engine in ENGINES:
        small = sorted(
            (p for p in points if p["workload"] == workload and "dense" in p["programs"][engine]),
            key=lambda p: p["n"],
        )
        if not small:
            out[engine] = None
            continue

        def median_ratio(p: Mapping[str, Any], a: str, b: str, engine: str = engine) -> float:
            return statistics.median(round_ratios(p, (engine, a), (engine, b)))

        ns = [p["n"] for p in small]
        ks = [median_ratio(p, "dense", "fwd-over-rev") for p in small]
        found = {str(k): first_crossing(ns, [r / k for r in ks]) for k in CROSSOVER_K}
        found["n"] = first_crossing(ns, [r / n for n, r in zip(ns, ks, strict=True)])
        fof = [median_ratio(p, "fwd-over-fwd", "dense") for p in small]
        out[engine] = {
            "n": ns,
            "dense_over_hvp": ks,
            "crossing": found,
            "fwd_over_fwd_over_dense": spread(fof),
        }
    return out


def _explain(points: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """adlab's FLOP counts per mode at the largest MLP and transformer points (JAX's programs)."""
    out = {}
    for workload in ("mlp", "transformer"):
        mine = [p for p in points if p["workload"] == workload]
        if not mine:
            continue
        p = max(mine, key=lambda q: q["size"])
        found = p["programs"]["jax"]
        grad = found["grad"]
        out[workload] = {
            "size": p["size"],
            "n": p["n"],
            "grad_dot_flops": grad["count_dot_flops"],
            "grad_other_flops": grad["count_flops"] - grad["count_dot_flops"],
            "modes": {
                m: {
                    "dot_over_grad": found[m]["count_dot_flops"] / grad["count_dot_flops"],
                    "other_over_grad": (found[m]["count_flops"] - found[m]["count_dot_flops"])
                    / max(grad["count_flops"] - grad["count_dot_flops"], 1),
                    "xla_over_grad": found[m]["xla_flops"] / grad["xla_flops"],
                }
                for m in SCALABLE
            },
        }
    return out


def headline(data: Mapping[str, Any]) -> str:
    """The one-line finding, for the end-of-run summary."""
    s = data["summary"]
    r = s["hvp_over_grad"]
    v = s["verdicts"]
    best = v["fwd_over_rev_fastest"]
    return (
        f"an HVP (fwd-over-rev) costs {r['jax']['fwd-over-rev']['median']:.2f} gradients with JAX "
        f"and {r['adlab']['fwd-over-rev']['median']:.2f} with adlab (published, JAX on an A100: "
        f"2.25-2.55); adlab's HVPs are {_versus_jax(s)}; fwd-over-rev fastest at "
        f"{best['fastest']} of {best['of']} points, within noise of the fastest at "
        f"{best['within_noise']} more"
    )


def _versus_jax(s: Mapping[str, Any]) -> str:
    """adlab's HVP time against JAX's, in words, from the median ratio of each mode."""
    medians = [s["adlab_over_jax"][m]["time_median"] for m in SCALABLE]
    return _plot.versus(medians, "JAX's") + ", by each mode's median"


# ---- figures --------------------------------------------------------------------------------

MODES = {  # colour and marker per mode
    "fwd-over-rev": (_plot.BLUE, "o"),
    "rev-over-fwd": (_plot.VERMILLION, "s"),
    "rev-over-rev": (_plot.GREEN, "^"),
}
ENGINE_STYLE = {  # adlab: solid line, filled markers; JAX: dashed line, hollow markers
    "adlab": {"ls": "-", "hollow": False, "label": "adlab"},
    "jax": {"ls": "--", "hollow": True, "label": "JAX"},
}
WORKLOAD_MARKER = {"rosenbrock": "D", "mlp": "o", "transformer": "^"}
WORKLOAD_NAME = {"rosenbrock": "Rosenbrock", "mlp": "MLP", "transformer": "transformer"}
WORKLOAD_TITLE = {
    "rosenbrock": "Rosenbrock, n dimensions",
    "mlp": "MLP, depth 3, batch 128",
    "transformer": "transformer block, batch 4",
}


def plot(json_path: pathlib.Path, png_path: pathlib.Path) -> None:
    """Draws two figures from the JSON alone: the finding at png_path, the detail beside it.

    The finding: the time of an HVP ÷ the time of a gradient, every mode and engine at every
    point, against the time of the gradient, with the medians over the compute-bound points.
    The detail (`<stem>_detail.png`): the same ratio against size, one panel per workload, with
    the published ratios and the A/A control; the compiled programs' memory ÷ the gradient's;
    the dense Hessian and fwd-over-fwd against one HVP; and, where the JSON holds one, the run
    on another backend (a GPU).

    Args:
      json_path: the results JSON.
      png_path: where the PNG goes; the detail goes to `<stem>_detail.png` beside it.
    """
    data = read_json(json_path)
    with _plot.style():
        _plot_finding(data, png_path)
        _plot_detail(data, _plot.beside(png_path, "detail"))


def _medians(s: Mapping[str, Any]) -> list[float]:
    """HVP ÷ gradient, the median over the compute-bound points, of every engine and mode."""
    return [s["hvp_over_grad"][e][m]["median"] for e in ENGINES for m in SCALABLE]


def _title(data: Mapping[str, Any]) -> str:
    r = _medians(data["summary"])
    bound = any(grad_s(p) >= LARGE_GRAD_S for p in data["points"])
    where = (
        f"Once a gradient takes ≥ {LARGE_GRAD_S * 1e3:g} ms"
        if bound
        else f"At every size measured (gradients < {LARGE_GRAD_S * 1e3:g} ms)"
    )
    return f"{where}, an HVP costs {min(r):.1f}–{max(r):.1f} gradients in every mode (medians)"


def _sizes(params: Mapping[str, Any]) -> str:
    grids = " · ".join(
        f"{w} {KNOB[w]} ∈ {{{', '.join(map(str, params[w]))}}}" for w in WORKLOADS if params[w]
    )
    return (
        f"{grids} · {params['dtype']} · dense Hessian and fwd-over-fwd up to n = "
        f"{params['max_dense_n']} · times: medians of {params['rounds']} interleaved rounds"
    )


def _style(engine: str, mode: str, label: bool = True) -> dict[str, Any]:
    color, marker = MODES[mode]
    e = ENGINE_STYLE[engine]
    series = _plot.Series(f"{mode}, {e['label']}" if label else None, color, marker, e["hollow"])
    return {**series.markers(), "ls": e["ls"], "lw": 1.4}


def _plot_finding(data: Mapping[str, Any], png_path: pathlib.Path) -> None:
    """HVP ÷ gradient against the gradient's time: every point, mode and engine in one panel."""
    points = data["points"]
    s = data["summary"]
    fig = _plot.figure(11, 5.6)
    ax = fig.subplots()
    xs = [grad_s(p) * 1e3 for p in points]
    left, right = min(xs) / 1.5, max(xs) * 1.5
    threshold = LARGE_GRAD_S * 1e3
    if min(xs) < threshold:
        ax.axvspan(left, threshold, color=_plot.GREY, alpha=0.12, lw=0)
        ax.text(0.01, 0.98, f"gradient < {threshold:g} ms: both programs\nare mostly dispatch "
                "overhead", transform=ax.transAxes, va="top", color="#555555")  # fmt: skip
    r = _medians(s)
    if max(xs) >= threshold:
        label = f"medians over the points ≥ {threshold:g} ms: {min(r):.1f}–{max(r):.1f}"
        ax.fill_between([threshold, right], min(r), max(r), color=_plot.BLACK, alpha=0.12, lw=0,
                        label=label)  # fmt: skip
    for engine in ENGINES:
        for mode in SCALABLE:
            ys = [vs_grad(p, engine, mode) for p in points]
            ax.plot(xs, ys, **{**_style(engine, mode), "ls": "none"})
    ax.axhline(1, color=_plot.BLACK, lw=0.8)
    ax.set_xscale("log")
    ax.set_xlim(left, right)
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:g}")
    ax.set_ylim(
        0, max(3.0, *(vs_grad(p, e, m) for p in points for e in ENGINES for m in SCALABLE)) * 1.08
    )
    names = [WORKLOAD_NAME[w] for w in WORKLOADS if any(p["workload"] == w for p in points)]
    shown = " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
    ax.set_xlabel(f"time of one gradient (ms, JAX): {shown} at every size")
    ax.set_ylabel("time of one HVP ÷ time of one gradient")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
    _plot.finish(fig, data, png_path, _title(data), _sizes(data["params"]))


def _plot_detail(data: Mapping[str, Any], png_path: pathlib.Path) -> None:
    """Per workload against size; memory; dense Hessian or k HVPs; other backends if any."""
    points = data["points"]
    workloads = [w for w in WORKLOADS if any(p["workload"] == w for p in points)]
    dense = [p for p in points if "dense" in p["programs"]["jax"]]
    others = len(backend_runs(data)) > 1  # another backend's run: a GPU's, say
    bottom_panels = [_plot_memory, *([_plot_crossover] if dense else []),
                     *([_plot_backends] if others else [])]  # fmt: skip
    fig = _plot.figure(17, 10.5)
    top, bottom = fig.subfigures(2, 1)
    axes = np.atleast_1d(top.subplots(1, len(workloads), sharey=True))
    for ax, workload in zip(axes, workloads, strict=True):
        _plot_ratio(ax, [p for p in points if p["workload"] == workload], workload)
    axes[0].set_ylabel("time of one HVP ÷ time of one gradient")
    ratios = [vs_grad(p, e, m) for p in points for e in ENGINES for m in SCALABLE]
    axes[0].set_ylim(min([0.8, *ratios]) / 1.1, max([4.0, *ratios]) * 1.1)
    top.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper")
    for ax, draw in zip(np.atleast_1d(bottom.subplots(1, len(bottom_panels))), bottom_panels):
        draw(ax, data)
    title = "Hessian-vector products in detail: per workload, memory, dense Hessian or k HVPs"
    _plot.finish(fig, data, png_path, title, _sizes(data["params"]))


def _plot_ratio(ax: Any, points: list[dict], workload: str) -> None:
    xs = [p["size"] for p in points]
    for name, (lo, hi) in PUBLISHED.items():
        shade = {"color": _plot.GREY, "alpha": 0.35 if name == "JAX jit" else 0.12, "lw": 0}
        ax.axhspan(lo, hi, **shade, label=f"published (Dagréou et al., A100): {name}")
    for engine in ENGINES:
        for mode in SCALABLE:
            ys = [vs_grad(p, engine, mode) for p in points]
            ax.plot(xs, ys, **_style(engine, mode))
    aa = _plot.Series("A/A control (gradient ÷ itself)", _plot.GREY, "x")
    ax.plot(xs, [control(p) for p in points], **aa.markers())
    small = [p["size"] for p in points if grad_s(p) < LARGE_GRAD_S]
    if small:
        ax.axvspan(min(xs) / 1.5, max(small) * 1.2, color=_plot.GREY, alpha=0.07, lw=0)
        ax.text(0.02, 0.97, "shaded: gradient < 1 ms", transform=ax.transAxes, va="top",
                color="#555555")  # fmt: skip
    ax.set_xscale("log")
    ax.set_xticks(xs, [str(x) if x < 10_000 else f"{x:.0e}".replace("e+0", "e") for x in xs])
    ax.minorticks_off()
    ax.set_xlabel(KNOB[workload])
    r = [vs_grad(p, e, m) for p in points for e in ENGINES for m in SCALABLE]
    ax.set_title(f"{WORKLOAD_TITLE[workload]}: {min(r):.1f}–{max(r):.1f} gradients")


def _plot_memory(ax: Any, data: Mapping[str, Any]) -> None:
    points = data["points"]
    shown = []
    for workload in WORKLOADS:
        mine = [p for p in points if p["workload"] == workload]
        if not mine:
            continue
        for engine in ENGINES:
            for mode in SCALABLE:
                ys = [_over_grad(p, engine, mode, "memory_bytes") for p in mine]
                shown += ys
                ax.plot([p["n"] for p in mine], ys, **_style(engine, mode, label=False), alpha=0.85)
        last = mine[-1]
        ax.annotate(
            workload, (last["n"], _over_grad(last, "jax", "fwd-over-rev", "memory_bytes")),
            xytext=(6, 0), textcoords="offset points", va="center",
        )  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlim(right=max(p["n"] for p in points) * 30)  # room for the workloads' names
    ax.set_xlabel("n, the number of parameters")
    ax.set_ylabel("compiled memory of one HVP\n÷ a gradient's")
    ax.set_title(f"Memory (XLA): an HVP needs {min(shown):.1f}–{max(shown):.1f}× a gradient's")


def _plot_crossover(ax: Any, data: Mapping[str, Any]) -> None:
    points, s = data["points"], data["summary"]
    for workload in ("rosenbrock", "mlp"):
        mine = [p for p in points if p["workload"] == workload and "dense" in p["programs"]["jax"]]
        ns = [p["n"] for p in mine]
        for engine in ENGINES:
            e = ENGINE_STYLE[engine]
            for method, color in (("dense", _plot.ORANGE), ("fwd-over-fwd", _plot.PURPLE)):
                ys = [
                    statistics.median(round_ratios(p, (engine, method), (engine, "fwd-over-rev")))
                    for p in mine
                ]
                what = "dense Hessian, then H @ v" if method == "dense" else "fwd-over-fwd"
                series = _plot.Series(
                    f"{what}, {e['label']}", color, WORKLOAD_MARKER[workload], e["hollow"]
                )
                style = series.markers(label=series.label if workload == "mlp" else None)
                ax.plot(ns, ys, **{**style, "ls": e["ls"], "lw": 1.4})
    ns = sorted({p["n"] for p in points if "dense" in p["programs"]["jax"]})
    line = np.geomspace(min(ns), max(ns), 50)
    ax.plot(line, line, ":", color=_plot.BLACK, lw=1.2, label="k = n HVPs (one per column)")
    for k in CROSSOVER_K:
        ax.axhline(k, color=_plot.BLACK, lw=0.8, ls=(0, (4, 3)))
        ax.text(min(ns), k * 1.15, f"k = {k} HVP{'s' if k > 1 else ''}")
    _plot.times_axis(ax)
    ax.set_xscale("log")
    ax.set_xlabel("n  (◆ Rosenbrock, ● MLP)")
    ax.set_ylabel("time ÷ time of one HVP\n(fwd-over-rev)")
    jax_rosenbrock = (s["crossover"].get("rosenbrock") or {}).get("jax")
    if jax_rosenbrock:
        k10 = crossing_text(jax_rosenbrock["crossing"]["10"])
        ax.set_title(f"Dense Hessian or k HVPs? Rosenbrock: 10 HVPs cost one Hessian at {k10}")
    else:
        ax.set_title("Dense Hessian or k HVPs?")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))


def _plot_backends(ax: Any, data: Mapping[str, Any]) -> None:
    """fwd-over-rev with JAX on every backend of the JSON (drawn only when there are two)."""
    colors = [_plot.BLACK, _plot.ORANGE, _plot.PURPLE]
    spans = []
    for color, (backend, run) in zip(colors, backend_runs(data).items()):
        kind = run["meta"].get("device_kind", backend)
        ys_all = []
        for workload in WORKLOADS:
            mine = [p for p in run["points"] if p["workload"] == workload]
            if mine:
                series = _plot.Series(
                    f"{kind}" if workload == "mlp" else None, color, WORKLOAD_MARKER[workload]
                )
                ys = [vs_grad(p, "jax", "fwd-over-rev") for p in mine]
                ys_all += ys
                ax.plot([p["n"] for p in mine], ys, **{**series.markers(), "ls": "-", "lw": 1.2})
        spans.append(f"{kind} {min(ys_all):.1f}–{max(ys_all):.1f}")
    ax.set_xscale("log")
    ax.set_xlabel("n  (◆ Rosenbrock, ● MLP, ▲ transformer)")
    ax.set_ylabel("HVP ÷ gradient\n(fwd-over-rev, JAX)")
    ax.set_title("HVP ÷ gradient by backend: " + ", ".join(spans))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))


def readme(data: Mapping[str, Any]) -> str:
    """The README section for this experiment, with every number read from its JSON."""
    s = data["summary"]
    r, v = s["hvp_over_grad"], s["verdicts"]
    f, m = s["flops_over_grad"], s["memory_over_grad"]
    aa, aa_control = s["adlab_over_jax"], s["control"]
    one, steady, best, pub = (
        v["one_gradient"],
        v["regardless_of_size"],
        v["fwd_over_rev_fastest"],
        v["published"],
    )

    def row(mode: str) -> str:
        cells = [f"`{mode}`"]
        for engine in ENGINES:
            t = r[engine][mode]
            cells.append(f"{t['median']:.2f} ({t['min']:.2f}–{t['max']:.2f})")
        cells.append(f"{f['jax'][mode]['median']:.2f}")
        cells.append(f"{m['jax'][mode]['median']:.2f}")
        cells.append(f"{aa[mode]['time_median']:.2f}")
        return "| " + " | ".join(cells) + " |"

    table = "\n".join(
        [
            "| mode | HVP ÷ grad, adlab | HVP ÷ grad, JAX | XLA FLOPs ÷ grad | memory ÷ grad "
            "| adlab ÷ JAX time |",
            "|---|---|---|---|---|---|",
            *(row(mode) for mode in SCALABLE),
        ]
    )
    explain = s["explain"].get("mlp")
    why = ""
    if explain:
        modes = explain["modes"]
        why = (
            f"At MLP width {explain['size']} (n = {explain['n']:,}), adlab's count of JAX's "
            f"programs gives the gradient {explain['grad_dot_flops'] / 1e9:.2f} GFLOP of matrix "
            "products; fwd-over-rev has "
            f"{modes['fwd-over-rev']['dot_over_grad']:.2f}× that, rev-over-fwd "
            f"{modes['rev-over-fwd']['dot_over_grad']:.2f}× and rev-over-rev "
            f"{modes['rev-over-rev']['dot_over_grad']:.2f}×. By the product rule each matrix "
            "product A·B of the gradient program gains the tangent products dA·B and A·dB. "
            "The one that would involve the data's tangent vanishes, because the data carry "
            "none, so the count is below 3×."
        )
    cross = s["crossover"]

    def crossing(workload: str) -> str:
        c = (cross.get(workload) or {}).get("jax")
        if not c:
            return f"{workload}: no point small enough"
        k1, k10, kn = (crossing_text(c["crossing"][k]) for k in ("1", "10", "n"))
        return f"{workload}: one HVP at {k1}, 10 HVPs at {k10}, n HVPs {kn}"

    measured = [c["jax"] for c in cross.values() if c and c.get("jax")]
    if measured and all(c["crossing"]["n"]["where"] == "above" for c in measured):
        n_hvps = (
            "The dense Hessian costs less than n separate HVPs at every n measured: "
            "`jax.hessian` computes its n columns as one vmapped batch."
        )
    else:
        n_hvps = ""
    fof = [c["fwd_over_fwd_over_dense"] for c in measured] or [{"min": math.nan, "max": math.nan}]
    fof_lo, fof_hi = min(f["min"] for f in fof), max(f["max"] for f in fof)
    holds = {True: "**holds**", False: "**fails**"}
    most = max(a["memory_max"] for a in aa.values())
    least = min(a["memory_min"] for a in aa.values())
    if most - 1 <= 0.02:
        memory = (
            f"adlab's compiled programs need {least:.2f}–{most:.2f}× JAX's memory: the "
            "adjoint of a slice (`theta[a:b]`, which unflattens the parameters) is a `pad`, "
            "as in JAX."
        )
    else:
        memory = (
            f"adlab's compiled programs need up to {100 * (most - 1):.0f}% more memory than JAX's."
        )
    mode_flops = [f["jax"][mode]["median"] for mode in SCALABLE]
    return f"""### Hessian-vector products (`python -m experiments hvp`)

![hvp](figures/hvp.png)

The figure above gathers every point; [the detail figure](figures/hvp_detail.png) shows the
ratio per workload and size, the memory, and the dense Hessian against k HVPs.

H v for a scalar loss over n parameters, in the modes of JAX's autodiff cookbook
(Pearlmutter 1994): fwd-over-rev `jvp(grad f)`, rev-over-fwd `grad(x ↦ jvp(f, x, v))`,
rev-over-rev `grad(x ↦ ⟨∇f(x), v⟩)`, and, at small n only, fwd-over-fwd (n nested forward
passes) and the dense Hessian then `H @ v`. The workloads are Rosenbrock in n dimensions, a
depth-3 tanh MLP with cross-entropy, and one transformer block, each with adlab's
interpreters and with JAX's. Every program is jitted and timed in interleaved rounds with the
gradient. The figure is from the default size (`--full` adds larger sizes and more rounds).
Median over the {len(s["compute_bound"])} points whose gradient takes ≥ 1 ms (range in
brackets):

{table}

- **"An HVP costs one forward and one backward pass, regardless of P"** (the article
  "Backpropagation", after Pearlmutter 1994), i.e. one gradient: {holds[one["holds"]]}.
  fwd-over-rev costs {one["measured"]["jax"]:.2f} gradients with JAX and
  {one["measured"]["adlab"]:.2f} with adlab (the claim holds here up to {ONE_GRADIENT:g}).
  That the ratio stays the same as n grows {holds[steady["holds"]]}: within one workload,
  over the points above, it varies by up to {steady["measured"]:.2f}× (the claim holds here
  up to {STEADY:g}×).
- **"fwd-over-rev is typically the most efficient"** (JAX's autodiff cookbook):
  {holds[best["holds"]]}: it was fastest at {best["fastest"]} of {best["of"]} (point, engine)
  pairs, and within the A/A noise ({100 * best["noise"]:.0f}%) of the fastest at
  {best["within_noise"]} more. The three modes cost nearly the same: their XLA FLOPs are
  {min(mode_flops):.2f}–{max(mode_flops):.2f}× the gradient's.
- **Published figures.** Dagréou et al., "How to compute Hessian-vector products?" (ICLR
  2024 blog track), report HVP ÷ gradient of 2.25–2.55 with JAX under jit on an A100 GPU
  (ResNet34, ViT, BERT) and 2.8–4.0 with PyTorch eager. Ours, on a 2-core CPU with smaller
  models, is {pub["measured"]:.2f} for JAX: {pub["where"]} their band.
- **Why the ratio is what it is.** {why} XLA's FLOPs of fwd-over-rev are
  {f["jax"]["fwd-over-rev"]["median"]:.2f}× the gradient's, and the memory of the compiled
  program is {m["jax"]["fwd-over-rev"]["median"]:.2f}×: tangents are stored beside the primals.
- **adlab against JAX:** adlab's HVPs are {_versus_jax(s)}. Its programs take
  {aa["grad"]["time_median"]:.2f}× JAX's time for the gradient and
  {aa["fwd-over-rev"]["time_median"]:.2f}× for fwd-over-rev (at most
  {max(a["time_max"] for a in aa.values()):.2f}×); their XLA FLOPs differ by at most
  {100 * max(a["flops_max_rel_gap"] for a in aa.values()):.1f}%. The A/A control (JAX's
  gradient against itself) gives {aa_control["median"]:.2f}, at most
  {100 * aa_control["max_distance_from_1"]:.0f}% from 1. {memory}
- **Dense Hessian or k HVPs.** The n at which the dense Hessian and its matvec,
  `hessian(f)(x) @ v`, cost as much as k HVPs (fwd-over-rev, JAX; measured up to n =
  {data["params"]["max_dense_n"]}): {crossing("rosenbrock")}; {crossing("mlp")}. Below
  that n, building the Hessian is cheaper than k HVPs. {n_hvps} fwd-over-fwd, n nested
  forward passes, takes {fof_lo:.2f}–{fof_hi:.2f}× the dense Hessian's time."""
