"""Downloading Unity Catalog versions from S3 (moto) with credentials the workspace vends."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import federate
from federate.errors import INVALID_PARAMETER_VALUE, NOT_IMPLEMENTED
from federate.testing.errors import raises_federate_error
from federate.testing.logs import debug_logs
from federate.testing.s3 import MotoS3
from federate.testing.trees import files_of
from federate.testing.uc_native_routes import NATIVE_API
from federate.testing.uc_workspace import PENDING, UcWorkspace

UC = "databricks-uc"
NAME = "main.fraud.detector"
MiB = 1024 * 1024


@pytest.mark.parametrize("prefix", ["", "models/abc/versions/def"])
def test_every_uri_form_downloads_the_same_bytes(
    uc_workspace: UcWorkspace, tree, tmp_path, every_uri_form, prefix, dialect
):
    version = uc_workspace.publish(NAME, tree, prefix=prefix)
    every_uri_form(uc_workspace, NAME, version, tree)
    if dialect == "mlflow":
        (vend,) = uc_workspace.calls("/model-versions/generate-temporary-credentials")
        expected = {
            "name": NAME,
            "version": str(version),
            "operation": "MODEL_VERSION_OPERATION_READ",
        }
    else:
        (vend,) = [
            r
            for r in uc_workspace.requests
            if r.path == f"{NATIVE_API}/temporary-model-version-credentials"
        ]
        catalog, schema, model = NAME.split(".")
        expected = {
            "catalog_name": catalog,
            "schema_name": schema,
            "model_name": model,
            "version": version,
            "operation": "READ_MODEL_VERSION",
        }
    # once: the second and third came from the cache
    assert vend.method == "POST" and vend.params == expected


@pytest.mark.parametrize("store", ["s3", "r2"])
def test_credentials_refused_mid_download_are_renewed_through_the_workspace(
    uc_workspace: UcWorkspace, s3_env: MotoS3, tree, tmp_path, monkeypatch, small_ranges, store
):
    if store == "r2":  # r2_temp_credentials for an r2:// location, moto standing in for R2
        monkeypatch.setenv("FEDERATE_R2_ENDPOINT_URL", s3_env.endpoint)
        version = uc_workspace.publish_r2(NAME, tree)
    else:
        version = uc_workspace.publish(NAME, tree)
    # renew only when S3 refuses, so the refusal path is what is tested
    monkeypatch.setenv("FEDERATE_CREDENTIAL_REFRESH_MARGIN", "-3600")
    expired = threading.Event()

    def progress(event) -> None:
        if 0 < event.bytes_done < event.bytes_total and not expired.is_set():
            expired.set()
            uc_workspace.expire_credentials()

    with s3_env.enforcing_auth(), debug_logs() as logs:
        out = federate.download(
            f"models:/{NAME}/{version}", tmp_path / "out", registry_uri=UC, progress=progress
        )
    assert expired.is_set()
    assert files_of(Path(out)) == tree
    assert len(uc_workspace.vended) >= 2
    logs.assert_hidden(
        [uc_workspace.token]
        + [c.values[k] for c in uc_workspace.vended for k in ("secret_access_key", "session_token")]
    )


def test_credentials_expiring_mid_download_are_renewed_before_s3_refuses_them(
    uc_workspace: UcWorkspace, s3_env: MotoS3, tree, tmp_path, monkeypatch, small_ranges
):
    # a shorter ranged file: the credentials live 1.5 s, renewed ones too, and the rest of
    # the download must fit in one lifetime on a loaded machine
    tree = {**tree, "data/weights.bin": tree["data/weights.bin"][: 12 * MiB + 13]}
    version = uc_workspace.publish(NAME, tree)
    uc_workspace.credential_ttl_s = 1.5  # the workspace revokes them then
    monkeypatch.setenv("FEDERATE_CREDENTIAL_REFRESH_MARGIN", "0.5")
    waited = threading.Event()

    def progress(event) -> None:
        if 0 < event.bytes_done < event.bytes_total and not waited.is_set():
            waited.set()
            time.sleep(1.6)  # the first credentials are past their time now

    with s3_env.enforcing_auth():
        out = federate.download(
            f"models:/{NAME}/{version}", tmp_path / "out", registry_uri=UC, progress=progress
        )
    assert waited.is_set()
    assert files_of(Path(out)) == tree
    assert len(uc_workspace.vended) >= 2


def test_a_version_not_ready_is_not_downloaded(uc_workspace: UcWorkspace, tree, tmp_path):
    version = uc_workspace.publish(NAME, tree, status=PENDING)
    with raises_federate_error(INVALID_PARAMETER_VALUE, "PENDING_REGISTRATION, not READY"):
        federate.download(f"models:/{NAME}/{version}", tmp_path / "out", registry_uri=UC)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_an_unknown_kind_of_credentials_is_not_implemented(
    uc_workspace: UcWorkspace, tree, tmp_path
):
    version = uc_workspace.publish(NAME, {"f": b"x"})
    vended = {"oci_temp_credentials": {"token": "t"}, "expiration_time": int(time.time() * 1000)}
    uc_workspace.vend_as = vended
    with raises_federate_error(NOT_IMPLEMENTED, "no known kind", "r2_temp_credentials"):
        federate.download(f"models:/{NAME}/{version}", tmp_path / "out", registry_uri=UC)


def test_two_workspaces_never_share_cached_versions(
    uc_workspace: UcWorkspace, s3_env: MotoS3, tmp_path, monkeypatch
):
    from federate.testing.plugin import reset_federate_state
    from federate.testing.uc_workspace import start_uc_workspace, stop_uc_workspace

    mine = {"MLmodel": b"workspace A"}
    theirs = {"MLmodel": b"workspace B"}
    version = uc_workspace.publish(NAME, mine)
    other = start_uc_workspace(s3_env)
    try:
        assert other.publish(NAME, theirs) == version  # the same c.s.m, the same version
        out = federate.download(f"models:/{NAME}/{version}", tmp_path / "a", registry_uri=UC)
        assert files_of(Path(out)) == mine
        # another process, another workspace, the same FEDERATE_HOME and registry URI
        reset_federate_state()
        monkeypatch.setenv("DATABRICKS_HOST", other.url)
        monkeypatch.setenv("DATABRICKS_TOKEN", other.token)
        out = federate.download(f"models:/{NAME}/{version}", tmp_path / "b", registry_uri=UC)
        assert files_of(Path(out)) == theirs
        monkeypatch.setenv("FEDERATE_OFFLINE", "1")  # offline too, each its own
        out = federate.download(f"models:/{NAME}/{version}", tmp_path / "c", registry_uri=UC)
        assert files_of(Path(out)) == theirs
    finally:
        stop_uc_workspace(other)


def test_a_changed_workspace_is_read_without_restarting(
    uc_workspace: UcWorkspace, s3_env: MotoS3, tmp_path, monkeypatch
):
    from federate.testing.uc_workspace import start_uc_workspace, stop_uc_workspace

    version = uc_workspace.publish(NAME, {"MLmodel": b"workspace A"})
    other = start_uc_workspace(s3_env)
    try:
        other.publish(NAME, {"MLmodel": b"workspace B"})
        out = federate.download(f"models:/{NAME}/{version}", tmp_path / "a", registry_uri=UC)
        assert files_of(out) == {"MLmodel": b"workspace A"}
        # the same process, the registry already opened: the variables now name another
        monkeypatch.setenv("DATABRICKS_HOST", other.url)
        monkeypatch.setenv("DATABRICKS_TOKEN", other.token)
        out = federate.download(f"models:/{NAME}/{version}", tmp_path / "b", registry_uri=UC)
        assert files_of(out) == {"MLmodel": b"workspace B"}
        assert federate.get_registry(UC).workspace.host == other.url
        assert other.calls("/model-versions/get")
    finally:
        stop_uc_workspace(other)
