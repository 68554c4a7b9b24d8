"""Cumulative primitives and products: cumsum, cumprod, cummax, cummin, cumlogsumexp and
reduce_prod."""
