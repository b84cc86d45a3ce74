"""The S3 repository (``s3://bucket/prefix``, also ``s3a://``), a built-in plugin.

Reads list with pagination, stat with HEAD, read ranges with ranged GETs, and fetch a
large file as parallel ranged GETs pinned to one ETag (so an object replaced mid-way
fails instead of mixing two versions). Writes upload small files in one PUT and large
ones as a multipart upload, aborted on failure. Every request goes through a
:class:`~federate.credentials.CredentialKeeper`: scoped credentials from a registry are
renewed before expiry and once when S3 refuses them as expired; without scoped
credentials the default AWS credential chain is used. boto3 is imported on first use.
"""

from __future__ import annotations

import builtins
import functools
import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from federate.credentials import CredentialKeeper, CredentialRefresher, ScopedCredentials
from federate.entities import FileInfo
from federate.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
    FederateError,
    from_os_error,
)
from federate.plugins.hookspecs import hookimpl
from federate.plugins.types import RepoPlugin
from federate.repos import s3_client
from federate.repos.base import CHUNK_SIZE, ArtifactRepository
from federate.repos.ranged_answer import WrongRange, check_content_range, check_etag
from federate.repos.s3_client import PART_CONCURRENCY, ClientSettings
from federate.repos.s3_etag import (
    CHECKSUM_FIELDS,
    MultipartEtagCheck,
    etag_kind,
    file_crc32,
    stored_checksum,
)
from federate.repos.s3_upload import upload_in_parts
from federate.transfer.checksums import ContentCheck

if TYPE_CHECKING:
    from botocore.client import BaseClient

SCHEMES = ("s3", "s3a")

#: Files above this size are fetched as parallel ranged GETs and uploaded in parts.
MULTIPART_THRESHOLD = 2 * CHUNK_SIZE
PART_SIZE = CHUNK_SIZE
#: Parts larger than this are fetched in PART_SIZE ranges, without checking the ETag.
MAX_VERIFIED_PART = 8 * CHUNK_SIZE
STREAM_BLOCK = 1024 * 1024
READ_ATTEMPTS = 3

T = TypeVar("T")


def parse_s3_uri(location: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix/`` -> ("bucket", "some/prefix"). Keys are taken literally
    (no percent-decoding, no query string): S3 keys may contain '%', '?' and '#'."""
    scheme, sep, rest = location.partition("://")
    bucket, _, key = rest.partition("/")
    if not sep or scheme.lower() not in SCHEMES or not bucket:
        raise FederateError(
            f"{location!r} is not an S3 location; expected s3://<bucket>/<key prefix> "
            "(or s3a://...)",
            INVALID_PARAMETER_VALUE,
        )
    return bucket, key.strip("/")


def _list_page(client: BaseClient, kwargs: dict[str, Any]) -> dict[str, Any]:
    return client.list_objects_v2(**kwargs)  # type: ignore[no-any-return]


def _head(client: BaseClient, request: dict[str, Any]) -> dict[str, Any]:
    return client.head_object(**request)  # type: ignore[no-any-return]


def _delete(client: BaseClient, request: dict[str, Any]) -> dict[str, Any]:
    return client.delete_objects(**request)  # type: ignore[no-any-return]


class _Refused(Exception):
    """S3 refused credentials as expired: the keeper renews them and retries once."""


class S3ArtifactRepository(ArtifactRepository):
    writable = True
    verifies_downloads = True  # botocore checks stored checksums; MD5/multipart ETags here

    def __init__(
        self,
        root: str,
        credentials: ScopedCredentials | None = None,
        refresh: CredentialRefresher | None = None,
    ) -> None:
        super().__init__(root, credentials, refresh)
        self.bucket, self.prefix, self.settings = self._locate(root)
        if credentials is not None:
            s3_client.check_scoped(credentials)
        self._keeper = CredentialKeeper(credentials, refresh if credentials is not None else None)
        self._client_lock = threading.Lock()
        self._client_creds: ScopedCredentials | None = None
        self._client: BaseClient | None = None
        # file-level workers times part-level workers can exceed the connection pool;
        # beyond it urllib3 would open and discard a connection per request
        self._slots = threading.BoundedSemaphore(s3_client.MAX_POOL_CONNECTIONS)
        #: key -> (ETag, size) a listing or HEAD saw: ranged reads are pinned to them
        self._seen: dict[str, tuple[str | None, int | None]] = {}

    # -- plumbing --------------------------------------------------------------------------

    def _locate(self, root: str) -> tuple[str, str, ClientSettings]:
        """Bucket, key prefix and the client settings that reach them (an S3-compatible
        store's subclass reads its own endpoint from its locations)."""
        bucket, prefix = parse_s3_uri(root)
        return bucket, prefix, ClientSettings.from_env()

    def _client_for(self, creds: ScopedCredentials | None) -> BaseClient:
        """One client per repository, rebuilt only when the scoped credentials change."""
        with self._client_lock:
            if self._client is None or self._client_creds is not creds:
                if creds is not None:
                    s3_client.check_scoped(creds)
                self._client = s3_client.client_for(self.settings, creds)
                self._client_creds = creds
            return self._client

    def _key(self, path: str) -> str:
        path = path.strip("/")
        if not self.prefix:
            return path
        return f"{self.prefix}/{path}" if path else self.prefix

    def _uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _call(self, action: str, key: str, op: Callable[[BaseClient], T]) -> T:
        """``op(client)`` under the current credentials, with S3 failures as FederateErrors."""

        def attempt(creds: ScopedCredentials | None) -> T:
            try:
                client = self._client_for(creds)
                with self._slots:
                    return op(client)
            except Exception as err:
                if creds is not None and self._expired(err, creds):
                    raise _Refused() from err
                raise

        try:
            return self._keeper.call(attempt, lambda err: isinstance(err, _Refused))
        except _Refused as refused:
            raise self._federate_error(refused.__cause__ or refused, action, key) from None
        except FederateError:
            raise
        except Exception as err:
            mapped = self._federate_error(err, action, key)
            if mapped is err:
                raise
            raise mapped from err

    @staticmethod
    def _expired(err: BaseException, creds: ScopedCredentials) -> bool:
        code, status = s3_client.error_code(err)
        if code in s3_client.EXPIRED_CODES:
            return True
        # a plain AccessDenied counts as expiry only once the credentials' time is up
        return (code == "AccessDenied" or status == 403) and creds.expires_within(0)

    def _federate_error(self, err: BaseException, action: str, key: str) -> BaseException:
        scoped = self.credentials is not None
        secrets: builtins.list[str] = []
        current = self._client_creds
        if current is not None:
            secrets += [current.values.get(f, "") for f in ("secret_access_key", "session_token")]
        mapped = s3_client.map_error(
            err,
            action,
            self._uri(key),
            bucket=self.bucket,
            settings=self.settings,
            credentials_used=s3_client.describe_credentials(self._client, scoped),
            secrets=secrets,
        )
        return mapped if mapped is not None else err

    # -- reading ---------------------------------------------------------------------------

    def _pages(self, prefix: str, delimiter: bool) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
            if delimiter:
                kwargs["Delimiter"] = "/"
            if token:
                kwargs["ContinuationToken"] = token
            page = self._call("list", prefix, functools.partial(_list_page, kwargs=kwargs))
            yield page
            token = page.get("NextContinuationToken") if page.get("IsTruncated") else None
            if not token:
                return

    def list(self, path: str = "", recursive: bool = False) -> builtins.list[FileInfo]:
        rel_prefix = f"{path.strip('/')}/" if path.strip("/") else ""
        key_prefix = f"{self._key(path)}/" if self._key(path) else ""
        cut = len(key_prefix) - len(rel_prefix)
        files: dict[str, FileInfo] = {}
        dirs: set[str] = set()
        for page in self._pages(key_prefix, delimiter=not recursive):
            for common in page.get("CommonPrefixes", ()):
                dirs.add(common["Prefix"][cut:].rstrip("/"))
            for obj in page.get("Contents", ()):
                rel = obj["Key"][cut:]
                if obj["Key"].endswith("/"):  # a "folder" marker object, not a file
                    if rel.rstrip("/") != rel_prefix.rstrip("/"):
                        dirs.add(rel.rstrip("/"))
                    continue
                etag = obj.get("ETag", "").strip('"') or None
                kind = "multipart" if etag_kind(etag) == "multipart" else None
                self._seen[obj["Key"]] = (etag, obj.get("Size"))
                files[rel] = FileInfo(rel, False, obj.get("Size"), etag=etag, etag_kind=kind)
                if recursive:
                    parent = rel.rpartition("/")[0]
                    while len(parent) >= len(rel_prefix) and parent and parent + "/" != rel_prefix:
                        dirs.add(parent)
                        parent = parent.rpartition("/")[0]
        out = builtins.list(files.values()) + [FileInfo(d, True, None) for d in dirs if d]
        out.sort(key=lambda f: f.path)
        return out

    def stat(self, path: str = "") -> FileInfo:
        key = self._key(path)
        if key:
            try:
                head = self._call(
                    "read",
                    key,
                    lambda c: c.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED"),
                )
                info = self._file_info(path, head)
                self._seen[key] = (info.etag, info.file_size)
                return info
            except FederateError as err:
                if err.error_code != RESOURCE_DOES_NOT_EXIST:
                    raise
                # not an object: maybe a prefix (a missing bucket is reported by the listing)
        dir_prefix = f"{key}/" if key else ""
        page = self._call(
            "list",
            dir_prefix,
            lambda c: c.list_objects_v2(Bucket=self.bucket, Prefix=dir_prefix, MaxKeys=1),
        )
        if page.get("KeyCount", 0) or not key:
            return FileInfo(path, True, None)
        raise FederateError(
            f"No such S3 object or prefix: {self._uri(key)}", RESOURCE_DOES_NOT_EXIST
        )

    @staticmethod
    def _file_info(path: str, head: dict[str, Any]) -> FileInfo:
        etag = head.get("ETag", "").strip('"') or None
        return FileInfo(
            path,
            False,
            head.get("ContentLength"),
            checksum=stored_checksum(head),
            etag=etag,
            etag_kind=etag_kind(etag, head.get("ServerSideEncryption")),
        )

    def read_range(self, path: str, start: int, length: int) -> bytes:
        if start < 0 or length < 0:
            raise FederateError(
                f"read_range needs start >= 0 and length >= 0, got {start}, {length}",
                INVALID_PARAMETER_VALUE,
            )
        key = self._key(path)
        if length == 0:
            self.stat(path)  # still a missing file is an error, like every other store
            return b""
        return self._get(key, start, start + length - 1, b"".join)

    def iter_range(self, path: str, start: int, length: int) -> Iterator[bytes]:
        """The range as it streams in, a MiB at a time: a worker never holds a whole range.
        A body that breaks off ends in a TEMPORARILY_UNAVAILABLE error; the engine asks
        again for what is missing."""
        if start < 0 or length <= 0:
            yield self.read_range(path, start, length)
            return
        key = self._key(path)
        etag, size = self._seen.get(key, (None, None))

        def op(client: BaseClient) -> Any:
            request = {
                "Bucket": self.bucket,
                "Key": key,
                "Range": f"bytes={start}-{start + length - 1}",
            }
            if etag:
                request["IfMatch"] = etag
            try:
                response = client.get_object(**request)
            except Exception as err:
                if s3_client.error_code(err)[0] == "InvalidRange":
                    return None  # the range starts at or past the end
                raise
            self._check_answer(key, response, start, length, etag, size)
            return response["Body"]

        body = self._call("read", key, op)
        if body is None:
            return
        try:
            yield from body.iter_chunks(STREAM_BLOCK)
        except Exception as err:
            if not s3_client.is_transient_read_error(err):
                raise
            raise FederateError(
                f"Reading {self._uri(key)} broke off ({type(err).__name__})",
                TEMPORARILY_UNAVAILABLE,
            ) from None
        finally:
            body.close()

    def _check_answer(
        self,
        key: str,
        response: dict[str, Any],
        start: int,
        length: int,
        etag: str | None,
        size: int | None,
    ) -> None:
        """That a ranged GET's answer holds the bytes asked for, of the version pinned;
        else WrongRange (the body closed, nothing of it read)."""
        try:
            where = self._uri(key)
            check_etag(where, response.get("ETag"), etag)
            check_content_range(where, response.get("ContentRange"), start, length, size)
        except WrongRange:
            response["Body"].close()
            raise

    def _get(
        self,
        key: str,
        first: int,
        last: int,
        consume: Callable[[Iterator[bytes]], T],
        etag: str | None = None,
    ) -> T:
        """``consume`` the bytes ``first..last`` of an object as they stream in; a body that
        breaks off is requested again (``consume`` starts over with a fresh iterator)."""

        pinned, size = self._seen.get(key, (None, None))
        etag = etag or pinned

        def op(client: BaseClient) -> T:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
            kwargs["Range"] = f"bytes={first}-{last}"
            if etag:
                kwargs["IfMatch"] = etag
            try:
                response = client.get_object(**kwargs)
            except Exception as err:
                if s3_client.error_code(err)[0] == "InvalidRange":
                    return consume(iter(()))  # the range starts at or past the end
                raise
            self._check_answer(key, response, first, last - first + 1, etag, size)
            return consume(response["Body"].iter_chunks(STREAM_BLOCK))

        for attempt in range(READ_ATTEMPTS):
            try:
                return self._call("read", key, op)
            except FederateError as err:
                if (
                    attempt + 1 < READ_ATTEMPTS
                    and isinstance(err.__cause__, Exception)
                    and s3_client.is_transient_read_error(err.__cause__)
                ):
                    continue
                raise
        raise AssertionError("unreachable")

    def download_file(self, path: str, local_path: str, size: int | None = None) -> None:
        key = self._key(path)
        try:
            if size is not None and size <= MULTIPART_THRESHOLD:
                self._download_whole(key, local_path)
                return
            info = self.stat(path)
            if info.is_dir:
                raise FederateError(
                    f"{self._uri(key)} is a prefix, not a file", INVALID_PARAMETER_VALUE
                )
            if (info.file_size or 0) <= MULTIPART_THRESHOLD:
                self._download_whole(key, local_path)
            else:
                self._download_parts(key, local_path, info)
        except OSError as err:
            raise from_os_error(err, "write", local_path) from err

    def _download_whole(self, key: str, local_path: str) -> None:
        """One GET streamed to disk and checked: botocore checks a stored CRC/SHA checksum
        as the body streams in; without one, an ETag that is the bytes' MD5 is checked here."""

        def op(client: BaseClient) -> None:
            response = client.get_object(Bucket=self.bucket, Key=key)
            etag = response.get("ETag", "").strip('"')
            kind = etag_kind(etag, response.get("ServerSideEncryption"))
            checked_by_botocore = any(f in response for f in CHECKSUM_FIELDS)
            md5 = (
                hashlib.md5(usedforsecurity=False)
                if kind == "md5" and not checked_by_botocore
                else None
            )
            with open(local_path, "wb") as out:
                for block in response["Body"].iter_chunks(STREAM_BLOCK):
                    out.write(block)
                    if md5 is not None:
                        md5.update(block)
            if md5 is not None and md5.hexdigest() != etag.lower():
                raise self._corrupted(key, f"MD5 {md5.hexdigest()} does not match ETag {etag}")

        self._call("read", key, op)

    def _download_parts(self, key: str, local_path: str, info: FileInfo) -> None:
        """Parallel ranged GETs into one preallocated file, then checked: by the stored
        CRC32 when S3 keeps a full-object one (reading the file back is cheap), else by the
        multipart ETag when the object was uploaded in equal parts (ranges follow them)."""
        size, etag = info.file_size or 0, info.etag
        crc = info.checksum if (info.checksum or "").startswith("crc32:") else None
        part_size = None if crc else self._uniform_part_size(key, size, etag)
        step = part_size or PART_SIZE
        ranges = [(start, min(start + step, size) - 1) for start in range(0, size, step)]
        fd = os.open(local_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            os.ftruncate(fd, size)

            def fetch(span: tuple[int, int]) -> bytes:
                def write(blocks: Iterator[bytes]) -> tuple[int, bytes]:
                    md5 = hashlib.md5(usedforsecurity=False) if part_size else None
                    offset = span[0]
                    for block in blocks:
                        os.pwrite(fd, block, offset)
                        offset += len(block)
                        if md5 is not None:
                            md5.update(block)
                    return offset - span[0], md5.digest() if md5 is not None else b""

                written, digest = self._get(key, span[0], span[1], write, etag)
                if written != span[1] - span[0] + 1:
                    raise FederateError(
                        f"{self._uri(key)}: short read at bytes {span[0]}-{span[1]}",
                        INTERNAL_ERROR,
                    )
                return digest

            with ThreadPoolExecutor(max_workers=min(PART_CONCURRENCY, len(ranges))) as pool:
                digests = builtins.list(pool.map(fetch, ranges))
        finally:
            os.close(fd)
        if crc:
            got = f"crc32:{file_crc32(local_path)}"
            if got != crc:
                raise self._corrupted(key, f"its stored checksum is {crc}, the bytes give {got}")
        elif part_size and etag:
            got = (
                f"{hashlib.md5(b''.join(digests), usedforsecurity=False).hexdigest()}-{len(ranges)}"
            )
            if got != etag.lower() and self._parts_are_uniform(key, size, part_size, len(ranges)):
                raise self._corrupted(key, f"its multipart ETag is {etag}, the bytes give {got}")

    def content_check(self, info: FileInfo) -> ContentCheck | None:
        """The object's checksum, or else its multipart ETag checked part by part."""
        check = super().content_check(info)
        etag = info.etag
        if check is not None or etag_kind(etag) != "multipart" or etag is None:
            return check
        key, size = self._key(info.path), info.file_size or 0
        return MultipartEtagCheck(
            self._uri(key),
            size,
            etag,
            part_size=lambda: self._uniform_part_size(key, size, etag),
            uniform=lambda part, parts: self._parts_are_uniform(key, size, part, parts),
        )

    def _corrupted(self, key: str, why: str) -> FederateError:
        return FederateError(f"{self._uri(key)} arrived corrupted: {why}", INTERNAL_ERROR)

    def _uniform_part_size(self, key: str, size: int, etag: str | None) -> int | None:
        """The size of part 1 of a multipart object, if the ETag can be checked with it."""
        if etag_kind(etag) != "multipart" or etag is None:
            return None
        parts = int(etag.rsplit("-", 1)[1])
        request = {"Bucket": self.bucket, "Key": key, "PartNumber": 1}
        head = self._call("read", key, functools.partial(_head, request=request))
        first = int(head.get("ContentLength") or 0)
        if not 0 < first <= MAX_VERIFIED_PART or -(-size // first) != parts:
            return None
        return first

    def _parts_are_uniform(self, key: str, size: int, part_size: int, parts: int) -> bool:
        """Parts may differ in size; only a mismatch over equal parts proves corruption."""
        for number in {2, parts} - {1}:
            request = {"Bucket": self.bucket, "Key": key, "PartNumber": number}
            head = self._call("read", key, functools.partial(_head, request=request))
            expected = part_size if number < parts else size - part_size * (parts - 1)
            if int(head.get("ContentLength") or 0) != expected:
                return False
        return True

    # -- writing ---------------------------------------------------------------------------

    def upload_file(self, local_path: str, path: str) -> None:
        key = self._key(path)
        try:
            size = os.path.getsize(local_path)
        except OSError as err:
            raise from_os_error(err, "read", local_path) from err
        if size <= MULTIPART_THRESHOLD:
            with open(local_path, "rb") as f:
                data = f.read()
            self._call("write", key, lambda c: c.put_object(Bucket=self.bucket, Key=key, Body=data))
        else:
            upload_in_parts(self._call, self.bucket, key, local_path, size, PART_SIZE)

    def delete(self, path: str = "") -> None:
        key = self._key(path)
        prefix = f"{key}/" if key else ""
        keys = [
            obj["Key"] for page in self._pages(prefix, False) for obj in page.get("Contents", ())
        ]
        if key:
            keys.append(key)
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            request = {"Bucket": self.bucket, "Delete": {"Objects": batch, "Quiet": True}}
            answer = self._call(
                "delete", prefix or key, functools.partial(_delete, request=request)
            )
            failed = [e for e in answer.get("Errors", ()) if e.get("Code") != "NoSuchKey"]
            if failed:
                first = failed[0]
                raise FederateError(
                    f"S3 could not delete {len(failed)} object(s) under {self._uri(key)}, "
                    f"first {self._uri(first.get('Key', ''))}: {first.get('Code')}",
                    INTERNAL_ERROR,
                )


@hookimpl(trylast=True)
def federate_artifact_repos() -> builtins.list[RepoPlugin]:
    return [
        RepoPlugin(
            name="s3",
            schemes=SCHEMES,
            factory=S3ArtifactRepository,
            description="Amazon S3 and S3-compatible stores: s3://bucket/prefix (boto3)",
            writable=True,
        )
    ]
