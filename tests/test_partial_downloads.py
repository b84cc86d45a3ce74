"""Partial downloads: ``path=``, ``include=``, ``exclude=`` (CLI ``--path``, ``--include``,
``--exclude``) fetch the files they select and nothing else, into the destination and the
cache; the version's cached snapshot stays incomplete until a full download."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

import federate
from federate.cli import cli
from federate.errors import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST
from federate.testing.errors import raises_federate_error
from federate.testing.http import FileServer
from federate.testing.trees import tree_digest

MiB = 1024 * 1024


@pytest.fixture
def big_model(http_server: FileServer, federate_home: Path) -> FileServer:
    """Version 1 of "m" on the HTTP server: a 20 MiB file, a small one, config.json and a
    tokenizer file."""
    model = http_server.directory / "m1"
    (model / "weights").mkdir(parents=True)
    (model / "tokenizer").mkdir()
    (model / "weights" / "big.bin").write_bytes(os.urandom(20 * MiB))
    (model / "weights" / "small.bin").write_bytes(os.urandom(1000))
    (model / "config.json").write_text('{"hidden": 768}\n')
    (model / "tokenizer" / "vocab.txt").write_text("a\nb\n")
    reg = federate.get_registry()
    reg.create_registered_model("m")
    reg.create_model_version("m", source=http_server.url("m1/"))
    return http_server


def _files_fetched(server: FileServer, since: int = 0) -> dict[str, int]:
    """Bytes sent per file (not index pages) by GETs after the ``since``-th request."""
    sent: dict[str, int] = {}
    for access in server.access_log[since:]:
        if access.method == "GET" and not access.path.endswith("/"):
            path = access.path.removeprefix("/m1/")
            sent[path] = sent.get(path, 0) + access.sent
    return sent


def _cache() -> Path:
    return Path(os.environ["FEDERATE_HOME"]) / "cache"


def _cache_bytes() -> int:
    seen = {}
    for dirpath, _dirs, names in os.walk(_cache()):
        for name in names:
            st = os.lstat(os.path.join(dirpath, name))
            seen[st.st_ino] = st.st_size
    return sum(seen.values())


def test_one_file_is_fetched_alone_and_lands_at_its_path(big_model, tmp_path):
    got = federate.download("models:/m/1", tmp_path / "dst", path="config.json")
    assert got == str(tmp_path / "dst" / "config.json")
    assert tree_digest(tmp_path / "dst") == {
        "config.json": hashlib.sha256(b'{"hidden": 768}\n').hexdigest()
    }
    assert _files_fetched(big_model) == {"config.json": len('{"hidden": 768}\n')}
    assert _cache_bytes() < MiB  # nothing else reached the cache either
    snap = next((_cache() / "snapshots").glob("*/m"))
    assert not (snap / "1.json").exists()  # the snapshot is not complete

    # again: served from the cache, not one request
    before = len(big_model.access_log)
    got = federate.download("models:/m/1", tmp_path / "again", path="config.json")
    assert Path(got).read_text() == '{"hidden": 768}\n'
    assert len(big_model.access_log) == before
    # without dst: the cached file's path
    cached = federate.download("models:/m/1", path="config.json")
    assert Path(cached).read_text() == '{"hidden": 768}\n' and str(_cache()) in cached
    assert len(big_model.access_log) == before


def test_globs_select_by_posix_path(big_model, tmp_path):
    dst = tmp_path / "w"
    got = federate.download("models:/m/1", dst, include="weights/*", exclude=["*big*"])
    assert got == str(dst)
    assert sorted(tree_digest(dst)) == ["weights/small.bin"]
    assert _files_fetched(big_model) == {"weights/small.bin": 1000}

    # a directory as path=, then an include of a directory ('dir/' = everything below)
    assert sorted(tree_digest(federate.download("models:/m/1", tmp_path / "t", path="tokenizer")))
    assert sorted(tree_digest(tmp_path / "t")) == ["tokenizer/vocab.txt"]
    federate.download("models:/m/1", tmp_path / "t2", include=["tokenizer/", "*.json"])
    assert sorted(tree_digest(tmp_path / "t2")) == ["config.json", "tokenizer/vocab.txt"]
    assert "weights/big.bin" not in _files_fetched(big_model)
    assert _files_fetched(big_model)["tokenizer/vocab.txt"] == 4  # fetched once, reused


def test_a_full_download_after_partial_ones_gets_every_file(big_model, tmp_path):
    federate.download("models:/m/1", tmp_path / "c", path="config.json")
    federate.download("models:/m/1", tmp_path / "s", path="weights/small.bin")
    full = federate.download("models:/m/1", tmp_path / "full")
    assert tree_digest(full) == tree_digest(big_model.directory / "m1")
    snap = next((_cache() / "snapshots").glob("*/m"))
    assert (snap / "1.json").exists() and not (snap / "1.partial.json").exists()
    assert tree_digest(snap / "1") == tree_digest(big_model.directory / "m1")
    # now a partial download is served from the complete snapshot, with no request
    before = len(big_model.access_log)
    got = federate.download("models:/m/1", tmp_path / "b", path="weights/big.bin")
    assert tree_digest(tmp_path / "b") == {
        "weights/big.bin": tree_digest(big_model.directory / "m1")["weights/big.bin"]
    }
    assert got == str(tmp_path / "b" / "weights" / "big.bin")
    assert len(big_model.access_log) == before


def test_offline_serves_a_cached_selection_and_names_a_missing_one(
    big_model, tmp_path, monkeypatch
):
    federate.download("models:/m/1", tmp_path / "c", path="config.json")
    monkeypatch.setenv("FEDERATE_OFFLINE", "1")
    got = federate.download("models:/m/1", tmp_path / "off", path="config.json")
    assert Path(got).read_text() == '{"hidden": 768}\n'
    with raises_federate_error(
        RESOURCE_DOES_NOT_EXIST, "FEDERATE_OFFLINE is set", "path='weights/big.bin'"
    ):
        federate.download("models:/m/1", tmp_path / "off2", path="weights/big.bin")
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "only some of its files are cached"):
        federate.download("models:/m/1", tmp_path / "off3")
    assert not (tmp_path / "off2").exists() and not (tmp_path / "off3").exists()
    monkeypatch.delenv("FEDERATE_OFFLINE")
    # the offline refusal kept what was cached
    before = len(big_model.access_log)
    federate.download("models:/m/1", tmp_path / "on", path="config.json")
    assert len(big_model.access_log) == before


def test_a_selection_matching_nothing_or_a_bad_path_is_refused(big_model, tmp_path):
    with raises_federate_error(
        RESOURCE_DOES_NOT_EXIST,
        "No file of models:/m/1 (version 1) matches include=['*.safetensors']",
        "(its files: config.json, tokenizer/vocab.txt, weights/big.bin, weights/small.bin)",
    ):
        federate.download("models:/m/1", tmp_path / "x", include="*.safetensors")
    for bad in ("../etc/passwd", "/config.json", "a//b", ""):
        with raises_federate_error(INVALID_PARAMETER_VALUE, f"path={bad!r}"):
            federate.download("models:/m/1", tmp_path / "x", path=bad)
    with raises_federate_error(INVALID_PARAMETER_VALUE, "include= takes glob patterns"):
        federate.download("models:/m/1", tmp_path / "x", include=[""])
    assert not (tmp_path / "x").exists()
    assert _files_fetched(big_model) == {}


def test_a_storage_uri_takes_a_selection_too(big_model, tmp_path):
    got = federate.download(big_model.url("m1/"), tmp_path / "u", path="weights/small.bin")
    assert got == str(tmp_path / "u" / "weights" / "small.bin")
    assert sorted(tree_digest(tmp_path / "u")) == ["weights/small.bin"]
    assert _files_fetched(big_model) == {"weights/small.bin": 1000}


def test_cli_path_include_exclude(big_model, tmp_path):
    run = CliRunner().invoke
    res = run(cli, ["download", "models:/m/1", str(tmp_path / "a"), "--path", "config.json"])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == str(tmp_path / "a" / "config.json")
    res = run(
        cli,
        [
            "download",
            "models:/m/1",
            str(tmp_path / "b"),
            "--include",
            "weights/*",
            "--include",
            "tokenizer/*",
            "--exclude",
            "*/big.bin",
        ],
    )
    assert res.exit_code == 0, res.output
    assert sorted(tree_digest(tmp_path / "b")) == ["tokenizer/vocab.txt", "weights/small.bin"]
    assert "weights/big.bin" not in _files_fetched(big_model)
    res = run(cli, ["download", "models:/m/1", str(tmp_path / "c"), "--path", "nope.txt"])
    assert res.exit_code == 1 and "[RESOURCE_DOES_NOT_EXIST]" in res.stderr
    assert "No file of models:/m/1 (version 1) matches path='nope.txt'" in res.stderr
