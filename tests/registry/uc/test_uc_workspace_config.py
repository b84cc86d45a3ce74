"""Which workspace and token databricks-uc uses: environment, ~/.databrickscfg profiles."""

from __future__ import annotations

from pathlib import Path

import pytest

import federate
from federate.errors import INVALID_PARAMETER_VALUE, PERMISSION_DENIED
from federate.registry.uc.workspace import workspace_for
from federate.testing.errors import raises_federate_error
from federate.testing.uc_workspace import UcWorkspace

NAME = "main.fraud.detector"


@pytest.fixture
def cfg(uc_workspace: UcWorkspace, tmp_path: Path, monkeypatch) -> Path:
    """A configuration file with DEFAULT and prod profiles of the fake; env unset."""
    monkeypatch.delenv("DATABRICKS_HOST")
    monkeypatch.delenv("DATABRICKS_TOKEN")
    path = tmp_path / "databrickscfg"
    path.write_text(
        f"[DEFAULT]\nhost = {uc_workspace.url}/\ntoken = {uc_workspace.token}\n\n"
        f"[prod]\nhost = {uc_workspace.url}\ntoken = {uc_workspace.token}\n\n"
        f"[half]\nhost = {uc_workspace.url}\n\n"
        f"[oauth]\nhost = {uc_workspace.url}\nclient_id = abc\nclient_secret = def-not-known\n"
    )
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(path))
    uc_workspace.add_version(NAME, "s3://bucket/x")
    return path


def test_environment_wins(uc_workspace: UcWorkspace):
    ws = workspace_for("databricks-uc")
    assert (ws.host, ws.token_source) == (uc_workspace.url, "DATABRICKS_TOKEN")
    assert uc_workspace.token not in repr(ws)


def test_default_profile_then_named_profiles(cfg: Path, uc_workspace: UcWorkspace):
    assert federate.resolve(f"models:/{NAME}/1", registry_uri="databricks-uc").version == 1
    assert workspace_for("databricks-uc").token_source == f"profile [DEFAULT] of {cfg}"
    uri = "databricks-uc://prod"
    assert federate.resolve(f"models:/{NAME}/1", registry_uri=uri).version == 1
    assert workspace_for(uri).host == uc_workspace.url  # trailing '/' dropped


def test_named_profile_does_not_inherit_default(cfg: Path):
    with raises_federate_error(INVALID_PARAMETER_VALUE, "[half]", "lacks token", str(cfg)):
        workspace_for("databricks-uc://half")


def test_oauth_profile_with_an_unknown_client_is_refused(cfg: Path, uc_workspace):
    with raises_federate_error(PERMISSION_DENIED, "OAuth client 'abc'", f"[oauth] of {cfg}"):
        federate.resolve(f"models:/{NAME}/1", registry_uri="databricks-uc://oauth")


def test_unknown_profile_lists_the_known_ones(cfg: Path):
    with raises_federate_error(
        INVALID_PARAMETER_VALUE,
        "[nope]",
        "profiles there: DEFAULT, half, oauth, prod",
        "DATABRICKS_CONFIG",
    ):
        workspace_for("databricks-uc://nope")


def test_nothing_configured_names_variables_and_profile(uc_workspace, tmp_path, monkeypatch):
    monkeypatch.delenv("DATABRICKS_HOST")
    monkeypatch.delenv("DATABRICKS_TOKEN")
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "absent"))
    with raises_federate_error(
        INVALID_PARAMETER_VALUE, "DATABRICKS_HOST and DATABRICKS_TOKEN", "[DEFAULT]"
    ):
        federate.resolve(f"models:/{NAME}/1", registry_uri="databricks-uc")


@pytest.mark.parametrize("missing", ["DATABRICKS_HOST", "DATABRICKS_TOKEN"])
def test_half_environment_names_the_missing_variable(uc_workspace, monkeypatch, missing):
    monkeypatch.delenv(missing)
    with raises_federate_error(INVALID_PARAMETER_VALUE, f"but {missing} is not"):
        workspace_for("databricks-uc")


def test_host_without_scheme_is_https(uc_workspace, monkeypatch):
    monkeypatch.setenv("DATABRICKS_HOST", "adb-1.azuredatabricks.net")
    assert workspace_for("databricks-uc").host == "https://adb-1.azuredatabricks.net"


@pytest.mark.parametrize(
    "uri", ["databricks-uc:prod", "databricks-uc://a:b", "databricks-uc://p/x", "databricks-uc://"]
)
def test_malformed_registry_uris(uc_workspace, uri):
    with raises_federate_error(INVALID_PARAMETER_VALUE, "databricks-uc://<profile>", repr(uri)):
        workspace_for(uri)


def test_wrong_token_in_profile_names_the_profile(cfg: Path, uc_workspace: UcWorkspace):
    cfg.write_text(
        cfg.read_text() + f"\n[stale]\nhost = {uc_workspace.url}\ntoken = dapi-stale-123456\n"
    )
    with raises_federate_error(PERMISSION_DENIED, uc_workspace.url, f"profile [stale] of {cfg}"):
        federate.resolve(f"models:/{NAME}/1", registry_uri="databricks-uc://stale")
