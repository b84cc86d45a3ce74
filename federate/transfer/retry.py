"""Retrying reads the store may answer next time: exponential backoff with full jitter."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from federate.errors import TEMPORARILY_UNAVAILABLE, FederateError, describe
from federate.transfer.settings import TransferSettings

if TYPE_CHECKING:
    from federate.repos.base import ArtifactRepository

T = TypeVar("T")


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` header asks for: a non-negative number, else None (an
    HTTP date or garbage: the caller falls back to its own backoff)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


class Cancelled(Exception):
    """Another part of the download failed or the user interrupted: stop quietly."""


def backoff_delay(settings: TransferSettings, retry: int) -> float:
    """Seconds to wait before retry number ``retry`` (1-based): uniform in [0, base * 2^(n-1)]."""
    ceiling = min(settings.retry_backoff_cap, settings.retry_backoff * 2 ** (retry - 1))
    return random.uniform(0, ceiling)


def wait_or_cancel(cancel: threading.Event, seconds: float) -> None:
    if cancel.wait(seconds):
        raise Cancelled


def out_of_retries(
    what: str, attempts: int, err: BaseException, started: bool = True
) -> FederateError:
    """The error once the retry budget is spent; ``started``: files were being fetched
    (their finished parts are kept for the next run), else nothing was fetched yet."""
    after = (
        "the partial download is kept and a new run resumes it"
        if started
        else "nothing was downloaded"
    )
    return FederateError(
        f"{what}: still failing after {attempts} attempts ({describe(err)}); {after}",
        TEMPORARILY_UNAVAILABLE,
    )


def with_retries(
    repo: ArtifactRepository, settings: TransferSettings, what: str, call: Callable[[], T]
) -> T:
    """``call()`` (a listing or lookup before any file is fetched), retried with backoff
    while the repository calls its failure transient."""
    attempt = 1
    while True:
        try:
            return call()
        except Exception as err:
            if not repo.is_transient_error(err):
                raise
            if attempt >= settings.max_attempts:
                raise out_of_retries(what, attempt, err, started=False) from err
        time.sleep(backoff_delay(settings, attempt))
        attempt += 1
