"""The primitive table's rows for adlab/rules/conv.py (run by tests/test_primitives.py)."""

from functools import partial

from jax import lax
from rows import Row

# Every operand stays within rows.POOL (128) elements: the samplers cut it from one pool.
conv = lax.conv_general_dilated
NHWC = ("NHWC", "HWIO", "NHWC")

ROWS: list = [
    # 1-D, default (NCW, OIW) dimension numbers, no padding; a stride on the second case.
    Row(
        "conv_general_dilated",
        lambda x, w: lax.conv(x, w, (1,), "VALID"),
        [((1, 2, 5), (3, 2, 2)), ((2, 3, 7), (4, 3, 3))],
        id="1d",
    ),  # fmt: skip
    Row(
        "conv_general_dilated",
        lambda x, w: lax.conv(x, w, (2,), "VALID"),
        [((2, 3, 8), (4, 3, 3))],
        id="1d-stride",
    ),  # fmt: skip
    # 2-D NCHW, "SAME" with strides (odd padding: the extra row at the end).
    Row(
        "conv_general_dilated",
        lambda x, w: conv(x, w, (2, 2), "SAME"),
        [((1, 3, 6, 5), (2, 3, 3, 2)), ((2, 2, 5, 4), (3, 2, 2, 3))],
        id="nchw-same-stride",
    ),  # fmt: skip
    # 2-D NHWC (TensorFlow's layout), explicit asymmetric padding, a stride on one axis.
    Row(
        "conv_general_dilated",
        lambda x, w: conv(x, w, (2, 1), ((1, 2), (0, 1)), dimension_numbers=NHWC),
        [((2, 5, 4, 3), (3, 2, 3, 2))],
        id="nhwc-explicit",
    ),  # fmt: skip
    # Negative padding crops the input; padding wider than the kernel reaches past it.
    Row(
        "conv_general_dilated",
        lambda x, w: conv(x, w, (1, 3), ((-1, 2), (4, 3))),
        [((1, 2, 6, 7), (3, 2, 2, 2))],
        id="negative-and-wide-padding",
    ),  # fmt: skip
    # Transposed convolution: lhs dilation (explicit padding; lax forbids strings with it),
    # and lax.conv_transpose, which emits it.
    Row(
        "conv_general_dilated",
        lambda x, w: conv(x, w, (1, 1), ((2, 1), (1, 1)), lhs_dilation=(2, 3)),
        [((1, 2, 3, 3), (2, 2, 3, 2))],
        id="lhs-dilation",
    ),  # fmt: skip
    Row(
        "conv_general_dilated",
        lambda x, w: lax.conv_transpose(x, w, (2, 2), "SAME", dimension_numbers=NHWC),
        [((1, 3, 3, 2), (3, 3, 2, 2))],
        id="conv_transpose",
    ),  # fmt: skip
    # Atrous convolution: rhs dilation, with "SAME" and a stride.
    Row(
        "conv_general_dilated",
        lambda x, w: conv(x, w, (1, 2), "SAME", rhs_dilation=(2, 2)),
        [((1, 2, 7, 6), (3, 2, 2, 3))],
        id="rhs-dilation",
    ),  # fmt: skip
    # Depthwise: one group per channel (channel multiplier 2), and two groups of two.
    Row(
        "conv_general_dilated",
        lambda x, w: conv(x, w, (1, 1), "SAME", dimension_numbers=NHWC, feature_group_count=3),
        [((1, 4, 4, 3), (3, 3, 1, 6))],
        id="depthwise",
    ),  # fmt: skip
    Row(
        "conv_general_dilated",
        partial(conv, window_strides=(2,), padding=((0, 1),), feature_group_count=2),
        [((2, 4, 7), (6, 2, 3))],
        id="feature-groups",
    ),  # fmt: skip
    # Batch groups (what the kernel's adjoint of a grouped convolution emits).
    Row(
        "conv_general_dilated",
        lambda x, w: conv(x, w, (1,), "VALID", batch_group_count=2),
        [((4, 2, 6), (4, 2, 3))],
        id="batch-groups",
    ),  # fmt: skip
    # Spatial axes in another order in each operand, and the output's batch axis inside.
    Row(
        "conv_general_dilated",
        lambda x, w: conv(
            x, w, (2, 1), ((1, 0), (2, 1)), dimension_numbers=("NHCW", "OHWI", "CWNH")
        ),
        [((2, 5, 2, 6), (3, 3, 2, 2))],
        id="permuted-specs",
    ),  # fmt: skip
]
