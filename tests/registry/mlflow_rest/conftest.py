"""A populated ``mlflow server`` (one per session), filled through MLflow's own client.

Model ``m``: versions 1-5 with stages Production, Staging, Production, None, Archived;
alias ``champion`` -> 2; every version's files are a tree logged to its run (small files,
one file of :data:`BIG` bytes), read back through the server's artifact proxy.
Model ``empty`` has no versions.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from federate.testing.mlflow_server import MlflowServer

BIG = 3 * 1024 * 1024 + 17
STAGES = {1: "Production", 2: "Staging", 3: "Production", 4: "None", 5: "Archived"}

_POPULATE = """
import json, sys
from mlflow import MlflowClient
client = MlflowClient()
trees, stages = json.loads(sys.argv[1]), json.loads(sys.argv[2])
experiment = client.create_experiment("federate-tests")
client.create_registered_model("m")
client.create_registered_model("empty")
for number, tree in sorted(trees.items(), key=lambda kv: int(kv[0])):
    run = client.create_run(experiment)
    client.log_artifacts(run.info.run_id, tree, "model")
    mv = client.create_model_version("m", f"{run.info.artifact_uri}/model", run.info.run_id)
    assert mv.version == number, (mv.version, number)
    if stages[number] != "None":
        client.transition_model_version_stage("m", mv.version, stages[number])
    client.set_terminated(run.info.run_id)
client.set_registered_model_alias("m", "champion", "2")
print(json.dumps("ok"))
"""


@dataclass
class Populated:
    server: MlflowServer
    #: the local tree logged for each version
    trees: dict[int, Path]


def tree_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def write_big_tree(root: Path, size: int, small: int) -> Path:
    """``root/weights.bin`` of ``size`` random bytes and ``small`` small files under
    ``root/shards``."""
    (root / "shards").mkdir(parents=True)
    (root / "weights.bin").write_bytes(os.urandom(size))
    for i in range(small):
        (root / "shards" / f"{i}.json").write_text(f'{{"shard": {i}}}')
    return root


def _write_tree(root: Path, version: int) -> Path:
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "MLmodel").write_text(f"version: {version}\n")
    (root / "sub" / "weights.bin").write_bytes(os.urandom(BIG))
    (root / "sub" / "deeper" / "a.txt").write_bytes(b"a" * version)
    (root / "empty.txt").write_bytes(b"")
    return root


@pytest.fixture(scope="session")
def populated(mlflow_server: MlflowServer, tmp_path_factory: pytest.TempPathFactory) -> Populated:
    base = tmp_path_factory.mktemp("logged")
    trees = {v: _write_tree(base / str(v), v) for v in STAGES}
    mlflow_server.run_client(
        _POPULATE,
        json.dumps({str(v): str(p) for v, p in trees.items()}),
        json.dumps({str(v): s for v, s in STAGES.items()}),
    )
    return Populated(mlflow_server, trees)


@pytest.fixture
def mlflow_env(federate_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No MLflow client variables from the outside; fast retries."""
    for name in list(os.environ):
        if name.startswith("MLFLOW_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FEDERATE_RETRY_BACKOFF", "0.01")
    yield
