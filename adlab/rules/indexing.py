"""Indexing: pad, dynamic slices, gather and scatter, split."""
