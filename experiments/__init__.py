"""adlab experiments: one module per experiment, run with `python -m experiments NAME`.

See `experiments/_common.py` for the contract every experiment module follows.
"""

from __future__ import annotations

import importlib
import pkgutil
import types

__all__ = ["available", "load"]


# Modules of this package that are tools, not experiments.
TOOLS = frozenset({"merge", "readme"})


def available() -> list[str]:
    """Returns the names of all experiments (modules in this package not starting with "_",
    apart from the tools: ``readme`` regenerates the README's generated sections, ``merge``
    joins results files measured on different backends).

    Returns:
      The sorted experiment names.
    """
    names = (m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    return sorted(n for n in names if n not in TOOLS)


def load(name: str) -> types.ModuleType:
    """Imports one experiment module and checks that it follows the contract.

    Args:
      name: the experiment name, e.g. "backprop_flops".

    Returns:
      The module.

    Raises:
      KeyError: if there is no such experiment.
      TypeError: if the module lacks `run`, `plot`, `DEFAULT` or `QUICK`.
    """
    names = available()
    if name not in names:
        raise KeyError(f"no experiment named {name!r}; available: {', '.join(names)}")
    module = importlib.import_module(f"{__name__}.{name}")
    missing = [a for a in ("run", "plot", "DEFAULT", "QUICK") if not hasattr(module, a)]
    if missing:
        raise TypeError(f"experiment {name!r} lacks {', '.join(missing)} (see _common.py)")
    return module
