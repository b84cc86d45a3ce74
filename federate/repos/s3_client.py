"""How federate talks to S3: which endpoint, region and credentials, and what a refusal means.

Kept apart from the repository so the rules a user configures (``FEDERATE_S3_*`` and the
usual ``AWS_*`` variables) and the translation of S3's answers into FederateErrors can be
read in one place. boto3 is imported only inside these functions.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from federate.credentials import ScopedCredentials
from federate.envvars import env_int
from federate.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    PERMISSION_DENIED,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
    FederateError,
    missing_package,
)

if TYPE_CHECKING:
    from botocore.client import BaseClient

#: The ScopedCredentials kind this store accepts from registries.
AWS_SESSION = "aws_session"

#: Parallel ranged GETs per large file, and the connection pool that serves them together
#: with the transfer engine's file-level workers.
PART_CONCURRENCY = 8
MAX_POOL_CONNECTIONS = 64

ADDRESSING_STYLES = ("auto", "path", "virtual")

# S3 error codes, grouped by what the caller can do about them.
MISSING_CODES = frozenset({"NoSuchKey", "NotFound", "404", "NoSuchUpload"})
DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "403",
        "Forbidden",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "ExpiredToken",
        "TokenRefreshRequired",
        "AllAccessDisabled",
        "AccountProblem",
    }
)
#: Refusals that mean "these credentials are no longer good", worth one renewal.
EXPIRED_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "TokenRefreshRequired",
        "InvalidAccessKeyId",
        "InvalidToken",
        "RequestExpired",
    }
)
BUSY_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "InternalError",
        "ServiceUnavailable",
        "503",
        "500",
    }
)


def endpoint_url() -> str | None:
    """``FEDERATE_S3_ENDPOINT_URL`` > ``AWS_ENDPOINT_URL_S3`` > ``AWS_ENDPOINT_URL`` >
    ``MLFLOW_S3_ENDPOINT_URL`` (as MLflow users already set it); None means AWS itself."""
    for name in (
        "FEDERATE_S3_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL",
        "MLFLOW_S3_ENDPOINT_URL",
    ):
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def region() -> str | None:
    return (
        os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ""
    ).strip() or None


def addressing_style(endpoint: str | None) -> str:
    """``FEDERATE_S3_ADDRESSING_STYLE``; S3-compatible servers (a custom endpoint) default
    to path style, which every one of them serves, AWS itself to botocore's choice."""
    raw = os.environ.get("FEDERATE_S3_ADDRESSING_STYLE", "").strip().lower()
    if not raw:
        return "path" if endpoint else "auto"
    if raw not in ADDRESSING_STYLES:
        raise FederateError(
            f"FEDERATE_S3_ADDRESSING_STYLE={raw!r} is not an addressing style; "
            f"use one of {', '.join(ADDRESSING_STYLES)}",
            INVALID_PARAMETER_VALUE,
        )
    return raw


def max_attempts() -> int:
    """Attempts per request for throttling, 5xx and connection errors (``AWS_MAX_ATTEMPTS``)."""
    return env_int("AWS_MAX_ATTEMPTS", 5, 1, "attempts per S3 request")


def check_scoped(credentials: ScopedCredentials) -> None:
    """Refuse credentials of another store's kind, or missing fields, before any request."""
    if credentials.kind != AWS_SESSION:
        raise FederateError(
            f"The S3 repository accepts scoped credentials of kind {AWS_SESSION!r}, "
            f"not {credentials.kind!r}",
            INVALID_PARAMETER_VALUE,
        )
    missing = [f for f in ("access_key_id", "secret_access_key") if not credentials.values.get(f)]
    if missing:
        raise FederateError(
            f"Scoped {AWS_SESSION} credentials lack {', '.join(missing)} "
            "(expected access_key_id, secret_access_key and optionally session_token)",
            INVALID_PARAMETER_VALUE,
        )


@dataclass(frozen=True)
class ClientSettings:
    endpoint_url: str | None
    region: str | None
    addressing_style: str

    @classmethod
    def from_env(cls) -> ClientSettings:
        endpoint = endpoint_url()
        return cls(endpoint, region(), addressing_style(endpoint))

    def where(self) -> str:
        return f" at endpoint {self.endpoint_url}" if self.endpoint_url else ""


#: Default-chain clients are reused for this long: building one costs ~50 ms of botocore
#: loading, paid again by every download otherwise (a long-running server downloads often).
CLIENT_REUSE_S = 300.0
#: What the default chain reads from the environment: a change means a new client.
_CHAIN_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)
_clients: dict[tuple[Any, ...], tuple[float, BaseClient]] = {}
_clients_lock = threading.Lock()


def client_for(settings: ClientSettings, credentials: ScopedCredentials | None) -> BaseClient:
    """:func:`make_client`, reusing a default-chain client made in the last
    ``CLIENT_REUSE_S`` seconds for the same settings and credential environment.
    Scoped credentials always get a client of their own."""
    if credentials is not None:
        return make_client(settings, credentials)
    key = (settings, max_attempts(), tuple(os.environ.get(name) for name in _CHAIN_ENV))
    now = time.monotonic()
    with _clients_lock:
        cached = _clients.get(key)
        if cached is not None and now - cached[0] < CLIENT_REUSE_S:
            return cached[1]
    client = make_client(settings, None)
    with _clients_lock:
        _clients[key] = (now, client)
    return client


def make_client(settings: ClientSettings, credentials: ScopedCredentials | None) -> BaseClient:
    """A thread-safe S3 client: scoped credentials when given (and nothing else), otherwise
    the default AWS credential chain."""
    try:
        import boto3.session
        from botocore.config import Config
    except ImportError:
        raise missing_package("s3:// locations", "boto3", "s3") from None
    config = Config(
        max_pool_connections=MAX_POOL_CONNECTIONS,
        retries={"mode": "standard", "max_attempts": max_attempts()},
        s3={"addressing_style": settings.addressing_style},
        connect_timeout=10,
        read_timeout=60,
    )
    keys: dict[str, Any] = {}
    if credentials is not None:
        keys = {
            "aws_access_key_id": credentials.values["access_key_id"],
            "aws_secret_access_key": credentials.values["secret_access_key"],
            "aws_session_token": credentials.values.get("session_token") or None,
        }
    # a session per client: boto3's default session is not safe to share across threads
    session = boto3.session.Session()
    return session.client(
        "s3",
        endpoint_url=settings.endpoint_url,
        region_name=settings.region,
        config=config,
        **keys,
    )


def describe_credentials(client: BaseClient | None, scoped: bool) -> str:
    """Which credentials a request used, in words, without any of their values."""
    if scoped:
        return "scoped credentials from the registry"
    method = None
    if client is not None:
        creds = getattr(client, "_request_signer", None)
        creds = getattr(creds, "_credentials", None)
        method = getattr(creds, "method", None)
    named = {
        "env": "static keys from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
        "shared-credentials-file": "the shared credentials file (AWS_PROFILE "
        f"{os.environ.get('AWS_PROFILE', 'default')!r})",
        "config-file": "the AWS config file (AWS_PROFILE "
        f"{os.environ.get('AWS_PROFILE', 'default')!r})",
        "iam-role": "the instance's IAM role",
        "container-role": "the container's IAM role",
        "assume-role": "an assumed role from the AWS config",
        "assume-role-with-web-identity": "web identity (AWS_WEB_IDENTITY_TOKEN_FILE)",
        "sso": "AWS SSO",
    }
    if method in named:
        return f"the default AWS credential chain ({named[method]})"
    return "the default AWS credential chain"


def error_code(err: BaseException) -> tuple[str, int | None]:
    """(S3 error code, HTTP status) of a botocore ClientError; ("", None) otherwise."""
    response = getattr(err, "response", None)
    if not isinstance(response, dict):
        return "", None
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code, status


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def map_error(
    err: BaseException,
    action: str,
    where: str,
    *,
    bucket: str,
    settings: ClientSettings,
    credentials_used: str,
    secrets: Iterable[str] = (),
) -> FederateError | None:
    """The FederateError for a boto3/botocore failure, or None if ``err`` is not one."""
    from botocore import exceptions as bx

    if isinstance(err, bx.ClientError):
        code, status = error_code(err)
        detail = _scrub(str(err.response.get("Error", {}).get("Message", "")), secrets)
        detail = f": {detail}" if detail else ""
        if code == "NoSuchBucket":
            return FederateError(
                f"S3 bucket {bucket!r} does not exist{settings.where()} (while trying to "
                f"{action} {where})",
                RESOURCE_DOES_NOT_EXIST,
            )
        if code in MISSING_CODES or status == 404:
            return FederateError(f"No such S3 object: {where}", RESOURCE_DOES_NOT_EXIST)
        if code in DENIED_CODES or status in (401, 403):
            return FederateError(
                f"S3 refused to {action} {where} ({code or status}{detail}) using "
                f"{credentials_used}{settings.where()}. Check that these credentials are "
                "valid, not expired, and allowed to access this bucket.",
                PERMISSION_DENIED,
            )
        if code in BUSY_CODES or (status is not None and status >= 500):
            return FederateError(
                f"S3 is unavailable: could not {action} {where} ({code or status}{detail}); "
                "try again later",
                TEMPORARILY_UNAVAILABLE,
            )
        return FederateError(
            f"S3 could not {action} {where} ({code or status}{detail})", INTERNAL_ERROR
        )
    if isinstance(err, bx.NoCredentialsError | bx.PartialCredentialsError):
        return FederateError(
            f"No AWS credentials to {action} {where}: set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run where an IAM role is available",
            PERMISSION_DENIED,
        )
    if isinstance(err, bx.FlexibleChecksumError):
        return FederateError(
            f"{where} arrived corrupted: {_scrub(str(err), secrets)}", INTERNAL_ERROR
        )
    if isinstance(err, bx.ParamValidationError):
        return FederateError(
            f"Invalid S3 request to {action} {where}: {_scrub(str(err), secrets)}",
            INVALID_PARAMETER_VALUE,
        )
    if isinstance(err, bx.BotoCoreError) or _is_connection_error(err):
        return FederateError(
            f"Cannot reach S3{settings.where()} to {action} {where}: "
            f"{type(err).__name__}: {_scrub(str(err), secrets)}",
            TEMPORARILY_UNAVAILABLE,
        )
    return None


def _is_connection_error(err: BaseException) -> bool:
    from urllib3.exceptions import HTTPError as Urllib3Error

    return isinstance(err, Urllib3Error)


def is_transient_read_error(err: BaseException) -> bool:
    """A body that broke off mid-stream: worth reading the same range again."""
    from botocore import exceptions as bx

    return isinstance(
        err,
        bx.ResponseStreamingError
        | bx.IncompleteReadError
        | bx.ReadTimeoutError
        | bx.ConnectionClosedError,
    ) or _is_connection_error(err)
