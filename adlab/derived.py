"""Derived transformations: grad, value_and_grad, jacfwd, jacrev, hessian and hvp.

All of them are compositions of ``jvp`` and ``vjp``. ``make_hvp`` is written once over
any (jvp, grad) pair, so ``adlab.hvp`` and ``adlab.reference.hvp`` are the same four
compositions from JAX's autodiff cookbook, run by different AD engines.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from jax import lax, tree_util

from ._compat import convert_like
from ._dtypes import carries_derivative
from .forward import jvp
from .reverse import vjp

HVP_MODES = ("fwd-over-rev", "rev-over-fwd", "rev-over-rev", "fwd-over-fwd")


# --- argnums plumbing ----------------------------------------------------------------------


def _split_args(fun, args, argnums, who):
    """Returns (f of the selected args only, the selected args as a tuple).

    Raises for an argnums out of range, and for selected args that are not floats.
    """
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for i in nums:
        if not -len(args) <= i < len(args):
            raise ValueError(
                f"adlab.{who}: argnums={argnums} but the function was called with "
                f"{len(args)} positional arguments."
            )
    nums = tuple(i % len(args) for i in nums)

    def f_selected(*selected):
        full = list(args)
        for i, x in zip(nums, selected):
            full[i] = x
        return fun(*full)

    selected = tuple(args[i] for i in nums)
    _check_float_inputs(selected, who)
    return f_selected, selected


def _check_float_inputs(selected, who):
    for i, leaf in enumerate(tree_util.tree_leaves(selected)):
        if not carries_derivative(leaf, f"input leaf {i} of adlab.{who}"):
            raise TypeError(
                f"adlab.{who} requires real floating-point inputs, but got an input of dtype "
                f"{jnp.result_type(leaf)}. Differentiate with respect to float arguments "
                "only (pass integers through argnums you do not differentiate), or cast "
                "them with .astype(jnp.float32)."
            )


# --- grad -----------------------------------------------------------------------------------


def value_and_grad(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False):
    """Returns a function computing ``fun``'s value and its gradient, by reverse mode.

    Same signature and results as ``jax.value_and_grad``.

    Args:
      fun: a scalar-valued function (pytree inputs allowed).
      argnums: which positional argument(s) to differentiate.
      has_aux: if True, ``fun`` returns ``(value, aux)``.

    Returns:
      A function returning ``(value, grad)`` or ``((value, aux), grad)``; grad has the
      structure of the selected argument (a tuple of them if ``argnums`` is a sequence).
    """

    def value_and_grad_fun(*args):
        f_selected, selected = _split_args(fun, args, argnums, "grad")
        out, pullback, *aux = vjp(f_selected, *selected, has_aux=has_aux)
        leaves = tree_util.tree_leaves(out)
        scalar = len(leaves) == 1 and jnp.shape(leaves[0]) == ()
        if not (scalar and carries_derivative(leaves[0], "the output of adlab.grad's function")):
            shapes = [jnp.shape(x) for x in leaves]
            raise TypeError(
                "adlab.grad requires a function with a real scalar output, but the output "
                f"has shape(s) {shapes}. Reduce it to a scalar (e.g. .sum()), or use "
                "adlab.vjp or adlab.jacrev for non-scalar outputs."
            )
        grads = pullback(lax.full_like(out, 1))
        grads = grads[0] if isinstance(argnums, int) else grads
        return ((out, aux[0]) if has_aux else out), grads

    return value_and_grad_fun


def grad(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False):
    """Returns a function computing the gradient of scalar ``fun``, by reverse mode.

    Same signature and results as ``jax.grad``.

    Args:
      fun: a scalar-valued function (pytree inputs allowed).
      argnums: which positional argument(s) to differentiate.
      has_aux: if True, ``fun`` returns ``(value, aux)`` and ``(grad, aux)`` is returned.

    Returns:
      A function with ``fun``'s signature returning the gradient.
    """
    value_and_grad_fun = value_and_grad(fun, argnums, has_aux)

    def grad_fun(*args):
        value, g = value_and_grad_fun(*args)
        return (g, value[1]) if has_aux else g

    return grad_fun


# --- Jacobians --------------------------------------------------------------------------------


def _basis(leaves):
    """One-hot tangents for every input element, stacked: a leaf of shape (N, *leaf.shape)."""
    sizes = [int(jnp.size(x)) for x in leaves]
    total = sum(sizes)
    dtype = jnp.result_type(*leaves) if leaves else jnp.float32
    eye = jnp.eye(total, dtype=dtype)
    out, start = [], 0
    for x, size in zip(leaves, sizes):
        block = lax.slice_in_dim(eye, start, start + size, axis=1)
        out.append(block.reshape((total, *jnp.shape(x))).astype(jnp.result_type(x)))
        start += size
    return out, sizes


def _split_rows(stacked, sizes, shapes):
    """Splits an array of shape (N, ...) into pieces of shapes (*shape, ...)."""
    out, start = [], 0
    for size, shape in zip(sizes, shapes):
        piece = lax.slice_in_dim(stacked, start, start + size, axis=0)
        out.append(piece.reshape((*shape, *stacked.shape[1:])))
        start += size
    return out


def jacfwd(fun: Callable, argnums: int | Sequence[int] = 0):
    """Jacobian by forward mode: one JVP per input element, batched with ``jax.vmap``.

    Same signature and results as ``jax.jacfwd``: for each output leaf of shape ``O`` and
    input leaf of shape ``I`` the block has shape ``O + I``.

    Args:
      fun: the function.
      argnums: which positional argument(s) to differentiate.

    Returns:
      A function with ``fun``'s signature returning the Jacobian pytree.
    """

    def jac_fun(*args):
        f_selected, selected = _split_args(fun, args, argnums, "jacfwd")
        leaves, in_tree = tree_util.tree_flatten(selected)
        basis, sizes = _basis(leaves)

        def push(*basis_leaves):
            return jvp(f_selected, selected, tree_util.tree_unflatten(in_tree, basis_leaves))

        # The value does not depend on the basis: one copy (out_axes None), as in JAX.
        out, cols = jax.vmap(push, out_axes=(None, 0))(*basis)  # each leaf: (N, *out_shape)
        cols_flat, out_tree = tree_util.tree_flatten(cols)
        blocks = []
        for col, example in zip(cols_flat, tree_util.tree_leaves(out)):
            col = convert_like(col, example)  # the output's dtype and weak type, as in JAX
            pieces = _split_rows(col, sizes, [jnp.shape(x) for x in leaves])
            # (*in_shape, *out_shape) -> (*out_shape, *in_shape)
            pieces = [
                jnp.moveaxis(p, tuple(range(jnp.ndim(x))), tuple(range(-jnp.ndim(x), 0)))
                for p, x in zip(pieces, leaves)
            ]
            blocks.append(_select(tree_util.tree_unflatten(in_tree, pieces), argnums))
        return tree_util.tree_unflatten(out_tree, blocks)

    return jac_fun


def jacrev(fun: Callable, argnums: int | Sequence[int] = 0):
    """Jacobian by reverse mode: one VJP per output element, batched with ``jax.vmap``.

    Same signature and results as ``jax.jacrev``.

    Args:
      fun: the function.
      argnums: which positional argument(s) to differentiate.

    Returns:
      A function with ``fun``'s signature returning the Jacobian pytree.
    """

    def jac_fun(*args):
        f_selected, selected = _split_args(fun, args, argnums, "jacrev")
        out, pullback = vjp(f_selected, *selected)
        out_leaves, out_tree = tree_util.tree_flatten(out)
        basis, sizes = _basis(out_leaves)
        rows = jax.vmap(lambda *b: pullback(tree_util.tree_unflatten(out_tree, b)))(*basis)
        row_leaves, in_tree = tree_util.tree_flatten(rows)  # each: (M, *in_shape)
        per_input = [_split_rows(r, sizes, [jnp.shape(o) for o in out_leaves]) for r in row_leaves]
        # Each block has its input's dtype and weak type, as in JAX.
        examples = tree_util.tree_leaves(selected)
        blocks = [
            _select(
                tree_util.tree_unflatten(
                    in_tree, [convert_like(p[k], x) for p, x in zip(per_input, examples)]
                ),
                argnums,
            )
            for k in range(len(out_leaves))
        ]
        return tree_util.tree_unflatten(out_tree, blocks)

    return jac_fun


def _select(per_arg, argnums):
    # With an int argnums the Jacobian is w.r.t. that argument alone, not a 1-tuple.
    return per_arg[0] if isinstance(argnums, int) else per_arg


def hessian(fun: Callable, argnums: int | Sequence[int] = 0):
    """Hessian as forward-over-reverse: ``jacfwd(jacrev(fun))``, like ``jax.hessian``.

    Args:
      fun: a scalar-valued function.
      argnums: which positional argument(s) to differentiate.

    Returns:
      A function with ``fun``'s signature returning the Hessian.
    """
    return jacfwd(jacrev(fun, argnums), argnums)


# --- Hessian-vector products ----------------------------------------------------------------


def _vdot(a, b):
    terms = [jnp.sum(x * y) for x, y in zip(tree_util.tree_leaves(a), tree_util.tree_leaves(b))]
    return sum(terms[1:], terms[0])


def make_hvp(jvp_fn: Callable, grad_fn: Callable) -> Callable:
    """Builds ``hvp(fun, primals, tangents, mode)`` from a (jvp, grad) pair.

    The four modes are the compositions of JAX's autodiff cookbook, over all arguments:

    * ``"fwd-over-rev"``: ``jvp(grad(f), primals, tangents)`` (the recommended one).
    * ``"rev-over-fwd"``: ``grad(x -> jvp(f, x, v))``.
    * ``"rev-over-rev"``: ``grad(x -> <grad(f)(x), v>)``.
    * ``"fwd-over-fwd"``: ``e_i^T H v = jvp(x -> jvp(f, x, e_i), x, v)`` for every basis
      vector ``e_i``, vmapped: n nested forward passes, which is why it does not scale.

    Args:
      jvp_fn: a function with ``jax.jvp``'s signature.
      grad_fn: a function with ``jax.grad``'s signature.

    Returns:
      The ``hvp`` function.
    """

    def hvp(fun: Callable, primals, tangents, mode: str = "fwd-over-rev"):
        """Hessian-vector product ``H v`` of scalar ``fun`` at ``primals``.

        Args:
          fun: a scalar-valued function of ``len(primals)`` arguments.
          primals: a tuple or list with the point.
          tangents: a tuple or list with the vector, structured like ``primals``.
          mode: one of ``"fwd-over-rev"``, ``"rev-over-fwd"``, ``"rev-over-rev"``,
            ``"fwd-over-fwd"``.

        Returns:
          ``H v`` as a tuple with the structure of ``tangents``.
        """
        primals, tangents = tuple(primals), tuple(tangents)
        if tree_util.tree_structure(primals) != tree_util.tree_structure(tangents):
            raise TypeError(
                "hvp: tangents must have the same pytree structure as primals, got "
                f"{tree_util.tree_structure(tangents)} and {tree_util.tree_structure(primals)}."
            )
        every = tuple(range(len(primals)))
        grad_all = grad_fn(fun, argnums=every)
        if mode == "fwd-over-rev":
            return tuple(jvp_fn(grad_all, primals, tangents)[1])
        if mode == "rev-over-fwd":
            return tuple(grad_fn(lambda *x: jvp_fn(fun, x, tangents)[1], argnums=every)(*primals))
        if mode == "rev-over-rev":
            return tuple(grad_fn(lambda *x: _vdot(grad_all(*x), tangents), argnums=every)(*primals))
        if mode == "fwd-over-fwd":
            leaves, tree = tree_util.tree_flatten(primals)
            basis, sizes = _basis(leaves)

            def curvature_along(*e):  # e^T H v
                e = tree_util.tree_unflatten(tree, e)

                def directional(*x):  # x -> d f(x) . e
                    return jvp_fn(fun, x, e)[1]

                return jvp_fn(directional, primals, tangents)[1]

            flat_hv = jax.vmap(curvature_along)(*basis)
            pieces = _split_rows(flat_hv, sizes, [jnp.shape(x) for x in leaves])
            return tuple(tree_util.tree_unflatten(tree, pieces))
        raise ValueError(f"hvp: unknown mode {mode!r}; choose one of {', '.join(HVP_MODES)}.")

    return hvp


hvp = make_hvp(jvp, grad)
hvp.__name__ = "hvp"
