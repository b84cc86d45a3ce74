"""Where an Azure storage URI points, and which endpoint and credentials reach it.

Three spellings name the same thing, a prefix inside one container of one account:
``wasbs://container@account.blob.core.windows.net/path`` (``wasb://`` over plain HTTP),
``abfss://container@account.dfs.core.windows.net/path`` (ADLS Gen2, read through the
account's blob endpoint) and ``https://account.blob.core.windows.net/container/path``.
Pure string work: the Azure SDK is not imported here.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from federate.errors import INVALID_PARAMETER_VALUE, FederateError, redact

#: Schemes written ``<scheme>://container@account.<blob|dfs>.<suffix>/path``.
CONTAINER_AT_ACCOUNT_SCHEMES = ("wasbs", "wasb", "abfss", "abfs")
#: Hosts whose ``https://`` URLs are Azure storage (the https scheme is otherwise HTTP's).
HTTPS_HOSTS = ("blob.core.windows.net", "dfs.core.windows.net")

CONNECTION_STRING_ENV = "AZURE_STORAGE_CONNECTION_STRING"
ACCESS_KEY_ENV = "AZURE_STORAGE_ACCESS_KEY"
#: Overrides the blob endpoint (an emulator, a private link) for keys, SAS and identities.
ENDPOINT_ENV = "FEDERATE_AZURE_BLOB_ENDPOINT"

_ACCOUNT_HOST = re.compile(r"(?P<account>[a-z0-9]{3,24})\.(?P<service>blob|dfs)\.(?P<suffix>.+)")

ACCEPTED_FORMS = (
    "wasbs://<container>@<account>.blob.core.windows.net/<path>, "
    "abfss://<container>@<account>.dfs.core.windows.net/<path> or "
    "https://<account>.blob.core.windows.net/<container>/<path>"
)


@dataclass(frozen=True)
class AzureLocation:
    """A prefix in a container; ``prefix`` has no leading or trailing '/'."""

    scheme: str
    host: str
    account: str
    container: str
    prefix: str
    endpoint_suffix: str
    #: SAS query string that came inside an https URL (a secret: never shown)
    url_sas: str | None = None

    @property
    def default_account_url(self) -> str:
        protocol = "http" if self.scheme in ("wasb", "abfs") else "https"
        return f"{protocol}://{self.account}.blob.{self.endpoint_suffix}"

    def key(self, path: str) -> str:
        """The blob name of ``path`` (relative to the prefix); the prefix itself for ``""``."""
        path = path.strip("/")
        if not path:
            return self.prefix
        return f"{self.prefix}/{path}" if self.prefix else path

    def display(self, key: str) -> str:
        """A URI naming blob or prefix ``key``, fit for messages (never the SAS)."""
        if self.scheme == "https":
            return f"https://{self.host}/{self.container}/{key}".rstrip("/")
        return f"{self.scheme}://{self.container}@{self.host}/{key}".rstrip("/")


def _invalid(uri: str, why: str) -> FederateError:
    return FederateError(
        f"Invalid Azure storage URI {redact(uri)!r}: {why}. Accepted forms: {ACCEPTED_FORMS}",
        INVALID_PARAMETER_VALUE,
    )


def parse_azure_location(uri: str) -> AzureLocation:
    """Split an Azure storage URI into account, container and prefix."""
    try:
        parts = urlsplit(uri)
    except ValueError as err:
        raise _invalid(uri, str(err)) from None
    scheme = parts.scheme.lower()
    if scheme in CONTAINER_AT_ACCOUNT_SCHEMES:
        if parts.query:
            raise _invalid(
                uri,
                "a query string is not accepted here; give a SAS token through the registry "
                f"or use {CONNECTION_STRING_ENV}",
            )
        container, at, host = parts.netloc.rpartition("@")
        if not at or not container:
            raise _invalid(uri, "the container is missing before '@'")
        prefix = parts.path.strip("/")  # taken literally, as Hadoop and MLflow do
        url_sas = None
    elif scheme == "https":
        host = parts.netloc
        container, _, rest = unquote(parts.path).lstrip("/").partition("/")
        if not container:
            raise _invalid(uri, "the container is missing from the path")
        prefix = rest.strip("/")
        url_sas = parts.query or None
    else:
        raise _invalid(uri, f"scheme {scheme!r} is not an Azure storage scheme")
    match = _ACCOUNT_HOST.fullmatch(host.lower())
    if match is None:
        raise _invalid(
            uri, f"host {host!r} is not <account>.blob.<suffix> or <account>.dfs.<suffix>"
        )
    return AzureLocation(
        scheme=scheme,
        host=host.lower(),
        account=match["account"],
        container=container,
        prefix=prefix,
        endpoint_suffix=match["suffix"],
        url_sas=url_sas,
    )


def connection_string_fields(connection_string: str) -> dict[str, str]:
    """``Key=Value;...`` -> dict, keys as written (values may contain '=')."""
    fields = {}
    for item in connection_string.split(";"):
        key, sep, value = item.strip().partition("=")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def account_url(location: AzureLocation) -> str:
    """The blob endpoint for key, SAS and identity credentials.

    ``FEDERATE_AZURE_BLOB_ENDPOINT`` first; then the ``BlobEndpoint`` of
    ``AZURE_STORAGE_CONNECTION_STRING`` when it is for the same account (an endpoint is
    not a credential: its key is not used); else the account's public endpoint.
    """
    override = os.environ.get(ENDPOINT_ENV, "").strip()
    if override:
        return override.rstrip("/")
    fields = connection_string_fields(os.environ.get(CONNECTION_STRING_ENV, ""))
    endpoint = fields.get("BlobEndpoint")
    if endpoint and fields.get("AccountName", location.account) == location.account:
        return endpoint.rstrip("/")
    return location.default_account_url
