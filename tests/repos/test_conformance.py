"""What every artifact repository does the same way, checked against real stores.

Each test takes ``store`` (see conftest.py: one real store per id) and writes through the
store's own SDK, then reads through federate, or the other way round. A store plugs in by
adding its ``store_<name>`` fixture's name to STORES. A store that opens only with
credentials a registry vends (``needs_credentials``: presigned URL sets) is opened with
fresh minted ones, and downloaded by a models:/ URI whose registry vends them.
"""

from __future__ import annotations

import dataclasses
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import federate
from federate import transfer
from federate.credentials import ScopedCredentials
from federate.errors import (
    INVALID_PARAMETER_VALUE,
    NOT_IMPLEMENTED,
    PERMISSION_DENIED,
    RESOURCE_DOES_NOT_EXIST,
)
from federate.plugins.manager import get_plugin_host
from federate.repos.base import ArtifactRepository
from federate.testing.errors import raises_federate_error
from federate.testing.stores import ScopedAccess, StoreUnderTest
from federate.testing.trees import tree_digest


def repo_for(
    store: StoreUnderTest, credentials: ScopedCredentials | None = None, refresh=None
) -> ArtifactRepository:
    return store.open_repo(credentials, refresh)


def download_root(store: StoreUnderTest, dst: Path) -> str:
    """``federate.download`` of the store's root, the way a user reaches it: by the location
    itself, or, when only a registry's credentials open it, by the models:/ URI of a version
    at that location, from a registry (the embedded one) that vends them."""
    if not store.needs_credentials:
        return federate.download(store.root, str(dst))
    access = scoped(store)
    registry = federate.get_registry()
    registry.read_credentials = lambda mv: access.mint()  # type: ignore[method-assign]
    registry.create_registered_model("vended")
    mv = registry.create_model_version("vended", source=store.root)
    return federate.download(f"models:/vended/{mv.version}", str(dst))


def put_all(store: StoreUnderTest, files: dict[str, bytes]) -> None:
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda item: store.put(*item), files.items()))


def scoped(store: StoreUnderTest) -> ScopedAccess:
    if store.scoped is None:
        pytest.skip(f"store {store.name!r} has no scoped credentials")
    return store.scoped


# -- reading -------------------------------------------------------------------------------


def test_files_written_by_the_store_are_listed_and_read_back(store, federate_home, tmp_path):
    files = {"a.txt": b"alpha", "dir/b.bin": bytes(range(256)) * 64, "dir/empty": b""}
    put_all(store, files)
    repo = repo_for(store)
    assert {f.path: f.file_size for f in repo.walk_files()} == {p: len(d) for p, d in files.items()}
    assert repo.read_range("dir/b.bin", 250, 10) == files["dir/b.bin"][250:260]
    dst = download_root(store, tmp_path / "out")
    assert dst == str(tmp_path / "out")
    for path, data in files.items():
        assert (tmp_path / "out" / path).read_bytes() == data


def test_listing_pages_past_a_thousand_entries(store, federate_home):
    names = [f"many/f{i:04d}" for i in range(1005)]
    put_all(store, {name: name.encode() for name in names} | {"top.txt": b"t"})
    repo = repo_for(store)
    assert [f.path for f in repo.walk_files()] == sorted([*names, "top.txt"])
    below = repo.list("many")
    assert [f.path for f in below] == names and not any(f.is_dir for f in below)
    assert {(f.path, f.is_dir) for f in repo.list("")} == {("many", True), ("top.txt", False)}


def test_stat_tells_files_from_directories_and_missing_paths(store, federate_home):
    put_all(store, {"present.txt": b"12345", "d/inner/x": b"x"})
    repo = repo_for(store)
    info = repo.stat("present.txt")
    assert (info.path, info.is_dir, info.file_size) == ("present.txt", False, 5)
    assert repo.stat("d").is_dir and repo.stat("d/inner").is_dir
    assert repo.stat("").is_dir
    for missing in ("absent.txt", "d/absent", "d/inn"):
        with raises_federate_error(RESOURCE_DOES_NOT_EXIST, case=missing):
            repo.stat(missing)


def test_ranged_reads_at_the_edges(store, federate_home):
    data = bytes(range(256)) * 4  # 1024 bytes
    put_all(store, {"f.bin": data, "empty": b""})
    repo = repo_for(store)
    assert repo.read_range("f.bin", 0, 1) == data[:1]
    assert repo.read_range("f.bin", 1000, 100) == data[1000:]  # fewer only at EOF
    assert repo.read_range("f.bin", 0, 1024) == data
    assert repo.read_range("f.bin", 512, 0) == b""
    assert repo.read_range("f.bin", 1024, 10) == b""
    assert repo.read_range("f.bin", 5000, 10) == b""
    assert repo.read_range("empty", 0, 10) == b""
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST):
        repo.read_range("absent", 0, 10)


#: stores whose ranged reads reach the engine as the bytes stream in, not as one buffer
STREAMING = {"s3", "gcs", "http", "local", "presigned", "azure"}


def test_a_large_range_streams_into_the_engine_in_pieces(store, federate_home):
    data = os.urandom(3 * 1024 * 1024 + 99)
    put_all(store, {"big.bin": data})
    writes: list[int] = []
    got = bytearray()

    class Sink:
        def write(self, piece) -> int:
            writes.append(len(piece))
            got.extend(piece)
            return len(piece)

    repo_for(store).read_range_into("big.bin", 1, len(data) - 1, Sink())
    assert bytes(got) == data[1:]
    if store.name in STREAMING:  # memory per worker stays small, whatever the range size
        assert max(writes) <= 1024 * 1024 < len(data)
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST):
        repo_for(store).read_range_into("absent", 0, 10, Sink())


def test_names_with_spaces_and_non_ascii_characters(store, federate_home, tmp_path):
    files = {
        "dir with space/größe ünïcödé.json": "ünïcödé".encode(),
        "日本語/ファイル 1.bin": b"\x00\x01",
        "plus+percent%20and#hash.txt": b"odd",
    }
    put_all(store, files)
    repo = repo_for(store)
    assert sorted(f.path for f in repo.walk_files()) == sorted(files)
    assert repo.stat("dir with space/größe ünïcödé.json").file_size == len(files[next(iter(files))])
    out = download_root(store, tmp_path / "out")
    assert tree_digest(out) == tree_digest(_write_tree(tmp_path / "expected", files))


def test_a_root_holding_only_empty_files(store, federate_home, tmp_path):
    put_all(store, {"empty.txt": b"", "d/also-empty": b""})
    out = download_root(store, tmp_path / "out")
    assert (Path(out) / "empty.txt").read_bytes() == b""
    assert (Path(out) / "d" / "also-empty").read_bytes() == b""
    assert repo_for(store).stat("empty.txt").file_size == 0


# -- writing through register, reading through download -------------------------------------


@pytest.fixture
def writable_store(store: StoreUnderTest) -> StoreUnderTest:
    if not repo_for(store).writable:
        pytest.skip(f"store {store.name!r} is read-only")
    return store


def test_register_into_a_read_only_store_fails_cleanly(
    store, federate_home, model_tree, monkeypatch
):
    if repo_for(store).writable:
        pytest.skip(f"store {store.name!r} is writable")
    if store.needs_credentials:
        pytest.skip(
            f"store {store.name!r} opens only with credentials a registry vends; register "
            "opens its artifact root without any and is refused there, before any write"
        )
    monkeypatch.setenv("FEDERATE_ARTIFACT_ROOT", store.root)
    with raises_federate_error(NOT_IMPLEMENTED, "read-only"):
        federate.register(model_tree, "nowhere")
    assert federate.get_registry().search_model_versions("name = 'nowhere'") == []


def test_register_stores_a_version_and_download_reads_it_back(
    writable_store, federate_home, model_tree, tmp_path, monkeypatch
):
    monkeypatch.setenv("FEDERATE_ARTIFACT_ROOT", writable_store.root)
    mv = federate.register(model_tree, "fraud", alias="champion")
    assert mv.storage_location == f"{writable_store.root.rstrip('/')}/models/fraud/1"
    stored = get_plugin_host().open_repo(mv.storage_location)
    expected = tree_digest(model_tree)
    assert {f.path for f in stored.walk_files()} == set(expected)
    out = federate.download("models:/fraud@champion", str(tmp_path / "out"))
    assert tree_digest(out) == expected
    weights = "data/nested deeper/weights.bin"
    raw = (model_tree / weights).read_bytes()
    assert stored.read_range(weights, len(raw) - 3, 10) == raw[-3:]


def test_a_single_file_registers_and_downloads(
    writable_store, federate_home, tmp_path, monkeypatch
):
    monkeypatch.setenv("FEDERATE_ARTIFACT_ROOT", writable_store.root)
    src = tmp_path / "model.onnx"
    src.write_bytes(b"onnx" * 1000)
    federate.register(src, "single")
    out = federate.download("models:/single/latest", str(tmp_path / "out"))
    assert (Path(out) / "model.onnx").read_bytes() == src.read_bytes()


def test_a_failed_register_leaves_no_files_and_no_version(
    writable_store, federate_home, model_tree, tmp_path, monkeypatch
):
    monkeypatch.setenv("FEDERATE_ARTIFACT_ROOT", writable_store.root)
    # a link the copy cannot follow: refused before anything is created or stored
    (model_tree / "data" / "zz-dangling").symlink_to(tmp_path / "nowhere")
    with raises_federate_error(INVALID_PARAMETER_VALUE, "zz-dangling"):
        federate.register(model_tree, "broken")
    assert repo_for(writable_store).walk_files() == []
    assert federate.get_registry().search_model_versions("name = 'broken'") == []


def test_a_register_failing_mid_copy_is_undone(
    writable_store, federate_home, model_tree, monkeypatch
):
    monkeypatch.setenv("FEDERATE_ARTIFACT_ROOT", writable_store.root)
    federate.register(model_tree, "broken")  # version 1 stays
    # a read error of the source after some files are stored (a disk failing: nothing
    # produces one for real on demand, so the second upload raises it)
    repo_type = type(repo_for(writable_store))
    real_upload = repo_type.upload_file
    calls = []

    def failing_upload(self, local_file, artifact_path=None):
        calls.append(artifact_path)
        if len(calls) == 2:
            raise OSError(5, "Input/output error", local_file)
        return real_upload(self, local_file, artifact_path)

    monkeypatch.setattr(repo_type, "upload_file", failing_upload)
    with pytest.raises(OSError):
        federate.register(model_tree, "broken")
    monkeypatch.setattr(repo_type, "upload_file", real_upload)
    assert len(calls) == 2
    stored = {f.path.split("/")[2] for f in repo_for(writable_store).walk_files()}
    assert stored == {"1"}  # version 2's first file was removed again
    versions = federate.get_registry().search_model_versions("name = 'broken'")
    assert [v.version for v in versions] == [1]


# -- scoped credentials ----------------------------------------------------------------------


def test_wrong_credentials_are_permission_denied_without_the_secret(store, federate_home):
    access = scoped(store)
    put_all(store, {"f.txt": b"x"})
    with access.enforcing():
        wrong = access.wrong()
        repo = repo_for(store, wrong)
        for action in (lambda: repo.walk_files(), lambda: repo.read_range("f.txt", 0, 1)):
            with raises_federate_error(PERMISSION_DENIED, "scoped credentials from the registry"):
                try:
                    action()
                except Exception as err:
                    for secret in access.secrets(wrong):
                        assert secret not in str(err) and secret not in repr(err)
                    raise
    shown = repr(repo)
    assert not any(s in shown for s in [*wrong.values.values(), *access.secrets(wrong)])


def _counting_refresh(access: ScopedAccess, issued: list[ScopedCredentials]):
    def refresh() -> ScopedCredentials:
        issued.append(access.mint())
        return issued[-1]

    return refresh


def test_credentials_refused_mid_download_are_renewed_once(
    store, federate_home, tmp_path, monkeypatch
):
    access = scoped(store)
    files = {f"part-{i}.bin": bytes([i]) * (1000 + i) for i in range(4)}
    put_all(store, files)
    monkeypatch.setenv("FEDERATE_MAX_WORKERS", "1")  # files in order: revoke after the first
    with access.enforcing():
        first = access.mint()
        issued: list[ScopedCredentials] = []
        repo = repo_for(store, first, _counting_refresh(access, issued))
        fetch = repo.download_file
        done: list[str] = []

        def fetch_then_expire(path: str, local_path: str, size: int | None = None) -> None:
            fetch(path, local_path, size)
            done.append(path)
            if len(done) == 1:
                access.revoke(first)

        repo.download_file = fetch_then_expire  # type: ignore[method-assign]
        out = transfer.download(repo, tmp_path / "out")
        assert tree_digest(out) == tree_digest(_write_tree(tmp_path / "expected", files))
        assert len(issued) == 1 and len(done) == 4
        # the refusal was real: the old credentials alone no longer read anything
        with raises_federate_error(PERMISSION_DENIED):
            repo_for(store, first).read_range("part-0.bin", 0, 1)


def test_credentials_about_to_expire_are_renewed_before_use(store, federate_home, tmp_path):
    access = scoped(store)
    put_all(store, {"f.txt": b"fresh"})
    with access.enforcing():
        soon = access.mint()
        access.revoke(soon)  # had the repo used them, the store would refuse
        soon = dataclasses.replace(soon, expires_at=time.time() + 5)
        issued: list[ScopedCredentials] = []
        repo = repo_for(store, soon, _counting_refresh(access, issued))
        assert repo.read_range("f.txt", 0, 5) == b"fresh"
        assert len(issued) == 1


def test_a_second_refusal_after_renewal_is_permission_denied(store, federate_home):
    access = scoped(store)
    put_all(store, {"f.txt": b"x"})
    with access.enforcing():
        issued: list[ScopedCredentials] = []

        def refresh_with_revoked() -> ScopedCredentials:
            issued.append(access.mint())
            access.revoke(issued[-1])
            return issued[-1]

        stale = access.mint()
        access.revoke(stale)
        repo = repo_for(store, stale, refresh_with_revoked)
        with raises_federate_error(PERMISSION_DENIED, "scoped credentials from the registry"):
            repo.read_range("f.txt", 0, 1)
        assert len(issued) == 1  # renewed once, retried once, then reported


def _write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    return root
