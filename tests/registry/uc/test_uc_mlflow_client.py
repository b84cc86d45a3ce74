"""The fake workspace is faithful: MLflow's own ``databricks-uc`` client downloads from it
(S3 and default storage), registers into it, and reads what federate registered.

MLflow (``mlflow-skinny``, pinned in the ``test`` extra) runs in a subprocess, so its
imports and settings never touch this process; the same version then comes through
federate, and both trees must be byte-identical.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

import federate
from federate.testing.s3 import MotoS3
from federate.testing.trees import write_tree
from federate.testing.uc_workspace import PENDING, UcWorkspace

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mlflow") is None, reason="mlflow-skinny is not installed"
)

NAME = "main.fraud.detector"
_MLFLOW = """
import sys
import mlflow
mlflow.set_registry_uri("databricks-uc")
print(mlflow.artifacts.download_artifacts(artifact_uri=sys.argv[1], dst_path=sys.argv[2]))
"""


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _mlflow_download(ws: UcWorkspace, moto: MotoS3, uri: str, dst: Path) -> None:
    env = {
        **os.environ,
        "DATABRICKS_HOST": ws.url,
        "DATABRICKS_TOKEN": ws.token,
        "MLFLOW_S3_ENDPOINT_URL": moto.endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    done = subprocess.run(
        [sys.executable, "-c", _MLFLOW, uri, str(dst)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_mlflow_and_federate_download_the_same_files(
    uc_workspace: UcWorkspace, s3_env: MotoS3, tmp_path
):
    tree = {
        "MLmodel": b"flavors:\n  python_function: {}\n",
        "data/weights.bin": os.urandom(3 * 1024 * 1024 + 5),
        "data/nested/config.json": b'{"k": 1}',
    }
    version = uc_workspace.publish(NAME, tree, prefix="models/m-1/versions/v-1")
    uc_workspace.add_version(NAME, "s3://nowhere", PENDING)
    uc_workspace.set_alias(NAME, "champion", version)
    for label, uri in (
        ("version", f"models:/{NAME}/{version}"),
        ("alias", f"models:/{NAME}@champion"),
    ):
        _mlflow_download(uc_workspace, s3_env, uri, tmp_path / f"mlflow-{label}")
        assert _files(tmp_path / f"mlflow-{label}") == tree, label
        ours = federate.download(uri, tmp_path / f"federate-{label}", registry_uri="databricks-uc")
        assert _files(Path(ours)) == tree, label
    # MLflow went through the same endpoints federate uses
    assert uc_workspace.calls("/model-versions/generate-temporary-credentials")
    assert uc_workspace.calls("/registered-models/alias")


def test_mlflow_reads_default_storage_as_federate_does(uc_workspace: UcWorkspace, s3_env, tmp_path):
    uc_workspace.use_default_storage(tmp_path / "default-storage")
    tree = {
        "MLmodel": b"flavors:\n  python_function: {}\n",
        "data/weights.bin": os.urandom(2 * 1024 * 1024 + 5),
        "data/nested/config.json": b'{"k": 1}',
    }
    version = uc_workspace.publish_default(NAME, tree)
    uri = f"models:/{NAME}/{version}"
    _mlflow_download(uc_workspace, s3_env, uri, tmp_path / "mlflow")
    assert _files(tmp_path / "mlflow") == tree
    ours = federate.download(uri, tmp_path / "federate", registry_uri="databricks-uc")
    assert _files(Path(ours)) == tree
    assert not uc_workspace.storage_saw_authorization


# MLflow's create -> READ_WRITE credentials -> upload -> finalize, below register_model's
# signature check and dependency scan (both need pandas, which mlflow-skinny lacks)
_MLFLOW_REGISTER = """
import sys
from mlflow import MlflowClient
store = MlflowClient(registry_uri="databricks-uc")._get_registry_client().store
mv = store._create_and_finalize_model_version(
    full_name=sys.argv[2], source=sys.argv[1], description=None, run_id=None, tags=None,
    feature_deps="", other_model_deps=[], model_id=None, source_workspace_id=None,
    extra_headers=None, local_model_dir=sys.argv[1],
)
print(mv.version, mv.status)
"""


def test_federate_reads_what_mlflow_registered(uc_workspace: UcWorkspace, s3_env, tmp_path):
    src = tmp_path / "model"
    tree = {
        "MLmodel": b"flavors:\n  python_function: {}\n",
        "data/weights.bin": os.urandom(1024 * 1024 + 5),
        "data/nested/config.json": b'{"k": 1}',
    }
    for rel, data in tree.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    env = {
        **os.environ,
        "DATABRICKS_HOST": uc_workspace.url,
        "DATABRICKS_TOKEN": uc_workspace.token,
        "MLFLOW_S3_ENDPOINT_URL": s3_env.endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    uc_workspace.add_model(NAME)
    done = subprocess.run(
        [sys.executable, "-c", _MLFLOW_REGISTER, str(src), NAME],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-2:] == ["1", "READY"]
    ours = federate.download(
        f"models:/{NAME}/1", tmp_path / "federate", registry_uri="databricks-uc"
    )
    assert _files(Path(ours)) == tree


def test_mlflow_reads_what_federate_registered(uc_workspace: UcWorkspace, s3_env, tmp_path):
    tree = {
        "MLmodel": b"flavors:\n  python_function: {}\n",
        "data/weights.bin": os.urandom(6 * 1024 * 1024 + 5),
    }
    src = tmp_path / "model"
    for rel, data in tree.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    mv = federate.register(src, NAME, alias="champion", registry_uri="databricks-uc")
    _mlflow_download(uc_workspace, s3_env, f"models:/{NAME}@champion", tmp_path / "mlflow")
    assert _files(tmp_path / "mlflow") == tree
    assert mv.version == 1


def test_mlflow_native_dialect_and_federate_download_the_same_files(
    uc_workspace: UcWorkspace, s3_env: MotoS3, tmp_path, monkeypatch
):
    """MLflow's native store (MLFLOW_ENABLE_UC_NATIVE_MODEL_REGISTRY) against the fake's
    /api/2.1/unity-catalog routes; federate honours the same variable."""
    monkeypatch.setenv("MLFLOW_ENABLE_UC_NATIVE_MODEL_REGISTRY", "true")
    tree = {"MLmodel": b"flavors: {}\n", "data/weights.bin": os.urandom(2 * 1024 * 1024 + 3)}
    version = uc_workspace.publish(NAME, tree, prefix="models/m-2/versions/v-1")
    uc_workspace.set_alias(NAME, "champion", version)
    for label, uri in (
        ("version", f"models:/{NAME}/{version}"),
        ("alias", f"models:/{NAME}@champion"),
    ):
        _mlflow_download(uc_workspace, s3_env, uri, tmp_path / f"mlflow-{label}")
        assert _files(tmp_path / f"mlflow-{label}") == tree, label
    native = {r.path for r in uc_workspace.requests if r.path.startswith("/api/2.1/")}
    native.add("/api/2.0/mlflow/unity-catalog/registered-models"
               ":is-databricks-sdk-models-artifact-repository-enabled")  # fmt: skip
    assert "/api/2.1/unity-catalog/temporary-model-version-credentials" in native
    assert not uc_workspace.calls("/model-versions/generate-temporary-credentials")
    uc_workspace.requests.clear()
    ours = federate.download(
        f"models:/{NAME}@champion", tmp_path / "federate", registry_uri="databricks-uc"
    )
    assert _files(Path(ours)) == tree
    assert {r.path for r in uc_workspace.requests} <= native | {
        f"/api/2.1/unity-catalog/models/{NAME}",
        f"/api/2.1/unity-catalog/models/{NAME}/versions/{version}",
    }


def test_mlflow_files_api_mode_reads_what_federate_registered(
    uc_workspace: UcWorkspace, s3_env: MotoS3, tmp_path
):
    """The workspace says to use the Files API: MLflow (through the Databricks SDK) and
    federate read and write /api/2.0/fs/files alike, with nothing vended."""
    uc_workspace.use_default_storage(tmp_path / "workspace-files")
    uc_workspace.files_api = True
    tree = {"MLmodel": b"flavors: {}\n", "data/weights.bin": os.urandom(3 * 1024 * 1024 + 1)}
    src = write_tree(tmp_path / "model", tree)
    mv = federate.register(src, NAME, alias="champion", registry_uri="databricks-uc")
    _mlflow_download(uc_workspace, s3_env, f"models:/{NAME}@champion", tmp_path / "mlflow")
    assert _files(tmp_path / "mlflow") == tree
    assert mv.version == 1 and not uc_workspace.credential_calls()
