"""Unity Catalog versions in Databricks-managed default storage, read through the Files API."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import federate
from federate.errors import RESOURCE_DOES_NOT_EXIST
from federate.testing.errors import raises_federate_error
from federate.testing.logs import debug_logs
from federate.testing.presigned import UrlSigner
from federate.testing.trees import files_of, write_tree
from federate.testing.uc_workspace import UcWorkspace

UC = "databricks-uc"
NAME = "main.fraud.detector"


@pytest.fixture
def default_storage(uc_workspace: UcWorkspace, tmp_path: Path) -> UrlSigner:
    uc_workspace.page_size = 7  # directory listings past one page
    return uc_workspace.use_default_storage(tmp_path / "default-storage")


def test_every_uri_form_downloads_the_same_bytes(
    uc_workspace: UcWorkspace, default_storage: UrlSigner, tree, every_uri_form
):
    version = uc_workspace.publish_default(NAME, tree)
    with debug_logs() as logs:
        every_uri_form(uc_workspace, NAME, version, tree)
    assert len(uc_workspace.credential_calls()) == 1
    urls = [r for r in uc_workspace.requests if r.path == "/api/2.0/fs/create-download-url"]
    assert sorted(r.params["path"] for r in urls) == sorted(
        f"/Models/main/fraud/detector/{version}/{rel}" for rel in tree
    )
    assert not uc_workspace.storage_saw_authorization  # the token stays with the workspace
    assert not default_storage.refusals
    logs.assert_hidden([uc_workspace.token])


def test_expired_urls_are_renewed_through_the_workspace(
    uc_workspace: UcWorkspace, default_storage: UrlSigner, tree, tmp_path, small_ranges
):
    version = uc_workspace.publish_default(NAME, tree)
    moved = threading.Event()

    def progress(event) -> None:
        if 0 < event.bytes_done < event.bytes_total and not moved.is_set():
            moved.set()
            default_storage.advance(2 * uc_workspace.url_ttl_s)  # every URL made is expired

    out = federate.download(
        f"models:/{NAME}/{version}", tmp_path / "out", registry_uri=UC, progress=progress
    )
    assert moved.is_set()
    assert files_of(out) == tree
    assert default_storage.refusals and default_storage.refusals[0][0] == 403
    assert len(uc_workspace.calls("/model-versions/generate-temporary-credentials")) >= 2


def test_an_empty_version_downloads_as_an_empty_directory(
    uc_workspace: UcWorkspace, default_storage: UrlSigner, tmp_path
):
    version = uc_workspace.publish_default(NAME, {})
    out = federate.download(f"models:/{NAME}/{version}", tmp_path / "out", registry_uri=UC)
    assert files_of(out) == {}


def test_a_version_missing_from_default_storage_is_not_an_empty_download(
    uc_workspace: UcWorkspace, default_storage: UrlSigner, tmp_path
):
    version = uc_workspace.publish(NAME, {"f": b"x"})
    uc_workspace.vend_as = {"storage_mode": "DEFAULT_STORAGE"}
    with raises_federate_error(
        RESOURCE_DOES_NOT_EXIST, f"/Models/main/fraud/detector/{version} does not exist"
    ):
        federate.download(f"models:/{NAME}/{version}", tmp_path / "out", registry_uri=UC)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_register_into_default_storage_then_download(
    uc_workspace: UcWorkspace, default_storage: UrlSigner, tree, tmp_path
):
    uc_workspace.vend_as = {"storage_mode": "DEFAULT_STORAGE"}
    src = write_tree(tmp_path / "src", tree)
    with debug_logs() as logs:
        mv = federate.register(src, NAME, registry_uri=UC)
        out = federate.download(f"models:/{NAME}/{mv.version}", tmp_path / "out", registry_uri=UC)
    assert mv.status == "READY" and files_of(out) == tree
    stored = default_storage.server.directory / f"Models/main/fraud/detector/{mv.version}"
    assert files_of(stored) == tree  # where Databricks keeps it, put there by the Files API
    puts = [r for r in uc_workspace.requests if r.method == "PUT"]
    assert len(puts) == len(tree) and all(
        r.path.startswith("/api/2.0/fs/files/Models/") for r in puts
    )
    assert not uc_workspace.storage_saw_authorization
    logs.assert_hidden([uc_workspace.token])
