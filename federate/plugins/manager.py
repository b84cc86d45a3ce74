"""The pluggy host: loads built-in and third-party plugins and routes URIs to them.

Nothing registers at import time. :func:`get_plugin_host` builds the host the first
time a URI needs routing, reading the entry points then and only then (so ``import
federate`` stays cheap), and keeps it for the process; :func:`reset_plugin_host` drops
it (tests, or after installing a plugin). Building the host, and opening a registry or a
repository, installs federate's log redaction (:mod:`federate.redaction`).

Which plugins load: the built-ins of :data:`BUILTIN_PLUGINS`, then every entry point of
group ``federate``. ``FEDERATE_DISABLE_PLUGINS=a,b`` skips plugins by entry-point or
package name, built-ins included (pytest's ``-p no:a``); ``FEDERATE_PLUGINS=a,b`` loads
only the named third-party plugins (empty: none). A plugin that fails to import, fails
validation (:mod:`federate.plugins.validation`) or raises in a hook is reported with its
package and left out; the others keep working.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pluggy

from federate.errors import INVALID_PARAMETER_VALUE, FederateError, PluginError, redact
from federate.plugins import hookspecs
from federate.plugins.blame import remember
from federate.plugins.types import CREDENTIALS_ROUTE, RegistryPlugin, RepoPlugin
from federate.plugins.validation import (
    api_problem,
    declared_api,
    hook_problems,
    raised_where,
    signature_problem,
)
from federate.redaction import install as redact_logs

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
    "databricks-uc": "federate.registry.uc.plugin",
    "mlflow-server": "federate.registry.mlflow_rest.plugin",
    "uc": "federate.registry.uc.oss_plugin",
    "local": "federate.repos.local",
    "gcs": "federate.repos.gcs",
    "azure": "federate.repos.azure",
    "http": "federate.repos.http",
    "s3": "federate.repos.s3",
    "r2": "federate.repos.r2",
    "presigned": "federate.repos.presigned",
    "workspace-files": "federate.repos.workspace_files",
    "mlflow-artifacts": "federate.repos.mlflow_artifacts",
}


@dataclass
class PluginInfo:
    """What ``federate plugins`` shows about one plugin."""

    name: str
    origin: str  # "built-in" or "entry point"
    package: str | None = None
    version: str | None = None
    module: str | None = None
    #: plugin API versions the plugin declares (``FEDERATE_PLUGIN_API``), None if it does not
    api: tuple[int, ...] | None = None
    registry_schemes: list[str] = field(default_factory=list)
    repo_schemes: list[str] = field(default_factory=list)
    #: why the plugin is not (fully) in use: import error, invalid hooks, a hook that raised
    error: str | None = None
    #: why the plugin was not loaded on purpose (FEDERATE_DISABLE_PLUGINS / FEDERATE_PLUGINS)
    disabled: str | None = None

    @property
    def label(self) -> str:
        if self.package:
            return f"{self.name} ({self.package} {self.version or '?'})"
        return self.name

    def fail(self, error: str) -> None:
        self.error = error
        logger.warning("federate plugin %s: %s", self.label, error)


def _env_list(name: str) -> set[str] | None:
    raw = os.environ.get(name)
    if raw is None:
        return None
    return {_normal(item) for item in raw.split(",") if item.strip()}


def _normal(name: str) -> str:
    """Plugin and package names compare like pip's: case and ``-``/``_``/``.`` do not matter."""
    return name.strip().lower().replace("_", "-").replace(".", "-")


def _selected_by(names: set[str] | None, *candidates: str | None) -> bool:
    return names is not None and any(c is not None and _normal(c) in names for c in candidates)


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
        redact_logs()  # the libraries plugins drive log secrets at DEBUG (see federate.redaction)
        self.pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        #: sentences about schemes two third-party plugins both claim
        self.conflicts: list[str] = []
        #: sentences about the plugin environment variables (names matching nothing)
        self.notes: list[str] = []
        disabled = _env_list("FEDERATE_DISABLE_PLUGINS") or set()
        for name, module in BUILTIN_PLUGINS.items():
            info = PluginInfo(name, "built-in", module=module)
            if _selected_by(disabled, name):
                info.disabled = "disabled by FEDERATE_DISABLE_PLUGINS"
                self.infos[name] = info
                continue
            try:
                plugin = importlib.import_module(module)
            except Exception as err:  # a broken built-in must not take the others down
                self.infos[name] = info
                info.fail(f"failed to import {module!r}: {type(err).__name__}: {err}")
                continue
            self._register(name, plugin, info)
        allowed = _env_list("FEDERATE_PLUGINS")
        if load_entry_points:
            self._load_entry_points(disabled, allowed)
        self._check_env_names(disabled, allowed)
        self.registry_routes = self._collect("federate_registries", RegistryPlugin)
        self.repo_routes = self._collect("federate_artifact_repos", RepoPlugin)

    # -- loading ---------------------------------------------------------------------------

    def _load_entry_points(self, disabled: set[str], allowed: set[str] | None) -> None:
        eps = sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
        for ep in eps:
            dist = getattr(ep, "dist", None)
            info = PluginInfo(
                ep.name,
                "entry point",
                package=dist.metadata["Name"] if dist else None,
                version=dist.version if dist else None,
                module=ep.value,
            )
            if ep.name in self.infos:
                # two packages (or a package and a built-in) use one name; keep both apart
                info.name = f"{ep.name} [{info.package}]"
            if _selected_by(disabled, ep.name, info.package):
                info.disabled = "disabled by FEDERATE_DISABLE_PLUGINS"
            elif allowed is not None and not _selected_by(allowed, ep.name, info.package):
                info.disabled = "not named in FEDERATE_PLUGINS"
            if info.disabled:
                self.infos[info.name] = info
                continue
            try:
                plugin = ep.load()
            except Exception as err:  # any import-time failure of a plugin is isolated
                self.infos[info.name] = info
                info.fail(
                    f"failed to import {ep.value!r}: {type(err).__name__}: {err}{raised_where(err)}"
                )
                continue
            self._register(info.name, plugin, info)

    def _register(self, name: str, plugin: Any, info: PluginInfo) -> None:
        self.infos[name] = info
        try:
            info.api = declared_api(plugin)
            problem = api_problem(info.api)
        except ValueError as err:
            problem = str(err)
        if problem:
            info.fail(problem)
            return
        try:
            self.pm.register(plugin, name=name)
        except pluggy.PluginValidationError as err:
            info.fail(signature_problem(err))
            return
        except Exception as err:
            info.fail(f"rejected: {type(err).__name__}: {err}")
            return
        problems = hook_problems(self.pm, plugin)
        if problems:
            self.pm.unregister(plugin)
            info.fail("; ".join(problems))

    def _check_env_names(self, disabled: set[str], allowed: set[str] | None) -> None:
        known = set()
        for info in self.infos.values():
            known |= {_normal(n) for n in (info.name.split(" [")[0], info.package) if n}
        for var, names in (("FEDERATE_DISABLE_PLUGINS", disabled), ("FEDERATE_PLUGINS", allowed)):
            unmatched = sorted((names or set()) - known)
            if unmatched:
                note = (
                    f"{var} names {', '.join(unmatched)}, which match no installed plugin "
                    f"(installed: {', '.join(sorted(self.infos))})"
                )
                self.notes.append(note)
                logger.warning("%s", note)

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
                info.fail(f"{hook_name} failed: {type(err).__name__}: {err}{raised_where(err)}")
                continue
            target = info.registry_schemes if record_type is RegistryPlugin else info.repo_schemes
            for record in records:
                keys = record.claims() if isinstance(record, RepoPlugin) else record.schemes
                for key in keys:
                    target.append(key)
                    self._claim(routes, key, record, info)
        return routes

    def _claim(self, routes: dict, scheme: str, record: Any, info: PluginInfo) -> None:
        held = routes.get(scheme)
        if held is None:
            routes[scheme] = (record, info)
            return
        holder = held[1]
        if holder is info or holder.origin == "built-in" or info.origin == "built-in":
            # one plugin naming a scheme twice, or a third party overriding a built-in (by
            # design: third parties are called first)
            return
        winner, loser = sorted([holder, info], key=lambda i: i.name)
        conflict = (
            f"federate plugins {holder.label} and {info.label} both handle scheme {scheme!r}; "
            f"using {winner.label} (set FEDERATE_DISABLE_PLUGINS={loser.package or loser.name} "
            "to choose explicitly and silence this)"
        )
        self.conflicts.append(conflict)
        logger.warning("%s", conflict)
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
        by_host = self._host_route(scheme, location)
        if by_host is not None:
            return by_host
        for candidate in _candidates(scheme):
            if candidate in self.repo_routes:
                return self.repo_routes[candidate]
        raise FederateError(
            f"No artifact repository plugin handles scheme {scheme!r} "
            f"(location {redact(location)!r}). Installed repository schemes: "
            f"{', '.join(self._location_schemes()) or 'none'}.{self._broken_hint()}",
            INVALID_PARAMETER_VALUE,
        )

    def _location_schemes(self) -> list[str]:
        """The schemes a location may start with: the repository routes, less those a
        credential kind (``credentials:<kind>``) or a host claim (``https://*.host``) names."""
        return sorted(route for route in self.repo_routes if ":" not in route)

    def _host_route(self, scheme: str, location: str) -> tuple[RepoPlugin, PluginInfo] | None:
        """The route of a host-narrowed claim (``https://*.blob.core.windows.net``), if any."""
        prefix = f"{scheme}://*."
        claims = [key for key in self.repo_routes if key.startswith(prefix)]
        if not claims:
            return None
        try:
            host = (urlsplit(location).hostname or "").lower()
        except ValueError:
            return None
        matching = [
            key
            for key in claims
            if host == key[len(prefix) :] or host.endswith("." + key[len(prefix) :])
        ]
        return self.repo_routes[max(matching, key=len)] if matching else None

    def _broken_hint(self) -> str:
        broken = [i.label for i in self.infos.values() if i.error]
        if not broken:
            return ""
        return f" Plugins that failed to load: {', '.join(broken)} (`federate plugins` says why)."

    def open_registry(self, config: RegistryConfig) -> Registry:
        redact_logs()  # again: something may have replaced the log record factory since
        record, info = self.registry_plugin(config.uri)
        return _call_factory(info, record.factory, config)

    def cache_key(self, config: RegistryConfig) -> str:
        """What names the registry ``config`` opens in the model cache (see
        :class:`~federate.plugins.types.RegistryPlugin`): its URI unless its plugin says."""
        record, info = self.registry_plugin(config.uri)
        if record.cache_key is None:
            return config.uri
        return str(_call_factory(info, record.cache_key, config))

    def open_repo(
        self,
        location: str,
        credentials: ScopedCredentials | None = None,
        refresh: CredentialRefresher | None = None,
    ) -> ArtifactRepository:
        redact_logs()
        # credentials of a kind a plugin claims say how to reach the files: they win
        by_kind = (
            self.repo_routes.get(f"{CREDENTIALS_ROUTE}{credentials.kind}") if credentials else None
        )
        record, info = by_kind or self.repo_plugin(location)
        return _call_factory(info, record.factory, location, credentials, refresh)


def _call_factory(info: PluginInfo, factory: Any, *args: Any) -> Any:
    try:
        made = factory(*args)
    except FederateError:
        raise
    except Exception as err:
        raise PluginError(
            f"federate plugin {info.label} failed: {type(err).__name__}: {err}"
        ) from err
    if info.origin != "built-in":
        remember(made, info)  # so a later failure of its methods can name the package
    return made


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
