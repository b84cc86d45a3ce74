"""Checking a ranged file part by part (S3's multipart ETag): each range hashed as its
bytes are written, the in-order feed when the ranges are not the check's parts."""

from __future__ import annotations

import hashlib
import os
import random

import pytest

from federate.errors import INTERNAL_ERROR, FederateError
from federate.testing.errors import raises_federate_error
from federate.transfer.fetch import plan_ranges
from federate.transfer.parts import PartFeed

PART = 256 * 1024


class PartsCheck:
    """What S3's multipart-ETag check offers: parts of ``part`` bytes, or in order."""

    def __init__(self, data: bytes, part: int | None, fail: BaseException | None = None):
        self.part = part
        self.expected = [
            hashlib.md5(data[i : i + (part or len(data))]).digest()
            for i in range(0, len(data), part or len(data))
        ]
        self.fail = fail
        self.in_order = bytearray()
        self.judged: list[bytes] | None = None

    def part_size(self) -> int | None:
        if self.fail is not None:
            raise self.fail
        return self.part

    def update(self, data: bytes | memoryview, /) -> None:
        self.in_order += data

    def verify(self) -> None:
        if self.part is None:
            return  # as S3's check: parts it cannot tell prove nothing
        fed = bytes(self.in_order)
        self._judge([hashlib.md5(fed[i : i + PART]).digest() for i in range(0, len(fed), PART)])

    def verify_parts(self, digests: list[bytes]) -> None:
        self.judged = digests
        self._judge(digests)

    def _judge(self, digests: list[bytes]) -> None:
        if digests != self.expected:
            raise FederateError("arrived corrupted: multipart ETag", INTERNAL_ERROR)


@pytest.fixture
def written(tmp_path):
    data = os.urandom(5 * PART + 1234)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDWR)
    yield fd, data, path
    os.close(fd)


def _write_in_pieces(feed: PartFeed, ranges: list[tuple[int, int]], path) -> None:
    """Report each range's bytes as written in pieces, handing some pieces over (as the
    engine's range writers do) and not others (then they are read from the file)."""
    on_disk = path.read_bytes()
    order = list(ranges)
    random.Random(5).shuffle(order)
    for start, length in order:
        done = start
        for i, upto in enumerate([*range(start + 10_000, start + length, 100_000), start + length]):
            feed.wrote(start, upto, on_disk[done:upto] if i % 2 else None)
            done = upto
        feed.landed(start)


def test_ranges_that_are_the_parts_are_hashed_as_they_are_written(written):
    fd, data, path = written
    ranges = plan_ranges(len(data), PART)
    check = PartsCheck(data, PART)
    feed = PartFeed(fd, ranges, check)
    _write_in_pieces(feed, ranges, path)
    feed.finish()
    assert check.judged == check.expected and not check.in_order  # never fed in order


def test_a_wrong_byte_in_one_part_fails_the_check(written):
    fd, data, path = written
    ranges = plan_ranges(len(data), PART)
    os.pwrite(fd, bytes([data[3 * PART + 7] ^ 1]), 3 * PART + 7)
    feed = PartFeed(fd, ranges, PartsCheck(data, PART))
    _write_in_pieces(feed, ranges, path)
    with raises_federate_error(INTERNAL_ERROR, "multipart ETag"):
        feed.finish()


@pytest.mark.parametrize("part", [PART * 2, None])
def test_ranges_that_are_not_the_parts_are_fed_in_order(written, part):
    fd, data, path = written
    ranges = plan_ranges(len(data), PART)
    check = PartsCheck(data, part)
    feed = PartFeed(fd, ranges, check)
    _write_in_pieces(feed, ranges, path)
    if part is None:
        feed.finish()  # nothing to judge with: the check passes whatever it was fed
    else:
        with raises_federate_error(INTERNAL_ERROR, "multipart ETag"):
            feed.finish()  # fed in order, judged in parts of PART: not its own parts
    assert bytes(check.in_order) == data


def test_a_check_that_cannot_tell_its_part_size_fails_at_the_end(written):
    fd, data, path = written
    ranges = plan_ranges(len(data), PART)
    feed = PartFeed(fd, ranges, PartsCheck(data, PART, fail=ConnectionError("HEAD failed")))
    _write_in_pieces(feed, ranges, path)
    with pytest.raises(ConnectionError, match="HEAD failed"):
        feed.finish()


def test_finishing_before_every_range_landed_is_an_engine_bug(written):
    fd, data, path = written
    ranges = plan_ranges(len(data), PART)
    feed = PartFeed(fd, ranges, PartsCheck(data, PART))
    feed.wrote(ranges[0][0], ranges[0][1])
    with pytest.raises(RuntimeError, match="never landed"):
        feed.finish()
