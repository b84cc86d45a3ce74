"""The connection pool an http(s) repository reads through: urllib3, shared by all workers.

A model of many small files costs one request each, and ``requests`` spends about three
times urllib3's CPU per request (it re-reads the proxy environment and rebuilds its
settings every call); under the GIL that CPU is the ceiling of a parallel download. So
the repository talks to urllib3 directly through one thread-safe pool per repository,
sized to the engine's worker count so every worker keeps its connection alive.

What ``requests`` would take from the environment is honoured once, when the pool is
made: ``HTTP(S)_PROXY``/``NO_PROXY`` and the CA bundle in ``REQUESTS_CA_BUNDLE``,
``CURL_CA_BUNDLE`` or ``SSL_CERT_FILE`` (else certifi's, as requests does).
``FEDERATE_HTTP_TIMEOUT`` sets the read timeout in seconds (default 60).
"""

from __future__ import annotations

import logging
import os
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import urllib3

_QUERY = re.compile(r"\?[^\s\"']+")
_MAX_REDIRECTS = 5


def http_timeout() -> tuple[float, float]:
    """(connect, read) seconds."""
    raw = os.environ.get("FEDERATE_HTTP_TIMEOUT", "").strip()
    read = float(raw) if raw else 60.0
    return (min(10.0, read), read)


class _RedactQueries(logging.Filter):
    """urllib3 logs request lines at DEBUG, presigned signatures included: cut them."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "?" in text:
            record.msg, record.args = _QUERY.sub("?<redacted>", text), ()
        return True


_redacting = _RedactQueries()


def guard_http_logs() -> None:
    for name in ("urllib3.connectionpool", "urllib3.poolmanager", "urllib3.util.retry"):
        logger = logging.getLogger(name)
        if _redacting not in logger.filters:
            logger.addFilter(_redacting)


def _ca_bundle() -> str | None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        value = os.environ.get(name, "").strip()
        if value:
            return value
    try:
        import certifi
    except ImportError:
        return None  # the system's trust store
    return str(certifi.where())


def _proxy_for(url: str) -> str | None:
    from urllib.request import getproxies, proxy_bypass

    parts = urlsplit(url)
    proxy = getproxies().get(parts.scheme)
    if not proxy or proxy_bypass(parts.hostname or ""):
        return None
    return proxy


class HttpPool:
    """urllib3's pool manager, with a shortcut to the connections of the root's own host.

    ``PoolManager.request`` parses the URL and looks its pool up on every call, a tenth of
    a small file's CPU; requests to the root's host (all of them, bar redirects) go to
    that host's pool directly. A redirect is followed through the manager, which knows
    every host.
    """

    def __init__(self, url: str, size: int) -> None:
        import urllib3

        guard_http_logs()
        timeout = urllib3.Timeout(*http_timeout())
        # no retries here (the engine retries with backoff), but redirects are followed
        retries = urllib3.Retry(
            total=None, connect=0, read=0, status=0, other=0, redirect=_MAX_REDIRECTS
        )
        options: dict[str, Any] = {
            "num_pools": 4,
            "maxsize": size,
            "block": False,
            "timeout": timeout,
            "retries": retries,
            "ca_certs": _ca_bundle(),
        }
        proxy = _proxy_for(url)
        self.manager: urllib3.PoolManager
        self._home: urllib3.HTTPConnectionPool | None = None
        if proxy is not None:
            self.manager = urllib3.ProxyManager(proxy, **options)
        else:
            self.manager = urllib3.PoolManager(**options)
            self._home = self.manager.connection_from_url(url)
        parts = urlsplit(url)
        self._origin = f"{parts.scheme}://{parts.netloc}/"

    def request(
        self, method: str, url: str, headers: dict[str, str] | None, stream: bool
    ) -> urllib3.BaseHTTPResponse:
        """Raises urllib3's errors; the body is read already unless ``stream``."""
        options: dict[str, Any] = {
            "headers": headers,
            "preload_content": not stream,
            "decode_content": False,
        }
        if self._home is not None and url.startswith(self._origin):
            target = url[len(self._origin) - 1 :]
            resp = self._home.urlopen(method, target, redirect=False, **options)
            if not resp.get_redirect_location():
                return resp
            resp.drain_conn()
            resp.release_conn()
        return self.manager.request(method, url, **options)


def final_url(resp: urllib3.BaseHTTPResponse, requested: str) -> str:
    """Where a response really came from, after any redirects."""
    from urllib.parse import urljoin

    url = requested
    for step in resp.retries.history if resp.retries is not None else ():
        if step.redirect_location:
            url = urljoin(url, step.redirect_location)  # Location may be relative
    return url
