"""Convolution: conv_general_dilated, whose adjoints are convolutions too.

A convolution is bilinear in (lhs, rhs), so its tangent is conv(dlhs, rhs) + conv(lhs, drhs),
each term with the same params. Each adjoint is another convolution (the math of JAX's
``_conv_general_dilated_transpose_lhs/rhs``, written here with lax calls):

* lhs: the cotangent convolved with the spatially reversed kernel, its I and O roles
  swapped. The forward strides become lhs dilation, the forward lhs dilation becomes the
  stride, and the padding is what puts every output position back over its inputs (it may be
  negative: the part of the input no window reached gets a zero cotangent).
* rhs: the input convolved with the cotangent as a kernel, with the batch and feature roles
  swapped in every operand: the sum over the batch becomes the contraction. Forward strides
  become rhs dilation, and rhs dilation becomes the stride.

Groups: feature groups (depthwise convolutions) turn into feature groups for lhs, after the
group axis moves from the kernel's O axis to its I axis, and into batch groups for rhs. Batch
groups (which the rhs adjoint of a grouped convolution emits) turn into feature groups for
both, with the group axis moved between the batch and feature axes. Every emitted equation is
a conv_general_dilated, rev, transpose, reshape or convert_element_type, so the adjoints can
be differentiated again by these same rules.
"""

from jax import lax

from . import ANY, UNSET, defrule

_conv_p = lax.conv_general_dilated_p


def _dilate(sizes, dilation):
    # The extent of `sizes` elements with `dilation - 1` holes between neighbours.
    return [0 if n == 0 else 1 + d * (n - 1) for n, d in zip(sizes, dilation)]


def _split_axis(x, axis, groups):
    # [..., groups * n, ...] -> [..., groups, n, ...] (group-major, as XLA numbers groups).
    shape = list(x.shape)
    shape[axis : axis + 1] = [groups, shape[axis] // groups]
    return lax.reshape(x, tuple(shape))


def _merge_axis(x, src, dst):
    # Moves axis `src` in front of axis `dst` (numbered without `src`) and merges the two,
    # `src` the major one: the inverse of _split_axis when the axes were adjacent.
    perm = [d for d in range(x.ndim) if d != src]
    perm.insert(dst, src)
    if perm != list(range(x.ndim)):
        x = lax.transpose(x, tuple(perm))
    shape = [x.shape[d] for d in range(x.ndim) if d != dst]
    shape[dst] = x.shape[dst] * x.shape[dst + 1]
    return lax.reshape(x, tuple(shape))


def _regroup(x, src, dst, groups):
    # Moves the group part of axis `src` (its major factor) into axis `dst` as its major factor.
    # (`dst` keeps its number: removing the split-off group axis shifts the axes back.)
    return _merge_axis(_split_axis(x, src, groups), src, dst)


def _swap(spec):
    return (spec[1], spec[0], *spec[2:])


def _conv(lhs, rhs, **params):
    return _conv_p.bind(lhs, rhs, **params)


def _jvp_lhs(lhs_dot, out, lhs, rhs, **params):
    return _conv(lhs_dot, rhs, **params)


def _jvp_rhs(rhs_dot, out, lhs, rhs, **params):
    return _conv(lhs, rhs_dot, **params)


def _vjp_lhs(
    ct,
    out,
    lhs,
    rhs,
    *,
    window_strides,
    padding,
    lhs_dilation,
    rhs_dilation,
    dimension_numbers,
    feature_group_count,
    batch_group_count,
    precision,
    preferred_element_type,
    out_sharding=None,
):
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    lhs_sdims, rhs_sdims, out_sdims = lhs_spec[2:], rhs_spec[2:], out_spec[2:]
    groups = max(feature_group_count, batch_group_count)
    kernel = rhs
    if groups > 1:
        # The kernel's O axis is group-major; the transposed kernel's O axis (the old I)
        # must carry the groups instead.
        kernel = _regroup(kernel, rhs_spec[0], rhs_spec[1], groups)
    lhs_dilated = _dilate([lhs.shape[d] for d in lhs_sdims], lhs_dilation)
    rhs_dilated = _dilate([rhs.shape[d] for d in rhs_sdims], rhs_dilation)
    ct_dilated = _dilate([ct.shape[d] for d in out_sdims], window_strides)
    before = [k - lo - 1 for k, (lo, _) in zip(rhs_dilated, padding)]
    after = [i + k - 1 - o - b for i, k, o, b in zip(lhs_dilated, rhs_dilated, ct_dilated, before)]
    kernel = lax.rev(kernel, tuple(rhs_sdims))
    if kernel.dtype != ct.dtype:
        kernel = lax.convert_element_type(kernel, ct.dtype)
    x_bar = _conv(
        ct,
        kernel,
        window_strides=tuple(lhs_dilation),
        padding=tuple((int(b), int(a)) for b, a in zip(before, after)),
        lhs_dilation=tuple(window_strides),
        rhs_dilation=tuple(rhs_dilation),
        dimension_numbers=lax.ConvDimensionNumbers(out_spec, _swap(rhs_spec), lhs_spec),
        feature_group_count=groups,
        batch_group_count=1,
        precision=precision,
        preferred_element_type=preferred_element_type,
        out_sharding=None,
    )
    if x_bar.dtype != lhs.dtype:
        x_bar = lax.convert_element_type(x_bar, lhs.dtype)
    if batch_group_count > 1:
        # Each batch group came out as a block of features: put it back into the batch.
        x_bar = _regroup(x_bar, lhs_spec[1], lhs_spec[0], batch_group_count)
    return x_bar


def _vjp_rhs(
    ct,
    out,
    lhs,
    rhs,
    *,
    window_strides,
    padding,
    lhs_dilation,
    rhs_dilation,
    dimension_numbers,
    feature_group_count,
    batch_group_count,
    precision,
    preferred_element_type,
    out_sharding=None,
):
    if ct.size == 0:  # no output: no window touched the kernel
        return lax.full(rhs.shape, 0, rhs.dtype)
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    lhs_sdims, rhs_sdims, out_sdims = lhs_spec[2:], rhs_spec[2:], out_spec[2:]
    lhs_dilated = _dilate([lhs.shape[d] for d in lhs_sdims], lhs_dilation)
    rhs_dilated = _dilate([rhs.shape[d] for d in rhs_sdims], rhs_dilation)
    ct_dilated = _dilate([ct.shape[d] for d in out_sdims], window_strides)
    lows = [lo for lo, _ in padding]
    highs = [o - i + k - lo - 1 for o, i, k, lo in zip(ct_dilated, lhs_dilated, rhs_dilated, lows)]
    x = lhs if lhs.dtype == ct.dtype else lax.convert_element_type(lhs, ct.dtype)
    w_bar = _conv(
        x,
        ct,
        window_strides=tuple(rhs_dilation),
        padding=tuple((int(lo), int(hi)) for lo, hi in zip(lows, highs)),
        lhs_dilation=tuple(lhs_dilation),
        rhs_dilation=tuple(window_strides),
        dimension_numbers=lax.ConvDimensionNumbers(
            _swap(lhs_spec), _swap(out_spec), _swap(rhs_spec)
        ),
        # Feature groups become batch groups (and back): each group's kernel sees only
        # its own block of input features, now the contracted batch.
        feature_group_count=batch_group_count,
        batch_group_count=feature_group_count,
        precision=precision,
        preferred_element_type=preferred_element_type,
        out_sharding=None,
    )
    if w_bar.dtype != rhs.dtype:
        w_bar = lax.convert_element_type(w_bar, rhs.dtype)
    return w_bar


defrule(
    "conv_general_dilated",
    (_jvp_lhs, _jvp_rhs),
    (_vjp_lhs, _vjp_rhs),
    params={
        "window_strides": ANY,
        "padding": ANY,
        "lhs_dilation": ANY,
        "rhs_dilation": ANY,
        "dimension_numbers": lambda d: isinstance(d, lax.ConvDimensionNumbers),
        "feature_group_count": ANY,
        "batch_group_count": ANY,
        "precision": ANY,
        "preferred_element_type": ANY,
        "out_sharding": UNSET,
    },
)
