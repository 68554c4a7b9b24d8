"""The README's examples run as written, each pasted alone, and what they compute is right.

Each block runs in a namespace of its own, so a block that leans on another's imports or data
fails here. Each check compares with something derived independently: FLOPs by hand from
the shapes, the tape's contents from the backward rules, the chain Jacobian from jax.jacfwd.
"""

import os
import re
import statistics
from pathlib import Path

import jax
import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(scope="module")
def scope(tmp_path_factory):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) == 5, "explain, the first example, the CNN, the lab and the chain"
    namespace: dict = {}  # every block's names, for the checks below
    here = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("readme"))  # where the examples write their files
    try:
        for i, code in enumerate(blocks):
            alone: dict = {}  # as if pasted alone into a fresh interpreter
            exec(compile(code, f"README.md python block {i}", "exec"), alone)
            namespace.update(alone)
        namespace["files"] = sorted(p.name for p in Path.cwd().iterdir())
    finally:
        os.chdir(here)
    return namespace


def test_cnn_example_gives_jax_gradient(scope):
    from helpers import MODEL, assert_trees_close

    args = scope["cnn"], scope["images"], scope["labels"]
    assert_trees_close(scope["cnn_grad"], jax.grad(scope["cnn_loss"])(*args), MODEL)


def test_cost_example_counts_the_matmuls(scope):
    forward, backward = scope["forward"], scope["backward"]
    # x: 5x3, w1: 3x4, w2: 4x2. Forward: x@w1 and h@w2, 2·M·N·K each.
    assert forward.by_primitive["dot_general"].flops == 2 * 5 * 3 * 4 + 2 * 5 * 4 * 2
    # Backward, by the matmul rules: dW2 = h^T g (2·4·5·2), dh = g W2^T (2·5·2·4) and
    # dW1 = x^T dh' (2·3·5·4); dx is not needed. Plus the forward sweep's two matmuls.
    backward_dots = 2 * 4 * 5 * 2 + 2 * 5 * 2 * 4 + 2 * 3 * 5 * 4
    forward_dots = 2 * 5 * 3 * 4 + 2 * 5 * 4 * 2
    assert backward.by_primitive["dot_general"].flops == forward_dots + backward_dots
    assert scope["compiled"].flops > 0  # XLA's own count of the compiled program


def test_bench_example_quotes_the_median_of_interleaved_pairs(scope):
    pair, timing = scope["pair"], scope["timing"]
    assert len(pair.ratios) == 15 and pair.median_ratio == statistics.median(pair.ratios)
    assert timing.median_s == statistics.median(timing.samples_s)


def test_residuals_example_lists_the_tape(scope):
    tape, params, x = scope["tape"], scope["params"], scope["x"]
    itemsize = x.dtype.itemsize
    yours = sorted(r.array.shape for r in tape if r.yours)
    # The matmuls' backward rules read x, W1 and W2 (all passed in by the caller)...
    assert yours == sorted([x.shape, params["w1"].shape, params["w2"].shape])
    # ...and the tape itself keeps tanh's output (for tanh' and dW2) and h @ W2 (for the
    # square's derivative): 5x4 and 5x2 values.
    kept = sorted((r.stored_by, r.array.shape) for r in tape if not r.yours)
    assert kept == [("output of dot_general", (5, 2)), ("output of tanh", (5, 4))]
    assert scope["kept"] == (5 * 4 + 5 * 2) * itemsize
    assert all("README.md" in r.where for r in tape if not r.yours)
    assert "kept by the tape beyond your own inputs" in str(tape)


def test_chain_example_picks_a_cheaper_plan_and_computes_the_jacobian(scope):
    plan, sizes, layers, x0 = scope["plan"], scope["sizes"], scope["layers"], scope["x0"]
    chain = scope["chain"]
    pure = min(chain.tangent_flops(sizes, plan.costs), chain.adjoint_flops(sizes, plan.costs))
    assert plan.flops < pure / 4  # the hourglass is where neither pure mode is close

    def composed(h):
        for f in layers:
            h = f(h)
        return h

    np.testing.assert_allclose(
        scope["optimal"](x0), jax.jacfwd(composed)(x0), rtol=1e-12, atol=1e-12
    )


def test_explain_example_reproduces_the_articles_numbers(scope):
    args = (2.0, -1.0, -3.0, -2.0, -3.0)
    expected = jax.grad(scope["neuron"], argnums=tuple(range(5)))(*args)
    # The generated code's gradient is JAX's (float32; the same formulas, measured equal).
    np.testing.assert_allclose(scope["grads"], expected, rtol=1e-7)
    assert [round(float(g), 2) for g in scope["grads"]] == [-0.2, 0.39, -0.39, -0.59, 0.2]
    assert round(float(scope["out"]), 2) == 0.73
    assert "neuron.png" in scope["files"]


def test_the_generated_code_shown_in_the_docs_is_current(scope):
    docs = (README.parent / "docs" / "explain.md").read_text()
    shown = re.findall(r"```py\n(.*?)```", docs, re.S)
    assert shown == [scope["e"].code("neuron_and_gradient")]
