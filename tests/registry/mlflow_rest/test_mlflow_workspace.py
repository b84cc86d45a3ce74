"""``databricks`` and ``databricks://<profile>``: a workspace's registry speaks the MLflow
REST API, so the MLflow server registry reads it, with host and token configured as for
``databricks-uc``. Tested against the real ``mlflow server`` standing in as the workspace."""

from __future__ import annotations

from pathlib import Path

import pytest

import federate
from federate.errors import INVALID_PARAMETER_VALUE, FederateError

from .conftest import Populated, tree_files

pytestmark = pytest.mark.usefixtures("mlflow_env")


@pytest.fixture
def no_databricks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("DATABRICKS_HOST", "DATABRICKS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    cfg = tmp_path / "databrickscfg"
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(cfg))
    return cfg


def test_databricks_reads_the_workspace_from_the_environment(
    populated: Populated, no_databricks: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.setenv("DATABRICKS_HOST", populated.server.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-secret-token")
    mv = federate.resolve("models:/m@champion", registry_uri="databricks")
    over_http = federate.resolve("models:/m@champion", registry_uri=populated.server.url)
    assert mv.version == over_http.version == 2
    assert mv.download_uri == over_http.download_uri
    out = federate.download("models:/m/Staging", tmp_path / "dst", registry_uri="databricks")
    assert tree_files(Path(out)) == tree_files(populated.trees[2])
    assert "dapi-secret-token" not in repr(federate.get_registry("databricks"))


def test_a_profile_names_the_workspace(populated: Populated, no_databricks: Path, tmp_path: Path):
    no_databricks.write_text(f"[prod]\nhost = {populated.server.url}\ntoken = dapi-x\n")
    mv = federate.resolve("models:/m/Production", registry_uri="databricks://prod")
    assert mv.version == 3


def test_a_missing_workspace_says_what_to_set_for_databricks(no_databricks: Path):
    with pytest.raises(FederateError) as err:
        federate.resolve("models:/m/1", registry_uri="databricks://nope")
    assert err.value.error_code == INVALID_PARAMETER_VALUE
    text = str(err.value)
    assert "databricks://nope" in text and "databricks-uc" not in text
    assert "[nope]" in text
