"""Lets federate's own test run collect the example plugins' tests.

Each example's tests expect its package to be installed, as after ``pip install -e .``
in its folder or CI's ``pip install ./examples/plugins/...``. When an example is not
installed in this environment, it is pip-installed into a temporary directory that is
put on ``sys.path`` (for this process) and ``PYTHONPATH`` (for the subprocesses tests
start), so ``python -m pytest`` at the top of a fresh checkout needs nothing else.

This file is not part of the examples: running ``pytest`` inside an example's folder
never reads it.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path

import pytest

HERE = Path(__file__).parent
#: entry-point name -> the example's folder
EXAMPLES = {"zip": HERE / "federate-zip", "index": HERE / "federate-index"}

_installed_into: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    present = {ep.name for ep in metadata.entry_points(group="federate")}
    missing = [folder for name, folder in EXAMPLES.items() if name not in present]
    if not missing:
        return
    from federate.testing.cli import pip_install

    target = tempfile.mkdtemp(prefix="federate-examples-")
    pip_install(target, *missing)
    _installed_into.append(target)
    sys.path.insert(0, target)
    importlib.invalidate_caches()
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [target, os.environ.get("PYTHONPATH")]))


def pytest_unconfigure(config: pytest.Config) -> None:
    for target in _installed_into:
        shutil.rmtree(target, ignore_errors=True)
