"""Fixtures: an isolated federate home, a fresh embedded registry, plugin-host resets.

``federate_home`` points FEDERATE_HOME at a temporary directory and clears every
process-wide cache federate keeps (opened registries, the plugin host, the session
registry URI), so each test starts as a new process would.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

#: Fixture modules of the kit; each store's fixtures live in a module of their own.
pytest_plugins = [
    "federate.testing.stores",
    "federate.testing.faults",
    "federate.testing.http",
    "federate.testing.s3",
    "federate.testing.presigned",
    "federate.testing.azure",
    "federate.testing.gcs",
    "federate.testing.webhooks",
    "federate.testing.uc_workspace",
    "federate.testing.mlflow_server",
    "federate.testing.server",
]

_ENV = (
    "FEDERATE_REGISTRY_URI",
    "FEDERATE_PROFILE",
    "FEDERATE_ARTIFACT_ROOT",
    "FEDERATE_PLUGINS",
    "FEDERATE_DISABLE_PLUGINS",
    "FEDERATE_MAX_WORKERS",
    "FEDERATE_CHUNK_SIZE",
    "FEDERATE_MULTIPART_THRESHOLD",
    "FEDERATE_MAX_ATTEMPTS",
    "FEDERATE_RETRY_BACKOFF",
    "FEDERATE_HTTP_TIMEOUT",
    "FEDERATE_OFFLINE",
)


def reset_federate_state() -> None:
    """Forget opened registries, loaded plugins and the session registry URI."""
    from federate.api import clear_registry_cache
    from federate.config import set_registry_uri
    from federate.plugins.manager import reset_plugin_host

    clear_registry_cache()
    reset_plugin_host()
    set_registry_uri(None)


@pytest.fixture
def federate_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh ``$FEDERATE_HOME`` (and cwd without a federate.toml); yields its path."""
    home = tmp_path / "federate-home"
    home.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("FEDERATE_HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(work)
    reset_federate_state()
    yield home
    reset_federate_state()


@pytest.fixture
def sqlite_registry(federate_home: Path):  # type: ignore[no-untyped-def]
    """The embedded default registry (SQLite under ``federate_home``), freshly created."""
    import federate

    return federate.get_registry()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Drop the server databases the run created (:mod:`federate.testing.databases`), if
    it used any: a test may call ``fresh_database_uri`` without its conftest's hook."""
    databases = sys.modules.get("federate.testing.databases")
    if databases is not None:
        databases.drop_run_databases()
