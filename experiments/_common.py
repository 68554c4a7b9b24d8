"""Shared helpers for experiments, and the contract every experiment follows.

The experiment contract
-----------------------
An experiment is one module `experiments/<name>.py` (names starting with "_" are helpers, not
experiments). The runner `python -m experiments NAME` finds it by its file name. It has:

- a module docstring saying what it measures and why (the first line is shown by `--list`);
- a constants block with two parameter sets, `DEFAULT` and `QUICK` (plain dicts of
  JSON-serialisable values). `QUICK` must finish in <= 20 s on 2 CPU cores;
- `run(out_dir: pathlib.Path, quick: bool = False) -> pathlib.Path`, which writes
  `<out_dir>/<name>.json` and returns its path. It should call `run_sweep`, which gives
  resuming, atomic saves after every point, a progress bar and one self-describing line per
  finished point for free;
- `plot(json_path: pathlib.Path, png_path: pathlib.Path) -> None`, which reads ONLY that JSON
  and writes the PNG (use `read_json` and `save_figure`; build the figure with
  `matplotlib.figure.Figure`, or with pyplot, for which the Agg backend is selected here).

The JSON file (written by `run_sweep`) looks like::

    {"experiment": name, "params": {...}, "meta": metadata(), "points": [{...}, ...]}

Each point is a flat-ish dict: the grid key that identifies it (e.g. {"B": 64, "D": 256}) merged
with what `measure` returned for it. Timings follow adlab.bench: warm-up, block_until_ready,
medians, and ratios measured side by side in one interleaved run.

Resuming: if `<name>.json` exists with the same experiment name, the same params and the same
environment (backend, device kind, jax/jaxlib, CPU count, XLA_FLAGS), the points already in it
are kept and not measured again; its "meta" is kept too, with a "resumed" list recording each
later run that added points. Otherwise it is replaced. Headline numbers computed from the
points go under "summary": pass `summarize=` to `run_sweep`, which recomputes them after every
sweep.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
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
    "read_json",
    "run_sweep",
    "describe_point",
    "save_figure",
]

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent


def metadata() -> dict[str, Any]:
    """Returns where and when results were produced.

    Returns:
      date (UTC, ISO 8601), git commit (None outside a git checkout or before the first
      commit; "+dirty" appended when the tree has uncommitted changes) and
      `adlab.bench.environment()` (backend, device kind, jax/jaxlib versions, CPU count).
    """
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": _git_commit(),
        **bench.environment(),
    }


def _git_commit() -> str | None:
    def git(*cmd: str) -> str:
        done = subprocess.run(
            ["git", *cmd], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=True
        )
        return done.stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def write_json(path: pathlib.Path, obj: Any) -> None:
    """Writes `obj` as JSON atomically: a temporary file in the same folder, then os.replace.

    Args:
      path: destination file; its folder is created if needed.
      obj: a JSON-serialisable object.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(obj, indent=1, allow_nan=False, default=_builtin) + "\n"
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

    Returns:
      The path of the JSON file.
    """
    path = pathlib.Path(out_dir) / f"{name}.json"
    params = _normalised(params)
    keys = [_key(g) for g in grid]
    if len(set(keys)) != len(keys):
        raise ValueError(f"{name}: the sweep grid has duplicate points")
    meta = metadata()
    done, saved_meta = _resumable_points(path, name, params, keys, meta)
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
        write_json(path, {"experiment": name, "params": params, "meta": meta, "points": points})

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


# A saved sweep is resumed only where it was measured: same parameters, same environment.
ENVIRONMENT_KEYS = ("backend", "device_kind", "jax", "jaxlib", "cpu_count", "xla_flags")


def _resumable_points(
    path: pathlib.Path, name: str, params: dict[str, Any], keys: list[str], meta: dict[str, Any]
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """The saved points of `path` that belong to this sweep, by key, and the saved metadata."""
    if not path.exists():
        return {}, {}
    try:
        saved = read_json(path)
    except (OSError, json.JSONDecodeError):
        return {}, {}
    saved_meta = saved.get("meta", {})
    changed = [f for f in ENVIRONMENT_KEYS if saved_meta.get(f) != meta.get(f)]
    if saved.get("experiment") != name or saved.get("params") != params or changed:
        why = f"environment changed ({', '.join(changed)})" if changed else "parameters changed"
        tqdm.write(f"{name}: not resuming {path}: {why}")
        return {}, {}
    key_fields = {k: json.loads(k) for k in keys}
    done = {}
    for point in saved.get("points", []):
        for k, fields in key_fields.items():
            if all(point.get(f) == v for f, v in fields.items()):
                done[k] = point
    return done, saved_meta
