"""The presigned-URL repository against a real signing HTTP server, reached the way a user
reaches it: ``federate.download("models:/...")`` through a registry that hands out URLs."""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import sys
import threading
import time
import types
from pathlib import Path

import pytest

import federate
from federate.entities import ModelVersion
from federate.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    PERMISSION_DENIED,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
)
from federate.plugins.hookspecs import hookimpl
from federate.plugins.manager import BUILTIN_PLUGINS, get_plugin_host, reset_plugin_host
from federate.plugins.types import RegistryPlugin
from federate.repos.local import local_path_of
from federate.repos.presigned import (
    PresignedArtifactRepository,
    PresignedUrl,
    presigned_credentials,
)
from federate.testing.errors import raises_federate_error
from federate.testing.presigned import SCOPE_HEADER, UrlSigner
from federate.testing.trees import tree_digest

MiB = 1024 * 1024


class Vending:
    """What the test registry hands out: URLs signed for how long, with sizes or not."""

    def __init__(self, signer: UrlSigner) -> None:
        self.signer = signer
        #: ttl of each issue in turn (the last one repeats)
        self.ttls: list[float] = [3600.0]
        self.sizes = True
        #: sizes the registry gets wrong, by relative path
        self.wrong_sizes: dict[str, int] = {}
        #: access-log length at each issue: when the registry was asked, relative to reads
        self.issued_at: list[int] = []

    def credentials(self, mv: ModelVersion):  # type: ignore[no-untyped-def]
        ttl = self.ttls[min(len(self.issued_at), len(self.ttls) - 1)]
        self.issued_at.append(len(self.signer.server.access_log))
        base = local_path_of(mv.download_uri)
        served = self.signer.server.directory
        urls = []
        for full in sorted(p for p in base.rglob("*") if p.is_file()):
            url, expires = self.signer.sign(full.relative_to(served).as_posix(), ttl)
            rel = full.relative_to(base).as_posix()
            size = full.stat().st_size if self.sizes else None
            size = self.wrong_sizes.get(rel, size)
            urls.append(PresignedUrl(rel, url, {SCOPE_HEADER: "read"}, expires, size))
        return presigned_credentials(urls)


@pytest.fixture
def vending(
    presigned_server: UrlSigner,
    federate_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    small_ranges: None,
) -> Vending:
    """A registry (``presigning+sqlite:``, the SQL registry plus presigned URLs) whose
    artifact root is the signing server's directory, with one registered version."""
    from federate.registry.sql.store import SqlRegistry

    vend = Vending(presigned_server)

    class PresigningRegistry(SqlRegistry):
        def read_credentials(self, model_version: ModelVersion):  # type: ignore[no-untyped-def]
            return vend.credentials(model_version)

    def open_registry(config):  # type: ignore[no-untyped-def]
        return PresigningRegistry(dataclasses.replace(config, uri=config.uri.split("+", 1)[1]))

    module = types.ModuleType("federate_test_presigning")

    @hookimpl
    def federate_registries():  # type: ignore[no-untyped-def]
        return [RegistryPlugin("presigning", ("presigning",), open_registry)]

    module.federate_registries = federate_registries  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(BUILTIN_PLUGINS, "presigning", module.__name__)
    reset_plugin_host()
    monkeypatch.setenv("FEDERATE_REGISTRY_URI", f"presigning+sqlite:///{federate_home}/reg.db")
    monkeypatch.setenv("FEDERATE_ARTIFACT_ROOT", str(presigned_server.server.directory))
    src = federate_home.parent / "src"
    (src / "sub dir").mkdir(parents=True)
    (src / "weights.bin").write_bytes(os.urandom(5 * MiB + 5))
    (src / "sub dir" / "cönfig.json").write_text('{"layers": 2}')
    (src / "empty").write_bytes(b"")
    federate.register(src, "m")
    presigned_server.server.access_log.clear()
    return vend


def expire_after(signer: UrlSigner, served: int) -> None:
    """Move the server's clock two hours on once ``served`` signed requests were answered."""
    gate, lock, count = signer.server.gate, threading.Lock(), [0]
    assert gate is not None

    def counting(method, path, query, headers):  # type: ignore[no-untyped-def]
        answer = gate(method, path, query, headers)
        with lock:
            if answer is None:
                count[0] += 1
                if count[0] == served:
                    signer.advance(7200)
        return answer

    signer.server.gate = counting


def src_of(vend: Vending) -> Path:
    return Path(os.environ["FEDERATE_HOME"]).parent / "src"


def test_a_version_downloads_bytes_equal_with_ranged_gets(vending, tmp_path):
    got = federate.download("models:/m/1", tmp_path / "out")
    assert tree_digest(got) == tree_digest(src_of(vending))
    log = vending.signer.server.access_log
    weights = [a for a in log if a.path.endswith("/weights.bin")]
    assert {a.method for a in log} == {"GET"}  # a GET URL does not allow HEAD
    assert len(weights) == 6 and all(a.range and a.range.startswith("bytes=") for a in weights)
    assert sum(a.sent for a in weights) == 5 * MiB + 5
    assert vending.signer.refusals == [] and len(vending.issued_at) == 1
    # the registry still reports the version's own location; the URLs only reached it
    served = vending.signer.server.directory
    assert local_path_of(federate.resolve("models:/m/1").download_uri) == served / "models/m/1"


def test_small_files_cost_one_get_each_and_a_drop_refetches_only_the_rest(vending, tmp_path):
    served = vending.signer.server
    weights = "/models/m/1/weights.bin"
    served.faults.drop_after[weights] = [300_000, 2]
    got = federate.download("models:/m/1", tmp_path / "out")
    assert tree_digest(got) == tree_digest(src_of(vending))
    small = [a for a in served.access_log if a.path != weights]
    # sizes from the registry: no probe, one whole GET per small file
    assert sorted((a.path, a.range) for a in small) == [
        ("/models/m/1/empty", None),
        ("/models/m/1/sub%20dir/c%C3%B6nfig.json", None),
    ]
    # 6 ranges, and a retry for each cut one (the 5-byte last range may take a drop turn)
    assert len([a for a in served.access_log if a.path == weights]) in (7, 8)
    assert served.bytes_sent(weights) == 5 * MiB + 5  # no byte sent twice


def test_a_get_disagreeing_with_the_registry_size_installs_nothing(vending, tmp_path):
    vending.wrong_sizes["sub dir/cönfig.json"] = 99
    with raises_federate_error(
        INTERNAL_ERROR,
        "sub dir/cönfig.json changed on the server between listing and download",
        "13 bytes, the listing said 99",
    ):
        federate.download("models:/m/1", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_proxies_from_the_environment_are_used_per_host(vending, tmp_path, monkeypatch):
    monkeypatch.setenv("FEDERATE_MAX_ATTEMPTS", "1")
    with socket.socket() as s:  # a port that was free a moment ago: a dead proxy
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{dead}")
    monkeypatch.setenv("NO_PROXY", "")
    with raises_federate_error(TEMPORARILY_UNAVAILABLE, "failed"):
        try:
            federate.download("models:/m/1", tmp_path / "out")
        except federate.FederateError as err:
            assert "X-Signature" not in str(err) and "?<redacted>" in str(err)
            raise
    assert vending.signer.server.access_log == []  # it went to the proxy, not the store
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    got = federate.download("models:/m/1", tmp_path / "out")
    assert tree_digest(got) == tree_digest(src_of(vending))


def test_read_range_asks_for_exactly_that_range(vending):
    mv = federate.resolve("models:/m/1")
    repo = get_plugin_host().open_repo(mv.download_uri, vending.credentials(mv))
    assert isinstance(repo, PresignedArtifactRepository)
    data = (src_of(vending) / "weights.bin").read_bytes()
    assert repo.read_range("weights.bin", 1000, 10) == data[1000:1010]
    assert [a.range for a in vending.signer.server.access_log] == ["bytes=1000-1009"]
    assert [f.path for f in repo.list()] == ["empty", "sub dir", "weights.bin"]
    listed = federate.list_artifacts("models:/m/1", "sub dir")
    assert [(f.path, f.file_size) for f in listed] == [("sub dir/cönfig.json", 13)]
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "absent.bin"):
        repo.stat("absent.bin")


@pytest.mark.parametrize("expired_status", [403, 400])
def test_urls_expiring_mid_download_are_renewed_once(vending, tmp_path, caplog, expired_status):
    caplog.set_level(logging.DEBUG)
    vending.signer.expired_status = expired_status
    expire_after(vending.signer, 2)
    got = federate.download("models:/m/1", tmp_path / "out")
    assert tree_digest(got) == tree_digest(src_of(vending))
    assert len(vending.issued_at) == 2  # the first issue, one renewal shared by all workers
    assert vending.signer.refusals and all(
        ("expired" in body or "ExpiredToken" in body) for _, body in vending.signer.refusals
    )
    assert {s for s, _ in vending.signer.refusals} == {expired_status}
    assert "X-Signature" not in caplog.text and "X-Expires" not in caplog.text
    assert any("127.0.0.1" in r.getMessage() for r in caplog.records)  # urllib3 did log


def test_a_refresh_with_still_expired_urls_is_permission_denied_without_secrets(
    vending, tmp_path, caplog
):
    caplog.set_level(logging.DEBUG)
    vending.ttls = [3600.0, -10.0]  # renewed URLs are already expired on the server's clock
    expire_after(vending.signer, 1)
    with raises_federate_error(PERMISSION_DENIED, "renewed the presigned URLs", "clock") as _:
        try:
            federate.download("models:/m/1", tmp_path / "out")
        except federate.FederateError as err:
            assert "X-Signature" not in str(err) and "?<redacted>" in str(err)
            raise
    assert len(vending.issued_at) == 2  # renewed once, never again, nothing wider tried
    assert not (tmp_path / "out").exists()
    assert "X-Signature" not in caplog.text


def test_urls_about_to_expire_are_renewed_before_they_are_used(vending):
    vending.ttls = [2.0, 3600.0]  # renewed from 1 s before expiry (half the lifetime)
    mv = federate.resolve("models:/m/1")
    repo = get_plugin_host().open_repo(
        mv.download_uri, vending.credentials(mv), lambda: vending.credentials(mv)
    )
    assert repo.read_range("empty", 0, 0) == b"" and repo.read_range("weights.bin", 0, 2)
    assert len(vending.issued_at) == 1
    time.sleep(1.1)
    data = (src_of(vending) / "weights.bin").read_bytes()
    assert repo.read_range("weights.bin", 7, 3) == data[7:10]
    assert vending.issued_at == [0, 1]  # renewed after the first read, before the second
    assert vending.signer.refusals == []
    assert [a.range for a in vending.signer.server.access_log] == ["bytes=0-1", "bytes=7-9"]


def test_short_lived_urls_are_not_renewed_before_every_read(vending, tmp_path):
    vending.ttls = [30.0]  # less than the 60 s margin, more than the download takes
    got = federate.download("models:/m/1", tmp_path / "out")
    assert tree_digest(got) == tree_digest(src_of(vending))
    assert len(vending.issued_at) == 1 and vending.signer.refusals == []


def test_sizes_the_registry_leaves_out_come_from_one_byte_ranges_not_head(vending, tmp_path):
    vending.sizes = False
    got = federate.download("models:/m/1", tmp_path / "out")
    assert tree_digest(got) == tree_digest(src_of(vending))
    log = vending.signer.server.access_log
    assert {a.method for a in log} == {"GET"}
    probes = sorted(a.path.rsplit("/", 1)[1] for a in log if a.range == "bytes=0-0")
    assert probes == ["c%C3%B6nfig.json", "empty", "weights.bin"]


def test_presigned_credentials_win_over_the_location_scheme(federate_home, presigned_server):
    (presigned_server.server.directory / "f.txt").write_bytes(b"hello")
    url, expires = presigned_server.sign("f.txt")
    creds = presigned_credentials([PresignedUrl("f.txt", url, {SCOPE_HEADER: "read"}, expires)])
    # no S3 plugin is needed: the URLs say how to reach the files
    repo = get_plugin_host().open_repo("s3://bucket/models/m/1", creds)
    assert isinstance(repo, PresignedArtifactRepository)
    assert repo.read_range("f.txt", 1, 3) == b"ell"
    assert repo.stat("f.txt").file_size == 5
    with raises_federate_error(INVALID_PARAMETER_VALUE, "presigned URLs", "models:/"):
        get_plugin_host().open_repo("presigned:abc")


@pytest.mark.parametrize(
    "urls, fragment",
    [
        ("not json", "no JSON list"),
        ('[{"path": "/etc/passwd", "url": "https://h/x"}]', "not relative"),
        ('[{"path": "a/../b", "url": "https://h/x"}]', "not relative"),
        ('[{"path": "a", "url": "file:///etc/passwd"}]', "not an http(s) URL"),
        ('[{"path": "a", "url": "https://h/x", "headers": {"k": 1}}]', "headers"),
        ('[{"path": "a", "url": "https://h/x"}, {"path": "a", "url": "https://h/y"}]', "two URLs"),
    ],
)
def test_malformed_url_sets_are_refused_naming_the_problem(federate_home, urls, fragment):
    from federate.credentials import ScopedCredentials

    creds = ScopedCredentials("presigned_urls", {"urls": urls})
    with raises_federate_error(INVALID_PARAMETER_VALUE, fragment, "presigned_credentials"):
        get_plugin_host().open_repo("presigned:v1", creds)


def test_a_location_that_is_one_file_downloads_as_that_file(
    federate_home, presigned_server, tmp_path
):
    from federate import transfer

    (presigned_server.server.directory / "model.pkl").write_bytes(b"pickled")
    url, expires = presigned_server.sign("model.pkl")
    creds = presigned_credentials([PresignedUrl("", url, {SCOPE_HEADER: "read"}, expires)])
    repo = get_plugin_host().open_repo("s3://bucket/m/1/model.pkl", creds)
    (tmp_path / "out").mkdir()  # an existing directory: the file lands inside, by its name
    got = transfer.download(repo, tmp_path / "out", progress=False)
    assert Path(got) == tmp_path / "out" / "model.pkl" and Path(got).read_bytes() == b"pickled"
    assert [a.range for a in presigned_server.server.access_log] == ["bytes=0-0", None]
