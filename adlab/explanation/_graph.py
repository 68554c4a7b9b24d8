"""The computational graph as a picture: values and operations, with value | tangent | gradient.

The graph is built and laid out with networkx (layers in topological order, left to right),
as plain data that a figure can store, and drawn with matplotlib, in the manner of
micrograd's ``draw_dot``: a box per value showing its name, value, tangent and gradient,
and a circle per operation. networkx is an optional extra: ``pip install "adlab[graph]"``.
"""

from __future__ import annotations

import os
import pathlib
import tempfile
from typing import Any

from ._record import Recording
from ._tables import fmt

EXTRA = 'pip install "adlab[graph]"'


def _networkx():
    try:
        import networkx
    except ImportError:
        raise ImportError(
            f"Explanation.graph draws with networkx, an optional extra of adlab: {EXTRA} "
            "(or pip install networkx). The tables, the tape and code() need nothing more."
        ) from None
    return networkx


def layout(rec: Recording, title: str | None = None) -> dict[str, Any]:
    """The graph laid out, as plain data (JSON-ready): nodes with positions and labels, edges.

    A node per value (its name, value, tangent and gradient) and per operation; values that
    are literals are left out. Layers follow the topological order, left to right
    (``networkx.topological_generations``), one unit apart, in evaluation order top down.
    """
    nx = _networkx()
    g = nx.DiGraph()
    for name, var in rec.vars.items():
        if var.kind == "literal":
            continue
        role = "output" if name in rec.outputs else var.kind
        label = (f"{name}\nvalue {fmt(var.value)}\ntangent {fmt(var.tangent)}\n"
                 f"grad {fmt(var.cotangent)}")  # fmt: skip
        g.add_node(name, role=role, label=label)
    for i, step in enumerate(rec.steps):
        if step.kind != "eqn":
            continue
        op = f"#{i}"
        g.add_node(op, role="op", label=step.primitive)
        g.add_edges_from((n, op) for n in step.inputs if rec.vars[n].kind != "literal")
        g.add_edges_from((op, n) for n in step.outputs)
    order = {n: i for i, n in enumerate(g.nodes)}
    for i, generation in enumerate(nx.topological_generations(g)):
        column = sorted(generation, key=order.get)  # in evaluation order, top to bottom
        for k, node in enumerate(column):
            g.nodes[node].update(layer=i, x=float(i), y=(len(column) - 1) / 2 - k)
    nodes = [{"id": n, **d} for n, d in g.nodes(data=True)]
    return {
        "title": title or f"{rec.fun_name}: each value shows value | tangent | gradient",
        "nodes": nodes,
        "edges": [list(e) for e in g.edges],
    }


COLOURS = {"input": "#56B4E9", "output": "#009E73", "op": "#E69F00"}


def size(graph: dict[str, Any]) -> tuple[float, float]:
    """A figure size (inches) that fits the graph's layers and its tallest layer."""
    layers = [n["layer"] for n in graph["nodes"]]
    tallest = max(layers.count(k) for k in set(layers))
    return max(6.0, 1.9 * (1 + max(layers))), max(3.0, 0.9 * tallest + 1.2)


def draw_on(ax: Any, graph: dict[str, Any]) -> None:
    """Draws a laid-out graph (``layout``) on a matplotlib axes; needs only matplotlib."""
    pos = {n["id"]: (n["x"], n["y"]) for n in graph["nodes"]}
    ax.set_axis_off()
    for u, v in graph["edges"]:
        ax.annotate(
            "", xy=pos[v], xytext=pos[u],
            arrowprops={"arrowstyle": "-|>", "color": "#8C8C8C", "shrinkA": 24, "shrinkB": 24},
        )  # fmt: skip
    for n in graph["nodes"]:
        op = n["role"] == "op"
        box = {
            "boxstyle": "circle,pad=0.3" if op else "round,pad=0.4",
            "fc": COLOURS.get(n["role"], "#F0F0F0"),
            "ec": "none" if op else "#404040",
        }
        ax.text(*pos[n["id"]], n["label"], ha="center", va="center", fontsize=8 if op else 7,
                family=None if op else "monospace", bbox=box)  # fmt: skip
    xs, ys = zip(*pos.values())
    ax.set_xlim(min(xs) - 0.5, max(xs) + 0.5)
    ax.set_ylim(min(ys) - 0.6, max(ys) + 0.6)
    ax.set_title(graph["title"])


def draw(rec: Recording, path: str | os.PathLike, title: str | None = None) -> pathlib.Path:
    """Draws the graph into an image file (PNG, SVG or PDF, by its suffix), atomically.

    Args:
      rec: the recording.
      path: where the picture goes.
      title: a title above it (default: the function's name).

    Returns:
      The path written.
    """
    from matplotlib.figure import Figure

    graph = layout(rec, title)
    fig = Figure(figsize=size(graph))
    draw_on(fig.add_subplot(), graph)
    path = pathlib.Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=path.suffix)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=130, bbox_inches="tight")
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise
    return path
