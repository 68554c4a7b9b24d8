"""Runs adlab's experiments and draws their figures.

    python -m experiments [NAME ...|all] [--quick|--full] [--out DIR] [--fresh|--resume]
                          [--device cpu|gpu|tpu] [--list]

Each named experiment measures on this machine, writes `<out>/<name>.json`, then plots it
to `<out>/<name>.png`; then `<out>/RESULTS.md` gathers the results of every experiment in
`<out>`. A run measures afresh unless an interrupted run of the same code on
the same machine left its JSON behind: then it resumes from the points already saved.
`--quick` runs small sizes in seconds and writes to a scratch folder, never into figures/.
`--full` runs the larger sizes of the experiments that have them (the others at their default
size) into build/full/, so that the committed figures stay those of the default run.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time
from typing import Any

import experiments
from experiments import _common, readme

DEVICES = ("cpu", "gpu", "tpu")
# The platform JAX is asked for (`jax_platforms`) and the backend name it then reports.
PLATFORMS = {"cpu": "cpu", "gpu": "cuda", "tpu": "tpu"}
FIGURES = _common.REPO_ROOT / "figures"
QUICK_OUT = _common.REPO_ROOT / "build" / "quick"
FULL_OUT = _common.REPO_ROOT / "build" / "full"


def main(argv: list[str] | None = None) -> int:
    """Parses the command line and runs the experiments.

    Args:
      argv: the arguments (default: sys.argv[1:]).

    Returns:
      The process exit status.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    names = experiments.available()
    if args.list:
        for name in names:
            doc = (experiments.load(name).__doc__ or "").strip().splitlines()
            print(f"{name:24s} {doc[0] if doc else ''}")
        return 0
    if not args.names:
        parser.error(f"name experiments to run, or 'all'; available: {', '.join(names)}")
    unknown = [n for n in args.names if n != "all" and n not in names]
    if unknown:
        parser.error(f"unknown experiment(s) {', '.join(unknown)}; available: {', '.join(names)}")
    chosen = names if "all" in args.names else list(dict.fromkeys(args.names))
    default_out = QUICK_OUT if args.quick else FULL_OUT if args.full else FIGURES
    out = pathlib.Path(args.out) if args.out else default_out
    if args.quick and out.resolve() == FIGURES.resolve():
        parser.error("--quick never writes into figures/: its results are not for citation")
    _select_device(args.device)
    _common.RESUME.policy = "never" if args.fresh else "always" if args.resume else "auto"
    lines = []
    for name in chosen:
        module = experiments.load(name)
        start = time.perf_counter()
        json_path = module.run(out, **_size(module, args))
        png_path = out / f"{name}.png"
        module.plot(json_path, png_path)
        elapsed = time.perf_counter() - start
        print(f"{name}: wrote {json_path} and {png_path} in {elapsed:.1f} s", flush=True)
        if hasattr(module, "headline"):
            lines.append(f"{name}: {module.headline(_common.read_json(json_path))}")
    results = readme.write_results(out, quick=args.quick)
    print(f"wrote {results}: the results in full")
    if lines:
        print("\nSummary" + (" (quick run: not for citation)" if args.quick else ""))
        print("\n".join(lines))
    return 0


def _size(module: Any, args: argparse.Namespace) -> dict[str, bool]:
    """The size arguments of `module.run`: quick, or full where the experiment has a FULL size."""
    if args.full and hasattr(module, "FULL"):
        return {"quick": False, "full": True}
    if args.full:
        print(f"{module.__name__.rsplit('.', 1)[-1]}: no full size; running the default size")
    return {"quick": args.quick}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m experiments",
        description=__doc__.split("\n\n", 2)[2].strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="experiments to run, or 'all'")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes (seconds per experiment)")
    size.add_argument(
        "--full", action="store_true", help="larger sizes, where an experiment has them (longer)"
    )
    p.add_argument(
        "--out",
        help=f"output folder (default: figures/, or {QUICK_OUT.relative_to(_common.REPO_ROOT)}/ "
        f"with --quick, {FULL_OUT.relative_to(_common.REPO_ROOT)}/ with --full)",
    )
    when = p.add_mutually_exclusive_group()
    when.add_argument("--fresh", action="store_true", help="measure every point afresh")
    when.add_argument(
        "--resume",
        action="store_true",
        help="keep the points of a saved run of the same code on this machine, even a "
        "finished one (then only the figure is redrawn)",
    )
    p.add_argument("--device", choices=DEVICES, help="run on this JAX backend (default: JAX's)")
    p.add_argument("--list", action="store_true", help="list the experiments and exit")
    return p


def _select_device(device: str | None) -> None:
    """Makes `device` JAX's only backend, or exits with a clear message if JAX cannot see it."""
    if device is None:
        return
    import jax

    jax.config.update("jax_platforms", PLATFORMS[device])
    try:
        backend = jax.default_backend()
    except (RuntimeError, AssertionError):  # JAX 0.10 asserts when no plugin provides it
        raise SystemExit(
            f"--device {device}: JAX sees no {device.upper()} on this machine. Install a jax "
            f"build for that accelerator (jax {jax.__version__} is installed), or leave out "
            "--device."
        ) from None
    if backend != device:  # backends were initialised before the flag could take effect
        raise SystemExit(f"--device {device}: JAX is already running on {backend!r}")


if __name__ == "__main__":
    sys.exit(main())
