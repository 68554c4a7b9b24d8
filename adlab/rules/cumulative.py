"""Cumulative primitives and products: cumsum, cumprod, cummax, cummin, cumlogsumexp and
reduce_prod.

``cumsum`` is linear: its adjoint is ``cumsum`` run the other way.

JAX differentiates the other cumulative reductions by differentiating a parallel prefix
scan (``lax.associative_scan``) of their binary operation: its tangent goes through the
same tree of pairwise combinations, each one contributing ``wa * ta + wb * tb`` with the
operation's partial derivatives ``wa``, ``wb`` at that node. The rules here walk the same
tree (:func:`_tree`), so they make JAX's choices exactly where the textbook derivative is
not unique: a tie of ``max`` splits the tangent in half at the node where it happens, so the
weights of tied elements of ``cummax`` depend on the tree (``[.25, .25, .5]`` for three
equal values, not a third each). The tangent map is linear with those weights
(:func:`_push`), and the cotangent map is its transpose (:func:`_pull`). Neither divides,
so ``cumprod`` is exact with zeros in its input. The tree is built from strided slices,
concatenations and reshapes, so each rule stays inside the primitive set.

``reduce_prod``'s derivative is the product of all the other elements, computed as the
product of an exclusive prefix and an exclusive suffix product (two ``cumprod``), without
dividing, so it is exact with zeros (one or several) in the reduced slice.
"""

import numpy as np
from jax import lax

from . import ANY, deflinear, defrule
from .elementwise import chooser_shares

# --- cumsum: linear -------------------------------------------------------------------------

deflinear(
    "cumsum",
    lambda ct, out, x, *, axis, reverse: lax.cumsum(ct, axis, reverse=not reverse),
    params={"axis": ANY, "reverse": ANY},
)


# --- The associative scan's tree ------------------------------------------------------------


def _take(x, axis, start, stop, stride=1):
    n = x.shape[axis]
    stop = n if stop is None else (stop if stop >= 0 else n + stop)
    return lax.slice_in_dim(x, start, stop, stride, axis)


def _zeros_after(x, axis, count):
    """Appends ``count`` zeros to ``x`` along ``axis``."""
    if count == 0:
        return x
    shape = list(x.shape)
    shape[axis] = count
    return lax.concatenate([x, lax.full(tuple(shape), 0, x.dtype)], axis)


def _interleave(a, b, axis):
    """a[0], b[0], a[1], b[1], ... along ``axis``; ``a`` is as long as ``b`` or one longer."""
    m = b.shape[axis]
    head = _take(a, axis, 0, m)
    shape = list(head.shape)
    shape.insert(axis + 1, 1)
    dims = tuple(d if d <= axis else d + 1 for d in range(head.ndim))
    pairs = lax.concatenate(
        [
            lax.broadcast_in_dim(head, tuple(shape), dims),
            lax.broadcast_in_dim(b, tuple(shape), dims),
        ],
        axis + 1,
    )
    merged = list(head.shape)
    merged[axis] = 2 * m
    out = lax.reshape(pairs, tuple(merged))
    if a.shape[axis] > m:
        out = lax.concatenate([out, _take(a, axis, m, None)], axis)
    return out


def _concat(pieces, axis):
    pieces = [p for p in pieces if p.shape[axis] > 0]
    return pieces[0] if len(pieces) == 1 else lax.concatenate(pieces, axis)


def _tree(x, axis, combine):
    """The weights of ``associative_scan(combine)``'s tangent, one level of its tree each.

    ``combine(a, b)`` returns ``(value, wa, wb)``: the combined value and its partial
    derivatives in ``a`` and ``b``. Returns the list of ``(wa1, wb1, wa2, wb2)`` per level:
    the pairwise reduction, then the combination of the recursive scan with the even
    elements (JAX's ``_scan`` in ``associative_scan``).
    """
    levels = []
    while x.shape[axis] >= 2:
        n = x.shape[axis]
        reduced, wa1, wb1 = combine(_take(x, axis, 0, -1, 2), _take(x, axis, 1, None, 2))
        levels.append([wa1, wb1, None, None, x])
        x = reduced
    # Going back up: the scan of each level's reduced elements is known, combine the evens.
    scanned = x
    for level in reversed(levels):
        wa1, wb1, _, _, xs = level
        n = xs.shape[axis]
        evens = _take(xs, axis, 2, None, 2)
        odds = scanned if n % 2 else _take(scanned, axis, 0, -1)
        combined, wa2, wb2 = combine(odds, evens)
        level[2], level[3] = wa2, wb2
        scanned = _interleave(_concat([_take(xs, axis, 0, 1), combined], axis), scanned, axis)
    return [tuple(level[:4]) for level in levels]


def _push(t, axis, levels):
    """The scan's tangent: JAX's ``_scan`` on tangents, with each level's weights."""
    if not levels:
        return t
    wa1, wb1, wa2, wb2 = levels[0]
    n = t.shape[axis]
    reduced = lax.add(
        lax.mul(wa1, _take(t, axis, 0, -1, 2)), lax.mul(wb1, _take(t, axis, 1, None, 2))
    )
    odd = _push(reduced, axis, levels[1:])
    evens = _take(t, axis, 2, None, 2)
    head = odd if n % 2 else _take(odd, axis, 0, -1)
    even = lax.add(lax.mul(wa2, head), lax.mul(wb2, evens))
    return _interleave(_concat([_take(t, axis, 0, 1), even], axis), odd, axis)


def _pull(ct, axis, levels):
    """The transpose of :func:`_push`."""
    if not levels:
        return ct
    wa1, wb1, wa2, wb2 = levels[0]
    n = ct.shape[axis]
    ct_even = _take(ct, axis, 0, None, 2)  # ceil(n/2): the first element, then `even`
    ct_odd = _take(ct, axis, 1, None, 2)  # floor(n/2)
    ct_rest = _take(ct_even, axis, 1, None)
    ct_odd = lax.add(ct_odd, _zeros_after(lax.mul(wa2, ct_rest), axis, 1 - n % 2))
    ct_reduced = _pull(ct_odd, axis, levels[1:])
    to_even = _concat([_take(ct_even, axis, 0, 1), lax.mul(wb2, ct_rest)], axis)
    to_even = lax.add(to_even, _zeros_after(lax.mul(wa1, ct_reduced), axis, n % 2))
    return _interleave(to_even, lax.mul(wb1, ct_reduced), axis)


def _scan_rule(combine):
    def levels(x, axis, reverse):
        return _tree(lax.rev(x, (axis,)) if reverse else x, axis, combine)

    def jvp(x_dot, out, x, *, axis, reverse):
        if reverse:
            x_dot = lax.rev(x_dot, (axis,))
        t = _push(x_dot, axis, levels(x, axis, reverse))
        return lax.rev(t, (axis,)) if reverse else t

    def vjp(ct, out, x, *, axis, reverse):
        if reverse:
            ct = lax.rev(ct, (axis,))
        c = _pull(ct, axis, levels(x, axis, reverse))
        return lax.rev(c, (axis,)) if reverse else c

    return (jvp,), (vjp,)


# --- The binary operations, with JAX's partial derivatives --------------------------------


def _chooser(op, wins):
    def combine(a, b):  # JAX's max/min partials, from comparing a and b (elementwise.py)
        return op(a, b), *chooser_shares(a, b, wins)

    return combine


def _mul(a, b):
    return lax.mul(a, b), b, a


def _finite_or_zero(x):
    # JAX's _replace_inf: infinities become 0 in logaddexp's tangent.
    inf = lax.full_like(x, np.inf)
    return lax.select(lax.eq(lax.abs(x), inf), lax.full_like(x, 0), x)


def _logaddexp(a, b):
    # JAX's lax logaddexp and its jvp (jax._src.lax.other).
    amax = lax.max(a, b)
    delta = lax.sub(a, b)
    value = lax.select(
        lax.ne(delta, delta),  # NaNs, or infinities of the same sign
        lax.add(a, b),
        lax.add(amax, lax.log1p(lax.exp(lax.neg(lax.abs(delta))))),
    )
    out = _finite_or_zero(value)
    wa = lax.exp(lax.sub(_finite_or_zero(a), out))
    wb = lax.exp(lax.sub(_finite_or_zero(b), out))
    return value, wa, wb


_CUMULATIVE_PARAMS = {"axis": ANY, "reverse": ANY}
for _name, _combine in (
    ("cummax", _chooser(lax.max, lax.gt)),
    ("cummin", _chooser(lax.min, lax.lt)),
    ("cumprod", _mul),
    ("cumlogsumexp", _logaddexp),
):
    defrule(_name, *_scan_rule(_combine), params=_CUMULATIVE_PARAMS)


# --- reduce_prod: the product of the others, without dividing -------------------------------


def _others(x, axes):
    """x with the reduced axes moved first and flattened, and the product of the others.

    The product of all the elements but one is that of those before it (an exclusive prefix
    product) times that of those after it (an exclusive suffix product): no division, so it
    is exact with one or several zeros in the slice.
    """
    kept = tuple(d for d in range(x.ndim) if d not in axes)
    perm = (*axes, *kept)
    n = int(np.prod([x.shape[d] for d in axes], dtype=int))
    flat = lax.reshape(lax.transpose(x, perm), (n, *(x.shape[d] for d in kept)))
    one = lax.full((1, *flat.shape[1:]), 1, x.dtype)
    before = _concat([one, _take(lax.cumprod(flat, 0), 0, 0, -1)], 0)
    after = _concat([_take(lax.cumprod(flat, 0, reverse=True), 0, 1, None), one], 0)
    return perm, lax.mul(before, after)


def _reduce_prod_jvp(x_dot, out, x, *, axes):
    if x.size == 0:
        return lax.full_like(out, 0)
    perm, others = _others(x, axes)
    flat_dot = lax.reshape(lax.transpose(x_dot, perm), others.shape)
    return lax.reduce_sum(lax.mul(flat_dot, others), (0,))


def _reduce_prod_vjp(ct, out, x, *, axes):
    if x.size == 0:
        return lax.full_like(x, 0)
    perm, others = _others(x, axes)
    spread = lax.mul(lax.broadcast_in_dim(ct, others.shape, tuple(range(1, others.ndim))), others)
    moved = lax.reshape(spread, tuple(x.shape[d] for d in perm))
    return lax.transpose(moved, tuple(np.argsort(perm)))


defrule("reduce_prod", (_reduce_prod_jvp,), (_reduce_prod_vjp,), params={"axes": ANY})
