"""Claiming the next due job: one worker per job, whatever the database.

A claim turns one PENDING job whose ``not_before`` has passed into RUNNING under a new
lease token, in one transaction, oldest job first. How the candidate is picked depends
on what the database can do, but the write is always the same compare-and-set
(``... WHERE id = ? AND status = 'PENDING'``), so two claims never both win one job:

- PostgreSQL, MySQL 8+, MariaDB 10.6+: ``SELECT ... FOR UPDATE SKIP LOCKED`` locks the
  first job no other claim holds, so concurrent workers take different jobs without
  waiting for each other;
- SQLite: a single ``UPDATE ... WHERE id = (SELECT ... LIMIT 1) AND status = 'PENDING'``
  (writers are serialised by SQLite's write lock, which federate takes up front);
- older MySQL/MariaDB: a few candidates are read without locks and tried in turn, each
  with the compare-and-set; a lost race just moves on to the next.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from federate.jobs.entities import PENDING
from federate.jobs.table import jobs
from federate.registry.sql.queries import affected

SKIP_LOCKED = "skip-locked"
SINGLE_UPDATE = "single-update"
OPTIMISTIC = "optimistic"
#: candidates an optimistic claim tries before reporting that nothing is due
_OPTIMISTIC_CANDIDATES = 16


def claim_mode(conn: Connection) -> str:
    """How this database's claims pick their job (see the module's docstring)."""
    dialect = conn.dialect
    if dialect.name == "sqlite":
        return SINGLE_UPDATE
    if dialect.name == "postgresql":
        return SKIP_LOCKED
    if dialect.name in ("mysql", "mariadb"):
        version = tuple(dialect.server_version_info or ())
        if getattr(dialect, "is_mariadb", False):
            return SKIP_LOCKED if version >= (10, 6) else OPTIMISTIC
        return SKIP_LOCKED if version >= (8,) else OPTIMISTIC
    return OPTIMISTIC


def _due(now: int, names: Sequence[str] | None) -> list[Any]:
    where = [jobs.c.status == PENDING, jobs.c.not_before <= now]
    if names is not None:
        where.append(jobs.c.name.in_(list(names)))
    return where


def claim_next(
    conn: Connection, now: int, names: Sequence[str] | None, values: dict[str, Any]
) -> bool:
    """Set ``values`` (status RUNNING, the lease) on the oldest due job; True if one was
    taken. The caller's transaction commits it."""
    oldest = select(jobs.c.id).where(*_due(now, names)).order_by(jobs.c.creation_time, jobs.c.id)
    mode = claim_mode(conn)
    if mode == SINGLE_UPDATE:
        chosen = oldest.limit(1).scalar_subquery()
        res = conn.execute(
            update(jobs).where(jobs.c.id == chosen, jobs.c.status == PENDING).values(**values)
        )
        return affected(res) == 1
    if mode == SKIP_LOCKED:
        row = conn.execute(oldest.limit(1).with_for_update(skip_locked=True)).first()
        candidates = [] if row is None else [row.id]
    else:
        candidates = list(conn.execute(oldest.limit(_OPTIMISTIC_CANDIDATES)).scalars())
    for job_id in candidates:
        res = conn.execute(
            update(jobs).where(jobs.c.id == job_id, jobs.c.status == PENDING).values(**values)
        )
        if affected(res) == 1:
            return True
    return False
