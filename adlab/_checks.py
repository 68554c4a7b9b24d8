"""Input validation shared by the public API: bad input raises, never differentiates wrongly."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import dtypes, tree_util

from ._dtypes import carries_derivative, dtype_of


def as_array(x):
    """A tangent or cotangent as a JAX array: a Python or NumPy scalar, or a NumPy array, is
    converted as JAX converts it (a Python scalar stays weakly typed), so that every rule
    sees arrays."""
    return x if isinstance(x, jax.Array) else jnp.asarray(x)


def _shape(x):
    return jnp.shape(x)


def tangents(primals, tangents, fn: str = "jvp") -> list:
    """Checks tangents against primals; returns flat tangents, ``None`` for float0 ones."""
    for name, arg in (("primals", primals), ("tangents", tangents)):
        if not isinstance(arg, tuple | list):
            raise TypeError(
                f"adlab.{fn}: {name} must be a tuple or list with one entry per argument "
                f"of the function, got {type(arg).__name__}. Write e.g. "
                f"adlab.{fn}(f, (x,), (v,))."
            )
    p_flat, p_tree = tree_util.tree_flatten(tuple(primals))
    t_flat, t_tree = tree_util.tree_flatten(tuple(tangents))
    if p_tree != t_tree:
        raise TypeError(
            f"adlab.{fn}: tangents must have the same pytree structure as primals; primals "
            f"have structure {p_tree} but tangents have {t_tree}."
        )
    out = []
    for i, (p, t) in enumerate(zip(p_flat, t_flat)):
        if _shape(p) != _shape(t):
            raise ValueError(
                f"adlab.{fn}: tangent leaf {i} has shape {_shape(t)} but its primal has shape "
                f"{_shape(p)}; each tangent must have its primal's shape."
            )
        if carries_derivative(p, f"primal leaf {i} of adlab.{fn}"):
            if dtype_of(t) != dtype_of(p):
                raise TypeError(
                    f"adlab.{fn}: tangent leaf {i} has dtype {dtype_of(t)} but its primal has "
                    f"dtype {dtype_of(p)}; cast the tangent with .astype({dtype_of(p)})."
                )
            out.append(as_array(t))
        else:
            if dtype_of(t) != dtypes.float0:
                raise TypeError(
                    f"adlab.{fn}: primal leaf {i} has non-float dtype {dtype_of(p)}, so its "
                    "tangent must have dtype float0 (as in JAX), e.g. "
                    "np.zeros(shape, jax.dtypes.float0)."
                )
            out.append(None)
    return out


def cotangent(out_tree, outs, ct) -> list:
    """Checks an output cotangent against the outputs; returns flat cotangents."""
    c_flat, c_tree = tree_util.tree_flatten(ct)
    if c_tree != out_tree:
        raise TypeError(
            f"adlab.vjp: the cotangent must have the structure of the function's output, "
            f"{out_tree}, but has {c_tree}."
        )
    flat = []
    for i, (o, c) in enumerate(zip(outs, c_flat)):
        if not carries_derivative(o):
            flat.append(None)  # integer outputs take a float0 cotangent and pass nothing back
            continue
        if _shape(c) != _shape(o):
            raise ValueError(
                f"adlab.vjp: cotangent leaf {i} has shape {_shape(c)} but the output has shape "
                f"{_shape(o)}; the cotangent must match the output's shape."
            )
        if dtype_of(c) != dtype_of(o):
            raise TypeError(
                f"adlab.vjp: cotangent leaf {i} has dtype {dtype_of(c)} but the output has dtype "
                f"{dtype_of(o)}; cast it with .astype({dtype_of(o)})."
            )
        flat.append(as_array(c))
    return flat
