"""Elementwise primitives.

An elementwise op's local Jacobian is diagonal, so one expression serves both modes: the
tangent contribution is ``x_dot * d out/dx`` and the cotangent is ``ct * d out/dx``. Each
rule below takes ``g`` (a tangent or a cotangent), the primal output ``out`` and the primal
inputs, and returns ``g`` times the partial derivative. Where JAX picks a value at a point
of non-differentiability, these rules pick the same one.
"""

import numpy as np
from jax import lax

from . import (
    ANY,
    UNSET,
    defelementwise,
    defwhole,
    defzero,
    match_shape,
    since,
    sum_terms,
    unbroadcast,
)

# The transcendental primitives carry an `accuracy` param. The rules below compute their
# derivatives at the default accuracy, so only the default (None) is handled.
ACCURACY = {"accuracy": UNSET}


def _zeros(x):
    return lax.full_like(x, 0)


def _ones(x):
    return lax.full_like(x, 1)


# --- Linear ops -------------------------------------------------------------------------

# d(-x) = -dx
defelementwise("neg", lambda g, out, x: lax.neg(g))

# d(x + y) = dx + dy.  add_any is the sum JAX itself emits when cotangents fan in.
for _name in ("add", "add_any"):
    defelementwise(_name, lambda g, out, x, y: g, lambda g, out, x, y: g)

# d(x - y) = dx - dy
defelementwise("sub", lambda g, out, x, y: g, lambda g, out, x, y: lax.neg(g))


# --- Products and quotients -------------------------------------------------------------

# d(x y) = y dx + x dy. A mixed-precision multiply (``out_dtype``, JAX's own rule): each term
# is a multiply into the dtype of what it produces, the output's for a tangent, the operand's
# for a cotangent. The partial is shared by both modes and tells them apart by g's dtype: a
# tangent has the operand's dtype, a cotangent the output's (equal dtypes need no telling).


def _mul_partial(g, other, mine, out, out_dtype):
    if out_dtype is None:
        return lax.mul(g, other)
    into = out.dtype if g.dtype == lax.dtype(mine) else lax.dtype(mine)
    return lax.mul(g, other, out_dtype=into)


defelementwise(
    "mul",
    lambda g, out, x, y, out_dtype=None: _mul_partial(g, y, x, out, out_dtype),
    lambda g, out, x, y, out_dtype=None: _mul_partial(g, x, y, out, out_dtype),
    params={"out_dtype": ANY},
)

# d(x / y) = dx / y - q dy / y, with q = x / y the output. Not x / y^2 dy: y^2 overflows for
# |y| > sqrt(max float) and underflows to zero for |y| < sqrt(min float) (float32: y = 1e20
# gave a zero derivative), where q dy / y is exact to rounding. JAX writes it so since 0.12.1.
defelementwise(
    "div",
    lambda g, out, x, y: lax.div(g, y),
    lambda g, out, x, y: lax.mul(out, lax.neg(lax.div(g, y))),
)


# --- Powers -------------------------------------------------------------------------------


def _integer_pow(g, out, x, *, y):
    # d x^n = n x^(n-1) dx ; n = 0 has zero derivative. Small n as in JAX's own rule.
    if y == 0:
        return None
    if y == 1:
        return g
    local = x if y == 2 else lax.integer_pow(x, y - 1)
    return lax.mul(g, lax.mul(lax.full_like(x, y), local))


defelementwise("integer_pow", _integer_pow, params={"y": ANY})

# d x^2 = 2 x dx
defelementwise("square", lambda g, out, x: lax.mul(g, lax.mul(lax.full_like(x, 2), x)))


def _pow_base(g, out, x, y):
    # d x^y / dx = y x^(y-1).  JAX's convention for integer exponents: 0 where y == 0,
    # computed at the broadcast shape of x and y (either may have size-1 axes).
    if lax.dtype(y).kind in "iu":
        y = match_shape(lax.convert_element_type(y, lax.dtype(out)), out)
        x = match_shape(x, out)
        jac = lax.mul(y, lax.pow(x, lax.sub(y, _ones(y))))
        return lax.mul(g, lax.select(lax.eq(y, _zeros(y)), _zeros(jac), jac))
    return lax.mul(g, lax.mul(y, lax.pow(x, lax.sub(y, _ones(y)))))


def _pow_exponent(g, out, x, y):
    # d x^y / dy = log(x) x^y, with log(0) replaced by log(1) = 0 as JAX does.
    safe_x = lax.select(lax.eq(x, _zeros(x)), _ones(x), x)
    return lax.mul(g, lax.mul(lax.log(safe_x), out))


defelementwise("pow", _pow_base, _pow_exponent)


# --- Transcendentals ------------------------------------------------------------------------

# d sin x = cos x dx ; d cos x = -sin x dx
defelementwise("sin", lambda g, out, x, **_: lax.mul(g, lax.cos(x)), params=ACCURACY)
defelementwise("cos", lambda g, out, x, **_: lax.neg(lax.mul(g, lax.sin(x))), params=ACCURACY)
# d e^x = e^x dx ; d (e^x - 1) = e^x dx
defelementwise("exp", lambda g, out, x, **_: lax.mul(g, out), params=ACCURACY)
defelementwise(
    "expm1", lambda g, out, x, **_: lax.mul(g, lax.add(out, _ones(out))), params=ACCURACY
)
# d log x = dx / x ; d log(1 + x) = dx / (1 + x)
defelementwise("log", lambda g, out, x, **_: lax.div(g, x), params=ACCURACY)
# d log2 x = dx / (x ln 2); log2 is a primitive since JAX 0.11 (jnp.log2)
defelementwise(
    "log2",
    lambda g, out, x, **_: lax.div(g, lax.mul(x, lax.full_like(x, np.log(2.0)))),
    params=ACCURACY,
)
# d (1 - x^2) = -2x dx; since JAX 0.11 its own asin, acos and atanh JVPs emit one_minus_square
defelementwise("one_minus_square", lambda g, out, x: lax.mul(g, lax.mul(lax.full_like(x, -2.0), x)))
since("0.11", "log2", "one_minus_square")
defelementwise("log1p", lambda g, out, x, **_: lax.div(g, lax.add(x, _ones(x))), params=ACCURACY)
# d tanh x = (1 - tanh^2 x) dx = (1 + out)(1 - out) dx
defelementwise(
    "tanh",
    lambda g, out, x, **_: lax.mul(lax.add(g, lax.mul(g, out)), lax.sub(_ones(out), out)),
    params=ACCURACY,
)
# d sigma(x) = sigma(x) (1 - sigma(x)) dx
defelementwise(
    "logistic",
    lambda g, out, x, **_: lax.mul(g, lax.mul(out, lax.sub(_ones(out), out))),
    params=ACCURACY,
)
# d sqrt x = dx / (2 sqrt x) ; d x^(-1/2) = -1/2 x^(-1/2) / x dx
defelementwise(
    "sqrt", lambda g, out, x, **_: lax.div(g, lax.mul(lax.full_like(out, 2), out)), params=ACCURACY
)
defelementwise(
    "rsqrt",
    lambda g, out, x, **_: lax.mul(g, lax.mul(lax.full_like(out, -0.5), lax.div(out, x))),
    params=ACCURACY,
)


# --- Kinks ----------------------------------------------------------------------------------

# d|x| = sign(x) dx, and JAX takes the derivative at 0 to be +1 (x >= 0 picks dx).
defelementwise("abs", lambda g, out, x: lax.select(lax.ge(x, _zeros(x)), g, lax.neg(g)))


def chooser_shares(x, y, wins):
    """The shares of x and y in the derivative of max(x, y) (``wins=lax.gt``) or min (``lt``).

    JAX's values: 1 to the operand that wins, 0 to the other, 1/2 each at a tie, 0 each where
    the result is NaN. They come from comparing the operands with each other, never with the
    result: under jax.jit, XLA may compute an operand again in another fusion that rounds
    differently, and a comparison with the result (JAX's own rule) then finds that neither
    operand attains it and drops the derivative. Between the operands, two copies can only
    disagree where they are within their rounding of each other.
    """
    one, half, zero = (lax.full(x.shape, v, x.dtype) for v in (1, 0.5, 0))
    tie = lax.select(lax.eq(x, y), half, zero)
    return (
        lax.add(lax.select(wins(x, y), one, zero), tie),
        lax.add(lax.select(wins(y, x), one, zero), tie),
    )


def _spread(v, out):
    """An operand at the output's shape (a literal may be a plain Python number)."""
    if not hasattr(v, "shape"):
        return lax.full(out.shape, v, out.dtype)
    return match_shape(v, out)


def _chooser_partial(wins, i):
    def partial(g, out, x, y):
        return lax.mul(g, chooser_shares(_spread(x, out), _spread(y, out), wins)[i])

    return partial


for _name, _wins in (("max", lax.gt), ("min", lax.lt)):
    defelementwise(_name, _chooser_partial(_wins, 0), _chooser_partial(_wins, 1))


# --- select_n: routes the tangent of the chosen case ------------------------------------------


def _select_n_jvp(tangents, out, which, *cases):
    _, *case_dots = tangents
    if all(t is None for t in case_dots):
        return None
    case_dots = [_zeros(c) if t is None else t for t, c in zip(case_dots, cases)]
    return lax.select_n(which, *case_dots)


def _select_n_vjp(ct, out, which, *cases, needs):
    # The cotangent flows back to case i where case i was chosen, and is 0 elsewhere.
    zeros = _zeros(ct)
    picked = [
        lax.select_n(which, *[ct if j == i else zeros for j in range(len(cases))]) if need else None
        for i, need in enumerate(needs[1:])
    ]
    return [None, *picked]


defwhole("select_n", _select_n_jvp, _select_n_vjp)


# --- Dtype conversion --------------------------------------------------------------------------

# The interpreters ask for a tangent only where the output carries a derivative (a float
# output), and pull a cotangent back only to a float input. `weak_type` changes no value.
defwhole(
    "convert_element_type",
    lambda tangents, out, x, *, new_dtype, **_: lax.convert_element_type(tangents[0], new_dtype),
    lambda ct, out, x, *, needs, **_: [lax.convert_element_type(ct, lax.dtype(x))],
    params={"new_dtype": ANY, "weak_type": ANY, "sharding": UNSET},
)


# --- Zero derivative -------------------------------------------------------------------------

defzero("eq", "ne", "lt", "le", "gt", "ge", "is_finite", "sign", "stop_gradient")


# --- Polynomials (JAX 0.12) --------------------------------------------------------------------

# p = polynomial(x, c_0, ..., c_N) = sum_k c_k x^k, evaluated by Horner's rule; every operand
# broadcasts against the others (jnp.polyval and JAX's own erf, erfc and random.gamma emit it).
#   dp = p'(x) dx + sum_k x^k dc_k,  p'(x) = polynomial(x, 1 c_1, 2 c_2, ..., N c_N).
# Both terms are polynomials again, so higher orders use this rule too. `unroll` only chooses
# how the Horner loop is lowered, never its value, and is passed on.


def _derivative(x, coeffs, unroll):
    scaled = [lax.mul(lax.full_like(c, k), c) for k, c in enumerate(coeffs[1:], 1)]
    return lax.polynomial(x, scaled, unroll=unroll)


def _polynomial_jvp(tangents, out, x, *coeffs, unroll=None):
    x_dot, *c_dots = tangents
    terms = []
    if x_dot is not None:
        terms.append(
            lax.mul(match_shape(x_dot, out), match_shape(_derivative(x, coeffs, unroll), out))
        )
    if any(d is not None for d in c_dots):
        filled = [_zeros(c) if d is None else d for c, d in zip(coeffs, c_dots)]
        terms.append(lax.polynomial(match_shape(x, out), filled, unroll=unroll))
    return sum_terms(terms, out)


def _polynomial_vjp(ct, out, x, *coeffs, needs, unroll=None):
    x_ct = None
    if needs[0]:
        x_ct = unbroadcast(lax.mul(ct, match_shape(_derivative(x, coeffs, unroll), out)), x)
    c_cts, power = [], ct  # ct * x^k, k = 0, 1, ...
    x_out = match_shape(x, out)
    for k, (c, need) in enumerate(zip(coeffs, needs[1:])):
        c_cts.append(unbroadcast(power, c) if need else None)
        if any(needs[k + 2 :]):
            power = lax.mul(power, x_out)
    return [x_ct, *c_cts]


defwhole("polynomial", _polynomial_jvp, _polynomial_vjp, params={"unroll": ANY})
since("0.12", "polynomial")
