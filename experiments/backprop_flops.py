"""backprop_flops: is the backward pass of a 2-layer linear net exactly 2x its forward?

The article "Backpropagation: From Intuition to FLOPs" takes H1 = X W1, H2 = H1 W2,
loss = mean(H2^2) with X: BxD, W1: DxD, W2: DxC and counts matrix-multiply FLOPs by hand:

- forward:                       2BDD + 2BDC
- backward (dW2, dH1, dW1, dX):  4BDC + 4BDD   = exactly 2x the forward
- backward without dX:           4BDC + 2BDD

For a sweep of (B, D, C) this experiment puts side by side (1) the article's formulas, (2)
`adlab.cost.count` on the forward and on the pullbacks of `adlab.vjp` and `jax.vjp`, split
into matmul FLOPs and the loss's elementwise FLOPs, and (3) XLA's `cost_analysis` of the
compiled programs. It also measures, interleaved with the forward, the time ratios
backward/forward and grad/forward (the "cheap gradient" ratio, which Griewank & Walther bound
by a small constant) for adlab and for JAX, all under `jax.jit`.
"""

from __future__ import annotations

import dataclasses
import pathlib
import statistics
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import adlab
from adlab import bench, cost
from experiments import _plot
from experiments._common import read_json, run_sweep

NAME = "backprop_flops"

# ---- constants ------------------------------------------------------------------------------
DEFAULT = {
    "grid": [[b, d, c] for b in (64, 512) for d in (256, 1024) for c in (16, 256, 1024)],
    "dtype": "float32",
    "seed": 0,
    "pairs": 15,  # interleaved (backward, forward) timing pairs per ratio
    "min_sample_s": 0.002,
}
QUICK = {**DEFAULT, "grid": [[16, 32, 4], [16, 32, 32], [16, 32, 128]], "pairs": 3}

IMPLS = {"adlab": adlab, "jax": adlab.reference}
KINDS = ("bwd", "bwd_params", "grad")  # what is compared with the forward pass
LARGE_FWD_FLOPS = 1e8  # points above this are compute-bound enough to quote timing ratios


def loss(X: jax.Array, W1: jax.Array, W2: jax.Array) -> jax.Array:
    """The article's model and loss.

    Args:
      X: inputs, B x D.
      W1: first layer, D x D.
      W2: second layer, D x C.

    Returns:
      mean((X W1 W2)^2), a scalar.
    """
    H1 = X @ W1
    H2 = H1 @ W2
    return jnp.mean(H2**2)


def formulas(B: int, D: int, C: int) -> dict[str, int]:
    """The article's hand-counted matmul FLOPs.

    Args:
      B: batch size.
      D: input and hidden width.
      C: number of outputs.

    Returns:
      {"fwd": 2BDD + 2BDC, "bwd": 4BDC + 4BDD, "bwd_params": 4BDC + 2BDD}.
    """
    return {
        "fwd": 2 * B * D * D + 2 * B * D * C,
        "bwd": 4 * B * D * C + 4 * B * D * D,
        "bwd_params": 4 * B * D * C + 2 * B * D * D,
    }


def programs(impl: Any, X: jax.Array, W1: jax.Array, W2: jax.Array) -> dict[str, tuple]:
    """The three programs compared with the forward pass, as `(function, args)`.

    Args:
      impl: `adlab` or `adlab.reference` (JAX).
      X, W1, W2: the point.

    Returns:
      "bwd": the pullback w.r.t. (X, W1, W2) alone; "bwd_params": the pullback w.r.t.
      (W1, W2) alone (no dX); "grad": the full gradient w.r.t. (X, W1, W2), forward included.
    """
    out, pullback = impl.vjp(loss, X, W1, W2)
    out_params, pullback_params = impl.vjp(lambda w1, w2: loss(X, w1, w2), W1, W2)
    return {
        "bwd": (pullback, (jnp.ones_like(out),)),
        "bwd_params": (pullback_params, (jnp.ones_like(out_params),)),
        "grad": (impl.grad(loss, argnums=(0, 1, 2)), (X, W1, W2)),
    }


def _counted(fun: Callable[..., Any], args: tuple) -> dict[str, int]:
    c = cost.count(fun, *args)
    dot = c.by_primitive.get("dot_general", cost.Tally()).flops
    return {"dot": dot, "other": c.flops - dot, "total": c.flops, "bytes": c.bytes}


def measure(point: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """Counts, compiles and times one (B, D, C) point.

    Args:
      point: {"B": ..., "D": ..., "C": ...}.
      params: the experiment parameters (dtype, seed, pairs, min_sample_s).

    Returns:
      The point's results: formula, count, xla and time sections.
    """
    B, D, C = point["B"], point["D"], point["C"]
    dtype = jnp.dtype(params["dtype"])
    kx, k1, k2 = jax.random.split(jax.random.key(params["seed"]), 3)
    X = jax.random.normal(kx, (B, D), dtype)
    W1 = jax.random.normal(k1, (D, D), dtype) / D**0.5
    W2 = jax.random.normal(k2, (D, C), dtype) / D**0.5
    primals = (X, W1, W2)
    fwd = jax.jit(loss)
    counted: dict[str, Any] = {"fwd": _counted(loss, primals)}
    compiled: dict[str, Any] = {"fwd": cost.xla(loss, *primals).flops}
    timed: dict[str, Any] = {}
    for name, impl in IMPLS.items():
        counted[name], compiled[name], timed[name] = {}, {}, {}
        for kind, (fun, args) in programs(impl, *primals).items():
            counted[name][kind] = _counted(fun, args)
            compiled[name][kind] = cost.xla(fun, *args).flops
            jitted, call_args = bench.jit_hoisted(fun, *args)
            cmp = bench.compare(
                jitted,
                fwd,
                *call_args,
                args_b=primals,
                repeats=params["pairs"],
                min_sample_s=params["min_sample_s"],
            )
            timed[name][kind] = {
                "ratio": cmp.median_ratio,
                "ratios": list(cmp.ratios),
                "ms": cmp.a.median_s * 1e3,
                "fwd_ms": cmp.b.median_s * 1e3,
            }
    return {"formula": formulas(B, D, C), "count": counted, "xla": compiled, "time": timed}


def describe(point: Mapping[str, Any]) -> str:
    """One self-describing line per finished point (backward = w.r.t. X, W1 and W2).

    Args:
      point: a finished point, as stored in the JSON.

    Returns:
      The line, e.g. `backprop_flops | B=64 D=256 C=16 formula_bwd/fwd=2.000 ...`.
    """
    f, c, x, t = point["formula"], point["count"], point["xla"], point["time"]
    return (
        f"{NAME} | B={point['B']} D={point['D']} C={point['C']}"
        f" formula_bwd/fwd={f['bwd'] / f['fwd']:.3f}"
        f" counted_bwd/fwd={c['adlab']['bwd']['total'] / c['fwd']['total']:.3f}"
        f" xla_bwd/fwd={x['adlab']['bwd'] / x['fwd']:.3f}"
        f" adlab_time_bwd/fwd={t['adlab']['bwd']['ratio']:.2f}"
        f" jax_time_bwd/fwd={t['jax']['bwd']['ratio']:.2f}"
        f" adlab_time_grad/fwd={t['adlab']['grad']['ratio']:.2f}"
        f" jax_time_grad/fwd={t['jax']['grad']['ratio']:.2f}"
    )


def run(out_dir: pathlib.Path, quick: bool = False) -> pathlib.Path:
    """Runs the sweep (resuming from an existing JSON), stores `summary` in the JSON too.

    Args:
      out_dir: where `backprop_flops.json` goes.
      quick: use the QUICK parameters (seconds) instead of DEFAULT (minutes).

    Returns:
      The JSON path.
    """
    params = QUICK if quick else DEFAULT
    grid = [{"B": b, "D": d, "C": c} for b, d, c in params["grid"]]
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


# ---- summary and figure ---------------------------------------------------------------------


def headline(data: Mapping[str, Any]) -> str:
    """The one-line finding, for the end-of-run summary."""
    s = data["summary"]
    t = s["median_time_ratio"]
    exact = s["max_rel_gap_count_vs_formula_matmul"] == 0
    return (
        f"backward matmul FLOPs are {'exactly' if exact else 'NOT exactly'} 2x the forward's; "
        f"measured backward/forward time {t['adlab']['bwd']:.2f} (adlab) and "
        f"{t['jax']['bwd']:.2f} (JAX), gradient/forward {t['adlab']['grad']:.2f} and "
        f"{t['jax']['grad']:.2f}"
    )


def summary(data: Mapping[str, Any]) -> dict[str, Any]:
    """Headline numbers of a results JSON (what the README quotes).

    Args:
      data: the decoded JSON.

    Returns:
      For matmul FLOPs, the largest relative gap between `count` and the article's formulas; for
      the whole program, the range of counted bwd/fwd ratios and the largest relative gap
      between `count` and XLA; and the median measured time ratios per implementation, over
      the points whose forward pass has at least LARGE_FWD_FLOPS flops (all points if none),
      also divided by the XLA FLOP ratio (1 = the program runs as many FLOP/s as the forward);
      and the (B, D, C) points where the backward pass ran faster than the forward for every
      implementation (a sign that the compiled forward pass is anomalously slow).
    """
    points = data["points"]
    gap_formula, gap_xla, counted_ratio = 0.0, 0.0, []
    for p in points:
        f, c, x = p["formula"], p["count"], p["xla"]
        gap_formula = max(gap_formula, _rel(c["fwd"]["dot"], f["fwd"]))
        gap_xla = max(gap_xla, _rel(c["fwd"]["total"], x["fwd"]))
        for name in IMPLS:
            for kind in KINDS:
                if kind != "grad":
                    gap_formula = max(gap_formula, _rel(c[name][kind]["dot"], f[kind]))
                gap_xla = max(gap_xla, _rel(c[name][kind]["total"], x[name][kind]))
        counted_ratio.append(c["adlab"]["bwd"]["total"] / c["fwd"]["total"])
    large = [p for p in points if p["formula"]["fwd"] >= LARGE_FWD_FLOPS] or points
    # With twice the FLOPs, a backward pass faster than the forward means the forward was slow.
    slow_forward = [
        [p["B"], p["D"], p["C"]]
        for p in points
        if all(p["time"][name]["bwd"]["ratio"] < 1 for name in IMPLS)
    ]

    def time_ratio(p: Mapping[str, Any], name: str, kind: str) -> float:
        return p["time"][name][kind]["ratio"]

    def per_flop(p: Mapping[str, Any], name: str, kind: str) -> float:
        return time_ratio(p, name, kind) / (p["xla"][name][kind] / p["xla"]["fwd"])

    return {
        "max_rel_gap_count_vs_formula_matmul": gap_formula,
        "max_rel_gap_count_vs_xla": gap_xla,
        "counted_bwd_over_fwd": [min(counted_ratio), max(counted_ratio)],
        "timed_points": len(large),
        "median_time_ratio": _median_over(large, time_ratio),
        "median_time_ratio_over_flop_ratio": _median_over(large, per_flop),
        "backward_faster_than_forward": slow_forward,
    }


def _median_over(
    points: list[Mapping[str, Any]], value: Callable[[Mapping[str, Any], str, str], float]
) -> dict[str, dict[str, float]]:
    return {
        name: {kind: statistics.median(value(p, name, kind) for p in points) for kind in KINDS}
        for name in IMPLS
    }


def _rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b) if b else float(a != b)


def plot(json_path: pathlib.Path, png_path: pathlib.Path) -> None:
    """Draws the figure from the JSON alone.

    Left (the finding): FLOPs backward / forward against C/D: the article's formulas as lines,
    `adlab.cost.count` and XLA's `cost_analysis` as markers, with and without dX. Right: the
    measured time ratio of each program (backward without dX, backward, full gradient) to the
    forward pass against its FLOP ratio, adlab and JAX side by side.

    Args:
      json_path: the results JSON.
      png_path: where the PNG goes.
    """
    data = read_json(json_path)
    s = summary(data)
    with _plot.style():
        fig = _plot.figure(15.5, 5.6)
        ax_flops, ax_time = fig.subplots(1, 2, width_ratios=[1, 1.15])
        _plot_counted(ax_flops, data["points"])
        _plot_timed(ax_time, data["points"], s)
        _plot.finish(fig, data, png_path, _title(s), _sizes(data["params"]))


# Concentric markers of different shapes and sizes: where the three counts agree, all stay visible.
COUNTED = {
    "count_adlab": (_plot.Series("adlab.cost.count, adlab.vjp", _plot.ORANGE, "o", True), 16),
    "count_jax": (_plot.Series("adlab.cost.count, jax.vjp", _plot.PURPLE, "D", True), 9),
    "xla": (_plot.Series("XLA cost_analysis, adlab.vjp", _plot.BLUE, "x"), 8),
}
TIMED = {
    "adlab": _plot.Series("adlab", _plot.VERMILLION, "o"),
    "jax": _plot.Series("JAX", _plot.GREEN, "s"),
}
PROGRAMS = {  # the programs timed against the forward pass, as the figure names them
    "bwd_params": "backward,\nweights only",
    "bwd": "backward",
    "grad": "gradient\n(fwd + bwd)",
}
SHORT = {"bwd_params": "weights only", "bwd": "backward", "grad": "gradient"}


def _title(s: Mapping[str, Any]) -> str:
    lo, hi = s["counted_bwd_over_fwd"]
    if s["max_rel_gap_count_vs_formula_matmul"] == 0:
        flops = "exactly 2× the forward's matmul FLOPs"
    else:
        flops = f"{lo:.2f}–{hi:.2f}× the forward's FLOPs"
    t = sorted(f"{impl['bwd']:.1f}" for impl in s["median_time_ratio"].values())
    time = f"{t[0]}×" if t[0] == t[-1] else f"{t[0]}–{t[-1]}×"
    return f"The backward pass costs {flops} and {time} its time"


def _sizes(params: Mapping[str, Any]) -> str:
    grid = params["grid"]
    B, D, C = (", ".join(map(str, sorted({g[i] for g in grid}))) for i in range(3))
    return (
        f"B ∈ {{{B}}}, D ∈ {{{D}}}, C ∈ {{{C}}} ({len(grid)} shapes) · {params['dtype']}"
        f" · times: medians of {params['pairs']} interleaved pairs"
    )


def _plot_counted(ax: Any, points: list[dict]) -> None:
    x = [p["C"] / p["D"] for p in points]
    r = np.geomspace(min(x) / 2, max(x) * 2, 200)  # the formulas depend on C/D alone
    f = formulas(1, 1, r)
    mid = (min(x) * max(x)) ** 0.5
    for kind, text, offset, align in (
        ("bwd", "full backward (dW1, dW2, dX): exactly 2×", (0, 12), "center"),
        ("bwd_params", "backward, weights only (dW1, dW2)", (14, -12), "left"),
    ):
        ax.plot(r, f[kind] / f["fwd"], "-", color=_plot.BLACK, lw=1.5, zorder=1)
        at = formulas(1, 1, mid)
        ax.annotate(
            text,
            (mid, at[kind] / at["fwd"]),
            xytext=offset,
            textcoords="offset points",
            ha=align,
            va="center",
        )
    ax.plot([], [], "-", color=_plot.BLACK, lw=1.5, label="the article's formula (matmuls only)")
    for name, (series, size) in COUNTED.items():
        ys = []
        for kind in ("bwd", "bwd_params"):
            for p in points:
                if name == "xla":
                    ys.append(p["xla"]["adlab"][kind] / p["xla"]["fwd"])
                else:
                    impl = name.removeprefix("count_")
                    ys.append(p["count"][impl][kind]["total"] / p["count"]["fwd"]["total"])
        ax.plot(x + x, ys, zorder=2, **series.markers(size, mfc="white"))  # hides the line
    ax.set_xscale("log")
    ticks = sorted(set(x))
    ax.set_xticks(ticks, [f"1/{round(1 / t)}" if t < 1 else f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_xlim(min(x) / 1.6, max(x) * 1.6)
    ax.set_ylim(0.9, 2.25)
    ax.set_xlabel("C / D   (outputs C ÷ hidden width D)")
    ax.set_ylabel("backward FLOPs ÷ forward FLOPs")
    ax.set_title("Counted FLOPs: the formula, adlab's count and XLA agree")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)


def _plot_timed(ax: Any, points: list[dict], s: Mapping[str, Any]) -> None:
    shift = dict(zip(IMPLS, _plot.offsets(len(IMPLS), 0.08), strict=True))
    for name, series in TIMED.items():
        for large in (True, False):
            xs, ys = [], []
            for p in points:
                if (p["formula"]["fwd"] >= LARGE_FWD_FLOPS) != large:
                    continue
                for kind in KINDS:
                    xs.append(p["xla"][name][kind] / p["xla"]["fwd"] + shift[name])
                    ys.append(p["time"][name][kind]["ratio"])
            hollow = dataclasses.replace(series, hollow=not large)
            ax.plot(xs, ys, alpha=0.85, **hollow.markers(label=series.label if large else None))
    lim = [0.8, 3.4]
    ax.plot(lim, lim, "--", color=_plot.BLACK, lw=1, label="time ratio = FLOP ratio")
    for label, hollow in (
        (f"filled: forward ≥ {LARGE_FWD_FLOPS:.0e} FLOPs", False),
        ("hollow: smaller shapes", True),
    ):
        ax.plot(
            [], [], **_plot.Series(label.replace("e+0", "e"), _plot.GREY, "o", hollow).markers()
        )
    slow = [p for p in points if [p["B"], p["D"], p["C"]] in s["backward_faster_than_forward"]]
    if slow:  # a backward faster than its forward: the forward, not the backward, is odd
        xs = [
            p["xla"][n][k] / p["xla"]["fwd"] + shift[n] for p in slow for n in IMPLS for k in KINDS
        ]
        ys = [p["time"][n][k]["ratio"] for p in slow for n in IMPLS for k in KINDS]
        shapes = "\n".join(f"B={p['B']} D={p['D']} C={p['C']}," for p in slow)
        ringed = _plot.Series(
            f"ringed: {shapes}\nwhere the backward ran faster\nthan an anomalously slow forward",
            _plot.GREY,
            "o",
            hollow=True,
        )
        ax.plot(xs, ys, **ringed.markers(17, mew=1.2))
    med = s["median_time_ratio"]
    large = sum(p["formula"]["fwd"] >= LARGE_FWD_FLOPS for p in points)
    over = f"{large} largest shapes" if large else f"all {len(points)} shapes"
    rows = [f"median time ratio,\n{over}:", f"{'':13s} adlab    JAX"]
    rows += [f"{SHORT[k]:13s} {med['adlab'][k]:.2f}×  {med['jax'][k]:.2f}×" for k in KINDS]
    ax.text(
        1.03,
        0.0,
        "\n".join(rows),
        transform=ax.transAxes,
        ha="left",
        va="bottom",
        family="monospace",
        bbox={"facecolor": "white", "edgecolor": _plot.GREY, "alpha": 0.9},
    )
    top = ax.secondary_xaxis("top")
    flop = {
        k: statistics.median(p["xla"]["adlab"][k] / p["xla"]["fwd"] for p in points) for k in KINDS
    }
    top.set_xticks([flop[k] for k in KINDS], [PROGRAMS[k] for k in KINDS])
    top.tick_params(length=0)
    ax.set_xlim(lim)
    highest = max(p["time"][n][k]["ratio"] for p in points for n in IMPLS for k in KINDS)
    ax.set_ylim(0, max(4.0, 1.08 * highest))
    ax.set_xlabel("FLOPs of the program ÷ FLOPs of the forward (XLA cost_analysis)")
    ax.set_ylabel("time of the program ÷ time of the forward")
    per_flop = [
        v for impl in s["median_time_ratio_over_flop_ratio"].values() for v in impl.values()
    ]
    ax.set_title(
        f"Under jit, time ratio ÷ FLOP ratio: {min(per_flop):.2f}–{max(per_flop):.2f} "
        f"(medians, {over})"
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1))


def readme(data: Mapping[str, Any]) -> str:
    """The README section for this experiment, with every number read from its JSON."""
    s = data["summary"]
    grid = data["params"]["grid"]
    t, per = s["median_time_ratio"], s["median_time_ratio_over_flop_ratio"]
    lo, hi = s["counted_bwd_over_fwd"]
    per_all = [v for impl in per.values() for v in impl.values()]
    slow = ", ".join(f"B={b} D={d} C={c}" for b, d, c in s["backward_faster_than_forward"])
    holds = "holds exactly" if s["max_rel_gap_count_vs_formula_matmul"] == 0 else "does NOT hold"
    return f"""### Backprop FLOPs: does the backward pass cost 2x the forward?

![backprop_flops](figures/backprop_flops.png)

The model of the article "Backpropagation: From Intuition to FLOPs", which counts the
FLOPs of the backward pass by hand: H1 = X W1, H2 = H1 W2, loss = mean(H2²), with X: B×D,
W1: D×D, W2: D×C,
at {len(grid)} (B, D, C) points. Run: `python -m experiments backprop_flops`.

- **The article's claim {holds} for the matrix multiplies.** On the forward pass and on the
  pullbacks of both `adlab.vjp` and `jax.vjp`, `adlab.cost.count` gives 2BDD+2BDC
  (forward), 4BDC+4BDD (backward with dX, exactly 2×) and 4BDC+2BDD (without dX) at every
  point.
- Counting the loss's elementwise work too, backward/forward is {lo:.3f}–{hi:.3f}. XLA's
  `cost_analysis` agrees with `count` to within {100 * s["max_rel_gap_count_vs_xla"]:.2f}%.
- **Measured under `jax.jit`** (medians of interleaved pairs over the {s["timed_points"]}
  points with forward ≥ 1e8 FLOPs): backward/forward is {t["adlab"]["bwd"]:.2f} (adlab) and
  {t["jax"]["bwd"]:.2f} (JAX); gradient/forward is {t["adlab"]["grad"]:.2f} (adlab) and
  {t["jax"]["grad"]:.2f} (JAX). That is well inside Griewank and Walther's small-constant
  bound on the cost of a gradient (about 3–5). Without dX the ratio is
  {t["adlab"]["bwd_params"]:.2f} (adlab) and {t["jax"]["bwd_params"]:.2f} (JAX). Each
  program runs at about the forward pass's FLOP rate: time ratio ÷ FLOP ratio is
  {min(per_all):.2f}–{max(per_all):.2f}.
- Outliers, where backward ran faster than forward: {slow or "none"}. There XLA:CPU fuses
  dot→dot→square→reduce into one kernel that is much slower than the unfused matmuls;
  `XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=-reduce` removes it."""
