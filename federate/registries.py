"""The registries a process has opened, and the repository holding a version's files.

A registry is opened once per configuration (URI, artifact root, profile) and reused by
every call of the process; :func:`clear_registry_cache` forgets them (tests, and after
changing configuration files). A version's repository is opened with the scoped read
credentials its registry vends, renewed through the registry.
"""

from __future__ import annotations

import threading

from federate.config import RegistryConfig, chosen_registry, registry_config
from federate.entities import ModelVersion
from federate.errors import RESOURCE_DOES_NOT_EXIST, FederateError
from federate.plugins.manager import get_plugin_host
from federate.registry.base import Registry
from federate.repos.base import ArtifactRepository
from federate.uri import ModelRef

_registries: dict[RegistryConfig, Registry] = {}
_registries_lock = threading.Lock()


def open_registry(config: RegistryConfig) -> Registry:
    registry = _registries.get(config)
    if registry is None:
        with _registries_lock:
            registry = _registries.get(config)
            if registry is None:
                registry = get_plugin_host().open_registry(config)
                _registries[config] = registry
    return registry


def get_registry(uri: str | None = None, *, profile: str | None = None) -> Registry:
    """The registry for ``uri`` (a registry URI, not a models:/ URI), or for ``profile``
    (a ``[registries.<profile>]`` table of federate.toml), or the configured one."""
    return open_registry(chosen_registry(uri, profile))


def clear_registry_cache() -> None:
    """Forget opened registries (tests; after changing configuration files)."""
    with _registries_lock:
        _registries.clear()


def config_for(ref: ModelRef, registry_uri: str | None, profile: str | None) -> RegistryConfig:
    # a models://<profile>/ URI names its registry itself, above any argument
    if ref.profile is not None:
        return registry_config(registry_uri, ref.profile)
    return chosen_registry(registry_uri, profile)


def registry_for(ref: ModelRef, registry_uri: str | None, profile: str | None) -> Registry:
    return open_registry(config_for(ref, registry_uri, profile))


def repo_for_version(registry: Registry, mv: ModelVersion) -> ArtifactRepository:
    location = mv.download_uri
    if not location:
        raise FederateError(
            f"Model {mv.name!r} version {mv.version} has no storage location",
            RESOURCE_DOES_NOT_EXIST,
        )
    credentials = registry.read_credentials(mv)
    refresh = (lambda: registry.read_credentials(mv)) if credentials is not None else None
    return get_plugin_host().open_repo(location, credentials, refresh)
