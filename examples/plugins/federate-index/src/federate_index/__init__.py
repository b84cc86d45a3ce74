"""federate-index: a read-only model registry kept as one JSON file in any store.

``index+<location>`` names the index file by any storage location federate can read:
``index+file:///srv/registry/index.json``, ``index+s3://bucket/registry/index.json``,
even ``index+zip:///srv/bundle.zip!/index.json`` with the federate-zip plugin.

This module is what federate imports when it reads the ``federate`` entry points, so it
stays tiny; :mod:`federate_index.registry` is imported by the factory, the first time an
``index+`` registry is opened.
"""

from __future__ import annotations

from federate.config import RegistryConfig
from federate.plugins import RegistryPlugin, hookimpl
from federate.registry import Registry

#: The federate plugin API this package is written for.
FEDERATE_PLUGIN_API = 1

__version__ = "0.1.0"


def open_index_registry(config: RegistryConfig) -> Registry:
    from federate_index.registry import IndexRegistry

    return IndexRegistry(config)


@hookimpl
def federate_registries() -> list[RegistryPlugin]:
    return [
        RegistryPlugin(
            name="index",
            schemes=("index",),
            factory=open_index_registry,
            description="Read-only registry in a JSON index file: index+<storage location>",
        )
    ]
