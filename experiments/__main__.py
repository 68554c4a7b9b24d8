"""The experiment runner.

    python -m experiments [NAME ...|all] [--quick] [--out DIR] [--device cpu|gpu|tpu] [--list]

Each named experiment runs (resuming from its JSON if one with the same parameters exists),
writes `<out>/<name>.json`, then plots it to `<out>/<name>.png`.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import experiments

DEVICES = ("cpu", "gpu", "tpu")


def main(argv: list[str] | None = None) -> int:
    """Parses the command line and runs the experiments.

    Args:
      argv: the arguments (default: sys.argv[1:]).

    Returns:
      The process exit status.
    """
    args = _parser().parse_args(argv)
    names = experiments.available()
    if args.list:
        for name in names:
            doc = (experiments.load(name).__doc__ or "").strip().splitlines()
            print(f"{name:24s} {doc[0] if doc else ''}")
        return 0
    if not args.names:
        _parser().error(f"name experiments to run, or 'all'; available: {', '.join(names)}")
    chosen = names if "all" in args.names else args.names
    unknown = [n for n in chosen if n not in names]
    if unknown:
        _parser().error(
            f"unknown experiment(s) {', '.join(unknown)}; available: {', '.join(names)}"
        )
    _select_device(args.device)
    out = pathlib.Path(args.out)
    for name in chosen:
        module = experiments.load(name)
        start = time.perf_counter()
        json_path = module.run(out, quick=args.quick)
        png_path = out / f"{name}.png"
        module.plot(json_path, png_path)
        elapsed = time.perf_counter() - start
        print(f"{name}: wrote {json_path} and {png_path} in {elapsed:.1f} s", flush=True)
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m experiments", description=__doc__.split("\n")[1])
    p.add_argument("names", nargs="*", metavar="NAME", help="experiments to run, or 'all'")
    p.add_argument("--quick", action="store_true", help="small sizes (seconds per experiment)")
    p.add_argument("--out", default="figures", help="output folder (default: figures/)")
    p.add_argument("--device", choices=DEVICES, help="run on this JAX backend (default: JAX's)")
    p.add_argument("--list", action="store_true", help="list the experiments and exit")
    return p


def _select_device(device: str | None) -> None:
    """Makes `device` JAX's only backend, or exits with a clear message if JAX cannot see it."""
    if device is None:
        return
    import jax

    jax.config.update("jax_platforms", device)
    try:
        backend = jax.default_backend()
    except RuntimeError as err:
        raise SystemExit(
            f"--device {device}: JAX sees no {device.upper()} on this machine. Install a jax "
            f"build for that accelerator (jax {jax.__version__} is installed), or leave out "
            f"--device.\nJAX said: {err}"
        ) from None
    if backend != device:  # backends were initialised before the flag could take effect
        raise SystemExit(f"--device {device}: JAX is already running on {backend!r}")


if __name__ == "__main__":
    sys.exit(main())
