"""Special functions and zero-derivative elementwise primitives (erf, lgamma, floor...).

Most rules here are elementwise (``defelementwise``): ``partial(g, out, *x)`` is ``g`` times
the partial derivative, and serves both modes. Each derivative is written with the same
operations, in the same order, as JAX 0.10.2's own rule (jax/_src/lax/lax.py and
special.py), so that both agree to rounding, and with JAX's choice at the special points:

* ``bessel_i1e``: near 0 (|x| <= eps) the derivative is the constant 1/2, with zero
  derivative of its own, as in JAX.
* ``clamp(lo, x, hi)``: the derivative goes to ``x`` only strictly inside ``(lo, hi)``, to
  ``lo`` only where ``lo > x`` (and ``lo < hi``), to ``hi`` only where ``hi < x``: at a tie
  with a bound nobody gets it. With ``lo > hi`` (the output is ``hi``) JAX's selects, kept
  here, still give ``hi`` the derivative only where ``hi < x``. JAX's own rule fails for a
  rank-0 bound that carries a tangent; here its tangent is broadcast (its cotangent summed).
* ``rem(x, y)``: ``d/dx = 1``, ``d/dy = -sign(x/y) floor(|x/y|)`` (= ``-trunc(x/y)``).
* ``polygamma(m, x)``: no derivative in the order ``m``; JAX raises, and so does adlab.
* ``floor``, ``ceil``, ``round``: zero derivative, whatever the rounding method.
"""

import numpy as np
from jax import dtypes, lax

from .._errors import UnsupportedPrimitiveError
from . import ANY, UNSET, defelementwise, deflinear, defmulti, defzero, match_shape

# tan, cbrt, exp2 (and erfc, since JAX 0.12) carry an `accuracy` param. As for the
# transcendental functions of elementwise.py, only the default (None) is accepted: a requested
# accuracy changes how the value is computed, and adlab does not claim its derivative
# matches that computation.
ANY_ACCURACY = {"accuracy": UNSET}


def _const(x, value):
    return lax.full_like(x, value)


def _zeros(x):
    return lax.full_like(x, 0)


def _ones(x):
    return lax.full_like(x, 1)


# --- Error function -----------------------------------------------------------------------

# d erf x = 2/sqrt(pi) e^(-x^2) dx ; d erfc x = -2/sqrt(pi) e^(-x^2) dx
defelementwise(
    "erf",
    lambda g, out, x: lax.mul(
        _const(x, 2.0 / np.sqrt(np.pi)), lax.mul(g, lax.exp(lax.neg(lax.square(x))))
    ),
)
defelementwise(
    "erfc",
    lambda g, out, x, **_: lax.mul(
        _const(x, -2.0 / np.sqrt(np.pi)), lax.mul(g, lax.exp(lax.neg(lax.square(x))))
    ),
    params=ANY_ACCURACY,  # erfc carries `accuracy` since JAX 0.12
)


def _erf_inv_partial(g, out, x):
    # d erfinv x = sqrt(pi)/2 e^(erfinv(x)^2) dx. e^(z^2) amplifies z's rounding error by 2 z^2
    # ulps, so in float16 and bfloat16 the scale is computed in float32 and rounded once, as
    # JAX does since 0.12.1 (JAX 0.10 computes it in the input's dtype).
    low = x.dtype not in (np.float32, np.float64)
    z = lax.convert_element_type(out, np.float32) if low else out
    scale = lax.mul(_const(z, np.sqrt(np.pi) / 2.0), lax.exp(lax.square(z)))
    return lax.mul(g, lax.convert_element_type(scale, x.dtype) if low else scale)


defelementwise("erf_inv", _erf_inv_partial)


# --- Gamma family -------------------------------------------------------------------------

# d lgamma x = digamma(x) dx ; d digamma x = polygamma(1, x) dx
defelementwise("lgamma", lambda g, out, x: lax.mul(g, lax.digamma(x)))
defelementwise("digamma", lambda g, out, x: lax.mul(g, lax.polygamma(_ones(x), x)))


def _polygamma_order(g, out, m, x):
    # JAX's rule raises here too (polygamma_gradm): the order is not differentiable.
    raise UnsupportedPrimitiveError(
        "polygamma(m, x) has no derivative in its order m, and a derivative flows into m "
        "here. JAX raises too ('polygamma gradient with respect to m is not supported'). "
        "Keep m constant (a literal, or behind lax.stop_gradient).",
        "polygamma",
    )


# d polygamma(m, x) / dx = polygamma(m + 1, x)
defelementwise(
    "polygamma",
    _polygamma_order,
    lambda g, out, m, x: lax.mul(g, lax.polygamma(lax.add(m, _ones(m)), x)),
)


# --- Exponentially scaled Bessel functions ------------------------------------------------

# i0e(x) = e^-|x| I0(x):  d i0e = (i1e(x) - sign(x) i0e(x)) dx  (0 at x = 0)
defelementwise(
    "bessel_i0e",
    lambda g, out, x: lax.mul(g, lax.sub(lax.bessel_i1e(x), lax.mul(lax.sign(x), out))),
)


def _bessel_i1e(g, out, x):
    # d i1e = (i0e(x) - i1e(x) (sign(x) + 1/x)) dx, evaluated at a safe x away from 0, and
    # replaced by its limit 1/2 where |x| <= eps, as JAX does.
    eps = float(dtypes.finfo(lax.dtype(x)).eps)
    not_tiny = lax.gt(lax.abs(x), _const(x, eps))
    safe_x = lax.select(not_tiny, x, _const(x, eps))
    local = lax.sub(
        lax.bessel_i0e(safe_x),
        lax.mul(out, lax.add(lax.sign(safe_x), lax.integer_pow(safe_x, -1))),
    )
    local = lax.select(not_tiny, local, _const(x, 0.5))
    return lax.mul(g, local)


defelementwise("bessel_i1e", _bessel_i1e)


# --- Trigonometric and hyperbolic functions and their inverses ----------------------------


def _one_minus_square(x):
    return lax.sub(_ones(x), lax.square(x))


# d tan x = (1 + tan^2 x) dx
defelementwise(
    "tan",
    lambda g, out, x, **_: lax.mul(g, lax.add(_ones(x), lax.square(out))),
    params=ANY_ACCURACY,
)
# d asin x = dx / sqrt(1 - x^2) ; d acos x = -dx / sqrt(1 - x^2) ; d atan x = dx / (1 + x^2)
defelementwise("asin", lambda g, out, x: lax.mul(g, lax.rsqrt(_one_minus_square(x))))
defelementwise("acos", lambda g, out, x: lax.mul(g, lax.neg(lax.rsqrt(_one_minus_square(x)))))
defelementwise("atan", lambda g, out, x: lax.div(g, lax.add(_ones(x), lax.square(x))))


def _sum_of_squares(x, y):
    return lax.add(lax.square(x), lax.square(y))


# atan2(x, y) = angle of (y, x): d = (y dx - x dy) / (x^2 + y^2)
defelementwise(
    "atan2",
    lambda g, out, x, y: lax.mul(g, lax.div(y, _sum_of_squares(x, y))),
    lambda g, out, x, y: lax.mul(g, lax.div(lax.neg(x), _sum_of_squares(x, y))),
)

# d sinh x = cosh x dx ; d cosh x = sinh x dx
defelementwise("sinh", lambda g, out, x: lax.mul(g, lax.cosh(x)))
defelementwise("cosh", lambda g, out, x: lax.mul(g, lax.sinh(x)))
# d asinh x = dx / sqrt(x^2 + 1) ; d acosh x = dx / sqrt(x^2 - 1)
defelementwise("asinh", lambda g, out, x: lax.mul(g, lax.rsqrt(lax.add(lax.square(x), _ones(x)))))
defelementwise("acosh", lambda g, out, x: lax.mul(g, lax.rsqrt(lax.sub(lax.square(x), _ones(x)))))
# d atanh x = dx / ((1 + x)(1 - x))
defelementwise(
    "atanh",
    lambda g, out, x: lax.mul(
        lax.integer_pow(lax.add(_ones(x), x), -1), lax.div(g, lax.sub(_ones(x), x))
    ),
)


# --- Roots and powers of two --------------------------------------------------------------

# d x^(1/3) = 1/3 x^(-2/3) dx = 1/3 out^-2 dx
defelementwise(
    "cbrt",
    lambda g, out, x, **_: lax.mul(g, lax.mul(_const(x, 1 / 3), lax.integer_pow(out, -2))),
    params=ANY_ACCURACY,
)
# d 2^x = log(2) 2^x dx
defelementwise(
    "exp2",
    lambda g, out, x, **_: lax.mul(lax.log(_const(x, 2)), lax.mul(g, out)),
    params=ANY_ACCURACY,
)


# --- Remainder ----------------------------------------------------------------------------


def _rem_divisor(g, out, x, y):
    # rem(x, y) = x - y trunc(x / y), and trunc(q) = sign(q) floor(|q|).
    q = lax.div(x, y)
    return lax.mul(lax.neg(g), lax.mul(lax.sign(q), lax.floor(lax.abs(q))))


defelementwise("rem", lambda g, out, x, y: g, _rem_divisor)


# --- clamp(lo, x, hi): JAX's conventions at the bounds ------------------------------------


def _where(pred, g, out):
    g = match_shape(g, out)  # a rank-0 bound's tangent
    return lax.select(pred, g, _zeros(g))


def _clamp_lo(g, out, lo, x, hi):
    return _where(lax.gt(lo, x), _where(lax.lt(lo, hi), g, out), out)


def _clamp_x(g, out, lo, x, hi):
    return _where(lax.gt(x, lo), _where(lax.lt(x, hi), g, out), out)


def _clamp_hi(g, out, lo, x, hi):
    return _where(lax.lt(hi, x), g, out)


defelementwise("clamp", _clamp_lo, _clamp_x, _clamp_hi)


# --- Identities and roundings -------------------------------------------------------------

# reduce_precision is linear (a rounding that JAX treats as the identity, applied to the
# tangent as well), and its own adjoint.
deflinear(
    "reduce_precision",
    lambda ct, out, x, *, exponent_bits, mantissa_bits: lax.reduce_precision(
        ct, exponent_bits, mantissa_bits
    ),
    params={"exponent_bits": ANY, "mantissa_bits": ANY},
)


# device_put with no target (jax.device_put(x) under a trace): the identity on each operand.
# A device, a source or a copy semantics other than the default would have to move the
# tangents and cotangents as well; those are refused.
def _all_none(values):
    return all(v is None for v in values)


def _all_reuse(values):
    return all(getattr(v, "name", None) == "REUSE_INPUT" for v in values)


defmulti(
    "device_put",
    lambda tangents, outs, *xs, **_: list(tangents),
    lambda cts, outs, *xs, needs, **_: list(cts),
    params={"devices": _all_none, "srcs": _all_none, "copy_semantics": _all_reuse},
)

# Piecewise constant: zero derivative, as in JAX (whatever `rounding_method` says).
defzero("floor", "ceil", "round")
