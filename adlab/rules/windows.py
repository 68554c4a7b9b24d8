"""Windowed reductions (pooling): reduce_window_sum, reduce_window_max, reduce_window_min, and
the primitives their derivatives need."""
