"""Registers the SQL registry through the same hook third-party registries use."""

from __future__ import annotations

from federate.config import RegistryConfig
from federate.plugins.hookspecs import hookimpl
from federate.plugins.types import RegistryPlugin
from federate.registry.base import Registry

SQL_SCHEMES = ("sqlite", "postgresql", "mysql", "mariadb", "mssql")


def open_sql_registry(config: RegistryConfig) -> Registry:
    # SQLAlchemy's ORM costs ~100 ms to import: pay it only when a SQL registry is opened
    from federate.registry.sql.store import SqlRegistry

    return SqlRegistry(config)


@hookimpl(trylast=True)
def federate_registries() -> list[RegistryPlugin]:
    return [
        RegistryPlugin(
            name="sql",
            schemes=SQL_SCHEMES,
            factory=open_sql_registry,
            description="SQL registry on SQLAlchemy (the embedded default is SQLite)",
        )
    ]
