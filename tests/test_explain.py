"""adlab.explain: the tables, the tape, the generated code and the graph, against JAX.

The references are independent of the explanation: jax.jvp / jax.vjp / jax.grad of the
function or of its parts, a residual count by hand, and the numbers the source articles
print (through the worked_examples experiment's claims).
"""

import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import MODEL, assert_trees_close

import adlab
from adlab.explanation import CodeError, fmt

K1, K2, K3, K4, K5 = jax.random.split(jax.random.key(0), 5)
X = jax.random.normal(K1, (4, 3))
W1 = jax.random.normal(K2, (3, 5))
B1 = jax.random.normal(K3, (5,))
W2 = jax.random.normal(K4, (5, 2))


def mlp(x, w1, b1, w2):
    h = jnp.tanh(x @ w1 + b1)
    return jnp.mean((h @ w2) ** 2)


ARGS = (X, W1, B1, W2)
# W1's gradient entry (1, 3), 0.0228, sums terms up to 0.8 that cancel: JAX's differs by 6.9e-16
# absolute (3.0e-14 relative), under one ulp of the terms; the generated code's by 3.6e-16.
CANCELLING = {jnp.dtype("float64"): (3e-15, 1e-15)}
DIRS = tuple(jax.random.normal(k, a.shape) for k, a in zip(jax.random.split(K5, 4), ARGS))


# ---- the tables match adlab.jvp, adlab.vjp and JAX --------------------------------------------
def test_forward_values_and_tangents_equal_jax_for_a_small_mlp():
    e = adlab.explain(mlp, *ARGS, tangents=DIRS)
    out, tangent = jax.jvp(mlp, ARGS, DIRS)
    assert_trees_close(e.value("out"), out)
    assert_trees_close(e.tangent("out"), tangent)
    assert_trees_close(e.tangent("out"), adlab.jvp(mlp, ARGS, DIRS)[1])
    # An intermediate: the hidden layer's tangent, from JAX on that part alone.
    hidden = lambda x, w1, b1: jnp.tanh(x @ w1 + b1)  # noqa: E731
    h_name = next(s.outputs[0] for s in e.recording.eqns() if s.primitive == "tanh")
    h, h_dot = jax.jvp(hidden, ARGS[:3], DIRS[:3])
    assert_trees_close(e.value(h_name), h)
    assert_trees_close(e.tangent(h_name), h_dot, MODEL)
    table = str(e.forward_table())
    assert f"{h_name}  " in table and "tanh(" in table


def test_reverse_gradients_equal_jax_for_a_small_mlp():
    e = adlab.explain(mlp, *ARGS)
    expected = jax.grad(mlp, argnums=(0, 1, 2, 3))(*ARGS)
    for name, g in zip(e.inputs, expected):
        assert_trees_close(e.gradient(name), g, CANCELLING)  # JAX sums in another order
    pullback = adlab.vjp(mlp, *ARGS)[1]  # the same rules: equal bit for bit
    np.testing.assert_array_equal(
        np.concatenate([np.ravel(e.gradient(n)) for n in e.inputs]),
        np.concatenate([np.ravel(g) for g in pullback(jnp.ones(()))]),
    )
    # The hidden layer's cotangent, from JAX: the gradient with respect to h of the rest.
    h_name = next(s.outputs[0] for s in e.recording.eqns() if s.primitive == "tanh")
    rest = lambda h: jnp.mean((h @ W2) ** 2)  # noqa: E731
    assert_trees_close(e.gradient(h_name), jax.grad(rest)(e.value(h_name)), MODEL)
    rows = str(e.reverse_table()).splitlines()
    assert sum(line.startswith("grad") for line in rows) == 4


def test_each_downstream_is_upstream_times_local_for_elementwise_steps():
    e = adlab.explain(mlp, *ARGS)
    checked = 0
    for step in e.recording.eqns():
        for i, local in enumerate(step.local):
            flows = e.recording.vars[step.inputs[i]].slot is not None
            if flows and local is not None and step.upstream and step.upstream[0] is not None:
                assert_trees_close(step.downstream[i], step.upstream[0] * local)
                checked += 1
    assert checked >= 3  # add (bias), tanh, integer_pow


def test_a_value_used_twice_adds_its_gradients():
    e = adlab.explain(lambda x: 2.0 * x + 3.0 * x, jnp.asarray(1.5), cotangent=jnp.asarray(2.0))
    paths = [s.downstream[s.inputs.index("x")] for s in e.recording.eqns() if "x" in s.inputs]
    assert [float(p) for p in paths] == [4.0, 6.0]
    assert float(e.gradient("x")) == 10.0


def test_nested_jit_scopes_are_indented_groups():
    inner = jax.jit(lambda a: jnp.sin(a) * a)

    def f(x):
        return jnp.sum(inner(x) + 1.0)

    e = adlab.explain(f, jnp.arange(3.0))
    text = str(e.forward_table()).splitlines()
    start = next(i for i, line in enumerate(text) if line.startswith("jit "))
    sin_row = next(line for line in text if "sin(" in line)
    assert sin_row.split()[1] == next(
        s.outputs[0] for s in e.recording.eqns() if s.primitive == "sin"
    )
    assert "  v" in sin_row  # indented one level inside the jit group
    assert start < text.index(sin_row)
    assert any(line.strip().startswith("jit ") for line in str(e.reverse_table()).splitlines())
    assert_trees_close(e.gradient("x"), jax.grad(f)(jnp.arange(3.0)))


def test_markdown_tables():
    md = adlab.explain(mlp, *ARGS).forward_table().markdown()
    lines = md.splitlines()
    assert lines[0].startswith("**Forward mode through mlp")
    assert lines[2] == "| step | name | computed as | value | tangent | line |"
    assert lines[3].startswith("|---|")


def test_the_norm_notation_is_explained_where_it_is_used():
    def f(w):
        return jnp.sum(jnp.tanh(w))

    big = adlab.explain(f, jnp.ones((4, 4))).forward_table()  # 16 entries: printed as |.|
    assert "|.|=" in str(big) and "squares sum to" in str(big)
    assert "squares sum to" in big.markdown()
    small = adlab.explain(f, jnp.ones(3)).forward_table()
    assert "|.|=" not in str(small) and "squares sum to" not in str(small)


# ---- values print compactly -------------------------------------------------------------------
def test_values_print_compactly():
    assert fmt(jnp.float32(0.7310586)) == "0.7310586"  # a scalar in full, not 0.7310585975646973
    assert fmt(jnp.float64(-12.0)) == "-12.0"
    assert fmt(jnp.asarray([1.0, 2.0, 3.0])) == "[1., 2., 3.]"
    big = fmt(jnp.ones((64, 64), jnp.float32))
    assert big.startswith("f32[64,64]") and "64" in big.split("=")[-1]
    assert fmt(None) == "0"


# ---- the tape ---------------------------------------------------------------------------------
def test_tape_bytes_sum_to_cost_tape_bytes_and_to_a_count_by_hand():
    def f(x, w):
        return jnp.sum(jnp.tanh(x @ w))

    x, w = jnp.ones((4, 3), jnp.float32), jnp.ones((3, 5), jnp.float32)
    e = adlab.explain(f, x, w)
    table = e.tape()
    listed = sum(int(row[3].replace(",", "")) for row in table.rows)
    assert listed == adlab.cost.tape_bytes(f, x, w)
    # By hand: tanh's output (4 x 5 float32) beyond the two inputs the caller holds.
    assert listed == 4 * 5 * 4 + x.nbytes + w.nbytes
    assert "80 bytes kept by the tape" in table.notes[0]


# ---- code() -----------------------------------------------------------------------------------
def circuit(x, y, z):
    return (x + y) * z


def neuron(w0, x0, w1, x1, w2):
    return jax.nn.sigmoid(w0 * x0 + w1 * x1 + w2)


def relu_layer(x, w):
    return jnp.sum(jnp.maximum(x @ w, 0.0) ** 2)


def softplus_like(x):
    return jnp.sum(jnp.log1p(jnp.exp(-jnp.abs(x))) + jnp.maximum(x, 0.0))


def sliced(w, x):
    return jnp.max(w[:2] * x[1:]) + jnp.sum(w.T @ x)


CONST = jnp.asarray([0.5, -1.0, 2.0])


def with_constant(x):
    return jnp.sum(jnp.sqrt(x * x + 1.0) * CONST) / 3.0


CODE_CASES = {
    "circuit": (circuit, (-2.0, 5.0, -4.0)),
    "neuron": (neuron, (2.0, -1.0, -3.0, -2.0, -3.0)),
    "mlp": (mlp, ARGS),
    "relu-layer": (relu_layer, (X, W1)),
    "softplus-like": (softplus_like, (jnp.linspace(-2.0, 2.0, 5),)),
    "slices-and-transpose": (sliced, (jnp.arange(6.0).reshape(3, 2) - 2.5, jnp.ones((3, 2)))),
    "closed-over-constant": (with_constant, (jnp.asarray([1.0, -2.0, 0.5]),)),
}


@pytest.mark.parametrize("name", list(CODE_CASES))
def test_generated_code_runs_and_reproduces_the_gradient(name):
    fun, args = CODE_CASES[name]
    args = tuple(jnp.asarray(a) for a in args)
    e = adlab.explain(fun, *args)
    namespace = {}
    exec(e.code("generated"), namespace)  # noqa: S102 - the point of the test
    out, grads = namespace["generated"](*args)
    argnums = tuple(range(len(args)))
    assert_trees_close(out, fun(*args))
    # float64 throughout; the generated formulas are the rules' own, summed in another order.
    assert_trees_close(tuple(grads), adlab.grad(fun, argnums)(*args), CANCELLING)
    assert_trees_close(tuple(grads), jax.grad(fun, argnums)(*args), CANCELLING)


def test_generated_code_refuses_what_it_cannot_write():
    e = adlab.explain(lambda x: jnp.sum(jnp.cumsum(x)), jnp.arange(3.0))
    with pytest.raises(CodeError, match="no template for 'cumsum'"):
        e.code()
    assert "cumsum" in str(e.forward_table())  # the tables still explain it


# ---- the graph --------------------------------------------------------------------------------
def test_graph_draws_a_picture(tmp_path):
    pytest.importorskip("networkx")  # the optional extra; installed with the dev extra
    path = adlab.explain(circuit, -2.0, 5.0, -4.0).graph(tmp_path / "graph.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    layout = adlab.explain(circuit, -2.0, 5.0, -4.0).graph_layout()
    labels = {n["id"]: n["label"] for n in layout["nodes"]}
    assert "value -12.0" in labels["out"] and "grad 3.0" in labels["z"]


def test_graph_without_the_extra_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "networkx", None)  # as if it were not installed
    e = adlab.explain(circuit, -2.0, 5.0, -4.0)
    with pytest.raises(ImportError, match=r'pip install "adlab\[graph\]"'):
        e.graph(tmp_path / "graph.png")


# ---- cost -------------------------------------------------------------------------------------
def test_cost_lists_passes_and_stored_bytes():
    def f(x, w):
        return jnp.tanh(x @ w)

    x, w = jnp.ones((4, 3), jnp.float32), jnp.ones((3, 5), jnp.float32)
    table = adlab.explain(f, x, w).cost()
    forward, reverse = table.rows
    assert forward[-1].startswith(f"{x.size + w.size} ") and reverse[-1].startswith("20 ")
    assert forward[4] == "0" and reverse[4] == f"{4 * 5 * 4:,}"  # tanh's output, by hand
    assert int(reverse[2].replace(",", "")) > 0


# ---- never silently wrong ---------------------------------------------------------------------
def test_explain_refuses_what_adlab_cannot_differentiate():
    with pytest.raises(adlab.UnsupportedPrimitiveError):
        adlab.explain(lambda x: jnp.sum(jax.scipy.special.gammainc(2.0, x + 1.0)), jnp.ones(3))
    with pytest.raises(adlab.UnsupportedDtypeError):
        adlab.explain(lambda x: jnp.sum(x * (1 + 1j)).real, jnp.ones(3))


def test_unknown_value_names_are_listed():
    with pytest.raises(KeyError, match="known: x, y, z"):
        adlab.explain(circuit, -2.0, 5.0, -4.0).value("q")


# ---- the articles' worked examples ------------------------------------------------------------
def test_every_printed_number_of_the_worked_examples_is_checked():
    from experiments import worked_examples as wx

    params = wx.DEFAULT
    verdicts = {}
    for name in params["examples"]:
        point = {"example": name, **wx.measure({"example": name}, params)}
        for c in point["claims"]:
            verdicts[(name, c["claim"])] = c["verdict"]
    expected_off = {
        ("neuron", "the local gradient is 0.73 * (1 - 0.73) = 0.73 * 0.27 ≈ 0.1971"): "rounded",
        ("jacobian_size", "N x D is roughly 250,000"): "rounded",
        ("jacobian_size", "(N D)(N M) elements, which is about (2.5e5)^2 = 6.25e10"): "rounded",
        ("jacobian_size", "If each is a 4-byte float, that's 250 GB"): "rounded",
        ("two_layer", "dloss/dW1 = dloss/dH1^T X"): "wrong",
    }
    off = {k: v for k, v in verdicts.items() if v != "holds"}
    assert off == expected_off
    assert len(verdicts) == 41


def test_the_articles_numbers_against_jax_directly():
    # Independent of adlab: JAX's own gradients give the numbers the articles print.
    g = jax.grad(circuit, argnums=(0, 1, 2))(-2.0, 5.0, -4.0)
    assert [float(v) for v in g] == [-4.0, -4.0, 3.0]
    g = jax.grad(neuron, argnums=(0, 1, 2, 3, 4))(2.0, -1.0, -3.0, -2.0, -3.0)
    assert [round(float(v), 2) for v in g] == [-0.2, 0.39, -0.39, -0.59, 0.2]
    loss = lambda w: 0.5 * (jnp.asarray([1.0, 2.0, 3.0]) @ w - 5) ** 2  # noqa: E731
    assert jax.grad(loss)(jnp.ones(3)).tolist() == [1.0, 2.0, 3.0]
    e = adlab.explain(neuron, 2.0, -1.0, -3.0, -2.0, -3.0)
    assert_trees_close(tuple(e.gradient(n) for n in e.inputs), tuple(g))


def test_a_wrong_formula_is_caught():
    from experiments import worked_examples as wx

    assert wx.formula("x", [[1.0, 2.0], [3.0, 4.0]], [[1.0, 3.0], [2.0, 4.0]])["verdict"] == "wrong"
    assert wx.number("0.20", 0.20, 0.19661, 2)["verdict"] == "holds"
    assert wx.number("0.1971", 0.1971, 0.19661, 4)["verdict"] == "rounded"
    assert wx.number("-12", -12, 12.0, None)["verdict"] == "wrong"


def test_a_vector_output_without_a_cotangent_says_it_is_the_gradient_of_the_sum():
    def f(a, b):
        return jnp.sin(a) * b

    a, b = jnp.array([0.3, -1.2, 2.0]), 1.5
    table = adlab.explain(f, a, b).reverse_table()
    rows = [r for r in table.rows if r[0].startswith("grad")]
    assert [r[0] for r in rows] == ["grad of sum(output)"] * 2
    assert any("sum of the output's entries" in note for note in table.notes)
    # The values are the gradient of sum(f), by JAX.
    grad_a, grad_b = jax.grad(lambda a, b: jnp.sum(f(a, b)), argnums=(0, 1))(a, b)
    recorded = adlab.explain(f, a, b).recording.vars
    names = adlab.explain(f, a, b).recording.inputs
    np.testing.assert_allclose(recorded[names[0]].cotangent, grad_a, rtol=1e-15)
    np.testing.assert_allclose(recorded[names[1]].cotangent, grad_b, rtol=1e-15)
    # A scalar output, or a cotangent given, is a plain gradient.
    assert "grad" in [r[0] for r in adlab.explain(lambda a: jnp.sum(a), a).reverse_table().rows]
    given = adlab.explain(f, a, b, cotangent=jnp.array([1.0, 0.0, 2.0])).reverse_table()
    assert "grad of sum(output)" not in [r[0] for r in given.rows]


def test_the_tape_names_your_inputs_as_the_other_tables_do():
    def loss(params, x):
        return jnp.sum(jnp.tanh(x @ params["w"]))

    params, x = {"w": jnp.ones((3, 2))}, jnp.ones((4, 3))
    e = adlab.explain(loss, params, x)
    yours = sorted(row[0] for row in e.tape().rows if row[0].startswith("your input"))
    assert yours == ["your input: params['w']", "your input: x"]
    assert e.recording.inputs == ["params_w", "x"]  # the same names, as Python identifiers
