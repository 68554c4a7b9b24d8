"""The README: opens with the two commands, and its generated sections are current."""

import re
from pathlib import Path

from experiments import readme as docs

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_opens_with_exactly_two_commands():
    text = README.read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, re.S)
    before = text[: first_block.start()].strip()
    assert before == "# adlab", "nothing but the title may come before the two commands"
    commands = [line for line in first_block.group(1).splitlines() if line.strip()]
    assert commands == [
        "pip install -e . && python -m experiments all",
        'pip install -e ".[dev]" && python -m pytest',
    ]


def test_generated_sections_are_current():
    text = README.read_text()
    assert docs.render(text) == text, "run `python -m experiments.readme` to regenerate the README"


def test_readme_example_runs_and_agrees_with_jax():
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    jax, params, x, loss = scope["jax"], scope["params"], scope["x"], scope["loss"]
    expected = jax.grad(loss)(params, x)
    for name in ("g", "g_jit"):
        for a, b in zip(jax.tree.leaves(scope[name]), jax.tree.leaves(expected)):
            assert jax.numpy.allclose(a, b, rtol=1e-5, atol=1e-6)
    for a, b in zip(jax.tree.leaves(scope["hv"]), jax.tree.leaves(scope["hv_jax"])):
        assert jax.numpy.allclose(a, b, rtol=1e-5, atol=1e-6)
