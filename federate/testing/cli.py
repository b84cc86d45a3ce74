"""Run federate as a user would: a fresh process, plugin packages pip-installed for real.

A plugin is found through its package's entry points, so a test of discovery needs the
package installed. :func:`pip_install` installs into a directory of its own (nothing
touches the test environment); :func:`run_federate` runs the ``federate`` command with
those directories on ``PYTHONPATH``, ahead of the federate the tests import.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import federate

#: The directory holding the ``federate`` package the tests import, so subprocesses run
#: the same code even when another copy is installed in site-packages.
FEDERATE_SOURCE_ROOT = Path(federate.__file__).resolve().parents[1]


def pip_install(target: str | os.PathLike[str], *packages: str | os.PathLike[str]) -> Path:
    """``pip install --target`` each package (a source directory or wheel); returns target.

    Uses no network: dependencies are not installed (federate is already importable) and
    the build backend comes from the running environment (``hatchling`` is in ``dev``).
    """
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            *map(str, packages),
        ],
        check=True,
        env={**os.environ, "PIP_ROOT_USER_ACTION": "ignore"},
    )
    return Path(target)


def python_path(sites: Iterable[str | os.PathLike[str]] = (), base: str | None = None) -> str:
    """``PYTHONPATH`` putting ``sites`` first, then this federate, then ``base``."""
    entries = [*map(str, sites), str(FEDERATE_SOURCE_ROOT)]
    if base:
        entries.append(base)
    return os.pathsep.join(entries)


def run_federate(
    *args: str,
    sites: Iterable[str | os.PathLike[str]] = (),
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """``federate ARGS`` in a subprocess with plugin ``sites`` importable; never raises on
    a non-zero exit, so tests can assert on the error a user would see."""
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = python_path(sites, full_env.get("PYTHONPATH"))
    return subprocess.run(
        [sys.executable, "-m", "federate", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
    )
