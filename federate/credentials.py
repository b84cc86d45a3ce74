"""Short-lived, scoped credentials that registries hand to artifact repositories.

A registry that vends credentials for one model version (Unity Catalog style) returns a
:class:`ScopedCredentials`; the repository gets it at construction together with a
refresh callback. The values are secrets: they never appear in ``repr`` or messages.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from federate.envvars import env_float
from federate.errors import PERMISSION_DENIED, FederateError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScopedCredentials:
    """``kind`` names the credential family (``aws_session``, ``azure_sas``, ``gcp_oauth``,
    ``presigned_urls`` ...); ``values`` holds its fields; ``expires_at`` is epoch seconds."""

    kind: str
    values: Mapping[str, str] = field(repr=False)
    expires_at: float | None = None

    def expires_within(self, seconds: float) -> bool:
        return self.expires_at is not None and self.expires_at - time.time() <= seconds

    def __repr__(self) -> str:
        return (
            f"ScopedCredentials(kind={self.kind!r}, fields={sorted(self.values)!r}, "
            f"expires_at={self.expires_at!r})"
        )


CredentialRefresher = Callable[[], "ScopedCredentials | None"]

#: Renew credentials this many seconds before they expire (``FEDERATE_CREDENTIAL_REFRESH_MARGIN``).
DEFAULT_REFRESH_MARGIN_S = 60.0
REFRESH_MARGIN_ENV = "FEDERATE_CREDENTIAL_REFRESH_MARGIN"


def refresh_margin() -> float:
    """Seconds before expiry at which scoped credentials are renewed (negative: that long
    after it, so only a refusal renews them; tests use it)."""
    return env_float(
        REFRESH_MARGIN_ENV,
        DEFAULT_REFRESH_MARGIN_S,
        -math.inf,
        "seconds before scoped credentials expire to renew them",
    )


T = TypeVar("T")


class CredentialKeeper:
    """The current scoped credentials of one repository, renewed through the registry.

    Repositories call the store through :meth:`call`: the credentials are renewed shortly
    before they expire, and once more when the store answers that they have expired (or
    were refused), after which the request is retried a single time. There is no fallback
    to other credentials: a repository built with scoped credentials uses nothing else.
    Thread-safe; concurrent workers that see the same expiry share one renewal.
    """

    def __init__(
        self,
        credentials: ScopedCredentials | None,
        refresh: CredentialRefresher | None = None,
        margin_s: float | None = None,
    ) -> None:
        self._current = credentials
        self._refresh = refresh
        self._margin_s = refresh_margin() if margin_s is None else margin_s
        self._lock = threading.Lock()

    def current(self) -> ScopedCredentials | None:
        """The credentials to use now, renewed first if they are about to expire."""
        creds = self._current
        if creds is not None and self._refresh is not None and creds.expires_within(self._margin_s):
            return self.renew(creds)
        return creds

    def renew(self, stale: ScopedCredentials | None) -> ScopedCredentials:
        """Fresh credentials to replace ``stale``; shared with threads renewing the same."""
        with self._lock:
            if self._current is not stale and self._current is not None:
                return self._current  # another worker renewed them meanwhile
            if self._refresh is None:
                raise FederateError(
                    "The store refused the scoped credentials (expired or revoked) and this "
                    "repository has no way to renew them; resolve the model again",
                    PERMISSION_DENIED,
                )
            fresh = self._refresh()
            if fresh is None:
                raise FederateError(
                    "The registry returned no fresh credentials for this artifact location",
                    PERMISSION_DENIED,
                )
            self._current = fresh
            return fresh

    def call(
        self,
        fn: Callable[[ScopedCredentials | None], T],
        expired: Callable[[BaseException], bool],
    ) -> T:
        """``fn(credentials)``; renewed and retried once if it fails with ``expired(err)``."""
        creds = self.current()
        try:
            return fn(creds)
        except Exception as err:
            if creds is None or not expired(err):
                raise
            logger.info("scoped %s credentials expired or refused; renewing", creds.kind)
            return fn(self.renew(creds))
