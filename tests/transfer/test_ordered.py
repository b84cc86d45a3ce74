"""The in-order check of ranged files: bytes fed once, in file order, whatever order the
ranges land in, and a wrong byte anywhere caught."""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time

import pytest

from federate.errors import INTERNAL_ERROR
from federate.testing.errors import raises_federate_error
from federate.transfer.checksums import Checksum, DigestCheck
from federate.transfer.fetch import plan_ranges
from federate.transfer.ordered import OrderedFeed


class Recording:
    """A check that keeps what it was fed, to compare with the file."""

    def __init__(self) -> None:
        self.fed = bytearray()
        self.verified = False

    def update(self, data: bytes | memoryview, /) -> None:
        self.fed += data

    def verify(self) -> None:
        self.verified = True


@pytest.fixture
def open_file(tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 12345)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    yield fd, data
    os.close(fd)


def test_ranges_landing_in_any_order_are_fed_in_file_order(open_file):
    fd, data = open_file
    ranges = plan_ranges(len(data), 256 * 1024)
    check = Recording()
    feed = OrderedFeed(fd, ranges, check)
    order = [start for start, _ in ranges]
    random.Random(7).shuffle(order)
    for start in order[:-1]:
        feed.landed(start)
    assert len(check.fed) < len(data)  # the last range is missing: it cannot be complete
    feed.landed(order[-1])
    feed.finish()
    assert bytes(check.fed) == data and check.verified


def test_concurrent_workers_feed_every_byte_exactly_once(open_file):
    fd, data = open_file
    ranges = plan_ranges(len(data), 64 * 1024)
    check = Recording()
    feed = OrderedFeed(fd, ranges, check)
    starts = [start for start, _ in ranges]
    random.Random(3).shuffle(starts)
    lanes = [starts[i::8] for i in range(8)]
    threads = [threading.Thread(target=lambda s=s: [feed.landed(x) for x in s]) for s in lanes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    feed.finish()
    assert bytes(check.fed) == data


def test_a_wrong_byte_fails_the_check_when_the_last_range_lands(open_file, tmp_path):
    fd, data = open_file
    good = Checksum("md5", hashlib.md5(data).digest())
    bad = bytearray(data)
    bad[len(bad) - 5] ^= 1
    path = tmp_path / "bad.bin"
    path.write_bytes(bad)
    bad_fd = os.open(path, os.O_RDONLY)
    try:
        ranges = plan_ranges(len(data), 1024 * 1024)
        ok = OrderedFeed(fd, ranges, DigestCheck(good, "f.bin"))
        broken = OrderedFeed(bad_fd, ranges, DigestCheck(good, "f.bin"))
        for start, _ in reversed(ranges):
            ok.landed(start)
            broken.landed(start)
        ok.finish()
        with raises_federate_error(INTERNAL_ERROR, "f.bin: md5 checksum mismatch"):
            broken.finish()
    finally:
        os.close(bad_fd)


def test_finishing_before_every_range_landed_is_an_engine_bug(open_file):
    fd, data = open_file
    ranges = plan_ranges(len(data), 1024 * 1024)
    feed = OrderedFeed(fd, ranges, Recording())
    feed.landed(ranges[0][0])
    with pytest.raises(RuntimeError, match="never landed"):
        feed.finish()


def _wait_for(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def test_bytes_are_checked_as_they_are_written_not_when_their_range_lands(open_file):
    # ranges fetched side by side finish together: checking only whole ranges left the
    # whole file's hash for after the last one
    fd, data = open_file
    ranges = plan_ranges(len(data), 1024 * 1024)
    check = Recording()
    feed = OrderedFeed(fd, ranges, check)
    (first, first_len), (second, _) = ranges[0], ranges[1]
    feed.wrote(second, second + 1000)  # not next: nothing to feed yet
    feed.wrote(first, first + 300_000)
    assert _wait_for(lambda: len(check.fed) == 300_000)
    feed.wrote(first, first + first_len)  # the whole first range, then what follows it
    assert _wait_for(lambda: len(check.fed) == first_len + 1000)
    for start, _ in ranges:
        feed.landed(start)
    feed.finish()
    assert bytes(check.fed) == data and check.verified


def test_a_failing_check_is_raised_by_finish(open_file):
    fd, data = open_file
    ranges = plan_ranges(len(data), 1024 * 1024)

    class Failing(Recording):
        def update(self, data: bytes | memoryview, /) -> None:
            raise OSError("the store could not be asked for the part size")

    feed = OrderedFeed(fd, ranges, Failing())
    for start, _ in ranges:
        feed.landed(start)
    with pytest.raises(OSError, match="part size"):
        feed.finish()
