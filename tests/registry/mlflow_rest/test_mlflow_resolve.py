"""Every URI form resolves on a real ``mlflow server`` to what MLflow's own client resolves
it to (version and download URI), and the two fail together."""

from __future__ import annotations

import json

import pytest

import federate
from federate.errors import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_DOES_NOT_EXIST,
    FederateError,
)

from .conftest import Populated

pytestmark = pytest.mark.usefixtures("mlflow_env")

URIS = [
    "models:/m/1",
    "models:/m/4",
    "models:/m/5",
    "models:/m/9",
    "models:/m/Production",
    "models:/m/production",
    "models:/m/Staging",
    "models:/m/None",
    "models:/m/Archived",
    "models:/m/latest",
    "models:/m/LATEST",
    "models:/m/Bogus",
    "models:/m@champion",
    "models:/m@nope",
    "models:/nomodel/1",
    "models:/nomodel/latest",
    "models:/nomodel/Production",
    "models:/nomodel@champion",
    "models:/empty/latest",
    "models:/empty/Staging",
]

_MLFLOW_RESOLVES = """
import json, sys
from mlflow import MlflowClient
from mlflow.store.artifact.utils.models import get_model_name_and_version
client = MlflowClient()
out = {}
for uri in json.loads(sys.argv[1]):
    try:
        name, version = get_model_name_and_version(client, uri)
        out[uri] = [int(version), client.get_model_version_download_uri(name, version)]
    except Exception as err:
        out[uri] = "error: " + str(err)[:300]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def mlflow_answers(populated: Populated) -> dict[str, object]:
    return populated.server.run_client(_MLFLOW_RESOLVES, json.dumps(URIS))


@pytest.mark.parametrize("uri", URIS)
def test_federate_resolves_as_mlflow_does(
    populated: Populated, mlflow_answers: dict[str, object], uri: str
):
    expected = mlflow_answers[uri]
    try:
        mv = federate.resolve(uri, registry_uri=populated.server.url)
    except FederateError as err:
        assert isinstance(expected, str), f"MLflow resolved {uri} to {expected}, federate: {err}"
        assert err.error_code in (RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE)
        return
    assert [mv.version, mv.download_uri] == expected
    assert mv.name == "m"


def test_resolution_reports_stage_aliases_and_run(populated: Populated):
    mv = federate.resolve("models:/m@champion", registry_uri=populated.server.url)
    assert (mv.version, mv.current_stage, mv.aliases) == (2, "Staging", ("champion",))
    assert mv.run_id and mv.download_uri.startswith("mlflow-artifacts:/")
    assert mv.download_uri.endswith(f"/{mv.run_id}/artifacts/model")


def test_missing_things_name_what_is_missing_with_the_servers_message(populated: Populated):
    url = populated.server.url
    with pytest.raises(FederateError) as err:
        federate.resolve("models:/nomodel/latest", registry_uri=url)
    assert err.value.error_code == RESOURCE_DOES_NOT_EXIST and "nomodel" in str(err.value)
    with pytest.raises(FederateError) as err:
        federate.resolve("models:/m@nope", registry_uri=url)
    # MLflow's server answers a missing alias with 400 INVALID_PARAMETER_VALUE: so do we
    assert err.value.error_code == INVALID_PARAMETER_VALUE and "nope" in str(err.value)
    assert "not found" in str(err.value)
    with pytest.raises(FederateError) as err:
        federate.resolve("models:/m/Bogus", registry_uri=url)
    assert err.value.error_code == INVALID_PARAMETER_VALUE and "Bogus" in str(err.value)
    with pytest.raises(FederateError) as err:
        federate.resolve("models:/empty/Staging", registry_uri=url)
    assert err.value.error_code == RESOURCE_DOES_NOT_EXIST
    assert "empty" in str(err.value) and "Staging" in str(err.value)
