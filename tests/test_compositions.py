"""Random programs differentiated by adlab and by JAX (hypothesis over tests/programs.py).

Each example is a random JAX program f(x, y) over the supported primitives (broadcasting,
reductions, structural operations, dot_general, integer paths, nested jit, custom_jvp and
custom_vjp functions, complex casts) with float64 inputs; ``programs.check`` compares
adlab.jvp, adlab.vjp and a second-order product with JAX's. The fuzz campaign
(tests/test_fuzz.py, ``-m fuzz``) runs 10,000 more programs from the same generator.
"""

import programs
import pytest
from hypothesis import HealthCheck, given, settings

CHUNKS = 4  # 4 x 50 examples, so that pytest-xdist spreads them over the cores


@pytest.mark.parametrize("chunk", range(CHUNKS))
@settings(
    max_examples=50,
    deadline=None,
    derandomize=True,  # the same programs on every run (each chunk draws its own)
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(case=programs.programs_and_seeds(max_ops=4))
def test_random_program_matches_jax(chunk, case):
    """adlab's jvp, vjp and a second-order product equal JAX's on a random program.

    Where a derivative flows into a complex value, JAX succeeds and adlab raises
    UnsupportedDtypeError for each of them instead. A failure shrinks to a small program
    and prints its source and seed: ``programs.check(program, seed)`` reproduces it.
    """
    program, seed = case
    problems = programs.check(program, seed)
    assert not problems, "\n".join(problems)


def test_generator_uses_every_operation():
    """The generator reaches every operation, both flags and every input shape pair.

    Within the fuzz campaign's first 1,000 programs, so the random tests exercise each.
    """
    ops, shapes, flags = set(), set(), set()
    for seed in range(1000):
        program = programs.random_program(seed)
        ops |= program.ops
        shapes.add((program.x_shape, program.y_shape))
        flags |= {("complex", program.complex_active), ("custom_vjp", program.custom_vjp)}
    assert {op.name for op in programs.OPS} <= ops, "operations never generated"
    assert shapes == set(programs.INPUT_SHAPES)
    assert flags == {(k, v) for k in ("complex", "custom_vjp") for v in (False, True)}
