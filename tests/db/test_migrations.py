"""Migrations: one head, the same schema as the ORM models, and no row lost on the way up.

Every test runs on each database of the harness. The upgrade test walks Alembic's own
revision history, so each migration added later is covered without touching this file.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from federate.config import RegistryConfig
from federate.registry.sql import db
from federate.registry.sql.engines import create_engine
from federate.registry.sql.models import Base
from federate.registry.sql.store import SqlRegistry

BIG_MS = 4_102_444_800_000  # 2100-01-01, past 32 bits

# What the first revision's tables hold before the upgrades: edge cases on purpose
# (case-different names, non-ASCII, NULLs, long text, odd tag keys, a prompt).
ROWS: dict[str, list[dict[str, object]]] = {
    "registered_models": [
        dict(
            id=1,
            name="churn",
            kind="model",
            description=None,
            creation_time=1,
            last_updated_time=BIG_MS,
            next_version=4,
        ),
        dict(
            id=2,
            name="Churn",
            kind="model",
            description="ünïcødé ✓\nline two",
            creation_time=2,
            last_updated_time=2,
            next_version=2,
        ),
        dict(
            id=3,
            name="greeting",
            kind="prompt",
            description=None,
            creation_time=3,
            last_updated_time=3,
            next_version=2,
        ),
    ],
    "model_versions": [
        dict(
            id=10,
            registered_model_id=1,
            version=1,
            creation_time=10,
            last_updated_time=10,
            current_stage="Archived",
            source="s3://b/churn/1",
            status="READY",
            storage_location="s3://b/churn/1",
            run_id="r1",
            user_id=None,
            description=None,
        ),
        dict(
            id=11,
            registered_model_id=1,
            version=3,
            creation_time=11,
            last_updated_time=11,
            current_stage="Production",
            source="s3://b/churn/3" + "x" * 5000,
            status="READY",
            storage_location=None,
            run_id=None,
            user_id="ada",
            description="gap at 2",
        ),
        dict(
            id=12,
            registered_model_id=2,
            version=1,
            creation_time=12,
            last_updated_time=12,
            current_stage="None",
            source="file:///tmp/Churn",
            status="PENDING_REGISTRATION",
            storage_location=None,
            run_id=None,
            user_id=None,
            description=None,
        ),
        dict(
            id=13,
            registered_model_id=3,
            version=1,
            creation_time=13,
            last_updated_time=13,
            current_stage="None",
            source=None,
            status="READY",
            storage_location=None,
            run_id=None,
            user_id=None,
            description=None,
        ),
    ],
    "registered_model_tags": [
        dict(registered_model_id=1, key="team", value="growth"),
        dict(registered_model_id=1, key="odd key/with:chars", value=None),
    ],
    "model_version_tags": [
        dict(model_version_id=10, key="Team", value="A"),
        dict(model_version_id=10, key="team", value="a"),
        dict(model_version_id=13, key="mlflow.prompt.is_prompt", value="true"),
    ],
    "registered_model_aliases": [
        dict(registered_model_id=1, alias="champion", model_version_id=11),
        dict(registered_model_id=1, alias="Champion", model_version_id=10),
    ],
}
KEYS = {
    "registered_models": ("id",),
    "model_versions": ("id",),
    "registered_model_tags": ("registered_model_id", "key"),
    "model_version_tags": ("model_version_id", "key"),
    "registered_model_aliases": ("registered_model_id", "alias"),
}


def _revisions() -> list[str]:
    """Every revision from the first to head, in upgrade order."""
    script = ScriptDirectory.from_config(db.alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions("base", "heads")))]


def _table(name: str) -> sa.TableClause:
    """The table with just the columns ROWS fills: valid at every revision."""
    columns = dict.fromkeys(key for row in ROWS[name] for key in row)
    return sa.table(name, *(sa.column(c) for c in columns))


def _rows(conn: sa.Connection, name: str) -> list[dict[str, object]]:
    table = _table(name)
    order = [table.c[k] for k in KEYS[name]]
    return [dict(r._mapping) for r in conn.execute(sa.select(table).order_by(*order))]


def _expected(name: str) -> list[dict[str, object]]:
    return sorted(ROWS[name], key=lambda row: tuple(str(row[k]) for k in KEYS[name]))


def test_exactly_one_head_and_it_is_the_one_the_code_expects():
    script = ScriptDirectory.from_config(db.alembic_config())
    assert script.get_heads() == [db.SCHEMA_HEAD]
    assert _revisions()[-1] == db.SCHEMA_HEAD


def test_models_and_migrations_describe_the_same_schema(database_uri):
    engine = create_engine(database_uri)
    try:
        db.upgrade(engine, "head")
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_rows_written_at_the_first_revision_survive_every_upgrade(database_uri, tmp_path):
    revisions = _revisions()
    engine = create_engine(database_uri)  # federate's own engine: SQLite enforces FKs
    try:
        db.upgrade(engine, revisions[0])
        with engine.begin() as conn:
            for name in KEYS:  # parents before children
                conn.execute(sa.insert(_table(name)), ROWS[name])
        for revision in revisions[1:]:
            db.upgrade(engine, revision)
            with engine.connect() as conn:
                assert db.current_revision(conn) == revision
                for name in KEYS:
                    assert _rows(conn, name) == _expected(name), f"after {revision}: {name}"
        with engine.connect() as conn:
            assert db.current_revision(conn) == db.SCHEMA_HEAD
            for name in KEYS:
                assert _rows(conn, name) == _expected(name), name
    finally:
        engine.dispose()

    # and the registry reads them as they were written
    registry = SqlRegistry(RegistryConfig(uri=database_uri, artifact_root=str(tmp_path)))
    assert registry.get_model_version_by_alias("churn", "champion").version == 3
    assert registry.get_model_version_by_alias("churn", "Champion").version == 1
    assert registry.get_registered_model("Churn").description == "ünïcødé ✓\nline two"
    assert registry.get_model_version("churn", 1).tags == {"Team": "A", "team": "a"}
    assert registry.get_registered_model("churn").tags == {
        "team": "growth",
        "odd key/with:chars": None,
    }
    # numbering continues after the highest number ever handed out, not after the last row
    assert registry.create_model_version("churn", source="s3://b/churn/4").version == 4


@pytest.fixture(autouse=True)
def _dispose():
    yield
    db.dispose_engines()
