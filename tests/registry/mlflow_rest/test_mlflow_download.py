"""Files of a version on a real ``mlflow server`` come through its artifact proxy
(``mlflow-artifacts:``) with the bytes that were logged: listed level by level, the big
file in ranges, cached, and the same as MLflow's own ``download_artifacts`` gives."""

from __future__ import annotations

from pathlib import Path

import pytest

import federate
from federate.errors import RESOURCE_DOES_NOT_EXIST, FederateError

from .conftest import BIG, Populated, tree_files

pytestmark = pytest.mark.usefixtures("mlflow_env")

_MLFLOW_DOWNLOADS = """
import json, sys
import mlflow
mlflow.set_registry_uri(mlflow.get_tracking_uri())
out = mlflow.artifacts.download_artifacts(artifact_uri=sys.argv[1], dst_path=sys.argv[2])
print(json.dumps(out))
"""


@pytest.fixture
def ranged(monkeypatch: pytest.MonkeyPatch) -> None:
    """The big file is read in 1 MiB ranges on 4 threads."""
    monkeypatch.setenv("FEDERATE_MULTIPART_THRESHOLD", str(1024 * 1024))
    monkeypatch.setenv("FEDERATE_CHUNK_SIZE", str(1024 * 1024))
    monkeypatch.setenv("FEDERATE_MAX_WORKERS", "4")


@pytest.mark.parametrize("uri,version", [("models:/m@champion", 2), ("models:/m/Production", 3)])
def test_download_gives_the_logged_bytes(
    populated: Populated, ranged: None, tmp_path: Path, uri: str, version: int
):
    dst = tmp_path / "dst"
    out = federate.download(uri, dst, registry_uri=populated.server.url, progress=False)
    assert Path(out) == dst
    got = tree_files(dst)
    assert got == tree_files(populated.trees[version])
    assert len(got["sub/weights.bin"]) == BIG


def test_the_same_bytes_as_mlflows_own_download(populated: Populated, tmp_path: Path):
    theirs = tmp_path / "mlflow"
    theirs.mkdir()
    out = populated.server.run_client(_MLFLOW_DOWNLOADS, "models:/m/latest", str(theirs))
    ours = federate.download(
        "models:/m/latest", tmp_path / "ours", registry_uri=populated.server.url
    )
    mlflows = tree_files(Path(out))
    # MLflow adds a file of its own naming the model and version (not in the version)
    assert mlflows.pop("registered_model_meta") == b"model_name: m\nmodel_version: '5'\n"
    assert tree_files(Path(ours)) == mlflows == tree_files(populated.trees[5])


def test_a_second_download_is_served_from_the_cache(
    populated: Populated, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    url = populated.server.url
    first = federate.download("models:/m/1", registry_uri=url, progress=False)
    assert tree_files(Path(first)) == tree_files(populated.trees[1])
    monkeypatch.setenv("FEDERATE_OFFLINE", "1")  # no request at all now
    again = federate.download("models:/m/1", tmp_path / "again", registry_uri=url)
    assert tree_files(Path(again)) == tree_files(populated.trees[1])


def test_part_of_a_version_and_a_listing(populated: Populated, tmp_path: Path):
    url = populated.server.url
    one = federate.download("models:/m/4", tmp_path / "one", url, path="sub/deeper/a.txt")
    assert Path(one).read_bytes() == b"aaaa"
    names = {(f.path, f.is_dir) for f in federate.list_artifacts("models:/m/4", registry_uri=url)}
    assert names == {("MLmodel", False), ("empty.txt", False), ("sub", True)}
    below = federate.list_artifacts("models:/m/4", "sub", registry_uri=url)
    assert {(f.path, f.file_size) for f in below if not f.is_dir} == {("sub/weights.bin", BIG)}


def test_a_path_not_in_the_version_is_refused_naming_it(populated: Populated, tmp_path: Path):
    with pytest.raises(FederateError) as err:
        federate.download("models:/m/4", tmp_path / "x", populated.server.url, path="nope.bin")
    assert err.value.error_code == RESOURCE_DOES_NOT_EXIST and "nope.bin" in str(err.value)
    assert not (tmp_path / "x").exists()
