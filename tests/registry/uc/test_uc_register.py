"""Registering versions in Unity Catalog: create, upload with vended credentials, finalize."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import federate
from federate.errors import NOT_IMPLEMENTED, PERMISSION_DENIED, RESOURCE_DOES_NOT_EXIST
from federate.testing.errors import raises_federate_error
from federate.testing.s3 import MotoS3
from federate.testing.uc_workspace import READY, UcWorkspace

UC = "databricks-uc"
NAME = "main.team.model"
MiB = 1024 * 1024


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    files = {
        "MLmodel": b"flavors:\n  python_function: {}\n",
        "data/weights.bin": os.urandom(12 * MiB + 7),  # a multipart upload
        "data/größe.json": b'{"k": "v"}',
        "empty.txt": b"",
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _stored(moto: MotoS3, location: str) -> list[str]:
    bucket, _, prefix = location.removeprefix("s3://").partition("/")
    answer = moto.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for o in answer.get("Contents", [])]


def test_register_then_download_gives_the_same_bytes(
    uc_workspace: UcWorkspace, s3_env: MotoS3, src, tmp_path
):
    with s3_env.enforcing_auth():  # only the vended credentials can write
        mv = federate.register(
            src, NAME, alias="champion", tags={"team": "fraud"}, description="d", registry_uri=UC
        )
    assert (mv.name, mv.version, mv.status) == (NAME, 1, READY)
    assert mv.aliases == ("champion",) and mv.tags == {"team": "fraud"}
    assert mv.description == "d"
    fake = uc_workspace.models[NAME].versions[1]
    assert mv.storage_location == fake.storage_location  # where the workspace chose
    ops = [
        r.params["operation"]
        for r in uc_workspace.calls("/model-versions/generate-temporary-credentials")
    ]
    assert ops == ["MODEL_VERSION_OPERATION_READ_WRITE"]
    with s3_env.enforcing_auth():
        out = federate.download(f"models:/{NAME}@champion", tmp_path / "out", registry_uri=UC)
    assert _files(Path(out)) == _files(src)
    # a second version of the existing model
    single = tmp_path / "one.bin"
    single.write_bytes(b"one file")
    assert federate.register(single, NAME, registry_uri=UC).version == 2
    out = federate.download(f"models:/{NAME}/latest", tmp_path / "latest", registry_uri=UC)
    assert _files(Path(out)) == {"one.bin": b"one file"}


def test_an_upload_refused_leaves_no_version_and_no_files(
    uc_workspace: UcWorkspace, s3_env: MotoS3, src
):
    uc_workspace.grant_writes = False  # the vended credentials cannot write
    with s3_env.enforcing_auth(), raises_federate_error(PERMISSION_DENIED):
        federate.register(src, NAME, registry_uri=UC)
    assert uc_workspace.models[NAME].versions == {}
    (created,) = uc_workspace.calls("/model-versions/create")
    (deleted,) = uc_workspace.calls("/model-versions/delete")
    assert deleted.params == {"name": NAME, "version": "1"} and deleted.method == "DELETE"
    assert not uc_workspace.calls("/model-versions/finalize")
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST):
        federate.resolve(f"models:/{NAME}/latest", registry_uri=UC)


def test_a_finalize_refused_after_the_upload_removes_the_files_and_the_version(
    uc_workspace: UcWorkspace, s3_env: MotoS3, src
):
    uc_workspace.fail_next(403, endpoint="/model-versions/finalize")
    with raises_federate_error(PERMISSION_DENIED, uc_workspace.url):
        federate.register(src, NAME, registry_uri=UC)
    assert uc_workspace.models[NAME].versions == {}
    location = f"{uc_workspace.models[NAME].storage_location}/versions/"
    assert _stored(s3_env, location) == []
    # the number is not reused
    assert federate.register(src / "MLmodel", NAME, registry_uri=UC).version == 2


def test_aliases_and_tags_on_models_and_versions(uc_workspace: UcWorkspace, src):
    federate.register(src / "MLmodel", NAME, registry_uri=UC)
    federate.register(src / "MLmodel", NAME, registry_uri=UC)
    reg = federate.get_registry(UC)
    reg.set_registered_model_alias(NAME, "champion", 1)
    reg.set_registered_model_alias(NAME, "champion", 2)  # moved
    reg.set_registered_model_alias(NAME, "shadow", "1")
    assert federate.resolve(f"models:/{NAME}@champion", registry_uri=UC).version == 2
    reg.delete_registered_model_alias(NAME, "champion")
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "champion"):
        federate.resolve(f"models:/{NAME}@champion", registry_uri=UC)
    assert reg.get_registered_model(NAME).aliases == {"shadow": 1}

    reg.set_registered_model_tag(NAME, "owner", "fraud-team")
    reg.set_model_version_tag(NAME, 2, "validated", "yes")
    assert reg.get_registered_model(NAME).tags == {"owner": "fraud-team"}
    assert reg.get_model_version(NAME, 2).tags == {"validated": "yes"}
    reg.delete_registered_model_tag(NAME, "owner")
    reg.delete_model_version_tag(NAME, "2", "validated")
    assert reg.get_registered_model(NAME).tags == {}
    assert reg.get_model_version(NAME, 2).tags == {}

    reg.update_model_version(NAME, 2, description="better")
    assert reg.get_model_version(NAME, 2).description == "better"
    reg.delete_model_version(NAME, 1)
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST):
        reg.get_model_version(NAME, 1)


def test_what_unity_catalog_cannot_do_is_not_implemented(uc_workspace: UcWorkspace, src):
    federate.register(src / "MLmodel", NAME, registry_uri=UC)
    reg = federate.get_registry(UC)
    with raises_federate_error(NOT_IMPLEMENTED, "no stages", "alias"):
        reg.transition_model_version_stage(NAME, 1, "Production")
    with raises_federate_error(NOT_IMPLEMENTED, "cannot be created READY", "federate.register"):
        reg.create_model_version(NAME, "s3://elsewhere/model")
    with raises_federate_error(NOT_IMPLEMENTED, "stores each version's files itself"):
        reg.copy_model_version(f"models:/{NAME}/1", "main.team.other")
    with raises_federate_error(NOT_IMPLEMENTED, "does not support search_registered_models"):
        reg.search_registered_models()
    assert len(uc_workspace.models[NAME].versions) == 1
