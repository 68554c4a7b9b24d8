"""adlab warns, once, at import, when the installed JAX is outside the range it is tested on."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from adlab import _compat

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_the_tested_range_is_the_one_pyproject_requires():
    deps = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    (jax,) = [d for d in deps if d.startswith("jax>")]
    low, high = re.fullmatch(r"jax>=([\d.]+),<([\d.]+)", jax).groups()
    required = tuple(tuple(int(p) for p in v.split(".")) for v in (low, high))
    assert required == _compat.TESTED_JAX


@pytest.mark.parametrize("version", ["0.10.2", "0.11.2", "0.12.0.1", "0.12.1"])
def test_a_tested_jax_gets_no_warning(version):
    assert _compat.untested_jax(version) is None


@pytest.mark.parametrize("version", ["0.9.0", "0.10.1", "0.13.0", "0.13.0.dev20261201", "1.0.0"])
def test_an_untested_jax_is_named_with_the_range(version):
    message = _compat.untested_jax(version)
    assert f"JAX {version} is installed" in message and "0.10.2" in message and "0.13" in message


def test_import_warns_once_on_an_untested_jax():
    code = (
        "import warnings, jax; jax.__version__ = '0.13.0'\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    import adlab, adlab.reverse\n"
        "print(sum('tested with JAX' in str(w.message) for w in caught))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"
