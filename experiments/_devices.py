"""Data parallelism on many devices: the MLP's gradient and HVP with the batch sharded by XLA.

For each device count d, the batch of `_models.mlp_with_data` is sharded over a one-axis mesh
of d devices (`jax.sharding.Mesh` and `NamedSharding(mesh, P("batch"))`), the parameters are
replicated, and the jitted gradient and Hessian-vector product (fwd-over-rev) of each engine
run under XLA's SPMD partitioner. Nothing here shards by hand: XLA splits the program and
inserts the communication, the all-reduce that sums the per-device gradients.

Each result is compared with the same program on one device, unsharded, and the compiled HLO
is searched for the collectives XLA inserted.

JAX fixes its device count when it starts, so this runs in a subprocess of its own, with
`XLA_FLAGS=--xla_force_host_platform_device_count=D` simulating D CPU devices:

    python -m experiments._devices --devices 1 2 4 8 --width 64 --batch 128

prints one JSON object. `run(...)` starts that subprocess and returns the object.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

COLLECTIVES = ("all-reduce", "all-gather", "reduce-scatter", "all-to-all", "collective-permute")


def run(
    devices: Sequence[int],
    width: int,
    batch: int,
    dtype: str = "float32",
    seed: int = 0,
    repeats: int = 5,
    timeout: float = 300,
) -> dict[str, Any]:
    """Runs the check in a subprocess with max(devices) simulated CPU devices.

    Args:
      devices: the device counts, each dividing `batch`.
      width: the MLP's width (`_models.mlp_with_data`).
      batch: the number of examples, sharded along the mesh.
      dtype: "float32" or "float64".
      seed: the `jax.random` seed.
      repeats: timed calls per program (reported, not compared: simulated devices share the
        same cores).
      timeout: seconds before the subprocess is stopped.

    Returns:
      The subprocess's JSON object (see `check`).

    Raises:
      RuntimeError: the subprocess failed; the message holds its stderr.
    """
    env = {
        **os.environ,
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={max(devices)}",
        "JAX_PLATFORMS": "cpu",
    }
    cmd = [
        sys.executable, "-m", "experiments._devices", "--devices", *map(str, devices),
        "--width", str(width), "--batch", str(batch), "--dtype", dtype, "--seed", str(seed),
        "--repeats", str(repeats),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"the many-devices check failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def collectives(hlo: str) -> dict[str, dict[str, int]]:
    """The collective operations in a compiled HLO text: how many of each, and their elements.

    An asynchronous collective appears as a `-start`/`-done` pair and counts once.

    Returns:
      op -> {"count": ..., "elements": the number of array elements it communicates}.
    """
    counts = {}
    for op in COLLECTIVES:
        # An instruction reads "%name = f32[3]{0} all-reduce(%operand), ..."; its result type
        # may be a tuple, "(f32[3]{0}, /*index=1*/f32[4,2]{1,0})".
        pattern = rf"^\s*(?:ROOT )?%\S+ = (.*?)\s{op}(?:-start)?\("
        shapes = re.findall(pattern, hlo, flags=re.MULTILINE)
        elements = 0
        for shape in shapes:
            for dims in re.findall(r"[a-z]+\d*\[([\d,]*)\]", shape):
                elements += math.prod(int(d) for d in dims.split(",") if d)
        counts[op] = {"count": len(shapes), "elements": elements}
    return counts


def check(
    devices: Sequence[int], width: int, batch: int, dtype: str, seed: int, repeats: int
) -> dict[str, Any]:
    """The check itself, in a process whose JAX sees at least max(devices) devices.

    Returns:
      {"device_count", "platform", "device_kind", "n", "batch", "width", "dtype", "runs": [...]}
      with one run per (devices, engine, method): its collectives, its largest difference from
      the same engine's single-device result and from JAX's, each relative to that result's
      largest entry, and its median time.
    """
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    import adlab
    from experiments import _models

    if dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    available = jax.devices()
    if len(available) < max(devices):
        raise SystemExit(
            f"{max(devices)} devices asked for, JAX sees {len(available)}: set "
            f"XLA_FLAGS=--xla_force_host_platform_device_count={max(devices)} before JAX starts"
        )
    for d in devices:
        if batch % d:
            raise SystemExit(f"the batch ({batch}) must divide evenly over {d} devices")
    key = jax.random.key(seed)
    fun, theta, x, one_hot = _models.mlp_with_data(width, key, jnp.dtype(dtype), batch=batch)
    (v,) = _models.normal_arrays(jax.random.fold_in(key, 1), [theta.shape], theta.dtype)
    engines = {"adlab": adlab, "jax": adlab.reference}

    def programs(impl: Any) -> dict[str, Any]:
        def hvp(t: jax.Array, u: jax.Array, xs: jax.Array, ys: jax.Array) -> jax.Array:
            return impl.hvp(lambda p: fun(p, xs, ys), (t,), (u,), "fwd-over-rev")[0]

        return {"grad": impl.grad(fun), "hvp": hvp}

    args = {"grad": (theta, x, one_hot), "hvp": (theta, v, x, one_hot)}
    # The reference: each program on one device, its inputs unsharded.
    single = {
        (e, m): np.asarray(jax.jit(p)(*args[m]))
        for e, impl in engines.items()
        for m, p in programs(impl).items()
    }
    runs = []
    for d in devices:
        mesh = Mesh(np.array(available[:d]), ("batch",))
        batched = NamedSharding(mesh, P("batch"))
        replicated = NamedSharding(mesh, P())
        xs, ys = jax.device_put(x, batched), jax.device_put(one_hot, batched)
        t, u = jax.device_put(theta, replicated), jax.device_put(v, replicated)
        placed = {"grad": (t, xs, ys), "hvp": (t, u, xs, ys)}
        for engine, impl in engines.items():
            for method, program in programs(impl).items():
                compiled = jax.jit(program).lower(*placed[method]).compile()
                out = jax.block_until_ready(compiled(*placed[method]))
                times = []
                for _ in range(repeats):
                    start = time.perf_counter()
                    jax.block_until_ready(compiled(*placed[method]))
                    times.append(time.perf_counter() - start)
                got = np.asarray(out)
                runs.append(
                    {
                        "devices": d,
                        "engine": engine,
                        "method": method,
                        "collectives": collectives(compiled.as_text()),
                        "max_rel_error": _rel_error(got, single[engine, method]),
                        "max_rel_error_vs_jax": _rel_error(got, single["jax", method]),
                        "out_shards": len(out.sharding.device_set),
                        "median_s": float(np.median(times)),
                    }
                )
    return {
        "device_count": len(available),
        "platform": available[0].platform,
        "device_kind": available[0].device_kind,
        "n": int(theta.size),
        "batch": batch,
        "width": width,
        "dtype": dtype,
        "eps": float(jnp.finfo(jnp.dtype(dtype)).eps),
        "runs": runs,
    }


def _rel_error(got: Any, want: Any) -> float:
    """The largest |got - want|, relative to the largest |want|."""
    import numpy as np

    return float(np.max(np.abs(got - want)) / max(float(np.max(np.abs(want))), 1e-300))


def main(argv: list[str] | None = None) -> int:
    """Parses the command line, runs `check` and prints its JSON on one line."""
    p = argparse.ArgumentParser(prog="python -m experiments._devices", description=__doc__)
    p.add_argument("--devices", type=int, nargs="+", required=True)
    p.add_argument("--width", type=int, required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args(argv)
    result = check(a.devices, a.width, a.batch, a.dtype, a.seed, a.repeats)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
