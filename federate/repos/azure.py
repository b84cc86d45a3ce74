"""Azure Blob Storage (and ADLS Gen2 through its blob endpoint), a built-in plugin.

Credentials, first match wins: scoped SAS credentials handed in by a registry (and
nothing else then: they are renewed through the registry, never replaced by wider
ones); a SAS query string in an ``https://`` URL; ``AZURE_STORAGE_CONNECTION_STRING``
(its ``BlobEndpoint`` is how Azurite is reached); ``AZURE_STORAGE_ACCESS_KEY``;
``DefaultAzureCredential`` when azure-identity is installed; else anonymous access.
azure-storage-blob is imported only when an Azure location is opened.
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import os
import threading
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from federate.credentials import CredentialKeeper, CredentialRefresher, ScopedCredentials
from federate.entities import FileInfo
from federate.envvars import env_int
from federate.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    PERMISSION_DENIED,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
    FederateError,
    from_os_error,
    missing_package,
)
from federate.plugins.hookspecs import hookimpl
from federate.plugins.types import RepoPlugin
from federate.repos.azure_errors import refused, store_error
from federate.repos.azure_location import (
    ACCESS_KEY_ENV,
    CONNECTION_STRING_ENV,
    CONTAINER_AT_ACCOUNT_SCHEMES,
    HTTPS_HOSTS,
    account_url,
    parse_azure_location,
)
from federate.repos.base import ArtifactRepository
from federate.repos.ranged_answer import WrongRange, check_content_range, check_etag

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

T = TypeVar("T")

#: ScopedCredentials kinds carrying a SAS token in ``values["sas_token"]``.
SAS_KINDS = ("azure_sas", "azure_user_delegation_sas")


MiB = 1024 * 1024

#: Where a repository's credentials come from, in the order they are looked for.
SOURCES = {
    "scoped": "the scoped credentials from the registry (a SAS token for this location)",
    "url_sas": "the SAS token in the URL",
    "connection_string": f"the connection string in {CONNECTION_STRING_ENV}",
    "access_key": f"the account key in {ACCESS_KEY_ENV}",
    "identity": "DefaultAzureCredential (azure-identity)",
    "anonymous": (
        f"no credentials (anonymous access; set {CONNECTION_STRING_ENV} or {ACCESS_KEY_ENV}, "
        "or install azure-identity for DefaultAzureCredential)"
    ),
}


def _sdk_missing() -> FederateError:
    return missing_package("Azure storage locations", "azure-storage-blob", "azure")


def _never(err: BaseException) -> bool:
    return False


def _is_folder_marker(blob: Any) -> bool:
    """ADLS Gen2 keeps directories as empty blobs tagged ``hdi_isfolder``."""
    metadata = getattr(blob, "metadata", None) or {}
    return str(metadata.get("hdi_isfolder", "")).lower() == "true"


def _checksum(props: Any) -> str | None:
    settings = getattr(props, "content_settings", None)
    md5 = getattr(settings, "content_md5", None)
    return f"md5:{base64.b64encode(bytes(md5)).decode()}" if md5 else None


def _etag(props: Any) -> str | None:
    etag = getattr(props, "etag", None)
    return etag.strip('"') if etag else None


#: Idle connections kept per endpoint: the transfer engine's workers, each running
#: ``max_concurrency`` requests, share one client (requests keeps only 10 by default).
POOL_SIZE = 64


def _streaming_download(blob: Any) -> Callable[..., Any] | None:
    """The generated ``download`` operation of ``blob``'s client (it returns the body as
    an iterator of pieces), or None if this SDK version does not have it where expected."""
    operation = getattr(getattr(getattr(blob, "_client", None), "blob", None), "download", None)
    return operation if callable(operation) else None


def _close_stream(pieces: Iterator[bytes]) -> None:
    response = getattr(getattr(pieces, "response", None), "internal_response", None)
    close = getattr(response, "close", None)
    if close is not None:
        close()


def _pooled_transport() -> Any:
    import requests
    from azure.core.pipeline.transport import RequestsTransport
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    session = requests.Session()
    # retries are the SDK's policy's job, not urllib3's
    adapter = HTTPAdapter(
        pool_connections=4,
        pool_maxsize=POOL_SIZE,
        max_retries=Retry(total=False, redirect=False, raise_on_status=False),
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    # the storage SDK reads responses in 256 KiB blocks when it builds its own transport;
    # left at azure-core's 4 KiB default, downloads run at half the speed
    return RequestsTransport(
        session=session, session_owner=True, connection_data_block_size=256 * 1024
    )


class AzureBlobArtifactRepository(ArtifactRepository):
    """Files under one prefix of one Azure Blob container."""

    writable = True

    #: Listing page size (the service's maximum is 5000).
    page_size = 5000
    #: Parallel ranged requests per file in ``download_file`` and ``upload_file``.
    max_concurrency = 4
    #: Files up to this size go up in one request; larger ones as blocks of ``block_size``.
    single_put_size = 32 * MiB
    block_size = 8 * MiB

    def __init__(
        self,
        root: str,
        credentials: ScopedCredentials | None = None,
        refresh: CredentialRefresher | None = None,
    ) -> None:
        super().__init__(root, credentials, refresh)
        self.location = parse_azure_location(root)
        if credentials is not None and credentials.kind not in SAS_KINDS:
            raise FederateError(
                f"Azure storage takes scoped credentials of kind {' or '.join(SAS_KINDS)} "
                f"(a SAS token in values['sas_token']), not {credentials.kind!r}",
                INVALID_PARAMETER_VALUE,
            )
        self._keeper = CredentialKeeper(credentials, refresh)
        self.source = self._pick_source()
        self._lock = threading.Lock()
        self._client: tuple[ScopedCredentials | None, ContainerClient] | None = None
        #: blob name -> (ETag, size) a listing or stat saw: ranged reads are pinned to them
        self._seen: dict[str, tuple[str | None, int | None]] = {}

    # -- clients ---------------------------------------------------------------------------

    def _pick_source(self) -> str:
        """Which credentials this repository uses (one of ``SOURCES``), fixed at creation."""
        if self.credentials is not None:
            return "scoped"
        if self.location.url_sas:
            return "url_sas"
        if os.environ.get(CONNECTION_STRING_ENV):
            return "connection_string"
        if os.environ.get(ACCESS_KEY_ENV):
            return "access_key"
        try:
            import azure.identity  # noqa: F401
        except ImportError:
            return "anonymous"
        return "identity"

    @property
    def credential_source(self) -> str:
        """The credentials in use, in words for messages (never their value)."""
        if self.source == "access_key":
            return f"{SOURCES['access_key']} for account {self.location.account!r}"
        return SOURCES[self.source]

    def _client_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "max_single_put_size": self.single_put_size,
            "max_block_size": self.block_size,
            "transport": _pooled_transport(),
        }
        retries = env_int("FEDERATE_AZURE_RETRIES", None, 0, "retries of the Azure SDK")
        if retries is not None:
            options["retry_total"] = retries
        return options

    def _make_client(self, creds: ScopedCredentials | None) -> ContainerClient:
        try:
            from azure.core.credentials import AzureSasCredential
            from azure.storage.blob import BlobServiceClient
        except ImportError:
            raise _sdk_missing() from None
        options = self._client_options()
        loc = self.location
        credential: Any = None
        if self.source == "scoped":
            sas = (creds.values.get("sas_token", "") if creds else "").lstrip("?")
            if not sas:
                raise FederateError(
                    "The registry's Azure credentials have no 'sas_token'", PERMISSION_DENIED
                )
            credential = AzureSasCredential(sas)
        elif self.source == "url_sas":
            credential = AzureSasCredential(loc.url_sas or "")
        elif self.source == "connection_string":
            service = BlobServiceClient.from_connection_string(
                os.environ.get(CONNECTION_STRING_ENV, ""), **options
            )
            return service.get_container_client(loc.container)
        elif self.source == "access_key":
            key = os.environ.get(ACCESS_KEY_ENV, "")
            credential = {"account_name": loc.account, "account_key": key}
        elif self.source == "identity":
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        service = BlobServiceClient(account_url(loc), credential=credential, **options)
        return service.get_container_client(loc.container)

    def _container(self, creds: ScopedCredentials | None) -> ContainerClient:
        """The client for ``creds``; rebuilt only when the keeper renewed them."""
        cached = self._client
        if cached is not None and cached[0] is creds:
            return cached[1]
        with self._lock:
            if self._client is None or self._client[0] is not creds:
                self._client = (creds, self._make_client(creds))
            return self._client[1]

    def _call(self, action: str, key: str, fn: Callable[[ContainerClient], T]) -> T:
        """``fn(container)`` with scoped credentials kept fresh and SDK errors mapped."""
        try:
            # without a way to renew, a refusal is reported as the store's own answer
            renewable = refused if self.refresh is not None else _never
            return self._keeper.call(lambda creds: fn(self._container(creds)), renewable)
        except FederateError:
            raise
        except OSError as err:  # the local side of a download or upload
            local = err.filename or self.location.display(key)
            raise from_os_error(
                err, f"{action} {self.location.display(key)}: local file", local
            ) from err
        except Exception as err:
            raise self._error(err, action, key) from None

    def _error(self, err: Exception, action: str, key: str) -> FederateError:
        return store_error(err, action, self.location, key, self.credential_source)

    # -- reading ---------------------------------------------------------------------------

    def _relative(self, name: str) -> str:
        base = f"{self.location.prefix}/" if self.location.prefix else ""
        return name[len(base) :]

    def _dir_prefix(self, path: str) -> str:
        key = self.location.key(path)
        return f"{key}/" if key else ""

    def list(self, path: str = "", recursive: bool = False) -> list[FileInfo]:
        prefix = self._dir_prefix(path)

        def run(container: ContainerClient) -> list[FileInfo]:
            if recursive:
                blobs = container.list_blobs(
                    name_starts_with=prefix, include=["metadata"], results_per_page=self.page_size
                )
                return self._tree(blobs, path)
            items = container.walk_blobs(
                name_starts_with=prefix,
                delimiter="/",
                include=["metadata"],
                results_per_page=self.page_size,
            )
            found: dict[str, FileInfo] = {}
            for item in items:
                rel = self._relative(item.name).rstrip("/")
                if not rel or rel in found and found[rel].is_dir:
                    continue
                if item.name.endswith("/") or _is_folder_marker(item):
                    found[rel] = FileInfo(rel, True, None)
                else:
                    found[rel] = self._file_info(rel, item)
            return sorted(found.values(), key=lambda f: f.path)

        return self._call("list", self.location.key(path), run)

    def _tree(self, blobs: Any, path: str) -> builtins.list[FileInfo]:
        """Files of a flat listing plus the directories they imply (as local listings show)."""
        top = path.strip("/")
        files: dict[str, FileInfo] = {}
        dirs: set[str] = set()
        for blob in blobs:
            rel = self._relative(blob.name)
            if not rel or rel.endswith("/"):
                continue
            if _is_folder_marker(blob):
                dirs.add(rel)
            else:
                files[rel] = self._file_info(rel, blob)
            parent = rel.rpartition("/")[0]
            while parent and parent != top and parent not in dirs:
                dirs.add(parent)
                parent = parent.rpartition("/")[0]
        out = list(files.values()) + [FileInfo(d, True, None) for d in dirs if d not in files]
        return sorted(out, key=lambda f: f.path)

    def _file_info(self, rel: str, props: Any) -> FileInfo:
        """What a listing or stat says of a blob; its ETag and size are kept, to pin the
        ranged reads of it."""
        info = FileInfo(rel, False, props.size, _checksum(props), _etag(props))
        self._seen[self.location.key(rel)] = (info.etag, info.file_size)
        return info

    def stat(self, path: str = "") -> FileInfo:
        from azure.core.exceptions import ResourceNotFoundError

        key = self.location.key(path)

        def run(container: ContainerClient) -> FileInfo:
            if key:
                try:
                    props = container.get_blob_client(key).get_blob_properties()
                except ResourceNotFoundError as err:
                    if getattr(err, "error_code", None) == "ContainerNotFound":
                        raise
                else:
                    if not _is_folder_marker(props):
                        return self._file_info(path, props)
                    return FileInfo(path, True, None)
            below = container.list_blobs(
                name_starts_with=f"{key}/" if key else "", results_per_page=1
            )
            if next(iter(below), None) is not None:
                return FileInfo(path, True, None)
            if not key:
                container.get_container_properties()  # an empty container still exists
                return FileInfo(path, True, None)
            raise FederateError(f"Nothing at {self.location.display(key)}", RESOURCE_DOES_NOT_EXIST)

        return self._call("stat", key, run)

    def read_range(self, path: str, start: int, length: int) -> bytes:
        if start < 0 or length < 0:
            raise FederateError(
                f"read_range needs start >= 0 and length >= 0, got {start}, {length}",
                INVALID_PARAMETER_VALUE,
            )
        if length == 0:
            return b""
        from azure.core.exceptions import HttpResponseError

        key = self.location.key(path)

        def run(container: ContainerClient) -> bytes:
            blob = container.get_blob_client(key)
            try:
                return blob.download_blob(offset=start, length=length).readall()
            except HttpResponseError as err:
                if err.status_code == 416:  # start at or past the end
                    return b""
                raise

        return self._call("read", key, run)

    def iter_range(self, path: str, start: int, length: int) -> Iterator[bytes]:
        """The range as it streams in (256 KiB pieces): a worker never holds a whole range.

        ``download_blob`` reads a range whole into memory and joins its pieces: 16 workers
        on 8 MiB ranges held ~300 MB, and the joins cost CPU. The SDK's generated
        ``download`` operation, which ``download_blob`` calls underneath, streams; it is
        used where this SDK version has it, else the buffered read. A body that breaks off
        ends in TEMPORARILY_UNAVAILABLE: the engine asks again for what is missing.
        """
        if start < 0 or length <= 0:
            yield self.read_range(path, start, length)
            return
        pieces = self._streamed(self.location.key(path), start, length)
        if pieces is None:
            yield self.read_range(path, start, length)
        else:
            yield from pieces

    def _streamed(self, key: str, start: int, length: int | None) -> Generator[bytes] | None:
        """The blob's bytes (``length`` of them from ``start``; None: all) as they stream
        in, through the SDK's generated ``download`` operation; None where this SDK
        version does not have it."""
        from azure.core.exceptions import HttpResponseError

        def run(container: ContainerClient) -> Iterator[bytes] | None:
            operation = _streaming_download(container.get_blob_client(key))
            try:
                from azure.storage.blob._generated.models import ModifiedAccessConditions
            except ImportError:
                operation = None  # not where this SDK version keeps it: the buffered read
            if operation is None:
                return None
            if length is None:
                whole: Iterator[bytes] = operation()
                return whole
            etag, size = self._seen.get(key, (None, None))
            conditions = ModifiedAccessConditions(if_match=f'"{etag}"') if etag else None
            try:
                pieces: Iterator[bytes]
                headers: dict[str, Any]
                pieces, headers = operation(
                    range=f"bytes={start}-{start + length - 1}",
                    modified_access_conditions=conditions,
                    cls=lambda _response, body, headers: (body, headers),
                )
            except HttpResponseError as err:
                if err.status_code == 416:  # start at or past the end
                    return iter(())
                if err.status_code == 412:  # If-Match: the blob is not the listed version
                    raise FederateError(
                        f"{self.location.display(key)} changed on the store during the "
                        f"download (its ETag is no longer {etag}); nothing was installed, "
                        "download again to get the new version",
                        INTERNAL_ERROR,
                    ) from None
                raise
            where = self.location.display(key)
            try:
                check_etag(where, headers.get("ETag"), etag)
                check_content_range(where, headers.get("Content-Range"), start, length, size)
            except WrongRange:
                _close_stream(pieces)
                raise
            return pieces

        pieces = self._call("read", key, run)
        return None if pieces is None else self._unbroken(key, pieces)

    def _unbroken(self, key: str, pieces: Iterator[bytes]) -> Generator[bytes]:
        """``pieces``, with a body that breaks off ending in TEMPORARILY_UNAVAILABLE (the
        engine asks again for what is missing) and the connection closed if not read to
        the end."""
        from azure.core.exceptions import AzureError

        finished = False
        try:
            yield from pieces
            finished = True
        except (AzureError, OSError) as err:
            raise FederateError(
                f"Reading {self.location.display(key)} broke off ({type(err).__name__})",
                TEMPORARILY_UNAVAILABLE,
            ) from None
        finally:
            if not finished:  # stopped early: the connection must not stay half-read
                _close_stream(pieces)

    def download_file(self, path: str, local_path: str, size: int | None = None) -> None:
        """Streamed to the file as it arrives (``download_blob`` would hold a blob of up
        to 32 MiB whole in memory, per worker)."""
        key = self.location.key(path)
        pieces = self._streamed(key, 0, None)
        if pieces is not None:
            try:
                with open(local_path, "wb") as out:  # a retry starts the file over
                    for piece in pieces:
                        out.write(piece)
            except OSError as err:  # the local side: a full disk, an unwritable path
                where = f"download {self.location.display(key)}: local file"
                raise from_os_error(err, where, err.filename or local_path) from err
            finally:
                pieces.close()  # a generator (see _unbroken): closes the connection if cut
            return

        def run(container: ContainerClient) -> None:
            downloader = container.get_blob_client(key).download_blob(
                max_concurrency=self.max_concurrency
            )
            with open(local_path, "wb") as out:  # a retry starts the file over
                downloader.readinto(out)

        self._call("download", key, run)

    # -- writing ---------------------------------------------------------------------------

    def upload_file(self, local_path: str, path: str) -> None:
        """Store a file; large ones go up as blocks, visible only once all are committed."""
        from azure.storage.blob import ContentSettings

        key = self.location.key(path)
        try:
            digest = hashlib.md5(usedforsecurity=False)
            with open(local_path, "rb") as f:
                for block in iter(lambda: f.read(MiB), b""):
                    digest.update(block)
        except OSError as err:
            raise from_os_error(err, "read", local_path) from err
        settings = ContentSettings(content_md5=bytearray(digest.digest()))

        def run(container: ContainerClient) -> None:
            with open(local_path, "rb") as data:
                container.get_blob_client(key).upload_blob(
                    data,
                    overwrite=True,
                    content_settings=settings,
                    max_concurrency=self.max_concurrency,
                )

        self._call("upload to", key, run)

    def delete(self, path: str = "") -> None:
        """Remove the blob at ``path`` and everything below it; nothing there is no error."""
        from azure.core.exceptions import ResourceNotFoundError

        key = self.location.key(path)

        def run(container: ContainerClient) -> None:
            names = [b.name for b in container.list_blobs(name_starts_with=self._dir_prefix(path))]
            if key:
                names.append(key)
            # children before their ADLS folder markers
            for name in sorted(names, key=len, reverse=True):
                try:
                    container.delete_blob(name)
                except ResourceNotFoundError as err:
                    if getattr(err, "error_code", None) == "ContainerNotFound":
                        raise

        self._call("delete", key, run)


@hookimpl(trylast=True)
def federate_artifact_repos() -> list[RepoPlugin]:
    description = "Azure Blob Storage and ADLS Gen2 (azure-storage-blob)"
    return [
        RepoPlugin(
            name="azure",
            schemes=CONTAINER_AT_ACCOUNT_SCHEMES,
            factory=AzureBlobArtifactRepository,
            description=description,
            writable=True,
        ),
        RepoPlugin(
            name="azure-https",
            schemes=("https",),
            hosts=HTTPS_HOSTS,
            factory=AzureBlobArtifactRepository,
            description=description,
            writable=True,
        ),
    ]
