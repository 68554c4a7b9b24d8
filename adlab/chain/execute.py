"""Executing chain plans: the dense Jacobian of f_L o ... o f_1, computed the way a plan says.

A tangent sweep is a batch of JVPs (``jax.vmap`` over the seed's columns), an adjoint sweep is a
batch of VJPs through one pullback (``jax.vmap`` over the seed's rows), and a product is a dense
matmul. Everything is plain JAX, so ``jacobian`` can be ``jax.jit``-ed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

import adlab
from adlab import cost
from adlab.chain.dp import optimal_plan
from adlab.chain.plan import Adjoint, Factor, Node, Plan, Product, Tangent

Array = Any


def costs(fs: Sequence[Callable[[Array], Array]], x: Array, impl: Any = adlab) -> tuple[int, ...]:
    """c_i for each factor: the FLOPs of one tangent propagation through it at its input point.

    Counted with ``adlab.cost.count`` on one JVP of factor i at x_{i-1} = f_{i-1}(...f_1(x)),
    minus the FLOPs of evaluating factor i itself, which the JVP also does but which n tangents
    pushed through the factor (under ``vmap``) pay only once.

    Args:
      fs: the factors f_1..f_L, each mapping a 1-D array to a 1-D array.
      x: the 1-D input point.
      impl: a module with ``jvp`` (``adlab`` or ``adlab.reference``).

    Returns:
      c_1..c_L as ints.
    """
    fs, points = _points(fs, x, abstract=True)  # counts depend on shapes and dtypes only
    result = []
    for f, point in zip(fs, points[:-1], strict=True):
        jvp = functools.partial(_jvp_out, impl, f)
        tangent = cost.count(jvp, point, point).flops
        primal = cost.count(f, point).flops
        result.append(max(int(tangent) - int(primal), 0))
    return tuple(result)


def jacobian(
    fs: Sequence[Callable[[Array], Array]],
    x: Array,
    plan: str | Plan = "optimal",
    impl: Any = adlab,
) -> Array:
    """The dense Jacobian of f_L o ... o f_1 at x, computed by executing a plan.

    Args:
      fs: the factors f_1..f_L, each mapping a 1-D array to a 1-D array.
      x: the 1-D input point.
      plan: ``"forward"`` (one tangent sweep seeded with the identity, like ``jax.jacfwd``),
        ``"reverse"`` (one adjoint sweep, like ``jax.jacrev``), ``"optimal"`` (the
        matrix-free optimum for the costs ``costs(fs, x, impl)``), or a ``Plan`` for this
        chain's sizes, under either cost model.
      impl: a module with ``jvp`` and ``vjp`` (``adlab`` or ``adlab.reference``).

    Returns:
      J = J_L ... J_1, an (nL, n0) array.
    """
    fs, points = _points(fs, x)
    sizes = tuple(p.shape[0] for p in points)
    L = len(fs)
    if isinstance(plan, Plan):
        if plan.sizes != sizes:
            raise ValueError(f"plan is for sizes {list(plan.sizes)}, chain has {list(sizes)}")
        tree = plan.tree
    elif plan == "forward":
        tree = Tangent(1, L)
    elif plan == "reverse":
        tree = Adjoint(1, L)
    elif plan == "optimal":
        tree = optimal_plan(sizes, costs(fs, x, impl)).tree
    else:
        raise ValueError(f"plan must be 'forward', 'reverse', 'optimal' or a Plan, got {plan!r}")
    return _run(tree, fs, points, impl)


def _points(
    fs: Sequence[Callable[[Array], Array]], x: Array, abstract: bool = False
) -> tuple[tuple, list[Array]]:
    """Checks the chain and returns it with its points x_0 = x, x_i = f_i(x_{i-1}).

    With ``abstract=True`` the points are only shapes and dtypes (``jax.eval_shape``).
    """
    fs = tuple(fs)
    if not fs or not all(callable(f) for f in fs):
        raise TypeError("fs must be a non-empty sequence of functions f_1..f_L")
    x = jnp.asarray(x)
    points = [jax.ShapeDtypeStruct(x.shape, x.dtype) if abstract else x]
    for i, f in enumerate(fs, start=1):
        _check_1d(points[-1], "x" if i == 1 else f"f_{i - 1}(...)")
        points.append(jax.eval_shape(f, points[-1]) if abstract else f(points[-1]))
    _check_1d(points[-1], f"f_{len(fs)}(...)")
    return fs, points


def _check_1d(value: Array, where: str) -> None:
    if len(value.shape) != 1:
        raise ValueError(f"chain values must be 1-D, but {where} has shape {value.shape}")


def _run(node: Node, fs: tuple, points: list[Array], impl: Any) -> Array:
    """The dense matrix J_{hi..lo} that ``node`` computes."""
    if isinstance(node, Factor):  # preaccumulate J_i with the cheaper kind of sweep
        i = node.i
        cheaper = Tangent if points[i - 1].shape[0] <= points[i].shape[0] else Adjoint
        return _run(cheaper(i, i), fs, points, impl)
    if isinstance(node, Product):
        return _run(node.left, fs, points, impl) @ _run(node.right, fs, points, impl)
    lo, hi = node.span
    x, g = points[node.first - 1], _compose(fs[node.first - 1 : node.last])
    if isinstance(node, Tangent):  # J_g @ S: one JVP per column of the seed S
        seed = _eye(points[lo - 1]) if node.seed is None else _run(node.seed, fs, points, impl)
        return jax.vmap(functools.partial(_jvp_out, impl, g, x), in_axes=1, out_axes=1)(seed)
    # S @ J_g: one VJP per row of the seed S, all through the same pullback
    seed = _eye(points[hi]) if node.seed is None else _run(node.seed, fs, points, impl)
    _, pullback = impl.vjp(g, x)
    return jax.vmap(lambda ct: pullback(ct)[0])(seed)


def _jvp_out(impl: Any, f: Callable[[Array], Array], x: Array, x_dot: Array) -> Array:
    return impl.jvp(f, (x,), (x_dot,))[1]


def _compose(fs: Sequence[Callable[[Array], Array]]) -> Callable[[Array], Array]:
    def g(x: Array) -> Array:
        for f in fs:
            x = f(x)
        return x

    return g


def _eye(point: Array) -> Array:
    return jnp.eye(point.shape[0], dtype=point.dtype)
