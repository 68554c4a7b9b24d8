"""Special functions and zero-derivative elementwise primitives (erf, lgamma, floor...)."""
