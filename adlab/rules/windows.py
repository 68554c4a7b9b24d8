"""Windowed primitives: convolution, reduce_window (pooling), select_and_scatter_add."""
