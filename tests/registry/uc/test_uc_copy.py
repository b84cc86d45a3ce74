"""federate.copy into Unity Catalog: the files go where the workspace chose for the new
version, with the write credentials it vends (never a location federate makes up)."""

from __future__ import annotations

from pathlib import Path

import pytest

import federate
from federate.entities import READY
from federate.jobs import lineage
from federate.testing.s3 import MotoS3
from federate.testing.trees import files_of, write_tree
from federate.testing.uc_workspace import UcWorkspace

UC = "databricks-uc"


@pytest.fixture
def team(uc_workspace: UcWorkspace, federate_home: Path, tmp_path: Path) -> Path:
    """A SQLite registry with local artifacts as the default ``team`` profile."""
    (tmp_path / "team-artifacts").mkdir()
    Path("federate.toml").write_text(
        'default_registry = "team"\n[registries.team]\n'
        f'uri = "sqlite:///{tmp_path / "team.db"}"\n'
        f'artifact_root = "{tmp_path / "team-artifacts"}"\n'
    )
    return tmp_path


def test_copy_from_sql_into_unity_catalog(
    uc_workspace: UcWorkspace, team: Path, s3_env: MotoS3, tree, tmp_path
):
    federate.register(write_tree(tmp_path / "src", tree), "churn", tags={"team": "ml"})
    with s3_env.enforcing_auth():  # only the vended credentials may write
        copied = federate.copy("models:/churn/1", UC, name="main.ml.churn", alias="champion")
    assert (copied.name, copied.version, copied.status) == ("main.ml.churn", 1, READY)
    fake = uc_workspace.models["main.ml.churn"].versions[1]
    assert copied.storage_location == fake.storage_location  # the workspace's choice
    assert copied.tags["team"] == "ml" and copied.tags[lineage.NAME] == "churn"
    writes = [
        r
        for r in uc_workspace.credential_calls()
        if r.params.get("operation") == "MODEL_VERSION_OPERATION_READ_WRITE"
    ]
    assert writes
    out = federate.download("models:/main.ml.churn@champion", tmp_path / "out", registry_uri=UC)
    assert files_of(out) == tree
    # copying the same source again returns the copy
    again = federate.copy("models:/churn/1", UC, name="main.ml.churn")
    assert again.version == 1 and list(uc_workspace.models["main.ml.churn"].versions) == [1]


def test_a_failed_copy_into_unity_catalog_leaves_no_version(
    uc_workspace: UcWorkspace, team: Path, s3_env: MotoS3, tree, tmp_path
):
    federate.register(write_tree(tmp_path / "src", tree), "churn")
    uc_workspace.grant_writes = False  # READ_WRITE credentials that S3 refuses to write with
    with s3_env.enforcing_auth(), pytest.raises(federate.FederateError):
        federate.copy("models:/churn/1", UC, name="main.ml.churn", progress=False)
    assert uc_workspace.models["main.ml.churn"].versions == {}
