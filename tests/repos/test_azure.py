"""The Azure Blob repository against Azurite: URI forms, listing, reads, writes, credentials."""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

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
from federate.repos.azure import AzureBlobArtifactRepository
from federate.repos.azure_location import parse_azure_location
from federate.testing.azure import DEV_ACCOUNT, DEV_KEY, Azurite
from federate.testing.errors import raises_federate_error
from federate.testing.stores import StoreUnderTest
from federate.testing.trees import tree_digest

HOST = f"{DEV_ACCOUNT}.blob.core.windows.net"
WRONG_KEY = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ=="


def repo(location: str, credentials=None, refresh=None) -> AzureBlobArtifactRepository:
    opened = get_plugin_host().open_repo(location, credentials, refresh)
    assert isinstance(opened, AzureBlobArtifactRepository)
    return opened


def container_of(store: StoreUnderTest) -> str:
    return parse_azure_location(store.root).container


def prefix_of(store: StoreUnderTest) -> str:
    return parse_azure_location(store.root).prefix


def sas_for(azurite: Azurite, container: str, *, expiry: datetime, write: bool = False) -> str:
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    return generate_container_sas(
        DEV_ACCOUNT,
        container,
        account_key=DEV_KEY,
        permission=ContainerSasPermissions(read=True, list=True, write=write, create=write),
        start=datetime.now(timezone.utc) - timedelta(minutes=5),
        expiry=expiry,
    )


def md5_checksum(data: bytes) -> str:
    return "md5:" + base64.b64encode(hashlib.md5(data).digest()).decode()


def in_(seconds: float) -> datetime:
    return datetime.now(timezone.utc) + timedelta(seconds=seconds)


class Renewer:
    """A registry's refresh callback: a fresh one-hour SAS per call, counted."""

    def __init__(self, azurite: Azurite, container: str) -> None:
        self.azurite, self.container, self.calls = azurite, container, 0

    def __call__(self) -> ScopedCredentials:
        self.calls += 1
        fresh = sas_for(self.azurite, self.container, expiry=in_(3600))
        return ScopedCredentials("azure_sas", {"sas_token": fresh}, time.time() + 3600)


# -- URI forms and routing ---------------------------------------------------------------


@pytest.mark.parametrize(
    "uri, container, prefix, account_url",
    [
        (f"wasbs://box@{HOST}/a/b", "box", "a/b", f"https://{HOST}"),
        (f"wasb://box@{HOST}/a/b/", "box", "a/b", f"http://{HOST}"),
        (
            "abfss://box@acct.dfs.core.windows.net/a",
            "box",
            "a",
            "https://acct.blob.core.windows.net",
        ),
        ("https://acct.blob.core.windows.net/box/my%20dir/x", "box", "my dir/x", None),
        ("https://acct.blob.core.windows.net/box", "box", "", None),
        ("wasbs://box@acct.blob.core.chinacloudapi.cn", "box", "", None),
    ],
)
def test_uri_forms_parse_to_account_container_and_prefix(uri, container, prefix, account_url):
    loc = parse_azure_location(uri)
    assert (loc.container, loc.prefix) == (container, prefix)
    if account_url:
        assert loc.default_account_url == account_url


@pytest.mark.parametrize(
    "uri, why",
    [
        (f"wasbs://{HOST}/path", "container is missing"),
        ("wasbs://box@example.com/path", "is not <account>.blob"),
        ("https://acct.blob.core.windows.net/", "container is missing"),
        (f"wasbs://box@{HOST}/p?sig=SECRET", "query string"),
    ],
)
def test_malformed_uris_say_what_is_accepted_without_echoing_secrets(uri, why):
    with raises_federate_error(INVALID_PARAMETER_VALUE, why, "wasbs://<container>@"):
        parse_azure_location(uri)
    try:
        parse_azure_location(uri)
    except FederateError as err:
        assert "SECRET" not in str(err)


def test_each_form_routes_to_the_azure_plugin_and_other_https_urls_do_not(federate_home):
    host = get_plugin_host()
    for uri in (
        f"wasbs://c@{HOST}/p",
        f"wasb://c@{HOST}/p",
        "abfss://c@acct.dfs.core.windows.net/p",
        "https://acct.blob.core.windows.net/c/p",
        "https://ACCT.Blob.Core.Windows.Net/c/p",
    ):
        assert host.repo_plugin(uri)[0].factory is AzureBlobArtifactRepository, uri
    for uri in ("https://example.com/c/p", "https://blob.core.windows.net.evil.com/c/p"):
        try:
            record, _ = host.repo_plugin(uri)
        except FederateError:
            continue  # no HTTP plugin installed on this branch
        assert record.factory is not AzureBlobArtifactRepository, uri


def test_opening_the_plugin_host_does_not_import_the_azure_sdk():
    code = (
        "import sys, json; from federate.plugins.manager import get_plugin_host; "
        "get_plugin_host().repo_plugin('wasbs://c@a.blob.core.windows.net/p'); "
        "print(json.dumps('azure' in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) is False


def test_all_three_forms_read_the_same_blobs(store_azure, federate_home):
    store_azure.put("dir/f.txt", b"same bytes")
    container, prefix = container_of(store_azure), prefix_of(store_azure)
    for root in (
        store_azure.root,
        f"abfss://{container}@{DEV_ACCOUNT}.dfs.core.windows.net/{prefix}",
        f"https://{HOST}/{container}/{prefix}",
    ):
        opened = repo(root)
        assert [f.path for f in opened.walk_files()] == ["dir/f.txt"], root
        assert opened.read_range("dir/f.txt", 5, 100) == b"bytes", root


# -- reading ---------------------------------------------------------------------------


def test_listing_follows_pages_hierarchically_and_recursively(store_azure, federate_home):
    names = [f"d/f{i:02d}" for i in range(7)] + ["d/sub1/x", "d/sub2/y", "top.txt"]
    for name in names:
        store_azure.put(name, name.encode())
    opened = repo(store_azure.root)
    opened.page_size = 2
    assert [f.path for f in opened.walk_files()] == sorted(names)
    shallow = opened.list("d")
    assert [(f.path, f.is_dir) for f in shallow] == [
        *((f"d/f{i:02d}", False) for i in range(7)),
        ("d/sub1", True),
        ("d/sub2", True),
    ]
    assert [(f.path, f.is_dir) for f in opened.list("")] == [("d", True), ("top.txt", False)]
    deep = {f.path: f.is_dir for f in opened.list("", recursive=True)}
    assert deep["d"] and deep["d/sub1"] and not deep["d/sub1/x"]
    assert opened.list("nothing-here") == []


def test_stat_reports_size_md5_and_etag_and_names_what_is_missing(
    store_azure, federate_home, azurite_blob
):
    data = b"model weights" * 100
    store_azure.put("w.bin", data)
    opened = repo(store_azure.root)
    info = opened.stat("w.bin")
    assert (info.is_dir, info.file_size) == (False, len(data))
    assert info.checksum == md5_checksum(data)
    blob = (
        azurite_blob.service_client()
        .get_blob_client(container_of(store_azure), f"{prefix_of(store_azure)}/w.bin")
        .get_blob_properties()
    )
    assert info.etag == blob.etag.strip('"')
    assert opened.stat("").is_dir
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, f"{store_azure.root}/absent.bin"):
        opened.stat("absent.bin")
    gone = f"wasbs://no-such-container@{HOST}/p"
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'no-such-container'", DEV_ACCOUNT):
        repo(gone).list("")
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "No such Azure blob"):
        opened.read_range("absent.bin", 0, 1)


def test_ranged_reads_return_exactly_the_requested_bytes(store_azure, federate_home):
    data = bytes(range(256)) * 40
    store_azure.put("r.bin", data)
    store_azure.put("empty", b"")
    opened = repo(store_azure.root)
    for start, length in [(0, 1), (1, 255), (1000, 4096), (len(data) - 3, 10), (5, 0)]:
        assert opened.read_range("r.bin", start, length) == data[start : start + length]
    assert opened.read_range("r.bin", len(data), 10) == b""
    assert opened.read_range("r.bin", len(data) + 50, 10) == b""
    assert opened.read_range("empty", 0, 10) == b""
    with raises_federate_error(INVALID_PARAMETER_VALUE, "start >= 0"):
        opened.read_range("r.bin", -1, 3)


def test_a_root_naming_one_blob_downloads_that_file(store_azure, federate_home, tmp_path):
    store_azure.put("one/model.pkl", b"pickled")
    dst = federate.download(store_azure.uri("one/model.pkl"), str(tmp_path / "got.pkl"))
    assert Path(dst).read_bytes() == b"pickled"


def test_keys_with_spaces_and_non_ascii_round_trip(store_azure, federate_home, tmp_path):
    files = {"dir with space/naïve 名前.txt": b"unicode", "a+b=c&d.bin": b"symbols", "e m p": b""}
    for path, data in files.items():
        store_azure.put(path, data)
    container, prefix = container_of(store_azure), prefix_of(store_azure)
    https_root = f"https://{HOST}/{container}/{prefix}/dir%20with%20space"
    assert [f.path for f in repo(https_root).walk_files()] == ["naïve 名前.txt"]
    out = federate.download(store_azure.root, str(tmp_path / "out"))
    for path, data in files.items():
        assert (tmp_path / "out" / path).read_bytes() == data
    assert out == str(tmp_path / "out")


# -- writing ---------------------------------------------------------------------------


def test_register_stores_a_version_in_azure_and_download_gives_the_same_tree(
    store_azure, federate_home, monkeypatch, model_tree, tmp_path, azurite_blob
):
    monkeypatch.setenv("FEDERATE_ARTIFACT_ROOT", store_azure.root)
    mv = federate.register(model_tree, "fraud model", alias="champion")
    assert mv.download_uri.startswith(store_azure.root + "/")
    dst = federate.download("models:/fraud model@champion", str(tmp_path / "dl"))
    assert tree_digest(dst) == tree_digest(model_tree)
    # what federate wrote is ordinary blobs, with Content-MD5, readable by the SDK itself
    container = azurite_blob.service_client().get_container_client(container_of(store_azure))
    stored = {b.name: b for b in container.list_blobs(name_starts_with=prefix_of(store_azure))}
    weights = [b for name, b in stored.items() if name.endswith("nested deeper/weights.bin")]
    assert len(weights) == 1
    expected = hashlib.md5((model_tree / "data/nested deeper/weights.bin").read_bytes()).digest()
    assert bytes(weights[0].content_settings.content_md5) == expected


def test_large_files_go_up_as_committed_blocks(store_azure, federate_home, tmp_path, azurite_blob):
    data = bytes(range(256)) * 20 + b"tail"
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    opened = repo(store_azure.root)
    opened.single_put_size = opened.block_size = 1024
    opened.upload_file(str(src), "big.bin")
    blob = azurite_blob.service_client().get_blob_client(
        container_of(store_azure), f"{prefix_of(store_azure)}/big.bin"
    )
    committed, uncommitted = blob.get_block_list("all")
    assert (len(committed), len(uncommitted)) == (6, 0)
    assert blob.download_blob().readall() == data
    assert opened.stat("big.bin").checksum == md5_checksum(data)
    # the MD5 is recorded after the commit: the blob's other headers stay a plain blob's
    assert blob.get_blob_properties().content_settings.content_type == "application/octet-stream"


def test_delete_removes_a_prefix_and_tolerates_absence(store_azure, federate_home):
    for name in ("keep/x", "gone/a", "gone/b/c", "gone"):
        store_azure.put(name, b"1")
    opened = repo(store_azure.root)
    opened.delete("gone")
    assert [f.path for f in opened.walk_files()] == ["keep/x"]
    opened.delete("never-was")
    opened.delete("")
    assert opened.walk_files() == []


# -- credentials ---------------------------------------------------------------------------


def test_a_sas_token_alone_reads_and_is_never_widened(
    store_azure, federate_home, azurite_blob, tmp_path
):
    store_azure.put("m.bin", b"scoped read")
    sas = sas_for(azurite_blob, container_of(store_azure), expiry=in_(3600))
    creds = ScopedCredentials("azure_sas", {"sas_token": sas}, time.time() + 3600)
    opened = repo(store_azure.root, creds)
    assert opened.read_range("m.bin", 0, 6) == b"scoped"
    # the connection string in the environment could write; the read-only SAS must not
    src = tmp_path / "w"
    src.write_bytes(b"x")
    with raises_federate_error(PERMISSION_DENIED, "scoped credentials from the registry"):
        opened.upload_file(str(src), "w")
    assert [f.path for f in opened.walk_files()] == ["m.bin"]


def test_a_sas_the_store_refuses_is_renewed_once_and_the_request_retried(
    store_azure, federate_home, azurite_blob, tmp_path
):
    store_azure.put("a", b"A" * 1000)
    container = container_of(store_azure)
    stale = sas_for(azurite_blob, container, expiry=in_(-60))
    refresh = Renewer(azurite_blob, container)

    # the registry did not say when it expires, so only the store's refusal reveals it
    opened = repo(store_azure.root, ScopedCredentials("azure_sas", {"sas_token": stale}), refresh)
    assert opened.read_range("a", 0, 3) == b"AAA"
    assert refresh.calls == 1


def test_a_sas_expiring_mid_download_is_refreshed(
    store_azure, federate_home, azurite_blob, tmp_path
):
    files = {f"f{i}.bin": bytes([i]) * (1000 + i) for i in range(6)}
    for path, data in files.items():
        store_azure.put(path, data)
    container = container_of(store_azure)
    expiry = in_(2).replace(microsecond=0)
    first = sas_for(azurite_blob, container, expiry=expiry)
    refresh = Renewer(azurite_blob, container)

    opened = repo(store_azure.root, ScopedCredentials("azure_sas", {"sas_token": first}), refresh)
    assert len(opened.walk_files()) == 6  # listed while the first SAS was good
    time.sleep(max(0.0, (expiry - datetime.now(timezone.utc)).total_seconds()) + 1.2)
    transfer.download(opened, tmp_path / "dl")
    assert {p: (tmp_path / "dl" / p).read_bytes() for p in files} == files
    assert refresh.calls == 1  # all workers shared one renewal


def test_credentials_close_to_expiry_are_renewed_before_use(
    store_azure, federate_home, azurite_blob
):
    store_azure.put("a", b"x")
    container = container_of(store_azure)
    refresh = Renewer(azurite_blob, container)

    soon = ScopedCredentials(
        "azure_sas",
        {"sas_token": sas_for(azurite_blob, container, expiry=in_(3600))},
        time.time() + 5,
    )
    assert repo(store_azure.root, soon, refresh).read_range("a", 0, 1) == b"x"
    assert refresh.calls == 1


def test_a_renewal_that_is_refused_too_is_permission_denied_without_the_sas(
    store_azure, federate_home, azurite_blob
):
    store_azure.put("a", b"x")
    container = container_of(store_azure)
    stale = sas_for(azurite_blob, container, expiry=in_(-60))
    calls = []

    def refresh():
        calls.append(1)
        return ScopedCredentials("azure_sas", {"sas_token": stale})

    opened = repo(store_azure.root, ScopedCredentials("azure_sas", {"sas_token": stale}), refresh)
    with pytest.raises(FederateError) as caught:
        opened.read_range("a", 0, 1)
    assert caught.value.error_code == PERMISSION_DENIED
    message = str(caught.value)
    assert "scoped credentials from the registry" in message and container in message
    sig = dict(part.split("=", 1) for part in stale.split("&"))["sig"]
    assert sig not in message and "sig=" not in message
    assert len(calls) == 1


def test_scoped_credentials_of_another_cloud_are_refused(store_azure, federate_home):
    creds = ScopedCredentials("aws_session", {"access_key_id": "AKIA"})
    with raises_federate_error(INVALID_PARAMETER_VALUE, "azure_sas", "'aws_session'"):
        repo(store_azure.root, creds)


def test_a_request_the_service_refuses_says_what_the_service_said(
    store_azure, federate_home, azurite_blob, tmp_path
):
    """A container name of one letter is too short (3 to 63): the message carries the
    service's reason, not only its error code (and the code as the service spells it)."""
    location = f"wasbs://c@{DEV_ACCOUNT}.blob.core.windows.net/m"
    with raises_federate_error(
        "BAD_REQUEST", "400 OutOfRangeInput", "resource name length is not within"
    ):
        federate.download(location, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_wrong_connection_string_key_is_permission_denied_naming_the_source(
    store_azure, federate_home, azurite_blob, monkeypatch
):
    store_azure.put("a", b"x")
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite_blob.connection_string(WRONG_KEY))
    with pytest.raises(FederateError) as caught:
        repo(store_azure.root).list("")
    assert caught.value.error_code == PERMISSION_DENIED
    message = str(caught.value)
    assert "AZURE_STORAGE_CONNECTION_STRING" in message and container_of(store_azure) in message
    assert WRONG_KEY not in message and WRONG_KEY[:12] not in message


def test_a_wrong_access_key_is_permission_denied_naming_the_source(
    store_azure, federate_home, azurite_blob, monkeypatch
):
    store_azure.put("a", b"x")
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING")
    monkeypatch.setenv("FEDERATE_AZURE_BLOB_ENDPOINT", azurite_blob.blob_endpoint)
    monkeypatch.setenv("AZURE_STORAGE_ACCESS_KEY", DEV_KEY)
    assert repo(store_azure.root).read_range("a", 0, 1) == b"x"  # the right key works
    monkeypatch.setenv("AZURE_STORAGE_ACCESS_KEY", WRONG_KEY)
    with pytest.raises(FederateError) as caught:
        repo(store_azure.root).read_range("a", 0, 1)
    assert caught.value.error_code == PERMISSION_DENIED
    assert "AZURE_STORAGE_ACCESS_KEY" in str(caught.value)
    assert WRONG_KEY[:12] not in str(caught.value)


def test_an_unreachable_endpoint_is_temporarily_unavailable(federate_home, monkeypatch):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    monkeypatch.setenv("FEDERATE_AZURE_BLOB_ENDPOINT", f"http://127.0.0.1:{port}/{DEV_ACCOUNT}")
    monkeypatch.setenv("AZURE_STORAGE_ACCESS_KEY", DEV_KEY)
    monkeypatch.setenv("FEDERATE_AZURE_RETRIES", "0")
    with raises_federate_error(TEMPORARILY_UNAVAILABLE, f"127.0.0.1:{port}", "try again"):
        repo(f"wasbs://c@{HOST}/p").list("")


def test_a_sas_in_an_https_url_is_used_and_never_shown(store_azure, federate_home, azurite_blob):
    store_azure.put("a.txt", b"via url sas")
    container, prefix = container_of(store_azure), prefix_of(store_azure)
    sas = sas_for(azurite_blob, container, expiry=in_(3600))
    opened = repo(f"https://{HOST}/{container}/{prefix}?{sas}")
    assert opened.read_range("a.txt", 4, 3) == b"url"
    assert "sig=" not in repr(opened)
    expired = sas_for(azurite_blob, container, expiry=in_(-60))
    with pytest.raises(FederateError) as caught:
        repo(f"https://{HOST}/{container}/{prefix}?{expired}").read_range("a.txt", 0, 1)
    assert caught.value.error_code == PERMISSION_DENIED
    assert "SAS token in the URL" in str(caught.value) and "sig=" not in str(caught.value)


def test_without_credentials_the_refusal_says_how_to_give_some(
    store_azure, federate_home, azurite_blob, monkeypatch
):
    store_azure.put("a.txt", b"private")
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING")
    monkeypatch.setenv("FEDERATE_AZURE_BLOB_ENDPOINT", azurite_blob.blob_endpoint)
    monkeypatch.setitem(sys.modules, "azure.identity", None)  # as if not installed
    with raises_federate_error(PERMISSION_DENIED, "anonymous access", "AZURE_STORAGE_ACCESS_KEY"):
        repo(store_azure.root).read_range("a.txt", 0, 1)


def test_adls_folder_markers_are_directories_not_files(
    store_azure, federate_home, azurite_blob, tmp_path
):
    # what an ADLS Gen2 account shows through its blob endpoint: directories are empty
    # blobs tagged hdi_isfolder=true
    container = azurite_blob.service_client().get_container_client(container_of(store_azure))
    prefix = prefix_of(store_azure)
    for marker in ("d", "d/empty-dir"):
        container.upload_blob(f"{prefix}/{marker}", b"", metadata={"hdi_isfolder": "true"})
    store_azure.put("d/x.txt", b"x")
    root = f"abfss://{container_of(store_azure)}@{DEV_ACCOUNT}.dfs.core.windows.net/{prefix}"
    opened = repo(root)
    listing = {f.path: f.is_dir for f in opened.list("", recursive=True)}
    assert listing == {"d": True, "d/empty-dir": True, "d/x.txt": False}
    assert [(f.path, f.is_dir) for f in opened.list("d")] == [
        ("d/empty-dir", True),
        ("d/x.txt", False),
    ]
    assert opened.stat("d").is_dir
    out = tmp_path / "out"
    federate.download(root, str(out))
    assert (out / "d" / "x.txt").read_bytes() == b"x" and (out / "d" / "empty-dir").is_dir()


def test_a_malformed_retry_count_is_named(store_azure, federate_home, monkeypatch):
    monkeypatch.setenv("FEDERATE_AZURE_RETRIES", "many")
    with raises_federate_error(INVALID_PARAMETER_VALUE, "FEDERATE_AZURE_RETRIES", "'many'"):
        repo(store_azure.root).list("")


def test_a_local_write_failure_names_the_local_file(store_azure, federate_home, tmp_path):
    store_azure.put("a", b"x")
    target = tmp_path / "no-such-dir" / "a"
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, f"local file {target}"):
        repo(store_azure.root).download_file("a", str(target))


class _Answer(http.server.BaseHTTPRequestHandler):
    """Answers every request with the status and error code the test set on the server."""

    def do_GET(self):
        status, code = self.server.answer  # type: ignore[attr-defined]
        body = (
            f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code>'
            f"<Message>busy; request was {self.path}</Message></Error>"
        ).encode()
        self.send_response(status)
        self.send_header("x-ms-error-code", code)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, *args):
        pass


@pytest.fixture
def answering_server(monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    monkeypatch.setenv(
        "FEDERATE_AZURE_BLOB_ENDPOINT", f"http://127.0.0.1:{server.server_port}/acct"
    )
    monkeypatch.setenv("FEDERATE_AZURE_RETRIES", "0")
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    "status, code, expected",
    [
        (503, "ServerBusy", TEMPORARILY_UNAVAILABLE),
        (500, "InternalError", TEMPORARILY_UNAVAILABLE),
        (429, "TooManyRequests", TEMPORARILY_UNAVAILABLE),
        (403, "AuthorizationFailure", PERMISSION_DENIED),
        (404, "BlobNotFound", RESOURCE_DOES_NOT_EXIST),
        (400, "InvalidQueryParameterValue", "BAD_REQUEST"),
    ],
)
def test_store_answers_map_to_error_codes_without_the_sas(
    answering_server, federate_home, status, code, expected
):
    answering_server.answer = (status, code)
    url = "https://acct.blob.core.windows.net/c/p?sv=2024&sig=TOPSECRET"
    for read in (
        lambda r: r.read_range("f.bin", 0, 10),
        lambda r: b"".join(r.iter_range("f.bin", 0, 10)),  # the streaming path
    ):
        with pytest.raises(FederateError) as caught:
            read(repo(url))
        assert caught.value.error_code == expected
        assert "TOPSECRET" not in str(caught.value) and "sig=" not in str(caught.value)
        assert "https://acct.blob.core.windows.net/c/p/f.bin" in str(caught.value)


class _BreaksOff(http.server.BaseHTTPRequestHandler):
    """Promises the range asked for, sends the first 100 KiB of it, then hangs up."""

    def do_GET(self):
        first, last = (int(x) for x in self.headers["x-ms-range"].split("=")[1].split("-"))
        self.send_response(206)
        self.send_header("Content-Length", str(last - first + 1))
        self.send_header("Content-Range", f"bytes {first}-{last}/{4 * 1024 * 1024}")
        self.end_headers()
        self.wfile.write(bytes(100 * 1024))
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


def test_a_ranged_read_that_breaks_off_keeps_what_arrived_and_is_transient(
    federate_home, monkeypatch
):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BreaksOff)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    monkeypatch.setenv(
        "FEDERATE_AZURE_BLOB_ENDPOINT", f"http://127.0.0.1:{server.server_port}/acct"
    )
    got = bytearray()
    try:
        reader = repo("https://acct.blob.core.windows.net/c/p?sv=2024&sig=TOPSECRET")
        with pytest.raises(FederateError) as caught:
            for piece in reader.iter_range("f.bin", 0, 1024 * 1024):
                got.extend(piece)
    finally:
        server.shutdown()
        server.server_close()
    # whole pieces that arrived reach the engine (urllib3 drops a cut-off last piece), and
    # the engine asks again for the rest from where they end
    assert len(got) <= 100 * 1024
    assert caught.value.error_code == TEMPORARILY_UNAVAILABLE
    assert reader.is_transient_error(caught.value)
    assert "broke off" in str(caught.value) and "TOPSECRET" not in str(caught.value)


def test_the_kits_scoped_access_mints_revocable_and_wrong_sas(store_azure, federate_home):
    # the conformance suite's credential tests rely on these three behaving as the store would
    store_azure.put("f", b"x")
    access = store_azure.scoped
    minted = access.mint()
    assert repo(store_azure.root, minted).read_range("f", 0, 1) == b"x"
    access.revoke(minted)
    with raises_federate_error(PERMISSION_DENIED, "scoped credentials from the registry"):
        repo(store_azure.root, minted).read_range("f", 0, 1)
    with raises_federate_error(PERMISSION_DENIED, "scoped credentials from the registry"):
        repo(store_azure.root, access.wrong()).read_range("f", 0, 1)


@pytest.mark.parametrize("size", [7000, 5 * 1024 * 1024], ids=["small", "hashed-behind"])
def test_a_blob_whose_bytes_differ_from_its_content_md5_is_never_installed(
    store_azure, federate_home, tmp_path, azurite_blob, size
):
    from azure.storage.blob import ContentSettings

    store_azure.put("good.bin", b"fine" * 1000)
    store_azure.put("bad.bin", os.urandom(size))
    blob = azurite_blob.service_client().get_blob_client(
        container_of(store_azure), f"{prefix_of(store_azure)}/bad.bin"
    )
    wrong = hashlib.md5(b"other bytes").digest()
    blob.set_http_headers(content_settings=ContentSettings(content_md5=bytearray(wrong)))
    (tmp_path / "dl").mkdir()
    dst = tmp_path / "dl" / "out"
    with raises_federate_error(INTERNAL_ERROR, "bad.bin", "md5 checksum mismatch"):
        federate.download(store_azure.root, str(dst))
    assert list((tmp_path / "dl").iterdir()) == []  # no dst, staging directory or partial file
