"""Object keys that would collapse onto one local file or leave the destination, on a real
S3 (moto's server): the download is refused naming the key, and nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest

import federate
from federate.errors import INVALID_PARAMETER_VALUE
from federate.testing.errors import raises_federate_error
from federate.testing.stores import StoreUnderTest
from federate.transfer.paths import path_under, safe_relpath


def _files(top: Path) -> list[str]:
    return sorted(p.relative_to(top).as_posix() for p in top.rglob("*"))


@pytest.mark.parametrize(
    "keys, named",
    [
        pytest.param(["m/a//x", "m/a/./x", "m/a/x"], "'a/./x'", id="collapsing"),
        pytest.param(["m/a/./x", "m/a/x"], "'a/./x'", id="dot-segment"),
        pytest.param(["m/a/../../../escaped", "m/ok"], "'a/../../../escaped'", id="dotdot"),
        pytest.param(["m//escaped", "m/ok"], "'/escaped'", id="leading-slash"),
    ],
)
def test_keys_that_collapse_or_escape_are_refused_and_nothing_is_written(
    store_s3: StoreUnderTest, federate_home: Path, tmp_path: Path, keys: list[str], named: str
) -> None:
    for n, key in enumerate(keys):
        store_s3.put(key, f"object {n}".encode())
    dst = tmp_path / "deep" / "dst"
    before = _files(tmp_path)
    with raises_federate_error(INVALID_PARAMETER_VALUE, named, "Rename the object"):
        federate.download(f"{store_s3.root}/m", dst)
    assert _files(tmp_path) == before  # no dst, no staging directory, nothing beside it


def test_distinct_keys_stay_distinct_files(store_s3, federate_home, tmp_path):
    # the accepted side of the rule: nothing is normalised, so nothing merges
    keys = {"m/a/x": b"1", "m/a/x.": b"2", "m/a/ x": b"3", "m/a\\..\\x": b"4", "m/..x": b"5"}
    for key, data in keys.items():
        store_s3.put(key, data)
    dst = tmp_path / "dst"
    federate.download(f"{store_s3.root}/m", dst)
    got = {p.relative_to(dst).as_posix(): p.read_bytes() for p in dst.rglob("*") if p.is_file()}
    assert got == {key[2:]: data for key, data in keys.items()}


@pytest.mark.parametrize("path", ["a//b", "a/./b", "./a", "a/..", "/a", "a/", "", "a\x00b"])
def test_safe_relpath_refuses_what_pathlib_would_normalise(path: str) -> None:
    with raises_federate_error(INVALID_PARAMETER_VALUE, repr(path)):
        safe_relpath(path)


def test_path_under_takes_single_segments_only(tmp_path: Path) -> None:
    assert path_under(tmp_path, "a b", "1") == tmp_path / "a b" / "1"
    for segment in ("..", ".", "", "a/b", "a\x00"):
        with raises_federate_error(INVALID_PARAMETER_VALUE, repr(segment), case=segment):
            path_under(tmp_path, "x", segment)
