"""S3 fixtures: moto's S3/IAM/STS server over real HTTP, a fresh bucket, a registry in S3.

``moto_s3_server`` (session) runs moto's ``ThreadedMotoServer`` on 127.0.0.1 and a free
port, with an IAM admin user (whose keys federate finds through the default credential
chain) and a read-only role whose assumed sessions are the registry-vended scoped
credentials. ``store_s3`` is a fresh bucket. Inside ``MotoS3.enforcing_auth()`` the
server checks signatures and permissions as AWS does, so wrong or revoked credentials are
refused by the server itself, not by a mock. moto ignores STS session policies:
:mod:`federate.testing.sts_session_policies` enforces them.

moto's signature check reads the query string back through werkzeug, which decodes
``%2F``: requests with a '/' in a query parameter (listing ``prefix=a/`` or
``delimiter=/``) fail it although they are signed correctly. So the checks are on only
where a test asks for them, and ``store_s3`` is rooted at the bucket itself, whose
recursive listing needs no such parameter.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from federate.credentials import ScopedCredentials
from federate.testing.stores import ScopedAccess, StoreUnderTest, server_unavailable

ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"
READER_ROLE = "federate-test-reader"
START_TIMEOUT_S = 20.0

#: AWS variables that would point federate (or boto3) somewhere else than the test server.
_AWS_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "MLFLOW_S3_ENDPOINT_URL",
    "FEDERATE_S3_ENDPOINT_URL",
    "FEDERATE_S3_ADDRESSING_STYLE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
)


@dataclass
class MotoS3:
    """A running moto server: its endpoint and the admin keys valid on it."""

    endpoint: str
    access_key_id: str
    secret_access_key: str
    reader_role_arn: str
    #: the ThreadedMotoServer, for :func:`stop_moto_s3`
    server: Any = field(default=None, repr=False, compare=False)

    def client(self, service: str = "s3", **keys: Any) -> Any:
        import boto3.session

        keys = keys or {
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
        }
        return boto3.session.Session().client(
            service, endpoint_url=self.endpoint, region_name=REGION, **keys
        )

    def env(self) -> dict[str, str]:
        """What a federate process needs to reach this server as the admin user."""
        return {
            "FEDERATE_S3_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_DEFAULT_REGION": REGION,
        }

    @contextlib.contextmanager
    def enforcing_auth(self) -> Iterator[None]:
        """Have the server check every request's signature and permissions, as AWS does."""
        from moto import settings

        before = settings.INITIAL_NO_AUTH_ACTION_COUNT
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
        try:
            yield
        finally:
            settings.INITIAL_NO_AUTH_ACTION_COUNT = before

    def mint(self, ttl_s: int = 900) -> ScopedCredentials:
        """Session credentials of the read-only role, as a registry would vend them."""
        sts = self.client("sts")
        answer = sts.assume_role(
            RoleArn=self.reader_role_arn,
            RoleSessionName=f"federate-{uuid.uuid4().hex[:8]}",
            DurationSeconds=ttl_s,
        )["Credentials"]
        return ScopedCredentials(
            "aws_session",
            {
                "access_key_id": answer["AccessKeyId"],
                "secret_access_key": answer["SecretAccessKey"],
                "session_token": answer["SessionToken"],
            },
            expires_at=answer["Expiration"].timestamp(),
        )

    def revoke(self, credentials: ScopedCredentials) -> None:
        """Make the server forget a session, as AWS does once it expires.

        moto keeps sessions forever and has no API to end one, so this drops it from
        moto's STS state; requests signed with it are then answered InvalidAccessKeyId
        by the server itself.
        """
        from moto.sts.models import sts_backends

        backend = sts_backends[ACCOUNT_ID]["aws"]
        key = credentials.values["access_key_id"]
        backend.assumed_roles = [r for r in backend.assumed_roles if r.access_key_id != key]

    def wrong(self) -> ScopedCredentials:
        """A real session's key id and token with a wrong secret: SignatureDoesNotMatch."""
        good = self.mint()
        values = dict(good.values, secret_access_key="wR0ng" + uuid.uuid4().hex)
        return ScopedCredentials("aws_session", values, expires_at=good.expires_at)

    def scoped_access(self) -> ScopedAccess:
        return ScopedAccess(
            mint=self.mint, revoke=self.revoke, wrong=self.wrong, enforcing=self.enforcing_auth
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(endpoint: str, deadline: float) -> None:
    """Until the server answers. Any HTTP answer will do: moto's ``data.json`` serialises
    every model of the process's moto, and fails (500) on a key whose bucket an earlier
    test deleted while the key lived on; the server is up all the same."""
    while True:
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def add_role(iam: Any, name: str, actions: list[str]) -> str:
    """A role anyone may assume, allowed ``actions`` on every resource; its ARN."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
    }
    iam.put_role_policy(RoleName=name, PolicyName="allow", PolicyDocument=json.dumps(policy))
    return str(role["Role"]["Arn"])


def _setup_identities(server: MotoS3) -> MotoS3:
    """An admin user (keys for the default chain) and a read-only role to assume."""
    iam = server.client("iam", aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
    # moto keeps one state per process, shared by every server it runs: names of their own
    suffix = uuid.uuid4().hex[:8]
    admin, reader = f"federate-admin-{suffix}", f"{READER_ROLE}-{suffix}"
    iam.create_user(UserName=admin)
    iam.put_user_policy(
        UserName=admin,
        PolicyName="all",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )
    key = iam.create_access_key(UserName=admin)["AccessKey"]
    # AWS authorizes ListObjectsV2 as s3:ListBucket; newer moto 5.2 checks the
    # operation's own name: grant both, so the role reads the same on every moto release
    arn = add_role(iam, reader, ["s3:GetObject", "s3:ListBucket", "s3:ListObjectsV2"])
    server.access_key_id = key["AccessKeyId"]
    server.secret_access_key = key["SecretAccessKey"]
    server.reader_role_arn = arn
    return server


def start_moto_s3() -> MotoS3:
    """Start moto's S3 + IAM + STS server on 127.0.0.1:<free port>, in this process.

    The caller stops it with :func:`stop_moto_s3`. moto keeps its state (buckets, users)
    per process, so servers started in one process share it; each gets an admin user and
    a reader role of its own. Raises ImportError without
    ``moto[server]`` and TimeoutError (or what the set-up request raised) if it does
    not come up.
    """
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    # start() waits for the server thread without a timeout: bound it from outside
    starter = threading.Thread(target=server.start, daemon=True)
    starter.start()
    starter.join(START_TIMEOUT_S)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        if starter.is_alive():
            raise TimeoutError(f"moto server did not start within {START_TIMEOUT_S}s")
        _wait_ready(endpoint, time.monotonic() + START_TIMEOUT_S)
        return _setup_identities(MotoS3(endpoint, "", "", "", server))
    except BaseException:
        with contextlib.suppress(Exception):
            server.stop()
        raise


def stop_moto_s3(moto: MotoS3) -> None:
    if moto.server is not None:
        moto.server.stop()


@pytest.fixture(scope="session")
def moto_s3_server() -> Iterator[MotoS3]:
    """moto's S3 + IAM + STS server on 127.0.0.1:<free port>, stopped after the session."""
    try:
        from moto.server import ThreadedMotoServer  # noqa: F401
    except ImportError:
        server_unavailable("moto's server mode", "pip install 'moto[server]' (federate[dev])")
    try:
        moto = start_moto_s3()
    except Exception as err:
        server_unavailable("moto S3 server", f"it failed to start: {err}")
    try:
        yield moto
    finally:
        stop_moto_s3(moto)


@pytest.fixture
def s3_env(moto_s3_server: MotoS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MotoS3:
    """The test's environment points boto3 (and federate) at the moto server, as admin."""
    for name in _AWS_ENV:
        monkeypatch.delenv(name, raising=False)
    # never read the developer's own ~/.aws files during tests
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for name, value in moto_s3_server.env().items():
        monkeypatch.setenv(name, value)
    return moto_s3_server


@pytest.fixture
def s3_bucket(s3_env: MotoS3) -> str:
    """A fresh, empty bucket on the moto server."""
    bucket = f"federate-{uuid.uuid4().hex[:16]}"
    s3_env.client().create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture
def store_s3(s3_env: MotoS3, s3_bucket: str) -> StoreUnderTest:
    """A fresh moto bucket (the root is the bucket); ``put`` writes with boto3 directly."""
    client = s3_env.client()

    def put(path: str, data: bytes) -> None:
        client.put_object(Bucket=s3_bucket, Key=path, Body=data)

    return StoreUnderTest(
        "s3",
        f"s3://{s3_bucket}",
        put,
        env=s3_env.env(),
        scoped=s3_env.scoped_access(),
    )


@pytest.fixture
def s3_registry(federate_home: Path, store_s3: StoreUnderTest, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The embedded SQLite registry with its artifact root in S3: ``federate.register``
    stores into the moto bucket and ``federate.download`` reads back from it."""
    import federate

    monkeypatch.setenv("FEDERATE_ARTIFACT_ROOT", store_s3.root)
    return federate.get_registry()
