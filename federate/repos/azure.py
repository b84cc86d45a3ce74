"""Azure Blob Storage (and ADLS Gen2 through its blob endpoint), a built-in plugin.

Credentials, first match wins: scoped SAS credentials handed in by a registry (and
nothing else then: they are renewed through the registry, never replaced by wider
ones); a SAS query string in an ``https://`` URL; ``AZURE_STORAGE_CONNECTION_STRING``
(its ``BlobEndpoint`` is how Azurite is reached); ``AZURE_STORAGE_ACCESS_KEY``;
``DefaultAzureCredential`` when azure-identity is installed; else anonymous access.
azure-storage-blob is imported only when an Azure location is opened.
"""

from __future__ import annotations

import builtins
import contextlib
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
from federate.repos.azure_blobs import (
    blob_etag,
    close_stream,
    is_folder_marker,
    md5_checksum,
    md5_of,
    md5_text,
    pooled_transport,
    streaming_download,
)
from federate.repos.azure_errors import refused, store_error
from federate.repos.azure_location import (
    ACCESS_KEY_ENV,
    CONNECTION_STRING_ENV,
    CONTAINER_AT_ACCOUNT_SCHEMES,
    HTTPS_HOSTS,
    account_url,
    parse_azure_location,
)
from federate.repos.azure_upload import FileMd5, file_md5
from federate.repos.base import ArtifactRepository
from federate.repos.ranged_answer import WrongRange, check_content_range, check_etag
from federate.transfer.behind import CheckBehind
from federate.transfer.checksums import ContentCheck, check_file, digest_check

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

T = TypeVar("T")

#: ScopedCredentials kinds carrying a SAS token in ``values["sas_token"]``.
SAS_KINDS = ("azure_sas", "azure_user_delegation_sas")


MiB = 1024 * 1024
#: whole downloads at least this big are hashed on a thread of their own, behind the stream
HASH_BEHIND_SIZE = 4 * MiB

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


class AzureBlobArtifactRepository(ArtifactRepository):
    """Files under one prefix of one Azure Blob container."""

    writable = True
    #: ``download_file`` checks the blob's Content-MD5 as the bytes stream in
    verifies_downloads = True
    #: Blobs up to azure-storage-blob's ``max_single_get_size`` are read in one GET, as
    #: the SDK does. Their MD5 can only be taken in order: one stream hashed as it
    #: arrives beats ranges fetched side by side, which land together and leave most of
    #: the hash for after the last one (32 MB from Azurite on 2 cores: 0.093-0.108 s
    #: vs 0.115-0.131 s in 4 ranges).
    whole_read_size = 32 * MiB

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
        #: blob name -> the Content-MD5 a listing or stat saw (checks a whole download)
        self._md5: dict[str, bytes] = {}

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
            "transport": pooled_transport(),
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
                if item.name.endswith("/") or is_folder_marker(item):
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
            if is_folder_marker(blob):
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
        info = FileInfo(rel, False, props.size, md5_checksum(props), blob_etag(props))
        key = self.location.key(rel)
        self._seen[key] = (info.etag, info.file_size)
        md5 = md5_of(getattr(props, "content_settings", None))
        if md5 is not None:
            self._md5[key] = md5
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
                    if not is_folder_marker(props):
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
        streamed = self._streamed(self.location.key(path), start, length)
        if streamed is None:
            yield self.read_range(path, start, length)
        else:
            yield from streamed[0]

    def _streamed(
        self, key: str, start: int, length: int | None
    ) -> tuple[Generator[bytes], dict[str, Any]] | None:
        """The blob's bytes (``length`` of them from ``start``; None: all) as they stream
        in, through the SDK's generated ``download`` operation, and the response's
        headers; None where this SDK version does not have it."""
        from azure.core.exceptions import HttpResponseError

        def answer(_response: Any, body: Iterator[bytes], headers: dict[str, Any]) -> Any:
            return body, headers

        def run(container: ContainerClient) -> tuple[Iterator[bytes], dict[str, Any]] | None:
            operation = streaming_download(container.get_blob_client(key))
            try:
                from azure.storage.blob._generated.models import ModifiedAccessConditions
            except ImportError:
                operation = None  # not where this SDK version keeps it: the buffered read
            if operation is None:
                return None
            if length is None:
                whole: tuple[Iterator[bytes], dict[str, Any]] = operation(cls=answer)
                return whole
            etag, size = self._seen.get(key, (None, None))
            conditions = ModifiedAccessConditions(if_match=f'"{etag}"') if etag else None
            try:
                pieces: Iterator[bytes]
                headers: dict[str, Any]
                pieces, headers = operation(
                    range=f"bytes={start}-{start + length - 1}",
                    modified_access_conditions=conditions,
                    cls=answer,
                )
            except HttpResponseError as err:
                if err.status_code == 416:  # start at or past the end
                    return iter(()), {}
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
                close_stream(pieces)
                raise
            return pieces, headers

        got = self._call("read", key, run)
        return None if got is None else (self._unbroken(key, got[0]), got[1])

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
                close_stream(pieces)

    def download_file(self, path: str, local_path: str, size: int | None = None) -> FileInfo:
        """Streamed to the file as it arrives (``download_blob`` would hold a blob of up
        to 32 MiB whole in memory, per worker) and checked against the blob's Content-MD5
        as it streams (hashlib releases the GIL), not read again afterwards. Returns what
        the response says of the blob (size, ETag), which the engine compares with the
        listing. Bytes that fail the check are removed."""
        key = self.location.key(path)
        try:
            sent = self._download_streamed(key, path, local_path)
            if sent is None:
                sent = self._download_buffered(key, path, local_path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(local_path)  # never leave bytes that failed or were not checked
            raise
        return sent

    def _download_streamed(self, key: str, path: str, local_path: str) -> FileInfo | None:
        streamed = self._streamed(key, 0, None)
        if streamed is None:
            return None
        pieces, headers = streamed
        sent = self._sent(path, key, headers.get("Content-Length"), headers)
        check: ContentCheck | None = digest_check(sent)
        if check is not None and (sent.file_size or 0) >= HASH_BEHIND_SIZE:
            check = CheckBehind(check)
        try:
            with open(local_path, "wb") as out:  # a retry starts the file over
                for piece in pieces:
                    out.write(piece)
                    if check is not None:
                        check.update(piece)
        except OSError as err:  # the local side: a full disk, an unwritable path
            where = f"download {self.location.display(key)}: local file"
            raise from_os_error(err, where, err.filename or local_path) from err
        finally:
            pieces.close()  # a generator (see _unbroken): closes the connection if cut
            if isinstance(check, CheckBehind):
                check.close()  # no-op once verified; stops its thread on a failure
        if check is not None:
            check.verify()
        return sent

    def _download_buffered(self, key: str, path: str, local_path: str) -> FileInfo:
        """Where this SDK version has no streaming ``download``: ``download_blob``, then
        the file is read again for the check."""

        def run(container: ContainerClient) -> Any:
            downloader = container.get_blob_client(key).download_blob(
                max_concurrency=self.max_concurrency
            )
            with open(local_path, "wb") as out:  # a retry starts the file over
                downloader.readinto(out)
            return downloader.properties

        props = self._call("download", key, run)
        settings = getattr(props, "content_settings", None)
        sent = self._sent(path, key, getattr(props, "size", None), {"Content-MD5": settings})
        check = digest_check(sent)
        if check is not None:
            check_file(local_path, check)
        return sent

    def _sent(self, path: str, key: str, length: Any, headers: dict[str, Any]) -> FileInfo:
        """The blob a whole download received: its size and ETag as the response says,
        and the MD5 to check its bytes with (the response's Content-MD5, else the one
        listed; a different version is caught by its ETag or size)."""
        checksum = md5_text(md5_of(headers.get("Content-MD5")) or self._md5.get(key))
        size = int(length) if length is not None else None
        etag = headers.get("ETag")
        etag = etag.strip('"') if isinstance(etag, str) else None
        return FileInfo(path, False, size, checksum, etag)

    # -- writing ---------------------------------------------------------------------------

    def upload_file(self, local_path: str, path: str) -> None:
        """Store a file with its MD5 on the blob; large ones go up as blocks, visible only
        once all are committed, while their MD5 is taken beside them
        (:mod:`~federate.repos.azure_upload`) and recorded after the commit."""
        from azure.storage.blob import ContentSettings

        key = self.location.key(path)
        try:
            whole = os.path.getsize(local_path) <= self.single_put_size
        except OSError as err:
            raise from_os_error(err, "read", local_path) from err
        # one request: its MD5 goes with it; blocks: the MD5 is recorded once they are in
        md5 = None if whole else FileMd5(local_path)
        settings = ContentSettings(content_md5=bytearray(file_md5(local_path))) if whole else None

        def run(container: ContainerClient) -> None:
            blob = container.get_blob_client(key)
            with open(local_path, "rb") as data:
                blob.upload_blob(
                    data,
                    overwrite=True,
                    content_settings=settings,
                    max_concurrency=self.max_concurrency,
                )
            if md5 is not None:
                blob.set_http_headers(
                    ContentSettings(
                        content_type="application/octet-stream",
                        content_md5=bytearray(md5.digest()),
                    )
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
