"""SAS tokens the server vends for a version under an Azure artifact root (``abfss://``,
``wasbs://`` or ``https://<account>.blob...``).

A SAS is signed with the account key the server holds (``AZURE_STORAGE_CONNECTION_STRING``
with an ``AccountKey``, or ``AZURE_STORAGE_ACCESS_KEY``): a service SAS, never the key.

Scope, ``FEDERATE_SERVER_AZURE_SAS_SCOPE``:

- ``directory`` (the default): a directory SAS (``sr=d``) on the version's path, READ
  allowing read and list, READ_WRITE also add, create and write. Azure honours directory
  SAS only on accounts with a hierarchical namespace (ADLS Gen2), so the server asks the
  account once; on a flat-namespace account it answers UNIMPLEMENTED, saying why, rather
  than vend a token Azure would refuse or one wider than the version.
- ``container``: a container SAS (the whole container, same permissions), for
  flat-namespace accounts whose owner accepts that, and for emulators (Azurite implements
  no directory SAS).
"""

from __future__ import annotations

import os
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

from federate.errors import FederateError
from federate.server.errors import ApiError

SCOPE_ENV = "FEDERATE_SERVER_AZURE_SAS_SCOPE"
SCOPES = ("directory", "container")
READ_PERMISSIONS = "rl"
WRITE_PERMISSIONS = "racwl"

_hierarchical: dict[str, bool] = {}
_lock = threading.Lock()


def _unimplemented(message: str) -> ApiError:
    return ApiError(501, "UNIMPLEMENTED", message)


def _scope() -> str:
    scope = os.environ.get(SCOPE_ENV, "").strip().lower() or "directory"
    if scope not in SCOPES:
        raise _unimplemented(f"{SCOPE_ENV}={scope!r} is not a scope: {' or '.join(SCOPES)}")
    return scope


def _account_key(account: str) -> str:
    """The key of ``account`` from the server's environment (never put in a message)."""
    from federate.repos.azure_location import (
        ACCESS_KEY_ENV,
        CONNECTION_STRING_ENV,
        connection_string_fields,
    )

    fields = connection_string_fields(os.environ.get(CONNECTION_STRING_ENV, ""))
    if fields.get("AccountName") == account and fields.get("AccountKey"):
        return fields["AccountKey"]
    key = os.environ.get(ACCESS_KEY_ENV, "").strip()
    if key and fields.get("AccountName", account) == account:
        return key
    raise _unimplemented(
        f"This server cannot sign SAS tokens for Azure account {account!r}: set "
        f"{CONNECTION_STRING_ENV} (with its AccountKey) or {ACCESS_KEY_ENV} where it runs"
    )


def _is_hierarchical(endpoint: str, account: str, key: str) -> bool:
    """Whether the account has a hierarchical namespace (asked once per endpoint)."""
    with _lock:
        known = _hierarchical.get(endpoint)
    if known is not None:
        return known
    from azure.core.exceptions import AzureError
    from azure.storage.blob import BlobServiceClient

    client = BlobServiceClient(endpoint, credential={"account_name": account, "account_key": key})
    try:
        answer = bool(client.get_account_information().get("is_hns_enabled"))
    except AzureError as err:
        raise ApiError(
            503,
            "UNAVAILABLE",
            f"Azure account {account!r} did not say whether it has a hierarchical namespace "
            f"({type(err).__name__})",
        ) from None
    with _lock:
        _hierarchical[endpoint] = answer
    return answer


def azure_sas(location: str, writable: bool, seconds: int) -> dict[str, Any]:
    """The ``TemporaryCredentials`` answer for an Azure ``location``."""
    try:
        from azure.storage.blob import generate_container_sas
    except ImportError:
        raise _unimplemented(
            "Vending Azure SAS tokens needs the Azure SDK: pip install 'federate[azure]'"
        ) from None
    from federate.repos.azure_location import account_url, parse_azure_location

    try:
        loc = parse_azure_location(location)
    except FederateError as err:
        raise ApiError(500, "INTERNAL", err.message) from None
    scope = _scope()
    key = _account_key(loc.account)
    now = datetime.now(timezone.utc)
    expiry = now + timedelta(seconds=seconds)
    permission = WRITE_PERMISSIONS if writable else READ_PERMISSIONS
    if scope == "container":
        sas = generate_container_sas(
            loc.account,
            loc.container,
            account_key=key,
            permission=permission,
            start=now - timedelta(minutes=5),  # other clocks may be behind
            expiry=expiry,
        )
    else:
        if not _is_hierarchical(account_url(loc), loc.account, key):
            raise _unimplemented(
                f"Azure account {loc.account!r} has a flat namespace: Azure cannot scope a "
                "SAS to one version's path there (directory SAS needs ADLS Gen2). Use an "
                f"account with a hierarchical namespace, or set {SCOPE_ENV}=container to vend "
                "SAS tokens for the whole container"
            )
        try:
            from azure.storage.filedatalake import generate_directory_sas
        except ImportError:
            raise _unimplemented(
                "Vending directory SAS tokens needs azure-storage-file-datalake: "
                "pip install 'federate[azure]'"
            ) from None
        sas = generate_directory_sas(
            loc.account,
            loc.container,
            loc.prefix,
            key,
            permission=permission,
            start=now - timedelta(minutes=5),
            expiry=expiry,
        )
    return {
        "azure_user_delegation_sas": {"sas_token": sas},
        "expiration_time": int(expiry.timestamp() * 1000),
        "url": location,
    }
