"""What the answer to a ranged read must be, and the error when it is not.

A store answering a ranged read says which bytes it sent (``Content-Range: bytes
first-last/total``) and of which version (``ETag``, a GCS generation). Repositories check
both against what was asked and what the listing pinned before writing a byte: a 206 of
other bytes written at the asked offset, or the ranges of two versions of an object put
side by side (a server ignoring ``If-Match``), would otherwise end as a file of wrong
bytes. The engine answers :class:`WrongRange` by fetching the whole file again, a few
times at most (see :mod:`federate.transfer.fetch`).
"""

from __future__ import annotations

import re

from federate.errors import INTERNAL_ERROR, FederateError

_CONTENT_RANGE = re.compile(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)


class WrongRange(FederateError):
    """A ranged read was answered with other bytes than asked: another range, another
    version of the object, or the whole object. Nothing of the answer was written."""

    def __init__(self, where: str, detail: str) -> None:
        super().__init__(f"{where}: {detail}", INTERNAL_ERROR)
        self.detail = detail


class RangesIgnored(WrongRange):
    """A ranged read was answered with the whole object (HTTP 200): the server does not
    serve byte ranges. The engine fetches the file again as one read from its start."""


def parse_content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """``bytes 0-99/1234`` -> ``(0, 99, 1234)`` (total None for ``*``); None if malformed."""
    match = _CONTENT_RANGE.match(value or "")
    if match is None:
        return None
    first, last, total = match.groups()
    return int(first), int(last), None if total == "*" else int(total)


def check_content_range(
    where: str, value: str | None, start: int, length: int, size: int | None
) -> None:
    """Raise :class:`WrongRange` unless ``value`` (a 206's ``Content-Range``) is exactly
    bytes ``start`` to ``start + length - 1`` (fewer only where the object ends) of an
    object of ``size`` bytes (None: unknown)."""
    asked = f"bytes {start}-{start + length - 1}"
    parsed = parse_content_range(value)
    if parsed is None:
        raise WrongRange(where, f"asked for {asked}, the answer says {value or 'nothing'!r}")
    first, last, total = parsed
    if size is not None and total is not None and total != size:
        raise WrongRange(
            where, f"the answer is of an object of {total} bytes, the store listed {size}"
        )
    end = start + length - 1
    if total is not None:
        end = min(end, total - 1)
    if (first, last) != (start, end):
        raise WrongRange(where, f"asked for {asked}, the answer holds bytes {first}-{last}")


def _bare(etag: str) -> str:
    etag = etag.strip()
    if etag.startswith("W/"):
        etag = etag[2:]
    return etag.strip('"')


def check_etag(where: str, got: str | None, pinned: str | None) -> None:
    """Raise :class:`WrongRange` if an answer's ETag names another version than the one
    pinned at listing (quotes and a weak marker aside; either missing: nothing to check)."""
    if got and pinned and _bare(got) != _bare(pinned):
        raise WrongRange(
            where,
            f"the answer is of version ETag {got}, the listing pinned {pinned} (the object "
            "changed during the download and the store ignored If-Match)",
        )
