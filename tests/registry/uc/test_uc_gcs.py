"""Unity Catalog versions in GCS (``gs://``), read with the access tokens the workspace vends."""

from __future__ import annotations

import os
import threading

import pytest

import federate
from federate.testing.logs import debug_logs
from federate.testing.trees import files_of
from federate.testing.uc_workspace import UcWorkspace

UC = "databricks-uc"
NAME = "main.fraud.detector"


@pytest.mark.parametrize("prefix", ["", "models/abc/versions/def"])
def test_every_uri_form_downloads_the_same_bytes_from_gcs(
    uc_workspace_gcs: UcWorkspace, tree, tmp_path, every_uri_form, prefix
):
    version = uc_workspace_gcs.publish_gcs(NAME, tree, prefix=prefix)
    with debug_logs() as logs:
        every_uri_form(uc_workspace_gcs, NAME, version, tree)
    (vend,) = uc_workspace_gcs.vended
    proxy = uc_workspace_gcs.gcs_proxy
    assert proxy is not None and set(proxy.tokens_seen) == {vend.values["oauth_token"]}
    assert proxy.refusals == 0
    logs.assert_hidden([uc_workspace_gcs.token, vend.values["oauth_token"]])


def test_a_token_refused_mid_download_is_renewed_through_the_workspace(
    uc_workspace_gcs: UcWorkspace, tree, tmp_path, monkeypatch, small_ranges
):
    # renew only when GCS refuses, so the refusal path is what is tested
    monkeypatch.setenv("FEDERATE_CREDENTIAL_REFRESH_MARGIN", "-3600")
    version = uc_workspace_gcs.publish_gcs(NAME, tree)
    expired = threading.Event()

    def progress(event) -> None:
        if 0 < event.bytes_done < event.bytes_total and not expired.is_set():
            expired.set()
            uc_workspace_gcs.expire_credentials()

    out = federate.download(
        f"models:/{NAME}/{version}", tmp_path / "out", registry_uri=UC, progress=progress
    )
    assert expired.is_set()
    assert files_of(out) == tree
    assert len(uc_workspace_gcs.vended) >= 2
    proxy = uc_workspace_gcs.gcs_proxy
    assert proxy is not None and proxy.refusals >= 1 and None not in proxy.tokens_seen


def test_register_into_gcs_then_download(uc_workspace_gcs: UcWorkspace, tree, tmp_path):
    assert uc_workspace_gcs.gcs is not None
    bucket = uc_workspace_gcs.gcs.client().create_bucket(f"ucroot-{os.urandom(6).hex()}")
    uc_workspace_gcs.storage_root = f"gs://{bucket.name}/r"
    src = tmp_path / "src"
    for rel, data in tree.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    mv = federate.register(src, NAME, alias="champion", registry_uri=UC)
    assert (mv.storage_location or "").startswith(f"gs://{bucket.name}/r/models/")
    out = federate.download(f"models:/{NAME}@champion", tmp_path / "out", registry_uri=UC)
    assert files_of(out) == tree
    proxy = uc_workspace_gcs.gcs_proxy
    assert proxy is not None and proxy.refusals == 0 and None not in proxy.tokens_seen
