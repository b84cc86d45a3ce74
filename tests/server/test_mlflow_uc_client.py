"""Interop: MLflow's own ``uc:`` client (``mlflow-skinny``, pinned in the ``test`` extra)
against federate serve, both ways: MLflow registers a version from a local directory and
federate downloads it; federate registers one and ``mlflow.artifacts.download_artifacts``
reads it. Bytes equal each time.

MLflow runs in a subprocess (``FEDERATE_TEST_MLFLOW_PYTHON`` may name an interpreter that
has it; else this one, if it has it), so its imports and settings never touch this process.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

import federate

pytest.importorskip("uvicorn")

_PYTHON = os.environ.get("FEDERATE_TEST_MLFLOW_PYTHON") or (
    sys.executable if importlib.util.find_spec("mlflow") else None
)
pytestmark = pytest.mark.skipif(_PYTHON is None, reason="mlflow-skinny is not installed")

_REGISTER = """
import sys
from mlflow import MlflowClient
client = MlflowClient(registry_uri=sys.argv[1])
client.create_registered_model("main.ml.from_mlflow")
mv = client.create_model_version("main.ml.from_mlflow", source=sys.argv[2])
print(mv.version, mv.status)
"""
_DOWNLOAD = """
import sys
import mlflow
mlflow.set_registry_uri(sys.argv[1])
print(mlflow.artifacts.download_artifacts(artifact_uri=sys.argv[2], dst_path=sys.argv[3]))
"""


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _mlflow(script: str, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    # mlflow-skinny has no SQLAlchemy for its default sqlite:///mlflow.db tracking store
    env["MLFLOW_TRACKING_URI"] = Path("mlruns").resolve().as_uri()
    env["MLFLOW_ALLOW_FILE_STORE"] = "true"
    done = subprocess.run(
        [_PYTHON, "-c", script, *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture
def tree(tmp_path) -> Path:
    root = tmp_path / "model"
    (root / "data").mkdir(parents=True)
    (root / "MLmodel").write_bytes(b"flavors:\n  python_function: {}\n")
    (root / "data" / "weights.bin").write_bytes(os.urandom(2 * 1024 * 1024 + 3))
    return root


def test_mlflow_registers_federate_downloads(federate_server, federate_home, tree, tmp_path):
    s = federate_server
    s.call("POST", "catalogs", {"name": "main"})
    s.call("POST", "schemas", {"name": "ml", "catalog_name": "main"})
    assert _mlflow(_REGISTER, s.uc_uri, str(tree)) == "1 READY"
    for registry_uri in (s.uc_uri, s.registry.uri):
        out = federate.download(
            "models:/main.ml.from_mlflow/latest",
            tmp_path / registry_uri[:2],
            registry_uri=registry_uri,
        )
        assert _files(Path(out)) == _files(tree), registry_uri


def test_federate_registers_mlflow_downloads(federate_server, federate_home, tree, tmp_path):
    s = federate_server
    s.call("POST", "catalogs", {"name": "main"})
    s.call("POST", "schemas", {"name": "ml", "catalog_name": "main"})
    mv = federate.register(tree, "main.ml.from_federate", registry_uri=s.uc_uri)
    dst = tmp_path / "mlflow-out"
    dst.mkdir()
    out = _mlflow(_DOWNLOAD, s.uc_uri, f"models:/main.ml.from_federate/{mv.version}", str(dst))
    assert _files(Path(out)) == _files(tree)
