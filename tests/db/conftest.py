"""Every test here runs once per database of :mod:`federate.testing.databases`."""

from __future__ import annotations

from pathlib import Path

import pytest

from federate.registry.sql.db import dispose_engines
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
def database_uri(database: Database, tmp_path: Path):  # type: ignore[no-untyped-def]
    """An empty database on ``database`` (no schema yet); engines are forgotten after."""
    dispose_engines()
    yield fresh_database_uri(database, tmp_path)
    dispose_engines()
