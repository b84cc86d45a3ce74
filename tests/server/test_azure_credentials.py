"""federate serve with an Azure artifact root (Azurite): SAS tokens for one version.

Azurite has a flat namespace and implements no directory SAS (``sr=d``: it skips such a
token's validation and refuses the request), so on it the default scope is refused
(UNIMPLEMENTED, saying why) and the container scope is what reads and writes; the
directory SAS an ADLS Gen2 account gets is checked by its signed fields."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

import pytest

import federate
from federate.testing.azure import DEV_ACCOUNT
from federate.testing.server import running_server, sqlite_registry

pytest.importorskip("uvicorn")
pytest.importorskip("azure.storage.blob")

MODEL = {"catalog_name": "main", "schema_name": "ml", "model_name": "m"}


def _ask(s, version: int, operation: str = "READ_MODEL_VERSION"):
    body = {**MODEL, "version": version, "operation": operation}
    return s.call("POST", "temporary-model-version-credentials", body)


@pytest.fixture
def azure_served(azurite_blob, azure_container, federate_home, tmp_path, monkeypatch):
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite_blob.connection_string())
    for name in ("AZURE_STORAGE_ACCESS_KEY", "FEDERATE_AZURE_BLOB_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    root = f"wasbs://{azure_container}@{DEV_ACCOUNT}.blob.core.windows.net/registry"
    with running_server(sqlite_registry(tmp_path / "az.db", root)) as served:
        served.seed()
        served.container = azure_container  # type: ignore[attr-defined]
        yield served


def _src(tmp_path: Path, payload: bytes) -> Path:
    src = tmp_path / f"src{len(list(tmp_path.iterdir()))}"
    (src / "data").mkdir(parents=True)
    (src / "data" / "w.bin").write_bytes(payload)
    return src


def _container(azurite_blob, container: str, sas: str):
    from azure.core.credentials import AzureSasCredential
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient(azurite_blob.blob_endpoint, credential=AzureSasCredential(sas))
    return service.get_container_client(container)


def test_a_flat_namespace_is_refused_by_default_saying_why(azure_served, monkeypatch):
    monkeypatch.delenv("FEDERATE_SERVER_AZURE_SAS_SCOPE", raising=False)
    s = azure_served
    assert s.call("POST", "models/versions", {**MODEL, "source": "s"})[0] == 200
    status, error = _ask(s, 1, "READ_WRITE_MODEL_VERSION")
    assert (status, error["error_code"]) == (501, "UNIMPLEMENTED")
    assert "flat namespace" in error["message"]
    assert "FEDERATE_SERVER_AZURE_SAS_SCOPE=container" in error["message"]


def test_register_and_download_through_vended_sas(
    azure_served, azurite_blob, tmp_path, monkeypatch
):
    monkeypatch.setenv("FEDERATE_SERVER_AZURE_SAS_SCOPE", "container")
    s = azure_served
    payload = bytes(range(256)) * 4096
    mv = federate.register(_src(tmp_path, payload), "main.ml.m", registry_uri=s.uc_uri)
    assert mv.storage_location.startswith("wasbs://") and mv.status == "READY"
    out = Path(federate.download("models:/main.ml.m/1", tmp_path / "out", registry_uri=s.uc_uri))
    assert (out / "data" / "w.bin").read_bytes() == payload


def test_a_read_sas_reads_its_version_and_writes_nothing(
    azure_served, azurite_blob, tmp_path, monkeypatch
):
    from azure.core.exceptions import HttpResponseError

    monkeypatch.setenv("FEDERATE_SERVER_AZURE_SAS_SCOPE", "container")
    monkeypatch.setenv("FEDERATE_SERVER_CREDENTIAL_SECONDS", "900")
    s = azure_served
    federate.register(_src(tmp_path, b"one"), "main.ml.m", registry_uri=s.uc_uri)
    status, answer = _ask(s, 1)
    assert status == 200 and "aws_temp_credentials" not in answer
    sas = answer["azure_user_delegation_sas"]["sas_token"]
    fields = parse_qs(sas)
    assert fields["sp"] == ["rl"] and fields["sr"] == ["c"]
    prefix = answer["url"].split(".net/", 1)[1]
    container = _container(azurite_blob, s.container, sas)
    assert container.download_blob(f"{prefix}/data/w.bin").readall() == b"one"
    with pytest.raises(HttpResponseError) as refused:
        container.upload_blob(f"{prefix}/data/evil.bin", b"x")
    assert refused.value.status_code == 403
    # the expiry in the answer is the token's own, 900 s ahead
    from datetime import datetime

    signed = datetime.fromisoformat(fields["se"][0].replace("Z", "+00:00"))
    assert abs(signed.timestamp() * 1000 - answer["expiration_time"]) < 1000
    # a finalized version gets no write token at all
    status, error = _ask(s, 1, "READ_WRITE_MODEL_VERSION")
    assert (status, error["error_code"]) == (400, "INVALID_ARGUMENT")


def test_the_container_sas_is_refused_outside_its_container(
    azure_served, azurite_blob, tmp_path, monkeypatch
):
    from azure.core.exceptions import HttpResponseError

    monkeypatch.setenv("FEDERATE_SERVER_AZURE_SAS_SCOPE", "container")
    s = azure_served
    other = azurite_blob.service_client().create_container("federate-other")
    try:
        other.upload_blob("registry/models/main.ml.m/1/data/w.bin", b"not yours")
        federate.register(_src(tmp_path, b"one"), "main.ml.m", registry_uri=s.uc_uri)
        sas = _ask(s, 1)[1]["azure_user_delegation_sas"]["sas_token"]
        with pytest.raises(HttpResponseError) as refused:
            _container(azurite_blob, "federate-other", sas).download_blob(
                "registry/models/main.ml.m/1/data/w.bin"
            ).readall()
        assert refused.value.status_code == 403
    finally:
        other.delete_container()


def test_an_adls_account_gets_a_directory_sas_on_the_version_path(azure_served, monkeypatch):
    """The directory branch, as for an account with a hierarchical namespace: Azurite has
    none, so the account's answer is set in the server's cache (the one thing faked)."""
    from federate.repos.azure_location import account_url, parse_azure_location
    from federate.server import vending_azure

    monkeypatch.delenv("FEDERATE_SERVER_AZURE_SAS_SCOPE", raising=False)
    s = azure_served
    _, pending = s.call("POST", "models/versions", {**MODEL, "source": "s"})
    endpoint = account_url(parse_azure_location(pending["storage_location"]))
    monkeypatch.setitem(vending_azure._hierarchical, endpoint, True)
    for operation, permissions in (
        ("READ_WRITE_MODEL_VERSION", "racwl"),
        ("READ_MODEL_VERSION", "rl"),
    ):
        status, answer = _ask(s, 1, operation)
        assert status == 200, answer
        fields = parse_qs(answer["azure_user_delegation_sas"]["sas_token"])
        # registry/models/main.ml.m/1: four levels below the container, nothing above
        assert (fields["sr"], fields["sdd"], fields["sp"]) == (["d"], ["4"], [permissions])
        assert answer["url"] == pending["storage_location"]


def test_no_account_key_is_unimplemented_naming_what_to_set(azure_served, monkeypatch):
    monkeypatch.setenv("FEDERATE_SERVER_AZURE_SAS_SCOPE", "container")
    s = azure_served
    assert s.call("POST", "models/versions", {**MODEL, "source": "s"})[0] == 200
    # the server's environment now names the endpoint but holds no key
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", "BlobEndpoint=http://127.0.0.1:1/x;")
    status, error = _ask(s, 1)
    assert (status, error["error_code"]) == (501, "UNIMPLEMENTED")
    assert "AZURE_STORAGE_CONNECTION_STRING" in error["message"]
    assert "AccountKey" in error["message"] and DEV_ACCOUNT in error["message"]
