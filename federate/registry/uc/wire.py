"""The JSON of MLflow's Unity Catalog dialect (``/api/2.0/mlflow/unity-catalog``) as
federate's records.

Field names are those of ``databricks_uc_registry_messages.proto``: versions are strings,
timestamps epoch milliseconds, enums their names, unknown fields ignored. Vended
credentials become :class:`~federate.credentials.ScopedCredentials` of the kind the
repository for the location reads.
"""

from __future__ import annotations

from typing import Any

from federate.credentials import ScopedCredentials
from federate.entities import READY, ModelVersion, RegisteredModel
from federate.errors import INTERNAL_ERROR, NOT_IMPLEMENTED, FederateError
from federate.registry.rest_wire import int_field as _int
from federate.registry.rest_wire import message as _message
from federate.registry.rest_wire import tag_field as _tags
from federate.registry.rest_wire import version_number

#: ``ModelVersionStatus`` names (``UNSPECIFIED`` is read as not ready)
PENDING = "PENDING_REGISTRATION"
FAILED = "FAILED_REGISTRATION"
#: ``StorageMode``: Databricks-managed storage, read through presigned URLs, no cloud keys
DEFAULT_STORAGE = "DEFAULT_STORAGE"
#: ``ModelVersionOperation`` for reading a version's files, and for uploading them
#: (only while the version is ``PENDING_REGISTRATION``)
OPERATION_READ = "MODEL_VERSION_OPERATION_READ"
OPERATION_READ_WRITE = "MODEL_VERSION_OPERATION_READ_WRITE"
#: the ScopedCredentials kind of S3 session credentials (:mod:`federate.repos.s3_client`)
AWS_SESSION = "aws_session"
#: the ScopedCredentials kind of an Azure user-delegation SAS (:mod:`federate.repos.azure`)
AZURE_SAS = "azure_user_delegation_sas"
#: the ScopedCredentials kind of a GCP OAuth access token (:mod:`federate.repos.gcs`)
GCP_OAUTH = "gcp_oauth"
_CREDENTIAL_FIELDS = (
    "aws_temp_credentials",
    "azure_user_delegation_sas",
    "gcp_oauth_token",
    "r2_temp_credentials",
)


def tag_list(tags: dict[str, str] | None) -> list[dict[str, str]]:
    """Tags as the wire's repeated ``{key, value}``."""
    return [{"key": str(k), "value": str(v)} for k, v in (tags or {}).items()]


def _aliases(data: dict[str, Any]) -> list[dict[str, Any]]:
    items = data.get("aliases")
    return (
        [a for a in items if isinstance(a, dict) and a.get("alias")]
        if isinstance(items, list)
        else []
    )


def model_version(data: Any, name: str) -> ModelVersion:
    """A ``ModelVersion`` message as federate's record (``name`` for messages only)."""
    data = _message(data, "model_version", name)
    return ModelVersion(
        name=str(data.get("name") or name),
        version=version_number(data.get("version"), name),
        creation_timestamp=_int(data.get("creation_timestamp")),
        last_updated_timestamp=_int(data.get("last_updated_timestamp")),
        # Unity Catalog has no stages
        current_stage="None",
        source=data.get("source") or None,
        storage_location=data.get("storage_location") or None,
        description=data.get("description") or None,
        user_id=data.get("user_id") or None,
        run_id=data.get("run_id") or None,
        model_id=data.get("model_id") or None,
        status=str(data.get("status") or "UNSPECIFIED"),
        status_message=data.get("status_message") or None,
        tags=_tags(data.get("tags")),
        aliases=tuple(str(a["alias"]) for a in _aliases(data)),
    )


def registered_model(data: Any, name: str) -> RegisteredModel:
    data = _message(data, "registered_model", name)
    return RegisteredModel(
        name=str(data.get("name") or name),
        creation_timestamp=_int(data.get("creation_timestamp")),
        last_updated_timestamp=_int(data.get("last_updated_timestamp")),
        description=data.get("description") or None,
        tags=_tags(data.get("tags")),
        aliases={str(a["alias"]): _int(a.get("version")) for a in _aliases(data)},
    )


def is_ready(mv: ModelVersion) -> bool:
    return mv.status == READY


def credentials(data: Any, what: str) -> ScopedCredentials:
    """A ``TemporaryCredentials`` message as ScopedCredentials for the store's repository.

    S3 session credentials (``aws_temp_credentials``, and ``r2_temp_credentials`` for
    ``r2://`` locations: :mod:`federate.repos.r2`), Azure SAS tokens
    (``azure_user_delegation_sas``, for ``abfss://`` locations) and GCP access tokens
    (``gcp_oauth_token``, for ``gs://``); any other kind is NOT_IMPLEMENTED saying which
    it was, and so is Databricks-managed default storage here (reads of it go through
    :mod:`.default_storage` instead)."""
    if not isinstance(data, dict):
        raise FederateError(f"The workspace vended no credentials for {what}", INTERNAL_ERROR)
    expires_ms = data.get("expiration_time")
    expires_at = _int(expires_ms) / 1000.0 if expires_ms not in (None, "", 0, "0") else None
    if data.get("storage_mode") == DEFAULT_STORAGE:
        raise FederateError(
            f"Cannot go on {what} with cloud credentials: the version is kept in "
            "Databricks-managed default storage (storage_mode DEFAULT_STORAGE), reached "
            "through the workspace's Files API only",
            NOT_IMPLEMENTED,
        )
    # R2's are S3 session credentials too, for the r2:// location's endpoint
    aws = data.get("aws_temp_credentials") or data.get("r2_temp_credentials")
    if isinstance(aws, dict):
        values = {
            key: str(aws[key])
            for key in ("access_key_id", "secret_access_key", "session_token")
            if aws.get(key)
        }
        return ScopedCredentials(AWS_SESSION, values, expires_at)
    azure = data.get("azure_user_delegation_sas")
    if isinstance(azure, dict):
        sas = str(azure.get("sas_token") or "").lstrip("?")
        if not sas:
            raise FederateError(
                f"The workspace vended an Azure SAS without a sas_token for {what}",
                INTERNAL_ERROR,
            )
        return ScopedCredentials(AZURE_SAS, {"sas_token": sas}, expires_at)
    gcp = data.get("gcp_oauth_token")
    if isinstance(gcp, dict):
        token = str(gcp.get("oauth_token") or "")
        if not token:
            raise FederateError(
                f"The workspace vended a GCP credential without an oauth_token for {what}",
                INTERNAL_ERROR,
            )
        return ScopedCredentials(GCP_OAUTH, {"oauth_token": token}, expires_at)
    kinds = [f for f in _CREDENTIAL_FIELDS if f in data]
    raise FederateError(
        f"The workspace vended {' and '.join(kinds) or 'no known kind of'} credentials for "
        f"{what}; federate reads Unity Catalog versions from S3 (aws_temp_credentials), "
        "R2 (r2_temp_credentials), Azure (azure_user_delegation_sas) and GCS "
        "(gcp_oauth_token)",
        NOT_IMPLEMENTED,
    )
