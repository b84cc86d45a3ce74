"""A fresh SQL registry per test, on every database that answers
(see :mod:`federate.testing.databases`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from federate.config import RegistryConfig
from federate.registry.sql.db import dispose_engines
from federate.registry.sql.store import SqlRegistry
from federate.testing.databases import (
    Database,
    database_params,
    drop_all_federate_tables,
    fresh_database_uri,
)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    drop_all_federate_tables()


@pytest.fixture(params=database_params())
def database(request: pytest.FixtureRequest) -> Database:
    return request.param


@pytest.fixture
def registry(database: Database, tmp_path: Path) -> Iterator[SqlRegistry]:
    """An empty SqlRegistry on ``database``, at the current schema head."""
    uri = fresh_database_uri(database, tmp_path)
    registry = SqlRegistry(RegistryConfig(uri=uri, artifact_root=str(tmp_path / "artifacts")))
    yield registry
    dispose_engines()
