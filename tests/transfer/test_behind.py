"""A check run on a thread behind the stream: fed the same bytes in the same order, and
its failures (a mismatch, an error while hashing) raised by verify()."""

from __future__ import annotations

import hashlib
import os

import pytest

from federate.errors import INTERNAL_ERROR
from federate.testing.errors import raises_federate_error
from federate.transfer.behind import CheckBehind
from federate.transfer.checksums import Checksum, DigestCheck


def _pieces(data: bytes, size: int = 256 * 1024) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_the_bytes_are_checked_in_order_on_another_thread():
    data = os.urandom(5 * 1024 * 1024 + 17)
    good = CheckBehind(DigestCheck(Checksum("md5", hashlib.md5(data).digest()), "w.bin"))
    for piece in _pieces(data):
        good.update(piece)
    good.verify()
    bad = CheckBehind(DigestCheck(Checksum("md5", hashlib.md5(data).digest()), "w.bin"))
    for piece in _pieces(data[:-1] + bytes([data[-1] ^ 1])):
        bad.update(piece)
    with raises_federate_error(INTERNAL_ERROR, "w.bin: md5 checksum mismatch"):
        bad.verify()


def test_an_error_while_hashing_is_raised_by_verify_and_close_stops_the_thread():
    class Broken:
        def update(self, data: bytes | memoryview, /) -> None:
            raise ValueError("hasher broke")

        def verify(self) -> None:
            raise AssertionError("never reached")

    check = CheckBehind(Broken())
    for piece in _pieces(os.urandom(6 * 1024 * 1024)):
        check.update(piece)  # the queue never fills up behind a failed hasher
    with pytest.raises(ValueError, match="hasher broke"):
        check.verify()
    stopped = CheckBehind(Broken())
    stopped.update(b"x")
    stopped.close()
    stopped.close()  # a second close is harmless
