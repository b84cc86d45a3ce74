"""Google Cloud Storage (``gs://bucket/path``), a built-in plugin on google-cloud-storage.

Who the store sees, in order: the scoped OAuth token a registry handed over (credentials
kind ``gcp_oauth``, field ``oauth_token``), renewed through a
:class:`~federate.credentials.CredentialKeeper` and never replaced by anything wider;
otherwise anonymous access when ``STORAGE_EMULATOR_HOST`` names an emulator; otherwise
application default credentials. google-cloud-storage is imported on first use only.

Whole-file downloads are checked against the object's CRC32C as the bytes arrive, and
reads are pinned to the generation a listing saw, so a file replaced mid-download fails
loudly instead of mixing two versions.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from federate.credentials import CredentialKeeper, CredentialRefresher, ScopedCredentials
from federate.entities import FileInfo
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
from federate.repos.base import ArtifactRepository, RangeSink
from federate.repos.gcs_crc32c import Crc32cSink
from federate.repos.gcs_errors import (
    api_error,
    is_broken_read,
    is_connection_error,
    is_refusal,
    server_message,
)
from federate.repos.ranged_answer import WrongRange, check_content_range

if TYPE_CHECKING:
    from google.cloud.storage import Client

T = TypeVar("T")

SCHEME = "gs"
CREDENTIALS_KIND = "gcp_oauth"
TOKEN_FIELD = "oauth_token"
EMULATOR_ENV = "STORAGE_EMULATOR_HOST"


def parse_gcs_uri(uri: str) -> tuple[str, str]:
    """``gs://bucket/a/b`` -> ``("bucket", "a/b")``. The path is taken literally (object
    names may hold spaces, ``?`` and ``#``); no percent-decoding."""
    if not uri.lower().startswith(f"{SCHEME}://"):
        raise FederateError(
            f"Not a GCS URI: {uri!r}; expected gs://<bucket>/<path>", INVALID_PARAMETER_VALUE
        )
    bucket, _, path = uri[len(SCHEME) + 3 :].partition("/")
    if not bucket:
        raise FederateError(
            f"GCS URI {uri!r} names no bucket; expected gs://<bucket>/<path>",
            INVALID_PARAMETER_VALUE,
        )
    return bucket, path.strip("/")


@dataclass(frozen=True)
class GcsObject:
    """What GCS knows of one object: base64 checksums as the API reports them."""

    name: str
    size: int
    generation: int | None
    crc32c: str | None
    md5: str | None  # absent for composite objects


def _sdk() -> Any:
    try:
        from google.cloud import storage
    except ImportError:
        raise missing_package("gs:// locations", "google-cloud-storage", "gcs") from None
    return storage


#: Connections kept per client: the transfer engine runs up to 16 workers on one repository,
#: and requests' default pool of 10 would drop and reopen connections beyond that.
POOL_SIZE = 32
#: bytes per read of a ranged download's body
STREAM_BLOCK = 1 << 20


def _widen_pool(session: Any) -> None:
    from requests.adapters import HTTPAdapter

    for prefix in ("https://", "http://"):
        session.mount(prefix, HTTPAdapter(pool_connections=POOL_SIZE, pool_maxsize=POOL_SIZE))


def _can_get_media(client: Any, blob: Any) -> bool:
    """Whether this SDK version has what federate's own media GET uses (private)."""
    return callable(getattr(blob, "_get_download_url", None)) and hasattr(client, "_http")


def _never(err: BaseException) -> bool:
    return False


class GcsArtifactRepository(ArtifactRepository):
    writable = True
    verifies_downloads = True  # CRC32C as the bytes arrive
    #: entries per listing request (GCS's maximum is 1,000)
    page_size = 1000
    #: how long google-cloud-storage keeps retrying 429/5xx/connection errors of one call
    retry_timeout_s = 120.0
    #: seconds to connect, and to wait for each piece of a ranged read
    read_timeout_s = 60.0

    def __init__(
        self,
        root: str,
        credentials: ScopedCredentials | None = None,
        refresh: CredentialRefresher | None = None,
    ) -> None:
        super().__init__(root, credentials, refresh)
        self.bucket_name, self.prefix = parse_gcs_uri(root)
        if credentials is not None and (
            credentials.kind != CREDENTIALS_KIND or not credentials.values.get(TOKEN_FIELD)
        ):
            raise FederateError(
                f"GCS location {self.location()} got credentials of kind "
                f"{credentials.kind!r} with fields {sorted(credentials.values)}; "
                f"expected kind {CREDENTIALS_KIND!r} with field {TOKEN_FIELD!r}",
                INVALID_PARAMETER_VALUE,
            )
        self._keeper = CredentialKeeper(credentials, refresh)
        self._client_lock = threading.Lock()
        self._client: tuple[ScopedCredentials | None, Client] | None = None
        self._secrets: set[str] = set()  # every token used, kept out of messages
        self._identity: str | None = None  # the service account ADC resolved to, if any
        #: relative path -> object metadata, from this repository's listings and stats
        self._seen: dict[str, GcsObject] = {}

    # -- plumbing ------------------------------------------------------------------------

    def location(self, path: str = "") -> str:
        return f"gs://{self.bucket_name}/{self._key(path)}"

    def _key(self, path: str) -> str:
        path = path.strip("/")
        if not self.prefix:
            return path
        return f"{self.prefix}/{path}" if path else self.prefix

    def _rel(self, key: str) -> str:
        return key[len(self.prefix) + 1 :] if self.prefix else key

    def credential_source(self) -> str:
        """Who this repository presents itself as, for messages (never the secret)."""
        if self.credentials is not None:
            return (
                f"the scoped OAuth token the registry issued for this location "
                f"(credentials kind {CREDENTIALS_KIND!r})"
            )
        if os.environ.get(EMULATOR_ENV):
            return f"anonymous access to the emulator at {EMULATOR_ENV}={os.environ[EMULATOR_ENV]}"
        key_file = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
        if key_file:
            source = (
                f"application default credentials from GOOGLE_APPLICATION_CREDENTIALS={key_file}"
            )
        else:
            source = (
                "application default credentials (from `gcloud auth application-default login` "
                "or the metadata server)"
            )
        return f"{source}, service account {self._identity}" if self._identity else source

    def _client_for(self, creds: ScopedCredentials | None) -> Client:
        with self._client_lock:
            if self._client is not None and self._client[0] is creds:
                return self._client[1]
            storage = _sdk()
            if creds is None:
                client = storage.Client(project=None)
                self._identity = getattr(client._credentials, "service_account_email", None)
            else:
                from google.auth.transport.requests import AuthorizedSession
                from google.oauth2.credentials import Credentials

                self._secrets.add(creds.values[TOKEN_FIELD])
                token = Credentials(token=creds.values[TOKEN_FIELD])
                # A bare access token cannot refresh itself: let a 401 reach the keeper,
                # which asks the registry, instead of failing inside google-auth.
                session = AuthorizedSession(token, refresh_status_codes=())
                client = storage.Client(project=None, credentials=token, _http=session)
            _widen_pool(client._http)
            self._client = (creds, client)
            return client

    def _retry(self) -> Any:
        from google.cloud.storage.retry import DEFAULT_RETRY

        return DEFAULT_RETRY.with_timeout(self.retry_timeout_s)

    def _call(
        self, action: str, path: str, fn: Callable[[Client], T], *, listing: bool = False
    ) -> T:
        """``fn(client)`` with scoped credentials renewed as needed; SDK errors mapped."""
        try:
            # without a way to renew, a refusal is final: report it with the location
            renewable = is_refusal if self.refresh is not None else _never
            return self._keeper.call(lambda creds: fn(self._client_for(creds)), renewable)
        except FederateError:
            raise
        except OSError as err:
            # the local side of an upload or download (not the SDK's OSError subclasses)
            if type(err).__module__ == "builtins" and getattr(err, "filename", None):
                local = "read" if action.startswith("upload") else "write"
                raise from_os_error(err, local, err.filename) from err
            raise self._translate(err, action, path, listing) from err
        except Exception as err:
            raise self._translate(err, action, path, listing) from err

    def _translate(
        self, err: BaseException, action: str, path: str, listing: bool
    ) -> FederateError:
        from google.api_core import exceptions as api
        from google.auth import exceptions as auth

        err = api_error(err)
        where = self.location(path)
        said = server_message(getattr(err, "response", None))
        reason = self._scrub(said or getattr(err, "message", None) or str(err))
        if isinstance(err, api.NotFound):
            if listing:
                return FederateError(
                    f"Cannot {action} {where}: bucket {self.bucket_name!r} does not exist",
                    RESOURCE_DOES_NOT_EXIST,
                )
            return FederateError(
                f"Cannot {action} {where}: no such object (or bucket {self.bucket_name!r} "
                "does not exist)",
                RESOURCE_DOES_NOT_EXIST,
            )
        if isinstance(err, (api.Unauthorized, api.Forbidden, auth.RefreshError)):
            answer = (
                f"could not get an access token: {reason}"
                if isinstance(err, auth.RefreshError)
                else f"HTTP {err.code}: {reason}"
            )
            return FederateError(
                f"Google Cloud Storage refused to {action} {where} ({answer}) "
                f"for {self.credential_source()}. Check that this identity may access bucket "
                f"{self.bucket_name!r}"
                + (
                    ", or resolve the model again for fresh credentials."
                    if self.credentials
                    else "."
                ),
                PERMISSION_DENIED,
            )
        if isinstance(err, auth.DefaultCredentialsError):
            return FederateError(
                f"Cannot {action} {where}: no Google credentials found ({reason}). Set "
                "GOOGLE_APPLICATION_CREDENTIALS, run `gcloud auth application-default login`, "
                f"or set {EMULATOR_ENV} to use an emulator.",
                PERMISSION_DENIED,
            )
        if isinstance(err, api.PreconditionFailed):
            return FederateError(
                f"{where} was replaced while it was being read; try again",
                TEMPORARILY_UNAVAILABLE,
            )
        if isinstance(
            err, (api.TooManyRequests, api.ServerError, ConnectionError, TimeoutError)
        ) or (is_connection_error(err)):
            return FederateError(
                f"Google Cloud Storage is unavailable: cannot {action} {where} "
                f"({type(err).__name__}: {reason}); try again later",
                TEMPORARILY_UNAVAILABLE,
            )
        if isinstance(err, api.BadRequest):
            return FederateError(f"Cannot {action} {where}: {reason}", INVALID_PARAMETER_VALUE)
        return FederateError(
            f"Cannot {action} {where}: {type(err).__name__}: {reason}", INTERNAL_ERROR
        )

    def _scrub(self, text: str) -> str:
        """``text`` without any token this repository used, should a library echo one."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _remember(self, rel: str, blob: Any) -> FileInfo:
        obj = GcsObject(blob.name, blob.size or 0, blob.generation, blob.crc32c, blob.md5_hash)
        self._seen[rel] = obj
        return FileInfo(rel, False, obj.size, f"crc32c:{obj.crc32c}" if obj.crc32c else None)

    # -- reading -------------------------------------------------------------------------

    def list(self, path: str = "", recursive: bool = False) -> list[FileInfo]:
        base = self._key(path)
        under = f"{base}/" if base else ""
        below = path.strip("/")

        def run(client: Client) -> list[FileInfo]:
            blobs = client.list_blobs(
                self.bucket_name,
                prefix=under or None,
                delimiter=None if recursive else "/",
                page_size=self.page_size,
                retry=self._retry(),
            )
            files: list[FileInfo] = []
            dirs: set[str] = set()
            for page in blobs.pages:
                for blob in page:
                    if blob.name.endswith("/"):
                        continue  # a console "folder" placeholder, not a file
                    files.append(self._remember(self._rel(blob.name), blob))
                dirs.update(self._rel(p.rstrip("/")) for p in page.prefixes)
            if recursive:
                for info in files:
                    parent = info.path.rpartition("/")[0]
                    while parent and parent != below and parent not in dirs:
                        dirs.add(parent)
                        parent = parent.rpartition("/")[0]
            out = files + [FileInfo(d, True, None) for d in dirs]
            out.sort(key=lambda f: f.path)
            return out

        return self._call("list", path, run, listing=True)

    def object_info(self, path: str) -> GcsObject:
        """Size, checksums and generation of the object at ``path``."""
        key = self._key(path)

        def run(client: Client) -> Any:
            return client.bucket(self.bucket_name).get_blob(key, retry=self._retry())

        blob = self._call("stat", path, run) if key else None
        if blob is None:
            raise self._missing(path)
        self._remember(path.strip("/"), blob)
        return self._seen[path.strip("/")]

    def stat(self, path: str = "") -> FileInfo:
        key = self._key(path)
        if key:
            try:
                obj = self.object_info(path)
                return FileInfo(
                    path, False, obj.size, f"crc32c:{obj.crc32c}" if obj.crc32c else None
                )
            except FederateError as err:
                if err.error_code != RESOURCE_DOES_NOT_EXIST:
                    raise

        def run(client: Client) -> bool:
            found = client.list_blobs(
                self.bucket_name,
                prefix=f"{key}/" if key else None,
                max_results=1,
                retry=self._retry(),
            )
            return next(iter(found), None) is not None

        if self._call("stat", path, run, listing=True) or not key:
            return FileInfo(path, True, None)
        raise self._missing(path)

    def _missing(self, path: str) -> FederateError:
        return FederateError(
            f"{self.location(path)} does not exist (no object of that name, nothing under it)",
            RESOURCE_DOES_NOT_EXIST,
        )

    def _generation(self, path: str) -> int | None:
        seen = self._seen.get(path.strip("/"))
        return seen.generation if seen is not None else None

    def read_range(self, path: str, start: int, length: int) -> bytes:
        if length <= 0:
            return b""
        key, generation = self._key(path), self._generation(path)

        def run(client: Client) -> bytes:
            from google.api_core.exceptions import RequestRangeNotSatisfiable

            blob = client.bucket(self.bucket_name).blob(key)
            try:
                return blob.download_as_bytes(
                    start=start,
                    end=start + length - 1,
                    raw_download=True,
                    checksum=None,  # a range has no checksum of its own
                    if_generation_match=generation,
                    retry=self._retry(),
                )
            except RequestRangeNotSatisfiable:
                return b""  # starts at or past the end

        return self._call("read", path, run)

    def read_range_into(self, path: str, start: int, length: int, sink: RangeSink) -> None:
        """The range, streamed into the engine's sink a MiB at a time; no retry inside
        (the engine asks again for whatever is missing, a retry here would start over).

        One GET on the client's own authorized session, to the URL the SDK would use
        (pinned to the listed generation): the SDK's media download reads 8 KiB at a
        time, ~25,000 reads of Python per 192 MB, which capped a fast link at a few
        hundred MB/s of client CPU. Bytes are the stored ones (no gzip decoding), as the
        whole file's CRC32C, which the engine checks, covers them.
        """
        if length <= 0:
            return
        self._fetch("read", path, self._generation(path), start, length, sink)

    def _fetch(
        self, action: str, path: str, generation: int | None, start: int, n: int | None, out: Any
    ) -> None:
        """Write the object's bytes (``n`` from ``start``; None: all) to ``out``.

        Through :meth:`_media` where this SDK version has what it needs (a private
        method and attribute); else through the SDK's own media download."""

        key = self._key(path)

        def run(client: Client) -> Any:
            from google.api_core.exceptions import RequestRangeNotSatisfiable

            blob = client.bucket(self.bucket_name).blob(key)
            if _can_get_media(client, blob):
                return self._media(client, blob, generation, start, n)
            end = None if n is None else start + n - 1
            with contextlib.suppress(RequestRangeNotSatisfiable):  # starts past the end
                blob.download_to_file(
                    out,
                    start=start,
                    end=end,
                    raw_download=True,
                    checksum=None,  # checked by the caller or the engine
                    if_generation_match=generation,
                    retry=None,  # retries are the engine's
                )
            return None

        answer = self._call(action, path, run)
        if answer is not None:
            self._stream(answer, path, out)

    def _media(
        self, client: Client, blob: Any, generation: int | None, start: int, length: int | None
    ) -> Any:
        """The streaming answer to a GET of the object's bytes (from ``start``, ``length``
        of them; None: all), pinned to ``generation``; None when ``start`` is past the end.
        Refusals and other statuses raise as api_core exceptions, like the SDK's."""
        from google.api_core import exceptions as api

        url = blob._get_download_url(client, if_generation_match=generation)
        headers = {"Range": f"bytes={start}-{start + length - 1}"} if length is not None else {}
        answer = client._http.get(url, headers=headers, stream=True, timeout=self.read_timeout_s)
        if answer.status_code == 416:  # starts at or past the end
            answer.close()
            return None
        if answer.status_code in ((200, 206) if start == 0 else (206,)):
            try:
                self._check_answer(answer, blob.name, generation, start, length)
            except WrongRange:
                answer.close()
                raise
            return answer
        try:
            message = server_message(answer) or answer.reason or f"HTTP {answer.status_code}"
            if answer.status_code == 200:  # the whole object: not the bytes asked for
                message = f"the server ignored the range asked for (from byte {start})"
            raise api.from_http_status(answer.status_code, message, response=answer)
        finally:
            answer.close()

    def _check_answer(
        self, answer: Any, key: str, generation: int | None, start: int, length: int | None
    ) -> None:
        """That the answer is of the generation pinned and, for a range, holds the bytes
        asked for; else WrongRange."""
        where = f"gs://{self.bucket_name}/{key}"
        sent = answer.headers.get("x-goog-generation")
        if generation is not None and sent and sent != str(generation):
            raise WrongRange(
                where,
                f"the answer is of generation {sent}, the listing pinned {generation} (the "
                "object changed during the download and the store ignored the pin)",
            )
        if length is not None and answer.status_code == 206:
            seen = self._seen.get(self._rel(key))
            size = seen.size if seen is not None else None
            check_content_range(where, answer.headers.get("Content-Range"), start, length, size)

    def _stream(self, answer: Any, path: str, out: Any) -> None:
        """Write the answer's body to ``out`` a MiB at a time (the bytes as stored: no
        gzip decoding, which is what the object's CRC32C covers); then close it. Only
        reading counts as the store breaking off: a failing write (a full disk) is the
        local side's and is raised as it is."""
        pieces = answer.raw.stream(STREAM_BLOCK, decode_content=False)
        try:
            while True:
                try:
                    piece = next(pieces, None)
                except Exception as err:
                    if not is_broken_read(err):
                        raise
                    raise FederateError(
                        f"Reading {self.location(path)} broke off ({type(err).__name__})",
                        TEMPORARILY_UNAVAILABLE,
                    ) from None
                if piece is None:
                    return
                out.write(piece)
        finally:
            answer.close()

    def download_file(self, path: str, local_path: str, size: int | None = None) -> None:
        known = self._seen.get(path.strip("/")) or self.object_info(path)
        try:
            with open(local_path, "wb") as out:
                sink = Crc32cSink(out)
                self._fetch("download", path, known.generation, 0, None, sink)
            got = sink.crc32c()
            if known.crc32c is not None and got != known.crc32c:
                raise self._corrupt(path, known, got)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(local_path)  # never leave bytes that failed or were not checked
            raise

    def _corrupt(self, path: str, known: GcsObject, got: str) -> FederateError:
        return FederateError(
            f"{self.location(path)}: the downloaded bytes have CRC32C {got}, but the store "
            f"lists {known.crc32c} for generation {known.generation}; the data was damaged "
            "in transit or the object changed. Nothing was kept; try again.",
            INTERNAL_ERROR,
        )

    # -- writing -------------------------------------------------------------------------

    def upload_file(self, local_path: str, path: str) -> None:
        key = self._key(path)

        def run(client: Client) -> None:
            blob = client.bucket(self.bucket_name).blob(key)
            blob.upload_from_filename(local_path, checksum="crc32c", retry=self._retry())

        self._call("upload to", path, run)

    def delete(self, path: str = "") -> None:
        key = self._key(path)

        def run(client: Client) -> None:
            from google.api_core.exceptions import NotFound

            bucket = client.bucket(self.bucket_name)
            names = [key] if key else []
            names += [
                blob.name
                for blob in client.list_blobs(
                    self.bucket_name, prefix=f"{key}/" if key else None, retry=self._retry()
                )
            ]
            for name in names:
                with contextlib.suppress(NotFound):  # already gone: the goal of a delete
                    bucket.blob(name).delete(retry=self._retry())

        self._call("delete", path, run, listing=True)


@hookimpl(trylast=True)
def federate_artifact_repos() -> list[RepoPlugin]:
    return [
        RepoPlugin(
            name="gcs",
            schemes=(SCHEME,),
            factory=GcsArtifactRepository,
            description="Google Cloud Storage: gs://bucket/path (google-cloud-storage)",
            writable=True,
        )
    ]
