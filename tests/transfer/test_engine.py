"""The engine on a real local store: ranges, verification, atomic results, clean failures."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path
from unittest import mock

import pytest

from federate.errors import INTERNAL_ERROR, INVALID_PARAMETER_VALUE, TEMPORARILY_UNAVAILABLE
from federate.testing.errors import raises_federate_error
from federate.testing.trees import tree_digest
from federate.transfer import TransferSettings, download


def leftovers(parent: Path) -> list[str]:
    return sorted(p for p in os.listdir(parent) if p.startswith("."))


def test_large_files_are_fetched_as_ranges_small_ones_whole(
    source, tmp_path, small_ranges, counting
):
    repo = counting(str(source))
    dst = tmp_path / "out"
    assert download(repo, dst) == str(dst)
    assert tree_digest(dst) == tree_digest(source)
    size = (source / "big.bin").stat().st_size
    mib = 1024 * 1024
    assert sorted(r for r in repo.ranges) == [
        ("big.bin", start, min(mib, size - start)) for start in range(0, size, mib)
    ]
    assert sorted(repo.whole) == ["empty", "sub/small.txt"]
    assert leftovers(tmp_path) == []


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("FEDERATE_CHUNK_SIZE", "16MiB")
    monkeypatch.setenv("FEDERATE_MULTIPART_THRESHOLD", "100m")
    monkeypatch.setenv("FEDERATE_MAX_WORKERS", "3")
    monkeypatch.setenv("FEDERATE_MAX_ATTEMPTS", "2")
    s = TransferSettings.from_env()
    assert (s.chunk_size, s.multipart_threshold, s.max_workers, s.max_attempts) == (
        16 << 20,
        100 << 20,
        3,
        2,
    )
    # a threshold the user set wins over a store's own (Azure reads up to 32 MiB whole)
    assert s.split_from(32 << 20) == 100 << 20
    monkeypatch.delenv("FEDERATE_MULTIPART_THRESHOLD")
    assert TransferSettings.from_env().split_from(32 << 20) == (32 << 20) + 1
    assert TransferSettings.from_env().split_from() == 16 << 20
    for name, bad in [("FEDERATE_CHUNK_SIZE", "lots"), ("FEDERATE_MAX_WORKERS", "0")]:
        monkeypatch.setenv(name, bad)
        with raises_federate_error(INVALID_PARAMETER_VALUE, name, repr(bad)):
            TransferSettings.from_env()
        monkeypatch.delenv(name)


@pytest.mark.parametrize("ranged", [True, False])
def test_checksum_mismatch_is_an_error_and_nothing_reaches_dst(
    source, tmp_path, monkeypatch, ranged, counting
):
    if ranged:
        monkeypatch.setenv("FEDERATE_CHUNK_SIZE", "1MiB")
        monkeypatch.setenv("FEDERATE_MULTIPART_THRESHOLD", "1MiB")
    wrong = "sha256:" + "0" * 64
    repo = counting(str(source), checksums={"big.bin": wrong})
    dst = tmp_path / "out"
    with raises_federate_error(INTERNAL_ERROR, "big.bin", "sha256 checksum mismatch"):
        download(repo, dst)
    assert not dst.exists()
    assert leftovers(tmp_path) == []


def test_store_checksums_in_every_accepted_form_are_verified(
    source, tmp_path, small_ranges, counting
):
    import base64
    import hashlib

    import google_crc32c

    data = (source / "big.bin").read_bytes()
    small = b"small"
    forms = {
        "big.bin": "crc32c:" + base64.b64encode(google_crc32c.Checksum(data).digest()).decode(),
        "sub/small.txt": f"md5:{hashlib.md5(small).hexdigest()},etag-like:zzz",
        "empty": "sha256:" + base64.b64encode(hashlib.sha256(b"").digest()).decode(),
    }
    download(counting(str(source), checksums=forms), tmp_path / "ok")
    assert tree_digest(tmp_path / "ok") == tree_digest(source)
    forms["sub/small.txt"] = "md5:" + hashlib.md5(b"other").hexdigest()
    with raises_federate_error(INTERNAL_ERROR, "sub/small.txt", "md5 checksum mismatch"):
        download(counting(str(source), checksums=forms), tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_a_store_that_keeps_sending_short_reads_fails_clearly(
    source, tmp_path, small_ranges, truncating
):
    repo = truncating(str(source))
    with raises_federate_error("TEMPORARILY_UNAVAILABLE", "big.bin", "after 5 attempts"):
        download(repo, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_single_file_source_lands_atomically_beside_dst(source, tmp_path, small_ranges, counting):
    repo = counting(str(source / "big.bin"))
    got = download(repo, tmp_path)
    assert Path(got) == tmp_path / "big.bin"
    assert Path(got).read_bytes() == (source / "big.bin").read_bytes()
    with raises_federate_error("RESOURCE_ALREADY_EXISTS", "overwrite"):
        download(repo, tmp_path)
    assert leftovers(tmp_path) == []


def _mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir()
    if os.geteuid() != 0:
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True
    )
    return done.returncode == 0


def test_full_disk_is_a_clear_error_dst_untouched_temp_removed(
    source, tmp_path, small_ranges, counting
):
    disk = tmp_path / "small-disk"
    real = _mount_tmpfs(disk, "2m")
    try:
        dst = disk / "out"
        dst.mkdir()
        (dst / "keep.txt").write_text("old")
        repo = counting(str(source))
        enospc = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        patch = (
            mock.patch("federate.transfer.fetch.os.posix_fallocate", side_effect=enospc)
            if not real
            else mock.patch.dict(os.environ, {})
        )
        with patch, raises_federate_error(INTERNAL_ERROR, "no space left on device", str(dst)):
            download(repo, dst, overwrite=True)
        assert sorted(os.listdir(dst)) == ["keep.txt"]
        assert (dst / "keep.txt").read_text() == "old"
        assert leftovers(disk) == []
    finally:
        if real:
            subprocess.run(["umount", str(disk)], check=True)


def test_a_write_failing_midway_with_enospc_cleans_up(source, tmp_path, small_ranges, counting):
    real_pwrite = os.pwrite
    calls = []

    def failing_pwrite(fd, data, offset):
        calls.append(offset)
        if len(calls) > 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_pwrite(fd, data, offset)

    with (
        mock.patch("federate.transfer.fetch.os.pwrite", side_effect=failing_pwrite),
        raises_federate_error(INTERNAL_ERROR, "no space left on device"),
    ):
        download(counting(str(source)), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert leftovers(tmp_path) == []


def test_a_store_classifies_its_own_throttling_errors_as_transient(
    source, tmp_path, small_ranges, throttling
):
    repo = throttling(str(source))
    download(repo, tmp_path / "out")
    assert tree_digest(tmp_path / "out") == tree_digest(source)
    assert repo.refusals < 0


def test_errors_the_store_does_not_call_transient_are_not_retried(
    source, tmp_path, small_ranges, throttling, monkeypatch
):
    repo = throttling(str(source))
    monkeypatch.setattr(repo, "is_transient_error", lambda err: False)
    with pytest.raises(Exception, match="SlowDown"):
        download(repo, tmp_path / "out")
    calls = 2 - repo.refusals
    assert calls <= 5  # at most one read per range: the refused range was not asked again
    assert len(repo.ranges) == len(set(repo.ranges))
    assert leftovers(tmp_path) == []


def test_s3_crc32_is_verified_on_ranged_files_too(source, tmp_path, small_ranges, counting):
    import base64
    import zlib

    data = (source / "big.bin").read_bytes()
    good = "crc32:" + base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    download(counting(str(source), checksums={"big.bin": good}), tmp_path / "ok")
    assert (tmp_path / "ok" / "big.bin").read_bytes() == data
    bad = "crc32:" + base64.b64encode((zlib.crc32(data) ^ 1).to_bytes(4, "big")).decode()
    with raises_federate_error(INTERNAL_ERROR, "big.bin", "crc32 checksum mismatch"):
        download(counting(str(source), checksums={"big.bin": bad}), tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_a_store_that_verifies_its_own_downloads_is_not_read_twice(
    source, tmp_path, counting, monkeypatch
):
    import hashlib

    from federate.transfer import fetch

    small = (source / "sub" / "small.txt").read_bytes()
    forms = {"sub/small.txt": "md5:" + hashlib.md5(small).hexdigest()}
    passes = []
    original = fetch.check_file
    monkeypatch.setattr(
        fetch, "check_file", lambda path, check: (passes.append(check.what), original(path, check))
    )

    download(counting(str(source), checksums=forms), tmp_path / "engine-checks")
    assert "sub/small.txt" in passes

    class SelfChecking(counting):  # like S3 and GCS: download_file checks as bytes arrive
        verifies_downloads = True

    passes.clear()
    download(SelfChecking(str(source), checksums=forms), tmp_path / "store-checks")
    assert "sub/small.txt" not in passes
    assert tree_digest(tmp_path / "store-checks") == tree_digest(source)


@pytest.mark.parametrize("store_checks", ["sha256", "md5", "nothing", "itself"])
def test_sha256_of_every_file_is_taken_in_the_checking_pass(
    source, tmp_path, small_ranges, counting, store_checks
):
    """The cache names blobs by SHA-256: the engine hands the digests over, whatever the
    store's own checksum is, for ranged, whole and empty files alike."""
    import hashlib

    forms = None  # CountingStore's default: sha256 of every file
    if store_checks == "md5":
        forms = {
            p: "md5:" + hashlib.md5((source / p).read_bytes()).hexdigest()
            for p in ("big.bin", "sub/small.txt", "empty")
        }
    elif store_checks in ("nothing", "itself"):
        forms = {}

    class Store(counting):  # type: ignore[misc,valid-type]
        verifies_downloads = store_checks == "itself"

    digests: dict[str, str] = {}
    download(Store(str(source), checksums=forms), tmp_path / "out", sha256=digests)
    assert digests == tree_digest(source)

    single: dict[str, str] = {}
    (tmp_path / "one").mkdir()
    download(Store(str(source / "big.bin"), checksums=forms), tmp_path / "one", sha256=single)
    assert single == {"big.bin": tree_digest(source)["big.bin"]}


def test_a_store_unreachable_while_listing_says_nothing_was_downloaded(
    source, tmp_path, small_ranges, counting, monkeypatch
):
    monkeypatch.setenv("FEDERATE_MAX_ATTEMPTS", "2")

    class Unreachable(counting):  # type: ignore[misc,valid-type]
        def list(self, path="", recursive=False):
            raise ConnectionRefusedError(111, "Connection refused")

    with raises_federate_error(
        TEMPORARILY_UNAVAILABLE, "Listing the source", "2 attempts", "nothing was downloaded"
    ):
        download(Unreachable(str(source)), tmp_path / "out")
    assert leftovers(tmp_path) == [] and not (tmp_path / "out").exists()
