"""cnn: what adlab's gradient of a small CNN costs, jitted and eager, beside JAX's.

The loss is `_models.cnn`: two 3x3 convolutions with relu and average pooling, max pooling, a
dense head and integer-label cross-entropy (`conv_general_dilated`, `reduce_window_sum`,
`reduce_window_max` and `gather` on the differentiated path). For each image size, the
gradient by adlab's reverse mode and by JAX's runs jitted (compiled once; XLA's FLOPs and
memory read from that executable) and eager, in interleaved rounds (the jitted ones apart
from the eager ones), with JAX's jitted gradient timed twice as an A/A control. The target,
as for the MLP: under jit, adlab's gradient costs what JAX's does, within noise, with the
same XLA FLOPs.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp

import adlab
from experiments import _models, _plot
from experiments._common import read_json, run_sweep
from experiments._compiled import compile_all, median_s, ratio, time_rounds, where_measured

NAME = "cnn"

DEFAULT = {
    "sizes": [16, 32],  # image height and width
    "batch": 16,
    "channels": [3, 8, 16],
    "dtype": "float32",
    "seed": 0,
    "rounds": 15,
    "eager_rounds": 5,
    "min_sample_s": 0.004,
}
QUICK = {
    **DEFAULT, "sizes": [8, 16], "batch": 4, "rounds": 3, "eager_rounds": 2, "min_sample_s": 0.001
}  # fmt: skip

ENGINES = {"adlab": adlab, "jax": adlab.reference}
CONTROL = "jax/jit (A/A)"
SAME = 0.05  # "equal within noise": within 5%, or the A/A control's distance if larger
SAME_FLOPS = 0.01  # "the same XLA FLOPs": within 1% (the rules of pooling differ from JAX's)


def measure(point: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """The four gradients of one image size: each engine, jitted and eager."""
    loss = _models.cnn(
        point["size"], jax.random.key(params["seed"]), jnp.dtype(params["dtype"]),
        batch=params["batch"], channels=tuple(params["channels"]),
    )  # fmt: skip
    programs = {f"{e}/jit": (impl.grad(loss.fun), (loss.theta,)) for e, impl in ENGINES.items()}
    calls, found = compile_all(programs)
    calls[CONTROL] = calls["jax/jit"]
    time_rounds(calls, found, params["rounds"], params["min_sample_s"])
    # Eager calls run in rounds of their own: tens of milliseconds of Python dispatch
    # between two jitted calls would disturb the jitted comparison.
    eager = {f"{e}/eager": (impl.grad(loss.fun), (loss.theta,)) for e, impl in ENGINES.items()}
    time_rounds(eager, found, params["eager_rounds"], params["min_sample_s"])
    return {"n": loss.n, **where_measured(), "programs": found}


def run(out_dir: pathlib.Path, quick: bool = False) -> pathlib.Path:
    """Runs the sweep (resuming an interrupted run) and stores the summary in the JSON."""
    params = QUICK if quick else DEFAULT
    grid = [{"size": s} for s in params["sizes"]]
    return run_sweep(
        NAME, out_dir, params, grid, lambda p: measure(p, params),
        describe=describe, summarize=summary, quick=quick,
    )  # fmt: skip


def describe(point: Mapping[str, Any]) -> str:
    """One self-describing line per finished point."""
    return (
        f"{NAME} | size={point['size']} n={point['n']} "
        f"jit adlab/JAX={ratio(point, 'adlab/jit', 'jax/jit'):.3f} "
        f"A/A={ratio(point, CONTROL, 'jax/jit'):.3f} "
        f"eager adlab/JAX={ratio(point, 'adlab/eager', 'jax/eager'):.2f}"
    )


def summary(data: Mapping[str, Any]) -> dict[str, Any]:
    """Per size: the time ratios, the A/A control, XLA's FLOPs and memory; and the verdict."""
    rows = []
    for p in data["points"]:
        ours, theirs = p["programs"]["adlab/jit"], p["programs"]["jax/jit"]
        rows.append(
            {
                "size": p["size"],
                "n": p["n"],
                "jit_s": {e: median_s(p, f"{e}/jit") for e in ENGINES},
                "eager_s": {e: median_s(p, f"{e}/eager") for e in ENGINES},
                "jit_ratio": ratio(p, "adlab/jit", "jax/jit"),
                "eager_ratio": ratio(p, "adlab/eager", "jax/eager"),
                "control": ratio(p, CONTROL, "jax/jit"),
                "flops_ratio": ours["xla_flops"] / theirs["xla_flops"],
                "temp_ratio": (ours["temp_bytes"] or 0) / max(theirs["temp_bytes"] or 0, 1),
            }
        )
    same = all(
        abs(r["jit_ratio"] - 1) <= max(SAME, abs(r["control"] - 1))
        and abs(r["flops_ratio"] - 1) <= SAME_FLOPS
        for r in rows
    )
    return {"rows": rows, "same_as_jax": same}


def headline(data: Mapping[str, Any]) -> str:
    """The one-line finding, for the end-of-run summary."""
    rows = data["summary"]["rows"]
    return (
        f"CNN gradient, jitted: adlab's is {_versus(rows, 'jit_ratio')}; eager: "
        f"{_versus(rows, 'eager_ratio')} (sizes {data['params']['sizes']})"
    )


def _versus(rows: Sequence[Mapping[str, Any]], key: str) -> str:
    return _plot.versus([r[key] for r in rows], "JAX's")


def _title(s: Mapping[str, Any]) -> str:
    return f"Jitted, adlab's CNN gradient is {_versus(s['rows'], 'jit_ratio')}"


def plot(json_path: pathlib.Path, png_path: pathlib.Path) -> None:
    """Left (the finding): adlab ÷ JAX per image size, with the A/A. Right: the times."""
    data = read_json(json_path)
    s = data["summary"]
    rows = s["rows"]
    sizes = [r["size"] for r in rows]
    labels = [f"{v}×{v}" for v in sizes]
    style = {
        ("adlab", "jit"): _plot.Series("adlab, jitted", _plot.BLUE, "o"),
        ("jax", "jit"): _plot.Series("JAX, jitted", _plot.BLUE, "s", hollow=True),
        ("adlab", "eager"): _plot.Series("adlab, eager", _plot.VERMILLION, "o"),
        ("jax", "eager"): _plot.Series("JAX, eager", _plot.VERMILLION, "s", hollow=True),
    }
    with _plot.style():
        fig = _plot.figure(12, 5.4)
        ax_ratio, ax_time = fig.subplots(1, 2, width_ratios=[1.4, 1])
        for key, series in (
            ("jit_ratio", _plot.Series("jitted", _plot.BLUE, "o")),
            ("eager_ratio", _plot.Series("eager", _plot.VERMILLION, "D")),
            ("control", _plot.Series("A/A control (JAX jitted ÷ itself)", _plot.GREY, "x")),
        ):
            ax_ratio.plot(sizes, [r[key] for r in rows], **{**series.markers(9), "ls": "-"})
        _plot.versus_axis(
            ax_ratio, [r[k] for r in rows for k in ("jit_ratio", "eager_ratio", "control")]
        )
        ax_ratio.set_title("adlab ÷ JAX, per image size")
        for (engine, how), series in style.items():
            ys = [r[f"{how}_s"][engine] * 1e3 for r in rows]
            ax_time.plot(
                sizes, ys, **{**series.markers(), "ls": "-" if engine == "adlab" else "--"}
            )
        _plot.plain_log(ax_time)
        ax_time.set_ylabel("time of one gradient (ms)")
        slow = [r["eager_s"][e] / r["jit_s"][e] for r in rows for e in ("adlab", "jax")]
        ax_time.set_title(f"Eager takes {min(slow):.0f}–{max(slow):.0f}× the jitted time")
        for ax in (ax_ratio, ax_time):
            ax.set_xticks(sizes, labels)
            ax.set_xlabel(f"image size (batch {data['params']['batch']})")
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
        sizes_text = (
            f"sizes {sizes}, batch {data['params']['batch']}, channels "
            f"{data['params']['channels']} · {data['params']['dtype']} · medians of "
            f"{data['params']['rounds']} interleaved rounds "
            f"(eager: {data['params']['eager_rounds']})"
        )
        _plot.finish(fig, data, png_path, _title(s), sizes_text)


def readme(data: Mapping[str, Any]) -> str:
    """The README section for this experiment, with every number read from its JSON."""
    s = data["summary"]
    lines = [
        "| image size | parameters | adlab jitted | JAX jitted | adlab ÷ JAX | A/A | XLA FLOPs "
        "ratio | adlab eager | JAX eager |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in s["rows"]:
        lines.append(
            f"| {r['size']}×{r['size']} | {r['n']:,} | {_plot.si(r['jit_s']['adlab'], 's')} | "
            f"{_plot.si(r['jit_s']['jax'], 's')} | {r['jit_ratio']:.2f} | {r['control']:.2f} | "
            f"{r['flops_ratio']:.3f} | {_plot.si(r['eager_s']['adlab'], 's')} | "
            f"{_plot.si(r['eager_s']['jax'], 's')} |"
        )
    table = "\n".join(lines)
    verdict = "**holds**" if s["same_as_jax"] else "**fails**"
    p = data["params"]
    return f"""### A small CNN (`python -m experiments cnn`)

![cnn](figures/cnn.png)

The gradient of a small CNN (two 3x3 convolutions of {p["channels"][1]} and
{p["channels"][2]} channels with relu and average pooling, max pooling, a dense head and
integer-label cross-entropy; batch {p["batch"]}, {p["dtype"]}), by adlab and by JAX, jitted
and eager. The jitted gradients are timed in {p["rounds"]} interleaved rounds, with JAX's twice
as an A/A control, and the eager ones in {p["eager_rounds"]} rounds of their own:

{table}

Jitted, adlab's gradient is {_versus(s["rows"], "jit_ratio")}; eager, it is
{_versus(s["rows"], "eager_ratio")}.
"Under jit, adlab's gradient costs what JAX's does, with the same XLA FLOPs" {verdict}: the
times within 5% (or the A/A distance where larger), the FLOPs within 1%. Max pooling is
differentiated with JAX's own `select_and_scatter_add`, which picks each window's maximum
inside one operation; the rest of the program comes from adlab's own rules, so XLA may
compile a slightly different program. Eager, adlab walks the jaxpr in Python on top of
JAX's own dispatch of every operation."""
