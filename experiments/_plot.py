"""The figures' shared style: palette, series styles, title, provenance footer and quick mark.

Every experiment's `plot` builds its figure inside `style()`, draws each series with a `Series`
(one colour and one marker per series, from the Okabe-Ito palette, which stays distinct under the
common colour-vision deficiencies) and hands the figure to `finish`, which adds the one-line
title, the provenance footer and, for quick runs, the "not for citation" mark, then saves it
atomically. Every text is at least 10 pt at the saved size; legends sit outside the data.

A figure carries one finding, stated in its title; a figure with more to show writes a second,
reference figure beside it (`beside`). A title or headline that compares two timings words the
ratio with `versus`, so that it reads correctly whatever was measured.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import itertools
import pathlib
import textwrap
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
    "beside",
    "SAME_BAND",
    "pace",
    "versus",
    "versus_axis",
    "offsets",
    "times_axis",
    "plain_log",
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
FOOTER_PT = 10  # the smallest text of any figure
SAME_BAND = 0.05  # two times "about equal": their ratio within 1 ± this

RC = {
    "font.size": 11,
    "axes.titlesize": 11,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
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
        _wrap(
            provenance(data, sizes),
            fig.get_figwidth(),
            room=len(QUICK_MARK) if is_quick(data) else 0,
        ),
        ha="left",
        va="top",
        fontsize=FOOTER_PT,
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


def _wrap(line: str, width_in: float, room: int = 0) -> str:
    """The footer line broken at its " · " separators to fit the figure's width, less room
    characters (for the quick mark at its right)."""
    chars = int(width_in * 72 / (0.55 * FOOTER_PT)) - room  # DejaVu Sans: about 0.55 em a char
    lines: list[str] = []
    for part in line.split(" · "):
        if lines and len(lines[-1]) + 3 + len(part) <= chars:
            lines[-1] += " · " + part
        else:
            lines.append(part)
    return "\n".join(textwrap.fill(x, chars, subsequent_indent="  ") for x in lines)


def beside(png_path: pathlib.Path, what: str) -> pathlib.Path:
    """The path of a second figure beside png_path: `hvp.png`, "detail" -> `hvp_detail.png`."""
    png_path = pathlib.Path(png_path)
    return png_path.with_name(f"{png_path.stem}_{what}{png_path.suffix}")


# ---- words for a ratio of times ---------------------------------------------------------------


def pace(ratios: Sequence[float], band: float = SAME_BAND) -> str:
    """How times compare, from time ÷ the other's time: faster, equal, slower or mixed.

    A ratio within 1 ± band is "equal". "mixed" means the ratios fall in more than one class.
    """
    classes = {"faster" if r < 1 - band else "slower" if r > 1 + band else "equal" for r in ratios}
    return classes.pop() if len(classes) == 1 else "mixed"


def versus(ratios: Sequence[float], other: str, band: float = SAME_BAND) -> str:
    """A time compared with another's, in words that hold whatever the ratios are.

    Args:
      ratios: time ÷ the other's time, one per point (at least one).
      other: the other's name, as it reads after "faster than" (e.g. "JAX's").
      band: ratios within 1 ± band count as equal.

    Returns:
      e.g. "faster than JAX's (0.82–0.92× its time)", "7.2× faster than jax.jacrev",
      "as fast as JAX's, within ±5% (0.99× its time)", "slower than JAX's (1.10–1.30× its time)",
      "faster than JAX's or within ±5% of it (0.82–1.00× its time)", or, where some are faster
      and some slower, "mixed against JAX's: faster at some points, slower at others (...)".
    """
    lo, hi = min(ratios), max(ratios)
    span = f"{lo:.2f}×" if f"{lo:.2f}" == f"{hi:.2f}" else f"{lo:.2f}–{hi:.2f}×"
    times = f"({span} its time)"
    within = f"within ±{100 * band:g}%"
    found = {pace([r], band) for r in ratios}
    if found == {"faster"}:
        if hi <= 0.5:  # a large gap reads best as a speed-up
            return f"{_span(1 / hi, 1 / lo)} faster than {other}"
        return f"faster than {other} {times}"
    if found == {"slower"}:
        if lo >= 2:
            return f"{_span(lo, hi)} slower than {other}"
        return f"slower than {other} {times}"
    if found == {"equal"}:
        return f"as fast as {other}, {within} {times}"
    if found == {"faster", "equal"}:
        return f"faster than {other} or {within} of it {times}"
    if found == {"slower", "equal"}:
        return f"slower than {other} or {within} of it {times}"
    return f"mixed against {other}: faster at some points, slower at others {times}"


def _span(lo: float, hi: float) -> str:
    return f"{lo:.1f}×" if f"{lo:.1f}" == f"{hi:.1f}" else f"{lo:.1f}–{hi:.1f}×"


def versus_axis(ax: Any, shown: Sequence[float], band: float = SAME_BAND) -> None:
    """An adlab ÷ JAX time axis: the line at 1, the band `versus` calls equal, room for shown."""
    ax.axhspan(1 - band, 1 + band, color=GREY, alpha=0.2, lw=0,
               label=f"within ±{100 * band:g}%: as fast")  # fmt: skip
    ax.axhline(1, color=BLACK, lw=0.8)
    ax.set_ylim(min(0.8, *shown) / 1.05, max(1.2, *shown) * 1.05)
    ax.set_ylabel("adlab time ÷ JAX time\n(below 1: adlab faster)")


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
    _log_axis(ax, axis, "×")


def plain_log(ax: Any, axis: str = "y") -> None:
    """A logarithmic axis with its ticks written as plain numbers: 2, 5, 10, 20, not 2×10^0."""
    _log_axis(ax, axis, "")


def _log_axis(ax: Any, axis: str, unit: str) -> None:
    target = ax.yaxis if axis == "y" else ax.xaxis
    (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
    target.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}{unit}"))
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
