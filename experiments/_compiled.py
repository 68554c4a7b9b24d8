"""Compiling and timing the programs of one experiment point, shared by the experiments.

`compile_all` compiles each program once (its closed-over arrays passed as arguments, see
`adlab.bench.jit_hoisted`) and reads XLA's analysis of that very executable; `time_rounds`
times them in interleaved rounds (`adlab.bench.interleave`) and keeps every round's time, so
that ratios can be taken round by round.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any

import jax

from adlab import bench, cost

__all__ = ["compile_all", "median_s", "ratio", "time_rounds", "where_measured"]


def compile_all(
    programs: Mapping[str, tuple[Callable, tuple]],
) -> tuple[dict[str, tuple[Any, tuple]], dict[str, dict[str, Any]]]:
    """Compiles every program once and reads XLA's analysis of that very executable.

    Args:
      programs: name -> (function, args).

    Returns:
      `(calls, found)`: calls[name] = (executable, call args) for `bench.interleave`, and
      found[name] = its compile time, XLA FLOPs, bytes accessed and memory.
    """
    calls, found = {}, {}
    for name, (fun, args) in programs.items():
        jitted, call_args = bench.jit_hoisted(fun, *args)
        start = time.perf_counter()
        compiled = jitted.lower(*call_args).compile()
        compile_s = time.perf_counter() - start
        xla = cost.analysed(compiled)
        calls[name] = (compiled, call_args)
        found[name] = {
            "compile_s": compile_s,
            "xla_flops": xla.flops,
            "bytes_accessed": xla.bytes_accessed,
            "temp_bytes": xla.temp_bytes,
        }
    return calls, found


def time_rounds(
    calls: Mapping[str, tuple[Any, tuple]],
    found: dict[str, dict[str, Any]],
    rounds: int,
    min_sample_s: float,
) -> None:
    """Times every call in interleaved rounds; stores each one's per-round times in `found`.

    Args:
      calls: name -> (callable, args), as `bench.interleave` takes them.
      found: name -> the program's record; "samples_s" is added (or created).
      rounds: the number of rounds.
      min_sample_s: each sample repeats its call until it lasts at least this long.
    """
    rounds = bench.interleave(calls, repeats=rounds, warmup=1, min_sample_s=min_sample_s)
    for name, timing in rounds.timings.items():
        found.setdefault(name, {})["samples_s"] = list(timing.samples_s)


def where_measured() -> dict[str, str]:
    """The backend and device kind a point is measured on, as every point records them."""
    return {"backend": jax.default_backend(), "device_kind": jax.devices()[0].device_kind}


def ratio(point: Mapping[str, Any], a: str, b: str) -> float:
    """Median over a point's rounds of time(a) / time(b), its programs timed by `time_rounds`."""
    xs, ys = (point["programs"][k]["samples_s"] for k in (a, b))
    return statistics.median(x / y for x, y in zip(xs, ys, strict=True))


def median_s(point: Mapping[str, Any], name: str) -> float:
    """The median time of one program of a point."""
    return statistics.median(point["programs"][name]["samples_s"])
