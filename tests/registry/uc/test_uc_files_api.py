"""Files-API mode: versions read and written through the workspace's /api/2.0/fs/files,
with no cloud credentials vended, when FEDERATE_UC_FILES_API (or MLflow's variable) or
the workspace itself says so."""

from __future__ import annotations

from pathlib import Path

import pytest

import federate
from federate.errors import INVALID_PARAMETER_VALUE, PERMISSION_DENIED
from federate.testing.errors import raises_federate_error
from federate.testing.logs import debug_logs
from federate.testing.presigned import UrlSigner
from federate.testing.trees import files_of, write_tree
from federate.testing.uc_workspace import UcWorkspace

UC = "databricks-uc"
NAME = "main.fraud.detector"
FILES = "/api/2.0/fs/files"


@pytest.fixture
def storage(uc_workspace: UcWorkspace, tmp_path: Path) -> UrlSigner:
    uc_workspace.page_size = 7  # directory listings past one page
    return uc_workspace.use_default_storage(tmp_path / "workspace-files")


@pytest.fixture(
    params=[
        "FEDERATE_UC_FILES_API",
        "workspace",
        "MLFLOW_USE_DATABRICKS_SDK_MODEL_ARTIFACTS_REPO_FOR_UC",
    ]
)
def files_mode(request, uc_workspace: UcWorkspace, monkeypatch) -> str:
    """Each way Files-API mode is turned on."""
    if request.param == "workspace":
        uc_workspace.files_api = True
    else:
        monkeypatch.setenv(request.param, "true")
    return str(request.param)


def test_every_uri_form_reads_through_the_files_api(
    uc_workspace: UcWorkspace, storage: UrlSigner, tree, every_uri_form, files_mode, small_ranges
):
    version = uc_workspace.publish_default(NAME, tree)
    with debug_logs() as logs:
        every_uri_form(uc_workspace, NAME, version, tree)
    assert not uc_workspace.credential_calls()  # nothing vended
    big = [
        r
        for r in uc_workspace.requests
        if r.path == f"{FILES}/Models/main/fraud/detector/{version}/data/weights.bin"
    ]
    assert len(big) > 2  # ranged GETs on the engine, not one stream
    assert all(r.status == 206 for r in big)
    assert not storage.server.access_log  # the signed-URL store was never used
    logs.assert_hidden([uc_workspace.token])


def test_workspace_switch_is_asked_and_the_environment_overrides_it(
    uc_workspace: UcWorkspace, storage: UrlSigner, tree, tmp_path, monkeypatch
):
    version = uc_workspace.publish(NAME, tree)
    uc_workspace.files_api = True
    monkeypatch.setenv("FEDERATE_UC_FILES_API", "false")
    out = federate.download(f"models:/{NAME}/{version}", tmp_path / "out", registry_uri=UC)
    assert files_of(out) == tree
    assert len(uc_workspace.credential_calls()) == 1
    switch = [r for r in uc_workspace.requests if "is-databricks-sdk" in r.path]
    assert not switch  # the environment decided


def test_register_then_download_through_the_files_api(
    uc_workspace: UcWorkspace, storage: UrlSigner, tree, tmp_path, files_mode
):
    src = write_tree(tmp_path / "src", tree)
    mv = federate.register(src, NAME, registry_uri=UC, alias="champion")
    out = federate.download(f"models:/{NAME}@champion", tmp_path / "out", registry_uri=UC)
    assert mv.status == "READY" and files_of(out) == tree
    assert not uc_workspace.credential_calls()
    puts = [r for r in uc_workspace.requests if r.method == "PUT"]
    root = f"{FILES}/Models/main/fraud/detector/{mv.version}/"
    assert len(puts) == len(tree) and all(r.path.startswith(root) for r in puts)


def test_a_refused_upload_leaves_no_version(
    uc_workspace: UcWorkspace, storage: UrlSigner, tree, tmp_path, monkeypatch
):
    monkeypatch.setenv("FEDERATE_UC_FILES_API", "true")
    uc_workspace.fail_next(403, 2, endpoint=f"{FILES}/Models/main/fraud/detector/1/MLmodel")
    src = write_tree(tmp_path / "src", tree)
    with raises_federate_error(PERMISSION_DENIED, "HTTP 403"):
        federate.register(src, NAME, registry_uri=UC)
    assert uc_workspace.models[NAME].versions == {}


def test_files_api_switch_must_be_a_boolean(uc_workspace: UcWorkspace, storage, monkeypatch):
    version = uc_workspace.publish(NAME, {"f": b"x"})
    monkeypatch.setenv("FEDERATE_UC_FILES_API", "sometimes")
    with raises_federate_error(INVALID_PARAMETER_VALUE, "FEDERATE_UC_FILES_API='sometimes'"):
        federate.download(f"models:/{NAME}/{version}", registry_uri=UC)
