"""Jacobian chains: cost models, optimal plans by dynamic programming, and a plan executor.

How much does the order of multiplying J = J_L ... J_1 matter, and can adlab pick the best one?

- ``plan``: plan trees (``Factor``, ``Product``, ``Tangent``, ``Adjoint``), their text form,
  and their FLOPs under the dense and the matrix-free cost models.
- ``dp``: ``optimal_bracketing`` (dense) and ``optimal_plan`` (matrix-free, Naumann 2020).
- ``execute``: ``costs`` and ``jacobian``, which runs a plan with adlab's (or JAX's) JVPs/VJPs.
"""

from adlab.chain.dp import optimal_bracketing, optimal_plan
from adlab.chain.execute import costs, jacobian
from adlab.chain.plan import (
    Adjoint,
    Factor,
    Node,
    Plan,
    Product,
    Tangent,
    adjoint_flops,
    forward_flops,
    parse_tree,
    reverse_flops,
    tangent_flops,
)

__all__ = [
    "Adjoint",
    "Factor",
    "Node",
    "Plan",
    "Product",
    "Tangent",
    "adjoint_flops",
    "costs",
    "forward_flops",
    "jacobian",
    "optimal_bracketing",
    "optimal_plan",
    "parse_tree",
    "reverse_flops",
    "tangent_flops",
]
