"""Registers the MLflow server registry through the same hook third-party registries use."""

from __future__ import annotations

from federate.config import RegistryConfig
from federate.plugins.hookspecs import hookimpl
from federate.plugins.types import RegistryPlugin
from federate.registry.base import Registry

MLFLOW_SERVER_SCHEMES = ("http", "https")
WORKSPACE_SCHEMES = ("databricks",)


def open_mlflow_registry(config: RegistryConfig) -> Registry:
    from federate.registry.mlflow_rest.store import MlflowServerRegistry

    return MlflowServerRegistry(config)


def mlflow_cache_key(config: RegistryConfig) -> str:
    """The server's URI as one spelling (``HTTP://Host:5000/`` and ``http://Host:5000``
    are one registry)."""
    from federate.registry.mlflow_rest.server import base_url

    return base_url(config.uri)


def workspace_cache_key(config: RegistryConfig) -> str:
    """The workspace the URI reaches (``databricks`` alone names none)."""
    from federate.registry.mlflow_rest.server import workspace_server

    return f"databricks+{workspace_server(config.uri).base_url}"


@hookimpl(trylast=True)
def federate_registries() -> list[RegistryPlugin]:
    return [
        RegistryPlugin(
            name="mlflow-server",
            schemes=MLFLOW_SERVER_SCHEMES,
            factory=open_mlflow_registry,
            description="A running MLflow tracking server's model registry (REST API)",
            cache_key=mlflow_cache_key,
        ),
        RegistryPlugin(
            name="databricks",
            schemes=WORKSPACE_SCHEMES,
            factory=open_mlflow_registry,
            description="A Databricks workspace's model registry (the MLflow REST API)",
            cache_key=workspace_cache_key,
        ),
    ]
