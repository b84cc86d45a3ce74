"""JSON over HTTP to a registry's REST API (urllib3), shared by the REST registries
(Databricks Unity Catalog, an MLflow tracking server).

Every call sends the server's own credentials (:class:`RestServer`), and only to that
server. Answers become FederateErrors, whatever went wrong:

- 404: RESOURCE_DOES_NOT_EXIST, with the server's own message (a 404 without an error
  object: the URL is not the API it should be, said so);
- 401 and 403: PERMISSION_DENIED naming the server and where the credentials came from
  (never the credentials themselves);
- a server certificate that fails verification: INVALID_PARAMETER_VALUE at once (a
  configuration to fix, not a server to wait for), naming the host and the server's
  ``tls_hint`` (which variables set the trusted certificates);
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
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import urlencode, urlsplit

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
    missing_package,
)
from federate.transfer.retry import retry_after_seconds

if TYPE_CHECKING:
    import ssl

    import urllib3

logger = logging.getLogger(__name__)

RETRIED_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: the longest ``Retry-After`` honoured; a server asking for more is given up on
MAX_RETRY_AFTER_S = 60.0
_MAX_MESSAGE = 500
_USER_AGENT = "federate"


def _certificate_error(err: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure behind urllib3's exception, if that is what
    ``err`` is (urllib3 wraps it in SSLError, or MaxRetryError around that)."""
    import ssl

    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        seen.add(id(current))
        nested = [a for a in getattr(current, "args", ()) if isinstance(a, BaseException)]
        current = (
            getattr(current, "reason", None)
            or (nested[0] if nested else None)
            or current.__cause__
            or current.__context__
        )
    return None


class EndpointMissing(FederateError):
    """A 404 without an error object: the server has no such route (not a missing model);
    a client may fall back (an OSS Unity Catalog server has no alias routes)."""


@dataclass(frozen=True)
class RestServer:
    """Where a :class:`RestClient` sends its calls and how it proves who it is.

    ``kind`` starts every message ("MLflow server", "Databricks workspace");
    ``credentials_source`` says, in words fit for a message, which credentials were sent
    ("the token from DATABRICKS_TOKEN"; empty: none); ``auth_hint`` is added to a refusal
    (which variables to set); ``probe`` is the question an answer that is not the API's
    raises ("is it an MLflow tracking server?"); ``tls_hint`` follows a certificate that
    fails verification (which variables to set; default: the CA bundle variables).
    ``ca_certs`` (a PEM bundle; None: the usual CA bundle), ``verify`` and
    ``client_cert`` (a PEM with certificate and key) set up TLS. ``headers`` and
    ``secrets`` never appear in a repr or a message.
    """

    base_url: str
    kind: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    credentials_source: str = ""
    auth_hint: str = ""
    probe: str = ""
    tls_hint: str = ""
    ca_certs: str | None = None
    verify: bool = True
    client_cert: str | None = None
    secrets: tuple[str, ...] = field(default=(), repr=False)

    def tls_options(self) -> dict[str, Any]:
        """urllib3 pool keyword arguments for this server's TLS settings."""
        from federate.repos.http_pool import ca_bundle

        options: dict[str, Any] = {"ca_certs": self.ca_certs or ca_bundle()}
        if not self.verify:
            options["cert_reqs"] = "CERT_NONE"
        if self.client_cert:
            options["cert_file"] = self.client_cert
        return options

    def hide_secrets(self, text: str) -> str:
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "<redacted>")
        return text


class RestClient:
    """JSON over HTTP to one server; thread-safe (one urllib3 pool)."""

    def __init__(self, server: RestServer) -> None:
        self.server = server
        self._pool: urllib3.PoolManager | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.server!r})"

    def _manager(self) -> urllib3.PoolManager:
        with self._lock:
            if self._pool is None:
                try:
                    import urllib3
                except ImportError:  # pragma: no cover - depends on the environment
                    raise missing_package(
                        f"{self.server.kind} registries", "urllib3", "http"
                    ) from None
                from federate.repos.http_pool import guard_http_logs, http_timeout, proxy_for

                guard_http_logs()
                options: dict[str, Any] = {
                    "timeout": urllib3.Timeout(*http_timeout()),
                    "retries": False,  # retried here, with Retry-After honoured
                    "maxsize": 8,
                    **self.server.tls_options(),
                }
                proxy = proxy_for(self.server.base_url)
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

    def patch(self, path: str, body: Mapping[str, object]) -> dict[str, Any]:
        return self.call("PATCH", path, body)

    def delete(self, path: str, body: Mapping[str, object] | None = None) -> dict[str, Any]:
        """A DELETE, with a JSON body if given (MLflow's registry deletes take one)."""
        return self.call("DELETE", path, body)

    def auth_headers(self) -> Mapping[str, str]:
        """The headers that prove who the client is, for each call (a subclass whose
        tokens expire renews them here)."""
        return self.server.headers

    def post_form(self, path: str, fields: Mapping[str, str]) -> dict[str, Any]:
        """A form-encoded POST (an OAuth token endpoint); the decoded JSON answer."""
        payload = urlencode(dict(fields)).encode()
        data = self.send("POST", path, payload, "application/x-www-form-urlencoded")
        return self._json(data, "POST", path.split("?", 1)[0])

    def call(self, method: str, path: str, body: Mapping[str, object] | None) -> dict[str, Any]:
        """One API call, retried while the server is busy; the decoded JSON answer."""
        payload = None if body is None else json.dumps(body).encode()
        data = self.send(method, path, payload, "application/json")
        return self._json(data, method, path.split("?", 1)[0])

    def put_file(self, path: str, local_path: str) -> dict[str, Any]:
        """PUT the bytes of ``local_path`` (streamed from disk, read again for each
        attempt) to ``path``; the decoded JSON answer ({} for an empty one)."""
        size = os.path.getsize(local_path)

        def body() -> BinaryIO:
            return open(local_path, "rb")  # noqa: SIM115 (closed by send)

        data = self.send("PUT", path, body, "application/octet-stream", size)
        return self._json(data, "PUT", path.split("?", 1)[0])

    def send(
        self,
        method: str,
        path: str,
        payload: bytes | Callable[[], BinaryIO] | None,
        content_type: str = "application/json",
        size: int | None = None,
    ) -> bytes:
        """One request with a raw body (bytes, or a function opening a fresh stream of
        ``size`` bytes for each attempt), retried while the server is busy; the body of
        the 2xx answer."""
        from federate.transfer.settings import TransferSettings

        settings = TransferSettings.from_env()
        headers = {
            **self.auth_headers(),
            "User-Agent": _USER_AGENT,
            "Accept": "application/json",
        }
        if payload is not None:
            headers["Content-Type"] = content_type
            if size is not None:
                headers["Content-Length"] = str(size)
        url = self.server.base_url + path
        endpoint = path.split("?", 1)[0]
        attempt = 0
        while True:
            attempt += 1
            wait: float | None = None
            stream = payload() if callable(payload) else None
            body = stream if stream is not None else payload if isinstance(payload, bytes) else None
            try:
                resp = self._manager().request(
                    method,
                    url,
                    body=body,
                    headers=headers,
                    redirect=False,
                )
            except Exception as err:  # urllib3's connection and timeout errors
                rejected = _certificate_error(err)
                if rejected is not None:
                    raise self._untrusted(rejected) from None
                status, reason = 0, describe(err)
            else:
                status = resp.status
                logger.debug("%s %s -> %s", method, endpoint, status)
                if 200 <= status < 300:
                    return resp.data
                if status not in RETRIED_STATUSES:
                    raise self._refusal(status, resp.data, method, endpoint)
                reason = f"HTTP {status}"
                wait = retry_after_seconds(resp.headers.get("Retry-After"))
            finally:
                if stream is not None:
                    stream.close()
            if attempt >= settings.max_attempts or (wait is not None and wait > MAX_RETRY_AFTER_S):
                raise FederateError(
                    f"{self.server.kind} {self.server.base_url} did not answer {method} "
                    f"{endpoint} after {attempt} attempt{'s' if attempt > 1 else ''} ({reason}"
                    + (f", asked to retry after {wait:g}s" if wait else "")
                    + "); try again later",
                    TEMPORARILY_UNAVAILABLE,
                )
            from federate.transfer.retry import backoff_delay

            time.sleep(max(wait or 0.0, backoff_delay(settings, attempt)))

    def _untrusted(self, err: ssl.SSLCertVerificationError) -> FederateError:
        server = self.server
        host = urlsplit(server.base_url).netloc
        verify = err.verify_message or "not trusted"
        hint = server.tls_hint or (
            "point REQUESTS_CA_BUNDLE (or SSL_CERT_FILE) at the CA bundle that signed it"
        )
        return FederateError(
            f"{server.kind} {server.base_url}: the certificate of {host} failed verification "
            f"({verify}); {hint}",
            INVALID_PARAMETER_VALUE,
        )

    def _json(self, data: bytes, method: str, endpoint: str) -> dict[str, Any]:
        if not data.strip():
            return {}
        try:
            answer = json.loads(data)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise FederateError(
                f"{self.server.kind} {self.server.base_url} answered {method} {endpoint} "
                f"with something other than a JSON object: {self.server.probe}",
                INTERNAL_ERROR,
            )
        return answer

    def _refusal(self, status: int, data: bytes, method: str, endpoint: str) -> FederateError:
        server = self.server
        code, message = "", ""
        try:
            answer = json.loads(data)
        except ValueError:
            answer = None
        if isinstance(answer, dict):
            # REST APIs say error_code/message; OAuth token endpoints error/error_description
            code = str(answer.get("error_code") or answer.get("error") or "")
            message = str(answer.get("message") or answer.get("error_description") or "")
        message = server.hide_secrets(message)[:_MAX_MESSAGE]
        said = f"{code}: {message}" if code and message else code or message
        where = f"{server.kind} {server.base_url}"
        if status in (401, 403):
            sent = server.credentials_source or "a request without credentials"
            hint = f"; {server.auth_hint}" if server.auth_hint else ""
            return FederateError(
                f"{where} refused {sent} (HTTP {status}{': ' + said if said else ''}){hint}",
                PERMISSION_DENIED,
            )
        if status == 404:
            if not isinstance(answer, dict):
                return EndpointMissing(
                    f"{where} has no endpoint {endpoint} (HTTP 404 without an error object): "
                    f"{server.probe}",
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
            f"{where} refused {method} {endpoint} (HTTP {status}{': ' + said if said else ''})",
            error_code,
        )
