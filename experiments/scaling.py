"""scaling: when forward mode beats reverse mode, by how much, as inputs, outputs and depth grow.

Forward mode pushes one tangent per input through f, reverse mode pulls one cotangent per output
back through it, so the full Jacobian of f: R^n -> R^m costs about n JVPs forward and m VJPs in
reverse: the FLOP model says jacfwd wins where n < m, jacrev where n > m, and they tie at n = m
(Griewank & Walther, "Evaluating Derivatives", 2nd ed. 2008, chapters 3 and 4; Baydin et al.,
"Automatic differentiation in machine learning: a survey", JMLR 2018, section 3). This
experiment measures it, for both engines (adlab's interpreters and JAX's, `adlab.reference`),
every program jitted and timed in interleaved rounds:

- **the (n, m) plane**: a one-hidden-layer tanh MLP as a map R^n -> R^m (`_models.mlp_map`),
  n and m on a log grid. At each point: f itself, one JVP, one VJP, the full Jacobian by
  `jacfwd` and by `jacrev`, and, where m = 1, the gradient: the cheap-gradient ratio
  grad/f, which Griewank and Walther bound by a small constant. JAX's jacrev runs twice per
  round, an A/A control. From it: where jacfwd and jacrev cross, against the model's n = m;
- **depth**: a chain of L dense tanh layers, wide at both ends with a narrow bottleneck in the
  middle (an autoencoder's shape, `_models.dense_chain`), L from 1 to 64. Beside jacfwd and
  jacrev, adlab's chain planner (`adlab.chain`, Naumann 2020) computes the Jacobian its own
  way, and XLA reports each program's memory: the tape of reverse mode grows with L;
- **eager**: a slice of the plane (n = m) run without jit beside the jitted programs: the
  dispatch cost every eager user pays;
- **many devices**: the MLP's data-parallel gradient and HVP with the batch sharded over 1 to 8
  devices by XLA (`experiments/_devices.py`; simulated CPU devices, in a subprocess): equal to
  one device's, with the all-reduce XLA inserted.

Every point records its backend and device kind. A run on a GPU is kept beside the CPU run
in the same JSON (`python -m experiments scaling --device gpu`, or `python -m experiments.merge`)
and drawn beside it.
"""

from __future__ import annotations

import math
import pathlib
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib import patheffects

import adlab
from adlab import chain
from experiments import _devices, _models, _plot
from experiments._common import backend_runs, read_json, run_sweep
from experiments._compiled import compile_all, time_rounds, where_measured
from experiments._stats import first_crossing, spread

NAME = "scaling"

# ---- constants ------------------------------------------------------------------------------
DEFAULT = {
    "sizes": [1, 4, 16, 64, 256, 1024, 4096],  # n and m of the map: the plane is sizes x sizes
    "hidden": 256,  # the map's hidden width
    "depths": [1, 2, 4, 8, 16, 32, 64],  # L, the number of layers of the chain
    "chain_width": 256,  # the chain's input and output width...
    "bottleneck": 8,  # ...and the width of its middle layer (L >= 2)
    "eager": [1, 16, 256, 1024],  # n = m of the eager slice
    "devices": [1, 2, 4, 8],
    "device_width": 64,  # the data-parallel MLP (`_models.mlp_with_data`), batch sharded
    "device_batch": 128,
    "dtype": "float32",
    "seed": 0,
    "rounds": 7,
    "min_sample_s": 0.002,
}
QUICK = {
    **DEFAULT,
    "sizes": [1, 64],
    "depths": [1, 2],
    "eager": [16],
    "devices": [],  # a subprocess, about 6 s: the tests check the devices on their own
    "rounds": 3,
    "min_sample_s": 0.001,
}
FULL = {
    **DEFAULT,
    "sizes": [2**k for k in range(13)],
    "depths": [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64],
    "rounds": 15,
}

ENGINES = {"adlab": adlab, "jax": adlab.reference}
JAC = ("jacfwd", "jacrev")
MAP_METHODS = ("jvp", "vjp", *JAC)  # and "grad" where m = 1
CHAIN_METHODS = ("jvp", "vjp", *JAC, "planner")
CONTROL = "jacrev (A/A)"  # JAX's jacrev, timed a second time in every round
TIE = 0.10  # jacfwd and jacrev within 10% (or the point's A/A distance, if larger): a tie
SLOW_S = 1e-3  # points whose jacrev takes this long are timed above the call overhead
CHEAP_GRADIENT = (3.0, 5.0)  # Griewank & Walther's small constant, as usually quoted
EQUAL_ULPS = 16  # sharded results equal one device's within this many eps of the largest entry


# ---- the programs of one point --------------------------------------------------------------


def map_programs(
    f: Callable, x: jax.Array, key: jax.Array
) -> dict[str, dict[str, tuple[Callable, tuple]]]:
    """The programs on a map f: R^n -> R^m at x, per engine, as `(function, args)`.

    Returns:
      programs[engine][method] for method in MAP_METHODS, and "grad" (of f's one output)
      where m = 1.
    """
    m = jax.eval_shape(f, x).shape[0]
    v, c = _models.normal_arrays(key, [x.shape, (m,)], x.dtype)
    out = {}
    for engine, impl in ENGINES.items():
        progs = {
            "jvp": (lambda x, v, impl=impl: impl.jvp(f, (x,), (v,))[1], (x, v)),
            "vjp": (lambda x, c, impl=impl: impl.vjp(f, x)[1](c)[0], (x, c)),
            "jacfwd": (impl.jacfwd(f), (x,)),
            "jacrev": (impl.jacrev(f), (x,)),
        }
        if m == 1:
            progs["grad"] = (impl.grad(lambda x: f(x)[0]), (x,))
        out[engine] = progs
    return out


def chain_widths(depth: int, width: int, bottleneck: int) -> list[int]:
    """n_0..n_L of the chain: `width` everywhere but n_{L//2} = `bottleneck` (for L >= 2)."""
    widths = [width] * (depth + 1)
    if depth >= 2:
        widths[depth // 2] = bottleneck
    return widths


def _nest(found: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """{"f": ..., "control": ..., "programs": {engine: {method: ...}}} from "engine/method" keys."""
    out: dict[str, Any] = {"programs": {e: {} for e in ENGINES}}
    for name, entry in found.items():
        if "/" in name:
            engine, method = name.split("/")
            out["programs"][engine][method] = entry
        else:
            out[name] = entry
    return out


def _map_point(point: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, tuple]:
    """The programs of a point of the plane, by "f" and "engine/method"."""
    key = jax.random.key(params["seed"])
    dtype = jnp.dtype(params["dtype"])
    f, x = _models.mlp_map(point["n"], point["m"], params["hidden"], key, dtype)
    programs = {"f": (f, (x,))}
    for engine, progs in map_programs(f, x, jax.random.fold_in(key, 1)).items():
        programs.update({f"{engine}/{method}": p for method, p in progs.items()})
    return programs


def measure_map(point: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """One point of the (n, m) plane: f, JVP, VJP, jacfwd, jacrev (and grad if m = 1)."""
    programs = _map_point(point, params)
    calls, found = compile_all(programs)
    calls["control"] = calls["jax/jacrev"]
    time_rounds(calls, found, params["rounds"], params["min_sample_s"])
    return {**where_measured(), **_nest(found)}


def measure_chain(point: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """One depth of the chain: f, JVP, VJP, jacfwd, jacrev and the planner's Jacobian."""
    widths = chain_widths(point["L"], params["chain_width"], params["bottleneck"])
    key = jax.random.key(params["seed"])
    layers, x = _models.dense_chain(widths, key, jnp.dtype(params["dtype"]))

    def f(x: jax.Array) -> jax.Array:
        for layer in layers:
            x = layer(x)
        return x

    programs = {"f": (f, (x,))}
    plans = {}
    for engine, progs in map_programs(f, x, jax.random.fold_in(key, 1)).items():
        impl = ENGINES[engine]
        plan = chain.optimal_plan(widths, chain.costs(layers, x, impl))
        plans[engine] = {
            "plan": str(plan),
            "flops": plan.flops,
            "forward_flops": chain.tangent_flops(widths, plan.costs),
            "reverse_flops": chain.adjoint_flops(widths, plan.costs),
        }
        progs["planner"] = (lambda x, plan=plan, impl=impl: chain.jacobian(layers, x, plan, impl),
                            (x,))  # fmt: skip
        programs.update({f"{engine}/{method}": p for method, p in progs.items()})
    calls, found = compile_all(programs)
    time_rounds(calls, found, params["rounds"], params["min_sample_s"])
    return {**where_measured(), "widths": widths, "plans": plans, **_nest(found)}


def measure_eager(point: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """One point of the eager slice: every program jitted and eager, in the same rounds."""
    programs = {k: p for k, p in _map_point(point, params).items() if not k.endswith("/grad")}
    calls, found = compile_all(programs)
    for name, (fun, args) in programs.items():
        calls[f"{name} eager"] = (fun, args)
    time_rounds(calls, found, params["rounds"], params["min_sample_s"])
    for name in programs:
        found[name]["eager_samples_s"] = found.pop(f"{name} eager")["samples_s"]
    return {**where_measured(), **_nest(found)}


def measure_devices(params: Mapping[str, Any]) -> dict[str, Any]:
    """The data-parallel gradient and HVP on 1..8 simulated devices (`_devices`)."""
    result = _devices.run(
        params["devices"], params["device_width"], params["device_batch"], params["dtype"],
        params["seed"], repeats=params["rounds"],
    )  # fmt: skip
    return {**where_measured(), "sharded": result}


def measure(point: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """Measures one point of any part of the sweep."""
    part = point["part"]
    if part == "map":
        return measure_map(point, params)
    if part == "chain":
        return measure_chain(point, params)
    if part == "eager":
        return measure_eager(point, params)
    if part == "devices":
        return measure_devices(params)
    raise ValueError(f"unknown part {part!r}")


def grid(params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every point of the sweep: the plane, the depths, the eager slice, the devices."""
    sizes = params["sizes"]
    points = [{"part": "map", "n": n, "m": m} for n in sizes for m in sizes]
    points += [{"part": "chain", "L": depth} for depth in params["depths"]]
    points += [{"part": "eager", "n": n, "m": n} for n in params["eager"]]
    return [*points, {"part": "devices"}] if params["devices"] else points


def run(out_dir: pathlib.Path, quick: bool = False, full: bool = False) -> pathlib.Path:
    """Runs the sweep (resuming an interrupted run) and stores the summary in the JSON.

    Args:
      out_dir: where `scaling.json` goes.
      quick: the QUICK parameters (seconds).
      full: the FULL parameters (a finer plane, more depths and rounds).

    Returns:
      The JSON path.
    """
    params = QUICK if quick else FULL if full else DEFAULT
    return run_sweep(
        NAME,
        out_dir,
        params,
        grid(params),
        lambda p: measure(p, params),
        describe=describe,
        summarize=summary,
        quick=quick,
    )


# ---- ratios read from a point ---------------------------------------------------------------


def samples(point: Mapping[str, Any], engine: str, method: str, field: str = "samples_s") -> list:
    """The per-round times of one program of a point: ("f", "f"), ("control", "control") or
    (engine, method)."""
    if engine in ("f", "control"):
        return point[engine][field]
    return point["programs"][engine][method][field]


def ratio(
    point: Mapping[str, Any], a: tuple[str, str], b: tuple[str, str], field: str = "samples_s"
) -> float:
    """Median over rounds of time(a) / time(b); a and b are (engine, method) pairs."""
    xs, ys = samples(point, *a, field=field), samples(point, *b, field=field)
    return statistics.median(x / y for x, y in zip(xs, ys, strict=True))


def median_s(point: Mapping[str, Any], engine: str, method: str) -> float:
    """The median time of one program of a point."""
    return statistics.median(samples(point, engine, method))


def fwd_over_rev(point: Mapping[str, Any], engine: str) -> float:
    """time(jacfwd) / time(jacrev), the median over rounds."""
    return ratio(point, (engine, "jacfwd"), (engine, "jacrev"))


def flops(point: Mapping[str, Any], engine: str, method: str) -> float:
    """XLA's FLOPs of one program of a point."""
    if engine == "f":
        return point["f"]["xla_flops"]
    return point["programs"][engine][method]["xla_flops"]


def control(point: Mapping[str, Any]) -> float:
    """The A/A control of a map point: JAX's jacrev ÷ itself, the median over rounds."""
    return ratio(point, ("control", "control"), ("jax", "jacrev"))


def is_tie(point: Mapping[str, Any], r: float) -> bool:
    """Whether a time ratio r measured at a map point is a tie: within TIE of 1, or within the
    point's own A/A control (the same program timed twice) if that is further from 1."""
    noise = max(TIE, abs(control(point) - 1))
    return abs(r - 1) <= noise


def describe(point: Mapping[str, Any]) -> str:
    """One self-describing line per finished point."""
    part = point["part"]
    head = f"{NAME} | {part}"
    if part == "devices":
        s = point["sharded"]
        worst = max(r["max_rel_error"] for r in s["runs"])
        reduces = sorted({r["collectives"]["all-reduce"]["count"] for r in s["runs"]})
        return (
            f"{head} devices={[r['devices'] for r in s['runs']][::4]} max_rel_error={worst:.2g} "
            f"all-reduces={reduces}"
        )
    where = f"L={point['L']}" if part == "chain" else f"n={point['n']} m={point['m']}"
    parts = [f"{head} {where} f={median_s(point, 'f', 'f') * 1e6:.0f}us"]
    for engine in ENGINES:
        r = fwd_over_rev(point, engine)
        parts.append(f"{engine}: jacfwd/jacrev={r:.3g}")
        if part == "chain":
            best = min(median_s(point, engine, m) for m in JAC)
            parts.append(f"planner speed-up={best / median_s(point, engine, 'planner'):.3g}")
        if part == "eager":
            jvp = point["programs"][engine]["jvp"]
            slow = statistics.median(jvp["eager_samples_s"]) / statistics.median(jvp["samples_s"])
            parts.append(f"eager/jit jvp={slow:.3g}")
    return " ".join(parts)


# ---- summary --------------------------------------------------------------------------------


def summary(data: Mapping[str, Any]) -> dict[str, Any]:
    """The headline numbers and verdicts of one run, computed from its points.

    Args:
      data: the decoded JSON (or one backend's run of it: "points" is all that is read).

    Returns:
      "plane" (the jacfwd/jacrev ratios, who wins where, and the crossover), "one_pass" (one
      JVP and one VJP against f), "cheap_gradient", "depth", "eager" and "devices".
    """
    points = data["points"]
    part = {p: [q for q in points if q["part"] == p] for p in ("map", "chain", "eager")}
    devices = [q for q in points if q["part"] == "devices"]
    return {
        "plane": _plane(part["map"]),
        "one_pass": _one_pass(part["map"]),
        "cheap_gradient": _cheap_gradient(part["map"]),
        "depth": _depth(part["chain"]),
        "eager": _eager(part["eager"]),
        "devices": _sharded(devices[0]["sharded"]) if devices else None,
    }


def _plane(points: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Who wins where in the (n, m) plane, and where jacfwd and jacrev cross."""
    if not points:
        return {}
    controls = [control(p) for p in points]
    slow = [control(p) for p in points if median_s(p, "jax", "jacrev") >= SLOW_S] or controls
    out: dict[str, Any] = {
        "control": {"median": statistics.median(controls),
                    "max_distance_from_1": max(abs(c - 1) for c in controls),
                    "max_distance_from_1_slow": max(abs(c - 1) for c in slow)},
        "tie": TIE,
    }  # fmt: skip
    for engine in ENGINES:
        agree, disagree, tied, diagonal = [], [], [], []
        for p in points:
            r = fwd_over_rev(p, engine)
            n, m = p["n"], p["m"]
            entry = {"n": n, "m": m, "ratio": r}
            if n == m:
                diagonal.append(entry)
            elif is_tie(p, r):
                tied.append(entry)
            elif (r < 1) == (n < m):
                agree.append(entry)
            else:
                disagree.append(entry)
        fwd_best = min(points, key=lambda p: fwd_over_rev(p, engine))
        rev_best = max(points, key=lambda p: fwd_over_rev(p, engine))
        out[engine] = {
            "model_agrees": len(agree),
            "model_disagrees": disagree,
            "ties": tied,
            "off_diagonal": len(agree) + len(disagree) + len(tied),
            "diagonal": diagonal,
            "fwd_best": {"n": fwd_best["n"], "m": fwd_best["m"],
                         "factor": 1 / fwd_over_rev(fwd_best, engine)},
            "rev_best": {"n": rev_best["n"], "m": rev_best["m"],
                         "factor": fwd_over_rev(rev_best, engine)},
            "crossover": _crossover(points, engine, "samples_s"),
            "flops_crossover": _crossover(points, engine, "xla_flops"),
        }  # fmt: skip
    return out


def _crossover(points: Sequence[Mapping[str, Any]], engine: str, field: str) -> dict[str, Any]:
    """For each n, the m at which jacrev starts to cost more than jacfwd (time or XLA FLOPs).

    The FLOP model puts it at m = n. "factor" is the median over the interpolated crossings of
    m* / n: above 1, the measured crossover lies above the diagonal, i.e. reverse mode keeps
    winning for a while after m passes n.
    """
    rows = []
    for n in sorted({p["n"] for p in points}):
        row = sorted((p for p in points if p["n"] == n), key=lambda p: p["m"])
        if len(row) < 2:
            continue
        ms = [p["m"] for p in row]
        if field == "samples_s":
            values = [1 / fwd_over_rev(p, engine) for p in row]  # jacrev / jacfwd, rising in m
        else:
            values = [flops(p, engine, "jacrev") / flops(p, engine, "jacfwd") for p in row]
        rows.append({"n": n, "crossing": first_crossing(ms, values)})
    inside = [r["crossing"]["n"] / r["n"] for r in rows if r["crossing"]["where"] == "between"]
    return {"rows": rows, "factor": statistics.median(inside) if inside else None}


def _one_pass(points: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One JVP and one VJP against f: time and XLA FLOPs, median and range over the plane."""
    if not points:
        return {}
    out = {}
    for engine in ENGINES:
        out[engine] = {
            method: {
                "time": spread([ratio(p, (engine, method), ("f", "f")) for p in points]),
                "flops": spread([flops(p, engine, method) / flops(p, "f", "f") for p in points]),
            }
            for method in ("jvp", "vjp")
        }
    largest = max(points, key=lambda p: (p["n"] * p["m"], p["n"]))
    out["largest"] = {"n": largest["n"], "m": largest["m"], "f_s": median_s(largest, "f", "f")}
    return out


def _cheap_gradient(points: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """grad / f at m = 1, time and XLA FLOPs, per n and engine, against Griewank-Walther."""
    mine = sorted((p for p in points if p["m"] == 1), key=lambda p: p["n"])
    if not mine:
        return {}
    out: dict[str, Any] = {
        "n": [p["n"] for p in mine],
        "f_s": [median_s(p, "f", "f") for p in mine],
    }
    for engine in ENGINES:
        out[engine] = {
            "grad_time": [ratio(p, (engine, "grad"), ("f", "f")) for p in mine],
            "grad_flops": [flops(p, engine, "grad") / flops(p, "f", "f") for p in mine],
            "jvp_time": [ratio(p, (engine, "jvp"), ("f", "f")) for p in mine],
        }
    worst_time = max(max(out[e]["grad_time"]) for e in ENGINES)
    worst_flops = max(max(out[e]["grad_flops"]) for e in ENGINES)
    out["verdict"] = {
        "claim": "a gradient costs a small constant times f, whatever n (the cheap gradient "
        "principle; Griewank & Walther 2008, chapter 4)",
        "band": list(CHEAP_GRADIENT),
        "worst_time": worst_time,
        "worst_flops": worst_flops,
        "holds": worst_time <= CHEAP_GRADIENT[1] and worst_flops <= CHEAP_GRADIENT[1],
    }
    return out


def _depth(points: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per depth: each method's time over f, the memory of one JVP and one VJP, the planner."""
    mine = sorted(points, key=lambda p: p["L"])
    if not mine:
        return {}
    out: dict[str, Any] = {"L": [p["L"] for p in mine], "widths": mine[-1]["widths"]}
    for engine in ENGINES:
        e = {m: [ratio(p, (engine, m), ("f", "f")) for p in mine] for m in CHAIN_METHODS}
        e["temp_bytes"] = {
            m: [p["programs"][engine][m]["temp_bytes"] for p in mine] for m in ("jvp", "vjp")
        }
        best = [min(median_s(p, engine, m) for m in JAC) for p in mine]
        e["planner_speedup"] = [b / median_s(p, engine, "planner") for p, b in zip(mine, best)]
        e["plan"] = [p["plans"][engine]["plan"] for p in mine]
        e["model_speedup"] = [
            min(p["plans"][engine]["forward_flops"], p["plans"][engine]["reverse_flops"])
            / p["plans"][engine]["flops"]
            for p in mine
        ]
        e["bytes_ratio"] = [  # XLA's bytes accessed: the better of jacfwd and jacrev ÷ planner
            min(p["programs"][engine][m]["bytes_accessed"] for m in JAC)
            / p["programs"][engine]["planner"]["bytes_accessed"]
            for p in mine
        ]
        e["fwd_over_rev"] = [fwd_over_rev(p, engine) for p in mine]
        out[engine] = e
    jax_run = out["jax"]
    vjp, jvp = jax_run["temp_bytes"]["vjp"], jax_run["temp_bytes"]["jvp"]
    out["memory_growth"] = {
        "vjp": vjp[-1] / max(vjp[0], 1),
        "jvp": jvp[-1] / max(jvp[0], 1),
        "vjp_bytes": [vjp[0], vjp[-1]],
        "jvp_bytes": [jvp[0], jvp[-1]],
    }
    deep = [i for i, depth in enumerate(out["L"]) if depth >= 2]
    out["planner_wins"] = {
        e: sum(out[e]["planner_speedup"][i] > 1 + TIE for i in deep) for e in ENGINES
    }
    out["deep"] = len(deep)
    return out


def _eager(points: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per slice point, engine and method: eager ÷ jit time, and the eager overhead in seconds."""
    mine = sorted(points, key=lambda p: p["n"])
    if not mine:
        return {}
    out: dict[str, Any] = {"n": [p["n"] for p in mine]}
    for engine in ENGINES:
        out[engine] = {}
        for method in MAP_METHODS:
            slow, extra = [], []
            for p in mine:
                entry = p["programs"][engine][method]
                eager = statistics.median(entry["eager_samples_s"])
                jit = statistics.median(entry["samples_s"])
                slow.append(eager / jit)
                extra.append(eager - jit)
            out[engine][method] = {"eager_over_jit": slow, "overhead_s": extra}
    return out


def _sharded(s: Mapping[str, Any]) -> dict[str, Any]:
    """The many-devices check: equal to one device's, and the collectives XLA inserted."""
    runs = s["runs"]
    worst = max(r["max_rel_error"] for r in runs)
    tolerance = EQUAL_ULPS * s["eps"]
    by = {(r["devices"], r["engine"], r["method"]): r for r in runs}
    same = all(by[d, "adlab", m]["collectives"] == by[d, "jax", m]["collectives"] for d, _, m in by)
    many = [r for r in runs if r["devices"] > 1]
    return {
        "devices": sorted({r["devices"] for r in runs}),
        "n": s["n"],
        "batch": s["batch"],
        "worst_rel_error": worst,
        "tolerance": tolerance,
        "equal": worst <= tolerance,
        "all_reduces": sorted({r["collectives"]["all-reduce"]["count"] for r in many}),
        "all_reduce_elements": sorted({r["collectives"]["all-reduce"]["elements"] for r in many}),
        "other_collectives": sum(
            c["count"] for r in runs for op, c in r["collectives"].items() if op != "all-reduce"
        ),
        "adlab_same_as_jax": same,
    }


def headline(data: Mapping[str, Any]) -> str:
    """The one-line finding, for the end-of-run summary."""
    s = data["summary"]
    plane = s["plane"]["jax"]
    cross = plane["crossover"]["factor"]
    where = f"jacfwd and jacrev cross at m ≈ {cross:.2g} n" if cross else "no crossing measured"
    return (
        f"the FLOP model picks the faster Jacobian at {plane['model_agrees']} of "
        f"{plane['off_diagonal']} off-diagonal points (JAX); {where} (model: m = n); "
        f"up to {plane['fwd_best']['factor']:.0f}× for forward, "
        f"{plane['rev_best']['factor']:.0f}× for reverse"
    )


# ---- figure ---------------------------------------------------------------------------------

ENGINE_STYLE = {  # adlab: solid line, filled markers; JAX: dashed line, hollow markers
    "adlab": {"ls": "-", "hollow": False, "label": "adlab"},
    "jax": {"ls": "--", "hollow": True, "label": "JAX"},
}
METHOD_STYLE = {
    "jvp": ("one JVP", _plot.BLUE, "o"),
    "vjp": ("one VJP", _plot.VERMILLION, "s"),
    "jacfwd": ("jacfwd", _plot.BLUE, "^"),
    "jacrev": ("jacrev", _plot.VERMILLION, "v"),
    "planner": ("chain planner", _plot.GREEN, "D"),
    "grad": ("gradient", _plot.PURPLE, "o"),
}


def _style(engine: str, method: str, label: bool = True) -> dict[str, Any]:
    name, color, marker = METHOD_STYLE[method]
    e = ENGINE_STYLE[engine]
    series = _plot.Series(f"{name}, {e['label']}" if label else None, color, marker, e["hollow"])
    size = 9.5 if e["hollow"] else 6  # where the engines coincide, JAX's ring frames adlab's dot
    return {**series.markers(size), "ls": e["ls"], "lw": 1.4}


def plot(json_path: pathlib.Path, png_path: pathlib.Path) -> None:
    """Draws the figures from the JSON alone: the finding at png_path, two more beside it.

    The finding: the (n, m) plane of jacfwd ÷ jacrev (JAX) with the measured crossovers of both
    engines and the FLOP model's n = m. The detail (`<stem>_detail.png`): one JVP, one VJP and
    the gradient against f; depth (time and memory); eager against jit; and, where the JSON
    holds another backend's run, the backends side by side. The devices (`<stem>_devices.png`,
    only where they were measured): equality with one device and the collectives XLA
    inserted, per device count.

    Args:
      json_path: the results JSON.
      png_path: where the PNG goes; the other two go beside it.
    """
    data = read_json(json_path)
    s = data["summary"]
    png_path = pathlib.Path(png_path)
    with _plot.style():
        fig = _plot.figure(11.5, 9)
        ax = fig.subplots()
        _plot_plane(ax, fig, [p for p in data["points"] if p["part"] == "map"], s, data)
        _plot.finish(fig, data, png_path, _title(s), _sizes(data["params"], "map"))
        _plot_detail(data, _plot.beside(png_path, "detail"))
        devices_png = _plot.beside(png_path, "devices")
        if any(p["part"] == "devices" for p in data["points"]):
            _plot_devices(data, devices_png)
        else:  # not measured in this run: no figure, and none left from an earlier run
            devices_png.unlink(missing_ok=True)


def _title(s: Mapping[str, Any]) -> str:
    plane = s["plane"].get("jax")
    if not plane:
        return "Forward against reverse mode: no point of the plane in this run"
    cross = plane["crossover"]["factor"]
    where = (
        f"they cross near m ≈ {cross:.2g} n, not at the model's m = n"
        if cross and not 0.5 <= cross <= 2
        else "they cross near m = n, as FLOPs predict"
        if cross
        else "no crossing measured"
    )
    best = max(plane["fwd_best"]["factor"], plane["rev_best"]["factor"])
    return f"jacfwd wins where m > n, jacrev where n > m, by up to {best:.0f}×; {where}"


def _sizes(params: Mapping[str, Any], part: str | None = None) -> str:
    sizes = ", ".join(map(str, params["sizes"]))
    depths = ", ".join(map(str, params["depths"]))
    rounds = f"times: medians of {params['rounds']} interleaved rounds"
    if part == "map":
        return f"n, m ∈ {{{sizes}}}, hidden {params['hidden']} · {params['dtype']} · {rounds}"
    return (
        f"n, m ∈ {{{sizes}}}, hidden {params['hidden']} · chain: width {params['chain_width']}, "
        f"bottleneck {params['bottleneck']}, L ∈ {{{depths}}} · {params['dtype']} · {rounds}"
    )


def _edges(values: Sequence[float]) -> np.ndarray:
    """Cell edges on a log axis: geometric midpoints, and half a step beyond each end."""
    v = np.log2(np.asarray(values, dtype=float))
    step = np.diff(v).min() if len(v) > 1 else 1.0
    mids = (v[:-1] + v[1:]) / 2
    return 2.0 ** np.concatenate([[v[0] - step / 2], mids, [v[-1] + step / 2]])


def _plot_plane(
    ax: Any, fig: Any, points: list[dict], s: Mapping[str, Any], data: Mapping[str, Any]
) -> None:
    sizes = sorted({p["n"] for p in points})
    grid = np.full((len(sizes), len(sizes)), np.nan)  # [m index, n index]
    for p in points:
        grid[sizes.index(p["m"]), sizes.index(p["n"])] = math.log2(fwd_over_rev(p, "jax"))
    limit = max(1.0, float(np.nanmax(np.abs(grid))))
    edges = _edges(sizes)
    mesh = ax.pcolormesh(edges, edges, grid, cmap="PuOr_r", vmin=-limit, vmax=limit)
    bar = fig.colorbar(mesh, ax=ax, shrink=0.8, pad=0.02)
    ticks = [t for t in range(-int(limit), int(limit) + 1) if t % max(1, int(limit) // 4) == 0]
    bar.set_ticks(ticks, labels=[f"{2**t}" if t >= 0 else f"1/{2**-t}" for t in ticks])
    bar.set_label("time of jacfwd ÷ time of jacrev (JAX)\n< 1: forward mode faster")
    if len(sizes) <= 8:
        for p in points:
            r = fwd_over_rev(p, "jax")
            text = "tie" if is_tie(p, r) else f"fwd {1 / r:.3g}×" if r < 1 else f"rev {r:.3g}×"
            dark = abs(math.log2(r)) > 0.6 * limit
            halo = [] if dark else [patheffects.withStroke(linewidth=2.5, foreground="white")]
            ax.text(p["n"], p["m"], text, ha="center", va="center", zorder=5,
                    color="white" if dark else _plot.BLACK, path_effects=halo)  # fmt: skip
    line = np.asarray([edges[0], edges[-1]])
    ax.plot(line, line, ":", color=_plot.BLACK, lw=1.6, label="FLOP model: they tie at m = n")
    for engine in ENGINES:
        rows = [r for r in s["plane"][engine]["crossover"]["rows"]
                if r["crossing"]["where"] == "between"]  # fmt: skip
        if rows:
            e = ENGINE_STYLE[engine]
            series = _plot.Series(
                f"measured crossover, {e['label']}", _plot.GREEN, "D", e["hollow"]
            )
            ax.plot([r["n"] for r in rows], [r["crossing"]["n"] for r in rows],
                    **{**series.markers(), "ls": e["ls"], "lw": 2})  # fmt: skip
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylim(edges[0], edges[-1])
    ax.set_xticks(sizes, [str(v) for v in sizes])
    ax.set_yticks(sizes, [str(v) for v in sizes])
    ax.minorticks_off()
    ax.grid(False)
    ax.set_xlabel("n, the number of inputs")
    ax.set_ylabel("m, the number of outputs")
    ax.set_title(f"The full Jacobian of a tanh MLP (hidden {data['params']['hidden']}) "
                 "from R^n to R^m: jacfwd ÷ jacrev")  # fmt: skip
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=3)


def _plot_detail(data: Mapping[str, Any], png_path: pathlib.Path) -> None:
    """The reference figure: every part but the plane, one panel each, none of them empty."""
    s = data["summary"]
    have = {p["part"] for p in data["points"]}
    rows = [
        [draw for part, draw in (("map", _plot_gradient), ("chain", _plot_depth),
                                 ("chain", _plot_memory)) if part in have],
        [draw for part, draw in (("eager", _plot_eager),) if part in have],
    ]  # fmt: skip
    if len(backend_runs(data)) > 1:
        rows[1].append(lambda ax, _: _plot_backends(ax, data))
    rows = [row for row in rows if row]
    if not rows:
        return
    fig = _plot.figure(17, 6.2 * len(rows))
    for sub, row in zip(np.atleast_1d(fig.subfigures(len(rows), 1)), rows, strict=True):
        for ax, draw in zip(np.atleast_1d(sub.subplots(1, len(row))), row, strict=True):
            draw(ax, s)
    title = "Forward and reverse mode in detail: the gradient, depth, memory, jit, backends"
    _plot.finish(fig, data, png_path, title, _sizes(data["params"]))


def _below(ax: Any, ncol: int = 2) -> None:
    """The panel's legend, under its x axis label: off the data."""
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=ncol)


def _plot_gradient(ax: Any, s: Mapping[str, Any]) -> None:
    cheap = s["cheap_gradient"]
    lo, hi = CHEAP_GRADIENT
    ax.axhspan(lo, hi, color=_plot.GREY, alpha=0.25, lw=0,
               label="Griewank & Walther's small constant")  # fmt: skip
    for engine in ENGINES:
        for method in ("grad", "jvp"):
            ax.plot(cheap["n"], cheap[engine][f"{method}_time"], **_style(engine, method))
    flops = _plot.Series("gradient, XLA FLOPs (JAX)", _plot.BLACK, "x")
    ax.plot(cheap["n"], cheap["jax"]["grad_flops"], **{**flops.markers(), "ls": ":"})
    ax.axhline(1, color=_plot.BLACK, lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("n, the number of inputs (m = 1 output)")
    ax.set_ylabel("time ÷ time of f")
    worst = cheap["verdict"]["worst_time"]
    ax.set_title(f"The cheap gradient: at most {worst:.1f} f in time")
    _below(ax)
    ax.set_ylim(0, hi + 1.5)


def _plot_eager(ax: Any, s: Mapping[str, Any]) -> None:
    e = s["eager"]
    for engine in ENGINES:
        for method in MAP_METHODS:
            ax.plot(e["n"], e[engine][method]["eager_over_jit"], **_style(engine, method))
    ax.axhline(1, color=_plot.BLACK, lw=0.8)
    ax.set_xscale("log", base=2)
    _plot.times_axis(ax)
    ax.set_xlabel("n = m")
    ax.set_ylabel("eager time ÷ jitted time")

    def span(i: int) -> str:
        r = [e[engine][m]["eager_over_jit"][i] for engine in ENGINES for m in MAP_METHODS]
        lo, hi = (f"{x:.0f}" if x >= 10 else f"{x:.1f}" for x in (min(r), max(r)))
        return f"{lo}–{hi}× at n = m = {e['n'][i]}"

    ax.set_title("Without jit: " + (span(0) if len(e["n"]) == 1 else f"{span(0)}, {span(-1)}"))
    _below(ax, ncol=4)


def _plot_depth(ax: Any, s: Mapping[str, Any]) -> None:
    d = s["depth"]
    for engine in ENGINES:
        for method in (*JAC, "planner"):
            ax.plot(d["L"], d[engine][method], **_style(engine, method))
    ax.set_xscale("log", base=2)
    _plot.times_axis(ax)
    ax.set_xticks(d["L"], [str(v) for v in d["L"]])
    ax.minorticks_off()
    ax.set_xlabel("L, the number of layers")
    ax.set_ylabel("time ÷ time of f")
    w = d["widths"]
    deep = [1 / x for L, x in zip(d["L"], d["jax"]["planner_speedup"], strict=True) if L >= 4]
    if deep:
        than = _plot.versus(deep, "the better of jacfwd and jacrev")
        ax.set_title(f"{w[0]} wide, {min(w)} in the middle, L ≥ 4:\nthe planner is {than}")
    else:
        ax.set_title(f"Depth: {w[0]} wide, {min(w)} in the middle")
    _below(ax)


def _plot_memory(ax: Any, s: Mapping[str, Any]) -> None:
    d = s["depth"]
    for engine in ENGINES:
        for method in ("jvp", "vjp"):
            ys = [b / 1e3 for b in d[engine]["temp_bytes"][method]]
            ax.plot(d["L"], ys, **_style(engine, method))
    ax.set_xscale("log", base=2)
    _plot.plain_log(ax)
    ax.set_xticks(d["L"], [str(v) for v in d["L"]])
    ax.set_xlabel("L, the number of layers")
    ax.set_ylabel("XLA temporary memory (kB)")
    g = d["memory_growth"]
    ax.set_title(
        f"From L = {d['L'][0]} to {d['L'][-1]}, reverse mode's memory grows {g['vjp']:.0f}×,\n"
        f"forward mode's {g['jvp']:.1f}×"
    )
    _below(ax)


def _plot_backends(ax: Any, data: Mapping[str, Any]) -> None:
    """The full Jacobian on the diagonal, JAX, per backend (drawn only when there are two)."""
    colors = [_plot.BLACK, _plot.ORANGE, _plot.PURPLE]
    markers = ["o", "s", "^"]
    largest = []
    for color, marker, (backend, run) in zip(colors, markers, backend_runs(data).items()):
        kind = run["meta"].get("device_kind", backend)
        diagonal = sorted(
            (p for p in run["points"] if p["part"] == "map" and p["n"] == p["m"]),
            key=lambda p: p["n"],
        )
        for method, ls in (("jacfwd", "-"), ("jacrev", "--")):
            series = _plot.Series(f"{method}, {kind}", color, marker, method == "jacrev")
            ys = [median_s(p, "jax", method) for p in diagonal]
            ax.plot([p["n"] for p in diagonal], ys, **{**series.markers(), "ls": ls})
        if diagonal:
            top = diagonal[-1]
            best = min(median_s(top, "jax", m) for m in JAC)
            largest.append(f"{_plot.si(best, 's')} on the {kind}")
            n = top["n"]
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("n = m")
    ax.set_ylabel("time of the full Jacobian (s), JAX")
    ax.set_title(f"At n = m = {n}, the faster Jacobian takes\n" + ", ".join(largest))
    _below(ax)


def _plot_devices(data: Mapping[str, Any], png_path: pathlib.Path) -> None:
    with _plot.style():
        s = data["summary"]["devices"]
        point = next(p for p in data["points"] if p["part"] == "devices")
        fig = _plot.figure(13, 5)
        ax_reduce, ax_error = fig.subplots(1, 2)
        runs = point["sharded"]["runs"]
        devices = s["devices"]
        keys = [(e, m) for e in ENGINES for m in ("grad", "hvp")]
        slots = _plot.offsets(len(keys), 0.5)
        colors = {"grad": _plot.BLUE, "hvp": _plot.ORANGE}
        by = {(r["devices"], r["engine"], r["method"]): r for r in runs}
        eps = point["sharded"]["eps"]
        for (engine, method), dx in zip(keys, slots, strict=True):
            e = ENGINE_STYLE[engine]
            xs = [i + dx for i in range(len(devices))]
            label = f"{'gradient' if method == 'grad' else 'HVP (fwd-over-rev)'}, {e['label']}"
            series = _plot.Series(
                label, colors[method], "o" if method == "grad" else "s", e["hollow"]
            )
            counts = [by[d, engine, method]["collectives"]["all-reduce"]["count"] for d in devices]
            ax_reduce.plot(xs, counts, **series.markers(9))
            errors = [by[d, engine, method]["max_rel_error"] / eps for d in devices]
            ax_error.plot(xs, errors, **series.markers(9, label=None))
        for ax in (ax_reduce, ax_error):
            ax.set_xticks(range(len(devices)), [str(d) for d in devices])
            ax.set_xlabel("devices (simulated CPU devices, batch sharded)")
        ax_reduce.set_ylabel("all-reduce operations\nin the compiled HLO")
        ax_reduce.yaxis.get_major_locator().set_params(integer=True)
        ax_reduce.set_ylim(-0.3, 1.5 * max(1, *s["all_reduces"]))
        reduces = " or ".join(map(str, s["all_reduces"])) or "no"
        ax_reduce.set_title(
            f"XLA inserts {reduces} all-reduce over the {s['n']:,} gradient entries"
        )
        ax_error.axhline(EQUAL_ULPS, color=_plot.BLACK, ls="--", lw=1)
        ax_error.text(len(devices) - 0.6, EQUAL_ULPS, f"tolerance: {EQUAL_ULPS} eps", ha="right",
                      va="bottom")  # fmt: skip
        ax_error.set_ylim(-0.5, EQUAL_ULPS * 1.25)
        ax_error.set_ylabel("largest |sharded − one device|\n÷ largest entry, in eps")
        worst = s["worst_rel_error"] / s["tolerance"] * EQUAL_ULPS
        ax_error.set_title(f"At most {worst:.1f} eps from one device's result")
        ax_error.legend(*ax_reduce.get_legend_handles_labels(), loc="upper left",
                        bbox_to_anchor=(1.01, 1))  # fmt: skip
        verdict = "equal" if s["equal"] else "do NOT equal"
        same = "JAX's collectives" if s["adlab_same_as_jax"] else "other collectives than JAX's"
        title = (
            f"Sharded over up to {max(devices)} devices, adlab's gradient and HVP {verdict} one "
            f"device's, with {same}"
        )
        sizes = (
            f"MLP width {point['sharded']['width']}, n = {s['n']:,} parameters, batch "
            f"{s['batch']} · {point['sharded']['dtype']} · simulated devices share 2 cores: "
            "no speed-up is measured"
        )
        _plot.finish(fig, data, png_path, title, sizes)


# ---- README ---------------------------------------------------------------------------------


def readme(data: Mapping[str, Any]) -> str:
    """The README section for this experiment, with every number read from its JSON."""
    s, params = data["summary"], data["params"]
    plane, adlab_plane = s["plane"]["jax"], s["plane"]["adlab"]
    sizes = params["sizes"]
    disagree = "; ".join(
        f"n = {d['n']}, m = {d['m']} (jacfwd ÷ jacrev = {d['ratio']:.2f})"
        for d in plane["model_disagrees"]
    )
    crossing = {r["n"]: r["crossing"] for r in plane["crossover"]["rows"]}
    cross_row = " | ".join(
        f"{crossing[n]['n']:.0f}" if crossing[n]["where"] == "between" else "–" for n in crossing
    )
    large = [n for n in crossing if n >= 256 and crossing[n]["where"] == "between"]
    large_dev = max((abs(crossing[n]["n"] / n - 1) for n in large), default=math.nan)
    diagonal = [d["ratio"] for d in plane["diagonal"] if d["n"] >= 64]
    one, cheap, depth, eager, dev = (
        s["one_pass"],
        s["cheap_gradient"],
        s["depth"],
        s["eager"],
        s["devices"],
    )
    verdict = cheap["verdict"]
    holds = {True: "**holds**", False: "**fails**"}
    d_jax = depth["jax"]
    # L >= 4: the chains deep enough to have layers on both sides of the bottleneck (a quick
    # run has none: then every L).
    deep = [i for i, n in enumerate(depth["L"]) if n >= 4] or list(range(len(depth["L"])))
    deep_from = depth["L"][deep[0]]
    speedups = [d_jax["planner_speedup"][i] for i in deep]
    models = [d_jax["model_speedup"][i] for i in deep]
    bytes_ratio = [d_jax["bytes_ratio"][i] for i in deep]
    fwd_rev = d_jax["fwd_over_rev"]
    growth = depth["memory_growth"]
    e_n = eager["n"]
    e_jvp, e_jax = eager["adlab"]["jvp"], eager["jax"]["jvp"]
    jvp_jit_us = e_jvp["overhead_s"][0] / (e_jvp["eager_over_jit"][0] - 1) * 1e6
    gpu = _readme_backends(data)
    return f"""### Forward against reverse mode (`python -m experiments scaling`)

![scaling](figures/scaling.png)

The figure above is the (n, m) plane; [the detail figure](figures/scaling_detail.png) shows the
cheap gradient, depth, memory, eager execution and the backends side by side.

The full Jacobian of f: R^n → R^m takes n JVPs by forward mode (`jacfwd`) and m VJPs by
reverse mode (`jacrev`). So the FLOP model says that forward mode wins where n < m, reverse
mode where n > m, and that they tie at n = m (Griewank & Walther, "Evaluating Derivatives",
2nd ed. 2008, chapters 3–4; Baydin et al., "Automatic differentiation in machine learning: a
survey", JMLR 2018). Here f is a tanh MLP with one hidden layer of {params["hidden"]}, from n
inputs to m outputs, n, m ∈ {{{", ".join(map(str, sizes))}}}. Every program, of both engines,
is jitted and timed in {params["rounds"]} interleaved rounds, with JAX's `jacrev` timed twice
as an A/A control: its median is {s["plane"]["control"]["median"]:.2f}, at most
{100 * s["plane"]["control"]["max_distance_from_1_slow"]:.0f}% from 1 at the points where
`jacrev` takes ≥ 1 ms, and up to {100 * s["plane"]["control"]["max_distance_from_1"]:.0f}% at
the microsecond points: the machine is shared, and a ratio is read against that noise.

- **The FLOP model picks the faster Jacobian** at {plane["model_agrees"]} of
  {plane["off_diagonal"]} off-diagonal points with JAX ({adlab_plane["model_agrees"]} with
  adlab); {_plot.plural(len(plane["ties"]), "is a tie", "are ties")} (within {100 * TIE:.0f}%, or
  within the point's A/A distance where that is larger){
        f", and it is wrong at {disagree}" if disagree else ", and it is never wrong"
    }. Away from the diagonal the margins are large: forward mode wins by
  {plane["fwd_best"]["factor"]:.0f}× at n = {plane["fwd_best"]["n"]}, m =
  {plane["fwd_best"]["m"]}, reverse mode by {plane["rev_best"]["factor"]:.0f}× at n =
  {plane["rev_best"]["n"]}, m = {plane["rev_best"]["m"]}.
- **Where they cross.** For each n, the m at which `jacrev` starts to cost more than
  `jacfwd` (interpolated between grid points, JAX):

  | n | {" | ".join(str(n) for n in crossing)} |
  |---|{"---|" * len(crossing)}
  | crossing m | {cross_row} |

  The median of m / n is {_factor(plane["crossover"])} with JAX and
  {_factor(adlab_plane["crossover"])} with adlab; the model says 1, and XLA's FLOP counts
  cross at {_factor(plane["flops_crossover"])}. From n = 256 up the measured crossing is
  within {100 * large_dev:.0f}% of the diagonal. Below, the programs take tens of
  microseconds, paid in per-call costs rather than arithmetic, and the crossing wanders. On
  the diagonal XLA counts the same FLOPs, bytes and memory for both, and for
  n ≥ 64 their times differ by {100 * max(abs(r - 1) for r in diagonal):.0f}% at most: with one
  hidden layer, reverse mode's tape (the hidden layer's tanh derivatives) is small.
- **One pass.** Over the plane one JVP costs {one["jax"]["jvp"]["time"]["median"]:.2f} f
  (median; {one["jax"]["jvp"]["time"]["min"]:.2f}–{one["jax"]["jvp"]["time"]["max"]:.2f}) and
  one VJP {one["jax"]["vjp"]["time"]["median"]:.2f} f
  ({one["jax"]["vjp"]["time"]["min"]:.2f}–{one["jax"]["vjp"]["time"]["max"]:.2f}) with JAX;
  {one["adlab"]["jvp"]["time"]["median"]:.2f} and {one["adlab"]["vjp"]["time"]["median"]:.2f}
  with adlab. In XLA's FLOPs both are {one["jax"]["jvp"]["flops"]["min"]:.1f}–
  {one["jax"]["jvp"]["flops"]["max"]:.1f} f. One evaluation of f takes at most
  {one["largest"]["f_s"] * 1e6:.0f} µs here: these are matrix-vector products, bound by memory
  and call overhead.
- **The cheap gradient** (Griewank & Walther, chapter 4: a gradient costs a small constant
  times f, 3 to 5 as usually quoted, whatever n): {holds[verdict["holds"]]}. At m = 1 the
  gradient costs at most {verdict["worst_time"]:.1f} f in time and
  {verdict["worst_flops"]:.1f} f in XLA's FLOPs, for n up to {cheap["n"][-1]}.
- **Depth.** A chain of L dense tanh layers, {depth["widths"][0]} wide with a
  {min(depth["widths"])}-wide layer in the middle (an autoencoder's shape), L ∈
  {{{", ".join(map(str, depth["L"]))}}}. `jacfwd` and `jacrev` cost the same FLOPs here
  (n = m), and jacfwd ÷ jacrev stays within {min(fwd_rev):.2f}–{max(fwd_rev):.2f}. adlab's chain
  planner (`adlab.chain`, after Naumann 2020) sweeps adjoints through the layers below the
  bottleneck and tangents through those above it, `(tan{{J{depth["L"][-1]} …}} adj{{… J1}})`,
  {_plot.versus([1 / x for x in speedups], "the better of the two")} for L ≥ {
        deep_from
    }. The FLOP model predicts {min(models):.0f}–{max(models):.0f}×, XLA's bytes accessed
  {min(bytes_ratio):.1f}–{max(bytes_ratio):.1f}×. The measurement falls between the two: with
  only {min(depth["widths"])} vectors a sweep reads each layer's weights for few FLOPs, so it is
  bound by memory traffic more than by arithmetic. Reverse mode's
  temporary memory grows {growth["vjp"]:.0f}× from L = {depth["L"][0]} to {depth["L"][-1]}
  ({growth["vjp_bytes"][0] / 1e3:.0f} kB to {growth["vjp_bytes"][1] / 1e3:.0f} kB): the tape
  keeps every layer's residuals. Forward mode's grows {growth["jvp"]:.1f}×.
- **Eager.** Without jit every operation is dispatched from Python. adlab's JVP at n = m =
  {e_n[0]} takes {e_jvp["overhead_s"][0] * 1e3:.1f} ms more eagerly than jitted
  ({e_jvp["eager_over_jit"][0]:.0f}× its jitted {jvp_jit_us:.0f} µs); JAX's takes
  {e_jax["overhead_s"][0] * 1e3:.1f} ms more ({e_jax["eager_over_jit"][0]:.0f}×). adlab walks
  the jaxpr in Python on top of JAX's own dispatch. At n = m = {e_n[-1]} the arithmetic takes
  over: eager costs {e_jvp["eager_over_jit"][-1]:.1f}× jitted for adlab's JVP,
  {e_jax["eager_over_jit"][-1]:.1f}× for JAX's.
{_readme_devices(dev)}
{gpu}"""


def _factor(crossover: Mapping[str, Any]) -> str:
    """The median m / n of a crossover, or a dash where no row crossed."""
    factor = crossover["factor"]
    return "– (no crossing measured)" if factor is None else f"{factor:.2f}"


def _readme_devices(dev: Mapping[str, Any] | None) -> str:
    if not dev:
        return "- **Many devices.** Not measured in this run."
    return f"""- **Many devices** (below). The MLP's gradient and HVP (fwd-over-rev), with the batch
  of {dev["batch"]} sharded over {", ".join(map(str, dev["devices"]))} simulated CPU devices
  (`jax.sharding.Mesh` and `NamedSharding`; XLA's SPMD partitioner does the rest) are
  {"equal" if dev["equal"] else "**not** equal"} to one device's: at most
  {dev["worst_rel_error"] / dev["tolerance"] * EQUAL_ULPS:.1f} eps of the largest entry apart,
  from summing the batch in another order. XLA inserted {
        " or ".join(map(str, dev["all_reduces"]))
    } all-reduce per program (of the {dev["n"]:,} gradient entries), the same for adlab's
  programs as for JAX's{"" if dev["adlab_same_as_jax"] else " (**not**: they differ)"}. The
  simulated devices share 2 cores, so no speed-up is claimed.

  ![scaling devices](figures/scaling_devices.png)"""


def _readme_backends(data: Mapping[str, Any]) -> str:
    runs = backend_runs(data)
    others = {b: r for b, r in runs.items() if b != "cpu"}
    if not others:
        return (
            "- **GPU.** No GPU run exists yet: no machine with a GPU was available to these runs. "
            "On one, `python -m experiments scaling --device gpu` (with this JSON in figures/) "
            "or `python -m experiments.merge` adds its points beside the CPU's."
        )
    lines = ["- **Backends.** Absolute times of the full Jacobian on the diagonal (JAX):", ""]
    lines.append("  | backend | device | n = m | jacfwd | jacrev | jacfwd ÷ jacrev |")
    lines.append("  |---|---|---|---|---|---|")
    for backend, run in runs.items():
        kind = run["meta"].get("device_kind", backend)
        for p in sorted(run["points"], key=lambda p: p.get("n", 0)):
            if p["part"] == "map" and p["n"] == p["m"] and p["n"] >= 256:
                fwd, rev = median_s(p, "jax", "jacfwd"), median_s(p, "jax", "jacrev")
                lines.append(
                    f"  | {backend} | {kind} | {p['n']} | {_plot.si(fwd, 's')} | "
                    f"{_plot.si(rev, 's')} | {fwd_over_rev(p, 'jax'):.2f} |"
                )
    lines.append("")
    cpu_times = [
        median_s(p, "jax", m)
        for p in runs.get("cpu", {"points": []})["points"]
        if p["part"] == "map" and p["n"] == p["m"]
        for m in ("jacfwd", "jacrev")
    ] or [float("nan")]
    for backend, run in others.items():
        kind = run["meta"].get("device_kind", backend)
        diagonal = [p for p in run["points"] if p["part"] == "map" and p["n"] == p["m"]]
        times = [median_s(p, "jax", m) for p in diagonal for m in ("jacfwd", "jacrev")]
        ties = len(run["summary"]["plane"]["jax"]["ties"])
        lines.append(
            f"  On the {kind} (jax {run['meta'].get('jax', '?')}): "
            f"{headline({**data, **run})}; {ties} points are ties (within 10%). Every "
            f"Jacobian on the diagonal takes {_plot.si(min(times), 's')}–"
            f"{_plot.si(max(times), 's')} there from n = 1 to 4096 (on the CPU "
            f"{_plot.si(min(cpu_times), 's')}–{_plot.si(max(cpu_times), 's')}): until the "
            "matrices are large the GPU's time goes to launching kernels, not to arithmetic, so "
            "the FLOP count decides less there than on the CPU."
        )
    return "\n".join(lines)
