"""``federate.register`` against a real ``mlflow server`` writes what MLflow's client
writes (a run, its artifacts through the proxy, a version from them), so MLflow's own
client then reads the version back; aliases, tags and stages go through the registry
contract; a failed upload leaves no version and no files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import federate
from federate.errors import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST, FederateError

from .conftest import Populated, tree_files

pytestmark = pytest.mark.usefixtures("mlflow_env")

_MLFLOW_READS_BACK = """
import json, sys
import mlflow
from mlflow import MlflowClient
mlflow.set_registry_uri(mlflow.get_tracking_uri())
client = MlflowClient()
name, alias, dst = sys.argv[1:4]
mv = client.get_model_version_by_alias(name, alias)
run = client.get_run(mv.run_id)
out = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}@{alias}", dst_path=dst)
print(json.dumps({
    "version": int(mv.version), "source": mv.source, "run_id": mv.run_id,
    "run_artifact_uri": run.info.artifact_uri, "run_status": run.info.status,
    "tags": mv.tags, "stage": mv.current_stage, "description": mv.description,
    "model_tags": client.get_registered_model(name).tags, "out": out,
}))
"""

_MLFLOW_FAILED_RUNS = """
import json, sys
from mlflow import MlflowClient
from mlflow.entities import ViewType
client = MlflowClient()
name = sys.argv[1]
runs = client.search_runs(["0"], f"attributes.run_name = 'federate-register-{name}'",
                          run_view_type=ViewType.ALL)
print(json.dumps([[r.info.status, r.info.lifecycle_stage] for r in runs]))
"""


def _tree(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "MLmodel").write_text("flavors: {}\n")
    (root / "sub" / "weights.bin").write_bytes(os.urandom(2 * 1024 * 1024 + 3))
    (root / "sub" / "empty").write_bytes(b"")
    return root


def test_mlflows_client_reads_back_a_version_federate_registered(
    populated: Populated, tmp_path: Path
):
    url = populated.server.url
    src = _tree(tmp_path / "src")
    mv = federate.register(
        src, "written", alias="champion", tags={"team": "a"}, description="d", registry_uri=url
    )
    registry = federate.get_registry(url)
    registry.set_model_version_tag("written", mv.version, "stage-note", "ok")
    registry.set_registered_model_tag("written", "owner", "b")
    registry.transition_model_version_stage("written", mv.version, "Staging")
    theirs = populated.server.run_client(
        _MLFLOW_READS_BACK, "written", "champion", str(tmp_path / "mlflow")
    )
    assert theirs["version"] == mv.version == 1
    assert theirs["run_id"] == mv.run_id and theirs["run_status"] == "FINISHED"
    assert theirs["source"] == f"{theirs['run_artifact_uri']}/model"
    assert theirs["tags"] == {"team": "a", "stage-note": "ok"}
    assert (theirs["stage"], theirs["description"]) == ("Staging", "d")
    assert theirs["model_tags"] == {"owner": "b"}
    got = tree_files(Path(theirs["out"]))
    got.pop("registered_model_meta")  # MLflow's own note naming model and version
    assert got == tree_files(src)
    # and federate reads what it wrote, by alias and by stage
    assert federate.resolve("models:/written/Staging", registry_uri=url).version == 1
    again = federate.download("models:/written@champion", tmp_path / "ours", registry_uri=url)
    assert tree_files(Path(again)) == tree_files(src)


def test_a_second_registration_is_the_next_version_and_aliases_move(
    populated: Populated, tmp_path: Path
):
    url = populated.server.url
    (tmp_path / "one.txt").write_text("1")
    (tmp_path / "two.txt").write_text("2")
    first = federate.register(tmp_path / "one.txt", "files", alias="live", registry_uri=url)
    second = federate.register(tmp_path / "two.txt", "files", registry_uri=url)
    assert (first.version, second.version) == (1, 2)
    registry = federate.get_registry(url)
    registry.set_registered_model_alias("files", "live", 2)
    live = federate.download("models:/files@live", tmp_path / "live", registry_uri=url)
    assert tree_files(Path(live)) == {"two.txt": b"2"}
    registry.delete_registered_model_alias("files", "live")
    with pytest.raises(FederateError):
        federate.resolve("models:/files@live", registry_uri=url)
    registry.delete_model_version("files", 1)
    assert federate.resolve("models:/files/latest", registry_uri=url).version == 2


def test_a_failed_upload_leaves_no_version_and_no_files(populated: Populated, tmp_path: Path):
    url = populated.server.url
    src = _tree(tmp_path / "src")
    marker = f"kept-{os.getpid()}.bin"
    (src / marker).write_bytes(b"x" * 1000)
    (src / "bad#name").write_bytes(b"the server refuses a path with '#'")
    with pytest.raises(FederateError) as err:
        federate.register(src, "refused", registry_uri=url)
    assert err.value.error_code == INVALID_PARAMETER_VALUE and "Invalid path" in str(err.value)
    with pytest.raises(FederateError) as err:
        federate.resolve("models:/refused/latest", registry_uri=url)
    assert err.value.error_code == RESOURCE_DOES_NOT_EXIST
    assert not list(populated.server.artifacts.rglob(marker))
    runs = populated.server.run_client(_MLFLOW_FAILED_RUNS, "refused")
    assert runs == [["FAILED", "deleted"]]


def test_a_version_copied_into_the_server_is_what_mlflow_reads_and_copying_again_finds_it(
    populated: Populated, tmp_path: Path
):
    url = populated.server.url
    src = _tree(tmp_path / "src")
    federate.register(src, "promoted", tags={"team": "a"})  # the local SQL registry
    copied = federate.copy("models:/promoted/1", url, alias="prod")
    theirs = populated.server.run_client(
        _MLFLOW_READS_BACK, "promoted", "prod", str(tmp_path / "mlflow")
    )
    assert theirs["version"] == copied.version == 1 and theirs["run_status"] == "FINISHED"
    assert theirs["tags"]["team"] == "a" and theirs["tags"]["federate.source.version"] == "1"
    got = tree_files(Path(theirs["out"]))
    got.pop("registered_model_meta")
    assert got == tree_files(src)
    # idempotent: the lineage tags find the first copy on the server
    assert federate.copy("models:/promoted/1", url).version == 1
    assert [mv.version for mv in federate.get_registry(url).search_model_versions(
        "name = 'promoted'")] == [1]  # fmt: skip
