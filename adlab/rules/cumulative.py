"""Cumulative primitives and products: cumsum, cumprod, cummax, cummin, cumlogsumexp, reduce_prod."""
