"""The explanation's tables: the forward sweep, the backward sweep, the tape, the costs.

Each is a ``Table``: ``str()`` gives aligned text for a terminal, ``.markdown()`` a Markdown
table for notes. Values print compactly: a scalar in full, a small array shortened, a large
one as its dtype, shape and norm.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..rules import HANDLERS
from ._code import BINARY, UNARY
from ._record import Recording, Step

SMALL = 8  # arrays with at most this many entries print their values
INDENT = "  "  # one level of jit nesting
NORM_NOTE = (
    f"An array of more than {SMALL} entries is shown by its dtype, shape and norm: "
    "f32[64,64] |.|=7.9 is a 64 x 64 float32 array whose entries' squares sum to 7.9**2."
)


def fmt(x) -> str:
    """A value in a few characters: ``-12.0``, ``[1, 2, 3]`` or ``f32[64,64] |.|=7.9``."""
    if x is None:
        return "0"
    a = np.asarray(x)
    if a.dtype == bool:
        return str(a.tolist()) if a.size <= SMALL else f"bool{list(a.shape)}"
    if a.ndim == 0:
        return _scalar(a)
    if a.size <= SMALL:
        body = np.array2string(a, precision=4, separator=", ", max_line_width=10**6)
        return " ".join(body.split())
    short = {"float32": "f32", "float64": "f64", "float16": "f16", "bfloat16": "bf16"}
    dtype = short.get(str(a.dtype), str(a.dtype))
    norm = float(np.linalg.norm(a.astype(np.float64).ravel()))
    return f"{dtype}[{','.join(map(str, a.shape))}] |.|={norm:.4g}"


def _scalar(a: np.ndarray) -> str:
    if np.issubdtype(a.dtype, np.floating):
        return np.format_float_positional(a[()], unique=True, trim="0")  # round-trips: in full
    return str(a.item())


@dataclass
class Table:
    """A titled table; ``str()`` renders it as text, ``markdown()`` as Markdown.

    Attributes:
      title: one line above the table.
      header: the column names.
      rows: the cells; a row of one cell is a group line (a jit scope) across the table.
      notes: lines below the table.
    """

    title: str
    header: Sequence[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        full = [r for r in self.rows if len(r) == len(self.header)]
        widths = [
            max(len(str(r[i])) for r in [self.header, *full]) for i in range(len(self.header))
        ]
        line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
        out = [self.title, line(self.header), line(["-" * w for w in widths])]
        out += [line(r) if len(r) == len(self.header) else r[0] for r in self.rows]
        return "\n".join([*out, *self.all_notes()])

    def all_notes(self) -> list[str]:
        """The notes, and what ``|.|`` means where an array was too large to print."""
        cells = [self.title, *(str(c) for r in self.rows for c in r)]
        if not any("|.|=" in c for c in cells):
            return list(self.notes)
        return [*self.notes, NORM_NOTE]

    def markdown(self) -> str:
        """The table in Markdown, the title in bold above it."""
        esc = lambda c: str(c).replace("|", "\\|")  # noqa: E731
        out = [f"**{self.title}**", "", "| " + " | ".join(map(esc, self.header)) + " |"]
        out.append("|" + "---|" * len(self.header))
        for r in self.rows:
            cells = (
                r
                if len(r) == len(self.header)
                else [f"*{r[0].strip()}*"] + [""] * (len(self.header) - 1)
            )
            out.append("| " + " | ".join(map(esc, cells)) + " |")
        notes = self.all_notes()
        return "\n".join([*out, *([""] + notes if notes else [])])

    _repr_markdown_ = markdown  # notebooks render the Markdown


def _call(step: Step, rec: Recording) -> str:
    """``x + y`` for arithmetic, ``tanh(x)`` for a function, else ``prim(x, y)``."""
    names = [fmt(rec.vars[n].value) if rec.vars[n].kind == "literal" else n for n in step.inputs]
    template = BINARY.get(step.primitive) or UNARY.get(step.primitive)
    if template and len(names) == template.count("{"):
        return template.format(*names).replace("jnp.", "").replace("jax.nn.", "")
    if step.primitive == "integer_pow":
        return f"{names[0]} ** {step.eqn.params['y']}"
    if step.primitive == "dot_general" and _is_matmul(step, rec):
        return f"{names[0]} @ {names[1]}"
    return f"{step.primitive}({', '.join(names)})"


def _is_matmul(step: Step, rec: Recording) -> bool:
    """Whether a dot_general is ``x @ y``: x's last axis against y's first (or only) one."""
    (lc, rc), (lb, rb) = step.eqn.params["dimension_numbers"]
    x, y = (np.ndim(rec.vars[n].value) for n in step.inputs)
    return not lb and not rb and tuple(lc) == (x - 1,) and tuple(rc) == (max(y - 2, 0),)


def short_path(text: str) -> str:
    """A source line, with the current folder left out of its path."""
    here = os.getcwd() + os.sep
    return text.replace(here, "")


def forward_table(rec: Recording) -> Table:
    """Each equation in evaluation order: what it computes, its value and its tangent."""
    t = Table(
        f"Forward mode through {rec.fun_name}: each value and its tangent (direction: "
        + ", ".join(f"d{n} = {fmt(rec.vars[n].tangent)}" for n in rec.inputs)
        + ")",
        ["step", "name", "computed as", "value", "tangent", "line"],
    )
    for n in rec.inputs:
        v = rec.vars[n]
        t.rows.append(["in", n, "input", fmt(v.value), fmt(v.tangent), ""])
    for i, step in enumerate(rec.steps):
        pad = INDENT * step.depth
        if step.kind == "enter":
            t.rows.append([f"{pad}jit {step.primitive}: ({short_path(step.line)})"])
            continue
        if step.kind == "exit":
            continue
        where = short_path(step.line)
        for out in step.outputs:
            v = rec.vars[out]
            t.rows.append(
                [str(i), pad + out, _call(step, rec), fmt(v.value), fmt(v.tangent), where]
            )
    t.notes.append(
        "tangent: the derivative of each value along the direction; a tangent shown as 0 "
        "is zero or does not depend on the inputs."
    )
    return t


# The local derivative of primitives that are not elementwise, in words, per operand.
LOCAL_WORDS = {
    "dot_general": ("contract with the other operand", "contract with the other operand"),
    "reduce_sum": ("broadcast back to the input's shape",),
    "reduce_max": ("route to the maximum (ties share)",),
    "reduce_min": ("route to the minimum (ties share)",),
    "broadcast_in_dim": ("sum over the broadcast axes",),
    "reshape": ("reshape back",),
    "squeeze": ("reshape back",),
    "expand_dims": ("reshape back",),
    "transpose": ("transpose back",),
    "convert_element_type": ("cast back",),
    "select_n": ("", "where case 0 was chosen", "where case 1 was chosen"),
    "slice": ("put back where the slice was taken",),
}


def _local(step: Step, i: int) -> str:
    if step.local and step.local[i] is not None:
        return fmt(step.local[i])
    words = LOCAL_WORDS.get(step.primitive)
    if words and i < len(words):
        return words[i]
    if step.primitive not in HANDLERS:  # a library's primitive (adlab.library)
        return "its library's own rules"
    return "its rule's VJP"


def reverse_table(rec: Recording) -> Table:
    """Each equation in backward order: upstream x local = downstream, per input."""
    seeds = ", ".join(f"{n}: {fmt(rec.vars[n].cotangent)}" for n in rec.outputs)
    t = Table(
        f"Reverse mode through {rec.fun_name}: upstream x local = downstream (seed: {seeds})",
        ["step", "output", "upstream", "input", "local d output / d input", "downstream", "line"],
    )
    for i in reversed(range(len(rec.steps))):
        step = rec.steps[i]
        pad = INDENT * step.depth
        if step.kind == "exit":
            t.rows.append([f"{pad}jit {step.primitive}: ({short_path(step.line)})"])
            continue
        if step.kind != "eqn" or not step.active:
            continue
        upstream = "; ".join(fmt(c) for c in step.upstream)
        where = short_path(step.line)
        first = True
        for k, name in enumerate(step.inputs):
            if rec.vars[name].slot is None:
                continue  # no derivative flows to a constant
            out = ", ".join(step.outputs)
            t.rows.append([
                str(i) if first else "", pad + out if first else "", upstream if first else "",
                name, _local(step, k), fmt(step.downstream[k]), where if first else "",
            ])  # fmt: skip
            first = False
    label = "grad of sum(output)" if rec.sum_seeded else "grad"
    for n in rec.inputs:
        v = rec.vars[n]
        if v.slot is not None:
            t.rows.append([label, n, "", "", "", fmt(v.cotangent), ""])
    t.notes.append(
        "A value used twice receives the sum of its downstream cotangents (a copy adds); the "
        f"{label!r} rows are those sums at the inputs."
    )
    if rec.sum_seeded:
        t.notes.append(
            "The output is not a scalar and no cotangent was given, so the seed is ones: these "
            "are the gradients of the sum of the output's entries. Pass cotangent= to weight "
            "them otherwise (explain(f, *args, cotangent=...))."
        )
    return t


def tape_table(residuals) -> Table:
    """What reverse mode stores for the backward sweep (``adlab.reverse.residuals``)."""
    t = Table(
        "The tape: what reverse mode stores for the backward sweep",
        ["stored by", "shape", "dtype", "bytes", "source line"],
    )
    for r in residuals:
        shape = "x".join(map(str, r.array.shape)) or "scalar"
        where = short_path(r.where)
        t.rows.append([r.stored_by, shape, str(r.array.dtype), f"{r.nbytes:,}", where])
    t.notes.append(residuals.summary() + ".")
    return t


def cost_table(rec: Recording, counts: dict, stored: dict, n_in: int, n_out: int) -> Table:
    """One line per mode: FLOPs of one pass, bytes stored, passes for the whole Jacobian.

    Args:
      rec: the recording (for the function's name).
      counts: mode -> ``adlab.cost.count`` of one pass ("f" for the function alone).
      stored: mode -> bytes kept for a later sweep.
      n_in / n_out: the number of input and output entries (float only).
    """
    f = counts["f"]
    t = Table(
        f"What each mode costs on {rec.fun_name} (f alone: {f.flops:,} FLOPs and "
        f"{f.transcendentals:,} transcendental function{'' if f.transcendentals == 1 else 's'})",
        ["mode", "one pass", "FLOPs", "÷ f", "stored bytes", "passes for the full Jacobian"],
    )
    passes = {"forward": (n_in, "one JVP per input entry"),
              "reverse": (n_out, "one VJP per output entry")}  # fmt: skip
    for mode, what in (("forward", "JVP"), ("reverse", "VJP")):
        c = counts[mode]
        ratio = f"{c.flops / f.flops:.2f}" if f.flops else "-"
        n, why = passes[mode]
        t.rows.append([mode, what, f"{c.flops:,}", ratio, f"{stored[mode]:,}", f"{n} ({why})"])
    t.notes.append(
        "FLOPs are adlab.cost.count's, on the jaxpr of one pass (a VJP: its forward and backward "
        "sweeps); stored bytes are what the tape keeps beyond your inputs (forward mode keeps "
        "nothing: each tangent is used as soon as it is made)."
    )
    return t
