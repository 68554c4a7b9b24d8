r"""gradient_flow: do gradients vanish or explode with depth, and do skips and initialisation help?

The article "Backpropagation" claims (its words, in its LaTeX; " | " separates table cells):

- "If the spectral norm \|\partial h_k / \partial h_{k-1}\| < 1 for most layers, the product
  shrinks exponentially (vanishing). If > 1, it grows exponentially (exploding)."
- "Vanishing gradients | \|\sigma'\| < 1 (sigmoid, tanh saturate); deep products shrink".
- "The additive identity I provides a "gradient highway" -- even if
  \partial f_l / \partial h_{l-1} is small, the gradient passes through the skip connection
  unattenuated." and "ensuring gradients reach early layers regardless of depth (He et al.,
  2016)."
- "Proper initialization preserves gradient scale.", with Xavier / Glorot for "Sigmoid, Tanh"
  and He / Kaiming for "ReLU" in its table.

The nets are `DEFAULT["depth"]` square layers h_l = act(h_{l-1} W_l), plain, or residual
h_l = h_{l-1} + act(h_{l-1} W_l) (He et al. 2016), without biases or normalisation, on a
batch of N(0, 1) inputs with the loss 0.5 * mean_batch ||h_L - y||^2 against N(0, 1)
targets. The initialisations are Xavier (Glorot & Bengio 2010), He (He et al. 2015), LeCun
(LeCun et al. 1998, "Efficient BackProp") and, as a naive contrast, N(0, 1). For each
activation, initialisation and net, adlab's reverse mode (`adlab.grad`, jitted) gives dL/dW_l
for every layer and dL/dh_l for every layer's output (the gradient with respect to a zero
added to h_l); seed 0's gradients are checked against `jax.grad`. Each seed draws the weights,
inputs and targets afresh; every configuration sees the same draws. adlab's forward mode
(`adlab.jacfwd`) gives each layer's Jacobian dh_l/dh_{l-1} at the batch's first example, for
its spectral norm.

The number each verdict reads is ||dL/dh_0|| / ||dL/dh_L||, what the article's product of L
Jacobians does to the gradient between the loss and the input (geometric mean over seeds).
Over the whole depth it "vanishes" below 1/`STABLE`, "explodes" above `STABLE` and is "stable"
in between. The run is in float64: with N(0, 1) weights the norms leave float32's range."""

from __future__ import annotations

import functools
import math
import pathlib
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import adlab
from experiments import _plot
from experiments._common import read_json, run_sweep
from experiments._compiled import where_measured

NAME = "gradient_flow"

# ---- constants ------------------------------------------------------------------------------
DEFAULT = {
    "activations": ["sigmoid", "tanh", "relu"],
    "inits": ["xavier", "he", "lecun", "normal"],
    "nets": ["plain", "residual"],
    "depth": 50,
    "width": 64,
    "batch": 32,
    "seeds": 5,
    "seed": 0,
    "dtype": "float64",
}
QUICK = {**DEFAULT, "depth": 10, "width": 16, "batch": 8, "seeds": 2}

STABLE = 10.0  # "stable": the input's gradient within 10x of the output's, over the whole depth
ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
}
INIT_NAMES = {"xavier": "Xavier", "he": "He", "lecun": "LeCun", "normal": "N(0, 1)"}
PRINCIPLED = ("xavier", "he", "lecun")  # the article's table; "normal" is the naive contrast
# The article's table pairs each scheme with the activations it was derived for (SELU, LeCun's
# pair, is not measured here).
PAIRS = (("xavier", "sigmoid"), ("xavier", "tanh"), ("he", "relu"))

# The article's words, its formulas in its own LaTeX; " | " separates the cells of its tables,
# "[...]" marks left-out text.
CLAIMS = {
    "spectral_norm": (
        r"If the spectral norm \|\partial h_k / \partial h_{k-1}\| < 1 for most layers, the "
        r"product shrinks exponentially (vanishing). If > 1, it grows exponentially (exploding)."
    ),
    "saturation": (
        r"Vanishing gradients | \|\sigma'\| < 1 (sigmoid, tanh saturate); deep products shrink"
        r" | Early layers do not learn"
    ),
    "highway": (
        r'The additive identity I provides a "gradient highway" -- even if '
        r"\partial f_l / \partial h_{l-1} is small, the gradient passes through the skip "
        r'connection unattenuated. [...] The "direct path" (all identity terms) contributes '
        r"\partial \mathcal{L}/\partial h_L directly, ensuring gradients reach early layers "
        r"regardless of depth (He et al., 2016)."
    ),
    "initialisation": (
        r"Proper initialization preserves gradient scale. [...] Xavier / Glorot | "
        r"\text{Var}(W) = \frac{2}{n_{\text{in}} + n_{\text{out}}} | Sigmoid, Tanh | (Glorot & "
        r"Bengio, 2010) [...] He / Kaiming | \text{Var}(W) = \frac{2}{n_{\text{in}}} | ReLU | "
        r"(He et al., 2015)"
    ),
}


# ---- the nets -------------------------------------------------------------------------------
def init_weights(init: str, key: jax.Array, depth: int, width: int, dtype: Any) -> jax.Array:
    """Draws the square weight matrices of every layer.

    Args:
      init: "xavier", "he", "lecun" or "normal".
      key: a `jax.random` key.
      depth: the number of layers.
      width: n_in = n_out of every layer.
      dtype: the weights' dtype.

    Returns:
      The weights, depth x width x width.
    """
    shape = (depth, width, width)
    n_in = n_out = width
    if init == "xavier":
        # Glorot & Bengio (2010), eq. 16: U[-a, a] with a = sqrt(6 / (n_in + n_out)), so that
        # Var(W) = a^2 / 3 = 2 / (n_in + n_out).
        a = math.sqrt(6 / (n_in + n_out))
        return jax.random.uniform(key, shape, dtype, -a, a)
    if init == "he":
        std = math.sqrt(2 / n_in)  # He et al. (2015), eq. 10: Var(W) = 2 / n_in
    elif init == "lecun":
        std = 1 / math.sqrt(n_in)  # LeCun et al. (1998), "Efficient BackProp", 4.6: n_in^(-1/2)
    elif init == "normal":
        std = 1.0  # the naive contrast: N(0, 1), whatever the width
    else:
        raise ValueError(f"unknown initialisation {init!r}; known: {', '.join(INIT_NAMES)}")
    return std * jax.random.normal(key, shape, dtype)


def layer(w: jax.Array, h: jax.Array, activation: str, residual: bool) -> jax.Array:
    """One layer: act(h W), plus h for a residual block (He et al. 2016)."""
    f = ACTIVATIONS[activation](h @ w)
    return h + f if residual else f


def loss(
    ws: Sequence[jax.Array],
    zeros: Sequence[jax.Array],
    x: jax.Array,
    y: jax.Array,
    activation: str,
    residual: bool,
) -> jax.Array:
    """0.5 * mean over the batch of ||h_L - y||^2, with zeros[l-1] added to each h_l.

    The zeros change nothing, but the gradient with respect to zeros[l-1] is dL/dh_l.
    """
    h = x
    for w, zero in zip(ws, zeros, strict=True):
        h = layer(w, h, activation, residual) + zero
    return 0.5 * jnp.mean(jnp.sum((h - y) ** 2, axis=-1))


@functools.cache
def gradient(activation: str, residual: bool, engine: str) -> Callable[..., Any]:
    """The jitted gradient of `loss` with respect to (ws, zeros, x), by adlab or by JAX."""
    impl = adlab if engine == "adlab" else adlab.reference
    fun = functools.partial(loss, activation=activation, residual=residual)
    return jax.jit(impl.grad(fun, argnums=(0, 1, 2)))


@functools.cache
def jacobian_norm(activation: str, residual: bool) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """Jitted: the median over layers of ||dh_l/dh_{l-1}||_2 at one example.

    Each layer's Jacobian comes from adlab's forward mode (`adlab.jacfwd`).
    """
    one_layer = functools.partial(layer, activation=activation, residual=residual)

    def step(h: jax.Array, w: jax.Array) -> tuple[jax.Array, jax.Array]:
        jacobian = adlab.jacfwd(one_layer, argnums=1)(w, h)
        return one_layer(w, h), jnp.linalg.norm(jacobian, 2)

    def median_norm(ws: jax.Array, h: jax.Array) -> jax.Array:
        return jnp.median(jax.lax.scan(step, h, ws)[1])

    return jax.jit(median_norm)


# ---- measuring ------------------------------------------------------------------------------
def measure(point: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """Per-layer gradient norms of one configuration, for every seed.

    Args:
      point: {"activation", "init", "net"}.
      params: the experiment parameters.

    Returns:
      w_norms[s][l-1] = ||dL/dW_l|| and h_norms[s][l] = ||dL/dh_l|| (l = 0 is the input) for
      each seed s, to 4 significant digits; jacobian_norm[s], the median over layers of
      ||dh_l/dh_{l-1}||_2 at the first example; the largest relative difference from
      `jax.grad` over seed 0's gradients (for each array, its largest error over its largest
      entry); where it ran.
    """
    with jax.enable_x64(params["dtype"] == "float64"):
        return _measure(point, params)


def _measure(point: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    depth, width, batch = params["depth"], params["width"], params["batch"]
    dtype = jnp.dtype(params["dtype"])
    residual = point["net"] == "residual"
    ours = gradient(point["activation"], residual, "adlab")
    spectral = jacobian_norm(point["activation"], residual)
    zeros = [jnp.zeros((batch, width), dtype)] * depth
    w_norms, h_norms, j_norms = [], [], []
    for s in range(params["seeds"]):
        kw, kx, ky = jax.random.split(jax.random.fold_in(jax.random.key(params["seed"]), s), 3)
        ws = init_weights(point["init"], kw, depth, width, dtype)
        x = jax.random.normal(kx, (batch, width), dtype)
        y = jax.random.normal(ky, (batch, width), dtype)
        args = (list(ws), zeros, x, y)
        d_ws, d_zeros, d_x = ours(*args)
        w_norms.append([_norm(d) for d in d_ws])
        h_norms.append([_norm(d) for d in (d_x, *d_zeros)])
        j_norms.append(float(spectral(ws, x[0])))
        if s == 0:
            theirs = gradient(point["activation"], residual, "jax")(*args)
            difference = max(
                _relative(a, b)
                for a, b in zip(jax.tree.leaves((d_ws, d_zeros, d_x)), jax.tree.leaves(theirs))
            )
    return {
        **where_measured(),
        "max_relative_difference": difference,
        "w_norms": w_norms,
        "h_norms": h_norms,
        "jacobian_norm": j_norms,
    }


def _norm(a: jax.Array) -> float:
    """The Frobenius norm, to 4 significant digits (the seeds differ by far more)."""
    return float(f"{float(jnp.linalg.norm(a)):.4g}")


def _relative(ours: jax.Array, theirs: jax.Array) -> float:
    """max |ours - theirs| / max |theirs| (0 where both are all zero)."""
    scale = float(jnp.max(jnp.abs(theirs)))
    error = float(jnp.max(jnp.abs(ours - theirs)))
    return error / scale if scale else error


def run(out_dir: pathlib.Path, quick: bool = False) -> pathlib.Path:
    """Runs the sweep (resuming an interrupted run) and stores the summary in the JSON."""
    params = QUICK if quick else DEFAULT
    grid = [
        {"activation": a, "net": n, "init": i}
        for a in params["activations"]
        for n in params["nets"]
        for i in params["inits"]
    ]
    return run_sweep(
        NAME, out_dir, params, grid, lambda p: measure(p, params),
        describe=describe, summarize=summary, quick=quick,
    )  # fmt: skip


def describe(point: Mapping[str, Any]) -> str:
    """One self-describing line per finished point."""
    ratios = [h[0] / h[-1] for h in point["h_norms"]]
    return (
        f"{NAME} | {point['activation']} {point['net']} init={point['init']} "
        f"depth={len(point['w_norms'][0])} |dL/dh_0|/|dL/dh_L|={_geomean(ratios):.3g} "
        f"(seeds {min(ratios):.3g}..{max(ratios):.3g}) "
        f"adlab-vs-jax={point['max_relative_difference']:.1e}"
    )


# ---- summary and verdicts -------------------------------------------------------------------
def _geomean(xs: Sequence[float]) -> float:
    return math.exp(statistics.fmean(math.log(x) for x in xs))


def regime(ratio: float) -> str:
    """ "vanishes", "stable" or "explodes": where ||dL/dh_0|| / ||dL/dh_L|| falls."""
    if ratio < 1 / STABLE:
        return "vanishes"
    return "explodes" if ratio > STABLE else "stable"


def profile(point: Mapping[str, Any]) -> tuple[list[float], list[float], list[float]]:
    """||dL/dh_l|| / ||dL/dh_L|| for l = 0..L: geometric mean over seeds, lowest, highest."""
    per_seed = np.array([[v / h[-1] for v in h] for h in point["h_norms"]])
    middle = np.exp(np.log(per_seed).mean(axis=0))
    return middle.tolist(), per_seed.min(axis=0).tolist(), per_seed.max(axis=0).tolist()


def summary(data: Mapping[str, Any]) -> dict[str, Any]:
    """Per configuration: the gradient ratios and the Jacobians' norm; and each claim's verdict."""
    rows = []
    for p in data["points"]:
        ratios = [h[0] / h[-1] for h in p["h_norms"]]
        w_ratios = [w[0] / w[-1] for w in p["w_norms"]]
        rows.append(
            {
                "activation": p["activation"],
                "init": p["init"],
                "net": p["net"],
                "ratio": _geomean(ratios),
                "ratio_range": [min(ratios), max(ratios)],
                "w_ratio": _geomean(w_ratios),
                "jacobian_norm": statistics.median(p["jacobian_norm"]),
                "regime": regime(_geomean(ratios)),
                "max_relative_difference": p["max_relative_difference"],
            }
        )
    return {
        "depth": data["params"]["depth"],
        "stable_within": STABLE,
        "rows": rows,
        "verdicts": verdicts(rows),
        "max_relative_difference": max(r["max_relative_difference"] for r in rows),
    }


def _row(rows: Sequence[Mapping[str, Any]], activation: str, init: str, net: str) -> dict:
    (row,) = (r for r in rows if (r["activation"], r["init"], r["net"]) == (activation, init, net))
    return row


def _label(row: Mapping[str, Any]) -> str:
    return f"{row['net']} {row['activation']} {INIT_NAMES[row['init']]}"


def _listing(rows: Sequence[Mapping[str, Any]]) -> str:
    """ "plain tanh He 10.2 (seeds 7–13, explodes); ..." """
    return "; ".join(
        f"{_label(r)} {r['ratio']:.3g} (seeds {r['ratio_range'][0]:.2g}–{r['ratio_range'][1]:.2g}"
        f", {r['regime']})"
        for r in rows
    )


def verdicts(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each claim of `CLAIMS`, whether the measured ratios bear it out, and the numbers.

    Args:
      rows: the summary's rows (one per configuration).

    Returns:
      claim name -> {"claim": the article's words, "holds": bool, "verdict": the numbers},
      with "holds_for" (part of the claim -> bool) where the claim has parts.
    """
    ratio = "||dL/dh_0|| / ||dL/dh_L||"
    out = {}

    below = [r for r in rows if r["jacobian_norm"] < 1]
    above = [r for r in rows if r["jacobian_norm"] > 1]
    odd_below = [r for r in below if r["regime"] != "vanishes"]
    odd_above = sorted((r for r in above if r["regime"] != "explodes"), key=lambda r: r["ratio"])
    count = {g: sum(r["regime"] == g for r in above) for g in ("explodes", "stable", "vanishes")}
    out["spectral_norm"] = {
        "holds": not odd_below and not odd_above,
        "holds_for": {"below 1": not odd_below, "above 1": not odd_above},
        "verdict": (
            f"{len(below)} of {len(rows)} configurations have a median layer Jacobian spectral "
            f"norm below 1, and {len(below) - len(odd_below)} of them vanish. {len(above)} have "
            f"it above 1: {count['explodes']} explode, {count['stable']} are stable and "
            f"{count['vanishes']} vanish"
            + "".join(
                f"; {_label(r)}: norm {r['jacobian_norm']:.2f}, {ratio} {r['ratio']:.2g}"
                for r in odd_above[:3]
            )
            + ". The spectral norm bounds a layer's effect from above only: below 1 the "
            "product must shrink, above 1 it need not grow."
        ),
    }

    saturating = {a: [_row(rows, a, i, "plain") for i in PRINCIPLED] for a in ("sigmoid", "tanh")}
    holds_for = {a: all(r["regime"] == "vanishes" for r in rs) for a, rs in saturating.items()}
    out["saturation"] = {
        "holds": all(holds_for.values()),
        "holds_for": holds_for,
        "verdict": f"{ratio}: " + _listing([r for rs in saturating.values() for r in rs]) + ".",
    }

    residual = [r for r in rows if r["net"] == "residual"]
    exploding = sorted(
        (r for r in residual if r["regime"] == "explodes"), key=lambda r: -r["ratio"]
    )
    lowest = min(residual, key=lambda r: r["ratio"])
    w_ratios = [r["w_ratio"] for r in residual]
    out["highway"] = {
        "holds": all(r["regime"] != "vanishes" for r in residual),
        "verdict": (
            f"residual nets, {ratio}: the lowest is {lowest['ratio']:.2g} ({_label(lowest)}); "
            f"{len(exploding)} of {len(residual)} explode without normalisation"
            + (f", up to {exploding[0]['ratio']:.2g} ({_label(exploding[0])})" if exploding else "")
            + ". Sigmoid under Xavier: plain "
            + f"{_row(rows, 'sigmoid', 'xavier', 'plain')['ratio']:.2g}, residual "
            + f"{_row(rows, 'sigmoid', 'xavier', 'residual')['ratio']:.2g}. The residual nets' "
            + f"weight gradients ||dL/dW_1|| / ||dL/dW_L||: {min(w_ratios):.2g} to "
            + f"{max(w_ratios):.2g}."
        ),
    }

    paired = {f"{i}+{a}": _row(rows, a, i, "plain") for i, a in PAIRS}
    unpaired = [_row(rows, "relu", i, "plain") for i in ("xavier", "lecun")]
    out["initialisation"] = {
        "holds": all(r["regime"] == "stable" for r in paired.values()),
        "holds_for": {k: r["regime"] == "stable" for k, r in paired.items()},
        "verdict": (
            f"plain nets, {ratio}, each scheme with its activation in the table: "
            + _listing(list(paired.values()))
            + ". ReLU under the schemes with n_in Var(W) = 1: "
            + _listing(unpaired)
            + " (their weight gradients ||dL/dW_1|| / ||dL/dW_L||: "
            + ", ".join(f"{r['w_ratio']:.2g}" for r in unpaired)
            + "). At n_in = n_out, Xavier and LeCun give the same variance."
        ),
    }
    return {name: {"claim": CLAIMS[name], **v} for name, v in out.items()}


def headline(data: Mapping[str, Any]) -> str:
    """The one-line finding, for the end-of-run summary."""
    s = data["summary"]
    held = [name for name, v in s["verdicts"].items() if v["holds"]]
    failed = [name for name, v in s["verdicts"].items() if not v["holds"]]
    residual = [r["ratio"] for r in s["rows"] if r["net"] == "residual"]
    return (
        f"depth {s['depth']}, ||dL/dh_0|| / ||dL/dh_L||: plain sigmoid "
        f"{_span(s['rows'], 'sigmoid', 'plain')}, plain ReLU "
        f"{_span(s['rows'], 'relu', 'plain')}, residual {min(residual):.1g}–"
        f"{max(residual):.1g}; claims holding: {', '.join(held) or 'none'}; failing: "
        f"{', '.join(failed) or 'none'}"
    )


def _span(rows: Sequence[Mapping[str, Any]], activation: str, net: str) -> str:
    ratios = [r["ratio"] for r in rows if (r["activation"], r["net"]) == (activation, net)]
    return f"{min(ratios):.1g}–{max(ratios):.1g}"


# ---- the figure -----------------------------------------------------------------------------
NET_STYLE = {
    "plain": _plot.Series("plain", _plot.BLUE, "o"),
    "residual": _plot.Series("residual", _plot.VERMILLION, "s", hollow=True),
}


def plot(json_path: pathlib.Path, png_path: pathlib.Path) -> None:
    """Rows: activations; columns: initialisations; each panel ||dL/dh_l|| against the layer."""
    data = read_json(json_path)
    p, s = data["params"], data["summary"]
    depth = p["depth"]
    layers = np.arange(depth + 1)
    every = max(depth // 10, 1)
    with _plot.style():
        fig = _plot.figure(3.1 * len(p["inits"]), 2.6 * len(p["activations"]) + 0.6)
        axes = fig.subplots(len(p["activations"]), len(p["inits"]), sharex=True, sharey=True)
        axes = np.atleast_2d(axes)
        shown = []
        for i, activation in enumerate(p["activations"]):
            for j, init in enumerate(p["inits"]):
                ax = axes[i, j]
                ax.set_yscale("log")
                ax.axhspan(
                    1 / STABLE, STABLE, color=_plot.GREY, alpha=0.3, lw=0,
                    label=f"within {STABLE:g}× of layer {depth}",
                )  # fmt: skip
                notes = []
                for net, series in NET_STYLE.items():
                    (point,) = (
                        q for q in data["points"]
                        if (q["activation"], q["init"], q["net"]) == (activation, init, net)
                    )  # fmt: skip
                    middle, low, high = profile(point)
                    shown += [*low, *high]
                    ax.fill_between(layers, low, high, color=series.color, alpha=0.2, lw=0)
                    ax.plot(layers, middle, **{**series.markers(5), "ls": "-", "markevery": every})
                    ratio = _row(s["rows"], activation, init, net)["ratio"]
                    notes.append(f"{net} {ratio:.2g}")
                ax.text(
                    0.97, 0.04, "\n".join(notes), transform=ax.transAxes,
                    ha="right", va="bottom", bbox={"fc": "white", "ec": "none", "alpha": 0.8},
                )  # fmt: skip
                ax.set_title(f"{activation}, {INIT_NAMES[init]}")
                if i == len(p["activations"]) - 1:
                    ax.set_xlabel("layer l (0: input)")
                if j == 0:
                    ax.set_ylabel("||dL/dh_l|| ÷ ||dL/dh_L||")
        axes[0, 0].set_yticks(_decades(min(shown), max(shown)))
        handles, labels = axes[0, 0].get_legend_handles_labels()
        axes[0, -1].legend(handles, labels, loc="upper left", bbox_to_anchor=(1.03, 1))
        title = _title(s)
        sizes_text = (
            f"width {p['width']}, batch {p['batch']}, no biases or normalisation · {p['dtype']} "
            f"· {p['seeds']} seeds (line: geometric mean, band: range; lower right: layer 0's "
            f"value) · adlab.grad, checked against jax.grad"
        )
        _plot.finish(fig, data, png_path, title, sizes_text)


def _title(s: Mapping[str, Any]) -> str:
    """The figure's finding, read from the summary."""
    rows = s["rows"]
    sigmoid = [r for r in rows if (r["activation"], r["net"]) == ("sigmoid", "plain")]
    vanish = sum(r["regime"] == "vanishes" for r in sigmoid)
    under = "every init" if vanish == len(sigmoid) else f"{vanish} of {len(sigmoid)} inits"
    residual = [r for r in rows if r["net"] == "residual"]
    exploding = sorted({r["activation"] for r in residual if r["regime"] == "explodes"})
    never = "never vanish" if s["verdicts"]["highway"]["holds"] else "can vanish too"
    but = f", but explode with {' and '.join(exploding)}" if exploding else ""
    return (
        f"Depth {s['depth']}: plain-sigmoid gradients vanish under {under}; "
        f"residual ones {never}{but}"
    )


def _decades(low: float, high: float) -> list[float]:
    """Log-axis ticks at every 1, 2, 5, 10 or 20 decades, whichever gives at most 8."""
    lo, hi = math.floor(math.log10(low)), math.ceil(math.log10(high))
    step = next(k for k in (1, 2, 5, 10, 20) if (hi - lo) / k <= 8)
    return [10.0**e for e in range(lo - lo % step, hi + step, step)]


VERDICT_TITLES = {
    "spectral_norm": "A layer Jacobian's spectral norm below (above) 1 makes gradients vanish "
    "(explode)",
    "saturation": "Sigmoid and tanh saturate, so deep products shrink",
    "highway": "Residual connections give the gradient a highway to early layers",
    "initialisation": "Proper initialisation (Xavier for sigmoid and tanh, He for ReLU) preserves "
    "gradient scale",
}


def readme(data: Mapping[str, Any]) -> str:
    """The README section for this experiment, with every number read from its JSON."""
    s, p = data["summary"], data["params"]
    rows = {(r["activation"], r["init"], r["net"]): r for r in s["rows"]}
    lines = [
        "| activation | " + " | ".join(INIT_NAMES[i] for i in p["inits"]) + " |",
        "|---|" + "---|" * len(p["inits"]),
    ]
    for act in p["activations"]:
        cells = []
        for init in p["inits"]:
            plain, res = rows[(act, init, "plain")], rows[(act, init, "residual")]
            cells.append(
                f"{plain['ratio']:.2g} ({plain['regime']}); {res['ratio']:.2g} ({res['regime']})"
            )
        lines.append(f"| {act} | " + " | ".join(cells) + " |")
    verdicts = [
        f"* {VERDICT_TITLES.get(name, name)}: {'**holds**' if v['holds'] else '**fails**'}. "
        f"{v['verdict']}"
        for name, v in s["verdicts"].items()
    ]
    return "\n".join(
        [
            "### Gradient flow with depth (`python -m experiments gradient_flow`)",
            "",
            "![gradient flow](figures/gradient_flow.png)",
            "",
            f'The article "Backpropagation" makes four claims about deep nets. Here {p["depth"]} '
            f"square layers of width {p['width']} (batch {p['batch']}, {p['dtype']}, no biases or "
            "normalisation), plain h_l = act(h_{l-1} W_l) or residual h_l = h_{l-1} + "
            f"act(h_{{l-1}} W_l), are differentiated by adlab's reverse mode ({p['seeds']} random "
            f"draws each; adlab's gradients equal JAX's to {s['max_relative_difference']:.1g}). "
            "Each cell is ‖dL/dh_0‖ ÷ ‖dL/dh_L‖, how the gradient changes from the loss back to "
            f"the input, plain; residual (stable within {s['stable_within']:g}×):",
            "",
            *lines,
            "",
            *verdicts,
        ]
    )
