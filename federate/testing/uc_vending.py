"""How the fake workspace vends storage credentials (:mod:`federate.testing.uc_workspace`).

Session credentials of moto's STS for ``s3://`` versions (a read-only role, or a
read-write one while a version is ``PENDING_REGISTRATION``), also as R2's for ``r2://``
versions; SAS tokens signed with Azurite's key for ``abfss://``; access tokens the GCS
proxy accepts for ``gs://``; ``storage_mode: DEFAULT_STORAGE`` for versions kept in
default storage. Each lives ``credential_ttl_s``: then the store refuses it, as it does at
once after :meth:`CredentialVending.expire_credentials`.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from federate.credentials import ScopedCredentials
from federate.testing.azure import DEV_ACCOUNT, DEV_KEY
from federate.testing.s3 import ACCOUNT_ID, REGION, add_role
from federate.testing.uc_records import PENDING, READY, Refusal

if TYPE_CHECKING:
    from federate.testing.azure import Azurite
    from federate.testing.faults import FaultProxy
    from federate.testing.s3 import MotoS3
    from federate.testing.uc_records import FakeVersion


class CredentialVending:
    """The vending half of :class:`~federate.testing.uc_workspace.UcWorkspace`."""

    moto: MotoS3 | None
    azurite: Azurite | None
    gcs_proxy: FaultProxy | None
    credential_ttl_s: float
    vend_as: dict[str, Any] | None
    grant_writes: bool
    vended: list[ScopedCredentials]
    _writer_role_arn: str | None
    _in_default_storage: set[tuple[str, int]]
    _timers: list[threading.Timer]
    _lock: threading.RLock

    if TYPE_CHECKING:

        def _version(self, params: dict[str, Any]) -> FakeVersion: ...

    def expire_credentials(self) -> None:
        """Every credential vended so far stops working now, as at its expiration time."""
        with self._lock:
            vended = list(self.vended)
        for creds in vended:
            self._revoke(creds)

    def _revoke(self, creds: ScopedCredentials) -> None:
        if creds.kind == "gcp_oauth":
            if self.gcs_proxy is not None:
                with self._lock:
                    accepted = self.gcs_proxy.accepted_tokens or set()
                    self.gcs_proxy.accepted_tokens = accepted - {creds.values["oauth_token"]}
        elif creds.kind == "aws_session" and self.moto is not None:
            self.moto.revoke(creds)

    def _writer_role(self) -> str:
        """A role of moto's IAM that may read, write and delete objects (made once)."""
        assert self.moto is not None
        with self._lock:
            return self._writer_role_arn or self._make_writer_role()

    def _make_writer_role(self) -> str:
        assert self.moto is not None
        arn = add_role(self.moto.client("iam"), f"uc-writer-{uuid.uuid4().hex[:8]}", ["s3:*"])
        self._writer_role_arn = arn
        return arn

    def _mint(self, storage_location: str, writes: bool = False) -> ScopedCredentials:
        """Session credentials of moto's read-only role (a read-write one for ``writes``),
        made inside moto's STS (as a workspace does server-side): no STS answer passes
        through this process's logs. The session policy narrows them to the version's
        bucket as a workspace would; moto (5.2) does not enforce session policies, so only
        the role's limits apply."""
        from moto.sts.models import sts_backends

        assert self.moto is not None
        parts = urlsplit(storage_location)
        bucket = parts.username if parts.scheme == "r2" else parts.netloc
        actions = ["s3:GetObject", "s3:ListBucket", "s3:ListObjectsV2"]
        if writes:
            actions += ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
        role = sts_backends[ACCOUNT_ID]["aws"].assume_role(
            region_name=REGION,
            role_session_name=f"uc-{uuid.uuid4().hex[:8]}",
            role_arn=self._writer_role() if writes else self.moto.reader_role_arn,
            policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": actions,
                            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                        }
                    ],
                }
            ),
            duration=3600,
            external_id="",
        )
        return ScopedCredentials(
            "aws_session",
            {
                "access_key_id": role.access_key_id,
                "secret_access_key": role.secret_access_key,
                "session_token": role.session_token,
            },
        )

    def _credentials(self, params: dict[str, Any]) -> dict[str, Any]:
        version = self._version(params)
        operation = params.get("operation")
        if operation == "MODEL_VERSION_OPERATION_READ":
            if version.status != READY:
                raise Refusal(400, f"Model version {version.version} is {version.status}")
        elif operation == "MODEL_VERSION_OPERATION_READ_WRITE":
            if version.status != PENDING:
                raise Refusal(
                    400,
                    f"Model version {version.version} has been finalized: its files can no "
                    "longer be written",
                )
        else:
            raise Refusal(400, f"Unsupported operation {operation!r}")
        if self.vend_as is not None:
            return {"credentials": dict(self.vend_as)}
        if (version.name, version.version) in self._in_default_storage:
            # no cloud credentials: the client reads through the Files API
            expires_ms = int((time.time() + self.credential_ttl_s) * 1000)
            return {
                "credentials": {"storage_mode": "DEFAULT_STORAGE", "expiration_time": expires_ms}
            }
        writes = operation == "MODEL_VERSION_OPERATION_READ_WRITE" and self.grant_writes
        if version.storage_location.startswith("abfss://") and self.azurite is not None:
            return self._azure_sas(version.storage_location, writes)
        if version.storage_location.startswith("gs://") and self.gcs_proxy is not None:
            return self._gcp_token()
        if version.storage_location.startswith("r2://") and self.moto is not None:
            return self._aws_session(version.storage_location, writes, "r2_temp_credentials")
        if not version.storage_location.startswith("s3://") or self.moto is None:
            raise Refusal(400, "This fake vends credentials for s3:// and abfss:// storage")
        return self._aws_session(version.storage_location, writes, "aws_temp_credentials")

    def _aws_session(self, location: str, writes: bool, kind: str) -> dict[str, Any]:
        """Session credentials of moto's STS for the location's bucket, vended as ``kind``
        (``aws_temp_credentials``, or ``r2_temp_credentials`` for ``r2://`` locations,
        whose bucket moto holds too: point ``FEDERATE_R2_ENDPOINT_URL`` at moto)."""
        creds = self._mint(location, writes)
        expires = time.time() + self.credential_ttl_s
        with self._lock:
            self.vended.append(creds)
            timer = threading.Timer(self.credential_ttl_s, self._revoke, (creds,))
            timer.daemon = True
            self._timers.append(timer)
        timer.start()
        return {
            "credentials": {
                kind: dict(creds.values),
                "expiration_time": int(expires * 1000),
                "storage_mode": "CUSTOMER_HOSTED",
            }
        }

    def _azure_sas(self, storage_location: str, writes: bool) -> dict[str, Any]:
        """A SAS for the version's container, signed with Azurite's account key, that
        Azurite refuses after ``credential_ttl_s`` (its expiry, to the second)."""
        from azure.storage.blob import ContainerSasPermissions, generate_container_sas

        container = urlsplit(storage_location).username or ""
        now = datetime.now(timezone.utc)
        expiry = now + timedelta(seconds=self.credential_ttl_s)
        sas = generate_container_sas(
            DEV_ACCOUNT,
            container,
            account_key=DEV_KEY,
            permission=ContainerSasPermissions(
                read=True, list=True, write=writes, create=writes, delete=writes
            ),
            start=now - timedelta(minutes=5),
            expiry=expiry,
        )
        with self._lock:
            self.vended.append(ScopedCredentials("azure_user_delegation_sas", {"sas_token": sas}))
        return {
            "credentials": {
                "azure_user_delegation_sas": {"sas_token": sas},
                "expiration_time": int(expiry.timestamp() * 1000),
                "storage_mode": "CUSTOMER_HOSTED",
            }
        }

    def _gcp_token(self) -> dict[str, Any]:
        """A fresh access token, accepted by ``gcs_proxy`` until it expires
        (``credential_ttl_s``) or :meth:`expire_credentials`."""
        assert self.gcs_proxy is not None
        token = "ya29.fake-" + secrets.token_hex(16)
        creds = ScopedCredentials("gcp_oauth", {"oauth_token": token})
        proxy = self.gcs_proxy
        with self._lock:
            self.vended.append(creds)
            proxy.accepted_tokens = (proxy.accepted_tokens or set()) | {token}
            timer = threading.Timer(self.credential_ttl_s, self._revoke, (creds,))
            timer.daemon = True
            self._timers.append(timer)
        timer.start()
        expires_ms = int((time.time() + self.credential_ttl_s) * 1000)
        return {
            "credentials": {
                "gcp_oauth_token": {"oauth_token": token},
                "expiration_time": expires_ms,
                "storage_mode": "CUSTOMER_HOSTED",
            }
        }
