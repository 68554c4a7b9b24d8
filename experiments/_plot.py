"""The figures' shared style: palette, series styles, title, provenance footer and quick mark.

Every experiment's `plot` builds its figure inside `style()`, draws each series with a `Series`
(one colour and one marker per series, from the Okabe-Ito palette, which stays distinct under the
common colour-vision deficiencies) and hands the figure to `finish`, which adds the one-line
title, the provenance footer and, for quick runs, the "not for citation" mark, then saves it
atomically.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import itertools
import pathlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from experiments._common import save_figure

__all__ = [
    "BLACK",
    "BLUE",
    "GREEN",
    "GREY",
    "ORANGE",
    "PURPLE",
    "VERMILLION",
    "Series",
    "style",
    "figure",
    "finish",
    "is_quick",
    "provenance",
    "no_data",
    "no_other_backend",
    "offsets",
    "times_axis",
    "slot_groups",
    "si",
    "plural",
]

# Okabe & Ito (2008), "Color universal design". Left out: yellow (it vanishes on white) and sky
# blue (too close to blue when both are in one figure).
BLACK = "#000000"
ORANGE = "#E69F00"
GREEN = "#009E73"
BLUE = "#0072B2"
VERMILLION = "#D55E00"
PURPLE = "#CC79A7"
GREY = "#8C8C8C"  # controls and reference marks, never a measured series

QUICK_MARK = "quick run: not for citation"
NO_DATA = "no data at quick size"

RC = {
    "font.size": 11,
    "axes.titlesize": 11,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 9,
    "legend.framealpha": 0.9,
    "figure.titlesize": 14,
    "figure.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.prop_cycle": matplotlib.cycler(color=[BLUE, VERMILLION, GREEN, ORANGE, PURPLE, BLACK]),
    "lines.markersize": 7,
}


@dataclasses.dataclass(frozen=True)
class Series:
    """How one series looks: its legend label, its colour and its marker.

    Attributes:
      label: the legend text.
      color: a palette colour.
      marker: a matplotlib marker; give each series of a panel its own.
      hollow: draw the marker's outline only (so that a marker under it stays visible).
    """

    label: str
    color: str
    marker: str
    hollow: bool = False

    def markers(self, size: float = 7, **kw: Any) -> dict[str, Any]:
        """Keyword arguments for `ax.plot` that draw markers only, no joining line."""
        return {
            "ls": "none",
            "marker": self.marker,
            "ms": size,
            "color": self.color,
            "mec": self.color,
            "mfc": "none" if self.hollow else self.color,
            "mew": 1.6 if self.hollow else 0.8,
            "label": self.label,
            **kw,
        }


@contextlib.contextmanager
def style() -> Iterator[None]:
    """The figures' rcParams (font sizes for slides, palette, grid), for the block's duration."""
    with matplotlib.rc_context(RC):
        yield


def figure(width: float, height: float) -> Figure:
    """A new figure with constrained layout (call inside `style()`)."""
    return Figure(figsize=(width, height), layout="constrained")


def is_quick(data: Mapping[str, Any]) -> bool:
    """Whether the JSON comes from a quick run (a missing "quick" key means a full run)."""
    return bool(data.get("quick", False))


def provenance(data: Mapping[str, Any], sizes: str) -> str:
    """The footer line: where, when and with what the results were measured.

    Args:
      data: the decoded JSON (its "meta" is `_common.metadata()`).
      sizes: what was measured, in the experiment's words (e.g. "B in {64, 512}").

    Returns:
      One line: device and backend, CPU count, jax/jaxlib, date, git commit, resumed runs and
      the sizes.
    """
    meta = data.get("meta", {})
    device = meta.get("device_kind", "?")
    backend = meta.get("backend", "?")
    where = device if device == backend else f"{device} ({backend})"
    if meta.get("cpu_count"):
        where += f", {meta['cpu_count']} CPU cores"
    jax = f"jax {meta.get('jax', '?')}"
    if meta.get("jaxlib") and meta.get("jaxlib") != meta.get("jax"):
        jax += f" / jaxlib {meta['jaxlib']}"
    parts = [where, jax, _date(meta.get("date")), f"commit {_commit(meta.get('git_commit'))}"]
    if meta.get("xla_flags"):
        parts.append(f"XLA_FLAGS={meta['xla_flags']}")
    if meta.get("resumed"):
        parts.append(f"resumed {len(meta['resumed'])}x")
    for backend, run in data.get("other_backends", {}).items():
        other = run.get("meta", {})
        parts.append(
            f"also {other.get('device_kind', backend)} ({backend}), jax {other.get('jax', '?')}, "
            f"{_date(other.get('date'))}"
        )
    return " · ".join([*parts, sizes])


def _date(iso: str | None) -> str:
    if not iso:
        return "date unknown"
    try:
        when = datetime.datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return when.strftime("%Y-%m-%d %H:%M UTC")


def _commit(commit: str | None) -> str:
    if not commit:
        return "unknown"
    head, _, dirty = commit.partition("+")
    return head[:10] + (f"+{dirty}" if dirty else "")


def finish(
    fig: Figure, data: Mapping[str, Any], png_path: pathlib.Path, title: str, sizes: str
) -> None:
    """Adds the title, the provenance footer and the quick mark, then saves the PNG atomically.

    Args:
      fig: the figure, drawn.
      data: the decoded JSON it was drawn from.
      png_path: where the PNG goes.
      title: the figure's finding, one short line.
      sizes: what was measured, for the footer (see `provenance`).
    """
    fig.suptitle(title)
    fig.text(
        0.005,
        -0.005,
        provenance(data, sizes),
        ha="left",
        va="top",
        fontsize=8,
        color="#555555",
    )
    if is_quick(data):
        fig.text(
            0.5,
            0.5,
            QUICK_MARK,
            ha="center",
            va="center",
            rotation=25,
            fontsize=40,
            fontweight="bold",
            color=VERMILLION,
            alpha=0.3,
            zorder=100,
        )
        fig.text(
            0.995,
            -0.005,
            QUICK_MARK,
            ha="right",
            va="top",
            fontsize=10,
            fontweight="bold",
            color=VERMILLION,
        )
    save_figure(fig, png_path)


def no_data(ax: Any, data: Mapping[str, Any]) -> None:
    """Marks an axes as empty, saying why: the text in the middle, no ticks, no grid."""
    text = NO_DATA if is_quick(data) else "no data in this run"
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color=GREY)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)


def no_other_backend(ax: Any, name: str) -> None:
    """Fills a "backends side by side" panel that has only this run's backend to show."""
    ax.text(
        0.5, 0.5,
        "No GPU run exists yet.\n\nOn a machine with a GPU, run\n"
        f"python -m experiments {name} --device gpu\nwith this file in figures/ (or join the "
        "files\nwith python -m experiments.merge): the GPU\npoints are drawn here beside "
        "the CPU's.",
        transform=ax.transAxes, ha="center", va="center", color="#555555",
    )  # fmt: skip
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    ax.set_title("Backends side by side")


def offsets(n: int, width: float = 0.6) -> list[float]:
    """Positions that put n markers (or bars) side by side in a slot of the given width.

    Args:
      n: how many.
      width: the slot's width, in data units.

    Returns:
      n offsets, centred on 0.
    """
    step = width / n
    return [(i - (n - 1) / 2) * step for i in range(n)]


def times_axis(ax: Any, axis: str = "y") -> None:
    """A logarithmic ratio axis with ticks written 0.5x, 1x, 2x, 10x... ."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
    target.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
    target.set_minor_formatter(NullFormatter())


def slot_groups(ax: Any, keys: Sequence[str], label: bool = True) -> None:
    """Groups a categorical x axis (item i at x = i): a line between runs of equal keys.

    Args:
      ax: the axes.
      keys: one key per item, left to right (e.g. each chain's family).
      label: write each run's key above the axes, in bold.
    """
    transform = ax.get_xaxis_transform()
    for i, (key, run) in enumerate(itertools.groupby(enumerate(keys), key=lambda t: t[1])):
        xs = [x for x, _ in run]
        if i:
            ax.axvline(xs[0] - 0.5, color=GREY, lw=0.8)
        if label:
            ax.text(
                (xs[0] + xs[-1]) / 2,
                1.01,
                key,
                transform=transform,
                ha="center",
                va="bottom",
                fontweight="bold",
            )


def si(value: float, unit: str) -> str:
    """A quantity with an SI prefix, 3 significant digits: 24088400 FLOP -> "24.1 MFLOP"."""
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1, ""), (1e-3, "m")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value / 1e-6:.3g} µ{unit}"


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 chain', '2 chains' (or the given plural form)."""
    return f"{n} {word if n == 1 else many or word + 's'}"
