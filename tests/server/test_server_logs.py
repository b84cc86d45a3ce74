"""No secret in what federate serve logs: bearer tokens (accepted, read-only, refused) and
the credentials it vends (STS session keys, SAS signatures) stay out of the access log
and out of every log record at DEBUG, its own and those of the libraries it drives."""

from __future__ import annotations

import logging
import uuid
from urllib.parse import parse_qs

import pytest

from federate.testing.azure import DEV_ACCOUNT, DEV_KEY
from federate.testing.server import ServedRegistry, running_server, sqlite_registry

pytest.importorskip("uvicorn")

TOKEN = "write-" + uuid.uuid4().hex
READ_TOKEN = "read-" + uuid.uuid4().hex
WRONG_TOKEN = "wrong-" + uuid.uuid4().hex
TRACE = 5  # uvicorn's level below DEBUG
MODEL = {"catalog_name": "main", "schema_name": "ml", "model_name": "m"}


def _exercise(s: ServedRegistry) -> list[dict]:
    """Requests with each token (and a wrong one), a pending version and both kinds of
    credentials for it; the credentials answers."""
    s.seed(pending_versions=1)
    assert s.call("GET", "models/main.ml.m", token=READ_TOKEN)[0] == 200
    assert s.call("GET", "models/main.ml.m", token=WRONG_TOKEN)[0] == 401
    assert s.call("DELETE", "models/main.ml.m", token=READ_TOKEN)[0] == 403
    answers = []
    for operation, token in (
        ("READ_WRITE_MODEL_VERSION", TOKEN),
        ("READ_MODEL_VERSION", READ_TOKEN),
    ):
        body = {**MODEL, "version": 1, "operation": operation}
        status, answer = s.call("POST", "temporary-model-version-credentials", body, token=token)
        assert status == 200, answer
        answers.append(answer)
    return answers


def _assert_secret_free(caplog, secrets: list[str]) -> None:
    text = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    # the logs were on: the access log saw the requests, the SDKs logged at DEBUG
    assert '"POST /api/2.1/unity-catalog/temporary-model-version-credentials HTTP/1.1" 200' in text
    assert '"GET /api/2.1/unity-catalog/models/main.ml.m HTTP/1.1" 401' in text
    assert any(r.levelno == logging.DEBUG for r in caplog.records)
    for secret in secrets:
        leaks = [
            f"{r.name}: {r.getMessage()[:300]}" for r in caplog.records if secret in r.getMessage()
        ]
        assert secret and secret not in text, leaks


def test_tokens_and_sts_credentials_stay_out_of_the_logs(
    s3_env, s3_bucket, federate_home, tmp_path, monkeypatch, caplog
):
    pytest.importorskip("boto3")
    monkeypatch.setenv("FEDERATE_SERVER_S3_ROLE_ARN", s3_env.reader_role_arn)
    monkeypatch.setenv("FEDERATE_STS_ENDPOINT_URL", s3_env.endpoint)
    caplog.set_level(TRACE)
    registry = sqlite_registry(tmp_path / "logs.db", f"s3://{s3_bucket}/registry")
    # uvicorn's TRACE (below DEBUG) dumps every request's ASGI messages
    with running_server(registry, token=TOKEN, read_token=READ_TOKEN, log_level="trace") as s:
        answers = _exercise(s)
    assert any(r.levelno == TRACE and r.name == "uvicorn.asgi" for r in caplog.records)
    vended = [a["aws_temp_credentials"] for a in answers]
    secrets = [TOKEN, READ_TOKEN, WRONG_TOKEN, s3_env.secret_access_key]
    secrets += [c[f] for c in vended for f in ("secret_access_key", "session_token")]
    _assert_secret_free(caplog, secrets)


def test_tokens_and_sas_signatures_stay_out_of_the_logs(
    azurite_blob, azure_container, federate_home, tmp_path, monkeypatch, caplog
):
    pytest.importorskip("azure.storage.blob")
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite_blob.connection_string())
    monkeypatch.setenv("FEDERATE_SERVER_AZURE_SAS_SCOPE", "container")
    caplog.set_level(logging.DEBUG)
    root = f"wasbs://{azure_container}@{DEV_ACCOUNT}.blob.core.windows.net/registry"
    with running_server(
        sqlite_registry(tmp_path / "logs.db", root),
        token=TOKEN,
        read_token=READ_TOKEN,
        log_level="debug",
    ) as s:
        answers = _exercise(s)
    signatures = [parse_qs(a["azure_user_delegation_sas"]["sas_token"])["sig"][0] for a in answers]
    _assert_secret_free(caplog, [TOKEN, READ_TOKEN, WRONG_TOKEN, DEV_KEY, *signatures])
