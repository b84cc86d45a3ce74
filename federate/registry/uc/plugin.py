"""Registers the Unity Catalog registry through the same hook third-party registries use."""

from __future__ import annotations

from federate.config import RegistryConfig
from federate.plugins.hookspecs import hookimpl
from federate.plugins.types import RegistryPlugin
from federate.registry.base import Registry

UC_SCHEMES = ("databricks-uc",)


def open_uc_registry(config: RegistryConfig) -> Registry:
    from federate.registry.uc.store import UcRegistry

    return UcRegistry(config)


def uc_cache_key(config: RegistryConfig) -> str:
    """The workspace the URI reaches (its host: ``databricks-uc`` alone names none)."""
    from federate.registry.uc.workspace import workspace_for

    return f"{config.uri.split('://', 1)[0]}+{workspace_for(config.uri).host}"


@hookimpl(trylast=True)
def federate_registries() -> list[RegistryPlugin]:
    return [
        RegistryPlugin(
            name="databricks-uc",
            schemes=UC_SCHEMES,
            factory=open_uc_registry,
            description="Databricks Unity Catalog models (MLflow's databricks-uc dialect)",
            cache_key=uc_cache_key,
        )
    ]
