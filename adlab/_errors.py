"""The errors adlab raises where it cannot compute a derivative correctly.

adlab never returns a derivative it cannot vouch for. Where one would be needed and adlab
has no correct way to compute it, it raises one of these, naming the operation, the
user's line, and what to do instead.
"""

from __future__ import annotations


class UnsupportedPrimitiveError(NotImplementedError):
    """A derivative had to flow through an operation adlab cannot differentiate.

    Attributes:
      primitive: the name of the JAX primitive (``None`` for a function input).
    """

    def __init__(self, message: str, primitive: str | None = None):
        super().__init__(message)
        self.primitive = primitive


class UnsupportedDtypeError(UnsupportedPrimitiveError):
    """A derivative would flow into or out of a value whose dtype adlab does not handle."""


class UnsupportedParamError(UnsupportedPrimitiveError):
    """A primitive carries a param value that adlab's rule for it does not handle."""


def where(eqn, call_site=None) -> str:
    """The user's line an equation came from.

    ``call_site`` is the outermost ``jit`` equation the equation was found in, if any:
    library code such as ``jnp.cumsum`` wraps its primitive in a jit, and the user's line
    is the call of that jit.
    """
    from ._compat import summarize  # only for a readable location

    for site in (eqn, call_site):
        if site is not None:
            text = summarize(site.source_info)
            if text:
                return text
    return "an unknown location"


# What user code emits each primitive, so that errors speak in the user's terms. The
# primitives adlab differentiates are listed too where the error can name them (a dtype or
# param error); the rest are the most common ones outside the set.
EMITTED_BY = {
    "convert_element_type": "a cast: x.astype(...), or arithmetic with a complex number "
    "such as x + 1j",
    "complex": "lax.complex(x, y)",
    "mul": "x * y, lax.mul",
    "gather": "indexing with an array or a traced index: x[idx], jnp.take, "
    "jnp.take_along_axis, embedding lookups",
    "scatter-add": "x.at[idx].add(...), and the gradient of x[idx] in JAX",
    "scatter": "x.at[idx].set(...)",
    "scatter-mul": "x.at[idx].multiply(...)",
    "scatter-max": "x.at[idx].max(...)",
    "scatter-min": "x.at[idx].min(...)",
    "scatter-sub": "x.at[idx].subtract(...)",
    "unstack": "jnp.unstack",
    "reduce": "lax.reduce with several operands or a reduction other than add, mul, max and min",
    "select_and_gather_add": "JAX's forward-mode derivative of max pooling",
    "select_and_scatter_add": "JAX's gradient of max pooling",
    "dynamic_slice": "x[i] or lax.dynamic_slice with a traced start index",
    "dynamic_update_slice": "x.at[i].set(...) or lax.dynamic_update_slice with a traced index",
    "cumsum": "jnp.cumsum",
    "cumprod": "jnp.cumprod",
    "cummax": "lax.cummax, jnp.maximum.accumulate",
    "cummin": "lax.cummin, jnp.minimum.accumulate",
    "cumlogsumexp": "lax.cumlogsumexp",
    "sort": "jnp.sort, jnp.argsort, jnp.median, jnp.quantile",
    "top_k": "lax.top_k",
    "argmax": "jnp.argmax",
    "argmin": "jnp.argmin",
    "reduce_prod": "jnp.prod",
    "reduce_and": "jnp.all",
    "reduce_or": "jnp.any",
    "pad": "jnp.pad, lax.pad",
    "split": "jnp.split, jnp.array_split",
    "clamp": "lax.clamp, jnp.clip on some paths",
    "floor": "jnp.floor",
    "ceil": "jnp.ceil",
    "round": "jnp.round",
    "rem": "x % y, jnp.mod, jnp.remainder",
    "erf": "jax.scipy.special.erf, jax.nn.gelu(approximate=False)",
    "erfc": "jax.scipy.special.erfc",
    "erf_inv": "jax.scipy.special.erfinv",
    "lgamma": "jax.scipy.special.gammaln",
    "digamma": "jax.scipy.special.digamma",
    "atan2": "jnp.arctan2",
    "tan": "jnp.tan",
    "asin": "jnp.arcsin",
    "acos": "jnp.arccos",
    "atan": "jnp.arctan",
    "sinh": "jnp.sinh",
    "cosh": "jnp.cosh",
    "asinh": "jnp.arcsinh",
    "acosh": "jnp.arccosh",
    "atanh": "jnp.arctanh",
    "cbrt": "jnp.cbrt",
    "exp2": "jnp.exp2, 2 ** x",
    "conv_general_dilated": "lax.conv, lax.conv_general_dilated, convolution layers",
    "reduce_window_sum": "average pooling, lax.reduce_window",
    "reduce_window_max": "max pooling, lax.reduce_window",
    "reduce_window_min": "min pooling, lax.reduce_window",
    "reduce_window": "lax.reduce_window with an array init value or a reduction other than "
    "add, max and min",
    "cond": "lax.cond, lax.switch",
    "scan": "lax.scan, lax.fori_loop with static bounds, lax.map",
    "while": "lax.while_loop, lax.fori_loop with traced bounds",
    "remat2": "jax.checkpoint, jax.remat",
    "checkpoint": "jax.checkpoint, jax.remat",
    "custom_lin": "a function differentiated by JAX inside adlab",
    "fft": "jnp.fft",
    "cholesky": "jnp.linalg.cholesky",
    "triangular_solve": "jax.scipy.linalg.solve_triangular",
    "lu": "jnp.linalg.solve, jnp.linalg.det, jnp.linalg.inv",
    "custom_linear_solve": "jnp.linalg.solve",
    "eigh": "jnp.linalg.eigh",
    "svd": "jnp.linalg.svd, jnp.linalg.norm(ord=2)",
    "qr": "jnp.linalg.qr, jax.scipy.linalg.qr",
    "tridiagonal_solve": "lax.linalg.tridiagonal_solve",
    "pure_callback": "jax.pure_callback",
    "igamma": "jax.scipy.special.gammainc",
    "igammac": "jax.scipy.special.gammaincc",
    "optimization_barrier": "lax.optimization_barrier, and the recomputation of a "
    "jax.checkpoint segment",
    "io_callback": "jax.experimental.io_callback",
    "call_hi_primitive": "jax.checkpoint, jax.custom_vjp or jax.custom_jvp in the experimental "
    "form that JAX's jax_remat3, jax_custom_vjp3 and jax_custom_jvp3 options select",
    "new_ref": "jax.new_ref, and lax.scan under JAX's experimental jax_scan3 option",
    "get": "reading a mutable reference: x_ref[...]",
    "swap": "writing a mutable reference: x_ref[...] = y",
    "addupdate": "adding into a mutable reference: x_ref[...] += y",
}


def experimental_hint() -> str:
    """What to do about JAX's experimental options, where one is on (else empty)."""
    from ._compat import experimental_flags_on

    flags = experimental_flags_on()
    if not flags:
        return ""
    off = "; ".join(f"jax.config.update('{flag}', False)" for flag in flags)
    return (
        f" JAX's experimental option {', '.join(flags)} is on: with it JAX emits forms of "
        "scan, jax.checkpoint, jax.custom_vjp and jax.custom_jvp that adlab does not read. "
        f"Turn it off for adlab: {off}."
    )


def references_refused(eqn, call_site=None) -> UnsupportedPrimitiveError:
    """The error for a jaxpr that reads or writes a mutable reference."""
    name = eqn.primitive.name
    return UnsupportedPrimitiveError(
        f"adlab cannot differentiate a program with mutable references: {described(name)}, "
        f"from {where(eqn, call_site)}, works on a Ref. adlab's interpreters follow values "
        "from equation to equation, and a write through a reference is not a value they "
        "would see, so rather than miss it adlab refuses the program. Write it with values "
        "instead (x = x.at[idx].set(y) for x_ref[idx] = y)." + experimental_hint(),
        name,
    )


def evaluation_failed(err: Exception, eqn) -> None:
    """Notes on ``err``, which JAX raised evaluating ``eqn``, where it came from and why.

    adlab has traced the whole function before it evaluates an equation, as ``jax.jit``
    has before it compiles, so an error that eager JAX would have met inside user or library
    code that catches it (``jax.nn.dot_product_attention`` retries a float16 product that
    the backend cannot run with ``precision=None``) reaches adlab uncaught, as it reaches
    ``jax.jit(f)``. The note is added once, by the innermost equation.
    """
    if getattr(err, "_adlab_noted", False) or not hasattr(err, "add_note"):
        return
    err._adlab_noted = True
    err.add_note(
        f"adlab was evaluating {described(eqn.primitive.name)}, from {where(eqn)}. adlab "
        "traces the whole function before it runs it, as jax.jit does, so it meets the "
        "errors that jax.jit(f) meets, even where eager JAX code catches them as they happen."
    )


def described(name: str) -> str:
    """A primitive's name, with the user code that emits it where it is known."""
    return f"'{name}' ({EMITTED_BY[name]})" if name in EMITTED_BY else f"'{name}'"
