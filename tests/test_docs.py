"""The README: what adlab is, the two commands, and generated documents that are current."""

import json
import re
import subprocess
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest
from helpers import MODEL, MODEL_SECOND_ORDER, assert_trees_close
from test_models import dense_hvp

from experiments import readme as docs

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"


def test_readme_opens_with_one_sentence_then_exactly_two_commands():
    text = README.read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, re.S)
    title, sentence = text[: first_block.start()].strip().split("\n\n")
    assert title == "# adlab"
    # One sentence on what adlab is: one line, one full stop, at its end.
    assert "\n" not in sentence and sentence.count(". ") == 0 and sentence.endswith(".")
    commands = [line for line in first_block.group(1).splitlines() if line.strip()]
    assert commands == [
        'pip install -e ".[graph]" && python -m experiments all',
        'pip install -e ".[dev]" && python -m pytest',
    ]


def test_generated_documents_are_current():
    assert docs.stale() == [], "run `python -m experiments.readme` to regenerate them"


@pytest.fixture
def clone(tmp_path):
    """A fresh clone of this repository's committed state (the README's first command's view)."""
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True)
    if head.returncode:
        pytest.skip("not a git checkout: there is no committed state to clone")
    subprocess.run(["git", "clone", "-q", str(REPO), str(tmp_path / "c")], check=True)
    return tmp_path / "c"


def _scaled(obj, k):
    if isinstance(obj, float):
        return obj * k
    if isinstance(obj, list):
        return [_scaled(x, k) for x in obj]
    if isinstance(obj, dict):
        return {key: _scaled(x, k) for key, x in obj.items()}
    return obj


def test_a_run_of_your_own_leaves_the_documents_current(clone):
    """Command 1 rewrites figures/ with your numbers and RESULTS.md with them; command 2 passes."""
    path = clone / "figures" / "loops.json"
    data = json.loads(path.read_text())
    # As if measured on another machine: every measured number (and the summary) 3x larger.
    data["points"], data["summary"] = _scaled(data["points"], 3), _scaled(data["summary"], 3)
    path.write_text(json.dumps(data))
    docs.write_results(clone / "figures")  # what `python -m experiments` does after a run
    results = (clone / "figures" / "RESULTS.md").read_text()
    assert results != (REPO / "figures" / "RESULTS.md").read_text()
    # The README quotes the committed run; its findings would now read otherwise.
    assert (
        docs.generated(docs.folder_reader(clone / "figures"), clone)["README.md"]
        != (clone / "README.md").read_text()
    )
    assert docs.stale(clone) == []


def test_a_stale_readme_is_found(clone):
    readme = clone / "README.md"
    text = readme.read_text()
    finding = re.search(r"\*\*Finding:\*\* [^\n]*", text).group(0)
    readme.write_text(text.replace(finding, "**Finding:** something no run measured."))
    assert docs.stale(clone) == ["README.md"]


def _python_blocks(text):
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_readme_example_runs_and_agrees_with_jax():
    (code,) = [b for b in _python_blocks(README.read_text()) if "hv_jax" in b]
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
