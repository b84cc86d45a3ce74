"""The pluggy host: loads built-in and third-party plugins and routes URIs to them.

Nothing registers at import time. :func:`get_plugin_host` builds the host the first
time a URI needs routing (so ``import federate`` stays cheap) and keeps it for the
process; :func:`reset_plugin_host` drops it (tests, or after installing a plugin).
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any

import pluggy

from federate.errors import INVALID_PARAMETER_VALUE, FederateError, PluginError, redact
from federate.plugins import hookspecs
from federate.plugins.types import RegistryPlugin, RepoPlugin

if TYPE_CHECKING:
    from federate.config import RegistryConfig
    from federate.credentials import CredentialRefresher, ScopedCredentials
    from federate.registry.base import Registry
    from federate.repos.base import ArtifactRepository

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "federate"

#: Built-in plugins, registered exactly like third-party ones (but ``trylast``).
BUILTIN_PLUGINS: dict[str, str] = {
    "sql": "federate.registry.sql.plugin",
    "local": "federate.repos.local",
    "s3": "federate.repos.s3",
}


@dataclass
class PluginInfo:
    """What ``federate plugins`` shows about one plugin."""

    name: str
    origin: str  # "built-in" or "entry point"
    package: str | None = None
    version: str | None = None
    registry_schemes: list[str] = field(default_factory=list)
    repo_schemes: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def label(self) -> str:
        if self.package:
            return f"{self.name} ({self.package} {self.version or '?'})"
        return self.name


def _env_list(name: str) -> set[str] | None:
    raw = os.environ.get(name)
    if raw is None:
        return None
    return {item.strip() for item in raw.split(",") if item.strip()}


def registry_scheme(uri: str) -> str:
    """``postgresql+psycopg://h/db`` -> ``postgresql+psycopg``; ``databricks-uc`` -> itself."""
    head, sep, _ = uri.partition(":")
    return (head if sep else uri).strip().lower()


def location_scheme(location: str) -> str:
    """The scheme of a storage location; plain paths (and Windows drives) are ``file``."""
    head, sep, _ = location.partition(":")
    if not sep or len(head) == 1 or "/" in head or "\\" in head:
        return "file"
    return head.lower()


def _candidates(scheme: str) -> list[str]:
    base = scheme.split("+", 1)[0]
    return [scheme] if base == scheme else [scheme, base]


class PluginHost:
    """A loaded set of plugins and the scheme routes they claim."""

    def __init__(self, *, load_entry_points: bool = True) -> None:
        self.pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        disabled = _env_list("FEDERATE_DISABLE_PLUGINS") or set()
        for name, module in BUILTIN_PLUGINS.items():
            if name in disabled:
                continue
            self._register(name, importlib.import_module(module), PluginInfo(name, "built-in"))
        if load_entry_points:
            self._load_entry_points(disabled, _env_list("FEDERATE_PLUGINS"))
        self.registry_routes = self._collect("federate_registries", RegistryPlugin)
        self.repo_routes = self._collect("federate_artifact_repos", RepoPlugin)

    # -- loading ---------------------------------------------------------------------------

    def _load_entry_points(self, disabled: set[str], allowed: set[str] | None) -> None:
        eps = sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
        for ep in eps:
            if ep.name in disabled or (allowed is not None and ep.name not in allowed):
                continue
            dist = getattr(ep, "dist", None)
            info = PluginInfo(
                ep.name,
                "entry point",
                package=dist.metadata["Name"] if dist else None,
                version=dist.version if dist else None,
            )
            if ep.name in self.infos and self.infos[ep.name].origin == "built-in":
                # a third-party package may reuse a built-in's name; keep both apart
                info.name = f"{ep.name} [{info.package}]"
            try:
                plugin = ep.load()
            except Exception as err:  # any import-time failure of a plugin is isolated
                info.error = f"failed to import {ep.value!r}: {type(err).__name__}: {err}"
                logger.warning("federate plugin %s: %s", info.label, info.error)
                self.infos[info.name] = info
                continue
            self._register(info.name, plugin, info)

    def _register(self, name: str, plugin: Any, info: PluginInfo) -> None:
        self.infos[name] = info
        try:
            self.pm.register(plugin, name=name)
        except Exception as err:
            info.error = f"rejected: {err}"
            logger.warning("federate plugin %s: %s", info.label, info.error)
            return
        unknown = [
            caller.name for caller in self.pm.get_hookcallers(plugin) or [] if caller.spec is None
        ]
        if unknown:
            self.pm.unregister(plugin)
            known = ", ".join(sorted(n for n in vars(hookspecs) if n.startswith("federate_")))
            info.error = f"implements unknown hooks {unknown} (known hooks: {known})"
            logger.warning("federate plugin %s: %s", info.label, info.error)

    def _collect(self, hook_name: str, record_type: type) -> dict[str, tuple[Any, PluginInfo]]:
        routes: dict[str, tuple[Any, PluginInfo]] = {}
        caller = getattr(self.pm.hook, hook_name)
        # get_hookimpls() lists in reverse call order; walk it in call order.
        for impl in reversed(caller.get_hookimpls()):
            info = self.infos[impl.plugin_name]
            try:
                records = list(impl.function() or ())
                for record in records:
                    if not isinstance(record, record_type):
                        raise TypeError(
                            f"{hook_name} returned {type(record).__name__}, "
                            f"expected {record_type.__name__}"
                        )
            except Exception as err:
                info.error = f"{hook_name} failed: {type(err).__name__}: {err}"
                logger.warning("federate plugin %s: %s", info.label, info.error)
                continue
            target = info.registry_schemes if record_type is RegistryPlugin else info.repo_schemes
            for record in records:
                for scheme in record.schemes:
                    target.append(scheme)
                    self._claim(routes, scheme, record, info)
        return routes

    @staticmethod
    def _claim(routes: dict, scheme: str, record: Any, info: PluginInfo) -> None:
        held = routes.get(scheme)
        if held is None:
            routes[scheme] = (record, info)
            return
        holder = held[1]
        if holder.origin == "built-in" or info.origin == "built-in":
            return  # the earlier claim is a third party's, overriding a built-in by design
        winner, loser = sorted([holder, info], key=lambda i: i.name)
        logger.warning(
            "federate plugins %s and %s both handle scheme %r; using %s "
            "(set FEDERATE_DISABLE_PLUGINS=%s to silence this)",
            holder.label,
            info.label,
            scheme,
            winner.label,
            loser.name,
        )
        if winner is info:
            routes[scheme] = (record, info)

    # -- routing ---------------------------------------------------------------------------

    def registry_plugin(self, uri: str) -> tuple[RegistryPlugin, PluginInfo]:
        scheme = registry_scheme(uri)
        for candidate in _candidates(scheme):
            if candidate in self.registry_routes:
                return self.registry_routes[candidate]
        raise FederateError(
            f"No registry plugin handles scheme {scheme!r} (registry URI {redact(uri)!r}). "
            f"Installed registry schemes: {', '.join(sorted(self.registry_routes)) or 'none'}."
            f"{self._broken_hint()}",
            INVALID_PARAMETER_VALUE,
        )

    def repo_plugin(self, location: str) -> tuple[RepoPlugin, PluginInfo]:
        scheme = location_scheme(location)
        for candidate in _candidates(scheme):
            if candidate in self.repo_routes:
                return self.repo_routes[candidate]
        raise FederateError(
            f"No artifact repository plugin handles scheme {scheme!r} "
            f"(location {redact(location)!r}). Installed repository schemes: "
            f"{', '.join(sorted(self.repo_routes)) or 'none'}.{self._broken_hint()}",
            INVALID_PARAMETER_VALUE,
        )

    def _broken_hint(self) -> str:
        broken = [i.label for i in self.infos.values() if i.error]
        return f" Plugins that failed to load: {', '.join(broken)}." if broken else ""

    def open_registry(self, config: RegistryConfig) -> Registry:
        record, info = self.registry_plugin(config.uri)
        return _call_factory(info, record.factory, config)

    def open_repo(
        self,
        location: str,
        credentials: ScopedCredentials | None = None,
        refresh: CredentialRefresher | None = None,
    ) -> ArtifactRepository:
        record, info = self.repo_plugin(location)
        return _call_factory(info, record.factory, location, credentials, refresh)


def _call_factory(info: PluginInfo, factory: Any, *args: Any) -> Any:
    try:
        return factory(*args)
    except FederateError:
        raise
    except Exception as err:
        raise PluginError(
            f"federate plugin {info.label} failed: {type(err).__name__}: {err}"
        ) from err


_host: PluginHost | None = None
_host_lock = threading.Lock()


def get_plugin_host() -> PluginHost:
    """The process-wide plugin host, built on first use."""
    global _host
    if _host is None:
        with _host_lock:
            if _host is None:
                _host = PluginHost()
    return _host


def reset_plugin_host() -> None:
    """Forget the loaded plugins; the next routing call loads them again."""
    global _host
    with _host_lock:
        _host = None
