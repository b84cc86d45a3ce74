"""Sources MLflow 3 writes, resolved and read as MLflow resolves them: ``models:/<model_id>``
(a logged model's artifacts, no registry lookup), a version whose source is
``runs:/<run_id>/<path>`` (the run's artifacts), and ``runs:/`` naming a model the run
logged the MLflow 3 way (the logged model's artifacts)."""

from __future__ import annotations

from pathlib import Path

import pytest

import federate
from federate.errors import RESOURCE_DOES_NOT_EXIST, FederateError

from .conftest import Populated, tree_files

pytestmark = pytest.mark.usefixtures("mlflow_env")

_LOG_SOURCES = """
import json, os, sys
import mlflow
from mlflow import MlflowClient
mlflow.set_registry_uri(mlflow.get_tracking_uri())
client = MlflowClient()
tree, dst = sys.argv[1:3]
experiment = client.create_experiment("sources")
# a logged model of its own, registered from models:/<model_id>
lm = client.create_logged_model(experiment, name="lm")
client.log_model_artifacts(lm.model_id, tree)
client.finalize_logged_model(lm.model_id, "READY")
client.create_registered_model("from-logged")
client.create_model_version("from-logged", f"models:/{lm.model_id}", model_id=lm.model_id)
# run artifacts, registered from runs:/<run_id>/model
run = client.create_run(experiment)
client.log_artifacts(run.info.run_id, tree, "model")
client.create_registered_model("from-run")
client.create_model_version("from-run", f"runs:/{run.info.run_id}/model", run.info.run_id)
# a model a run logged the MLflow 3 way, registered from runs:/<run_id>/<its name>
run3 = client.create_run(experiment)
lm3 = client.create_logged_model(experiment, name="net", source_run_id=run3.info.run_id)
client.log_model_artifacts(lm3.model_id, tree)
client.finalize_logged_model(lm3.model_id, "READY")
client.create_registered_model("from-run-model")
client.create_model_version("from-run-model", f"runs:/{run3.info.run_id}/net", run3.info.run_id)
out = {"model_id": lm.model_id, "location": client.get_logged_model(lm.model_id).artifact_location}
for uri in [f"models:/{lm.model_id}", "models:/from-logged/1", "models:/from-run/1",
            "models:/from-run-model/1"]:
    where = os.path.join(dst, str(len(out)))
    got = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(where))
    out[uri] = got
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def logged(populated: Populated, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("sources")
    tree = base / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "MLmodel").write_text("flavors: {}\n")
    (tree / "sub" / "w.bin").write_bytes(bytes(range(256)) * 4000)
    answer = populated.server.run_client(_LOG_SOURCES, str(tree), str(base / "mlflow"))
    answer["tree"] = str(tree)
    return answer


def _mlflows(out: str) -> dict[str, bytes]:
    files = tree_files(Path(out))
    files.pop("registered_model_meta", None)  # MLflow's own note for registry downloads
    return files


def test_a_logged_model_id_is_its_artifact_location(
    populated: Populated, logged: dict[str, str], tmp_path: Path
):
    url = populated.server.url
    uri = f"models:/{logged['model_id']}"
    mv = federate.resolve(uri, registry_uri=url)
    assert mv.download_uri == logged["location"] and mv.model_id == logged["model_id"]
    out = federate.download(uri, tmp_path / "ours", registry_uri=url)
    assert tree_files(Path(out)) == _mlflows(logged[uri]) == tree_files(Path(logged["tree"]))


@pytest.mark.parametrize("uri", ["models:/from-logged/1", "models:/from-run/1"])
def test_versions_from_logged_models_and_runs_give_mlflows_bytes(
    populated: Populated, logged: dict[str, str], tmp_path: Path, uri: str
):
    out = federate.download(uri, tmp_path / "ours", registry_uri=populated.server.url)
    assert tree_files(Path(out)) == _mlflows(logged[uri]) == tree_files(Path(logged["tree"]))


def test_a_runs_source_naming_a_model_the_run_logged_reads_that_model(
    populated: Populated, logged: dict[str, str], tmp_path: Path
):
    uri = "models:/from-run-model/1"
    out = federate.download(uri, tmp_path / "ours", registry_uri=populated.server.url)
    assert tree_files(Path(out)) == tree_files(Path(logged["tree"]))
    # MLflow 3.17 puts these files one level down, under the model's name (with a note of
    # its own there too), unlike any other version's; federate keeps a version's files at
    # the top, as for every other source
    theirs = _mlflows(logged[uri])
    assert theirs.pop("net/registered_model_meta").startswith(b"model_name: null")
    assert theirs == {f"net/{k}": v for k, v in tree_files(Path(out)).items()}


def test_a_runs_source_resolves_to_the_runs_artifacts(populated: Populated, logged: dict[str, str]):
    mv = federate.resolve("models:/from-run/1", registry_uri=populated.server.url)
    assert mv.source.startswith("runs:/") and mv.download_uri.startswith("mlflow-artifacts:/")
    assert mv.download_uri.endswith(f"/{mv.run_id}/artifacts/model")


def test_a_missing_logged_model_is_named(populated: Populated):
    with pytest.raises(FederateError) as err:
        federate.resolve("models:/m-0123456789abcdef", registry_uri=populated.server.url)
    assert err.value.error_code == RESOURCE_DOES_NOT_EXIST
    assert "m-0123456789abcdef" in str(err.value)
