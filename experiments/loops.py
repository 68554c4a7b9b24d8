"""loops: what adlab's gradient through `lax.scan` costs under jit, beside JAX's.

The losses are `_models.rnn`: an Elman RNN and an LSTM run over a sequence with `lax.scan`.
adlab differentiates the scan without unrolling it: a forward scan stacks each step's
residuals and a backward scan runs the body's backward sweep over them (`adlab/control.py`).
For each network and sequence length, the gradient by adlab and by JAX is compiled once
(XLA's FLOPs and memory read from that executable, and the size of the lowered program
counted) and timed in interleaved rounds, JAX's twice as an A/A control. The targets: the
same cost as JAX's within noise, the same XLA FLOPs, and a compiled program whose size does
not grow with the number of steps.

XLA's cost analysis counts a loop's body once, whatever its trip count, so the FLOPs
compared are those of one step of each sweep plus what lies outside the loops.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import adlab
from experiments import _models, _plot
from experiments._common import read_json, run_sweep
from experiments._compiled import compile_all, median_s, ratio, time_rounds, where_measured

NAME = "loops"

DEFAULT = {
    "kinds": ["elman", "lstm"],
    "steps": [100, 300, 1000, 3000],
    "batch": 16,
    "hidden": 32,
    "inputs": 8,
    "dtype": "float32",
    "seed": 0,
    "rounds": 15,
    "min_sample_s": 0.004,
}
QUICK = {**DEFAULT, "steps": [10, 30], "hidden": 8, "rounds": 3, "min_sample_s": 0.001}

ENGINES = {"adlab": adlab, "jax": adlab.reference}
CONTROL = "jax (A/A)"
SAME = 0.05  # "equal within noise": within 5%, or the A/A control's distance if larger
SAME_FLOPS = 0.03  # "the same XLA FLOPs": within 3% (adlab's body differs a little)


def measure(point: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """Both engines' jitted gradients of one network at one sequence length."""
    loss = _models.rnn(
        point["kind"], point["steps"], jax.random.key(params["seed"]), jnp.dtype(params["dtype"]),
        hidden=params["hidden"], inputs=params["inputs"], batch=params["batch"],
    )  # fmt: skip
    grads = {e: impl.grad(loss.fun) for e, impl in ENGINES.items()}
    calls, found = compile_all({e: (g, (loss.theta,)) for e, g in grads.items()})
    for engine, grad in grads.items():
        found[engine]["hlo_lines"] = len(jax.jit(grad).lower(loss.theta).as_text().splitlines())
    ours, theirs = (np.asarray(calls[e][0](*calls[e][1])) for e in ENGINES)
    calls[CONTROL] = calls["jax"]
    time_rounds(calls, found, params["rounds"], params["min_sample_s"])
    scale = float(np.max(np.abs(theirs)))
    return {
        "n": loss.n,
        **where_measured(),
        "max_relative_difference": float(np.max(np.abs(ours - theirs))) / scale,
        "programs": found,
    }


def run(out_dir: pathlib.Path, quick: bool = False) -> pathlib.Path:
    """Runs the sweep (resuming an interrupted run) and stores the summary in the JSON."""
    params = QUICK if quick else DEFAULT
    grid = [{"kind": k, "steps": s} for k in params["kinds"] for s in params["steps"]]
    return run_sweep(
        NAME, out_dir, params, grid, lambda p: measure(p, params),
        describe=describe, summarize=summary, quick=quick,
    )  # fmt: skip


def describe(point: Mapping[str, Any]) -> str:
    """One self-describing line per finished point."""
    return (
        f"{NAME} | {point['kind']} steps={point['steps']} "
        f"adlab/JAX={ratio(point, 'adlab', 'jax'):.3f} A/A={ratio(point, CONTROL, 'jax'):.3f} "
        f"HLO lines {point['programs']['adlab']['hlo_lines']} vs "
        f"{point['programs']['jax']['hlo_lines']}"
    )


def summary(data: Mapping[str, Any]) -> dict[str, Any]:
    """Per point: times, ratios, XLA FLOPs and memory, program size; and the verdicts."""
    rows = []
    for p in data["points"]:
        ours, theirs = p["programs"]["adlab"], p["programs"]["jax"]
        rows.append(
            {
                "kind": p["kind"],
                "steps": p["steps"],
                "n": p["n"],
                "time_s": {e: median_s(p, e) for e in ENGINES},
                "ratio": ratio(p, "adlab", "jax"),
                "control": ratio(p, CONTROL, "jax"),
                "flops_ratio": ours["xla_flops"] / theirs["xla_flops"],
                "temp_ratio": (ours["temp_bytes"] or 0) / max(theirs["temp_bytes"] or 0, 1),
                "hlo_lines": {e: p["programs"][e]["hlo_lines"] for e in ENGINES},
                "max_relative_difference": p["max_relative_difference"],
            }
        )
    at_most = all(r["ratio"] <= 1 + max(SAME, abs(r["control"] - 1)) for r in rows)
    same_flops = all(abs(r["flops_ratio"] - 1) <= SAME_FLOPS for r in rows)
    constant = all(
        len({r["hlo_lines"][e] for r in rows if r["kind"] == kind}) == 1
        for kind in {r["kind"] for r in rows}
        for e in ENGINES
    )
    return {
        "rows": rows,
        "at_most_jax": at_most,
        "same_flops": same_flops,
        "constant_program": constant,
        "ratio_range": [min(r["ratio"] for r in rows), max(r["ratio"] for r in rows)],
        "temp_ratio_range": [
            min(r["temp_ratio"] for r in rows),
            max(r["temp_ratio"] for r in rows),
        ],
    }


def headline(data: Mapping[str, Any]) -> str:
    """The one-line finding, for the end-of-run summary."""
    s = data["summary"]
    return (
        f"scan gradient under jit: adlab's is {_versus(s)}; program size constant in the "
        f"steps: {'yes' if s['constant_program'] else 'no'}"
    )


def _versus(s: Mapping[str, Any]) -> str:
    return _plot.versus([r["ratio"] for r in s["rows"]], "JAX's")


KIND_STYLE = {"elman": (_plot.BLUE, "o"), "lstm": (_plot.VERMILLION, "s")}


def plot(json_path: pathlib.Path, png_path: pathlib.Path) -> None:
    """Left (the finding): adlab ÷ JAX per length, with the A/A. Right: the times."""
    data = read_json(json_path)
    s = data["summary"]
    with _plot.style():
        fig = _plot.figure(12, 5.4)
        ax_ratio, ax_time = fig.subplots(1, 2, width_ratios=[1.4, 1])
        for kind, (color, marker) in KIND_STYLE.items():
            rows = [r for r in s["rows"] if r["kind"] == kind]
            if not rows:
                continue
            steps = [r["steps"] for r in rows]
            series = _plot.Series(f"{kind}: adlab ÷ JAX", color, marker)
            ax_ratio.plot(steps, [r["ratio"] for r in rows], **{**series.markers(9), "ls": "-"})
            control = _plot.Series(f"{kind}: A/A control", _plot.GREY, marker, hollow=True)
            ax_ratio.plot(steps, [r["control"] for r in rows], **{**control.markers(), "ls": ":"})
            for engine, ls, hollow in (("adlab", "-", False), ("JAX", "--", True)):
                series = _plot.Series(f"{kind}, {engine}", color, marker, hollow=hollow)
                ys = [r["time_s"][engine.lower()] * 1e3 for r in rows]
                ax_time.plot(steps, ys, **{**series.markers(), "ls": ls})
        _plot.versus_axis(ax_ratio, [r[k] for r in s["rows"] for k in ("ratio", "control")])
        ax_ratio.set_title("adlab ÷ JAX, per sequence length")
        steps = sorted({r["steps"] for r in s["rows"]})
        for ax in (ax_ratio, ax_time):
            ax.set_xscale("log")
            ax.set_xticks(steps, [str(n) for n in steps])
            ax.minorticks_off()
            ax.set_xlabel("sequence length (scan steps)")
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
        _plot.plain_log(ax_time)
        ax_time.set_ylabel("time of one jitted gradient (ms)")
        ax_time.set_title(_growth(s["rows"]))
        title = f"Jitted, adlab's gradient through lax.scan is {_versus(s)}"
        p = data["params"]
        sizes_text = (
            f"hidden {p['hidden']}, inputs {p['inputs']}, batch {p['batch']} · {p['dtype']} · "
            f"medians of {p['rounds']} interleaved rounds"
        )
        _plot.finish(fig, data, png_path, title, sizes_text)


def _growth(rows: Sequence[Mapping[str, Any]]) -> str:
    """How time grows with the steps: the exponents k of time ∝ steps^k, fitted log-log."""
    ks = []
    for kind in sorted({r["kind"] for r in rows}):
        mine = [r for r in rows if r["kind"] == kind]
        if len(mine) > 1:
            for engine in ENGINES:
                x = np.log([r["steps"] for r in mine])
                y = np.log([r["time_s"][engine] for r in mine])
                ks.append(float(np.polyfit(x, y, 1)[0]))
    if not ks:
        return "Time of one gradient"
    span = (
        f"{min(ks):.2f}" if f"{min(ks):.2f}" == f"{max(ks):.2f}" else f"{min(ks):.2f}–{max(ks):.2f}"
    )
    return f"Time ∝ steps$^k$, k = {span} (1: linear)"


def readme(data: Mapping[str, Any]) -> str:
    """The README section for this experiment, with every number read from its JSON."""
    s = data["summary"]
    lines = [
        "| network | steps | parameters | adlab | JAX | adlab ÷ JAX | A/A | XLA FLOPs ratio "
        "| temporary memory ratio | program lines (adlab, JAX) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in s["rows"]:
        lines.append(
            f"| {r['kind']} | {r['steps']} | {r['n']:,} | {_plot.si(r['time_s']['adlab'], 's')} | "
            f"{_plot.si(r['time_s']['jax'], 's')} | {r['ratio']:.2f} | {r['control']:.2f} | "
            f"{r['flops_ratio']:.3f} | {r['temp_ratio']:.2f} | "
            f"{r['hlo_lines']['adlab']}, {r['hlo_lines']['jax']} |"
        )
    table = "\n".join(lines)
    p = data["params"]
    tlo, thi = s["temp_ratio_range"]
    yes = lambda ok: "**holds**" if ok else "**fails**"  # noqa: E731
    return f"""### Gradients through `lax.scan` (`python -m experiments loops`)

![loops](figures/loops.png)

The gradient of an Elman RNN and an LSTM (hidden {p["hidden"]}, inputs {p["inputs"]}, batch
{p["batch"]}, {p["dtype"]}) run over a sequence with `lax.scan`, by adlab and by JAX, jitted and
timed in {p["rounds"]} interleaved rounds with JAX's twice as an A/A control:

{table}

* Jitted, adlab's scan gradient is {_versus(s)}. "Under jit, adlab's scan gradient costs what
  JAX's does" {yes(s["at_most_jax"])} as "at most" (within 5%, or the A/A distance where
  larger). adlab's temporary memory is {tlo:.2f}–{thi:.2f} of JAX's.
* "The same XLA FLOPs" (within 3%) {yes(s["same_flops"])}. XLA counts a loop's body once, so
  these are the FLOPs of one step of each sweep.
* "The compiled program does not grow with the number of steps" {yes(s["constant_program"])}:
  the lowered program has the same number of lines at every length."""
