"""Which registry a call talks to, and where that registry keeps its files.

The registry URI comes from, first to last: the explicit ``registry_uri=`` argument,
:func:`set_registry_uri`, ``FEDERATE_REGISTRY_URI``, ``FEDERATE_PROFILE`` (a profile
name), ``federate.toml``'s default (the current directory's file, then the user config
directory's), and finally the embedded default, a SQLite file under ``$FEDERATE_HOME``.
A ``models://<profile>/...`` URI, or the ``profile=`` argument (the command line's
``--profile``), names a ``[registries.<profile>]`` table of ``federate.toml`` instead.

``federate.toml``::

    default_registry = "prod"          # optional; else [registries.default] if present

    [registries.prod]
    uri = "postgresql+psycopg://registry.internal/federate"
    artifact_root = "s3://models-bucket/federate"
"""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from platformdirs import user_config_dir

from federate.errors import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_DOES_NOT_EXIST,
    FederateError,
    redact,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONFIG_FILENAME = "federate.toml"

#: the keys a federate.toml may hold at its top level; any other is a typo to report
TOP_LEVEL_KEYS = ("default_registry", "registries")

_session_registry_uri: str | None = None
_toml_cache: dict[Path, tuple[tuple[int, int], dict[str, Any]]] = {}


@dataclass(frozen=True)
class RegistryConfig:
    """Everything a registry plugin's factory needs to open one registry.

    ``source`` says where the URI came from (for error messages and ``federate resolve``);
    ``options`` is the profile's whole ``federate.toml`` table, for plugin-specific keys.
    """

    uri: str
    artifact_root: str
    profile: str | None = None
    source: str = "default"
    options: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __repr__(self) -> str:
        # the URI may hold a password, a profile's table a plugin's token: neither is shown
        return (
            f"RegistryConfig(uri={redact(self.uri)!r}, artifact_root="
            f"{redact(self.artifact_root)!r}, profile={self.profile!r}, source={self.source!r}, "
            f"options={sorted(self.options)!r})"
        )


def federate_home() -> Path:
    """``$FEDERATE_HOME``, default ``~/.federate``: the embedded registry, artifacts and cache."""
    return Path(os.environ.get("FEDERATE_HOME") or Path.home() / ".federate").expanduser()


# Resolution runs the whole precedence chain on every call, so the path arithmetic is
# cached per value of the environment variables it depends on.
@functools.lru_cache(maxsize=16)
def _home_paths(home_env: str | None, user_home: str | None, cwd: str | None) -> tuple[str, str]:
    home = federate_home().resolve()
    return sqlite_uri(home / "registry.db"), str(home / "artifacts")


def sqlite_uri(path: Path) -> str:
    """The ``sqlite:///`` URI of the file at ``path``, whatever characters the path holds:
    ``%`` and ``?`` are percent-encoded, so the URL parser takes neither for an escape or
    the start of a query and puts the database somewhere else."""
    return "sqlite:///" + str(path).replace("%", "%25").replace("?", "%3F")


def _home_key() -> tuple[str | None, str | None, str | None]:
    home = os.environ.get("FEDERATE_HOME")
    # a relative FEDERATE_HOME means a different place in every working directory
    cwd = os.getcwd() if home and not os.path.isabs(os.path.expanduser(home)) else None
    return home, os.environ.get("HOME"), cwd


def default_registry_uri() -> str:
    return _home_paths(*_home_key())[0]


def default_artifact_root() -> str:
    return _home_paths(*_home_key())[1]


def set_registry_uri(uri: str | None) -> None:
    """Set the registry used by calls that pass no ``registry_uri`` (None clears it)."""
    global _session_registry_uri
    if uri is not None and not isinstance(uri, str):
        raise FederateError(
            f"registry URI must be a string, got {type(uri).__name__}", INVALID_PARAMETER_VALUE
        )
    _session_registry_uri = uri or None


def get_registry_uri() -> str:
    """The registry URI a call without ``registry_uri=`` would use."""
    return registry_config().uri


@functools.lru_cache(maxsize=16)
def _user_config_file(xdg_config_home: str | None, user_home: str | None) -> Path:
    return Path(user_config_dir("federate")) / CONFIG_FILENAME


def config_paths() -> list[Path]:
    """The federate.toml files consulted, highest precedence first."""
    user = _user_config_file(os.environ.get("XDG_CONFIG_HOME"), os.environ.get("HOME"))
    return [Path(os.getcwd(), CONFIG_FILENAME), user]


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        st = path.stat()
    except OSError:
        return {}
    key = (st.st_mtime_ns, st.st_size)
    cached = _toml_cache.get(path)
    if cached and cached[0] == key:
        return cached[1]
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise FederateError(f"Cannot read {path}: {err}", INVALID_PARAMETER_VALUE) from err
    _toml_cache[path] = (key, data)
    return data


def _profiles() -> tuple[dict[str, dict[str, Any]], dict[str, Path], str | None]:
    """Merge ``[registries.*]`` across config files; the nearer file wins per profile."""
    profiles: dict[str, dict[str, Any]] = {}
    origin: dict[str, Path] = {}
    default: str | None = None
    for path in reversed(config_paths()):
        data = _read_toml(path)
        unknown = sorted(set(data) - set(TOP_LEVEL_KEYS))
        if unknown:
            raise FederateError(
                f"{path}: unknown top-level key{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(map(repr, unknown))}; federate.toml accepts "
                f"{' and '.join(TOP_LEVEL_KEYS)} (a profile's own keys go in its "
                "[registries.<profile>] table)",
                INVALID_PARAMETER_VALUE,
            )
        tables = data.get("registries", {})
        if not isinstance(tables, dict):
            raise FederateError(
                f"{path}: 'registries' must be a table of [registries.<profile>] tables",
                INVALID_PARAMETER_VALUE,
            )
        for name, table in tables.items():
            if not isinstance(table, dict) or not isinstance(table.get("uri"), str):
                raise FederateError(
                    f"{path}: [registries.{name}] needs a string 'uri' key",
                    INVALID_PARAMETER_VALUE,
                )
            profiles[name] = table
            origin[name] = path
        if "default_registry" in data:
            value = data["default_registry"]
            if not isinstance(value, str) or not value.strip():
                raise FederateError(
                    f"{path}: default_registry must name a profile, e.g. "
                    f'default_registry = "prod" for [registries.prod]; got {value!r}',
                    INVALID_PARAMETER_VALUE,
                )
            default = value
    return profiles, origin, default


def _artifact_root(table: dict[str, Any] | None) -> str:
    env = os.environ.get("FEDERATE_ARTIFACT_ROOT")
    if env:
        return env
    if table and isinstance(table.get("artifact_root"), str):
        return table["artifact_root"]
    return default_artifact_root()


def chosen_registry(registry_uri: str | None, profile: str | None) -> RegistryConfig:
    """The registry a call names with ``registry_uri=`` or ``profile=`` (at most one of
    them), else the configured one."""
    if registry_uri and profile:
        raise FederateError(
            f"Name the registry once: a registry URI or a profile, not both (got the profile "
            f"{profile!r} and the URI {redact(registry_uri)!r})",
            INVALID_PARAMETER_VALUE,
        )
    return registry_config(registry_uri, profile)


def registry_config(registry_uri: str | None = None, profile: str | None = None) -> RegistryConfig:
    """Apply the precedence chain and return the registry to use.

    A ``profile`` (from ``models://<profile>/...`` or ``--profile``) selects that
    ``federate.toml`` table and takes precedence over every other source;
    ``FEDERATE_PROFILE`` does the same just below ``FEDERATE_REGISTRY_URI``.
    """
    if profile is not None:
        profiles, origin, _ = _profiles()
        if profile not in profiles:
            known = ", ".join(sorted(profiles)) or "none"
            searched = ", ".join(str(p) for p in config_paths())
            raise FederateError(
                f"No registry profile {profile!r} is configured (configured profiles: {known}). "
                f"Add a [registries.{profile}] table with a 'uri' key to federate.toml "
                f"(searched: {searched}).",
                RESOURCE_DOES_NOT_EXIST,
            )
        table = profiles[profile]
        return RegistryConfig(
            table["uri"], _artifact_root(table), profile, f"{origin[profile]}", dict(table)
        )
    if registry_uri:
        return RegistryConfig(registry_uri, _artifact_root(None), None, "argument")
    if _session_registry_uri:
        return RegistryConfig(_session_registry_uri, _artifact_root(None), None, "set_registry_uri")
    env = os.environ.get("FEDERATE_REGISTRY_URI")
    env_profile = os.environ.get("FEDERATE_PROFILE", "").strip()
    if env and env_profile:
        raise FederateError(
            "FEDERATE_REGISTRY_URI and FEDERATE_PROFILE are both set and name different "
            "things (a registry URI, a federate.toml profile); unset one of them",
            INVALID_PARAMETER_VALUE,
        )
    if env:
        return RegistryConfig(env, _artifact_root(None), None, "FEDERATE_REGISTRY_URI")
    if env_profile:
        return registry_config(profile=env_profile)
    profiles, origin, default = _profiles()
    if default is not None or "default" in profiles:
        return registry_config(profile=default or "default")
    return RegistryConfig(default_registry_uri(), _artifact_root(None), None, "default")
