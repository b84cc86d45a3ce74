"""Write (or compare) the per-dialect schema snapshots in ``tests/db/schemas/``.

Each snapshot is the DDL of a database that federate's migrations brought to head,
as the database itself reports it (reflected, then rendered in that dialect), so a
reviewer sees exactly what a migration does to real PostgreSQL, MySQL and SQLite.

    python tests/db/schema_snapshot.py               # SQLite + the FEDERATE_TEST_DB_URIS servers
    python tests/db/schema_snapshot.py URI [URI...]  # these databases

Server databases are emptied first (every federate table dropped): point it at test
databases only.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.schema import CreateIndex, CreateTable  # noqa: E402

from federate.registry.sql import db  # noqa: E402

SCHEMAS = Path(__file__).resolve().parent / "schemas"
ENV_VAR = "FEDERATE_TEST_DB_URIS"
DIALECTS = ("sqlite", "postgresql", "mysql")


def dialect_of(url: str) -> str:
    name = sa.engine.make_url(url).get_backend_name()
    return "mysql" if name == "mariadb" else name


def schema_ddl(engine: sa.Engine) -> str:
    """The DDL of every table but alembic_version, in name order, with its indexes."""
    metadata = sa.MetaData()
    metadata.reflect(engine, only=lambda name, _meta: name != "alembic_version")
    with engine.connect() as conn:
        head = db.current_revision(conn)
    parts = [f"-- federate registry schema at alembic revision {head} ({engine.dialect.name})"]
    for name in sorted(metadata.tables):
        table = metadata.tables[name]
        ddl = str(CreateTable(table).compile(dialect=engine.dialect)).strip()
        parts.append("\n".join(line.rstrip() for line in ddl.splitlines()) + ";")
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            parts.append(str(CreateIndex(index).compile(dialect=engine.dialect)).strip() + ";")
    return "\n\n".join(parts) + "\n"


def migrated_schema(url: str) -> str:
    """Empty the database at ``url``, migrate it to head, return its DDL."""
    from federate.testing.databases import reset_database

    if dialect_of(url) != "sqlite":
        reset_database(url)
    engine = sa.create_engine(url)
    try:
        db.upgrade(engine, "head")
        return schema_ddl(engine)
    finally:
        engine.dispose()
        if dialect_of(url) != "sqlite":
            reset_database(url)


def snapshot_path(dialect: str) -> Path:
    return SCHEMAS / f"{dialect}.sql"


def default_urls() -> list[str]:
    listed = [u.strip() for u in os.environ.get(ENV_VAR, "").split(",") if u.strip()]
    return [u for u in listed if u not in ("sqlite", "sqlite://")]


def main(urls: list[str]) -> None:
    SCHEMAS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        targets = [f"sqlite:///{Path(tmp) / 'snapshot.db'}", *urls]
        for url in targets:
            path = snapshot_path(dialect_of(url))
            path.write_text(migrated_schema(url))
            print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:] or default_urls())
