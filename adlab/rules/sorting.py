"""Sorting: sort (one or several operands) and top_k."""
