"""Make the benches' moto answer a ranged GET at the cost of the range, as S3 does.

moto 5.2's ``GetObject`` reads the whole object into memory (``FakeKey.value``, under the
key's lock) and only then cuts out the requested range, so every ranged GET costs the
server the size of the object. A client that reads a 1 GiB file as 128 ranges of 8 MiB
makes it copy 128 GiB; one that reads it as a few large ranges pays far less, which is
a property of the emulator, not of either client. :func:`install` changes that, in the
benches' moto process only (never in federate or the tests, which run stock moto): while
``GetObject`` handles a request with a single ``Range: bytes=...`` (and no ``partNumber``),
the key's value is read with seek + read of just those bytes, and the answer is the 206
moto would have sent (``Content-Range``, ``Content-Length``, no checksum headers). Any
other range (several ranges, unparsable, unsatisfiable) is left to moto's own handling.
"""

from __future__ import annotations

import threading
from typing import Any

_wanted = threading.local()


def _resolve(spec: str, size: int) -> tuple[int, int] | None:
    """The first and last byte of a single ``bytes=`` range in an object of ``size`` bytes;
    None where moto's own handling should decide (several ranges, errors, whole object)."""
    unit, _, ranges = spec.partition("=")
    if unit.strip() != "bytes" or "," in ranges:
        return None
    first, sep, last = ranges.strip().partition("-")
    try:
        begin = int(first) if first else None
        end = int(last) if last else None
    except ValueError:
        return None
    if not sep or size == 0:
        return None
    if begin is None:  # suffix: the last ``end`` bytes
        if not end:
            return None
        begin, end = size - min(end, size), size - 1
    else:
        end = size - 1 if end is None else min(end, size - 1)
    if begin > end:
        return None
    return begin, end


def install() -> None:
    """Patch this process's moto (call before the server answers its first request)."""
    from moto.s3.models import FakeKey
    from moto.s3.responses import S3Response

    if getattr(S3Response.get_object, "ranges_by_size", False):
        return  # installed already
    whole_value = FakeKey.value

    def value(key: FakeKey) -> bytes:
        spec = getattr(_wanted, "spec", None)
        span = _resolve(spec, key.size) if spec else None
        if span is None:
            return whole_value.fget(key)  # type: ignore[no-any-return]
        _wanted.span = (span, key.size)
        begin, end = span
        with key.lock:
            key._value_buffer.seek(begin)
            return key._value_buffer.read(end - begin + 1)  # type: ignore[no-any-return]

    original_get = S3Response.get_object

    def get_object(self: S3Response) -> Any:
        spec = self.headers.get("range") or None
        _wanted.spec = None if "partNumber" in self.querystring else spec
        _wanted.span = None
        try:
            status, headers, body = original_get(self)
            if _wanted.span is None or status != 200:
                return status, headers, body
            (begin, end), size = _wanted.span
        finally:
            _wanted.spec = _wanted.span = None
        for name in [h for h in headers if h.lower().startswith("x-amz-checksum-")]:
            del headers[name]
        headers["content-range"] = f"bytes {begin}-{end}/{size}"
        headers["content-length"] = str(len(body))
        return 206, headers, body

    get_object.ranges_by_size = True  # type: ignore[attr-defined]
    FakeKey.value = property(value, whole_value.fset)  # type: ignore[assignment]
    S3Response.get_object = get_object  # type: ignore[method-assign]
