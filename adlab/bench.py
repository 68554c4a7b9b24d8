"""Timing that can be trusted on a noisy machine.

- `timeit(fn, *args)` compiles first (when `fn` is jitted) and reports compile time apart, warms
  up, calls `block_until_ready` on every result, and returns the median, min and spread of
  repeated samples. Each sample runs `fn` enough times to last at least `min_sample_s`.
- `compare(a, b, *args)` times two callables interleaved, pair by pair, and returns the per-pair
  time ratio a/b and its median. Because both members of a pair run under the same machine
  load, ratios are far more stable than absolute times: quote ratios.
- `interleave({name: (fn, args)})` does the same for any number of callables, in rounds that
  run each once; any two can then be compared round by round.
- `jit_hoisted(fun, *args)` jits `fun` with its closed-over arrays (for a pullback: the
  residuals) passed as arguments instead of being baked into the program as constants.
- `environment()` describes where the numbers come from (backend, device kind, versions).
"""

from __future__ import annotations

import dataclasses
import math
import os
import platform
import random
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jaxlib
from jax.extend import core as jcore

from ._compat import with_consts

__all__ = [
    "Timing",
    "Comparison",
    "Rounds",
    "timeit",
    "compare",
    "interleave",
    "jit_hoisted",
    "environment",
]


def environment() -> dict[str, Any]:
    """Returns the backend, device kind, jax/jaxlib versions, CPU count and XLA_FLAGS in use.

    Returns:
      A JSON-serialisable dict.
    """
    device = jax.devices()[0]
    return {
        "backend": jax.default_backend(),
        "device_kind": device.device_kind,
        "device_count": jax.device_count(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }


@dataclasses.dataclass(frozen=True)
class Timing:
    """Steady-state timing of one callable, in seconds per call.

    `spread` is the interquartile range of the samples divided by their median.
    `compile_s` is None when the callable was not a `jax.jit` function (then `first_call_s`,
    which includes any tracing and compilation done inside it, is the closest thing).
    """

    median_s: float
    min_s: float
    spread: float
    samples_s: tuple[float, ...]
    number: int
    compile_s: float | None
    first_call_s: float


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Interleaved timing of two callables; `ratios[i]` is time(a)/time(b) in pair i."""

    ratios: tuple[float, ...]
    median_ratio: float
    a: Timing
    b: Timing
    env: dict[str, Any]


def timeit(
    fn: Callable[..., Any],
    *args: Any,
    repeats: int = 15,
    warmup: int = 2,
    min_sample_s: float = 2e-3,
) -> Timing:
    """Times `fn(*args)`: compile apart, warm up, block on results, repeat, take medians.

    Args:
      fn: the callable. If it has `.lower` (a `jax.jit` function) it is compiled first and the
        compiled executable is timed.
      *args: its arguments.
      repeats: number of samples.
      warmup: untimed calls after the first one.
      min_sample_s: each sample repeats the call until it lasts at least this long.

    Returns:
      A `Timing`.
    """
    _check_counts(repeats, warmup)
    call, compile_s, first_s = _prepare(fn, args, warmup)
    number = _calls_per_sample(call, args, min_sample_s)
    samples = [_sample(call, args, number) for _ in range(repeats)]
    return _timing(samples, number, compile_s, first_s)


def compare(
    a: Callable[..., Any],
    b: Callable[..., Any],
    *args: Any,
    args_b: Sequence[Any] | None = None,
    repeats: int = 15,
    warmup: int = 2,
    min_sample_s: float = 2e-3,
) -> Comparison:
    """Times `a(*args)` and `b(*args)` interleaved; returns the per-pair ratios time(a)/time(b).

    The signature follows `timeit`'s: the callables, their arguments, then the same options
    (`repeats` is the number of (a, b) pairs). The pairs alternate their order (a b, b a,
    a b, ...) so that neither callable always runs first. Compilation and warm-up of both
    happen before the first pair.

    Args:
      a: the numerator callable (compiled first if it is a `jax.jit` function).
      b: the denominator callable.
      *args: positional arguments of both (of `a` only when `args_b` is given).
      args_b: positional arguments of `b`, when they differ from `a`'s.
      repeats: number of (a, b) sample pairs.
      warmup: untimed calls of each after its first call.
      min_sample_s: each sample repeats its call until it lasts at least this long.

    Returns:
      A `Comparison` with the ratios, their median, a `Timing` for each side and `environment()`.
    """
    args_b = args if args_b is None else tuple(args_b)
    rounds = interleave(
        {"a": (a, args), "b": (b, args_b)},
        repeats=repeats,
        warmup=warmup,
        min_sample_s=min_sample_s,
    )
    ratios = rounds.ratios("a", "b")
    return Comparison(
        ratios=ratios,
        median_ratio=statistics.median(ratios),
        a=rounds.timings["a"],
        b=rounds.timings["b"],
        env=rounds.env,
    )


@dataclasses.dataclass(frozen=True)
class Rounds:
    """Interleaved timing of several callables: in round r each one ran once (`samples_s[r]`).

    Attributes:
      timings: one `Timing` per name; `timings[name].samples_s[r]` is its sample in round r.
      order: the order in which the callables ran in each round.
      env: `environment()`.
    """

    timings: dict[str, Timing]
    order: tuple[tuple[str, ...], ...]
    env: dict[str, Any]

    def ratios(self, a: str, b: str) -> tuple[float, ...]:
        """The per-round time ratios time(a)/time(b): both ran in the same round."""
        pairs = zip(self.timings[a].samples_s, self.timings[b].samples_s, strict=True)
        return tuple(x / y for x, y in pairs)


def interleave(
    calls: Mapping[str, tuple[Callable[..., Any], Sequence[Any]]],
    *,
    repeats: int = 15,
    warmup: int = 2,
    min_sample_s: float = 2e-3,
    seed: int = 0,
) -> Rounds:
    """Times several callables in interleaved rounds: each round runs every callable once.

    Two callables alternate their order (a b, b a, a b, ...). Three or more run in a fresh
    random order each round (drawn from `seed`, so a run is reproducible), so that no callable
    always runs first, last, or right after the same other one: a program that follows another
    which touched the same memory finds warm caches, and a fixed order would turn that into a
    bias in every ratio (a rotation keeps the cyclic order fixed). Compilation and warm-up of all
    of them happen before
    the first round. Any two of them can then be compared round by round (`Rounds.ratios`),
    under the same machine load, as `compare` does for two.

    Args:
      calls: name -> (callable, its positional arguments). A `jax.jit` callable is compiled
        first; a compiled executable (`jitted.lower(...).compile()`) is timed as it is.
      repeats: number of rounds.
      warmup: untimed calls of each after its first call.
      min_sample_s: each sample repeats its call until it lasts at least this long.
      seed: the seed of the random orders.

    Returns:
      A `Rounds`.
    """
    _check_counts(repeats, warmup)
    if not calls:
        raise ValueError("interleave needs at least one callable")
    names = list(calls)
    prepared = {}
    for name in names:
        fn, fn_args = calls[name]
        fn_args = tuple(fn_args)
        call, compile_s, first_s = _prepare(fn, fn_args, warmup)
        number = _calls_per_sample(call, fn_args, min_sample_s)
        prepared[name] = (call, fn_args, number, compile_s, first_s)
    samples: dict[str, list[float]] = {name: [] for name in names}
    order = []
    rng = random.Random(seed)
    for r in range(repeats):
        if len(names) <= 2:
            this_round = names[r % 2 :] + names[: r % 2]
        else:
            this_round = rng.sample(names, len(names))
        order.append(tuple(this_round))
        for name in this_round:
            call, fn_args, number, _, _ = prepared[name]
            samples[name].append(_sample(call, fn_args, number))
    timings = {
        name: _timing(samples[name], number, compile_s, first_s)
        for name, (_, _, number, compile_s, first_s) in prepared.items()
    }
    return Rounds(timings=timings, order=tuple(order), env=environment())


def jit_hoisted(fun: Callable[..., Any], *args: Any) -> tuple[Callable[..., Any], tuple[Any, ...]]:
    """Jits `fun` so that the arrays it closes over become arguments, not constants.

    A pullback closes over its residuals. `jax.jit(pullback)` would bake them into the program
    as constants (which XLA may fold, and which hide the tape from `memory_analysis`).
    Here they are passed in as a first argument instead.

    Args:
      fun: any function `jax.make_jaxpr` can trace.
      *args: example arguments.

    Returns:
      `(jitted, call_args)`: `jitted(*call_args)` computes `fun(*args)`; `call_args` is
      `(closed_over_arrays, *args)`.
    """
    closed, out_shape = jax.make_jaxpr(fun, return_shape=True)(*args)
    out_tree = jax.tree.structure(out_shape)

    def run(consts: list[Any], *call_args: Any) -> Any:
        flat = jax.tree.leaves(call_args)
        out = jcore.jaxpr_as_fun(with_consts(closed, consts))(*flat)
        return jax.tree.unflatten(out_tree, out)

    return jax.jit(run), (list(closed.consts), *args)


# ---------------------------------------------------------------------------------------------


def _check_counts(repeats: int, warmup: int) -> None:
    if repeats < 1:
        raise ValueError(f"need at least one timed sample, got {repeats}")
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")


def _prepare(
    fn: Callable[..., Any], args: tuple[Any, ...], warmup: int
) -> tuple[Callable[..., Any], float | None, float]:
    """Compiles (if jitted), makes the first call and warms up; returns the callable to time."""
    if not callable(fn):
        raise TypeError(f"expected a callable, got {type(fn).__name__}")
    compile_s = None
    call = fn
    if hasattr(fn, "lower"):
        start = time.perf_counter()
        call = fn.lower(*args).compile()
        compile_s = time.perf_counter() - start
    start = time.perf_counter()
    jax.block_until_ready(call(*args))
    first_s = time.perf_counter() - start
    for _ in range(warmup):
        jax.block_until_ready(call(*args))
    return call, compile_s, first_s


def _calls_per_sample(call: Callable[..., Any], args: tuple[Any, ...], min_s: float) -> int:
    one = _sample(call, args, 1)
    return max(1, min(10_000, math.ceil(min_s / max(one, 1e-9))))


def _sample(call: Callable[..., Any], args: tuple[Any, ...], number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        jax.block_until_ready(call(*args))
    return (time.perf_counter() - start) / number


def _timing(samples: list[float], number: int, compile_s: float | None, first_s: float) -> Timing:
    median = statistics.median(samples)
    if len(samples) >= 2:
        q1, _, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    else:
        q1 = q3 = median
    return Timing(
        median_s=median,
        min_s=min(samples),
        spread=(q3 - q1) / median if median > 0 else 0.0,
        samples_s=tuple(samples),
        number=number,
        compile_s=compile_s,
        first_call_s=first_s,
    )
