"""Shared helpers for experiments, and the contract every experiment follows.

The experiment contract
-----------------------
An experiment is one module `experiments/<name>.py` (names starting with "_" are helpers, not
experiments). The runner `python -m experiments NAME` finds it by its file name. It has:

- a module docstring saying what it measures and why (the first line is shown by `--list`);
- a constants block with two parameter sets, `DEFAULT` and `QUICK` (plain dicts of
  JSON-serialisable values). `QUICK` must finish in <= 20 s on 2 CPU cores. An experiment may
  have a third, `FULL`: larger sizes for `--full`, which may take longer;
- `run(out_dir: pathlib.Path, quick: bool = False) -> pathlib.Path` (with `full: bool = False`
  as a third parameter where there is a `FULL`), which writes `<out_dir>/<name>.json` and
  returns its path. It should call `run_sweep`, which gives
  resuming, atomic saves after every point, a progress bar and one self-describing line per
  finished point for free;
- `plot(json_path: pathlib.Path, png_path: pathlib.Path) -> None`, which reads ONLY that JSON
  and writes the PNG (use `read_json` and `save_figure`; build the figure with
  `matplotlib.figure.Figure`, or with pyplot, for which the Agg backend is selected here).

The JSON file (written by `run_sweep`) looks like::

    {"experiment": name, "quick": bool, "params": {...}, "meta": metadata(),
     "points": [{...}, ...], "summary": {...},
     "other_backends": {backend: {"meta": ..., "points": [...], "summary": ...}}}

Each point is a flat-ish dict: the grid key that identifies it (e.g. {"B": 64, "D": 256}) merged
with what `measure` returned for it. Timings follow adlab.bench: warm-up, block_until_ready,
medians, and ratios measured side by side in one interleaved run.

Runs on different backends live side by side in one file: "meta" and "points" are this run's,
and a run on another backend (a GPU run, say) with the same params, found in the file, is kept
under "other_backends" rather than replaced. `backend_runs(data)` lists them all, by backend.

Resuming is only for an interrupted run of the same code on the same machine. By default a
run measures every point afresh; it resumes only if `<name>.json` is unfinished (some grid
points missing) and was written by the same experiment with the same params, on the same
host and CPU model, in the same environment (backend, device kind, jax/jaxlib, CPU count,
XLA_FLAGS) and by the same code (a fingerprint of the adlab and experiments sources). Then
the points already in it are kept and not measured again, and its "meta" is kept too, with
a "resumed" list recording each later run that added points. `resume="always"` (`--resume`)
also keeps a finished file of the same code on the same machine, and `resume="never"`
(`--fresh`) always measures afresh. Headline numbers computed from the points go under
"summary": pass `summarize=` to `run_sweep`, which recomputes them after every sweep.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import pathlib
import platform
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from tqdm import tqdm

from adlab import bench

matplotlib.use("Agg")  # before anything imports pyplot: experiments plot without a display

__all__ = [
    "REPO_ROOT",
    "metadata",
    "write_json",
    "write_text",
    "read_json",
    "run_sweep",
    "describe_point",
    "save_figure",
    "backend_runs",
    "merge_runs",
]

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent


def metadata() -> dict[str, Any]:
    """Returns where and when results were produced.

    Returns:
      date (UTC, ISO 8601), git commit (None outside a git checkout or before the first
      commit; "+dirty" appended when the tree has uncommitted changes outside figures/),
      the host name, the CPU model, a fingerprint of the code, and
      `adlab.bench.environment()` (backend, device kind, jax/jaxlib versions, CPU count).
    """
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": _git_commit(),
        "host": platform.node(),
        "cpu_model": _cpu_model(),
        "code": code_fingerprint(),
        **bench.environment(),
    }


def _cpu_model() -> str:
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def code_fingerprint() -> str:
    """A short hash of every adlab and experiments source file: "the same code"."""
    digest = hashlib.sha256()
    for package in ("adlab", "experiments"):
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            digest.update(str(path.relative_to(REPO_ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _git_commit() -> str | None:
    def git(*cmd: str) -> str:
        done = subprocess.run(
            ["git", *cmd], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=True
        )
        return done.stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        # The results a run writes into figures/ do not make the code dirty.
        dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!figures"))
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def write_json(path: pathlib.Path, obj: Any) -> None:
    """Writes `obj` as JSON atomically: a temporary file in the same folder, then os.replace.

    Args:
      path: destination file; its folder is created if needed.
      obj: a JSON-serialisable object.
    """
    write_text(path, json.dumps(obj, indent=1, allow_nan=False, default=_builtin) + "\n")


def write_text(path: pathlib.Path, text: str) -> None:
    """Writes a text file atomically: a temporary file in the same folder, then os.replace.

    Args:
      path: destination file; its folder is created if needed.
      text: the contents.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic(path, lambda tmp: tmp.write_text(text))


def read_json(path: pathlib.Path) -> dict[str, Any]:
    """Reads an experiment JSON file.

    Args:
      path: the file.

    Returns:
      The decoded object.
    """
    return json.loads(pathlib.Path(path).read_text())


def save_figure(fig: Figure, png_path: pathlib.Path, dpi: int = 130) -> None:
    """Saves a matplotlib figure as PNG atomically and closes it.

    Args:
      fig: the figure.
      png_path: destination; its folder is created if needed.
      dpi: resolution.
    """
    png_path = pathlib.Path(png_path)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    _atomic(png_path, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight"))
    if fig.canvas.manager is not None:  # made by pyplot: release it
        import matplotlib.pyplot as plt

        plt.close(fig)


def _atomic(path: pathlib.Path, write: Callable[[pathlib.Path], Any]) -> None:
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = pathlib.Path(name)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes files private; give them the usual mode
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def describe_point(name: str, point: Mapping[str, Any]) -> str:
    """Formats one finished point as a self-describing line: `name | B=64 D=256 ratio=2.01`.

    Scalars (numbers, strings, booleans, None) are shown; lists and dicts are left out.

    Args:
      name: the experiment name.
      point: the point's fields.

    Returns:
      The line.
    """
    parts = []
    for key, value in point.items():
        if isinstance(value, float):
            parts.append(f"{key}={value:.4g}")
        elif value is None or isinstance(value, (int, str, bool)):
            parts.append(f"{key}={value}")
    return f"{name} | " + " ".join(parts)


def run_sweep(
    name: str,
    out_dir: pathlib.Path,
    params: Mapping[str, Any],
    grid: Sequence[Mapping[str, Any]],
    measure: Callable[[Mapping[str, Any]], Mapping[str, Any]],
    *,
    describe: Callable[[Mapping[str, Any]], str] | None = None,
    summarize: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None,
    quick: bool = False,
) -> pathlib.Path:
    """Measures every point of a sweep, resuming from `<out_dir>/<name>.json`, saving after each.

    Args:
      name: the experiment name (also the JSON file's stem).
      out_dir: the output folder.
      params: the experiment's parameters, stored in the JSON; a saved file is resumed only if
        its params are equal to these.
      grid: the points to measure, each a dict of JSON scalars that identifies it (its key).
        Keys must be distinct.
      measure: `measure(key) -> results`, a dict of JSON-serialisable values. The saved point
        is `{**key, **results}`.
      describe: `describe(point) -> line` printed when a point finishes; defaults to
        `describe_point(name, point)`.
      summarize: `summarize(data) -> summary`, the headline numbers computed from the whole
        file once every point is in; stored under the JSON's "summary" key.
      quick: whether these are the QUICK params; stored as the JSON's "quick" key, so that
        a quick figure can be marked as such.

    Returns:
      The path of the JSON file.
    """
    path = pathlib.Path(out_dir) / f"{name}.json"
    params = _normalised(params)
    keys = [_key(g) for g in grid]
    if len(set(keys)) != len(keys):
        raise ValueError(f"{name}: the sweep grid has duplicate points")
    meta = metadata()
    others = _other_backends(path, name, params, meta["backend"])
    done, saved_meta = _resumable_points(path, name, params, keys, meta, RESUME.policy)
    todo = [(k, g) for k, g in zip(keys, grid, strict=True) if k not in done]
    if done:
        tqdm.write(f"{name}: resuming, {len(done)} of {len(keys)} points already in {path}")
        resumed = {"date": meta["date"], "git_commit": meta["git_commit"]}
        if todo:
            meta = {**saved_meta, "resumed": [*saved_meta.get("resumed", []), resumed]}
        else:
            meta = saved_meta

    def save() -> None:
        points = [done[k] for k in keys if k in done]
        data = {"experiment": name, "quick": quick, "params": params, "meta": meta}
        if others:
            data["other_backends"] = others
        write_json(path, {**data, "points": points})

    save()
    for k, g in tqdm(todo, desc=name, unit="pt", leave=False):
        point = _normalised({**g, **measure(g)})
        done[k] = point
        save()
        tqdm.write(describe(point) if describe else describe_point(name, point))
    if summarize is not None:
        data = read_json(path)
        write_json(path, {**data, "summary": summarize(data)})
    return path


def backend_runs(data: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The runs of one results file, by backend: this run first, then the other backends' runs.

    Args:
      data: the decoded JSON.

    Returns:
      backend -> {"meta", "points", and "summary" where there is one}.
    """
    current = {k: data[k] for k in ("meta", "points", "summary") if k in data}
    runs = {data.get("meta", {}).get("backend", "?"): current}
    for backend, run in data.get("other_backends", {}).items():
        runs.setdefault(backend, run)
    return runs


def merge_runs(files: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One results file holding the runs of several files on different backends.

    A GPU run made on another machine comes back as a file of its own; merging it with the
    CPU file puts both side by side, as if one had been run beside the other.

    Args:
      files: decoded results files of one experiment with equal params. Each may itself hold
        several backends' runs. The first file's own run stays the current one.

    Returns:
      The merged file: the first file's run, and every other backend's run under
      "other_backends". No point is dropped.

    Raises:
      ValueError: the files are of different experiments or params, or two of them hold a run
        on the same backend (say which one to keep by merging only it).
    """
    if not files:
        raise ValueError("nothing to merge")
    first = files[0]
    runs: dict[str, dict[str, Any]] = {}
    for i, data in enumerate(files):
        for field in ("experiment", "quick", "params"):
            if data.get(field) != first.get(field):
                raise ValueError(
                    f"file {i + 1} has another {field} than file 1 "
                    f"({data.get(field)!r} vs {first.get(field)!r}): only runs of the same "
                    "experiment with the same parameters can share a file"
                )
        for backend, run in backend_runs(data).items():
            if backend in runs:
                raise ValueError(f"two files hold a run on {backend!r}: merge only the one to keep")
            runs[backend] = run
    current, *others = runs
    out = {k: first[k] for k in ("experiment", "quick", "params") if k in first}
    out.update(runs[current])
    if others:
        out["other_backends"] = {b: runs[b] for b in others}
    return out


def _other_backends(
    path: pathlib.Path, name: str, params: dict[str, Any], backend: str
) -> dict[str, dict[str, Any]]:
    """The runs on other backends saved in `path`, kept beside this run (same params only).

    A run on a GPU and a run on the CPU of the same experiment live side by side in one file:
    each is measured on its own machine, and a run on one backend replaces only its own points.
    """
    try:
        saved = read_json(path)
    except (OSError, json.JSONDecodeError):
        return {}
    if saved.get("experiment") != name or saved.get("params") != params:
        return {}
    runs = {b: r for b, r in backend_runs(saved).items() if b != backend and r.get("points")}
    if runs:
        tqdm.write(f"{name}: keeping the {', '.join(runs)} run(s) saved in {path} beside this one")
    return runs


def _normalised(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What `obj` becomes after a JSON round trip (tuples -> lists, numpy values -> builtins)."""
    return json.loads(json.dumps(obj, allow_nan=False, default=_builtin))


def _builtin(obj: Any) -> Any:
    """JSON fallback for numpy / JAX scalars and arrays."""
    if isinstance(obj, (np.generic, np.ndarray)) or hasattr(obj, "__array__"):
        return np.asarray(obj).tolist()
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


def _key(g: Mapping[str, Any]) -> str:
    return json.dumps(_normalised(g), sort_keys=True)


class RESUME:
    """When `run_sweep` resumes from a saved file (set by the runner's --resume / --fresh).

    "auto": only an unfinished run of the same code on the same machine; "always": also a
    finished one (nothing is measured, the figure is redrawn); "never": always afresh.
    """

    policy = "auto"


# A saved sweep is resumed only where it was measured, by the same code.
SAME_RUN_KEYS = (
    "host", "cpu_model", "code", "backend", "device_kind", "jax", "jaxlib", "cpu_count",
    "xla_flags",
)  # fmt: skip


def _resumable_points(
    path: pathlib.Path,
    name: str,
    params: dict[str, Any],
    keys: list[str],
    meta: dict[str, Any],
    policy: str = "auto",
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """The saved points of `path` that belong to this sweep, by key, and the saved metadata.

    Returns nothing (a fresh run) unless `policy` and the saved file allow resuming; says
    in one line why an existing file is not resumed.
    """
    if policy == "never" or not path.exists():
        return {}, {}
    try:
        saved = read_json(path)
    except (OSError, json.JSONDecodeError):
        return {}, {}
    saved_meta = saved.get("meta", {})
    key_fields = {k: json.loads(k) for k in keys}
    done = {}
    for point in saved.get("points", []):
        for k, fields in key_fields.items():
            if all(point.get(f) == v for f, v in fields.items()):
                done[k] = point
    changed = [f for f in SAME_RUN_KEYS if saved_meta.get(f) != meta.get(f)]
    if saved.get("experiment") != name or saved.get("params") != params:
        why = "it has other parameters"
    elif changed:
        why = f"it was measured elsewhere or by other code ({', '.join(changed)} differ)"
    elif len(done) == len(keys) and policy == "auto":
        why = "it is a finished run; --resume would keep it"
    else:
        return done, saved_meta
    tqdm.write(f"{name}: measuring afresh, not resuming {path}: {why}")
    return {}, {}
