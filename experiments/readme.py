"""Documents generated from the code and the results, so they cannot go stale.

``python -m experiments.readme`` rewrites the README's experiment findings, figures/RESULTS.md
and the primitive table in docs/primitives.md; a test checks that what is committed equals
what this module generates.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Callable
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


REPO = Path(__file__).resolve().parents[1]
FIGURES = REPO / "figures"
RESULTS = "RESULTS.md"  # beside the JSON files it is rendered from
# The files with generated sections, and the sections each holds.
DOCUMENTS = {"README.md": ("experiments",), "docs/primitives.md": ("primitives",)}

Reader = Callable[[str], "dict | None"]  # experiment name -> its results (None: no file)


def folder_reader(folder: Path) -> Reader:
    """Reads ``folder/NAME.json`` (None where the file does not exist)."""

    def read(name: str):
        path = Path(folder) / f"{name}.json"
        return json.loads(path.read_text()) if path.exists() else None

    return read


def committed_reader(repo: Path = REPO) -> Reader | None:
    """Reads ``figures/NAME.json`` as committed (git's HEAD); None outside a git checkout.

    A user's own run rewrites figures/; the README quotes the committed run, so the check
    that it is current must not read what the user measured.
    """
    try:
        subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None

    def read(name: str):
        done = subprocess.run(
            ["git", "-C", str(repo), "show", f"HEAD:figures/{name}.json"],
            capture_output=True,
            text=True,
        )
        return json.loads(done.stdout) if done.returncode == 0 else None

    return read


def _results(read: Reader):
    """(name, module, data) for each experiment with results and a ``readme(data)``."""
    import experiments  # the experiments package lives beside adlab in this repository

    for name in experiments.available():
        module = experiments.load(name)
        data = read(name) if hasattr(module, "readme") else None
        if data is not None:
            yield name, module, data


def _heading(section: str) -> str:
    """The title of an experiment's section: its first Markdown heading, without the #s."""
    for line in section.splitlines():
        if line.startswith("#"):
            return re.sub(r" \(`python -m experiments \w+`\)", "", line.lstrip("#").strip())
    raise ValueError(f"an experiment's readme() has no heading: {section[:80]!r}")


def experiments_section(read: Reader) -> str:
    """The README's experiments: each one's title, figure and one-line finding.

    The full results, tables and claim by claim, are in figures/RESULTS.md.
    """
    parts = [
        "## Experiments",
        "",
        "Each experiment measures on your machine and writes `figures/NAME.json` (parameters, "
        "every point, and where it ran) and `figures/NAME.png`. The run also rewrites "
        "[figures/RESULTS.md](figures/RESULTS.md), the results in full: tables and each "
        "claim checked. The findings below are those of the committed run, on a 2-core CPU.",
    ]
    for name, module, data in _results(read):
        title = _heading(module.readme(data))
        parts += ["", f"### {title}", "", f"![{name}](figures/{name}.png)", ""]
        finding = (
            f"**Finding:** {module.headline(data).rstrip('.')}. "
            if hasattr(module, "headline")
            else ""
        )
        parts.append(f"{finding}Rerun: `python -m experiments {name}`.")
    return "\n".join(parts)


def results_document(read: Reader, quick: bool = False) -> str:
    """figures/RESULTS.md: every experiment's full results, rendered from its JSON."""
    parts = [
        "# Results",
        "",
        "Generated by `python -m experiments` from the JSON files beside this one; a run "
        "rewrites it. Each experiment is one file in `experiments/`; "
        "`python -m experiments NAME` measures on your machine and writes `NAME.json` "
        "(parameters, every point, metadata) and `NAME.png`, with the provenance in the "
        "figure's footer. A run measures afresh: only an interrupted run of the same code on "
        "the same machine resumes from the points it saved (`--fresh` and `--resume` choose "
        "explicitly). `--quick` runs a small version into `build/quick/`, never into "
        "`figures/`. `--full` runs the larger sizes of the experiments that have them into "
        "`build/full/`. `--device gpu` runs on a GPU through XLA when JAX sees one. A run on one "
        "backend keeps the results of another backend found in the same JSON beside its own; "
        "`python -m experiments.merge A.json B.json` joins two files measured on different "
        "machines and redraws the figure.",
    ]
    if quick:
        parts += ["", "**A quick run: small sizes, not for citation.**"]
    for _, module, data in _results(read):
        # The sections link their figures as seen from the repository's root.
        parts += ["", module.readme(data).replace("](figures/", "](")]
    return "\n".join(parts) + "\n"


def write_results(folder: Path, quick: bool = False) -> Path:
    """Writes ``folder/RESULTS.md`` from the experiments' JSON files in ``folder``."""
    path = Path(folder) / RESULTS
    _common.write_text(path, results_document(folder_reader(folder), quick))
    return path


def render(text: str, sections: dict[str, Callable[[], str]]) -> str:
    """Replaces each ``<!-- NAME:start -->...<!-- NAME:end -->`` section with fresh text."""
    for name, make in sections.items():
        pattern = re.compile(rf"(<!-- {name}:start -->).*?(<!-- {name}:end -->)", re.S)
        if not pattern.search(text):
            raise ValueError(f"no '<!-- {name}:start/end -->' section to regenerate.")
        body = make()
        text = pattern.sub(lambda m, b=body: f"{m.group(1)}\n{b}\n{m.group(2)}", text)
    return text


def generated(read: Reader, repo: Path = REPO) -> dict[str, str]:
    """What every generated file of ``repo`` should hold, relative path -> text."""
    makers = {
        "experiments": lambda: experiments_section(read),
        "primitives": primitive_table,
    }
    files = {
        doc: render((repo / doc).read_text(), {n: makers[n] for n in names})
        for doc, names in DOCUMENTS.items()
    }
    files[f"figures/{RESULTS}"] = results_document(read)
    return files


def stale(repo: Path = REPO) -> list[str]:
    """The generated files that are not current (empty if all are).

    A file is current if it equals what the committed results give, or what the results in
    figures/ give: a user's own run rewrites figures/ and RESULTS.md but not the README,
    and a maintainer regenerates everything before committing a new run.
    """
    readers = [r for r in (committed_reader(repo), folder_reader(repo / "figures")) if r]
    wanted = [generated(read, repo) for read in readers]
    current = {p: (repo / p).read_text() if (repo / p).exists() else None for p in wanted[0]}
    return [p for p in wanted[0] if all(current[p] != files[p] for files in wanted)]


def main(argv: list[str] | None = None) -> int:
    """Rewrites the generated files from figures/*.json (or checks them)."""
    parser = argparse.ArgumentParser(
        prog="python -m experiments.readme",
        description="Regenerates the README's experiment findings, figures/RESULTS.md and "
        "the primitive table in docs/primitives.md, from figures/*.json and the rules.",
    )
    parser.add_argument(
        "--check", action="store_true", help="only report whether the files are current"
    )
    args = parser.parse_args(argv)
    if args.check:
        old = stale()
        print(f"stale: {', '.join(old)}" if old else "generated files are current")
        return 1 if old else 0
    for path, text in generated(folder_reader(FIGURES)).items():
        file = REPO / path
        if not file.exists() or file.read_text() != text:
            _common.write_text(file, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
