"""What Azure Blob Storage's failures mean: the SDK's exceptions as FederateErrors."""

from __future__ import annotations

import re

from federate.errors import (
    BAD_REQUEST,
    INTERNAL_ERROR,
    PERMISSION_DENIED,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
    FederateError,
    redact_urls,
)
from federate.repos.azure_location import AzureLocation, account_url

_AUTH_CODES = {
    "AuthenticationFailed",
    "AuthorizationFailure",
    "AuthorizationPermissionMismatch",
    "AuthorizationSourceIPMismatch",
    "AuthorizationProtocolMismatch",
    "AuthorizationResourceTypeMismatch",
    "AuthorizationServiceMismatch",
    "InsufficientAccountPermissions",
    "InvalidAuthenticationInfo",
}
_BUSY_CODES = {"ServerBusy", "OperationTimedOut", "InternalError"}


def refused(err: BaseException) -> bool:
    """Whether the store refused the credentials (expired or revoked SAS, bad key)."""
    status = getattr(err, "status_code", None)
    code = getattr(err, "error_code", None)
    return status in (401, 403) or code in _AUTH_CODES


def store_error(
    err: Exception, action: str, loc: AzureLocation, key: str, credential_source: str
) -> FederateError:
    """What an exception of the SDK (or the transport under it) means, as one FederateError
    naming the blob and ``credential_source`` (never a credential's value)."""
    from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError

    where = loc.display(key)
    status = getattr(err, "status_code", None)
    code = getattr(err, "error_code", None) or ""
    code = str(getattr(code, "value", code))  # the service's word, not the enum's name
    if code == "ContainerNotFound":
        return FederateError(
            f"Azure container {loc.container!r} does not exist in storage account "
            f"{loc.account!r} (while trying to {action} {where})",
            RESOURCE_DOES_NOT_EXIST,
        )
    if status == 404 or code in ("BlobNotFound", "ResourceNotFound"):
        return FederateError(f"No such Azure blob: {where}", RESOURCE_DOES_NOT_EXIST)
    if isinstance(err, ClientAuthenticationError) or refused(err):
        reason = f" ({code})" if code else ""
        return FederateError(
            f"Azure Blob Storage refused to {action} {where}{reason} using "
            f"{credential_source}. Check that the credentials belong to account "
            f"{loc.account!r}, have not expired and grant access to container "
            f"{loc.container!r}.",
            PERMISSION_DENIED,
        )
    if (
        (isinstance(err, AzureError) and not isinstance(err, HttpResponseError))
        or status == 429
        or (status is not None and status >= 500)
        or code in _BUSY_CODES
    ):
        detail = f"{status} {code}".strip() if status else type(err).__name__
        return FederateError(
            f"Azure Blob Storage is unavailable ({detail}) while trying to {action} "
            f"{where} at {account_url(loc)}; try again later",
            TEMPORARILY_UNAVAILABLE,
        )
    if isinstance(err, HttpResponseError):
        # the service's own first line says what was wrong (a container name too short)
        said = (getattr(err, "message", None) or "").strip().splitlines()[:1]
        # a query string echoed back (a SAS signature) never reaches the message
        shown = re.sub(r"\?\S*=\S*", "?<redacted>", redact_urls(said[0])) if said else ""
        why = f": {shown}" if shown and shown != code else ""
        return FederateError(
            f"Azure Blob Storage answered {status} {code} to {action} {where}{why}",
            BAD_REQUEST,
        )
    return FederateError(f"Could not {action} {where}: {type(err).__name__}", INTERNAL_ERROR)
