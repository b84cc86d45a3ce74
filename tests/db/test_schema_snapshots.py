"""The schema federate's migrations create, per dialect, is the one checked in."""

from __future__ import annotations

import difflib

import pytest
from schema_snapshot import dialect_of, migrated_schema, snapshot_path

from federate.registry.sql.engines import display_url


def test_migrated_schema_matches_the_snapshot(database_uri, database):
    actual = migrated_schema(database_uri)
    path = snapshot_path(dialect_of(database_uri))
    expected = path.read_text() if path.is_file() else ""
    if actual != expected:
        target = "" if database.id == "sqlite" else f" {display_url(database_uri)}"
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile=str(path.name),
                tofile="migrated to head",
            )
        )
        pytest.fail(
            f"The {database.id} schema differs from tests/db/schemas/{path.name}. If the "
            f"change is intended (a new migration), regenerate the snapshot with:\n\n"
            f"    python tests/db/schema_snapshot.py{target}\n\n"
            f"(on a test database: it is emptied first) and commit it.\n\n{diff}",
            pytrace=False,
        )
