"""OAuth M2M against the fake workspace: client credentials from the environment or a
profile become bearer tokens from /oidc/v1/token, shared, renewed before they expire and
once more when the workspace refuses one; the secret never shows."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import urllib3

import federate
from federate.errors import INVALID_PARAMETER_VALUE, PERMISSION_DENIED, FederateError
from federate.registry.uc.workspace import workspace_for
from federate.testing.errors import raises_federate_error
from federate.testing.logs import debug_logs
from federate.testing.uc_workspace import UcWorkspace

UC = "databricks-uc"
NAME = "main.fraud.detector"


@pytest.fixture
def sp(uc_workspace: UcWorkspace, monkeypatch) -> tuple[str, str]:
    """A service principal of the fake; the environment holds its credentials, no PAT."""
    client_id, secret = uc_workspace.oauth.add_client()
    monkeypatch.delenv("DATABRICKS_TOKEN")
    monkeypatch.setenv("DATABRICKS_CLIENT_ID", client_id)
    monkeypatch.setenv("DATABRICKS_CLIENT_SECRET", secret)
    uc_workspace.add_version(NAME, "s3://bucket/x")
    return client_id, secret


def _bearers(ws: UcWorkspace) -> set[str]:
    return {t for t in ws.oauth.issued}


def test_environment_client_credentials_get_one_token_for_many_calls(uc_workspace: UcWorkspace, sp):
    for _ in range(3):
        assert federate.resolve(f"models:/{NAME}/1", registry_uri=UC).version == 1
    assert uc_workspace.oauth.requests == [
        {"grant_type": "client_credentials", "scope": "all-apis"}
    ]
    assert len(_bearers(uc_workspace)) == 1
    assert all(r.status == 200 for r in uc_workspace.requests)


def test_token_renewed_before_it_expires(uc_workspace: UcWorkspace, sp):
    uc_workspace.oauth.ttl_s = 2  # renewed once half its life has passed
    federate.resolve(f"models:/{NAME}/1", registry_uri=UC)
    time.sleep(1.2)
    federate.resolve(f"models:/{NAME}/1", registry_uri=UC)
    assert len(uc_workspace.oauth.requests) == 2
    assert all(r.status == 200 for r in uc_workspace.requests)  # never sent a stale one


def test_refused_token_is_replaced_once(uc_workspace: UcWorkspace, sp):
    federate.resolve(f"models:/{NAME}/1", registry_uri=UC)
    uc_workspace.oauth.revoke_all()
    assert federate.resolve(f"models:/{NAME}/1", registry_uri=UC).version == 1
    assert len(uc_workspace.oauth.requests) == 2
    assert [r.status for r in uc_workspace.requests][-2:] == [401, 200]


def test_wrong_secret_is_permission_denied_without_the_secret(
    uc_workspace: UcWorkspace, sp, monkeypatch
):
    client_id, _ = sp
    wrong = "dose-wrong-secret-0123456789"
    monkeypatch.setenv("DATABRICKS_CLIENT_SECRET", wrong)
    with debug_logs() as logs, pytest.raises(FederateError) as caught:
        federate.resolve(f"models:/{NAME}/1", registry_uri=UC)
    err = caught.value
    assert err.error_code == PERMISSION_DENIED
    for fragment in (uc_workspace.url, client_id, "DATABRICKS_CLIENT_ID", "HTTP 401"):
        assert fragment in str(err)
    assert wrong not in str(err) and wrong not in repr(err)
    assert wrong not in repr(workspace_for(UC))
    logs.assert_hidden([wrong])
    assert not uc_workspace.requests  # no API call went out without a token


@pytest.mark.parametrize(
    "missing", ["DATABRICKS_HOST", "DATABRICKS_CLIENT_ID", "DATABRICKS_CLIENT_SECRET"]
)
def test_half_oauth_environment_names_what_to_set(uc_workspace, sp, monkeypatch, missing):
    monkeypatch.delenv(missing)
    with raises_federate_error(INVALID_PARAMETER_VALUE, f"but {missing} is not", "OAuth M2M"):
        workspace_for(UC)


def test_profile_client_credentials(uc_workspace: UcWorkspace, sp, tmp_path: Path, monkeypatch):
    client_id, secret = sp
    for name in ("DATABRICKS_HOST", "DATABRICKS_CLIENT_ID", "DATABRICKS_CLIENT_SECRET"):
        monkeypatch.delenv(name)
    cfg = tmp_path / "databrickscfg"
    cfg.write_text(
        f"[sp]\nhost = {uc_workspace.url}\nclient_id = {client_id}\nclient_secret = {secret}\n"
        f"[half]\nhost = {uc_workspace.url}\nclient_id = {client_id}\n"
    )
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(cfg))
    assert federate.resolve(f"models:/{NAME}/1", registry_uri=f"{UC}://sp").version == 1
    assert len(uc_workspace.oauth.requests) == 1
    assert secret not in repr(workspace_for(f"{UC}://sp"))
    with raises_federate_error(INVALID_PARAMETER_VALUE, "[half]", "lacks client_secret"):
        workspace_for(f"{UC}://half")


def test_databricks_sdk_gets_a_token_the_fake_accepts(uc_workspace: UcWorkspace, sp):
    """The fake's token endpoint is the one the Databricks SDK (the peer) speaks to."""
    from databricks.sdk.core import Config

    client_id, secret = sp
    config = Config(
        host=uc_workspace.url, client_id=client_id, client_secret=secret, auth_type="oauth-m2m"
    )
    headers = config.authenticate()
    assert len(uc_workspace.oauth.requests) == 1
    resp = urllib3.request(
        "GET",
        f"{uc_workspace.url}/api/2.0/mlflow/unity-catalog/registered-models/get?name={NAME}",
        headers=headers,
    )
    assert resp.status == 200, resp.data
