"""Registers the ``uc:`` registry (open-source Unity Catalog servers, federate serve)
through the same hook third-party registries use."""

from __future__ import annotations

from federate.config import RegistryConfig
from federate.plugins.hookspecs import hookimpl
from federate.plugins.types import RegistryPlugin
from federate.registry.base import Registry

OSS_SCHEMES = ("uc",)


def open_uc_oss_registry(config: RegistryConfig) -> Registry:
    from federate.registry.uc.oss_store import UcOssRegistry

    return UcOssRegistry(config)


@hookimpl(trylast=True)
def federate_registries() -> list[RegistryPlugin]:
    return [
        RegistryPlugin(
            name="uc",
            schemes=OSS_SCHEMES,
            factory=open_uc_oss_registry,
            description="open-source Unity Catalog servers and federate serve (uc:http://...)",
        )
    ]
