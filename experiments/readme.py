"""README sections generated from the code, so they cannot go stale.

``python -m experiments.readme`` rewrites the marked sections of README.md; a test checks that the
committed README equals what this module generates.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import adlab  # noqa: F401  (registers every handler)
from adlab._compat import checkpoint_name
from adlab.rules import FAMILIES, HANDLERS, NEWER
from experiments import _common

_CALL_NOTES = {  # (JVP, VJP)
    "jit": ("inner jaxpr walked inline", "inner jaxpr walked inline"),
    "custom_jvp_call": ("the function's own JVP rule", "adlab's VJP of that rule's tangent map"),
    "custom_vjp_call": ("an error, as in JAX", "the function's own fwd and bwd"),
    "cond": ("a switch over the branches' JVPs", "the taken branch's staged sweeps, switched"),
    "scan": ("a scan of the body's JVP", "a scan stacking residuals, a scan back over them"),
    "while": ("a while loop of the body's JVP", "an error, as in JAX"),
    checkpoint_name: ("inner jaxpr walked inline", "the segment recomputed from its inputs"),
    "custom_linear_solve": ("implicit: the solve of db - dA x", "the transposed solve"),
}
_KINDS = {  # Rule.kind -> (JVP, VJP)
    "elementwise": ("per argument (shared with the VJP)", "per argument (shared with the JVP)"),
    "linear": ("linear (same op on the tangent)", "per argument"),
    "per argument": ("per argument", "per argument"),
    "whole": ("whole rule", "whole rule"),
    "zero": ("none: the output carries no derivative",) * 2,
    "linearized": ("whole rule", "adlab's VJP of the JVP rule (it is linear)"),
    "expansion": (
        "its expansion, walked inline: a tree (reduce), a fold over the windows (reduce_window)",
    )
    * 2,
}


def _family(name: str, handler) -> str:
    if handler.kind == "call":
        return "calls"
    if handler.kind == "expansion":
        return "generic reductions"
    if handler.kind == "linearized":
        return "linalg"
    return "zero derivative" if handler.zero else FAMILIES[name]


def primitive_table() -> str:
    """A markdown table of ``adlab.PRIMITIVES``, grouped by family and kind of rule."""
    families = ["elementwise", "special", "structural", "indexing", "cumulative", "windows"]
    families += ["generic reductions"]
    families += ["conv", "sorting", "linalg", "zero derivative", "calls"]
    order = {family: i for i, family in enumerate(families)}
    groups: dict[tuple, list[str]] = {}
    # The same table on every JAX release: the rules of primitives that only newer releases
    # have are listed with the release, whether or not the installed JAX has them.
    rules = {**HANDLERS, **{name: rule for name, (_, rule) in NEWER.items()}}
    for name, handler in sorted(rules.items()):
        family = _family(name, handler)
        jvp, vjp = _CALL_NOTES[name] if family == "calls" else _KINDS[handler.kind]
        label = f"`{name}` (JAX {NEWER[name][0]}+)" if name in NEWER else f"`{name}`"
        groups.setdefault((order[family], family, jvp, vjp), []).append(label)
    lines = ["| family | primitives | JVP rule | VJP rule |", "|---|---|---|---|"]
    for (_, family, jvp, vjp), names in sorted(groups.items()):
        lines.append(f"| {family} | {', '.join(names)} | {jvp} | {vjp} |")
    return "\n".join(lines)


FIGURES = Path(__file__).resolve().parents[1] / "figures"


def experiments_section(figures: Path = FIGURES) -> str:
    """The README's experiment sections, each rendered from its JSON in ``figures/``.

    Every experiment module with a ``readme(data)`` function contributes one section, so
    every number the README quotes comes from a results file.
    """
    import experiments  # the experiments package lives beside adlab in this repository

    parts = ["## Experiments", ""]
    parts.append(
        "Each experiment is one file in `experiments/`; `python -m experiments NAME` measures "
        "on your machine and writes `figures/NAME.json` (parameters, every point, metadata) "
        "and `figures/NAME.png`, with the provenance in the figure's footer. A run measures "
        "afresh: only an interrupted run of the same code on the same machine resumes from "
        "the points it saved (`--fresh` and `--resume` choose explicitly). `--quick` runs a "
        "small version into `build/quick/`, never into `figures/`, and marks its figures as "
        "not for citation. `--full` runs the larger sizes of the experiments that have them "
        "into `build/full/`; the committed figures are the default run's. `--out DIR` writes "
        "elsewhere, `--device gpu` runs on a GPU through XLA when JAX sees one, and `--list` "
        "lists the experiments. A run on one backend keeps the results of another backend "
        "found in the same JSON beside its own, so a CPU and a GPU run share one file and one "
        "figure; `python -m experiments.merge A.json B.json` joins two files measured on "
        "different machines (same experiment and parameters) and redraws the figure. The "
        "numbers below are read from the committed JSON files (2-core CPU unless "
        "a file says otherwise)."
    )
    for name in experiments.available():
        module = experiments.load(name)
        path = figures / f"{name}.json"
        if hasattr(module, "readme") and path.exists():
            parts += ["", module.readme(json.loads(path.read_text()))]
    return "\n".join(parts)


SECTIONS = {"primitives": primitive_table, "experiments": experiments_section}


def render(readme: str) -> str:
    """Replaces each ``<!-- NAME:start -->...<!-- NAME:end -->`` section with fresh text."""
    for name, make in SECTIONS.items():
        pattern = re.compile(rf"(<!-- {name}:start -->).*?(<!-- {name}:end -->)", re.S)
        if not pattern.search(readme):
            raise ValueError(f"README has no '<!-- {name}:start/end -->' section.")
        body = make()
        readme = pattern.sub(lambda m, b=body: f"{m.group(1)}\n{b}\n{m.group(2)}", readme)
    return readme


def main(argv: list[str] | None = None) -> int:
    """Rewrites the generated sections of the README in place (or checks them)."""
    parser = argparse.ArgumentParser(
        prog="python -m experiments.readme",
        description="Regenerates the README's generated sections (the primitive table and "
        "the experiment sections, read from figures/*.json).",
    )
    parser.add_argument("path", nargs="?", default="README.md", help="the README to rewrite")
    parser.add_argument(
        "--check", action="store_true", help="only report whether the README is current"
    )
    args = parser.parse_args(argv)
    file = Path(args.path)
    text = file.read_text()
    fresh = render(text)
    if args.check:
        print("README is current" if fresh == text else "README is stale: run without --check")
        return 0 if fresh == text else 1
    if fresh != text:
        _common.write_text(file, fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
