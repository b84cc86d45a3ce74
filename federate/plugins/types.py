"""Records a plugin returns to describe what it handles.

A record names the URI schemes it serves and carries a factory; the host routes a URI
to the first record claiming its scheme. Records validate themselves on creation, so a
malformed plugin fails when loaded, naming itself, not later inside a download.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from federate.config import RegistryConfig
    from federate.credentials import CredentialRefresher, ScopedCredentials
    from federate.registry.base import Registry
    from federate.repos.base import ArtifactRepository

_SCHEME = re.compile(r"[a-z][a-z0-9+.\-]*")
#: prefix of the route key a ``credential_kinds`` claim adds (``credentials:presigned_urls``)
CREDENTIALS_ROUTE = "credentials:"
_HOST = re.compile(r"[a-z0-9]([a-z0-9\-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9\-]*[a-z0-9])?)*")


def _check(kind: str, name: str, schemes: tuple[str, ...], factory: object) -> None:
    if not name or not isinstance(name, str):
        raise ValueError(f"{kind} needs a non-empty name")
    if isinstance(schemes, str) or not schemes:
        raise ValueError(f"{kind} {name!r}: schemes must be a non-empty tuple of strings")
    for s in schemes:
        if not isinstance(s, str) or not _SCHEME.fullmatch(s):
            raise ValueError(
                f"{kind} {name!r}: invalid scheme {s!r} (lowercase letters, digits, '+', '.', '-')"
            )
    if not callable(factory):
        raise ValueError(f"{kind} {name!r}: factory must be callable")


@dataclass(frozen=True)
class RegistryPlugin:
    """A registry implementation.

    ``factory(config)`` receives a :class:`federate.config.RegistryConfig` and returns a
    :class:`federate.registry.Registry`. It is called once per registry URI per process,
    so heavy imports belong inside it, not at module level.

    ``cache_key(config)``, for a registry whose URI alone does not say which registry it
    is (``databricks-uc`` finds its workspace in the environment), names it: the model
    cache keeps the versions of registries with different keys apart, so that one
    workspace's ``c.s.m`` version 3 is never served for another's. It must be cheap and
    local (it runs under ``FEDERATE_OFFLINE`` too), and must not hold a secret (it is
    written to the cache's ``registries.json``). Without it the registry URI is the key.
    """

    name: str
    schemes: tuple[str, ...]
    factory: Callable[[RegistryConfig], Registry]
    description: str = ""
    cache_key: Callable[[RegistryConfig], str] | None = None

    def __post_init__(self) -> None:
        _check("RegistryPlugin", self.name, self.schemes, self.factory)


@dataclass(frozen=True)
class RepoPlugin:
    """An artifact repository implementation.

    ``factory(location, credentials, refresh)`` receives the storage URI (or plain path for
    ``file``), optional :class:`federate.credentials.ScopedCredentials` and a callback
    returning fresh ones, and returns a :class:`federate.repos.ArtifactRepository`.

    ``hosts`` narrows a claim to locations on those hosts or their subdomains
    (``("blob.core.windows.net",)`` claims ``https://acct.blob.core.windows.net/...`` but
    not other ``https://`` URLs); such a claim is preferred over a scheme-wide one.

    ``credential_kinds`` claims every location opened with scoped credentials of those
    kinds, whatever its scheme (``("presigned_urls",)``: a registry's presigned URL set
    for an ``s3://`` location is read over HTTP, no S3 SDK needed); such a claim wins
    over scheme and host claims.
    """

    name: str
    schemes: tuple[str, ...]
    factory: Callable[
        [str, ScopedCredentials | None, CredentialRefresher | None], ArtifactRepository
    ]
    description: str = ""
    writable: bool = False
    hosts: tuple[str, ...] = ()
    credential_kinds: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check("RepoPlugin", self.name, self.schemes, self.factory)
        if isinstance(self.hosts, str) or any(
            not isinstance(h, str) or not _HOST.fullmatch(h) for h in self.hosts
        ):
            raise ValueError(
                f"RepoPlugin {self.name!r}: hosts must be a tuple of lowercase host names "
                f"without a leading dot, got {self.hosts!r}"
            )
        if isinstance(self.credential_kinds, str) or any(
            not isinstance(k, str) or not _SCHEME.fullmatch(k.replace("_", "-"))
            for k in self.credential_kinds
        ):
            raise ValueError(
                f"RepoPlugin {self.name!r}: credential_kinds must be a tuple of lowercase "
                f"names, got {self.credential_kinds!r}"
            )

    def claims(self) -> tuple[str, ...]:
        """Route keys: the schemes, or ``scheme://*.host`` for a host-narrowed record, and
        ``credentials:kind`` for each credential kind."""
        kinds = tuple(f"{CREDENTIALS_ROUTE}{k}" for k in self.credential_kinds)
        if not self.hosts:
            return self.schemes + kinds
        return tuple(f"{s}://*.{h}" for s in self.schemes for h in self.hosts) + kinds
