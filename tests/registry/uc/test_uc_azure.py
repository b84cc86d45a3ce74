"""Unity Catalog versions in Azure (``abfss://``), read and written with vended SAS tokens."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

import federate
from federate.errors import PERMISSION_DENIED
from federate.testing.azure import DEV_ACCOUNT
from federate.testing.errors import raises_federate_error
from federate.testing.logs import debug_logs
from federate.testing.trees import files_of
from federate.testing.uc_workspace import UcWorkspace

UC = "databricks-uc"
NAME = "main.fraud.detector"
MiB = 1024 * 1024


@pytest.mark.parametrize("prefix", ["", "models/abc/versions/def"])
def test_every_uri_form_downloads_the_same_bytes_from_azure(
    uc_workspace_azure: UcWorkspace, tree, tmp_path, every_uri_form, prefix
):
    version = uc_workspace_azure.publish_azure(NAME, tree, prefix=prefix)
    with debug_logs() as logs:
        every_uri_form(uc_workspace_azure, NAME, version, tree)
    (vend,) = uc_workspace_azure.vended
    logs.assert_hidden([uc_workspace_azure.token, vend.values["sas_token"].split("sig=")[1]])


def test_a_sas_expiring_mid_download_is_renewed_through_the_workspace(
    uc_workspace_azure: UcWorkspace, tree, tmp_path, monkeypatch, small_ranges
):
    # renew only when Azure refuses, so the refusal path is what is tested
    monkeypatch.setenv("FEDERATE_CREDENTIAL_REFRESH_MARGIN", "-3600")
    version = uc_workspace_azure.publish_azure(NAME, tree)
    uc_workspace_azure.credential_ttl_s = 3
    waited = threading.Event()

    def progress(event) -> None:
        if 0 < event.bytes_done < event.bytes_total and not waited.is_set():
            waited.set()
            time.sleep(4.2)  # Azurite refuses the first SAS now

    out = federate.download(
        f"models:/{NAME}/{version}", tmp_path / "out", registry_uri=UC, progress=progress
    )
    assert waited.is_set()
    assert files_of(Path(out)) == tree
    assert len(uc_workspace_azure.vended) >= 2


def test_register_into_azure_then_download(uc_workspace_azure: UcWorkspace, tree, tmp_path):
    container = "ucroot" + os.urandom(6).hex()
    uc_workspace_azure.azurite.service_client().create_container(container)  # type: ignore[union-attr]
    uc_workspace_azure.storage_root = f"abfss://{container}@{DEV_ACCOUNT}.dfs.core.windows.net/r"
    src = tmp_path / "src"
    for rel, data in tree.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    mv = federate.register(src, NAME, alias="champion", registry_uri=UC)
    assert mv.storage_location.startswith(f"abfss://{container}@")
    out = federate.download(f"models:/{NAME}@champion", tmp_path / "out", registry_uri=UC)
    assert files_of(Path(out)) == tree

    uc_workspace_azure.grant_writes = False  # a read-only SAS: Azure refuses the upload
    with raises_federate_error(PERMISSION_DENIED):
        federate.register(src, NAME, registry_uri=UC)
    assert sorted(uc_workspace_azure.models[NAME].versions) == [1]
