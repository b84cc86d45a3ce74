"""A long upload through ``uc:`` keeps its READ_WRITE credentials alive: the repository
writing a pending version asks federate serve for fresh ones before they expire, and
once when the store refuses them mid-upload (moto checking every signature, as AWS does).

The upload runs through the registry contract federate.register uses (upload_location,
write_credentials, a repository renewing through it), with moto's checks on only for
the upload: they fail requests with a '/' in a query parameter (federate/testing/s3.py),
which the server's own listing of a new version's location sends.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

import federate
from federate.credentials import ScopedCredentials
from federate.testing.s3 import add_role
from federate.testing.server import running_server, sqlite_registry

pytest.importorskip("uvicorn")
pytest.importorskip("boto3")

#: three parts of a multipart upload (federate's S3 threshold is 16 MiB)
SIZE = 20 * 1024 * 1024 + 5


@pytest.fixture
def writer_served(s3_env, s3_bucket, federate_home, tmp_path, monkeypatch):
    """federate serve on an s3:// root, vending sessions of a role that may write; yields
    (server, role ARN)."""
    role = add_role(s3_env.client("iam"), f"federate-writer-{uuid.uuid4().hex[:8]}", ["s3:*"])
    monkeypatch.setenv("FEDERATE_SERVER_S3_ROLE_ARN", role)
    monkeypatch.setenv("FEDERATE_STS_ENDPOINT_URL", s3_env.endpoint)
    with running_server(sqlite_registry(tmp_path / "w.db", f"s3://{s3_bucket}/r")) as s:
        s.seed(pending_versions=1)
        yield s, role


def _sessions(role: str) -> list[str]:
    """Access key ids of the sessions STS (moto, in this process) vended for ``role``."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sts.models import sts_backends

    roles = sts_backends[DEFAULT_ACCOUNT_ID]["aws"].assumed_roles
    return [r.access_key_id for r in roles if r.role_arn == role]


def _upload(served, src: Path, before_upload=None):
    """Write ``src`` as the pending version 1 the way federate.register does; returns the
    registry it went through."""
    from federate.plugins.manager import get_plugin_host

    registry = federate.get_registry(served.uc_uri)
    pending = registry.get_model_version("main.ml.m", 1)
    location = registry.upload_location(pending)
    credentials = registry.write_credentials(pending)
    assert credentials is not None and credentials.kind == "aws_session"
    if before_upload is not None:
        before_upload(credentials)
    repo = get_plugin_host().open_repo(
        location, credentials, lambda: registry.write_credentials(pending)
    )
    repo.upload_file(str(src), "data/w.bin")
    return registry


def _download(served, tmp_path: Path) -> bytes:
    out = federate.download("models:/main.ml.m/1", tmp_path / "out", registry_uri=served.uc_uri)
    return (Path(out) / "data" / "w.bin").read_bytes()


def test_write_credentials_are_renewed_before_they_expire(
    writer_served, s3_env, tmp_path, monkeypatch
):
    s, role = writer_served
    src = tmp_path / "w.bin"
    src.write_bytes(os.urandom(SIZE))
    # every credential is "about to expire": each request of the upload renews first
    monkeypatch.setenv("FEDERATE_CREDENTIAL_REFRESH_MARGIN", "1000000")
    with s3_env.enforcing_auth():
        registry = _upload(s, src)
    # the first READ_WRITE session, then renewals before the multipart create, before the
    # parts (concurrent parts share one) and before the complete
    assert len(_sessions(role)) >= 4
    registry.finish_model_version("main.ml.m", 1, "")
    monkeypatch.delenv("FEDERATE_CREDENTIAL_REFRESH_MARGIN")
    assert _download(s, tmp_path) == src.read_bytes()


def test_write_credentials_refused_mid_upload_are_renewed_once(
    writer_served, s3_env, tmp_path, monkeypatch
):
    s, role = writer_served
    src = tmp_path / "w.bin"
    src.write_bytes(os.urandom(SIZE))
    monkeypatch.setenv("FEDERATE_CREDENTIAL_REFRESH_MARGIN", "-1000000")  # refusals only

    revoked: list[str] = []

    def revoke(credentials: ScopedCredentials) -> None:
        s3_env.revoke(credentials)  # the store forgets the session, as AWS once it expires
        revoked.append(credentials.values["access_key_id"])

    with s3_env.enforcing_auth():
        registry = _upload(s, src, before_upload=revoke)
    renewed = _sessions(role)  # the revoked one is gone from STS: exactly one renewal
    assert len(renewed) == 1 and renewed != revoked
    registry.finish_model_version("main.ml.m", 1, "")
    assert _download(s, tmp_path) == src.read_bytes()


def test_a_write_refused_twice_fails_naming_the_store_and_leaves_the_version_pending(
    writer_served, s3_env, tmp_path, monkeypatch
):
    """Renewed credentials refused again: one clear error, no endless renewing."""
    s, role = writer_served
    src = tmp_path / "w.bin"
    src.write_bytes(b"x" * 1000)
    monkeypatch.setenv("FEDERATE_CREDENTIAL_REFRESH_MARGIN", "-1000000")
    # a role that may not write: every session the server vends is refused on PUT
    reader = add_role(s3_env.client("iam"), f"federate-ro-{uuid.uuid4().hex[:8]}", ["s3:Get*"])
    monkeypatch.setenv("FEDERATE_SERVER_S3_ROLE_ARN", reader)
    with s3_env.enforcing_auth(), pytest.raises(federate.FederateError) as failed:
        _upload(s, src)
    assert failed.value.error_code == "PERMISSION_DENIED"
    assert "s3://" in failed.value.message
    assert len(_sessions(reader)) <= 2
    _, mv = s.call("GET", "models/main.ml.m/versions/1")
    assert mv["status"] == "PENDING_REGISTRATION"
