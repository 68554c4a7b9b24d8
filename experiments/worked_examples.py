"""worked_examples: the source articles' worked examples, recomputed by adlab, with verdicts.

Three articles work examples by hand: "Backpropagation: From Intuition to FLOPs", "Neural
network and backpropagation" and "Backpropagation Broken Down". Each example here is run
through `adlab.explain`, which evaluates it once with adlab's own interpreters and keeps
every value, tangent and cotangent. Each number an article prints is compared with adlab's
at the precision the article prints it: it "holds" if it equals adlab's value rounded to
those digits, is "rounded" if it is a coarser rounding of it, and is "wrong" otherwise, with
the reason. Each formula an article states for a gradient is evaluated on random inputs and
compared with adlab's cotangents.

The run writes the JSON, `worked_examples.md` (each example's forward and backward tables, in
Markdown, with the verdicts) and a figure with the graphs of two examples, each value showing
value | tangent | gradient. Drawing the graphs needs the optional extra `adlab[graph]`.
"""

from __future__ import annotations

import math
import pathlib
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import adlab
from adlab.explanation import _graph
from experiments import _plot
from experiments._common import read_json, run_sweep, write_text
from experiments._compiled import where_measured

NAME = "worked_examples"

ARTICLES = {
    "000": "Backpropagation: From Intuition to FLOPs",
    "002": "Neural network and backpropagation",
    "003": "Backpropagation Broken Down",
}
EXAMPLES = [
    "circuit", "neuron", "gates", "relu", "matmul", "jacobian_size", "scalar_loss",
    "two_layer", "linear_layer",
]  # fmt: skip
DEFAULT = {"examples": EXAMPLES, "seed": 0, "dtype": "float32"}
QUICK = {**DEFAULT, "examples": ["circuit", "neuron", "relu", "scalar_loss"]}
GRAPHS = ("circuit", "neuron")  # the examples drawn in the figure
# float32 formulas against adlab's cotangents: a relative difference below this is equal.
FORMULA_RTOL = 1e-5


# ---- verdicts -------------------------------------------------------------------------------
def number(claim: str, printed: float, measured: float, decimals: int | None,
           note: str = "") -> dict[str, Any]:  # fmt: skip
    """One printed number against adlab's.

    Args:
      claim: the article's words.
      printed: the number as the article prints it.
      measured: adlab's value.
      decimals: the digits the article prints after the point (None: an exact number).
      note: why a number that does not hold is off.

    Returns:
      The claim with its verdict: "holds" (equal at the printed digits), "rounded" (within
      10% but not at the printed digits) or "wrong".
    """
    measured = float(measured)
    if decimals is None:
        holds = math.isclose(printed, measured, rel_tol=1e-6, abs_tol=1e-6)
    else:
        holds = abs(round(measured, decimals) - printed) < 0.5 * 10.0**-decimals
    if holds:
        verdict = "holds"
    elif math.isclose(printed, measured, rel_tol=0.1):
        verdict = "rounded"
    else:
        verdict = "wrong"
    return {"claim": claim, "printed": printed, "adlab": measured, "decimals": decimals,
            "verdict": verdict, "note": "" if holds else note}  # fmt: skip


def formula(claim: str, value: Any, adlab_value: Any, note: str = "") -> dict[str, Any]:
    """A gradient formula, evaluated, against adlab's cotangent (shape and values)."""
    value, adlab_value = np.asarray(value), np.asarray(adlab_value)
    same_shape = value.shape == adlab_value.shape
    scale = float(np.max(np.abs(adlab_value))) or 1.0
    error = float(np.max(np.abs(value - adlab_value))) / scale if same_shape else math.inf
    holds = same_shape and error <= FORMULA_RTOL
    return {
        "claim": claim, "shape": list(value.shape), "adlab_shape": list(adlab_value.shape),
        "max_relative_difference": error, "verdict": "holds" if holds else "wrong",
        "note": "" if holds else note,
    }  # fmt: skip


# ---- the examples ---------------------------------------------------------------------------
def _explained(
    fun: Callable, *args: Any, **kwargs: Any
) -> tuple[adlab.explanation.Explanation, dict]:
    e = adlab.explain(fun, *args, **kwargs)
    return e, {"forward": e.forward_table().markdown(), "reverse": e.reverse_table().markdown()}


def circuit(dtype: Any, key: jax.Array) -> dict[str, Any]:
    """f(x, y, z) = (x + y) z at x = -2, y = 5, z = -4."""

    def f(x, y, z):
        q = x + y
        return q * z

    e, tables = _explained(f, *(jnp.asarray(v, dtype) for v in (-2.0, 5.0, -4.0)))
    q = e.recording.eqns()[0].outputs[0]
    claims = [
        number("q = 3", 3, e.value(q), None),
        number("f = -12", -12, e.value("out"), None),
        number("df/dz = q = 3", 3, e.gradient("z"), None),
        number("df/dq = z = -4", -4, e.gradient(q), None),
        number("df/dy = -4 * 1 = -4", -4, e.gradient("y"), None),
        number("df/dx = -4 * 1 = -4", -4, e.gradient("x"), None),
    ]
    return {
        "article": "002",
        "claims": claims,
        "tables": tables,
        "graph": _layout(e, "f = (x + y) z at x = -2, y = 5, z = -4"),
    }


def neuron(dtype: Any, key: jax.Array) -> dict[str, Any]:
    """The sigmoid neuron f(w, x) = sigma(w0 x0 + w1 x1 + w2), written as the article's flat
    code, at w = (2, -3, -3) and x = (-1, -2)."""

    def f(w0, x0, w1, x1, w2):
        s0 = w0 * x0
        s1 = w1 * x1
        s2 = s0 + s1
        s3 = s2 + w2
        return jax.nn.sigmoid(s3)

    args = [jnp.asarray(v, dtype) for v in (2.0, -1.0, -3.0, -2.0, -3.0)]
    e, tables = _explained(f, *args)
    sig = e.recording.eqns()[-1]
    s3 = sig.inputs[0]
    local = sig.local[0]
    rounding = ("0.1971 is 0.73 x 0.27, the product of the two factors rounded to two digits; "
                "the local gradient itself is 0.19661, which rounds to the 0.20 the article "
                "then reports")  # fmt: skip
    claims = [
        number("The input to this entire sigmoid block was the value 1.00", 1.00, e.value(s3), 2),
        number("the output of the sigmoid block was 0.73", 0.73, e.value("out"), 2),
        number(
            "the local gradient is 0.73 * (1 - 0.73) = 0.73 * 0.27 ≈ 0.1971",
            0.1971,
            local,
            4,
            rounding,
        ),  # fmt: skip
        number("this evaluates to approximately 0.2", 0.2, e.gradient(s3), 1),
        number(
            "the gradient [...] at the input of the multiply by -1 gate [...] was indeed 0.20",
            0.20,
            e.gradient(s3),
            2,
        ),  # fmt: skip
        number("gradient of w0: -0.20", -0.20, e.gradient("w0"), 2),
        number("gradient of x0: 0.39", 0.39, e.gradient("x0"), 2),
        number("gradient of w1: -0.39", -0.39, e.gradient("w1"), 2),
        number("gradient of x1: -0.59", -0.59, e.gradient("x1"), 2),
        number("gradient of w2: 0.20", 0.20, e.gradient("w2"), 2),
    ]
    return {
        "article": "002",
        "claims": claims,
        "tables": tables,
        "graph": _layout(
            e, "the sigmoid neuron σ(w0 x0 + w1 x1 + w2) at w = (2, -3, -3), x = (-1, -2)"
        ),
    }


def gates(dtype: Any, key: jax.Array) -> dict[str, Any]:
    """The gate patterns, each with an upstream gradient of 2 at x = 3, y = -1."""
    x, y, g = (jnp.asarray(v, dtype) for v in (3.0, -1.0, 2.0))
    tables: dict[str, str] = {}
    claims = []

    def downstream(fun, *args):
        e, t = _explained(fun, *args, cotangent=g)
        tables[fun.__name__] = t["reverse"]
        return e

    def add(x, y):
        return x + y

    def mul(x, y):
        return x * y

    def maximum(x, y):
        return jnp.maximum(x, y)

    e = downstream(add, x, y)
    claims.append(number("add distributes: dL/dx = upstream = 2", 2, e.gradient("x"), None))
    claims.append(number("add distributes: dL/dy = upstream = 2", 2, e.gradient("y"), None))
    e = downstream(mul, x, y)
    claims.append(number("mul swaps: dL/dx = upstream * y = -2", -2, e.gradient("x"), None))
    claims.append(number("mul swaps: dL/dy = upstream * x = 6", 6, e.gradient("y"), None))
    top = downstream(maximum, x, y)
    claims.append(number("max routes: the winner x gets the upstream 2", 2, top.gradient("x"),
                         None))  # fmt: skip
    claims.append(number("max routes: the loser y gets 0", 0, top.gradient("y"), None))

    def copy(x):
        return 2.0 * x + 3.0 * x  # x is used twice: a copy gate

    e = downstream(copy, x)
    paths = [s.downstream[s.inputs.index("x")] for s in e.recording.eqns() if "x" in s.inputs]
    claims.append(number("a copy adds: the path through 2x brings back 2 * 2 = 4", 4,
                         paths[0], None))  # fmt: skip
    claims.append(number("a copy adds: the path through 3x brings back 2 * 3 = 6", 6,
                         paths[1], None))  # fmt: skip
    claims.append(number("a copy adds: dL/dx = 4 + 6 = 10", 10, e.gradient("x"), None))
    return {"article": "002", "claims": claims, "tables": tables}


def relu(dtype: Any, key: jax.Array) -> dict[str, Any]:
    """ReLU's backward with the article's upstream gradient [4, -1, 5, 9]."""
    # The article draws x in a figure, not in its text: x = [1, -2, 3, -1] here.
    x = jnp.asarray([1.0, -2.0, 3.0, -1.0], dtype)
    upstream = jnp.asarray([4.0, -1.0, 5.0, 9.0], dtype)
    e, tables = _explained(lambda x: jnp.maximum(x, 0.0), x, cotangent=upstream)
    expected = np.where(np.asarray(x) > 0, np.asarray(upstream), 0.0)
    claims = [
        formula(
            "(dL/dx)_i = (dL/dz)_i if x_i > 0, else 0, with dL/dz = [4, -1, 5, 9]",
            expected,
            e.gradient("x"),
        ),  # fmt: skip
    ]
    return {"article": "002", "claims": claims, "tables": tables, "x": np.asarray(x).tolist(),
            "gradient": np.asarray(e.gradient("x")).tolist()}  # fmt: skip


def matmul(dtype: Any, key: jax.Array) -> dict[str, Any]:
    """y = x w with x N x D and w D x M: the backward formulas and their shapes."""
    kx, kw, kg = jax.random.split(key, 3)
    n, d, m = 5, 4, 3
    x = jax.random.normal(kx, (n, d), dtype)
    w = jax.random.normal(kw, (d, m), dtype)
    g = jax.random.normal(kg, (n, m), dtype)
    e, tables = _explained(jnp.matmul, x, w, cotangent=g)
    x_name, w_name = e.inputs
    claims = [
        formula("dL/dx = dL/dy w^T (N x D)", g @ w.T, e.gradient(x_name)),
        formula("dL/dw = x^T dL/dy (D x M)", x.T @ g, e.gradient(w_name)),
    ]
    return {"article": "002", "claims": claims, "tables": tables}


def jacobian_size(dtype: Any, key: jax.Array) -> dict[str, Any]:
    """The size of dy/dx for y = x w with N = 64 and D = M = 4096, as the article counts it."""
    n, d, m = 64, 4096, 4096
    entries = (n * d) * (n * m)
    note = ("the article squares its rounded 250,000 (2.5e5); N x D is 262,144, and "
            "(N D)(N M) = 6.87e10 entries, 275 GB in 4-byte floats")  # fmt: skip
    claims = [
        number("N x D is roughly 250,000", 250_000, n * d, -4, "N x D = 64 x 4096 = 262,144"),
        number(
            "(N D)(N M) elements, which is about (2.5e5)^2 = 6.25e10", 6.25e10, entries, -8, note
        ),  # fmt: skip
        number("If each is a 4-byte float, that's 250 GB", 250, 4 * entries / 1e9, 0, note),
    ]
    return {"article": "002", "claims": claims, "tables": {}}


def scalar_loss(dtype: Any, key: jax.Array) -> dict[str, Any]:
    """y = 0.5 (x . w - 5)^2 at x = [1, 2, 3], w = [1, 1, 1]: the gradient in w."""
    x = jnp.asarray([1.0, 2.0, 3.0], dtype)
    w = jnp.asarray([1.0, 1.0, 1.0], dtype)

    def loss(w, x):
        pred_y = x @ w
        return 0.5 * (pred_y - 5) ** 2

    e, tables = _explained(loss, w, x)
    code_note = ("the article's torch.tensor(1.0, 2.0, 3.0) is not valid PyTorch (the values "
                 "need a list), but the numbers are right")  # fmt: skip
    claims = [
        formula(
            "torch.equal(w.grad, torch.tensor(1.0, 2.0, 3.0))", [1.0, 2.0, 3.0], e.gradient("w")
        ),  # fmt: skip
    ]
    return {"article": "000", "claims": claims, "tables": tables, "note": code_note}


def two_layer(dtype: Any, key: jax.Array) -> dict[str, Any]:
    """H1 = X W1, H2 = H1 W2, loss = mean(H2^2): each matrix gradient the article derives."""
    kx, k1, k2 = jax.random.split(key, 3)
    b, d, c = 4, 3, 2
    x = jax.random.normal(kx, (b, d), dtype)
    w1 = jax.random.normal(k1, (d, d), dtype)
    w2 = jax.random.normal(k2, (d, c), dtype)

    def loss(x, w1, w2):
        h1 = x @ w1
        h2 = h1 @ w2
        return jnp.mean(h2**2)

    e, tables = _explained(loss, x, w1, w2)
    h1, h2 = (s.outputs[0] for s in e.recording.eqns() if s.primitive == "dot_general")
    gh1, gh2 = e.gradient(h1), e.gradient(h2)
    wrong = ("(dloss/dH1)^T X is the transpose of the gradient: W1 is square (D x D), so the "
             "shapes agree but the entries do not; X^T dloss/dH1 is right")  # fmt: skip
    claims = [
        formula("dloss/dH2 = 2/(BC) H2", 2 / (b * c) * e.value(h2), gh2),
        formula("dloss/dW2 = H1^T dloss/dH2", e.value(h1).T @ gh2, e.gradient("w2")),
        formula("dloss/dH1 = dloss/dH2 W2^T", gh2 @ w2.T, gh1),
        formula("dloss/dW1 = dloss/dH1^T X", gh1.T @ x, e.gradient("w1"), wrong),
        formula("(its correction) dloss/dW1 = X^T dloss/dH1", x.T @ gh1, e.gradient("w1")),
        formula("dloss/dX = dloss/dH1 W1^T", gh1 @ w1.T, e.gradient("x")),
    ]
    return {"article": "000", "claims": claims, "tables": tables}


def linear_layer(dtype: Any, key: jax.Array) -> dict[str, Any]:
    """The article's linear layer, out = inp @ w + b (1024 in, 512 out), and its `back`."""
    ki, kw, kb, kg = jax.random.split(key, 4)
    n, fan_in, fan_out = 8, 1024, 512
    inp = jax.random.normal(ki, (n, fan_in), dtype)
    w = jax.random.normal(kw, (fan_in, fan_out), dtype) / math.sqrt(fan_in)
    b = jax.random.normal(kb, (fan_out,), dtype)
    out_g = jax.random.normal(kg, (n, fan_out), dtype)

    def lin(inp, weight, bias):
        return inp @ weight + bias

    e, tables = _explained(lin, inp, w, b, cotangent=out_g)
    claims = [
        formula("inp.g = out.g @ self.weight.t()", out_g @ w.T, e.gradient("inp")),
        formula(
            "self.weight.g = (inp.unsqueeze(-1) * out.g.unsqueeze(1)).sum(0)",
            (inp[:, :, None] * out_g[:, None, :]).sum(0),
            e.gradient("weight"),
        ),  # fmt: skip
        formula("self.bias.g = out.g.sum(0)", out_g.sum(0), e.gradient("bias")),
    ]
    note = ("as printed, the article's Lin class does not run: its __init__ has no body and "
            "its forward line was mangled by the page (\"[email protected]\"); the backward "
            "formulas are right")  # fmt: skip
    return {"article": "003", "claims": claims, "tables": tables, "note": note}


def _layout(e: Any, title: str) -> dict[str, Any]:
    return _graph.layout(e.recording, title)


EXAMPLE_FUNS = {f.__name__: f for f in (circuit, neuron, gates, relu, matmul, jacobian_size,
                                         scalar_loss, two_layer, linear_layer)}  # fmt: skip


def measure(point: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """Recomputes one worked example and judges each of its claims."""
    key = jax.random.fold_in(jax.random.key(params["seed"]), EXAMPLES.index(point["example"]))
    result = EXAMPLE_FUNS[point["example"]](jnp.dtype(params["dtype"]), key)
    return {
        **result,
        "doc": EXAMPLE_FUNS[point["example"]].__doc__.split("\n\n")[0],
        **where_measured(),
    }


def summary(data: Mapping[str, Any]) -> dict[str, Any]:
    """How many claims hold, are rounded, or are wrong; and the ones that do not hold."""
    claims = [(p["example"], c) for p in data["points"] for c in p["claims"]]
    counts = {v: sum(c["verdict"] == v for _, c in claims) for v in ("holds", "rounded", "wrong")}
    off = [{"example": ex, "claim": c["claim"], "verdict": c["verdict"], "note": c["note"]}
           for ex, c in claims if c["verdict"] != "holds"]  # fmt: skip
    return {"claims": len(claims), **counts, "not_holding": off}


def headline(data: Mapping[str, Any]) -> str:
    """The one-line finding, for the end-of-run summary."""
    s = data["summary"]
    return (f"{s['holds']} of {s['claims']} claims in the worked examples hold; "
            f"{s['rounded']} are rounded, {s['wrong']} wrong")  # fmt: skip


def describe(point: Mapping[str, Any]) -> str:
    """One self-describing line per finished example."""
    verdicts = [c["verdict"] for c in point["claims"]]
    return (f"{NAME} | {point['example']}: {verdicts.count('holds')} of {len(verdicts)} "
            "claims hold")  # fmt: skip


def run(out_dir: pathlib.Path, quick: bool = False) -> pathlib.Path:
    """Recomputes every example, then writes the Markdown report beside the JSON."""
    params = QUICK if quick else DEFAULT
    grid = [{"example": name} for name in params["examples"]]
    path = run_sweep(
        NAME, out_dir, params, grid, lambda p: measure(p, params),
        describe=describe, summarize=summary, quick=quick,
    )  # fmt: skip
    write_text(pathlib.Path(out_dir) / f"{NAME}.md", markdown(read_json(path)))
    return path


def markdown(data: Mapping[str, Any]) -> str:
    """The report: per article and example, the verdicts, then the forward and reverse tables."""
    s = data["summary"]
    lines = [
        "# The worked examples, recomputed by adlab",
        "",
        f"{s['holds']} of {s['claims']} claims hold; {s['rounded']} rounded, {s['wrong']} "
        f"wrong. Generated by `python -m experiments {NAME}`; numbers are "
        f"{data['params']['dtype']}.",
    ]
    for article, title in ARTICLES.items():
        lines += ["", f"## {title}"]
        for p in (p for p in data["points"] if p["article"] == article):
            lines += ["", f"### {p['example'].replace('_', ' ')}", "", p["doc"], ""]
            lines += ["| claim | article | adlab | verdict |", "|---|---|---|---|"]
            for c in p["claims"]:
                printed = c.get("printed", "formula")
                ours = c.get("adlab", f"max rel. diff. {c.get('max_relative_difference', 0):.1e}")
                verdict = c["verdict"] + (f": {c['note']}" if c["note"] else "")
                lines.append(f"| {c['claim']} | {printed} | {ours} | {verdict} |")
            if p.get("note"):
                lines += ["", f"Note: {p['note']}."]
            lines += [x for table in p["tables"].values() for x in ("", table)]
    return "\n".join(lines) + "\n"


def plot(json_path: pathlib.Path, png_path: pathlib.Path) -> None:
    """The graphs of the circuit and the sigmoid neuron: value | tangent | gradient per value."""
    data = read_json(json_path)
    shown = [p for p in data["points"] if p["example"] in GRAPHS]
    graphs = [p["graph"] for p in shown]
    s = data["summary"]
    with _plot.style():
        heights = [_graph.size(g)[1] for g in graphs]
        fig = _plot.figure(16, sum(heights) + 0.8)
        axes = fig.subplots(len(graphs), 1, gridspec_kw={"height_ratios": heights})
        for ax, graph in zip(np.atleast_1d(axes), graphs):
            _graph.draw_on(ax, graph)
            for text in ax.texts:  # the boxes' labels, at the figures' smallest size
                text.set_fontsize(max(10, text.get_fontsize()))
        _plot.finish(
            fig, data, png_path, _title(shown, s),
            "graphs of 'Neural network and backpropagation': f = (x + y) z, and the sigmoid "
            "neuron; each box: value, tangent (direction: ones), gradient",
        )  # fmt: skip


def _title(shown: list[dict], s: Mapping[str, Any]) -> str:
    """What the drawn examples show: how many of their printed numbers adlab reproduces."""
    verdicts = [c["verdict"] for p in shown for c in p["claims"]]
    off = [f"{verdicts.count(v)} {v}" for v in ("rounded", "wrong") if verdicts.count(v)]
    return (
        f"adlab recomputes the article's circuit and neuron: {verdicts.count('holds')} of "
        f"{len(verdicts)} printed numbers hold{', ' + ', '.join(off) if off else ''} "
        f"(all examples: {s['holds']} of {s['claims']})"
    )


def readme(data: Mapping[str, Any]) -> str:
    """The README section for this experiment, with every verdict read from its JSON."""
    s = data["summary"]
    off = [f"* {n['claim']} ({n['example'].replace('_', ' ')}): **{n['verdict']}**: {n['note']}."
           for n in s["not_holding"]]  # fmt: skip
    per_article = []
    for article, title in ARTICLES.items():
        claims = [c for p in data["points"] if p["article"] == article for c in p["claims"]]
        held = sum(c["verdict"] == "holds" for c in claims)
        per_article.append(f'"{title}": {held} of {len(claims)}')
    return "\n".join([
        "### The articles' worked examples (`python -m experiments worked_examples`)",
        "",
        "![worked examples](figures/worked_examples.png)",
        "",
        "Every number and gradient formula the source articles work out by hand, recomputed "
        "with `adlab.explain` and compared at the digits the article prints (a formula on random "
        f"inputs, against adlab's cotangents). {s['holds']} of {s['claims']} claims hold "
        f"({'; '.join(per_article)}). The others:",
        "",
        *off,
        "",
        "The forward and reverse tables of every example, with each verdict, are in "
        "[figures/worked_examples.md](figures/worked_examples.md).",
    ])  # fmt: skip
