"""Merges results files of one experiment measured on different backends, and redraws the figure.

    python -m experiments.merge figures/scaling.json gpu/scaling.json

A GPU (or TPU) run made on another machine comes back as a file of its own. This writes every
run of the given files, side by side, into the first one (or into `--out`), atomically, then
redraws that experiment's figure beside it. The first file's run stays the current one; the
others are kept under "other_backends". The files must be of the same experiment with the same
parameters, and no two may hold a run on the same backend.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import experiments
from experiments import _common


def main(argv: list[str] | None = None) -> int:
    """Parses the command line, merges the files and redraws the figure.

    Args:
      argv: the arguments (default: sys.argv[1:]).

    Returns:
      The process exit status.
    """
    p = argparse.ArgumentParser(
        prog="python -m experiments.merge",
        description=__doc__.split("\n\n", 2)[2].strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("files", nargs="+", type=pathlib.Path, metavar="JSON")
    p.add_argument(
        "--out", type=pathlib.Path, help="where the merged JSON goes (default: the first)"
    )
    args = p.parse_args(argv)
    try:
        merged = _common.merge_runs([_common.read_json(f) for f in args.files])
    except (OSError, ValueError) as e:
        p.error(str(e))
    out = args.out or args.files[0]
    _common.write_json(out, merged)
    png = out.with_suffix(".png")
    experiments.load(merged["experiment"]).plot(out, png)
    backends = ", ".join(_common.backend_runs(merged))
    print(f"wrote {out} ({backends}) and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
