"""What a program costs: counted on its jaxpr, reported by XLA, and kept on adlab's tape.

Three instruments, one job each:

- `count(fun, *args)` traces `fun` with `jax.make_jaxpr` and adds up a cost per equation, by
  XLA's CPU convention: `dot_general` costs 2·batch·M·N·K, an elementwise arithmetic op 1 per
  output element, a reduction 1 per input element; transcendental ops (exp, log, tanh, ...)
  are counted apart, 1 per element; structural ops cost no FLOPs but move bytes. It is
  analytic: no compilation, no fusion, no simplification. It recurses into nested jaxprs
  (`jit`, `custom_jvp_call`, `custom_vjp_call`, `remat`, `closed_call`, loops and
  conditionals).
- `xla(fun, *args)` compiles `jax.jit(fun)` and returns what XLA's `cost_analysis` and
  `memory_analysis` say about the compiled, fused program; `analysed(compiled)` says the same
  of a program already compiled.
- `tape_bytes(fun, *primals)` is the memory price of reverse mode: the bytes of the residuals
  that adlab's VJP forward sweep keeps for the backward sweep.

Cost conventions used by `count`, per equation (n = elements of the output):

- `dot_general`: 2 * batch * M * N * K, i.e. 2 * n * (product of the contracted dimensions).
- elementwise arithmetic, comparisons and `select_n`: 1 flop per output element.
  `integer_pow` with exponent y costs the multiplications of binary exponentiation
  (bit_length(|y|) - 1 squarings + popcount(|y|) - 1 products, +1 division when y < 0).
  `polynomial` with coefficients c_0..c_N (JAX 0.12) costs Horner's 2N flops per element.
- transcendentals (exp, log, tanh, logistic, sin, sqrt, rsqrt, pow, ...): 1 transcendental per
  output element and no flops; they are reported apart.
- reductions (reduce_sum, reduce_max, argmax, cumsum, ...): 1 flop per input element. (XLA
  counts one fewer per reduced row, so the two differ by the number of outputs.)
- structural ops (broadcast, reshape, transpose, slice, convert_element_type, ...): 0 flops.
- the generic `reduce` (a computation of its own, e.g. adlab's derivative of `reduce_max`):
  the computation's cost once per element of an operand.
- `select_and_gather_add` / `select_and_scatter_add` (max pooling's derivative): 1 flop per
  window element of every window (the comparison that selects), and for the scatter 1 more
  per window (the addition).

`.bytes` is the *unfused* memory traffic: for every equation, the bytes of its operands read
plus the bytes of its results written, like XLA's "bytes accessed" before fusion. Structural ops
move bytes too. XLA fuses elementwise chains, so its `bytes_accessed` is usually smaller;
`count(...).bytes` is an upper bound on the traffic of a straightforward execution.

Loops: a `scan` body is counted `length` times. A `while` loop's trip count is unknown at trace
time, so its body and condition are counted once (as XLA does) and `loops_counted_once` says how
many such loops were met. A `cond` counts its most expensive branch (by flops).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import jax
import numpy as np
from jax.extend import core as jcore

from adlab.bench import jit_hoisted

__all__ = ["Tally", "Row", "Counts", "XlaCost", "count", "xla", "analysed", "tape_bytes"]

# ---------------------------------------------------------------------------------------------
# Primitive families
# ---------------------------------------------------------------------------------------------


def _names(words: str) -> frozenset[str]:
    return frozenset(words.split())


ELEMENTWISE = _names(
    "neg sign floor ceil round is_finite abs add add_any sub mul div rem max min nextafter "
    "square select_n clamp eq ne ge gt le lt and or not xor shift_left shift_right_arithmetic "
    "shift_right_logical population_count clz conj real imag complex mulhi"
)
TRANSCENDENTAL = _names(
    "exp exp2 log log2 log1p expm1 tanh logistic sin cos tan asin acos atan atan2 sinh cosh asinh "
    "acosh atanh sqrt rsqrt cbrt pow erf erfc erf_inv lgamma digamma"
)
REDUCTION = _names(
    "reduce_sum reduce_max reduce_min reduce_prod reduce_and reduce_or reduce_xor argmax argmin "
    "cumsum cumprod cummax cummin cumlogsumexp"
)
STRUCTURAL = _names(
    "broadcast_in_dim reshape squeeze expand_dims transpose slice dynamic_slice "
    "dynamic_update_slice concatenate pad rev gather split tile convert_element_type "
    "bitcast_convert_type reduce_precision iota copy copy_p stop_gradient sharding_constraint "
    "optimization_barrier device_put pvary"
)
# Call-like primitives: their cost is the cost of the jaxprs in their params, counted once.
CALLS = _names(
    "jit pjit closed_call core_call remat checkpoint custom_jvp_call custom_vjp_call "
    "custom_vjp_call_jaxpr custom_lin"
)
LOOPS = frozenset(["scan", "while", "cond"])
# Elementwise primitives that XLA lowers to several operations: FLOPs per element. JAX 0.11's
# derivatives of tanh, asin, acos and atanh use one_minus_square, 1 - x**2 lowered as
# (1 + x)(1 - x).
COMPOSITE = {"one_minus_square": 3}
SUPPORTED = (
    ELEMENTWISE
    | TRANSCENDENTAL
    | REDUCTION
    | STRUCTURAL
    | CALLS
    | LOOPS
    | set(COMPOSITE)
    | {"dot_general", "polynomial", "reduce", "select_and_gather_add", "select_and_scatter_add"}
)


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Tally:
    """FLOPs, transcendentals and bytes of some equations, and how many equations they are."""

    flops: int = 0
    transcendentals: int = 0
    bytes: int = 0
    eqns: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(*(a + b for a, b in zip(_fields(self), _fields(other), strict=True)))


def _fields(t: Tally) -> tuple[int, int, int, int]:
    return (t.flops, t.transcendentals, t.bytes, t.eqns)


@dataclasses.dataclass(frozen=True)
class Row:
    """One primitive equation of the (flattened) jaxpr and its cost.

    `where` is the nesting path ("" at top level, e.g. "jit(f)/custom_jvp_call(relu)").
    `times` is how often the equation runs (scan length); the costs already include it.
    """

    where: str
    primitive: str
    out_shapes: str
    times: int
    flops: int
    transcendentals: int
    bytes: int


@dataclasses.dataclass(frozen=True)
class Counts:
    """The analytic cost of a traced program; see the module docstring for the conventions."""

    flops: int
    transcendentals: int
    bytes: int
    by_primitive: dict[str, Tally]
    rows: tuple[Row, ...]
    loops_counted_once: int = 0

    def table(self) -> str:
        """Returns the per-equation cost table as a printable string, totals last."""
        head = ("#", "where", "primitive", "out", "x", "flops", "transc", "bytes")
        body = [
            (str(i), r.where or "-", r.primitive, r.out_shapes, str(r.times), f"{r.flops:,}")
            + (f"{r.transcendentals:,}", f"{r.bytes:,}")
            for i, r in enumerate(self.rows)
        ]
        total = ("", "total", "", "", "", f"{self.flops:,}", f"{self.transcendentals:,}")
        lines = [head, *body, total + (f"{self.bytes:,}",)]
        widths = [max(len(line[c]) for line in lines) for c in range(len(head))]
        left = {1, 2, 3}  # text columns are left-aligned, numbers right-aligned
        return "\n".join(
            "  ".join(
                s.ljust(w) if c in left else s.rjust(w)
                for c, (s, w) in enumerate(zip(line, widths, strict=True))
            ).rstrip()
            for line in lines
        )


# ---------------------------------------------------------------------------------------------
# count: analytic cost on the jaxpr
# ---------------------------------------------------------------------------------------------


def count(fun: Callable[..., Any], *args: Any) -> Counts:
    """Counts the FLOPs, transcendentals and bytes of `fun(*args)` on its jaxpr.

    Args:
      fun: anything `jax.make_jaxpr` can trace: a plain JAX function, a jitted one, or a
        pullback returned by `adlab.vjp` / `jax.vjp` (counting a pullback alone gives the
        cost of the backward sweep; its residuals are constants, which cost nothing).
      *args: example arguments (arrays, pytrees of arrays, or `jax.ShapeDtypeStruct`s).
        Only their shapes and dtypes matter.

    Returns:
      A `Counts` with totals `.flops`, `.transcendentals`, `.bytes`, a `.by_primitive` dict of
      `Tally`s, the per-equation `.rows` and `.table()`.

    Raises:
      NotImplementedError: if the program contains a primitive with no cost rule.
    """
    if not callable(fun):
        raise TypeError(f"count expects a callable, got {type(fun).__name__}")
    closed = jax.make_jaxpr(fun)(*args)
    rows: list[Row] = []
    loops = _walk(closed.jaxpr, "", 1, rows)
    by_primitive: dict[str, Tally] = {}
    for r in rows:
        one = Tally(r.flops, r.transcendentals, r.bytes, 1)
        by_primitive[r.primitive] = by_primitive.get(r.primitive, Tally()) + one
    total = sum(by_primitive.values(), Tally())
    return Counts(
        flops=total.flops,
        transcendentals=total.transcendentals,
        bytes=total.bytes,
        by_primitive=dict(sorted(by_primitive.items())),
        rows=tuple(rows),
        loops_counted_once=loops,
    )


def _walk(jaxpr: jcore.Jaxpr, where: str, times: int, rows: list[Row]) -> int:
    """Appends one Row per primitive equation of `jaxpr` (recursively); returns the number of
    loops whose body was counted once."""
    loops = 0
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        if name in CALLS:
            label = f"{name}({eqn.params['name']})" if "name" in eqn.params else name
            for sub in _subjaxprs(eqn.params):
                loops += _walk(sub, _join(where, label), times, rows)
        elif name == "scan":
            inner = _join(where, f"scan[{eqn.params['length']}]")
            loops += _walk(_open(eqn.params["jaxpr"]), inner, times * eqn.params["length"], rows)
        elif name == "while":
            inner = _join(where, "while(once)")
            loops += 1 + _walk(_open(eqn.params["cond_jaxpr"]), inner, times, rows)
            loops += _walk(_open(eqn.params["body_jaxpr"]), inner, times, rows)
        elif name == "cond":
            loops += _walk_costliest_branch(eqn, where, times, rows)
        else:
            flops, transcendentals = _rule(eqn)
            nbytes = sum(_nbytes(v.aval) for v in (*eqn.invars, *eqn.outvars))
            shapes = " ".join(_shape_str(v.aval) for v in eqn.outvars)
            rows.append(
                Row(
                    where,
                    name,
                    shapes,
                    times,
                    times * flops,
                    times * transcendentals,
                    times * nbytes,
                )
            )
    return loops


def _walk_costliest_branch(eqn: Any, where: str, times: int, rows: list[Row]) -> int:
    best: tuple[int, int, list[Row], int] | None = None
    for k, branch in enumerate(eqn.params["branches"]):
        branch_rows: list[Row] = []
        loops = _walk(_open(branch), _join(where, f"cond[branch {k}]"), times, branch_rows)
        key = (sum(r.flops for r in branch_rows), sum(r.bytes for r in branch_rows))
        if best is None or key > best[:2]:
            best = (*key, branch_rows, loops)
    assert best is not None
    rows.extend(best[2])
    return best[3]


def _rule(eqn: Any) -> tuple[int, int]:
    """(flops, transcendentals) of one primitive equation."""
    name = eqn.primitive.name
    n_out = sum(_size(v.aval) for v in eqn.outvars)
    if name == "dot_general":
        (lhs_contract, _), _ = eqn.params["dimension_numbers"]
        k = int(np.prod([eqn.invars[0].aval.shape[d] for d in lhs_contract], dtype=np.int64))
        return 2 * n_out * k, 0
    if name == "integer_pow":
        return n_out * _integer_pow_muls(eqn.params["y"]), 0
    if name in ELEMENTWISE:
        return n_out, 0
    if name in COMPOSITE:
        return COMPOSITE[name] * n_out, 0
    if name == "polynomial":  # Horner's rule: a multiply and an add per coefficient after c_0
        return 2 * (len(eqn.invars) - 2) * n_out, 0
    if name in TRANSCENDENTAL:
        return 0, n_out
    if name in REDUCTION:
        return _size(eqn.invars[0].aval), 0
    if name in STRUCTURAL:
        return 0, 0
    if name == "reduce":
        per = [_rule(e) for e in _open(eqn.params["jaxpr"]).eqns]
        n_in = _size(eqn.invars[0].aval)
        return n_in * sum(f for f, _ in per), n_in * sum(t for _, t in per)
    if name in ("select_and_gather_add", "select_and_scatter_add"):
        per = int(np.prod(eqn.params["window_dimensions"]))
        if name == "select_and_gather_add":  # one window per output element
            return n_out * per, 0
        windows = _size(eqn.invars[0].aval)  # the source: one value per window
        return windows * (per + 1), 0
    raise NotImplementedError(
        f"adlab.cost.count has no cost rule for primitive {name!r} "
        f"(in equation: {eqn}). Supported primitives: {', '.join(sorted(SUPPORTED))}."
    )


def _integer_pow_muls(y: int) -> int:
    """Multiplications binary exponentiation needs for x**y (as JAX lowers integer_pow)."""
    m = abs(y)
    if m == 0:
        return 0
    return (m.bit_length() - 1) + (bin(m).count("1") - 1) + (1 if y < 0 else 0)


def _subjaxprs(params: dict[str, Any]) -> Iterator[jcore.Jaxpr]:
    for value in params.values():
        for v in value if isinstance(value, tuple) else (value,):
            if isinstance(v, (jcore.Jaxpr, jcore.ClosedJaxpr)):
                yield _open(v)


def _open(j: jcore.Jaxpr | jcore.ClosedJaxpr) -> jcore.Jaxpr:
    return j.jaxpr if isinstance(j, jcore.ClosedJaxpr) else j


def _join(where: str, label: str) -> str:
    return f"{where}/{label}" if where else label


def _size(aval: Any) -> int:
    shape = getattr(aval, "shape", None)
    return 0 if shape is None else int(np.prod(shape, dtype=np.int64))


def _nbytes(aval: Any) -> int:
    itemsize = getattr(getattr(aval, "dtype", None), "itemsize", 0)
    return _size(aval) * int(itemsize)


def _shape_str(aval: Any) -> str:
    return aval.str_short() if hasattr(aval, "str_short") else str(aval)


# ---------------------------------------------------------------------------------------------
# xla: what the compiler says
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class XlaCost:
    """XLA's cost and memory analysis of one compiled program (floats, as XLA reports them).

    Memory fields are None when the backend provides no memory analysis.
    """

    flops: float
    transcendentals: float
    bytes_accessed: float
    argument_bytes: int | None
    output_bytes: int | None
    temp_bytes: int | None


def xla(fun: Callable[..., Any], *args: Any) -> XlaCost:
    """Compiles `jax.jit(fun)` for `args` and returns XLA's own cost and memory analysis.

    XLA analyses the optimised (fused, simplified) HLO, so its numbers can differ from
    `count`: fused elementwise chains read and write less, simplified ops vanish. XLA counts the
    body of a loop (while, scan) ONCE, whatever the trip count. On GPU and TPU the numbers are
    the compiler's estimates, not measurements.

    Arrays that `fun` closes over (a pullback's residuals) are passed to the compiled program as
    arguments (see `adlab.bench.jit_hoisted`), so they count in `.argument_bytes` instead of
    being baked into the program as constants.

    Args:
      fun: a function of arrays (or pytrees of arrays), jitted or not.
      *args: example arguments; concrete arrays or `jax.ShapeDtypeStruct`s.

    Returns:
      An `XlaCost` with `.flops`, `.transcendentals`, `.bytes_accessed` (cost_analysis) and
      `.argument_bytes`, `.output_bytes`, `.temp_bytes` (memory_analysis).
    """
    if not callable(fun):
        raise TypeError(f"xla expects a callable, got {type(fun).__name__}")
    jitted, call_args = jit_hoisted(fun, *args)
    return analysed(jitted.lower(*call_args).compile())


def analysed(compiled: Any) -> XlaCost:
    """XLA's cost and memory analysis of a program already compiled.

    Use it to analyse the very executable that is then timed (`xla` compiles a program of its
    own).

    Args:
      compiled: a compiled executable, `jax.jit(f).lower(*args).compile()`.

    Returns:
      An `XlaCost`.
    """
    analysis = compiled.cost_analysis()
    if isinstance(analysis, (list, tuple)):  # older jaxlibs return one dict per computation
        analysis = analysis[0] if analysis else {}
    analysis = analysis or {}
    memory = compiled.memory_analysis()

    def mem(field: str) -> int | None:
        return None if memory is None else int(getattr(memory, field))

    return XlaCost(
        flops=float(analysis.get("flops", 0.0)),
        transcendentals=float(analysis.get("transcendentals", 0.0)),
        bytes_accessed=float(analysis.get("bytes accessed", 0.0)),
        argument_bytes=mem("argument_size_in_bytes"),
        output_bytes=mem("output_size_in_bytes"),
        temp_bytes=mem("temp_size_in_bytes"),
    )


# ---------------------------------------------------------------------------------------------
# tape_bytes: the memory price of reverse mode
# ---------------------------------------------------------------------------------------------


def tape_bytes(fun: Callable[..., Any], *primals: Any) -> int:
    """Returns the bytes of the residuals adlab's VJP forward sweep keeps for the backward sweep.

    Args:
      fun: the function to differentiate, as passed to `adlab.vjp`.
      *primals: the point at which it is differentiated.

    Returns:
      The sum of `nbytes` over `adlab.reverse.residuals(fun, *primals)`.
    """
    from adlab import reverse  # late import: reverse depends on the rules, cost does not

    return sum(r.nbytes for r in reverse.residuals(fun, *primals))
