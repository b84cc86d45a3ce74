"""Resolving models:/ URIs against a (fake) Databricks workspace: every URI form."""

from __future__ import annotations

import pytest

import federate
from federate.errors import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST
from federate.testing.errors import raises_federate_error
from federate.testing.uc_native_routes import NATIVE_API, dialects_used
from federate.testing.uc_workspace import FAILED, PENDING, UcWorkspace

UC = "databricks-uc"
NAME = "main.fraud.detector"


@pytest.fixture
def fraud(uc_workspace: UcWorkspace) -> UcWorkspace:
    for status in ("READY", "READY", PENDING):
        uc_workspace.add_version(NAME, f"s3://bucket/{NAME}", status)
    uc_workspace.set_alias(NAME, "champion", 1)
    return uc_workspace


def test_version_alias_and_latest(fraud: UcWorkspace, dialect):
    mv = federate.resolve(f"models:/{NAME}/2", registry_uri=UC)
    assert (mv.name, mv.version, mv.status) == (NAME, 2, "READY")
    assert mv.storage_location == f"s3://bucket/{NAME}"
    champion = federate.resolve(f"models:/{NAME}@champion", registry_uri=UC)
    assert (champion.version, champion.aliases) == (1, ("champion",))
    # version 3 is still being registered: the highest READY one is 2
    assert federate.resolve(f"models:/{NAME}/latest", registry_uri=UC).version == 2
    assert federate.resolve(f"models:/{NAME}/LATEST", registry_uri=UC).version == 2
    assert dialects_used(fraud) == {dialect}


def test_registry_uri_from_environment_and_set_registry_uri(fraud: UcWorkspace, monkeypatch):
    monkeypatch.setenv("FEDERATE_REGISTRY_URI", UC)
    assert federate.resolve(f"models:/{NAME}/1").version == 1
    monkeypatch.delenv("FEDERATE_REGISTRY_URI")
    federate.set_registry_uri(UC)
    assert federate.resolve(f"models:/{NAME}@champion").version == 1


def test_latest_reads_every_page_past_pending_and_failed_versions(
    uc_workspace: UcWorkspace, dialect
):
    uc_workspace.page_size = 3
    for _ in range(7):
        uc_workspace.add_version(NAME, "s3://bucket/x")
    for status in (PENDING, FAILED, PENDING, FAILED):
        uc_workspace.add_version(NAME, "s3://bucket/x", status)
    assert federate.resolve(f"models:/{NAME}/latest", registry_uri=UC).version == 7
    if dialect == "mlflow":
        pages = uc_workspace.calls("/model-versions/search")
        assert pages[0].params["filter"] == f"name='{NAME}'"
    else:
        pages = [
            r for r in uc_workspace.requests if r.path == f"{NATIVE_API}/models/{NAME}/versions"
        ]
    assert len(pages) == 4  # 11 versions, 3 per page
    assert dialects_used(uc_workspace) == {dialect}


def test_latest_without_ready_version_does_not_exist(uc_workspace: UcWorkspace, dialect):
    uc_workspace.add_version(NAME, "s3://bucket/x", PENDING)
    uc_workspace.add_version(NAME, "s3://bucket/x", FAILED)
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, NAME, "no READY version"):
        federate.resolve(f"models:/{NAME}/latest", registry_uri=UC)


def test_latest_of_a_missing_model_says_the_model_is_missing(uc_workspace: UcWorkspace):
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "main.fraud.nope", "does not exist"):
        federate.resolve("models:/main.fraud.nope/latest", registry_uri=UC)


@pytest.mark.parametrize("stage", ["Production", "staging", "Archived", "None"])
def test_stage_uri_is_refused_naming_aliases(fraud: UcWorkspace, stage):
    with raises_federate_error(INVALID_PARAMETER_VALUE, "Unity Catalog has no stages", "@<alias>"):
        federate.resolve(f"models:/{NAME}/{stage}", registry_uri=UC)
    assert fraud.requests == []  # refused before asking the workspace


@pytest.mark.parametrize("name", ["detector", "fraud.detector", "a.b.c.d", "main..detector"])
def test_names_need_three_levels(fraud: UcWorkspace, name):
    for uri in (f"models:/{name}/1", f"models:/{name}@champion", f"models:/{name}/latest"):
        with raises_federate_error(
            INVALID_PARAMETER_VALUE, "catalog.schema.model", repr(name), case=uri
        ):
            federate.resolve(uri, registry_uri=UC)
    assert fraud.requests == []


def test_missing_version_and_alias_carry_the_servers_message(fraud: UcWorkspace, dialect):
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "version 9 does not exist"):
        federate.resolve(f"models:/{NAME}/9", registry_uri=UC)
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "Alias 'gone' does not exist"):
        federate.resolve(f"models:/{NAME}@gone", registry_uri=UC)


def test_requests_use_the_legacy_dialect_with_string_versions(fraud: UcWorkspace):
    federate.resolve(f"models:/{NAME}/2", registry_uri=UC)
    (call,) = fraud.calls("/model-versions/get")
    assert call.method == "GET" and call.params == {"name": NAME, "version": "2"}


def test_native_requests_carry_integer_versions_and_ask_for_aliases(
    fraud: UcWorkspace, monkeypatch
):
    monkeypatch.setenv("MLFLOW_ENABLE_UC_NATIVE_MODEL_REGISTRY", "true")  # MLflow's switch
    mv = federate.resolve(f"models:/{NAME}@champion", registry_uri=UC)
    assert (mv.version, mv.aliases, mv.status) == (1, ("champion",), "READY")
    (call,) = [r for r in fraud.requests if r.path.startswith(NATIVE_API)]
    assert call.path == f"{NATIVE_API}/models/{NAME}/aliases/champion"
    assert call.params == {"include_aliases": "true"}


def test_native_switch_must_be_a_boolean(fraud: UcWorkspace, monkeypatch):
    monkeypatch.setenv("FEDERATE_UC_NATIVE", "maybe")
    with raises_federate_error(INVALID_PARAMETER_VALUE, "FEDERATE_UC_NATIVE='maybe'", "true"):
        federate.resolve(f"models:/{NAME}/1", registry_uri=UC)
