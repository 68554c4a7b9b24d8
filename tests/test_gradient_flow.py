"""The gradient_flow experiment: its quick run, adlab against jax.grad, verdicts that follow the
numbers, and two facts about gradient norms that hold whatever adlab computes.
"""

import copy
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import gradient_flow as gf


@pytest.fixture(scope="module")
def quick_json(tmp_path_factory):
    return gf.run(tmp_path_factory.mktemp("gradient_flow"), quick=True)


@pytest.fixture(scope="module")
def quick(quick_json):
    return json.loads(quick_json.read_text())


def net(key, depth, width, batch):
    """Inputs, targets and the zeros whose gradients are dL/dh_l, for a float64 net."""
    kx, ky = jax.random.split(key)
    x = jax.random.normal(kx, (batch, width), jnp.float64)
    y = jax.random.normal(ky, (batch, width), jnp.float64)
    return x, y, [jnp.zeros((batch, width), jnp.float64)] * depth


def test_quick_run_stores_its_summary_and_draws_the_figure(quick_json, quick, tmp_path):
    assert quick["summary"] == json.loads(json.dumps(gf.summary(quick)))
    p = gf.QUICK
    assert len(quick["points"]) == len(p["activations"]) * len(p["inits"]) * len(p["nets"])
    for point in quick["points"]:
        assert point["backend"] == jax.default_backend() and point["device_kind"]
        assert [len(h) for h in point["h_norms"]] == [p["depth"] + 1] * p["seeds"]
        assert [len(w) for w in point["w_norms"]] == [p["depth"]] * p["seeds"]
    gf.plot(quick_json, tmp_path / "gradient_flow.png")
    assert (tmp_path / "gradient_flow.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert gf.headline(quick).startswith(f"depth {p['depth']}, ")


def test_the_quick_points_agree_with_jax_grad(quick):
    # float64, depth 10: measured at most 1.2e-15 of each array's largest entry (5.1e-15 at
    # depth 50 in the default run).
    for point in quick["points"]:
        assert point["max_relative_difference"] < 1e-13, point


@pytest.mark.usefixtures("quick")
def test_adlab_gradient_equals_jax_grad():
    # The quick run's shapes, so that both gradients are already compiled.
    p = gf.QUICK
    kw, kd = jax.random.split(jax.random.key(1))
    ws = list(gf.init_weights("he", kw, p["depth"], p["width"], jnp.float64))
    x, y, zeros = net(kd, p["depth"], p["width"], p["batch"])
    ours = gf.gradient("tanh", True, "adlab")(ws, zeros, x, y)
    theirs = gf.gradient("tanh", True, "jax")(ws, zeros, x, y)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
        # Measured: at most 5.8e-16 of the largest entry (1.1e-15 for the plain tanh net).
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * float(jnp.max(jnp.abs(b))))


def with_ratio(data, ratio, **match):
    """A copy of `data` whose matching points have ||dL/dh_0|| = ratio * ||dL/dh_L||."""
    data = copy.deepcopy(data)
    for point in data["points"]:
        if all(point[k] == v for k, v in match.items()):
            point["h_norms"] = [[ratio * h[-1], *h[1:]] for h in point["h_norms"]]
    return data


def test_regimes_follow_the_ratio():
    assert gf.regime(0.05) == "vanishes"
    assert gf.regime(0.5) == gf.regime(5) == "stable"
    assert gf.regime(20) == "explodes"


def test_highway_verdict_follows_the_numbers(quick):
    assert gf.summary(quick)["verdicts"]["highway"]["holds"]
    vanished = with_ratio(quick, 1e-6, net="residual", activation="sigmoid")
    assert not gf.summary(vanished)["verdicts"]["highway"]["holds"]


def test_saturation_verdict_follows_the_numbers(quick):
    saturating = quick
    for activation in ("sigmoid", "tanh"):
        saturating = with_ratio(saturating, 1e-6, net="plain", activation=activation)
    verdict = gf.summary(saturating)["verdicts"]["saturation"]
    assert verdict["holds"] and verdict["holds_for"] == {"sigmoid": True, "tanh": True}
    kept = with_ratio(saturating, 1.0, net="plain", activation="tanh", init="he")
    verdict = gf.summary(kept)["verdicts"]["saturation"]
    assert not verdict["holds"] and verdict["holds_for"] == {"sigmoid": True, "tanh": False}


def test_initialisation_verdict_follows_the_numbers(quick):
    preserved = quick
    for init, activation in gf.PAIRS:
        preserved = with_ratio(preserved, 1.0, net="plain", activation=activation, init=init)
    assert gf.summary(preserved)["verdicts"]["initialisation"]["holds"]
    shrunk = with_ratio(preserved, 1e-3, net="plain", activation="relu", init="he")
    verdict = gf.summary(shrunk)["verdicts"]["initialisation"]
    assert not verdict["holds"] and not verdict["holds_for"]["he+relu"]


def test_spectral_norm_verdict_follows_the_numbers(quick):
    # Make every net's gradient vanish where its Jacobians' median norm is below 1, and
    # explode where it is above: the claim then holds.
    agreeing = copy.deepcopy(quick)
    for point in agreeing["points"]:
        below = np.median(point["jacobian_norm"]) < 1
        point["h_norms"] = [[(1e-6 if below else 1e6) * h[-1], *h[1:]] for h in point["h_norms"]]
    assert gf.summary(agreeing)["verdicts"]["spectral_norm"]["holds"]
    point = agreeing["points"][0]
    point["jacobian_norm"] = [0.5] * len(point["jacobian_norm"])
    point["h_norms"] = [[h[-1], *h[1:]] for h in point["h_norms"]]
    verdict = gf.summary(agreeing)["verdicts"]["spectral_norm"]
    assert not verdict["holds"] and verdict["holds_for"] == {"below 1": False, "above 1": True}


def test_linear_net_gradient_norms_are_the_product_of_the_scales(monkeypatch):
    # With h_l = h_{l-1} W_l and W_l = c_l Q_l (Q_l orthogonal), dL/dh_{l-1} = dL/dh_l W_l^T
    # has norm c_l ||dL/dh_l||: ||dL/dh_l|| = ||dL/dh_L|| * c_{l+1} * ... * c_L, exactly.
    monkeypatch.setitem(gf.ACTIVATIONS, "identity", lambda z: z)
    depth, width = 12, 16
    kq, kc, kd = jax.random.split(jax.random.key(2), 3)
    q, _ = jnp.linalg.qr(jax.random.normal(kq, (depth, width, width), jnp.float64))
    scales = jax.random.uniform(kc, (depth,), jnp.float64, 0.5, 2.0)
    x, y, zeros = net(kd, depth, width, 4)
    _, d_zeros, d_x = gf.gradient("identity", False, "adlab")(
        list(scales[:, None, None] * q), zeros, x, y
    )
    norms = np.array([float(jnp.linalg.norm(d)) for d in (d_x, *d_zeros)])
    expected = norms[-1] * np.cumprod(np.asarray(scales)[::-1])[::-1]
    # Measured: 4.4e-16 relative, on norms spread over 150x.
    np.testing.assert_allclose(norms[:-1], expected, rtol=1e-12)


@pytest.mark.usefixtures("quick")
def test_sigmoid_derivative_bounds_each_layer_of_a_plain_sigmoid_net():
    # dL/dh_{l-1} = (dL/dh_l * sigmoid'(z_l)) W_l^T and sigmoid' <= 1/4, so
    # ||dL/dh_{l-1}|| <= ||W_l||_2 / 4 * ||dL/dh_l|| at every layer.
    p = gf.QUICK  # the quick run's shapes: the gradient is already compiled
    kw, kd = jax.random.split(jax.random.key(3))
    ws = gf.init_weights("xavier", kw, p["depth"], p["width"], jnp.float64)
    x, y, zeros = net(kd, p["depth"], p["width"], p["batch"])
    _, d_zeros, d_x = gf.gradient("sigmoid", False, "adlab")(list(ws), zeros, x, y)
    norms = np.array([float(jnp.linalg.norm(d)) for d in (d_x, *d_zeros)])
    spectral = np.linalg.norm(np.asarray(ws), 2, axis=(1, 2))
    # Measured: each layer reaches 44-59% of its bound.
    assert np.all(norms[:-1] <= spectral / 4 * norms[1:])


@pytest.mark.parametrize(
    "init, variance",
    [("xavier", 2 / (256 + 256)), ("he", 2 / 256), ("lecun", 1 / 256), ("normal", 1.0)],
)
def test_initialisations_have_their_papers_variance(init, variance):
    ws = gf.init_weights(init, jax.random.key(4), 4, 256, jnp.float64)
    # 262,144 draws: the sample variance is within 1% of the true one (about 0.3% std. error).
    assert float(jnp.var(ws)) == pytest.approx(variance, rel=0.01)
