"""What every artifact repository does the same way, checked against real stores."""

from __future__ import annotations

import federate
from federate.errors import RESOURCE_DOES_NOT_EXIST
from federate.plugins.manager import get_plugin_host
from federate.testing.errors import raises_federate_error
from federate.testing.stores import StoreUnderTest


def repo_for(store: StoreUnderTest):
    return get_plugin_host().open_repo(store.root)


def test_files_written_by_the_store_are_listed_and_read_back(store, federate_home, tmp_path):
    files = {"a.txt": b"alpha", "dir/b.bin": bytes(range(256)) * 64, "dir/empty": b""}
    for path, data in files.items():
        store.put(path, data)
    repo = repo_for(store)
    assert {f.path: f.file_size for f in repo.walk_files()} == {p: len(d) for p, d in files.items()}
    assert repo.read_range("dir/b.bin", 250, 10) == files["dir/b.bin"][250:260]
    dst = federate.download(store.root, str(tmp_path / "out"))
    assert dst == str(tmp_path / "out")
    for path, data in files.items():
        assert (tmp_path / "out" / path).read_bytes() == data


def test_a_missing_file_is_resource_does_not_exist(store, federate_home):
    store.put("present.txt", b"x")
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST):
        repo_for(store).stat("absent.txt")
