"""The fuzz campaign: 10,000 seeded random programs, each differentiated by adlab and by JAX.

Not part of the default run (``-m "not fuzz"`` in pyproject.toml); run it with
``python -m pytest -m fuzz`` (about 2 hours on 2 cores: each program is checked eagerly and
again compiled with jax.jit). Program ``seed`` is
``programs.random_program(seed)`` for seed in 0..9999, checked at the inputs drawn from
the same seed, so a failure names the program and seed that reproduce it.
"""

import programs
import pytest

PROGRAMS = 10_000
CHUNK = 100  # programs per test, so that pytest-xdist spreads the campaign over the cores

pytestmark = pytest.mark.fuzz


@pytest.mark.parametrize("chunk", range(PROGRAMS // CHUNK))
def test_fuzz_chunk_matches_jax(chunk):
    """adlab's jvp, vjp and a second-order product equal JAX's on 100 random programs.

    Where a derivative flows into a complex value, JAX succeeds and adlab raises
    UnsupportedDtypeError for each of them instead (``programs.check``). Each chunk
    prints how many programs it checked, and asserts that none mismatched.
    """
    seeds = range(chunk * CHUNK, (chunk + 1) * CHUNK)
    problems, kinds = [], {"complex": 0, "custom_vjp": 0}
    for seed in seeds:
        program = programs.random_program(seed)
        kinds["complex"] += program.complex_active
        kinds["custom_vjp"] += program.custom_vjp
        problems += programs.check(program, seed)
    print(
        f"fuzz chunk {chunk}: {len(seeds)} programs (seeds {seeds.start}..{seeds.stop - 1}; "
        f"{kinds['complex']} with a complex derivative, {kinds['custom_vjp']} with custom_vjp), "
        f"{len(problems)} mismatches"
    )
    assert not problems, f"{len(problems)} mismatches:\n" + "\n".join(problems)
