"""Small statistics shared by the experiments: spreads and where a measured curve crosses 1."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["spread", "first_crossing", "crossing_text"]


def spread(values: Sequence[float]) -> dict[str, float]:
    """{"median", "min", "max"} of some values."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def first_crossing(xs: Sequence[float], values: Sequence[float]) -> dict[str, Any]:
    """Where `values` (a function of x, measured at increasing xs) first rises through 1.

    Returns:
      {"n": the crossing, "where": "between"} interpolated log-log between two measured
      points; {"n": the smallest x, "where": "at or below"} if it is already >= 1 there;
      {"n": the largest x, "where": "above"} if it never reaches 1 in the measured range.
    """
    if values[0] >= 1:
        return {"n": float(xs[0]), "where": "at or below"}
    for (x0, v0), (x1, v1) in zip(zip(xs, values), zip(xs[1:], values[1:])):
        if v0 < 1 <= v1:
            t = -math.log(v0) / (math.log(v1) - math.log(v0))
            x = math.exp(math.log(x0) + t * (math.log(x1) - math.log(x0)))
            return {"n": float(x), "where": "between"}
    return {"n": float(xs[-1]), "where": "above"}


def crossing_text(c: Mapping[str, Any], var: str = "n") -> str:
    """A crossing in words: "n ≈ 130", "n ≤ 24", "not up to n = 2048"."""
    if c["where"] == "between":
        return f"{var} ≈ {c['n']:.0f}"
    if c["where"] == "at or below":
        return f"{var} ≤ {c['n']:.0f}"
    return f"not up to {var} = {c['n']:.0f}"
