"""README sections generated from the code, so they cannot go stale.

``python -m adlab.docs`` rewrites the marked sections of README.md; a test checks that the
committed README equals what this module generates.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from .rules import CALLS, JVP_RULES, LINEAR, NONDIFF, VJP_RULES, supported

_CALL_NOTES = {  # (JVP, VJP)
    "jit": ("inner jaxpr walked inline", "inner jaxpr walked inline"),
    "custom_jvp_call": ("the function's own JVP rule", "adlab's VJP of that rule's tangent map"),
    "custom_vjp_call": ("an error, as in JAX", "the function's own fwd and bwd"),
}


def _rule_kind(rule) -> str:
    if rule is LINEAR:
        return "linear (same op on the tangent)"
    if callable(rule):
        return "whole rule"
    return "per argument"


def _family(name: str) -> str:
    if name in CALLS:
        return "calls"
    if name in NONDIFF:
        return "zero derivative"
    rule = VJP_RULES[name]
    fn = rule if callable(rule) else next(r for r in rule if r is not None)
    return fn.__module__.rsplit(".", 1)[-1]


def primitive_table() -> str:
    """A markdown table of ``adlab.PRIMITIVES``, grouped by family and kind of rule."""
    order = {"elementwise": 0, "structural": 1, "linalg": 2, "zero derivative": 3, "calls": 4}
    groups: dict[tuple, list[str]] = {}
    for name in sorted(supported()):
        family = _family(name)
        if family == "calls":
            jvp, vjp = _CALL_NOTES[name]
        elif family == "zero derivative":
            jvp = vjp = "none: the output carries no derivative"
        else:
            jvp, vjp = _rule_kind(JVP_RULES[name]), _rule_kind(VJP_RULES[name])
        groups.setdefault((order[family], family, jvp, vjp), []).append(f"`{name}`")
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
        "Each experiment is one file in `experiments/`; `python -m experiments NAME` writes "
        "`figures/NAME.json` (parameters, every point, metadata) and `figures/NAME.png`. "
        "`--quick` runs a small version, `--out DIR` writes elsewhere, `--device gpu` runs on "
        "a GPU through XLA when JAX sees one, and `--list` lists them. An interrupted sweep "
        "resumes from the points it already saved. The numbers below are read from the "
        "committed JSON files (2-core CPU unless a file says otherwise)."
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


def main(path: str = "README.md") -> None:
    """Rewrites the generated sections of the README in place."""
    file = Path(path)
    file.write_text(render(file.read_text()))


if __name__ == "__main__":
    main(*sys.argv[1:])
