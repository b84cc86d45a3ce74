"""Sending webhook deliveries in the background, with retries, without slowing writers.

The registry hands each delivery to the process's :class:`Dispatcher` after its write
committed. ``submit`` only appends to a bounded in-memory queue and returns: worker
threads do the HTTP, so a slow or dead receiver costs the writer nothing. A full queue
drops the new delivery with a warning rather than block or grow without bound.

A connection error, a timeout, 429 or a 5xx answer is retried with exponential backoff
(honouring a numeric ``Retry-After``), up to ``max_attempts``; any other answer is final.
Redirects are not followed. Every retry of a delivery keeps its delivery id and gets a
fresh timestamp and signature (see :mod:`federate.webhooks.signing`).

Deliveries live in memory. At interpreter exit a hook (:meth:`Dispatcher.drain`) gives
each pending delivery one last attempt at once, skipping the backoff waits, for up to
``FEDERATE_WEBHOOKS_EXIT_TIMEOUT`` seconds: a short-lived CLI process still delivers,
and a dead receiver costs its exit one refused connection, not the retry schedule.
Tests and programs that want the full retry schedule call :func:`flush` themselves.

Settings come from the environment when the dispatcher starts:
``FEDERATE_WEBHOOKS_QUEUE_SIZE`` (1000), ``FEDERATE_WEBHOOKS_MAX_ATTEMPTS`` (5),
``FEDERATE_WEBHOOKS_BACKOFF_SECONDS`` (1, doubled per retry up to 60),
``FEDERATE_WEBHOOKS_TIMEOUT_SECONDS`` (10 per request), ``FEDERATE_WEBHOOKS_WORKERS`` (2),
``FEDERATE_WEBHOOKS_EXIT_TIMEOUT`` (10). Logs name the webhook, event and delivery id and
a redacted URL; never a secret or a signature. A webhook URL's password, path and query
string are often its credential (``https://hooks.slack.com/services/T/B/XXXX``,
``?token=...``): each delivery registers them with :func:`federate.redaction.register_secret`,
so neither federate's log lines nor those of requests and urllib3 show them, and error
texts replace them with ``<redacted>``.
"""

from __future__ import annotations

import atexit
import heapq
import itertools
import logging
import os
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import federate
from federate.envvars import env_float, env_int
from federate.errors import redact
from federate.redaction import REDACTED, redact_text, register_secret, split_userinfo
from federate.transfer.retry import retry_after_seconds
from federate.webhooks.signing import delivery_headers

logger = logging.getLogger(__name__)

MAX_BACKOFF_S = 60.0
#: A full queue logs its drops at most this often.
DROP_LOG_INTERVAL_S = 10.0
#: Response bodies are kept (for test results and logs) up to this many characters.
MAX_RESPONSE_CHARS = 1000
USER_AGENT = f"federate-webhooks/{federate.__version__}"


@dataclass(frozen=True)
class DispatchSettings:
    queue_size: int = 1000
    max_attempts: int = 5
    backoff_s: float = 1.0
    timeout_s: float = 10.0
    workers: int = 2
    exit_timeout_s: float = 10.0

    @classmethod
    def from_env(cls) -> DispatchSettings:
        return cls(
            queue_size=env_int("FEDERATE_WEBHOOKS_QUEUE_SIZE", cls.queue_size, 1),
            max_attempts=env_int("FEDERATE_WEBHOOKS_MAX_ATTEMPTS", cls.max_attempts, 1),
            backoff_s=env_float("FEDERATE_WEBHOOKS_BACKOFF_SECONDS", cls.backoff_s, 0),
            timeout_s=env_float("FEDERATE_WEBHOOKS_TIMEOUT_SECONDS", cls.timeout_s, 0.1),
            workers=env_int("FEDERATE_WEBHOOKS_WORKERS", cls.workers, 1),
            exit_timeout_s=env_float("FEDERATE_WEBHOOKS_EXIT_TIMEOUT", cls.exit_timeout_s, 0),
        )


@dataclass(frozen=True)
class Delivery:
    """One event for one webhook: the body is fixed, headers are made per attempt."""

    webhook_id: str
    url: str = field(repr=False)  # its path and query may be the receiver's credential
    event: str
    delivery_id: str
    body: bytes = field(repr=False)
    secret: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        register_secret(*url_secrets(self.url))

    def describe(self) -> str:
        """For logs: which delivery, to which origin (the URL's path and query may be
        its credential, the password is)."""
        return (
            f"{self.event} delivery {self.delivery_id} for webhook {self.webhook_id} "
            f"to {redact(origin(self.url))}"
        )


def origin(url: str) -> str:
    """``scheme://[userinfo@]host[:port]`` of ``url``."""
    scheme, _, rest = url.partition("://")
    userinfo, where = split_userinfo(rest)
    host = re.split(r"[/?#]", where, maxsplit=1)[0]
    return f"{scheme}://{userinfo + '@' if userinfo is not None else ''}{host}"


@dataclass(frozen=True)
class AttemptResult:
    """What one POST got back: an HTTP status, or the error that prevented one."""

    status_code: int | None = None
    response_body: str | None = None
    error: str | None = None
    retryable: bool = False
    retry_after_s: float | None = None

    @property
    def success(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def url_secrets(url: str) -> list[str]:
    """The parts of a webhook URL that may be its credential: password, path, query."""
    userinfo, where = split_userinfo(url.partition("://")[2])
    found = [userinfo.partition(":")[2]] if userinfo else []
    try:
        parts = urlsplit(f"x://{where}")
    except ValueError:
        return [*found, where]
    return [*found, parts.path, parts.query]


def _scrub(text: str, url: str) -> str:
    """An exception message without the URL's password, path or query string."""
    for piece in sorted(url_secrets(url), key=len, reverse=True):
        if len(piece) > 1:
            text = text.replace(piece, REDACTED)
    return redact_text(text)


def _error_text(err: Exception, url: str) -> str:
    # requests wraps urllib3's MaxRetryError, whose ``reason`` is the useful part
    cause = getattr(err.args[0], "reason", None) if err.args else None
    return _scrub(f"{type(err).__name__}: {cause or err}", url)


def _retry_after(value: str | None) -> float | None:
    seconds = retry_after_seconds(value)  # None for an HTTP date: our own backoff then
    return None if seconds is None else min(seconds, MAX_BACKOFF_S)


def _new_session() -> Any:
    import requests

    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    return session


def post_once(session: Any, delivery: Delivery, timeout_s: float) -> AttemptResult:
    """POST ``delivery`` once; never raises for anything the network or receiver does."""
    import requests

    headers = delivery_headers(delivery.event, delivery.delivery_id, delivery.body, delivery.secret)
    try:
        response = session.post(
            delivery.url,
            data=delivery.body,
            headers=headers,
            timeout=timeout_s,
            allow_redirects=False,
        )
    except (requests.ConnectionError, requests.Timeout) as err:
        return AttemptResult(error=_error_text(err, delivery.url), retryable=True)
    except requests.RequestException as err:
        return AttemptResult(error=_error_text(err, delivery.url))
    status = response.status_code
    return AttemptResult(
        status_code=status,
        response_body=response.text[:MAX_RESPONSE_CHARS],
        retryable=status == 429 or status >= 500,
        retry_after_s=_retry_after(response.headers.get("Retry-After")),
    )


def send_now(delivery: Delivery, timeout_s: float | None = None) -> AttemptResult:
    """One synchronous attempt, for ``test_webhook``: the caller sees the receiver's answer."""
    timeout = DispatchSettings.from_env().timeout_s if timeout_s is None else timeout_s
    try:
        session = _new_session()
    except ImportError:
        return AttemptResult(error=_NO_REQUESTS)
    with session:
        return post_once(session, delivery, timeout)


_NO_REQUESTS = "webhook delivery needs the 'requests' package: pip install 'federate[webhooks]'"


@dataclass(order=True)
class _Scheduled:
    due: float
    seq: int
    attempt: int = field(compare=False)
    delivery: Delivery = field(compare=False)


class Dispatcher:
    """A bounded queue of deliveries and the worker threads that send them."""

    def __init__(self, settings: DispatchSettings | None = None) -> None:
        self.settings = settings or DispatchSettings.from_env()
        self._cond = threading.Condition()
        self._scheduled: list[_Scheduled] = []  # a heap ordered by due time
        self._sending = 0
        self._seq = itertools.count()
        self._workers: list[threading.Thread] = []
        self._closed = False
        self._final = False  # draining: one last attempt each, no more retries
        self._counts: Counter[str] = Counter()
        self._drop_logged_at = -DROP_LOG_INTERVAL_S
        self._drops_unlogged = 0

    # -- the writer's side: never blocks on the network ---------------------------------

    def submit(self, delivery: Delivery) -> bool:
        """Queue ``delivery``; False (and a warning) if the queue is full or closed."""
        with self._cond:
            if self._closed:
                return False
            if len(self._scheduled) + self._sending >= self.settings.queue_size:
                self._counts["dropped"] += 1
                self._log_drop(delivery)
                return False
            self._schedule(delivery, 1, time.monotonic())
            if not self._workers:
                self._start_workers()
        return True

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until nothing is queued, retrying or in flight; False if ``timeout`` ran out."""
        with self._cond:
            return self._cond.wait_for(
                lambda: not self._scheduled and not self._sending, timeout=timeout
            )

    def drain(self, timeout: float) -> bool:
        """Send everything pending once more right away, without further retries, and wait
        up to ``timeout`` seconds for it (used at exit). False if time ran out."""
        with self._cond:
            self._final = True
            now = time.monotonic()
            for item in self._scheduled:
                item.due = now
            heapq.heapify(self._scheduled)
            self._cond.notify_all()
        return self.flush(timeout)

    def pending(self) -> int:
        with self._cond:
            return len(self._scheduled) + self._sending

    def stats(self) -> dict[str, int]:
        """Counts so far: delivered, failed (gave up), retried (attempts after the first),
        dropped (queue full)."""
        with self._cond:
            return {k: self._counts[k] for k in ("delivered", "failed", "retried", "dropped")}

    def close(self) -> None:
        """Stop the workers; queued deliveries are discarded (after a flush, there are none)."""
        with self._cond:
            self._closed = True
            self._scheduled.clear()
            self._cond.notify_all()
        for worker in self._workers:
            if worker is not threading.current_thread():
                worker.join(timeout=self.settings.timeout_s + 1)

    # -- the workers' side --------------------------------------------------------------

    def _log_drop(self, delivery: Delivery) -> None:
        # a dead receiver under a write burst drops thousands: one line per interval
        self._drops_unlogged += 1
        now = time.monotonic()
        if now - self._drop_logged_at < DROP_LOG_INTERVAL_S:
            return
        logger.warning(
            "Webhook queue full (%d pending): dropped %d deliveries, the latest %s",
            self.settings.queue_size,
            self._drops_unlogged,
            delivery.describe(),
        )
        self._drop_logged_at, self._drops_unlogged = now, 0

    def _schedule(self, delivery: Delivery, attempt: int, due: float) -> None:
        heapq.heappush(self._scheduled, _Scheduled(due, next(self._seq), attempt, delivery))
        self._cond.notify_all()

    def _start_workers(self) -> None:
        for n in range(self.settings.workers):
            worker = threading.Thread(target=self._work, name=f"federate-webhooks-{n}", daemon=True)
            worker.start()
            self._workers.append(worker)

    def _next(self) -> _Scheduled | None:
        """The next due delivery (waiting for one), or None once closed. Holds the lock."""
        while not self._closed:
            now = time.monotonic()
            if self._scheduled and self._scheduled[0].due <= now:
                self._sending += 1
                return heapq.heappop(self._scheduled)
            self._cond.wait(self._scheduled[0].due - now if self._scheduled else None)
        return None

    def _work(self) -> None:
        session = None
        while True:
            with self._cond:
                item = self._next()
            if item is None:
                break
            try:
                if session is None:
                    session = _new_session()
                result = post_once(session, item.delivery, self.settings.timeout_s)
            except ImportError:
                result = AttemptResult(error=_NO_REQUESTS)
            except Exception as err:  # a bug must not kill the worker thread
                result = AttemptResult(error=f"{type(err).__name__}: {err}")
            with self._cond:
                self._sending -= 1
                self._settle(item, result)
                self._cond.notify_all()
        if session is not None:
            session.close()

    def _settle(self, item: _Scheduled, result: AttemptResult) -> None:
        delivery, attempt = item.delivery, item.attempt
        if result.success:
            self._counts["delivered"] += 1
            return
        what = result.error or f"HTTP {result.status_code}"
        may_retry = not (self._closed or self._final)
        if result.retryable and attempt < self.settings.max_attempts and may_retry:
            delay = min(self.settings.backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_S)
            if result.retry_after_s is not None:
                delay = max(delay, result.retry_after_s)
            self._counts["retried"] += 1
            logger.info(
                "Attempt %d of %s failed (%s); retrying in %.1f s",
                attempt,
                delivery.describe(),
                what,
                delay,
            )
            self._schedule(delivery, attempt + 1, time.monotonic() + delay)
            return
        self._counts["failed"] += 1
        logger.warning("Gave up on %s after %d attempt(s): %s", delivery.describe(), attempt, what)


_dispatcher: Dispatcher | None = None
_dispatcher_lock = threading.Lock()


def get_dispatcher() -> Dispatcher:
    """The process's dispatcher, created (with settings from the environment) on first use."""
    global _dispatcher
    dispatcher = _dispatcher
    if dispatcher is None:
        with _dispatcher_lock:
            dispatcher = _dispatcher
            if dispatcher is None:
                dispatcher = _dispatcher = Dispatcher()
    return dispatcher


def flush(timeout: float | None = None) -> bool:
    """Wait for the pending deliveries of this process; False if ``timeout`` ran out."""
    dispatcher = _dispatcher
    return True if dispatcher is None else dispatcher.flush(timeout)


def reset_dispatcher(settings: DispatchSettings | None = None) -> Dispatcher:
    """Close the current dispatcher (discarding what it still holds) and start afresh."""
    global _dispatcher
    with _dispatcher_lock:
        old, _dispatcher = _dispatcher, Dispatcher(settings)
        new = _dispatcher
    if old is not None:
        old.close()
    return new


def _flush_at_exit() -> None:
    dispatcher = _dispatcher
    if dispatcher is None or not dispatcher.pending():
        return
    if not dispatcher.drain(dispatcher.settings.exit_timeout_s):
        logger.warning(
            "Exiting with %d webhook deliveries unsent (FEDERATE_WEBHOOKS_EXIT_TIMEOUT=%s s)",
            dispatcher.pending(),
            dispatcher.settings.exit_timeout_s,
        )


def _forget_in_child() -> None:
    # a forked child has the parent's queue but none of its threads: start clean
    global _dispatcher, _dispatcher_lock
    _dispatcher = None
    _dispatcher_lock = threading.Lock()


atexit.register(_flush_at_exit)
os.register_at_fork(after_in_child=_forget_in_child)
