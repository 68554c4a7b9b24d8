"""The primitive table's rows for adlab/rules/conv.py (run by tests/test_primitives.py)."""

from rows import Row  # noqa: F401

ROWS: list = []
