"""Resolution reads one index entry however many versions a model has, on every database.

Timings are not asserted (they are the benchmark's job); the databases' own query plans
are: no sort of a model's versions and no scan of the versions table.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from federate.config import RegistryConfig
from federate.registry.sql import queries as q
from federate.registry.sql.models import MODEL
from federate.registry.sql.store import SqlRegistry

VERSIONS = 3000


@pytest.fixture
def big_registry(database_uri):
    registry = SqlRegistry(RegistryConfig(uri=database_uri, artifact_root="/nonexistent"))
    for name, count in (("other", 50), ("big", VERSIONS)):
        registry.create_registered_model(name)
        with registry.engine.begin() as conn:
            rm_id = conn.execute(sa.select(q.rm.c.id).where(q.rm.c.name == name)).scalar_one()
            conn.execute(
                sa.insert(q.mv),
                [
                    dict(
                        registered_model_id=rm_id,
                        version=v,
                        creation_time=v,
                        last_updated_time=v,
                        current_stage="Production" if v % 7 else "None",
                        status="READY",
                        source=f"s3://b/{v}",
                    )
                    for v in range(1, count + 1)
                ],
            )
            conn.execute(sa.update(q.rm).where(q.rm.c.id == rm_id).values(next_version=count + 1))
    dialect = registry.engine.dialect.name
    with registry.engine.begin() as conn:
        if dialect == "mysql":
            conn.exec_driver_sql("ANALYZE TABLE model_versions, registered_models").all()
        else:
            conn.exec_driver_sql("ANALYZE")  # planner statistics, as a live database has
    return registry


def _plan(registry: SqlRegistry, statement: sa.Select, **params: object) -> str:
    engine = registry.engine
    sql = str(statement.params(**params).compile(engine, compile_kwargs={"literal_binds": True}))
    prefix = {"sqlite": "EXPLAIN QUERY PLAN ", "mysql": "EXPLAIN "}.get(
        engine.dialect.name, "EXPLAIN "
    )
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(prefix + sql).all()
    return "\n".join(" | ".join(str(c) for c in row) for row in rows)


@pytest.mark.parametrize(
    ("statement", "params"),
    [
        (q.LATEST_VERSION[MODEL], {"name": "big"}),
        (q.LATEST_IN_STAGE, {"name": "big", "stage": "Production"}),
        (q.VERSION_BY_NUMBER[MODEL], {"name": "big", "version": 1234}),
    ],
    ids=["latest", "latest-in-stage", "by-number"],
)
def test_resolution_reads_the_index_not_every_version(big_registry, statement, params):
    plan = _plan(big_registry, statement, **params)
    dialect = big_registry.engine.dialect.name
    if dialect == "postgresql":
        assert "Sort" not in plan and "Seq Scan on model_versions" not in plan, plan
    elif dialect == "mysql":
        assert "filesort" not in plan and "ALL" not in plan.split(" | "), plan
    else:
        assert "TEMP B-TREE" not in plan and "SCAN model_versions" not in plan, plan
    # and the answers are right
    with big_registry.engine.connect() as conn:
        row = conn.execute(statement, params).first()
    expected = {"latest": VERSIONS, "by-number": 1234}
    if "stage" in params:
        assert row.version == max(v for v in range(1, VERSIONS + 1) if v % 7)
    else:
        assert row.version in expected.values()
