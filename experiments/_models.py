"""Scalar losses with a size knob, over one flat parameter vector, for the experiments.

Each builder takes its size and a `jax.random` key and returns a `Loss`: a function of one flat
vector theta (every parameter of the model, concatenated) that closes over fixed data, and the
point theta at which to differentiate it. A flat vector makes a Hessian an n x n matrix and
a Hessian-vector product a vector, whatever the model; unflattening uses only static slices and
reshapes.

- `rosenbrock(dim)`: the n-dimensional Rosenbrock function (n = dim).
- `mlp(width)`: a tanh MLP of depth 3 (width -> width -> width -> 10) on a batch of 128,
  with softmax cross-entropy against one-hot labels.
- `transformer(d_model, seq)`: one pre-norm transformer block (4-head self-attention, layer
  norm, GELU MLP of width 4 d_model) on a batch of 4 sequences, with a mean-squared loss.

`mlp_with_data` is the MLP's loss with the data as arguments (for sharding the batch), and
two vector-valued maps serve the forward-against-reverse experiments:

- `mlp_map(n, m, hidden)`: x -> W2 tanh(W1 x + b1) + b2, from R^n to R^m;
- `dense_chain(widths)`: the layers x -> tanh(W_i x + b_i) of a chain of dense layers.

- `cnn(size)`: two convolutions with pooling and a dense head, integer-label cross-entropy.
- `rnn(kind, steps)`: an Elman RNN or an LSTM over a sequence (`lax.scan`), squared loss.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "Loss",
    "flatten",
    "rosenbrock",
    "mlp",
    "mlp_with_data",
    "transformer",
    "mlp_map",
    "dense_chain",
    "normal_arrays",
    "cnn",
    "rnn",
]


@dataclasses.dataclass(frozen=True)
class Loss:
    """A scalar loss of one flat parameter vector, and the point to differentiate it at.

    Attributes:
      fun: theta -> scalar.
      theta: the point, shape (n,).
    """

    fun: Callable[[jax.Array], jax.Array]
    theta: jax.Array

    @property
    def n(self) -> int:
        """The number of parameters."""
        return int(self.theta.size)


def flatten(params: Any) -> tuple[jax.Array, Callable[[jax.Array], Any]]:
    """Concatenates a pytree of arrays into one vector; returns it and the inverse map.

    Like `jax.flatten_util.ravel_pytree`, but the inverse uses only static slices and
    reshapes, which every engine differentiates.

    Args:
      params: a pytree of arrays of one dtype.

    Returns:
      `(theta, unflatten)` with `unflatten(theta)` equal to `params`.
    """
    leaves, tree = jax.tree.flatten(params)
    shapes = [leaf.shape for leaf in leaves]
    starts = [0, *itertools.accumulate(math.prod(s) for s in shapes)]
    # Concatenated in NumPy: eager JAX ops would compile one program per shape.
    theta = jnp.asarray(np.concatenate([np.asarray(leaf).ravel() for leaf in leaves]))

    def unflatten(t: jax.Array) -> Any:
        pieces = [
            t[a:b].reshape(s) for a, b, s in zip(starts[:-1], starts[1:], shapes, strict=True)
        ]
        return jax.tree.unflatten(tree, pieces)

    return theta, unflatten


def rosenbrock(dim: int, key: jax.Array, dtype: Any = jnp.float32) -> Loss:
    """sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2, at a random point (normal, scaled by 0.5).

    Args:
      dim: n, at least 2.
      key: a `jax.random` key.
      dtype: the parameters' dtype.

    Returns:
      The `Loss`.
    """
    if dim < 2:
        raise ValueError(f"rosenbrock needs dim >= 2, got {dim}")

    def fun(x: jax.Array) -> jax.Array:
        return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    return Loss(fun, 0.5 * jax.random.normal(key, (dim,), dtype))


def mlp(
    width: int,
    key: jax.Array,
    dtype: Any = jnp.float32,
    batch: int = 128,
    depth: int = 3,
    classes: int = 10,
) -> Loss:
    """Cross-entropy of a tanh MLP: inputs of size `width`, `depth` dense layers, `classes` logits.

    Args:
      width: the input and hidden width.
      key: a `jax.random` key (weights, inputs and labels).
      dtype: the parameters' dtype.
      batch: the number of examples.
      depth: the number of dense layers (weights and biases), the last one to the logits.
      classes: the number of classes.

    Returns:
      The `Loss`; theta holds every weight and bias.
    """
    fun, theta, x, one_hot = mlp_with_data(width, key, dtype, batch, depth, classes)
    return Loss(lambda t: fun(t, x, one_hot), theta)


def mlp_with_data(
    width: int,
    key: jax.Array,
    dtype: Any = jnp.float32,
    batch: int = 128,
    depth: int = 3,
    classes: int = 10,
) -> tuple[Callable[[jax.Array, jax.Array, jax.Array], jax.Array], jax.Array, jax.Array, jax.Array]:
    """The loss of `mlp` with the data as arguments: `fun(theta, x, one_hot)`.

    A data-parallel program shards x and one_hot along the batch and replicates theta.

    Args:
      width, key, dtype, batch, depth, classes: as for `mlp`.

    Returns:
      `(fun, theta, x, one_hot)`: x has shape (batch, width), one_hot (batch, classes).
    """
    dims = [width] * depth + [classes]
    shapes = [(dims[i], dims[i + 1]) for i in range(depth)]
    *weights, x, scores = normal_arrays(key, [*shapes, (batch, width), (batch, classes)], dtype)
    params = [(w / dims[i] ** 0.5, np.zeros(dims[i + 1], dtype)) for i, w in enumerate(weights)]
    labels = np.argmax(scores, axis=-1)  # uniform over the classes
    one_hot = jnp.asarray(np.eye(classes, dtype=dtype)[labels])
    x = jnp.asarray(x)
    theta, unflatten = flatten(params)

    def fun(theta: jax.Array, x: jax.Array, one_hot: jax.Array) -> jax.Array:
        h = x
        layers = unflatten(theta)
        for i, (w, b) in enumerate(layers):
            h = h @ w + b
            if i < len(layers) - 1:
                h = jnp.tanh(h)
        return -jnp.mean(jnp.sum(one_hot * jax.nn.log_softmax(h), axis=-1))

    return fun, theta, x, one_hot


def transformer(
    d_model: int,
    seq: int,
    key: jax.Array,
    dtype: Any = jnp.float32,
    batch: int = 4,
    heads: int = 4,
) -> Loss:
    """Mean-squared error of one pre-norm transformer block against random targets.

    x + attention(layer_norm(x)), then + MLP(layer_norm(.)) with a GELU (tanh form) hidden
    layer of width 4 d_model.

    Args:
      d_model: the model width (a multiple of `heads`).
      seq: the sequence length.
      key: a `jax.random` key (weights, inputs and targets).
      dtype: the parameters' dtype.
      batch: the number of sequences.
      heads: the number of attention heads.

    Returns:
      The `Loss`; theta holds every weight, bias and layer-norm scale.
    """
    if d_model % heads:
        raise ValueError(f"d_model={d_model} must be a multiple of heads={heads}")
    d, hidden, head = d_model, 4 * d_model, d_model // heads
    k = jax.random.split(key, 6)

    def dense(key: jax.Array, n_in: int, n_out: int) -> jax.Array:
        return jax.random.normal(key, (n_in, n_out), dtype) / n_in**0.5

    params = {
        "qkv": dense(k[0], d, 3 * d),
        "out": dense(k[1], d, d),
        "w1": dense(k[2], d, hidden),
        "b1": jnp.zeros(hidden, dtype),
        "w2": dense(k[3], hidden, d),
        "b2": jnp.zeros(d, dtype),
        "norm1": (jnp.ones(d, dtype), jnp.zeros(d, dtype)),
        "norm2": (jnp.ones(d, dtype), jnp.zeros(d, dtype)),
    }
    x = jax.random.normal(k[4], (batch, seq, d), dtype)
    target = jax.random.normal(k[5], (batch, seq, d), dtype)
    theta, unflatten = flatten(params)

    def layer_norm(h: jax.Array, scale_shift: tuple[jax.Array, jax.Array]) -> jax.Array:
        scale, shift = scale_shift
        mean = jnp.mean(h, axis=-1, keepdims=True)
        var = jnp.mean((h - mean) ** 2, axis=-1, keepdims=True)
        return (h - mean) * jax.lax.rsqrt(var + 1e-5) * scale + shift

    def split_heads(h: jax.Array) -> jax.Array:  # (batch, seq, d) -> (batch, heads, seq, head)
        return h.reshape(batch, seq, heads, head).transpose(0, 2, 1, 3)

    def fun(theta: jax.Array) -> jax.Array:
        p = unflatten(theta)
        qkv = layer_norm(x, p["norm1"]) @ p["qkv"]
        q, k_, v = (split_heads(qkv[..., i * d : (i + 1) * d]) for i in range(3))
        weights = jax.nn.softmax(q @ k_.transpose(0, 1, 3, 2) / head**0.5, axis=-1)
        attended = (weights @ v).transpose(0, 2, 1, 3).reshape(batch, seq, d)
        h = x + attended @ p["out"]
        h = h + jax.nn.gelu(layer_norm(h, p["norm2"]) @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]
        return jnp.mean((h - target) ** 2)

    return Loss(fun, theta)


def normal_arrays(key: jax.Array, shapes: list[tuple[int, ...]], dtype: Any) -> list[np.ndarray]:
    """Standard normal NumPy arrays of the given shapes, from one draw of `jax.random.normal`.

    Models are built in NumPy from one draw: each eager JAX operation would compile a program
    for its shape, which for the many small shapes of a size sweep costs more than the
    measurements. Convert with `jnp.asarray` what the model closes over.

    Args:
      key: a `jax.random` key.
      shapes: the arrays' shapes.
      dtype: their dtype.

    Returns:
      The arrays, in the order of `shapes`.
    """
    sizes = [math.prod(shape) for shape in shapes]
    flat = np.asarray(jax.random.normal(key, (sum(sizes),), dtype))
    starts = [0, *itertools.accumulate(sizes)]
    return [
        flat[a:b].reshape(shape)
        for a, b, shape in zip(starts[:-1], starts[1:], shapes, strict=True)
    ]


def mlp_map(
    n: int, m: int, hidden: int, key: jax.Array, dtype: Any = jnp.float32
) -> tuple[Callable[[jax.Array], jax.Array], jax.Array]:
    """A one-hidden-layer tanh MLP as a map from R^n to R^m: x -> W2 tanh(W1 x + b1) + b2.

    Its Jacobian costs about 2 hidden n (n + m) FLOPs by forward mode (n tangents) and
    2 hidden m (n + m) by reverse mode (m cotangents): the FLOP model says they cross at n = m.
    The weights are scaled by 1/sqrt(fan-in), the biases by 0.1.

    Args:
      n: the input size.
      m: the output size.
      hidden: the hidden width.
      key: a `jax.random` key (weights, biases and the input point).
      dtype: the dtype of the weights and the point.

    Returns:
      `(f, x)`: the map, closing over its weights, and a point x of shape (n,).
    """
    w1, b1, w2, b2, x = normal_arrays(key, [(hidden, n), (hidden,), (m, hidden), (m,), (n,)], dtype)
    w1, w2 = jnp.asarray(w1 / n**0.5), jnp.asarray(w2 / hidden**0.5)
    b1, b2, x = jnp.asarray(0.1 * b1), jnp.asarray(0.1 * b2), jnp.asarray(x)

    def f(x: jax.Array) -> jax.Array:
        return w2 @ jnp.tanh(w1 @ x + b1) + b2

    return f, x


def dense_chain(
    widths: list[int], key: jax.Array, dtype: Any = jnp.float32
) -> tuple[list[Callable[[jax.Array], jax.Array]], jax.Array]:
    """The layers of a chain of dense tanh layers, x -> tanh(W_i x + b_i), of the given widths.

    The weights are scaled by 1/sqrt(fan-in), the biases by 0.1.

    Args:
      widths: n_0, ..., n_L: layer i maps R^{n_{i-1}} to R^{n_i}.
      key: a `jax.random` key (weights, biases and the input point).
      dtype: the dtype of the weights and the point.

    Returns:
      `(layers, x)`: the L layers, each closing over its weights, and a point x of shape (n_0,).
    """
    if len(widths) < 2:
        raise ValueError(f"a chain needs at least two widths (one layer), got {widths}")
    shapes = [(widths[0],)]
    for a, b in zip(widths[:-1], widths[1:], strict=True):
        shapes += [(b, a), (b,)]
    x, *weights = normal_arrays(key, shapes, dtype)

    def layer(w: jax.Array, b: jax.Array) -> Callable[[jax.Array], jax.Array]:
        return lambda x: jnp.tanh(w @ x + b)

    layers = [
        layer(jnp.asarray(w / a**0.5), jnp.asarray(0.1 * b))
        for w, b, a in zip(weights[0::2], weights[1::2], widths[:-1], strict=True)
    ]
    return layers, jnp.asarray(x)


def cnn(
    size: int,
    key: jax.Array,
    dtype: Any = jnp.float32,
    batch: int = 16,
    channels: tuple[int, ...] = (3, 8, 16),
    classes: int = 10,
) -> Loss:
    """Cross-entropy of a small CNN on size x size images, with integer labels.

    Two 3x3 convolutions (NHWC, "SAME"), each followed by relu and 2x2 average pooling, then
    2x2 max pooling, a dense layer to the logits, and the mean negative log-likelihood of
    the labels, read with `jnp.take_along_axis`.

    Args:
      size: the images' height and width (a multiple of 8).
      key: a `jax.random` key (weights, images and labels).
      dtype: the parameters' dtype.
      batch: the number of images.
      channels: the input channels, then each convolution's output channels.
      classes: the number of classes.

    Returns:
      The `Loss`; theta holds every kernel, bias and the dense weights.
    """
    if size % 8:
        raise ValueError(f"size must be a multiple of 8, got {size}")
    convs = list(zip(channels[:-1], channels[1:]))
    side = size // 2 ** (len(convs) + 1)
    shapes = [(3, 3, a, b) for a, b in convs]
    shapes += [(side * side * channels[-1], classes), (batch, size, size, channels[0])]
    shapes += [(batch, classes)]
    *kernels, dense, images, scores = normal_arrays(key, shapes, dtype)
    params = {
        "convs": [
            (k / (3 * a**0.5), np.full((b,), 0.05, dtype)) for k, (a, b) in zip(kernels, convs)
        ],
        "dense": dense / (side * channels[-1]),
    }
    images = jnp.asarray(images)
    labels = jnp.asarray(np.argmax(scores, axis=-1).astype(np.int32))
    theta, unflatten = flatten(params)

    def fun(theta: jax.Array) -> jax.Array:
        p = unflatten(theta)
        h = images
        for w, b in p["convs"]:
            h = jax.lax.conv_general_dilated(
                h, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
            )
            h = jax.nn.relu(h + b)
            h = jax.lax.reduce_window(h, 0.0, jax.lax.add, (1, 2, 2, 1), (1, 2, 2, 1), "VALID") / 4
        h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
        log_p = jax.nn.log_softmax(h.reshape(h.shape[0], -1) @ p["dense"])
        return -jnp.mean(jnp.take_along_axis(log_p, labels[:, None], axis=1))

    return Loss(fun, theta)


def rnn(
    kind: str,
    steps: int,
    key: jax.Array,
    dtype: Any = jnp.float32,
    hidden: int = 32,
    inputs: int = 8,
    batch: int = 16,
) -> Loss:
    """A recurrent network run over a sequence with `lax.scan`, and a squared loss.

    `kind` is "elman" (h = tanh(W h + U x + b)) or "lstm" (the four gates of one matrix
    product); the loss is the mean square of every step's hidden state.

    Args:
      kind: "elman" or "lstm".
      steps: the sequence length (the scan's length).
      key: a `jax.random` key (weights and inputs).
      dtype: the parameters' dtype.
      hidden: the hidden state's size.
      inputs: each step's input size.
      batch: the number of sequences.

    Returns:
      The `Loss`; theta holds W, U and b.
    """
    if kind not in ("elman", "lstm"):
        raise ValueError(f"kind must be 'elman' or 'lstm', got {kind!r}")
    gates = 4 if kind == "lstm" else 1
    w, u, xs = normal_arrays(
        key, [(hidden, gates * hidden), (inputs, gates * hidden), (steps, batch, inputs)], dtype
    )
    params = {"W": w / hidden**0.5, "U": u / inputs**0.5, "b": np.zeros(gates * hidden, dtype)}
    theta, unflatten = flatten(params)
    xs = jnp.asarray(xs)

    def elman(p, h, x):
        h = jnp.tanh(h @ p["W"] + x @ p["U"] + p["b"])
        return h, h

    def lstm(p, carry, x):
        h, c = carry
        i, f, o, g = jnp.split(h @ p["W"] + x @ p["U"] + p["b"], 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return (h, c), h

    def fun(theta: jax.Array) -> jax.Array:
        p = unflatten(theta)
        h = jnp.zeros((batch, hidden), theta.dtype)
        step, init = (elman, h) if kind == "elman" else (lstm, (h, h))
        _, hs = jax.lax.scan(lambda carry, x: step(p, carry, x), init, xs)
        return jnp.mean(hs**2)

    return Loss(fun, theta)
