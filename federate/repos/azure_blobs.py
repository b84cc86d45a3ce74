"""What the Azure repository reads from azure-storage-blob's answers, and the HTTP
transport it gives the SDK: small pieces kept apart from the repository itself."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any


def is_folder_marker(blob: Any) -> bool:
    """ADLS Gen2 keeps directories as empty blobs tagged ``hdi_isfolder``."""
    metadata = getattr(blob, "metadata", None) or {}
    return str(metadata.get("hdi_isfolder", "")).lower() == "true"


def md5_text(md5: bytes | None) -> str | None:
    """A FileInfo checksum (``md5:<base64>``) of a 16-byte MD5."""
    return f"md5:{base64.b64encode(md5).decode()}" if md5 else None


def md5_checksum(props: Any) -> str | None:
    """The FileInfo checksum of a blob's Content-MD5 (its properties or listing entry)."""
    return md5_text(md5_of(getattr(props, "content_settings", None)))


def md5_of(settings_or_header: Any) -> bytes | None:
    md5 = getattr(settings_or_header, "content_md5", settings_or_header)
    return bytes(md5) if md5 else None


def blob_etag(props: Any) -> str | None:
    etag = getattr(props, "etag", None)
    return etag.strip('"') if etag else None


#: Idle connections kept per endpoint: the transfer engine's workers, each running
#: ``max_concurrency`` requests, share one client (requests keeps only 10 by default).
POOL_SIZE = 64


def streaming_download(blob: Any) -> Callable[..., Any] | None:
    """The generated ``download`` operation of ``blob``'s client (it returns the body as
    an iterator of pieces), or None if this SDK version does not have it where expected."""
    operation = getattr(getattr(getattr(blob, "_client", None), "blob", None), "download", None)
    return operation if callable(operation) else None


def close_stream(pieces: Iterator[bytes]) -> None:
    response = getattr(getattr(pieces, "response", None), "internal_response", None)
    close = getattr(response, "close", None)
    if close is not None:
        close()


def pooled_transport() -> Any:
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
