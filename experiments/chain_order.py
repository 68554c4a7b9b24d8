"""chain_order: how much the order of a Jacobian chain product matters, and adlab's optimal plans.

J = J_L ... J_1 can be accumulated from the input side (forward mode, `jax.jacfwd`), from the
output side (reverse mode, `jax.jacrev`), or in any mixed order. `adlab.chain` finds the optimal
bracketing (dense model: factors given as matrices) and the optimal matrix-free plan (Naumann
2020: factors reached only through JVPs/VJPs, which may be mixed with dense products), and runs
plans with adlab's own JVPs/VJPs under `jax.jit`.

Points of four kinds:

- "chain": one chain of a family (funnel, expanding, hourglass, diamond, zigzag, random; factors
  tanh(W x), plus an "elementwise" family mixing dense layers with cheap elementwise maps) at one
  scale. Predicted FLOPs of forward, reverse, dense-optimal and matrix-free-optimal; XLA's FLOPs
  of each compiled plan; and paired, interleaved timings of adlab's matrix-free optimal plan
  against adlab's forward, reverse and dense-optimal plans and against jax.jacfwd / jax.jacrev
  (median of per-pair time ratios, `adlab.bench.compare`). A control times the optimal plan
  against a second compile of itself (an "A/A" comparison, which should give 1): its distance
  from 1 is the timing noise.
- "random": for chains with sizes uniform in [1, 100], the distribution of
  min(forward, reverse) / optimal FLOPs against the length L.
- "dp_timing": seconds for both dynamic programmes on a 200-factor chain.
- "article": the two complexity sums that the source article on backpropagation which
  compares a "forwards" and a "backwards" computation gives for dl/dx through z1, z2, z3.

After the sweep, `summary` (the README's headline numbers) is stored in the JSON too.
"""

from __future__ import annotations

import itertools
import pathlib
import statistics
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.patches import Patch

import adlab
from adlab import bench, chain, cost
from experiments import _plot
from experiments._common import read_json, run_sweep

NAME = "chain_order"

# ---- constants ------------------------------------------------------------------------------
# Each family: base sizes [n0, ..., nL] (multiplied by the scale, at least 1) and the kind of
# each factor: "d" = tanh(W x), "e" = x + 0.5 sin(x) (elementwise: its Jacobian is diagonal).
FAMILIES = {
    "funnel": ([1000, 500, 250, 100, 50, 10], "ddddd"),
    "expanding": ([10, 50, 100, 250, 500, 1000], "ddddd"),
    "hourglass": ([1000, 100, 10, 100, 1000], "dddd"),
    "diamond": ([10, 100, 1000, 100, 10], "dddd"),
    "zigzag": ([500, 20, 500, 20, 500, 20, 500], "dddddd"),
    "random": ([1000] * 7, "dddddd"),  # sizes uniform in [1, 1000 * scale], seeded per scale
    "elementwise": ([1000, 1000, 10, 10, 1000, 1000], "edede"),
}
DEFAULT = {
    "version": 2,  # of the points' format: a saved JSON of another version is measured again
    "families": list(FAMILIES),
    "scales": [0.25, 0.5, 1.0],
    "dtype": "float32",
    "seed": 0,
    "pairs": 21,  # interleaved timing pairs per comparison
    "warmup": 2,
    "min_sample_s": 0.01,  # each sample repeats a call for >= 10 ms: the machine is shared
    "random_lengths": [2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30],
    "random_samples": 1000,
    "random_max_size": 100,
    "dp_factors": 200,
    "dp_repeats": 5,
    "article_sizes": {"x": 784, "z1": 256, "z2": 64, "z3": 10},  # an MNIST-like MLP
    "speedup_target": 3.0,
    "slowdown_limit": 1.05,
}
QUICK = {
    **DEFAULT,
    "families": ["hourglass"],
    "scales": [0.05],
    "pairs": 3,
    "warmup": 1,
    "min_sample_s": 0.001,
    "random_lengths": [2, 5, 10],
    "random_samples": 100,
    "dp_repeats": 1,
}

HOURGLASS = (1000, 100, 10, 100, 1000)  # the headline chain
OPTIMAL = "adlab_optimal"  # the plan every other method is timed against
OTHERS = ("jax_jacfwd", "jax_jacrev", "adlab_forward", "adlab_reverse", "adlab_dense_optimal")
CONTROL = "adlab_optimal_again"  # the control: the optimal plan against a second compile of itself
PURE = {"jax": ("jax_jacfwd", "jax_jacrev"), "adlab": ("adlab_forward", "adlab_reverse")}


# ---- chains ---------------------------------------------------------------------------------


def chain_sizes(family: str, scale: float, seed: int) -> list[int]:
    """The sizes of one family's chain at one scale.

    Args:
      family: a key of FAMILIES.
      scale: multiplies the base sizes.
      seed: seeds the "random" family's sizes.

    Returns:
      The sizes [n0, ..., nL], each at least 1.
    """
    base, kinds = FAMILIES[family]
    if family == "random":
        rng = np.random.default_rng([seed, zlib.crc32(f"{family}{scale}".encode())])
        return rng.integers(1, max(1, round(1000 * scale)) + 1, len(kinds) + 1).tolist()
    return [max(1, round(n * scale)) for n in base]


def make_factors(sizes: Sequence[int], kinds: str) -> Callable[[list], list[Callable]]:
    """The chain's factors as a function of their weights (so that jit sees weights as inputs).

    Args:
      sizes: [n0, ..., nL].
      kinds: one letter per factor, "d" (tanh(W x)) or "e" (x + 0.5 sin(x), needs n_i = n_{i-1}).

    Returns:
      `factors(weights) -> [f_1, ..., f_L]`, with one weight matrix per "d" factor, in order.
    """

    def factors(weights: list) -> list[Callable]:
        ws = iter(weights)
        return [_dense(next(ws)) if kind == "d" else _elementwise for kind in kinds]

    for (n, m), kind in zip(itertools.pairwise(sizes), kinds, strict=True):
        if kind == "e" and n != m:
            raise ValueError(f"an elementwise factor keeps its size, got {n} -> {m}")
    return factors


def _dense(w: jax.Array) -> Callable[[jax.Array], jax.Array]:
    return lambda x: jnp.tanh(w @ x)


def _elementwise(x: jax.Array) -> jax.Array:
    return x + 0.5 * jnp.sin(x)


def _compose(fs: Sequence[Callable]) -> Callable:
    def f(x: jax.Array) -> jax.Array:
        for g in fs:
            x = g(x)
        return x

    return f


# ---- measurements ---------------------------------------------------------------------------


def measure_chain(key: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """Predicts, compiles and times every method on one chain.

    Args:
      key: {"kind": "chain", "family": ..., "scale": ...}.
      params: the experiment parameters.

    Returns:
      sizes, kinds and costs c_i; the dense and matrix-free predictions and optimal plans;
      per method its plan text, predicted (matrix-free) FLOPs, XLA FLOPs, compile and median
      times; per other method (and for the control) the per-pair time ratios
      optimal / other and their median.
    """
    family, scale = key["family"], key["scale"]
    sizes = chain_sizes(family, scale, params["seed"])
    kinds = FAMILIES[family][1]
    factors = make_factors(sizes, kinds)
    dtype = jnp.dtype(params["dtype"])
    # numpy draws: eager jax.random would compile one small program per weight shape
    rng = np.random.default_rng([params["seed"], zlib.crc32(f"{family}{scale}".encode())])
    weights = [
        jnp.asarray(rng.standard_normal((m, n)) / n**0.5, dtype)
        for (n, m), kind in zip(itertools.pairwise(sizes), kinds, strict=True)
        if kind == "d"
    ]
    x = jnp.asarray(rng.standard_normal(sizes[0]), dtype)
    costs = chain.costs(factors(weights), x, impl=adlab)
    dense = chain.optimal_bracketing(sizes)
    free = chain.optimal_plan(sizes, costs)
    L = len(sizes) - 1
    plans = {
        OPTIMAL: free,
        "adlab_forward": chain.Plan(chain.Tangent(1, L), sizes, costs),
        "adlab_reverse": chain.Plan(chain.Adjoint(1, L), sizes, costs),
        "adlab_dense_optimal": chain.Plan(dense.tree, sizes, costs),  # priced matrix-free
    }
    fns: dict[str, Callable] = {
        name: (lambda w, x, p=plan: chain.jacobian(factors(w), x, p, impl=adlab))
        for name, plan in plans.items()
    }
    fns["jax_jacfwd"] = lambda w, x: jax.jacfwd(_compose(factors(w)))(x)
    fns["jax_jacrev"] = lambda w, x: jax.jacrev(_compose(factors(w)))(x)
    predicted = {name: plan.flops for name, plan in plans.items()}
    predicted["jax_jacfwd"] = chain.tangent_flops(sizes, costs)
    predicted["jax_jacrev"] = chain.adjoint_flops(sizes, costs)

    methods, compiled = {}, {}
    for name, fn in fns.items():
        start = time.perf_counter()
        compiled[name] = jax.jit(fn).lower(weights, x).compile()
        methods[name] = {
            "plan": str(plans[name]) if name in plans else None,
            "predicted_flops": predicted[name],
            "xla_flops": cost.xla(fn, weights, x).flops,
            "compile_s": time.perf_counter() - start,
        }
    compiled[CONTROL] = jax.jit(fns[OPTIMAL]).lower(weights, x).compile()
    ratios, optimal_samples = {}, []
    for other in (*OTHERS, CONTROL):
        cmp = bench.compare(
            compiled[OPTIMAL],
            compiled[other],
            weights,
            x,
            repeats=params["pairs"],
            warmup=params["warmup"],
            min_sample_s=params["min_sample_s"],
        )
        ratios[other] = {"median": cmp.median_ratio, "ratios": list(cmp.ratios)}
        optimal_samples += cmp.a.samples_s
        if other in methods:
            methods[other]["median_s"] = cmp.b.median_s
    methods[OPTIMAL]["median_s"] = statistics.median(optimal_samples)
    return {
        "sizes": sizes,
        "kinds": kinds,
        "costs": list(costs),
        "dense": {
            "forward": chain.forward_flops(sizes),
            "reverse": chain.reverse_flops(sizes),
            "optimal": dense.flops,
            "plan": str(dense),
        },
        "matrix_free": {
            "tangent": chain.tangent_flops(sizes, costs),
            "adjoint": chain.adjoint_flops(sizes, costs),
            "optimal": free.flops,
            "plan": str(free),
        },
        "methods": methods,
        "ratio_optimal_over": ratios,
    }


def measure_random(key: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """min(forward, reverse) / optimal over random chains of one length L.

    Sizes are uniform in [1, random_max_size]. Dense model: forward_flops, reverse_flops and
    optimal_bracketing. Matrix-free model with c_i = 2 n_i n_{i-1} (one dense matvec).

    Args:
      key: {"kind": "random", "L": ...}.
      params: the experiment parameters.

    Returns:
      For each model, quantiles (p10, p25, median, p75, p90) and max of the ratio.
    """
    L = key["L"]
    rng = np.random.default_rng([params["seed"], L])
    dense, free = [], []
    for _ in range(params["random_samples"]):
        sizes = rng.integers(1, params["random_max_size"] + 1, L + 1).tolist()
        costs = [2 * a * b for a, b in itertools.pairwise(sizes)]
        best_pure = min(chain.forward_flops(sizes), chain.reverse_flops(sizes))
        dense.append(best_pure / chain.optimal_bracketing(sizes).flops)
        best_pure = min(chain.tangent_flops(sizes, costs), chain.adjoint_flops(sizes, costs))
        free.append(best_pure / chain.optimal_plan(sizes, costs).flops)
    return {"samples": len(dense), "dense": _quantiles(dense), "matrix_free": _quantiles(free)}


def _quantiles(values: Sequence[float]) -> dict[str, float]:
    q = np.quantile(values, [0.1, 0.25, 0.5, 0.75, 0.9])
    return {"p10": q[0], "p25": q[1], "median": q[2], "p75": q[3], "p90": q[4], "max": max(values)}


def measure_dp_timing(key: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """Seconds for both dynamic programmes on one random chain of `L` factors.

    Args:
      key: {"kind": "dp_timing", "L": ...}.
      params: the experiment parameters (seed, dp_repeats).

    Returns:
      Median and min seconds of each programme, and the sizes' range.
    """
    L = key["L"]
    sizes = np.random.default_rng([params["seed"], L, 1]).integers(1, 101, L + 1).tolist()
    costs = [2 * a * b for a, b in itertools.pairwise(sizes)]
    out: dict[str, Any] = {"sizes_range": [min(sizes), max(sizes)]}
    for name, solve in (
        ("optimal_bracketing", lambda: chain.optimal_bracketing(sizes)),
        ("optimal_plan", lambda: chain.optimal_plan(sizes, costs)),
    ):
        seconds = []
        for _ in range(params["dp_repeats"]):
            start = time.perf_counter()
            solve()
            seconds.append(time.perf_counter() - start)
        out[name] = {"median_s": statistics.median(seconds), "min_s": min(seconds)}
    return out


def measure_article(key: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """The article's two complexity sums for dl/dx = dl/dz3 dz3/dz2 dz2/dz1 dz1/dx.

    Args:
      key: {"kind": "article"}.
      params: the experiment parameters (article_sizes).

    Returns:
      The article's sums (multiply-adds, symbolic and numeric), adlab's FLOPs (2 per
      multiply-add) for the same orders, the optimal bracketing, and what the names mean.
    """
    s = params["article_sizes"]
    x, z1, z2, z3 = s["x"], s["z1"], s["z2"], s["z3"]
    sizes = [x, z1, z2, z3, 1]  # the scalar loss is the last "layer"
    from_loss = 1 * z3 * z2 + 1 * z2 * z1 + 1 * z1 * x
    from_input = z2 * z1 * x + z3 * z2 * x + 1 * z3 * x
    best = chain.optimal_bracketing(sizes)
    return {
        "sizes": sizes,
        "article_forwards_computation": {
            "starts_from": "dl/dz3 (the scalar loss)",
            "sum": "1|z3||z2| + 1|z2||z1| + 1|z1||x|",
            "multiply_adds": from_loss,
            "adlab_flops": chain.reverse_flops(sizes),
            "is": "reverse mode (vector-Jacobian products, backpropagation)",
        },
        "article_backwards_computation": {
            "starts_from": "dz1/dx (the input)",
            "sum": "|z2||z1||x| + |z3||z2||x| + 1|z3||x|",
            "multiply_adds": from_input,
            "adlab_flops": chain.forward_flops(sizes),
            "is": "forward mode (Jacobian accumulation from the input side)",
        },
        "ratio_backwards_over_forwards": from_input / from_loss,
        "optimal_bracketing": {"plan": str(best), "flops": best.flops},
        "statement": (
            "The order the article calls the 'forwards computation' starts from the scalar "
            "loss and multiplies towards the input: that is what AD calls reverse mode. Its "
            "'backwards computation' starts from dz1/dx: that is forward mode. With a scalar "
            "loss, reverse mode costs 2(|z3||z2| + |z2||z1| + |z1||x|) FLOPs against "
            "2|x|(|z2||z1| + |z3||z2| + |z3|) for forward mode."
        ),
    }


MEASURE = {
    "chain": measure_chain,
    "random": measure_random,
    "dp_timing": measure_dp_timing,
    "article": measure_article,
}


def describe(point: Mapping[str, Any]) -> str:
    """One self-describing line per finished point."""
    kind = point["kind"]
    if kind == "chain":
        # Times of the other methods are quoted only as paired ratios against the optimal plan
        # (timed interleaved, under the same load); separate medians would not be comparable.
        m, r = point["methods"], point["ratio_optimal_over"]
        return (
            f"{NAME} | family={point['family']} scale={point['scale']} "
            f"sizes={'-'.join(map(str, point['sizes']))} plan={point['matrix_free']['plan']} "
            f"dense_opt_x={_gain(point['dense']):.2f} free_opt_x={_gain(point['matrix_free']):.2f} "
            f"opt_ms={1e3 * m[OPTIMAL]['median_s']:.3g} "
            f"jacfwd_over_opt={1 / r['jax_jacfwd']['median']:.2f} "
            f"jacrev_over_opt={1 / r['jax_jacrev']['median']:.2f} "
            f"opt_over_itself={r[CONTROL]['median']:.2f}"
        )
    if kind == "random":
        d, f = point["dense"], point["matrix_free"]
        return (
            f"{NAME} | random L={point['L']} samples={point['samples']} "
            f"dense_median={d['median']:.2f} dense_p90={d['p90']:.2f} "
            f"free_median={f['median']:.2f} free_p90={f['p90']:.2f}"
        )
    if kind == "dp_timing":
        return (
            f"{NAME} | dp L={point['L']} "
            f"bracketing_s={point['optimal_bracketing']['median_s']:.3f} "
            f"plan_s={point['optimal_plan']['median_s']:.3f}"
        )
    return (
        f"{NAME} | article sizes={point['sizes']} "
        f"from_loss(reverse)={point['article_forwards_computation']['multiply_adds']} "
        f"from_input(forward)={point['article_backwards_computation']['multiply_adds']}"
    )


def _gain(model: Mapping[str, Any]) -> float:
    """How many times fewer FLOPs the optimum needs than the better pure order."""
    pure = [v for k, v in model.items() if k in ("forward", "reverse", "tangent", "adjoint")]
    return min(pure) / model["optimal"] if model["optimal"] else 1.0


def run(out_dir: pathlib.Path, quick: bool = False) -> pathlib.Path:
    """Runs the sweep (resuming from an existing JSON), then stores its summary in the JSON.

    Args:
      out_dir: where `chain_order.json` goes.
      quick: use the QUICK parameters (seconds) instead of DEFAULT (minutes).

    Returns:
      The JSON path.
    """
    params = QUICK if quick else DEFAULT
    grid: list[dict[str, Any]] = [
        {"kind": "article"},
        {"kind": "dp_timing", "L": params["dp_factors"]},
    ]
    grid += [{"kind": "random", "L": L} for L in params["random_lengths"]]
    grid += [
        {"kind": "chain", "family": f, "scale": s}
        for f in params["families"]
        for s in params["scales"]
    ]
    return run_sweep(
        NAME,
        out_dir,
        params,
        grid,
        lambda key: MEASURE[key["kind"]](key, params),
        describe=describe,
        summarize=summary,
        quick=quick,
    )


# ---- summary --------------------------------------------------------------------------------


def headline(data: Mapping[str, Any]) -> str:
    """The one-line finding, for the end-of-run summary."""
    s = data["summary"]
    free, measured = s["hourglass_model"]["matrix_free_matvec_costs"], s["hourglass_measured"]
    slower = s["optimal_over_best_pure"]["jax"]
    than = _plot.versus(
        [1 / measured["speedup_vs_faster_of_jacfwd_jacrev"]], "the faster of jax.jacfwd/jacrev"
    )
    return (
        f"on the hourglass the optimal plan needs {free['gain']:.1f}× fewer FLOPs than either "
        f"pure mode and ran {than}; it was >5% slower than the best pure mode on "
        f"{slower['chains_over_limit']} of {slower['chains']} chains"
    )


def summary(data: Mapping[str, Any]) -> dict[str, Any]:
    """The headline numbers, computed from the points of a results JSON.

    Args:
      data: the decoded JSON.

    Returns:
      The hourglass 1000-100-10-100-1000 FLOP savings (both models); the measured speed-up of
      adlab's optimal plan over the faster of jax.jacfwd / jax.jacrev on the largest measured
      hourglass; the worst ratio optimal / best pure mode over all chains; rank correlations of
      predicted and XLA FLOPs with measured times; random-chain quantiles; DP seconds; the
      article's sums.
    """
    params, points = data["params"], data["points"]
    chains = [p for p in points if p["kind"] == "chain"]
    out: dict[str, Any] = {"hourglass_model": _hourglass_model()}

    hourglasses = sorted(
        (p for p in chains if p["family"] == "hourglass"), key=lambda p: p["scale"]
    )
    if hourglasses:
        h = hourglasses[-1]
        r = h["ratio_optimal_over"]
        speedup = 1 / max(r[o]["median"] for o in PURE["jax"])
        out["hourglass_measured"] = {
            "sizes": h["sizes"],
            "plan": h["matrix_free"]["plan"],
            "predicted_gain_measured_costs": _gain(h["matrix_free"]),
            "speedup_vs_jacfwd": 1 / r["jax_jacfwd"]["median"],
            "speedup_vs_jacrev": 1 / r["jax_jacrev"]["median"],
            "speedup_vs_faster_of_jacfwd_jacrev": speedup,
            "target": params["speedup_target"],
            "target_met": speedup >= params["speedup_target"],
            "optimal_ms": 1e3 * h["methods"][OPTIMAL]["median_s"],
        }

    if chains:
        limit = params["slowdown_limit"]
        slow: dict[str, Any] = {"limit": limit}
        for who, pure in PURE.items():
            per_chain = [
                (max(p["ratio_optimal_over"][o]["median"] for o in pure), p) for p in chains
            ]
            worst, p = max(per_chain, key=lambda t: t[0])
            slow[who] = {
                "worst_ratio": worst,
                "worst_chain": f"{p['family']} scale={p['scale']} sizes={p['sizes']}",
                "chains_over_limit": sum(r > limit for r, _ in per_chain),
                "chains": len(per_chain),
            }
        control = [p["ratio_optimal_over"][CONTROL]["median"] for p in chains]
        slow["a_a_control"] = {
            "what": "the optimal plan timed against a second compile of itself (ideal: 1)",
            "min": min(control),
            "median": statistics.median(control),
            "max": max(control),
            "chains_outside_limit": sum(max(c, 1 / c) > limit for c in control),
        }
        slow["per_chain"] = [
            {
                "chain": f"{p['family']} scale={p['scale']}",
                "plan": p["matrix_free"]["plan"],
                "over_best_jax": max(p["ratio_optimal_over"][o]["median"] for o in PURE["jax"]),
                "over_best_adlab_pure": max(
                    p["ratio_optimal_over"][o]["median"] for o in PURE["adlab"]
                ),
                "a_a_control": p["ratio_optimal_over"][CONTROL]["median"],
            }
            for p in chains
        ]
        out["optimal_over_best_pure"] = slow
        rows = [m for p in chains for m in p["methods"].values()]
        t = [m["median_s"] for m in rows]
        out["rank_correlation"] = {
            "points": len(rows),
            "predicted_flops_vs_time": spearman([m["predicted_flops"] for m in rows], t),
            "xla_flops_vs_time": spearman([m["xla_flops"] for m in rows], t),
            "predicted_vs_xla_flops": spearman(
                [m["predicted_flops"] for m in rows], [m["xla_flops"] for m in rows]
            ),
        }
    out["random_chains"] = {
        str(p["L"]): {
            "dense_median": p["dense"]["median"],
            "dense_p90": p["dense"]["p90"],
            "matrix_free_median": p["matrix_free"]["median"],
            "matrix_free_p90": p["matrix_free"]["p90"],
        }
        for p in points
        if p["kind"] == "random"
    }
    for p in points:
        if p["kind"] == "dp_timing":
            out[f"dp_seconds_L{p['L']}"] = {
                k: p[k]["median_s"] for k in ("optimal_bracketing", "optimal_plan")
            }
        if p["kind"] == "article":
            out["article"] = {k: v for k, v in p.items() if k != "kind"}
    return out


def _hourglass_model() -> dict[str, Any]:
    """The issue's analytic headline: 1000-100-10-100-1000, dense and with c_i = 2 n_i n_{i-1}."""
    costs = [2 * a * b for a, b in itertools.pairwise(HOURGLASS)]
    dense, free = chain.optimal_bracketing(HOURGLASS), chain.optimal_plan(HOURGLASS, costs)
    d = {"forward": chain.forward_flops(HOURGLASS), "reverse": chain.reverse_flops(HOURGLASS)}
    f = {
        "tangent": chain.tangent_flops(HOURGLASS, costs),
        "adjoint": chain.adjoint_flops(HOURGLASS, costs),
    }
    return {
        "sizes": list(HOURGLASS),
        "dense": {
            **d,
            "optimal": dense.flops,
            "plan": str(dense),
            "gain": min(d.values()) / dense.flops,
        },
        "matrix_free_matvec_costs": {
            **f,
            "costs": costs,
            "optimal": free.flops,
            "plan": str(free),
            "gain": min(f.values()) / free.flops,
        },
    }


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation (ties get their average rank), with numpy only.

    Args:
      a: one sample.
      b: the other, as long as `a`.

    Returns:
      The Pearson correlation of the ranks.
    """
    return float(np.corrcoef(_ranks(a), _ranks(b))[0, 1])


def _ranks(values: Sequence[float]) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    _, tie_group, counts = np.unique(values, return_inverse=True, return_counts=True)
    return (np.bincount(tie_group, ranks) / counts)[tie_group]


# ---- figures --------------------------------------------------------------------------------

# One colour and one marker per method, the same in every panel of both figures.
METHODS = {
    "jax_jacfwd": _plot.Series("jax.jacfwd (forward mode)", _plot.BLUE, "^"),
    "jax_jacrev": _plot.Series("jax.jacrev (reverse mode)", _plot.VERMILLION, "v"),
    "adlab_forward": _plot.Series("adlab forward mode, tan{...}", _plot.PURPLE, "o"),
    "adlab_reverse": _plot.Series("adlab reverse mode, adj{...}", _plot.ORANGE, "s"),
    "adlab_dense_optimal": _plot.Series("adlab dense-optimal bracketing", _plot.BLACK, "D"),
    OPTIMAL: _plot.Series("adlab optimal plan", _plot.GREEN, "*"),
}
# In the FLOP model adlab's pure modes cost what JAX's do: one series each.
PREDICTED = {
    "jax_jacfwd": _plot.Series("forward mode (jax.jacfwd, adlab)", _plot.BLUE, "^"),
    "jax_jacrev": _plot.Series("reverse mode (jax.jacrev, adlab)", _plot.VERMILLION, "v"),
    "adlab_dense_optimal": METHODS["adlab_dense_optimal"],
}
AA = _plot.Series("control: optimal plan vs a second compile of itself", _plot.GREY, "x")
NOTATION = (
    "tan{J4 J3}: J4 J3 built with forward-mode sweeps (JVPs); "
    "adj{J2 J1}: J2 J1 built with reverse-mode sweeps (VJPs); (A B): a dense product"
)


def plot(json_path: pathlib.Path, png_path: pathlib.Path) -> None:
    """Draws two figures from the JSON alone: the headline at png_path, the detail beside it.

    The headline (`png_path`): on the largest measured hourglass chain, the predicted FLOPs and
    the measured time of jax.jacfwd, jax.jacrev and adlab's optimal plan, as multiples of the
    optimal plan's. The detail (`<stem>_detail.png`): for every chain, each method's predicted
    FLOPs and measured time as multiples of the optimal plan's; predicted FLOPs against
    measured time; random chains; the article's two orders.

    Args:
      json_path: the results JSON.
      png_path: where the headline PNG goes; the detail goes to `<stem>_detail.png` beside it.
    """
    data = read_json(json_path)
    s = summary(data)
    png_path = pathlib.Path(png_path)
    with _plot.style():
        _plot_headline(data, s, png_path)
        _plot_detail(data, s, png_path.with_name(f"{png_path.stem}_detail{png_path.suffix}"))


def _chains(data: Mapping[str, Any]) -> list[dict]:
    """The chain points, in the order of the params' families, then by size."""
    order = {f: i for i, f in enumerate(data["params"]["families"])}
    chains = [p for p in data["points"] if p["kind"] == "chain"]
    return sorted(chains, key=lambda p: (order.get(p["family"], len(order)), p["scale"]))


def _sizes(data: Mapping[str, Any], sizes: Sequence[int] | None = None) -> str:
    """The footer's sizes: every chain family's (the detail), or one chain's (the headline)."""
    params = data["params"]
    if sizes is None:
        scales = ", ".join(f"{v:g}" for v in params["scales"])
        chains = _plot.plural(len(params["families"]), "chain family", "chain families")
        what = f"{chains} at widths × {scales}"
        what += f" · random chains: {params['random_samples']} per length"
    else:
        what = f"chain {'-'.join(map(str, sizes))}"
    return f"{what} · {params['dtype']} · times: medians of {params['pairs']} interleaved pairs"


# ---- the headline figure


def _plot_headline(data: Mapping[str, Any], s: Mapping[str, Any], png_path: pathlib.Path) -> None:
    """Hourglass chain: predicted FLOPs and measured time per method, ÷ the optimal plan's."""
    hourglasses = [p for p in _chains(data) if p["family"] == "hourglass"]
    fig = _plot.figure(14, 5.6)
    ax_chain, ax = fig.subplots(1, 2, width_ratios=[1.2, 3])
    names = ["jax_jacfwd", "jax_jacrev", OPTIMAL]
    if hourglasses:
        h = hourglasses[-1]
        sizes, plan, m = h["sizes"], h["matrix_free"]["plan"], h["methods"]
        flops = {n: m[n]["predicted_flops"] / m[OPTIMAL]["predicted_flops"] for n in names}
        times = {n: 1 / h["ratio_optimal_over"][n]["median"] for n in names[:2]}
        times[OPTIMAL] = 1.0
        measured = s["hourglass_measured"]
        speedup = measured["speedup_vs_faster_of_jacfwd_jacrev"]
        gain = min(flops[n] for n in names[:2])
        than = _plot.versus([1 / speedup], "the faster of jacfwd and jacrev")
        title = f"Mixing forward and reverse mode: {gain:.0f}× fewer FLOPs, and {than}"
        best = m[OPTIMAL]
        optimal_abs = (
            f"{_plot.si(best['predicted_flops'], 'FLOP')}, {_plot.si(best['median_s'], 's')}"
        )
    else:  # no hourglass measured: the analytic model alone
        model = s["hourglass_model"]["matrix_free_matvec_costs"]
        sizes, plan = s["hourglass_model"]["sizes"], model["plan"]
        flops = {
            "jax_jacfwd": model["tangent"] / model["optimal"],
            "jax_jacrev": model["adjoint"] / model["optimal"],
            OPTIMAL: 1.0,
        }
        times = {}
        gain = min(flops["jax_jacfwd"], flops["jax_jacrev"])
        title = f"Mixing forward and reverse mode needs {gain:.0f}× fewer FLOPs than either"
        optimal_abs = f"{_plot.si(model['optimal'], 'FLOP')}, not timed in this run"
    _draw_chain(ax_chain, sizes, plan)
    labels = {
        "jax_jacfwd": "forward mode\njax.jacfwd",
        "jax_jacrev": "reverse mode\njax.jacrev",
        OPTIMAL: f"optimal mix (adlab)\n{plan}",
    }
    y = np.arange(len(names))[::-1]
    colors = [METHODS[n].color for n in names]
    dy_flops, dy_time = _plot.offsets(2, 0.7)
    drawn = ax.barh(
        y - dy_flops,
        [flops[n] for n in names],
        height=0.33,
        color="white",
        edgecolor=colors,
        hatch="///",
        lw=1.5,
    )
    ax.bar_label(drawn, [f"{flops[n]:.1f}×" for n in names], padding=4)
    handles = [Patch(facecolor="white", edgecolor=_plot.GREY, hatch="///", label="predicted FLOPs")]
    if times:
        drawn = ax.barh(y - dy_time, [times[n] for n in names], height=0.33, color=colors)
        ax.bar_label(drawn, [f"{times[n]:.1f}×" for n in names], padding=4)
        handles.append(Patch(color=_plot.GREY, label="measured time (median of paired ratios)"))
    ax.set_yticks(y, [labels[n] for n in names])
    ax.set_xlim(0, max(*flops.values(), *times.values(), 1) * 1.12)
    ax.set_xlabel(f"cost ÷ the optimal mix's cost (optimal: {optimal_abs})")
    ax.grid(axis="y", visible=False)
    ax.legend(handles=handles, loc="lower right")
    ax.set_title("Computing the whole Jacobian under jax.jit", loc="left")
    _plot.finish(fig, data, png_path, title, _sizes(data, sizes))


def _steps(plan: str, sizes: Sequence[int]) -> list[tuple[str, int, int, str]]:
    """What a plan does, outermost first: (mode, from x, to x, text) per sweep or product.

    x counts layer widths: factor i maps the width at x = i - 1 to the width at x = i.
    """
    out = []
    stack = [chain.parse_tree(plan)]
    while stack:
        node = stack.pop()
        lo, hi = node.span
        if isinstance(node, chain.Product):
            k = node.right.span[1]
            text = f"product ({sizes[hi]}×{sizes[k]})·({sizes[k]}×{sizes[lo - 1]})"
            out.append(("product", lo - 1, hi, text))
            stack += [node.right, node.left]
        elif isinstance(node, chain.Tangent):  # tangents travel towards the output
            out.append(
                (
                    "forward",
                    node.first - 1,
                    node.last,
                    f"forward: {_plot.plural(sizes[lo - 1], 'JVP')}",
                )
            )
            stack += [] if node.seed is None else [node.seed]
        elif isinstance(node, chain.Adjoint):  # adjoints travel back towards the input
            out.append(
                ("reverse", node.last, node.first - 1, f"reverse: {_plot.plural(sizes[hi], 'VJP')}")
            )
            stack += [] if node.seed is None else [node.seed]
    return out


def _draw_chain(ax: Any, sizes: Sequence[int], plan: str) -> None:
    """The chain's layer widths as bars (its shape at a glance) and the plan's sweeps as arrows."""
    x = np.arange(len(sizes))
    top = max(sizes)
    ax.bar(x, sizes, width=0.5, color=_plot.GREY)
    names = ["input", *(f"h{i}" for i in x[1:-1]), "output"]
    for xi, n, name in zip(x, sizes, names, strict=True):
        ax.text(xi, n + 0.02 * top, f"{n}", ha="center", va="bottom")
        ax.text(xi, -0.03 * top, name, ha="center", va="top")
    sweeps = [t for t in _steps(plan, sizes) if t[0] != "product"]
    products = [t[3] for t in _steps(plan, sizes) if t[0] == "product"]
    placed: list[tuple[int, float, float]] = []
    for mode, start, end, text in sweeps:
        left, right = min(start, end), max(start, end)
        level = 1 + max((lv for lv, a, b in placed if a < right and left < b), default=-1)
        placed.append((level, left, right))
        height = -(0.22 + 0.22 * level) * top
        color = METHODS["jax_jacfwd" if mode == "forward" else "jax_jacrev"].color
        ax.annotate(
            "",
            (end, height),
            xytext=(start, height),
            arrowprops={"arrowstyle": "-|>", "color": color, "lw": 2.5, "mutation_scale": 18},
        )
        ax.text((left + right) / 2, height - 0.03 * top, text, color=color, ha="center", va="top")
    bottom = -(0.22 + 0.22 * (1 + max((lv for lv, _, _ in placed), default=-1))) * top
    if products:
        ax.text(len(sizes) / 2 - 0.5, bottom, "then " + ", ".join(products), ha="center")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    ax.spines[["left", "bottom"]].set_visible(False)
    ax.axhline(0, color=_plot.GREY, lw=0.8)
    ax.set_ylim(bottom - 0.08 * top, 1.12 * top)
    ax.set_xlim(-0.6, len(sizes) - 0.4)
    ax.set_title(f"The chain: widths of {len(sizes) - 1} tanh(W x) layers", loc="left")


# ---- the detail figure


def _plot_detail(data: Mapping[str, Any], s: Mapping[str, Any], png_path: pathlib.Path) -> None:
    """Every chain against the optimal plan; FLOPs vs time; random chains; the article's sums.

    A panel whose part was not measured in this run is left out, never drawn empty.
    """
    chains = _chains(data)
    randoms = any(p["kind"] == "random" for p in data["points"])
    bottom_panels = [
        *([lambda ax: _plot_predicted_vs_time(ax, chains, s.get("rank_correlation"))]
          if chains else []),
        *([lambda ax: _plot_random(ax, data, s)] if randoms else []),
        *([lambda ax: _plot_article(ax, s["article"])] if s.get("article") else []),
    ]  # fmt: skip
    parts = [part for part, drawn in (("strips", chains), ("bottom", bottom_panels)) if drawn]
    if not parts:
        return
    heights = {"strips": 2.1, "bottom": 1.0}
    fig = _plot.figure(17, 5 + 11 * len(parts) / 2)
    subs = np.atleast_1d(fig.subfigures(len(parts), 1, height_ratios=[heights[x] for x in parts]))
    sub = dict(zip(parts, subs, strict=True))
    if chains:
        ax_flops, ax_time = sub["strips"].subplots(2, 1, sharex=True)
        _plot_strip_flops(ax_flops, chains)
        _plot_strip_time(ax_time, chains, data["params"]["slowdown_limit"])
        slow = s["optimal_over_best_pure"]["jax"]
        limit = 100 * (data["params"]["slowdown_limit"] - 1)
        title = (
            "Optimal plans never need more FLOPs than a pure mode, yet ran "
            f">{limit:.0f}% slower on {slow['chains_over_limit']} of {slow['chains']} chains"
        )
    else:
        title = "Chain order in detail: random chains and the article's example"
    if bottom_panels:
        axes = np.atleast_1d(sub["bottom"].subplots(1, len(bottom_panels)))
        for ax, draw in zip(axes, bottom_panels, strict=True):
            draw(ax)
    _plot.finish(fig, data, png_path, title, _sizes(data))


def _slots(ax: Any, chains: list[dict], labels: bool) -> None:
    """One x slot per chain, grouped by family; with `labels`, tick labels give each chain's
    widths and optimal plan, otherwise the family names go above the axes."""
    x = np.arange(len(chains))
    ax.set_xlim(-0.6, len(chains) - 0.4)
    ax.set_xticks(x)
    ax.grid(axis="x", visible=False)
    if labels:
        ax.set_xticklabels(
            [f"{'-'.join(map(str, p['sizes']))}\n{p['matrix_free']['plan']}" for p in chains],
            rotation=90,
            family="monospace",
        )
    _plot.slot_groups(ax, [p["family"] for p in chains], label=not labels)


def _plot_strip_flops(ax: Any, chains: list[dict]) -> None:
    shift = dict(zip(PREDICTED, _plot.offsets(len(PREDICTED)), strict=True))
    ax.axhline(1, color=_plot.GREEN, lw=2, label=METHODS[OPTIMAL].label + " (= 1×)")
    for name, series in PREDICTED.items():
        ys = [
            p["methods"][name]["predicted_flops"] / p["methods"][OPTIMAL]["predicted_flops"]
            for p in chains
        ]
        ax.plot(np.arange(len(chains)) + shift[name], ys, **series.markers(8))
    _plot.times_axis(ax)
    ax.set_ylabel("predicted FLOPs\n÷ the optimal plan's")
    ax.set_title(
        "Predicted FLOPs (matrix-free model; c_i, the FLOPs of one JVP or VJP through factor i,"
        " counted by adlab.cost)",
        loc="left",
        pad=22,
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
    _slots(ax, chains, labels=False)


def _plot_strip_time(ax: Any, chains: list[dict], limit: float) -> None:
    others = [*OTHERS, CONTROL]
    shift = dict(zip(others, _plot.offsets(len(others), 0.75), strict=True))
    ax.axhspan(
        1 / limit,
        limit,
        color=_plot.GREEN,
        alpha=0.15,
        lw=0,
        label=f"within {100 * (limit - 1):.0f}% of the optimal plan",
    )
    ax.axhline(1, color=_plot.GREEN, lw=2, label=METHODS[OPTIMAL].label + " (= 1×)")
    for name in others:
        series = AA if name == CONTROL else METHODS[name]
        ys = [1 / p["ratio_optimal_over"][name]["median"] for p in chains]
        ax.plot(np.arange(len(chains)) + shift[name], ys, **series.markers(7))
    _plot.times_axis(ax)
    ax.set_ylabel("measured time\n÷ the optimal plan's")
    ax.set_title(
        "Measured time under jax.jit (median of paired ratios); below 1×: faster than "
        "the optimal plan",
        loc="left",
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
    _slots(ax, chains, labels=True)
    ax.set_xlabel("chain: layer widths n0-…-nL and its optimal plan  (" + NOTATION + ")")


def _plot_predicted_vs_time(ax: Any, chains: list[dict], rho: Mapping[str, Any] | None) -> None:
    for name, series in METHODS.items():
        xs = [p["methods"][name]["predicted_flops"] for p in chains]
        ys = [1e3 * p["methods"][name]["median_s"] for p in chains]
        ax.plot(xs, ys, alpha=0.85, **series.markers(9 if name == OPTIMAL else 6))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("predicted FLOPs")
    ax.set_ylabel("measured time, ms (median)")
    ax.set_title(
        f"FLOPs predict time: Spearman ρ = {rho['predicted_flops_vs_time']:.2f}"
        if rho
        else "Predicted FLOPs and measured time"
    )
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)


def _plot_random(ax: Any, data: Mapping[str, Any], s: Mapping[str, Any]) -> None:
    points = sorted((p for p in data["points"] if p["kind"] == "random"), key=lambda p: p["L"])
    L = [p["L"] for p in points]
    d = {q: [p["dense"][q] for p in points] for q in ("p10", "p25", "median", "p75", "p90")}
    ax.fill_between(
        L, d["p10"], d["p90"], color=_plot.BLACK, alpha=0.08, lw=0, label="10–90% of chains"
    )
    ax.fill_between(
        L, d["p25"], d["p75"], color=_plot.BLACK, alpha=0.15, lw=0, label="25–75% of chains"
    )
    ax.plot(L, d["median"], "o-", color=_plot.BLACK, label="median")
    _plot.times_axis(ax)
    ax.set_xlabel("chain length L (number of factors)")
    ax.set_ylabel("better pure mode's FLOPs\n÷ the optimal's")
    params = data["params"]
    ref = min(L, key=lambda v: abs(v - 10))
    med = dict(zip(L, d["median"], strict=True))[ref]
    ax.set_title(f"Random chains: at L = {ref} the better pure mode costs {med:.1f}× the optimum")
    free = [p["matrix_free"]["median"] / p["dense"]["median"] - 1 for p in points]
    notes = [
        f"dense model; sizes uniform in [1, {params['random_max_size']}], "
        f"{params['random_samples']} chains per L",
        f"matrix-free model (c_i = 2 n_i n_i-1): medians {100 * min(free):.0f}–"
        f"{100 * max(free):.0f}% higher",
    ]
    dp = s.get(f"dp_seconds_L{params['dp_factors']}")
    if dp:
        notes.append(
            f"both optimisers solve {params['dp_factors']} factors in {max(dp.values()):.2f} s"
        )
    legend = ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3)
    legend.set_title("\n".join(notes))  # the notes under the axes too: off the data


def _plot_article(ax: Any, seed: Mapping[str, Any]) -> None:
    rows = [
        (
            "article_backwards_computation",
            'forward mode\n(the article\'s\n"backwards" order)',
            METHODS["jax_jacfwd"].color,
        ),
        (
            "article_forwards_computation",
            'reverse mode\n(the article\'s\n"forwards" order)',
            METHODS["jax_jacrev"].color,
        ),
    ]
    values = [seed[k]["multiply_adds"] for k, _, _ in rows]
    drawn = ax.barh([1, 0], values, color=[c for _, _, c in rows], height=0.55)
    ax.bar_label(drawn, [f"{v:,}" for v in values], padding=4)
    ax.set_yticks([1, 0], [label for _, label, _ in rows])
    ax.set_xlim(0, max(values) * 1.35)  # a linear axis: the bars' lengths are the counts
    ax.xaxis.set_major_formatter(lambda v, _: _plot.si(v, "") if v else "0")
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("multiply-adds for ∂ℓ/∂x")
    x, z1, z2, z3, _ = seed["sizes"]
    ax.set_title(
        f"The article's MLP {x}-{z1}-{z2}-{z3}: reverse mode is "
        f"{seed['ratio_backwards_over_forwards']:.0f}× cheaper"
    )


def readme(data: Mapping[str, Any]) -> str:
    """The README section for this experiment, with every number read from its JSON."""
    s = data["summary"]
    dense, free = s["hourglass_model"]["dense"], s["hourglass_model"]["matrix_free_matvec_costs"]
    measured, slower = s["hourglass_measured"], s["optimal_over_best_pure"]
    rank, rand, seed = s["rank_correlation"], s["random_chains"], s["article"]
    sizes = "-".join(map(str, s["hourglass_model"]["sizes"]))
    worst = slower["jax"]
    l10 = rand["10"]
    longest = max(rand, key=int)
    forwards, backwards = (
        seed["article_forwards_computation"],
        seed["article_backwards_computation"],
    )
    fast = "faster of `jax.jacfwd` / `jax.jacrev`"
    speedup = measured["speedup_vs_faster_of_jacfwd_jacrev"]
    over = "; ".join(
        f"{c['chain'].split(' sizes')[0]} {c['over_best_jax']:.2f}× "
        f"(control {c['a_a_control']:.2f})"
        for c in slower["per_chain"]
        if c["over_best_jax"] > slower["limit"]
    )
    verdict = (
        "holds"
        if worst["chains_over_limit"] == 0
        else f"does not hold on {worst['chains_over_limit']} of {worst['chains']} chains"
    )
    return f"""### Jacobian chain order (`python -m experiments chain_order`)

![chain_order](figures/chain_order.png)

J = J_L ⋯ J_1 can be accumulated from the input side (forward mode, `jax.jacfwd`), from the
output side (reverse mode, `jax.jacrev`), or in any mixed order. `adlab.chain.optimal_plan`
finds the cheapest mix of tangent sweeps, adjoint sweeps and dense products (Naumann 2020),
and `adlab.chain.jacobian` runs it under `jax.jit`.

- **Hourglass {sizes}:** the optimal bracketing `{dense["plan"]}` needs **{dense["gain"]:.1f}×**
  fewer FLOPs than either pure order ({dense["optimal"]:,} vs {dense["forward"]:,}). In the
  matrix-free model `{free["plan"]}` needs **{free["gain"]:.1f}×** fewer
  ({free["optimal"]:,} vs {free["tangent"]:,}).
- **Measured:** on that hourglass adlab's optimal plan is **{speedup:.1f}×**
  faster than the {fast} (target ≥ {measured["target"]:g}×; {measured["optimal_ms"]:.2f} ms).
- Predicted FLOPs rank the measured times with Spearman ρ = {rank["predicted_flops_vs_time"]:.2f}
  over {rank["points"]} (chain, method) points; XLA's FLOPs and the predicted ones have
  ρ = {rank["predicted_vs_xla_flops"]:.3f}.
- **Random chains** with sizes uniform in [1, 100]: at L = 10 the better pure order costs a
  median {l10["dense_median"]:.1f}× (p90 {l10["dense_p90"]:.0f}×) the optimum; at L =
  {longest}, {rand[longest]["dense_median"]:.1f}× (p90 {rand[longest]["dense_p90"]:.0f}×).
- Both dynamic programmes solve a 200-factor chain in
  {max(s["dp_seconds_L200"].values()):.2f} s or less.
- **"The optimal plan is never more than {100 * (slower["limit"] - 1):.0f}% slower than the best
  pure mode"** {verdict}: {over or "none"}. On the diamonds, forward and reverse cost exactly
  the same FLOPs. The plan breaks that tie towards the tangent sweep, which keeps no tape, and
  on this CPU the adjoint sweep (`jax.jacrev`) ran faster. The control in brackets is the
  optimal plan timed against a second compile of itself, which would be 1.00 on a quiet
  machine; it ranged
  {slower["a_a_control"]["min"]:.2f}–{slower["a_a_control"]["max"]:.2f} over all chains.

![chain_order details](figures/chain_order_detail.png)

**The worked example of the source article that introduces backpropagation through a
"forwards" and a "backwards" computation** (it gives no title or author). For
∂ℓ/∂x = ∂ℓ/∂z3 · ∂z3/∂z2 · ∂z2/∂z1 · ∂z1/∂x with a scalar loss and sizes
|x|, |z1|, |z2|, |z3| = {", ".join(map(str, seed["sizes"][:4]))}: the article's "forwards
computation" starts from the scalar loss and costs {forwards["sum"]} =
{forwards["multiply_adds"]:,} multiply-adds. That is what AD calls **reverse mode**. Its
"backwards computation" starts from ∂z1/∂x and costs {backwards["sum"]} =
{backwards["multiply_adds"]:,}, {seed["ratio_backwards_over_forwards"]:.0f}× more: that is
**forward mode**. The optimal bracketing is the reverse order
`{seed["optimal_bracketing"]["plan"]}`."""
