"""Credentials the server vends for one version's files.

``s3://`` locations: STS session credentials of ``FEDERATE_SERVER_S3_ROLE_ARN``, narrowed
by a session policy to that version's prefix (READ: get and list; READ_WRITE, only while
the version is PENDING_REGISTRATION: also put, delete and multipart uploads), lasting
``FEDERATE_SERVER_CREDENTIAL_SECONDS`` (3600; STS allows 900 to 43200). The STS endpoint
is boto3's (``AWS_ENDPOINT_URL_STS``...) unless ``FEDERATE_STS_ENDPOINT_URL`` names one.
Azure locations: a SAS on the version's path (:mod:`federate.server.vending_azure`).
``file:`` locations get no credentials. Anything else (``gs://`` among them: downscoping a
Google token needs Google's STS, which no emulator offers to test against) is
UNIMPLEMENTED, naming the scheme.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any
from urllib.parse import urlsplit

from federate.server.errors import ApiError

ROLE_ENV = "FEDERATE_SERVER_S3_ROLE_ARN"
SECONDS_ENV = "FEDERATE_SERVER_CREDENTIAL_SECONDS"
STS_ENDPOINT_ENV = "FEDERATE_STS_ENDPOINT_URL"
DEFAULT_SECONDS = 3600
READ_ACTIONS = ("s3:GetObject",)
WRITE_ACTIONS = (
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
)


def s3_session_policy(location: str, writable: bool) -> dict[str, Any]:
    """The session policy that lets its holder reach ``location``'s prefix and nothing else."""
    parts = urlsplit(location)
    bucket, prefix = parts.netloc, parts.path.strip("/")
    actions = list(READ_ACTIONS) + (list(WRITE_ACTIONS) if writable else [])
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": actions,
                "Resource": [f"arn:aws:s3:::{bucket}/{prefix}/*"],
            },
            {
                # AWS authorizes ListObjectsV2 as s3:ListBucket; moto checks its own name
                "Effect": "Allow",
                "Action": ["s3:ListBucket", "s3:ListObjectsV2"],
                "Resource": [f"arn:aws:s3:::{bucket}"],
                "Condition": {"StringLike": {"s3:prefix": [prefix, f"{prefix}/*"]}},
            },
        ],
    }


def _seconds() -> int:
    from federate.envvars import env_int

    seconds = env_int(SECONDS_ENV, DEFAULT_SECONDS, 900, "seconds, at most 43200")
    return min(int(seconds), 43200)


def _s3(location: str, writable: bool) -> dict[str, Any]:
    role = os.environ.get(ROLE_ENV, "").strip()
    if not role:
        raise ApiError(
            501,
            "UNIMPLEMENTED",
            f"This server cannot vend credentials for s3:// locations: {ROLE_ENV} is not set "
            "(the IAM role whose session credentials, narrowed to one version, it hands out)",
        )
    try:
        import boto3.session
    except ImportError:
        raise ApiError(
            501, "UNIMPLEMENTED", "Vending S3 credentials needs boto3: pip install 'federate[s3]'"
        ) from None
    from federate.server.errors import from_unexpected

    endpoint = os.environ.get(STS_ENDPOINT_ENV, "").strip() or None
    try:
        sts = boto3.session.Session().client("sts", endpoint_url=endpoint)
        answer = sts.assume_role(
            RoleArn=role,
            RoleSessionName=f"federate-serve-{uuid.uuid4().hex[:12]}",
            Policy=json.dumps(s3_session_policy(location, writable)),
            DurationSeconds=_seconds(),
        )["Credentials"]
    except Exception as err:  # botocore's errors: the message names the role, never keys
        from botocore.exceptions import BotoCoreError, ClientError

        if isinstance(err, (ClientError, BotoCoreError)):
            raise ApiError(
                503, "UNAVAILABLE", f"STS refused to vend credentials for {role}: {err}"
            ) from None
        raise from_unexpected(err) from None
    return {
        "aws_temp_credentials": {
            "access_key_id": answer["AccessKeyId"],
            "secret_access_key": answer["SecretAccessKey"],
            "session_token": answer["SessionToken"],
        },
        "expiration_time": int(answer["Expiration"].timestamp() * 1000),
        "url": location,
    }


def vend(location: str, writable: bool) -> dict[str, Any]:
    """The ``TemporaryCredentials`` answer for ``location``."""
    if location.startswith("file:"):
        return {"url": location}
    scheme = location.split(":", 1)[0].lower() if ":" in location else ""
    if scheme == "s3":
        return _s3(location, writable)
    if _is_azure(location, scheme):
        from federate.server.vending_azure import azure_sas

        return azure_sas(location, writable, _seconds())
    raise ApiError(
        501,
        "UNIMPLEMENTED",
        f"federate serve cannot vend scoped credentials for {scheme or 'plain path'}: "
        "locations yet (file:, s3: and Azure only)",
    )


def _is_azure(location: str, scheme: str) -> bool:
    from federate.repos.azure_location import CONTAINER_AT_ACCOUNT_SCHEMES, HTTPS_HOSTS

    if scheme in CONTAINER_AT_ACCOUNT_SCHEMES:
        return True
    host = urlsplit(location).hostname or ""
    return scheme == "https" and any(host.endswith("." + h) for h in HTTPS_HOSTS)
