"""Test configuration: float64 on, so equivalence with JAX can be checked to ~1e-10.

float32 tests build their inputs with an explicit dtype, so enabling x64 does not change
what they test.
"""

import jax

jax.config.update("jax_enable_x64", True)
