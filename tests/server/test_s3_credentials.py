"""federate serve with an s3:// artifact root (moto): STS session credentials narrowed to
one version's prefix, and federate.register / download through uc: with them.

moto (5.2) does not enforce session policies by itself: the tests that use the vended
credentials do it inside federate.testing.sts_session_policies.enforcing_session_policies,
under which moto refuses what the session policy does not allow, as AWS does."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

import federate
from federate.errors import PERMISSION_DENIED, FederateError
from federate.testing.s3 import add_role
from federate.testing.server import running_server, sqlite_registry
from federate.testing.sts_session_policies import enforcing_session_policies

pytest.importorskip("uvicorn")
pytest.importorskip("boto3")


@pytest.fixture
def s3_served(s3_env, s3_bucket, federate_home, tmp_path, monkeypatch):
    """federate serve on s3://<bucket>/registry, vending sessions of a role that may do
    anything in S3: only the session policy narrows them."""
    role = add_role(s3_env.client("iam"), f"federate-s3-all-{uuid.uuid4().hex[:8]}", ["s3:*"])
    monkeypatch.setenv("FEDERATE_SERVER_S3_ROLE_ARN", role)
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


def _versions(s, count: int) -> list[dict]:
    """``count`` new versions of main.ml.m, PENDING_REGISTRATION."""
    s.call("POST", "models", {"name": "m", "catalog_name": "main", "schema_name": "ml"})
    new = {"model_name": "m", "catalog_name": "main", "schema_name": "ml", "source": "s"}
    return [s.call("POST", "models/versions", new)[1] for _ in range(count)]


def _vended_client(s, s3_env, version: int, operation: str):
    """A boto3 S3 client on moto signed with what the server vends for ``version``."""
    ask = {"catalog_name": "main", "schema_name": "ml", "model_name": "m", "version": version}
    status, creds = s.call("POST", "temporary-model-version-credentials", {**ask, **operation})
    assert status == 200, creds
    keys = creds["aws_temp_credentials"]
    return s3_env.client(
        aws_access_key_id=keys["access_key_id"],
        aws_secret_access_key=keys["secret_access_key"],
        aws_session_token=keys["session_token"],
    )


def _where(version: dict, name: str) -> dict:
    bucket, prefix = version["storage_location"].split("://", 1)[1].split("/", 1)
    return {"Bucket": bucket, "Key": f"{prefix}/{name}"}


def _refused(call) -> tuple[str, int]:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as caught:
        call()
    answer = caught.value.response
    return answer["Error"]["Code"], answer["ResponseMetadata"]["HTTPStatusCode"]


def _two_ready_versions(s, s3_env) -> tuple[dict, dict]:
    """Versions 1 and 2, READY, each with an MLmodel saying which it is."""
    one, two = _versions(s, 2)
    admin = s3_env.client()
    admin.put_object(**_where(one, "MLmodel"), Body=b"version one")
    admin.put_object(**_where(two, "MLmodel"), Body=b"version two")
    for version in (1, 2):
        s.call("PATCH", f"models/main.ml.m/versions/{version}/finalize", {})
    return one, two


def test_read_credentials_of_version_1_read_its_prefix_only(s3_served, s3_env):
    s = s3_served
    one, two = _two_ready_versions(s, s3_env)
    reader = _vended_client(s, s3_env, 1, {"operation": "READ_MODEL_VERSION"})
    with enforcing_session_policies():
        assert reader.get_object(**_where(one, "MLmodel"))["Body"].read() == b"version one"
        assert _refused(lambda: reader.get_object(**_where(two, "MLmodel"))) == (
            "AccessDenied",
            403,
        )
        put = lambda: reader.put_object(**_where(one, "extra"), Body=b"x")  # noqa: E731
        assert _refused(put) == ("AccessDenied", 403)
    assert s3_env.client().get_object(**_where(two, "MLmodel"))["Body"].read() == b"version two"


def test_read_write_credentials_of_a_pending_version_write_its_prefix_only(s3_served, s3_env):
    s = s3_served
    one, two = _versions(s, 2)
    writer = _vended_client(s, s3_env, 1, {"operation": "READ_WRITE_MODEL_VERSION"})
    with enforcing_session_policies():
        writer.put_object(**_where(one, "data/w.bin"), Body=b"written")
        put = lambda: writer.put_object(**_where(two, "data/w.bin"), Body=b"x")  # noqa: E731
        assert _refused(put) == ("AccessDenied", 403)
    admin = s3_env.client()
    assert admin.get_object(**_where(one, "data/w.bin"))["Body"].read() == b"written"
    assert _refused(lambda: admin.head_object(**_where(two, "data/w.bin")))[1] == 404


def test_a_repository_on_version_2_with_version_1_credentials_is_permission_denied(
    s3_served, s3_env
):
    """What the uc: registry hands the S3 repository for version 1 opens version 1's files
    and is refused version 2's: PERMISSION_DENIED, its message free of the secrets."""
    from federate.plugins.manager import get_plugin_host

    s = s3_served
    one, two = _two_ready_versions(s, s3_env)
    registry = federate.get_registry(s.uc_uri)
    first = registry.get_model_version("main.ml.m", 1)
    credentials = registry.read_credentials(first)
    assert credentials is not None and credentials.kind == "aws_session"
    host = get_plugin_host()
    with enforcing_session_policies():
        mine = host.open_repo(one["storage_location"], credentials)
        assert mine.read_range("MLmodel", 0, 7) == b"version"
        other = host.open_repo(two["storage_location"], credentials)
        with pytest.raises(FederateError) as refused:
            other.read_range("MLmodel", 0, 7)
    assert refused.value.error_code == PERMISSION_DENIED
    message = str(refused.value)
    assert "MLmodel" in message
    for secret in (credentials.values["secret_access_key"], credentials.values["session_token"]):
        assert secret not in message
