"""The README: opens with the two commands, and its generated sections are current."""

import re
from pathlib import Path

import jax
import jax.numpy as jnp
from helpers import MODEL, MODEL_SECOND_ORDER, assert_trees_close
from test_models import dense_hvp

from experiments import readme as docs

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_opens_with_exactly_two_commands():
    text = README.read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, re.S)
    before = text[: first_block.start()].strip()
    assert before == "# adlab", "nothing but the title may come before the two commands"
    commands = [line for line in first_block.group(1).splitlines() if line.strip()]
    assert commands == [
        'pip install -e ".[graph]" && python -m experiments all',
        'pip install -e ".[dev]" && python -m pytest',
    ]


def test_generated_sections_are_current():
    text = README.read_text()
    assert docs.render(text) == text, "run `python -m experiments.readme` to regenerate the README"


def test_readme_example_runs_and_agrees_with_jax():
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    params, x, v, loss = scope["params"], scope["x"], scope["v"], scope["loss"]
    # x64 is on in the tests, so the example's arrays are float64: check at float64 tables.
    computed = {name: scope[name] for name in ("g", "t", "hv", "hv_jax", "g_jit")}
    assert {leaf.dtype for leaf in jax.tree.leaves(computed)} == {jnp.dtype("float64")}
    # Independent references: JAX's grad and jvp, and H v from the dense Hessian.
    grad = jax.grad(loss)(params, x)
    hv = dense_hvp(lambda p: loss(p, x), params, v)
    assert_trees_close(scope["g"], grad, MODEL)
    assert_trees_close(scope["g_jit"], grad, MODEL)
    assert_trees_close(scope["t"], jax.jvp(loss, (params, x), (v, jnp.zeros_like(x)))[1], MODEL)
    assert_trees_close(scope["hv"], hv, MODEL_SECOND_ORDER)
    assert_trees_close(scope["hv_jax"], hv, MODEL_SECOND_ORDER)
