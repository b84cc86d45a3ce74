"""federate serve with an s3:// artifact root (moto): STS session credentials narrowed to
one version's prefix, and federate.register / download through uc: with them.

moto (5.2) does not enforce session policies, so a session for version 1 reading version
2's prefix is not refused here as AWS would refuse it: the tests check the policy the
server asked STS for instead."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import federate
from federate.testing.server import running_server, sqlite_registry

pytest.importorskip("uvicorn")
pytest.importorskip("boto3")


@pytest.fixture
def s3_served(s3_env, s3_bucket, federate_home, tmp_path, monkeypatch):
    monkeypatch.setenv("FEDERATE_SERVER_S3_ROLE_ARN", s3_env.reader_role_arn)
    monkeypatch.setenv("FEDERATE_STS_ENDPOINT_URL", s3_env.endpoint)
    root = f"s3://{s3_bucket}/registry"
    with running_server(sqlite_registry(tmp_path / "s3.db", root)) as served:
        served.call("POST", "catalogs", {"name": "main"})
        served.call("POST", "schemas", {"name": "ml", "catalog_name": "main"})
        yield served


def _policy_of(access_key_id: str) -> dict:
    # moto keeps the session in its STS state (it runs in this process)
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sts.models import sts_backends

    for role in sts_backends[DEFAULT_ACCOUNT_ID]["aws"].assumed_roles:
        if role.access_key_id == access_key_id:
            return json.loads(role.policy)
    raise AssertionError("no such session")


def test_register_and_download_through_vended_credentials(s3_served, tmp_path):
    src = tmp_path / "src"
    (src / "data").mkdir(parents=True)
    (src / "MLmodel").write_text("flavors: {}\n")
    (src / "data" / "w.bin").write_bytes(bytes(range(256)) * 2048)
    mv = federate.register(src, "main.ml.m", registry_uri=s3_served.uc_uri)
    assert mv.storage_location.startswith("s3://") and mv.status == "READY"
    out = Path(
        federate.download("models:/main.ml.m/1", tmp_path / "out", registry_uri=s3_served.uc_uri)
    )
    assert (out / "data" / "w.bin").read_bytes() == (src / "data" / "w.bin").read_bytes()
    assert (out / "MLmodel").read_text() == "flavors: {}\n"


def test_session_policy_covers_one_version_prefix(s3_served):
    s = s3_served
    s.call("POST", "models", {"name": "m", "catalog_name": "main", "schema_name": "ml"})
    new = {"model_name": "m", "catalog_name": "main", "schema_name": "ml", "source": "s"}
    one = s.call("POST", "models/versions", new)[1]
    two = s.call("POST", "models/versions", new)[1]
    ask = {"catalog_name": "main", "schema_name": "ml", "model_name": "m", "version": 1}
    status, creds = s.call(
        "POST",
        "temporary-model-version-credentials",
        {**ask, "operation": "READ_WRITE_MODEL_VERSION"},
    )
    assert status == 200 and creds["url"] == one["storage_location"]
    assert isinstance(creds["expiration_time"], int)
    policy = _policy_of(creds["aws_temp_credentials"]["access_key_id"])
    objects, listing = policy["Statement"]
    prefix = one["storage_location"].split("://", 1)[1]
    assert objects["Resource"] == [f"arn:aws:s3:::{prefix}/*"]
    assert "s3:PutObject" in objects["Action"]
    other = two["storage_location"].split("://", 1)[1]
    assert not any(r.startswith(f"arn:aws:s3:::{other}") for r in objects["Resource"])
    assert listing["Condition"]["StringLike"]["s3:prefix"] == [
        prefix.split("/", 1)[1],
        prefix.split("/", 1)[1] + "/*",
    ]
    s.call("PATCH", "models/main.ml.m/versions/1/finalize", {})
    status, creds = s.call(
        "POST", "temporary-model-version-credentials", {**ask, "operation": "READ_MODEL_VERSION"}
    )
    policy = _policy_of(creds["aws_temp_credentials"]["access_key_id"])
    assert policy["Statement"][0]["Action"] == ["s3:GetObject"]


def test_s3_without_a_role_is_unimplemented_naming_the_variable(s3_served, monkeypatch):
    monkeypatch.delenv("FEDERATE_SERVER_S3_ROLE_ARN")
    s = s3_served
    s.call("POST", "models", {"name": "m", "catalog_name": "main", "schema_name": "ml"})
    s.call(
        "POST",
        "models/versions",
        {"model_name": "m", "catalog_name": "main", "schema_name": "ml", "source": "s"},
    )
    status, error = s.call(
        "POST",
        "temporary-model-version-credentials",
        {
            "catalog_name": "main",
            "schema_name": "ml",
            "model_name": "m",
            "version": 1,
            "operation": "READ_MODEL_VERSION",
        },
    )
    assert (status, error["error_code"]) == (501, "UNIMPLEMENTED")
    assert "FEDERATE_SERVER_S3_ROLE_ARN" in error["message"]


def test_a_root_the_server_cannot_reach_leaves_no_pending_version(s3_env, tmp_path):
    """create version lists its fresh location first: a missing bucket fails the request
    (JSON, naming it) and no PENDING_REGISTRATION version is left behind."""
    root = "s3://no-such-bucket-federate/registry"
    with running_server(sqlite_registry(tmp_path / "gone.db", root)) as s:
        s.seed()
        new = {"model_name": "m", "catalog_name": "main", "schema_name": "ml", "source": "s"}
        status, error = s.call("POST", "models/versions", new)
        assert (status, error["error_code"]) == (404, "NOT_FOUND"), error
        assert "no-such-bucket-federate" in error["message"]
        assert s.call("GET", "models/main.ml.m/versions") == (200, {"model_versions": []})
