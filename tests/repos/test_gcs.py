"""The GCS repository against gcp-storage-emulator (and a fault proxy in front of it).

Objects are written with google-cloud-storage directly (``store_gcs.put``) and read back
through federate, or written through federate and checked with the SDK.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import google_crc32c
import pytest

import federate
from federate import transfer
from federate.credentials import ScopedCredentials
from federate.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    PERMISSION_DENIED,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
    FederateError,
)
from federate.plugins.manager import get_plugin_host
from federate.repos.gcs import GcsArtifactRepository, parse_gcs_uri
from federate.repos.gcs_crc32c import crc32c_of_file
from federate.testing.errors import raises_federate_error
from federate.testing.trees import tree_digest

# Object names people really use: spaces, non-ASCII, dots, empty files, nested folders.
TREE = {
    "MLmodel": b"flavors: {}\n",
    "model weights/part 1.bin": os.urandom(70_000),
    "model weights/part 2.bin": b"",
    "données/naïve – ü.txt": "grüße\n".encode(),
    "a/b/c/d/deep.json": b"{}",
}


def b64_crc32c(data: bytes) -> str:
    return base64.b64encode(google_crc32c.Checksum(data).digest()).decode()


def put_tree(store, tree=TREE):  # type: ignore[no-untyped-def]
    for path, data in tree.items():
        store.put(path, data)


def repo_at(store, path: str = "", **kwargs) -> GcsArtifactRepository:  # type: ignore[no-untyped-def]
    repo = get_plugin_host().open_repo(store.uri(path), **kwargs)
    assert isinstance(repo, GcsArtifactRepository)
    return repo


def token(value: str, expires_in: float = 3600.0) -> ScopedCredentials:
    return ScopedCredentials("gcp_oauth", {"oauth_token": value}, time.time() + expires_in)


def object_tokens(proxy) -> list[str | None]:  # type: ignore[no-untyped-def]
    """Tokens of the object requests the proxy saw. google-cloud-storage also fetches
    bucket metadata in the background (for tracing attributes); those are left out."""
    return [
        t
        for r, t in zip(proxy.requests, proxy.tokens_seen, strict=True)
        if "/o/" in r or "/o?" in r
    ]


class Refresher:
    """A registry's refresh callback: hands out the given tokens in turn, counting calls."""

    def __init__(self, *values: str) -> None:
        self.values = list(values)
        self.calls = 0

    def __call__(self) -> ScopedCredentials:
        self.calls += 1
        return token(self.values.pop(0))


# -- URIs ------------------------------------------------------------------------------------


def test_uris_are_split_literally_into_bucket_and_object_prefix():
    assert parse_gcs_uri("gs://b") == ("b", "")
    assert parse_gcs_uri("gs://b/") == ("b", "")
    assert parse_gcs_uri("gs://b/a dir/x?y#z/") == ("b", "a dir/x?y#z")
    for bad in ("gs://", "gs:///path", "s3://b/k"):
        with raises_federate_error(INVALID_PARAMETER_VALUE, "gs://<bucket>/<path>", case=bad):
            parse_gcs_uri(bad)


def test_credentials_of_another_kind_are_refused_naming_the_expected_kind():
    wrong = ScopedCredentials("aws_session", {"access_key_id": "AKIA", "secret": "s"})
    with raises_federate_error(INVALID_PARAMETER_VALUE, "'gcp_oauth'", "'oauth_token'"):
        GcsArtifactRepository("gs://b/p", wrong)


def test_routing_to_gcs_does_not_import_the_sdk():
    code = (
        "import sys; from federate.plugins.manager import get_plugin_host; "
        "repo = get_plugin_host().open_repo('gs://bucket/prefix'); "
        "print(type(repo).__name__, [m for m in sys.modules if m.startswith('google')])"
    )
    here = Path(federate.__file__).parents[1]  # this checkout's federate, not an installed one
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=here
    ).stdout
    assert out.split() == ["GcsArtifactRepository", "[]"]


# -- reading ---------------------------------------------------------------------------------


def test_listing_follows_every_page(store_gcs, federate_home):
    names = {f"many/f{i:03d}.txt": str(i).encode() for i in range(23)}
    put_tree(store_gcs, {**names, "many/sub/x": b"x", "top.txt": b"t"})
    repo = repo_at(store_gcs)
    repo.page_size = 4  # 25 entries: seven pages
    top = repo.list("many")
    assert [f.path for f in top] == [*sorted(names), "many/sub"]
    assert top[-1].is_dir and top[-1].file_size is None
    assert [(f.path, f.file_size) for f in top[:2]] == [("many/f000.txt", 1), ("many/f001.txt", 1)]
    everything = repo.list("", recursive=True)
    files = [f.path for f in everything if not f.is_dir]
    assert files == sorted([*names, "many/sub/x", "top.txt"])
    assert [f.path for f in everything if f.is_dir] == ["many", "many/sub"]


def test_listing_a_file_or_nothing_is_empty_and_a_missing_bucket_is_named(store_gcs):
    store_gcs.put("file.txt", b"x")
    repo = repo_at(store_gcs)
    assert repo.list("file.txt") == []
    assert repo.list("no/such/dir") == []
    bucket, _prefix = parse_gcs_uri(store_gcs.root)
    missing = GcsArtifactRepository(f"gs://{bucket}-gone/p")
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, f"bucket '{bucket}-gone' does not exist"):
        missing.list()


def test_stat_reports_size_checksums_and_generation(store_gcs, gcs_emulator):
    data = os.urandom(5000)
    store_gcs.put("dir/w.bin", data)
    bucket, prefix = parse_gcs_uri(store_gcs.root)
    blob = gcs_emulator.client().bucket(bucket).get_blob(f"{prefix}/dir/w.bin")
    repo = repo_at(store_gcs)

    info = repo.stat("dir/w.bin")
    assert (info.path, info.is_dir, info.file_size) == ("dir/w.bin", False, 5000)
    assert info.checksum == f"crc32c:{b64_crc32c(data)}"
    obj = repo.object_info("dir/w.bin")
    assert obj.md5 == base64.b64encode(hashlib.md5(data).digest()).decode()
    assert obj.generation == blob.generation and obj.generation is not None
    assert repo.stat("dir").is_dir
    assert repo.stat("").is_dir
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, f"{store_gcs.root}/dir/nope"):
        repo.stat("dir/nope")


def test_ranged_reads_return_exactly_the_asked_bytes(store_gcs):
    data = bytes(range(256)) * 40
    store_gcs.put("r.bin", data)
    repo = repo_at(store_gcs)
    for start, length in [(0, 1), (0, len(data)), (1000, 4096), (len(data) - 3, 3)]:
        assert repo.read_range("r.bin", start, length) == data[start : start + length]
    assert repo.read_range("r.bin", len(data) - 2, 100) == data[-2:]  # short only at EOF
    assert repo.read_range("r.bin", 5, 0) == b""
    assert repo.read_range("r.bin", len(data), 10) == b""
    assert b"".join(repo.iter_chunks("r.bin")) == data
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "r.bim"):
        repo.read_range("r.bim", 0, 1)


def test_download_of_a_tree_is_byte_equal(store_gcs, federate_home, tmp_path):
    put_tree(store_gcs)
    dst = federate.download(store_gcs.root, tmp_path / "out")
    assert tree_digest(dst) == {p: hashlib.sha256(d).hexdigest() for p, d in TREE.items()}
    single = federate.download(store_gcs.uri("données/naïve – ü.txt"), tmp_path / "one.txt")
    assert Path(single).read_bytes() == TREE["données/naïve – ü.txt"]


def test_a_missing_root_downloads_nothing(store_gcs, federate_home, tmp_path):
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, store_gcs.uri("absent")):
        federate.download(store_gcs.uri("absent"), tmp_path / "out")
    assert not (tmp_path / "out").exists()


# -- verification ----------------------------------------------------------------------------


def test_bytes_damaged_on_the_wire_fail_the_crc32c_check(
    store_gcs, federate_home, fault_proxy, monkeypatch, tmp_path
):
    # The proxy flips one byte of every media download; listings pass untouched, so the
    # CRC32C the store reports is right and the bytes are wrong, as with a bad network.
    put_tree(store_gcs)
    proxy = fault_proxy(store_gcs.env["STORAGE_EMULATOR_HOST"])
    proxy.corrupt = lambda path: "alt=media" in path
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", proxy.url)
    with raises_federate_error(INTERNAL_ERROR, "CRC32C", "damaged in transit"):
        federate.download(store_gcs.root, tmp_path / "dl" / "out")
    assert list((tmp_path / "dl").iterdir()) == []  # no destination, nothing staged left


def test_an_object_replaced_after_listing_is_not_passed_off_as_the_listed_one(store_gcs, tmp_path):
    store_gcs.put("w.bin", b"version one")
    repo = repo_at(store_gcs)
    [listed] = repo.list()
    store_gcs.put("w.bin", b"version two")
    # GCS answers 412 to the generation pinned by the listing (TEMPORARILY_UNAVAILABLE);
    # the emulator ignores preconditions and serves the new bytes, which the CRC32C
    # check then refuses. Either way the caller never gets a file it did not list.
    with raises_federate_error(INTERNAL_ERROR, "CRC32C", listed.checksum.split(":", 1)[1]):
        repo.download_file("w.bin", str(tmp_path / "w.bin"), listed.file_size)
    assert not (tmp_path / "w.bin").exists()  # no unverified bytes left behind


def test_crc32c_of_file_matches_what_gcs_reports(store_gcs, tmp_path):
    data = os.urandom(3 * (1 << 20) + 17)
    (tmp_path / "f").write_bytes(data)
    store_gcs.put("f", data)
    assert (
        crc32c_of_file(str(tmp_path / "f"), block_size=1 << 16)
        == repo_at(store_gcs).object_info("f").crc32c
    )


# -- writing ---------------------------------------------------------------------------------


def test_register_stores_into_a_gs_artifact_root_and_downloads_back(
    store_gcs, gcs_registry, gcs_emulator, tmp_path
):
    assert gcs_registry.artifact_root == store_gcs.root
    src = tmp_path / "model"
    tree = {**TREE, "big/weights.bin": os.urandom(9 * (1 << 20))}  # > 8 MiB: resumable upload
    for path, data in tree.items():
        (src / path).parent.mkdir(parents=True, exist_ok=True)
        (src / path).write_bytes(data)

    mv = federate.register(src, "fraud detector ü", alias="champion")
    assert mv.storage_location == f"{store_gcs.root}/models/fraud detector ü/1"
    bucket, prefix = parse_gcs_uri(mv.storage_location)
    stored = {
        b.name[len(prefix) + 1 :]: b.download_as_bytes()
        for b in gcs_emulator.client().list_blobs(bucket, prefix=f"{prefix}/")
    }
    assert stored == tree  # in the bucket, written by federate, read by the SDK

    dst = federate.download("models:/fraud detector ü@champion", tmp_path / "back")
    assert tree_digest(dst) == tree_digest(src)


def test_upload_then_delete_a_folder(store_gcs, tmp_path):
    (tmp_path / "a b.txt").write_bytes(b"")
    repo = repo_at(store_gcs)
    repo.upload_file(str(tmp_path / "a b.txt"), "dir/a b.txt")
    repo.upload_file(str(tmp_path / "a b.txt"), "dir/ü/x")
    repo.upload_file(str(tmp_path / "a b.txt"), "keep")
    assert [(f.path, f.file_size) for f in repo.walk_files()] == [
        ("dir/a b.txt", 0),
        ("dir/ü/x", 0),
        ("keep", 0),
    ]
    repo.delete("dir")
    repo.delete("dir")  # deleting what is gone is fine
    assert [f.path for f in repo.walk_files()] == ["keep"]
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "gone.txt"):
        repo.upload_file(str(tmp_path / "gone.txt"), "x")


# -- credentials -----------------------------------------------------------------------------


@pytest.fixture
def guarded(store_gcs, fault_proxy, monkeypatch):  # type: ignore[no-untyped-def]
    """The store behind a proxy that checks bearer tokens as GCS does (401 if unknown)."""
    put_tree(store_gcs)
    proxy = fault_proxy(store_gcs.env["STORAGE_EMULATOR_HOST"])
    proxy.accepted_tokens = {"fresh-token"}
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", proxy.url)
    return proxy


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_is_renewed_once_and_the_request_retried(
    store_gcs, guarded, status, tmp_path
):
    guarded.refusal_status = status
    refresh = Refresher("fresh-token")
    repo = repo_at(store_gcs, credentials=token("stale-token"), refresh=refresh)
    dst = tmp_path / "out"
    transfer.download(repo, dst)
    assert tree_digest(dst) == {p: hashlib.sha256(d).hexdigest() for p, d in TREE.items()}
    assert refresh.calls == 1
    seen = object_tokens(guarded)
    assert seen[0] == "stale-token"
    assert set(seen[1:]) == {"fresh-token"}  # never anonymous, never ADC
    assert None not in guarded.tokens_seen


def test_a_token_expiring_mid_download_is_renewed_once_for_all_workers(
    store_gcs, guarded, tmp_path
):
    files = {f"w/{i}.bin": os.urandom(1000 + i) for i in range(12)}
    put_tree(store_gcs, files)
    guarded.accepted_tokens = {"first-token"}
    refresh = Refresher("second-token")
    repo = repo_at(store_gcs, credentials=token("first-token"), refresh=refresh)
    listed = repo.walk_files("w")
    guarded.accepted_tokens = {"second-token"}  # the first token expires now
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(
            pool.map(
                lambda f: repo.download_file(f.path, str(tmp_path / f.path.replace("/", "_"))),
                listed,
            )
        )
    for path, data in files.items():
        assert (tmp_path / path.replace("/", "_")).read_bytes() == data
    assert refresh.calls == 1  # concurrent refusals share one renewal
    assert guarded.refusals >= 1


def test_a_token_about_to_expire_is_renewed_before_use(store_gcs, guarded):
    refresh = Refresher("fresh-token")
    repo = repo_at(store_gcs, credentials=token("stale-token", expires_in=5), refresh=refresh)
    assert repo.read_range("MLmodel", 0, 6) == b"flavor"
    assert refresh.calls == 1
    assert object_tokens(guarded) == ["fresh-token"]
    assert set(guarded.tokens_seen) == {"fresh-token"} and guarded.refusals == 0


def test_wrong_credentials_are_permission_denied_without_the_secret(store_gcs, guarded):
    refresh = Refresher("also-wrong-s3cr3t")
    repo = repo_at(store_gcs, credentials=token("wrong-s3cr3t"), refresh=refresh)
    with pytest.raises(FederateError) as caught:
        repo.read_range("MLmodel", 0, 1)
    err = caught.value
    assert err.error_code == PERMISSION_DENIED
    for fragment in ("HTTP 401", "Invalid Credentials", "scoped OAuth token", "MLmodel"):
        assert fragment in str(err)
    assert "s3cr3t" not in f"{err} {err!r} {err.__cause__} {err.__cause__!r}"
    assert refresh.calls == 1  # renewed once, then given up: no loop, no fallback
    assert object_tokens(guarded) == ["wrong-s3cr3t", "also-wrong-s3cr3t"]


def test_a_refusal_without_a_refresh_callback_names_the_location(store_gcs, guarded):
    guarded.refusal_status = 403
    repo = repo_at(store_gcs, credentials=token("wrong-s3cr3t"))
    with raises_federate_error(PERMISSION_DENIED, "HTTP 403", "Access denied", store_gcs.root):
        repo.list()
    assert None not in guarded.tokens_seen


def test_missing_application_default_credentials_say_how_to_provide_them(monkeypatch, tmp_path):
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-key.json"))
    repo = GcsArtifactRepository("gs://bucket/models")
    with raises_federate_error(
        PERMISSION_DENIED, "gs://bucket/models", "GOOGLE_APPLICATION_CREDENTIALS", "gcloud auth"
    ):
        repo.list()


class TokenEndpoint:
    """Google's OAuth token endpoint in miniature: swaps a signed JWT for an access token."""

    def __init__(self) -> None:
        self.grants = 0
        self.refuse = False
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                endpoint.grants += not endpoint.refuse
                status, body = (
                    (400, {"error": "invalid_grant", "error_description": "Invalid JWT."})
                    if endpoint.refuse
                    else (200, {"access_token": "adc-access-token", "expires_in": 3600})
                )
                data = json.dumps({**body, "token_type": "Bearer"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/token"


@pytest.fixture
def adc(store_gcs, fault_proxy, monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    """Application default credentials as on a real machine: a service-account key file in
    GOOGLE_APPLICATION_CREDENTIALS whose token_uri is a local token endpoint, and the GCS
    endpoint (API_ENDPOINT_OVERRIDE, no emulator variable) behind a token-checking proxy."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    endpoint = TokenEndpoint()
    key_file = tmp_path / "service-account.json"
    key_file.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "federate-tests",
                "private_key_id": "key-1",
                "private_key": pem,
                "client_email": "models-reader@federate-tests.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": endpoint.url,
            }
        )
    )
    put_tree(store_gcs)
    proxy = fault_proxy(store_gcs.env["STORAGE_EMULATOR_HOST"])
    proxy.accepted_tokens = {"adc-access-token"}
    monkeypatch.delenv("STORAGE_EMULATOR_HOST")
    monkeypatch.setenv("API_ENDPOINT_OVERRIDE", proxy.url)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    yield endpoint, proxy, key_file, pem
    endpoint.server.shutdown()
    endpoint.server.server_close()


def test_application_default_credentials_reach_the_store(store_gcs, adc, tmp_path):
    endpoint, proxy, _key_file, _pem = adc
    repo = repo_at(store_gcs)
    assert repo.read_range("MLmodel", 0, 7) == b"flavors"
    # (google-auth may fetch twice: the SDK also reads bucket metadata on a thread of its own)
    assert endpoint.grants >= 1 and set(object_tokens(proxy)) == {"adc-access-token"}


def test_application_default_credentials_refused_by_the_store_name_the_identity(store_gcs, adc):
    _endpoint, proxy, key_file, pem = adc
    proxy.accepted_tokens = {"someone-else"}
    proxy.refusal_status = 403
    with pytest.raises(FederateError) as caught:
        repo_at(store_gcs).list()
    err = caught.value
    assert err.error_code == PERMISSION_DENIED
    for fragment in (
        "HTTP 403: Access denied.",
        f"GOOGLE_APPLICATION_CREDENTIALS={key_file}",
        "models-reader@federate-tests.iam.gserviceaccount.com",
        store_gcs.root,
    ):
        assert fragment in str(err)
    assert "adc-access-token" not in str(err) and pem[40:80] not in str(err)


def test_application_default_credentials_without_a_token_say_so(store_gcs, adc):
    endpoint, proxy, key_file, _pem = adc
    endpoint.refuse = True
    with raises_federate_error(
        PERMISSION_DENIED, "could not get an access token", "invalid_grant", str(key_file)
    ):
        repo_at(store_gcs).stat("MLmodel")
    assert proxy.tokens_seen == []  # nothing was sent to the store without a token


# -- an unavailable store --------------------------------------------------------------------


def test_an_overloaded_store_is_temporarily_unavailable(store_gcs, guarded):
    guarded.accepted_tokens = set()
    guarded.refusal_status = 503
    repo = repo_at(store_gcs)
    repo.retry_timeout_s = 0.3  # the SDK's own retries give up quickly in a test
    with raises_federate_error(TEMPORARILY_UNAVAILABLE, "try again", store_gcs.uri("MLmodel")):
        repo.read_range("MLmodel", 0, 1)


def test_an_unreachable_store_is_temporarily_unavailable(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
    repo = GcsArtifactRepository("gs://bucket/p")
    repo.retry_timeout_s = 0.3
    with raises_federate_error(TEMPORARILY_UNAVAILABLE, "gs://bucket/p", "try again"):
        repo.stat("x")


# -- ranged reads (files from FEDERATE_MULTIPART_THRESHOLD up) ---------------------------------

BIG = {"weights.bin": os.urandom(5 * (1 << 20) + 3)}  # 6 ranges of 1 MiB with small_ranges


def test_ranged_files_damaged_on_the_wire_fail_the_crc32c_check(
    store_gcs, federate_home, fault_proxy, monkeypatch, tmp_path, small_ranges
):
    put_tree(store_gcs, BIG)
    proxy = fault_proxy(store_gcs.env["STORAGE_EMULATOR_HOST"])
    proxy.corrupt = lambda path: "alt=media" in path
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", proxy.url)
    with raises_federate_error(INTERNAL_ERROR, "weights.bin", "crc32c checksum mismatch"):
        federate.download(store_gcs.root, tmp_path / "dl" / "out")
    assert list((tmp_path / "dl").iterdir()) == []


def test_ranged_reads_renew_a_refused_token_once(store_gcs, guarded, tmp_path, small_ranges):
    put_tree(store_gcs, BIG)
    refresh = Refresher("fresh-token")
    repo = repo_at(store_gcs, credentials=token("stale-token"), refresh=refresh)
    transfer.download(repo, tmp_path / "out")
    assert (tmp_path / "out" / "weights.bin").read_bytes() == BIG["weights.bin"]
    assert refresh.calls == 1
    assert set(object_tokens(guarded)[1:]) == {"fresh-token"}


def test_a_ranged_read_of_an_overloaded_store_is_temporarily_unavailable(store_gcs, guarded):
    put_tree(store_gcs, BIG)
    repo = repo_at(store_gcs, credentials=token("fresh-token"))
    repo.list()  # the listing pins the generation the ranged read asks for
    guarded.accepted_tokens = set()
    guarded.refusal_status = 503
    with raises_federate_error(TEMPORARILY_UNAVAILABLE, store_gcs.uri("weights.bin")):
        repo.read_range_into("weights.bin", 0, 10, io.BytesIO())


def test_an_sdk_without_the_private_parts_federate_uses_still_downloads(
    store_gcs, federate_home, monkeypatch, tmp_path, small_ranges
):
    """federate reads media with its own GET to the URL the SDK builds (private parts of
    the SDK); an SDK version without them is read through its own media download."""
    from federate.repos import gcs

    put_tree(store_gcs, {**TREE, **BIG})
    monkeypatch.setattr(gcs, "_can_get_media", lambda client, blob: False)
    federate.download(store_gcs.root, tmp_path / "out")
    expected = {p: hashlib.sha256(d).hexdigest() for p, d in {**TREE, **BIG}.items()}
    assert tree_digest(tmp_path / "out") == expected


def test_a_local_write_failure_is_not_taken_for_the_store_breaking_off(store_gcs):
    """A full disk while a range streams in is the local side's error, not a transient
    one of the store's: retrying would not help, and the message must say so."""
    import errno

    put_tree(store_gcs, BIG)
    repo = repo_at(store_gcs)
    repo.list()

    class FullDisk:
        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError) as caught:
        repo.read_range_into("weights.bin", 0, 3 << 20, FullDisk())
    assert caught.value.errno == errno.ENOSPC
    assert not repo.is_transient_error(caught.value)
