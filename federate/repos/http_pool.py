"""The connection pool the http(s) repositories read through: urllib3, shared by all workers.

A model of many small files costs one request each, and ``requests`` spends about three
times urllib3's CPU per request (it re-reads the proxy environment and rebuilds its
settings every call); under the GIL that CPU is the ceiling of a parallel download. So
:class:`~federate.repos.http_transport.HttpTransport` talks to urllib3 directly through one
thread-safe pool per repository, sized to the engine's worker count so every worker keeps
its connection alive.

What ``requests`` would take from the environment is honoured once: the CA bundle in
``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE`` or ``SSL_CERT_FILE`` (else certifi's, as
requests does) when the pool is made, ``HTTP(S)_PROXY``/``NO_PROXY`` when a host is
first asked.
``FEDERATE_HTTP_TIMEOUT`` sets the read timeout in seconds (default 60).
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from federate.envvars import env_float

if TYPE_CHECKING:
    import urllib3

_QUERY = re.compile(r"\?[^\s\"']+")
_MAX_REDIRECTS = 5
_MAX_ORIGINS = 32  # hosts whose pools are looked up once (presigned URLs may span several)


HTTP_TIMEOUT_ENV = "FEDERATE_HTTP_TIMEOUT"
DEFAULT_HTTP_TIMEOUT_S = 60.0


def http_timeout() -> tuple[float, float]:
    """(connect, read) seconds."""
    read = env_float(
        HTTP_TIMEOUT_ENV,
        DEFAULT_HTTP_TIMEOUT_S,
        0,
        "seconds to wait for an HTTP store to answer",
        above=True,
    )
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
    """Install the query-cutting filter on the loggers that print request URLs."""
    for name in (
        "urllib3.connectionpool",
        "urllib3.connection",
        "urllib3.poolmanager",
        "urllib3.util.retry",
    ):
        logger = logging.getLogger(name)
        if _redacting not in logger.filters:
            logger.addFilter(_redacting)


def ca_bundle() -> str | None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        value = os.environ.get(name, "").strip()
        if value:
            return value
    try:
        import certifi
    except ImportError:
        return None  # the system's trust store
    return str(certifi.where())


def proxy_for(url: str) -> str | None:
    from urllib.request import getproxies, proxy_bypass

    parts = urlsplit(url)
    proxy = getproxies().get(parts.scheme)
    if not proxy or proxy_bypass(parts.hostname or ""):
        return None
    return proxy


class HttpPool:
    """urllib3's pool manager, with a shortcut to each host's own connections.

    ``PoolManager.request`` parses the URL and looks its pool up on every call, a tenth of
    a small file's CPU; so the pool (or, behind a proxy, the proxy manager) of each origin
    is looked up once, by the URL's ``scheme://host:port`` prefix, and requests go to it
    directly. Whether an origin is proxied follows ``NO_PROXY`` for that host. A redirect
    is followed through the manager, which knows every host.
    """

    def __init__(self, size: int, tls: Mapping[str, Any] | None = None) -> None:
        """``tls``: urllib3 pool arguments replacing the defaults (``ca_certs``,
        ``cert_reqs``, ``cert_file``) for a server with TLS settings of its own."""
        import urllib3

        guard_http_logs()
        # no retries here (the engine retries with backoff), but redirects are followed
        retries = urllib3.Retry(
            total=None, connect=0, read=0, status=0, other=0, redirect=_MAX_REDIRECTS
        )
        self._options: dict[str, Any] = {
            "num_pools": _MAX_ORIGINS * 2,
            "maxsize": size,
            "block": False,
            "timeout": urllib3.Timeout(*http_timeout()),
            "retries": retries,
            "ca_certs": ca_bundle(),
            **(tls or {}),
        }
        self.manager = urllib3.PoolManager(**self._options)
        #: origin -> (its connection pool, or None when proxied; the manager to use)
        self._routes: dict[str, tuple[urllib3.HTTPConnectionPool | None, urllib3.PoolManager]]
        self._routes = {}
        self._proxies: dict[str, urllib3.ProxyManager] = {}
        self._lock = threading.Lock()

    def _route(self, origin: str) -> tuple[urllib3.HTTPConnectionPool | None, urllib3.PoolManager]:
        import urllib3

        with self._lock:
            route = self._routes.get(origin)
            if route is not None:
                return route
            proxy = proxy_for(origin)
            if proxy is not None:
                if proxy not in self._proxies:
                    self._proxies[proxy] = urllib3.ProxyManager(proxy, **self._options)
                route = (None, self._proxies[proxy])
            elif len(self._routes) < _MAX_ORIGINS:  # the manager keeps that many pools open
                route = (self.manager.connection_from_url(origin), self.manager)
            else:
                return None, self.manager  # many hosts: the manager's own lookup each time
            self._routes[origin] = route
            return route

    def request(
        self, method: str, url: str, headers: Mapping[str, str] | None, stream: bool
    ) -> urllib3.BaseHTTPResponse:
        """Raises urllib3's errors; the body is read already unless ``stream``."""
        options: dict[str, Any] = {
            "headers": headers,
            "preload_content": not stream,
            "decode_content": False,
        }
        cut = url.find("/", url.find("//") + 2)
        origin = url if cut < 0 else url[:cut]
        route = self._routes.get(origin) or self._route(origin)
        pool, manager = route
        if pool is not None:
            resp = pool.urlopen(method, url[cut:] if cut >= 0 else "/", redirect=False, **options)
            if not resp.get_redirect_location():
                return resp
            resp.drain_conn()
            resp.release_conn()
        return manager.request(method, url, **options)


def final_url(resp: urllib3.BaseHTTPResponse, requested: str) -> str:
    """Where a response really came from, after any redirects."""
    from urllib.parse import urljoin

    url = requested
    for step in resp.retries.history if resp.retries is not None else ():
        if step.redirect_location:
            url = urljoin(url, step.redirect_location)  # Location may be relative
    return url
