"""The plan language for Jacobian chains: plan trees, what they cost, and their text form.

Conventions. The sizes are ``[n0, n1, ..., nL]``. Factor i maps R^{n_{i-1}} to R^{n_i},
so its Jacobian J_i is n_i x n_{i-1}, and the chain Jacobian is J = J_L ... J_1. A dense product
of an (a x b) and a (b x c) matrix costs 2abc FLOPs.

A plan is a tree of four kinds of node. Each node computes the dense Jacobian J_{hi..lo} of the
factors in its span ``(lo, hi)``:

=================  =========================  ==============================================
node               text                       computes
=================  =========================  ==============================================
``Factor(i)``      ``J3``                     J_i as a matrix
``Product(l, r)``  ``(J4 J3)``                the dense product l @ r
``Tangent(a, b)``  ``tan{J4 J3}``             identity columns pushed through factors a..b
``Tangent(a,b,s)`` ``tan{J4 J3 | S}``         the columns of S pushed through factors a..b
``Adjoint(a, b)``  ``adj{J2 J1}``             identity rows pulled back through factors b..a
``Adjoint(a,b,s)`` ``adj{S | J2 J1}``         the rows of S pulled back through factors b..a
=================  =========================  ==============================================

Text is written in product order (J_L on the left), so ``(tan{J4 J3} adj{J2 J1})`` reads as
J4 J3 J2 J1: build J4 J3 with n2 tangents, J2 J1 with n2 adjoints, then multiply.

Two cost models price a tree:

- **dense** (``costs=None``): the factors are given as matrices, so a ``Factor`` is free and
  only products cost. Sweeps have no meaning here.
- **matrix-free** (Naumann 2020, see ``adlab.chain.dp``): factor i is available only through
  JVPs and VJPs that cost c_i FLOPs each. Pushing p tangents (q adjoints) through it costs
  p c_i (q c_i), and a ``Factor`` leaf is preaccumulated with the cheaper of n_{i-1} tangents
  and n_i adjoints, for c_i min(n_i, n_{i-1}).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

# ---------------------------------------------------------------------------------------------
# Plan trees
# ---------------------------------------------------------------------------------------------


class _Node:
    """Trees are equal when their text is: the text form tells every tree apart, and comparing
    text avoids the deep recursion of field-by-field equality on chains of hundreds of factors.
    """

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and _text(self) == _text(other)

    def __hash__(self) -> int:
        return hash(_text(self))


@dataclass(frozen=True, eq=False)
class Factor(_Node):
    """The Jacobian J_i of factor i as a dense matrix.

    Attributes:
      i: the factor's index, 1-based.
    """

    i: int

    def __post_init__(self) -> None:
        if operator.index(self.i) < 1:
            raise ValueError(f"factor indices start at 1, got J{self.i}")

    @property
    def span(self) -> tuple[int, int]:
        """The factors ``(lo, hi)`` whose product this node computes."""
        return (self.i, self.i)

    def __str__(self) -> str:
        return _text(self)


@dataclass(frozen=True, eq=False)
class Product(_Node):
    """The dense matrix product ``left @ right``; ``left`` holds the later factors.

    Attributes:
      left: the plan for J_{hi..k+1}.
      right: the plan for J_{k..lo}.
    """

    left: Node
    right: Node

    def __post_init__(self) -> None:
        if self.right.span[1] + 1 != self.left.span[0]:
            raise ValueError(f"cannot multiply {self.left} by {self.right}: spans do not meet")

    @property
    def span(self) -> tuple[int, int]:
        """The factors ``(lo, hi)`` whose product this node computes."""
        return (self.right.span[0], self.left.span[1])

    def __str__(self) -> str:
        return _text(self)


@dataclass(frozen=True, eq=False)
class Tangent(_Node):
    """A tangent sweep: push the columns of ``seed`` (or the identity) through factors first..last.

    Attributes:
      first: the first factor swept.
      last: the last factor swept.
      seed: the plan for J_{first-1..lo}, whose columns are the tangents; ``None`` seeds the
        n_{first-1} columns of the identity.
    """

    first: int
    last: int
    seed: Node | None = None

    def __post_init__(self) -> None:
        _check_sweep(self.first, self.last)
        if self.seed is not None and self.seed.span[1] + 1 != self.first:
            raise ValueError(f"tangent seed {self.seed} does not end at J{self.first - 1}")

    @property
    def span(self) -> tuple[int, int]:
        """The factors ``(lo, hi)`` whose product this node computes."""
        return (self.first if self.seed is None else self.seed.span[0], self.last)

    def __str__(self) -> str:
        return _text(self)


@dataclass(frozen=True, eq=False)
class Adjoint(_Node):
    """An adjoint sweep: pull the rows of ``seed`` (or the identity) back through last..first.

    Attributes:
      first: the first factor swept (the last one the adjoints reach).
      last: the last factor swept (the first one the adjoints reach).
      seed: the plan for J_{hi..last+1}, whose rows are the adjoints; ``None`` seeds the
        n_last rows of the identity.
    """

    first: int
    last: int
    seed: Node | None = None

    def __post_init__(self) -> None:
        _check_sweep(self.first, self.last)
        if self.seed is not None and self.seed.span[0] != self.last + 1:
            raise ValueError(f"adjoint seed {self.seed} does not start at J{self.last + 1}")

    @property
    def span(self) -> tuple[int, int]:
        """The factors ``(lo, hi)`` whose product this node computes."""
        return (self.first, self.last if self.seed is None else self.seed.span[1])

    def __str__(self) -> str:
        return _text(self)


Node = Factor | Product | Tangent | Adjoint


def _check_sweep(first: int, last: int) -> None:
    if not 1 <= operator.index(first) <= operator.index(last):
        raise ValueError(f"a sweep needs 1 <= first <= last, got first={first} last={last}")


def _text(node: Node) -> str:
    """The text form of a tree (one recursive function, so deep trees stay within the limit)."""
    if isinstance(node, Factor):
        return f"J{node.i}"
    if isinstance(node, Product):
        return "(" + _text(node.left) + " " + _text(node.right) + ")"
    factors = " ".join(f"J{i}" for i in range(node.last, node.first - 1, -1))
    if node.seed is None:
        return ("tan{" if isinstance(node, Tangent) else "adj{") + factors + "}"
    if isinstance(node, Tangent):
        return "tan{" + factors + " | " + _text(node.seed) + "}"
    return "adj{" + _text(node.seed) + " | " + factors + "}"


# ---------------------------------------------------------------------------------------------
# Cost models
# ---------------------------------------------------------------------------------------------


def check_sizes(sizes: Sequence[int]) -> tuple[int, ...]:
    """Validates chain sizes ``[n0, ..., nL]``.

    Args:
      sizes: the chain's sizes; at least two, each a positive integer.

    Returns:
      The sizes as a tuple of Python ints.
    """
    try:
        n = tuple(operator.index(s) for s in sizes)
    except TypeError:
        raise TypeError(f"sizes must be integers, got {sizes!r}") from None
    if len(n) < 2:
        raise ValueError(f"a chain needs sizes [n0, ..., nL] with L >= 1, got {list(n)}")
    if min(n) < 1:
        raise ValueError(f"sizes must be positive, got {list(n)}")
    return n


def check_costs(sizes: Sequence[int], costs: Sequence[int]) -> tuple[int, ...]:
    """Validates the per-factor JVP/VJP costs c_1..c_L of a chain.

    Args:
      sizes: the chain's sizes ``[n0, ..., nL]``.
      costs: one non-negative integer cost per factor.

    Returns:
      The costs as a tuple of Python ints.
    """
    try:
        c = tuple(operator.index(x) for x in costs)
    except TypeError:
        raise TypeError(f"costs must be integers, got {costs!r}") from None
    if len(c) != len(sizes) - 1:
        raise ValueError(f"{len(sizes) - 1} factors need {len(sizes) - 1} costs, got {len(c)}")
    if c and min(c) < 0:
        raise ValueError(f"costs must be non-negative, got {list(c)}")
    return c


def forward_flops(sizes: Sequence[int]) -> int:
    """Dense model: FLOPs to accumulate J from the input side, J_L (... (J_3 (J_2 J_1))).

    Args:
      sizes: the chain's sizes ``[n0, ..., nL]``.

    Returns:
      2 n0 sum_{i=2..L} n_i n_{i-1}.
    """
    n = check_sizes(sizes)
    return 2 * n[0] * sum(n[i] * n[i - 1] for i in range(2, len(n)))


def reverse_flops(sizes: Sequence[int]) -> int:
    """Dense model: FLOPs to accumulate J from the output side, (((J_L J_{L-1}) ...) J_1).

    Args:
      sizes: the chain's sizes ``[n0, ..., nL]``.

    Returns:
      2 nL sum_{i=1..L-1} n_i n_{i-1}.
    """
    n = check_sizes(sizes)
    return 2 * n[-1] * sum(n[i] * n[i - 1] for i in range(1, len(n) - 1))


def tangent_flops(sizes: Sequence[int], costs: Sequence[int]) -> int:
    """Matrix-free model: FLOPs of forward mode, n0 tangents pushed through every factor.

    Args:
      sizes: the chain's sizes ``[n0, ..., nL]``.
      costs: c_1..c_L, the FLOPs of one JVP (or VJP) of each factor.

    Returns:
      n0 sum_i c_i.
    """
    n, c = check_sizes(sizes), check_costs(sizes, costs)
    return n[0] * sum(c)


def adjoint_flops(sizes: Sequence[int], costs: Sequence[int]) -> int:
    """Matrix-free model: FLOPs of reverse mode, nL adjoints pulled back through every factor.

    Args:
      sizes: the chain's sizes ``[n0, ..., nL]``.
      costs: c_1..c_L, the FLOPs of one JVP (or VJP) of each factor.

    Returns:
      nL sum_i c_i.
    """
    n, c = check_sizes(sizes), check_costs(sizes, costs)
    return n[-1] * sum(c)


def _flops(node: Node, n: tuple[int, ...], c: tuple[int, ...] | None) -> int:
    """FLOPs of a tree under the dense model (``c is None``) or the matrix-free model."""
    lo, hi = node.span
    if isinstance(node, Factor):
        return 0 if c is None else c[node.i - 1] * min(n[node.i], n[node.i - 1])
    if isinstance(node, Product):
        mid = node.right.span[1]
        product = 2 * n[hi] * n[mid] * n[lo - 1]  # (n_hi x n_mid) @ (n_mid x n_{lo-1})
        return _flops(node.left, n, c) + _flops(node.right, n, c) + product
    if c is None:
        raise ValueError(f"{node} is a sweep: sweeps are priced only in the matrix-free model")
    seed = 0 if node.seed is None else _flops(node.seed, n, c)
    vectors = n[lo - 1] if isinstance(node, Tangent) else n[hi]
    return seed + vectors * sum(c[node.first - 1 : node.last])


# ---------------------------------------------------------------------------------------------
# Plans
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """A way to compute the chain Jacobian J = J_L ... J_1, priced under one cost model.

    ``str(plan)`` is readable text such as ``((J4 J3) (J2 J1))`` or ``(tan{J4 J3} adj{J2 J1})``
    (see this module's docstring), and ``Plan.parse(str(plan), plan.sizes, plan.costs)``
    gives back an equal plan.

    Attributes:
      tree: the root node; its span must be ``(1, L)``.
      sizes: the chain's sizes ``[n0, ..., nL]``.
      costs: c_1..c_L for the matrix-free model, or ``None`` for the dense model.
      flops: the plan's FLOPs under its model (computed, not passed).
    """

    tree: Node
    sizes: tuple[int, ...]
    costs: tuple[int, ...] | None = None
    flops: int = field(init=False)

    def __post_init__(self) -> None:
        sizes = check_sizes(self.sizes)
        costs = None if self.costs is None else check_costs(sizes, self.costs)
        if self.tree.span != (1, len(sizes) - 1):
            raise ValueError(
                f"the plan covers J{self.tree.span[1]}..J{self.tree.span[0]}, but the chain with "
                f"{len(sizes)} sizes has factors J{len(sizes) - 1}..J1"
            )
        object.__setattr__(self, "sizes", sizes)
        object.__setattr__(self, "costs", costs)
        object.__setattr__(self, "flops", _flops(self.tree, sizes, costs))

    @property
    def model(self) -> str:
        """``"dense"`` or ``"matrix-free"``."""
        return "dense" if self.costs is None else "matrix-free"

    def __str__(self) -> str:
        return str(self.tree)

    @classmethod
    def parse(cls, text: str, sizes: Sequence[int], costs: Sequence[int] | None = None) -> Plan:
        """Reads a plan from its text form.

        Args:
          text: e.g. ``"((J4 J3) (J2 J1))"`` or ``"tan{J4 J3 | adj{J2 J1}}"``.
          sizes: the chain's sizes ``[n0, ..., nL]``.
          costs: c_1..c_L for the matrix-free model, or ``None`` for the dense model.

        Returns:
          The plan.
        """
        return cls(parse_tree(text), tuple(sizes), None if costs is None else tuple(costs))


# ---------------------------------------------------------------------------------------------
# Text form
# ---------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:(J)(\d+)|(tan\{|adj\{)|([(){}|]))")


def _tokenize(text: str) -> list[tuple[str, int | None, int]]:
    tokens, pos = [], 0
    while pos < len(text.rstrip()):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"cannot read plan {text!r} at position {pos}: {text[pos:]!r}")
        if m.group(1):
            tokens.append(("J", int(m.group(2)), m.start(1)))
        else:
            tokens.append((m.group(3) or m.group(4), None, m.start(m.lastindex)))
        pos = m.end()
    return tokens


def parse_tree(text: str) -> Node:
    """Reads a plan tree from its text form (the inverse of ``str(node)``).

    Grammar::

        node    := "J" INT | "(" node node ")"
                 | "tan{" factors ["|" node] "}" | "adj{" [node "|"] factors "}"
        factors := consecutive factors written from the last to the first, e.g. J4 J3

    Args:
      text: the plan text.

    Returns:
      The root node.
    """
    tokens = _tokenize(text)
    pos = 0

    def fail(message: str) -> ValueError:
        where = tokens[pos][2] if pos < len(tokens) else len(text)
        return ValueError(f"cannot read plan {text!r} at position {where}: {message}")

    def expect(kind: str) -> None:
        nonlocal pos
        if pos >= len(tokens) or tokens[pos][0] != kind:
            raise fail(f"expected {kind!r}")
        pos += 1

    def node() -> Node:
        nonlocal pos
        if pos >= len(tokens):
            raise fail("unexpected end")
        kind, value, _ = tokens[pos]
        pos += 1
        if kind == "J":
            return Factor(value)
        if kind == "(":
            left = node()
            right = node()
            expect(")")
            return Product(left, right)
        if kind in ("tan{", "adj{"):
            items = nodes_until("|", "}")
            seed = None
            if pos < len(tokens) and tokens[pos][0] == "|":
                pos += 1
                if kind == "tan{":
                    seed = node()
                elif len(items) == 1:
                    seed, items = items[0], nodes_until("}")
                else:
                    raise fail("an adjoint sweep takes one seed before '|'")
            expect("}")
            first, last = sweep_range(items)
            return (Tangent if kind == "tan{" else Adjoint)(first, last, seed)
        raise fail(f"unexpected {kind!r}")

    def nodes_until(*stops: str) -> list[Node]:
        items = []
        while pos < len(tokens) and tokens[pos][0] not in stops:
            items.append(node())
        return items

    def sweep_range(factors: list[Node]) -> tuple[int, int]:
        indices = [f.i if isinstance(f, Factor) else None for f in factors]
        if not indices or None in indices:
            raise fail("a sweep lists bare factors, e.g. tan{J4 J3}")
        if indices != list(range(indices[0], indices[0] - len(indices), -1)):
            raise fail(f"swept factors must be consecutive, last first: got {indices}")
        return indices[-1], indices[0]

    tree = node()
    if pos != len(tokens):
        raise fail("trailing text")
    return tree
