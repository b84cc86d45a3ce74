"""The HTTP client a Unity Catalog registry talks to its workspace through (urllib3).

Every call sends the workspace token as a bearer token, and only to the workspace host.
Answers become FederateErrors, whatever went wrong:

- 404: RESOURCE_DOES_NOT_EXIST, with the server's own message;
- 401 and 403: PERMISSION_DENIED naming the host and where the token came from (never
  the token itself);
- 408, 429 and 5xx, and connections that fail: retried with exponential backoff and
  jitter (``FEDERATE_MAX_ATTEMPTS`` attempts, ``FEDERATE_RETRY_BACKOFF`` seconds base),
  waiting at least what ``Retry-After`` asks (up to :data:`MAX_RETRY_AFTER_S`), then
  TEMPORARILY_UNAVAILABLE;
- any other refusal: the server's ``error_code`` if federate has it, else
  INVALID_PARAMETER_VALUE (4xx) or INTERNAL_ERROR, with the server's message.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from federate.errors import (
    HTTP_STATUS,
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    PERMISSION_DENIED,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
    FederateError,
    describe,
)
from federate.registry.uc.workspace import Workspace

if TYPE_CHECKING:
    import urllib3

logger = logging.getLogger(__name__)

RETRIED_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: the longest ``Retry-After`` honoured; a server asking for more is given up on
MAX_RETRY_AFTER_S = 60.0
_MAX_MESSAGE = 500
_USER_AGENT = "federate"


def _retry_after(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (a number; dates are ignored)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


class EndpointMissing(FederateError):
    """A 404 without an error object: the server has no such route (not a missing model)."""


class UcRestClient:
    """JSON over HTTP to one workspace; thread-safe (one urllib3 pool)."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._pool: urllib3.PoolManager | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"UcRestClient({self.workspace!r})"

    def _manager(self) -> urllib3.PoolManager:
        with self._lock:
            if self._pool is None:
                try:
                    import urllib3
                except ImportError:  # pragma: no cover - depends on the environment
                    raise FederateError(
                        "Unity Catalog registries need urllib3: pip install 'federate[http]'",
                        INVALID_PARAMETER_VALUE,
                    ) from None
                from federate.repos.http_pool import (
                    ca_bundle,
                    guard_http_logs,
                    http_timeout,
                    proxy_for,
                )

                guard_http_logs()
                options: dict[str, Any] = {
                    "timeout": urllib3.Timeout(*http_timeout()),
                    "retries": False,  # retried here, with Retry-After honoured
                    "ca_certs": ca_bundle(),
                    "maxsize": 8,
                }
                proxy = proxy_for(self.workspace.host)
                self._pool = (
                    urllib3.ProxyManager(proxy, **options)
                    if proxy
                    else urllib3.PoolManager(**options)
                )
            return self._pool

    def get(self, path: str, params: Mapping[str, object] | None = None) -> dict[str, Any]:
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        return self.call("GET", path + ("?" + urlencode(query) if query else ""), None)

    def post(self, path: str, body: Mapping[str, object]) -> dict[str, Any]:
        return self.call("POST", path, body)

    def call(self, method: str, path: str, body: Mapping[str, object] | None) -> dict[str, Any]:
        """One API call, retried while the workspace is busy; the decoded JSON answer."""
        from federate.transfer.settings import TransferSettings

        settings = TransferSettings.from_env()
        headers = {"User-Agent": _USER_AGENT, "Accept": "application/json"}
        if self.workspace.token:  # an OSS server may run without authentication
            headers["Authorization"] = f"Bearer {self.workspace.token}"
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        url = self.workspace.host + path
        endpoint = path.split("?", 1)[0]
        attempt = 0
        while True:
            attempt += 1
            wait: float | None = None
            try:
                resp = self._manager().request(
                    method, url, body=payload, headers=headers, redirect=False
                )
            except Exception as err:  # urllib3's connection and timeout errors
                status, reason = 0, describe(err)
            else:
                status = resp.status
                logger.debug("%s %s -> %s", method, endpoint, status)
                if 200 <= status < 300:
                    return self._json(resp.data, method, endpoint)
                if status not in RETRIED_STATUSES:
                    raise self._refusal(status, resp.data, method, endpoint)
                reason = f"HTTP {status}"
                wait = _retry_after(resp.headers.get("Retry-After"))
            if attempt >= settings.max_attempts or (wait is not None and wait > MAX_RETRY_AFTER_S):
                raise FederateError(
                    f"{self.workspace.kind} {self.workspace.host} did not answer {method} "
                    f"{endpoint} after {attempt} attempt{'s' if attempt > 1 else ''} ({reason}"
                    + (f", asked to retry after {wait:g}s" if wait else "")
                    + "); try again later",
                    TEMPORARILY_UNAVAILABLE,
                )
            from federate.transfer.retry import backoff_delay

            time.sleep(max(wait or 0.0, backoff_delay(settings, attempt)))

    def _json(self, data: bytes, method: str, endpoint: str) -> dict[str, Any]:
        if not data.strip():
            return {}
        try:
            answer = json.loads(data)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise FederateError(
                f"{self.workspace.kind} {self.workspace.host} answered {method} {endpoint} "
                f"with something other than a JSON object: is it a {self.workspace.kind}?",
                INTERNAL_ERROR,
            )
        return answer

    def _refusal(self, status: int, data: bytes, method: str, endpoint: str) -> FederateError:
        code, message = "", ""
        try:
            answer = json.loads(data)
        except ValueError:
            answer = None
        if isinstance(answer, dict):
            code = str(answer.get("error_code") or "")
            message = str(answer.get("message") or "")
        if self.workspace.token:
            message = message.replace(self.workspace.token, "<redacted>")
        message = message[:_MAX_MESSAGE]
        said = f"{code}: {message}" if code and message else code or message
        host = self.workspace.host
        kind = self.workspace.kind
        if status in (401, 403):
            return FederateError(
                f"{kind} {host} refused the token from "
                f"{self.workspace.token_source} (HTTP {status}{': ' + said if said else ''})",
                PERMISSION_DENIED,
            )
        if status == 404:
            if not isinstance(answer, dict):
                return EndpointMissing(
                    f"{kind} {host} has no endpoint {endpoint} (HTTP 404 without "
                    f"an error object): is it a {kind} with Unity Catalog?",
                    RESOURCE_DOES_NOT_EXIST,
                )
            return FederateError(message or f"Not found: {endpoint}", RESOURCE_DOES_NOT_EXIST)
        if code in HTTP_STATUS:
            error_code = code
        elif status == 409 or code == "ALREADY_EXISTS":
            error_code = RESOURCE_ALREADY_EXISTS
        elif 400 <= status < 500:
            error_code = INVALID_PARAMETER_VALUE
        else:
            error_code = INTERNAL_ERROR
        return FederateError(
            f"{kind} {host} refused {method} {endpoint} (HTTP {status}"
            f"{': ' + said if said else ''})",
            error_code,
        )
