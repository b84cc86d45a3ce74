"""Uploading a large file to S3 as a multipart upload: parts read from disk and sent
several at once, completed in order, aborted on any failure (an unfinished multipart
upload costs storage until it is aborted).

Every request goes through the repository's ``call`` (its credential keeper and error
translation), so a part refused for expired credentials is renewed and sent again like
any other request.
"""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from federate.errors import FederateError
from federate.repos.s3_client import PART_CONCURRENCY

if TYPE_CHECKING:
    from botocore.client import BaseClient

#: ``call(action, key, operation)``: one S3 request as the repository makes it
Call = Callable[[str, str, Callable[["BaseClient"], Any]], Any]

#: S3 allows at most this many parts in one multipart upload.
MAX_PARTS = 10_000


def part_size_for(size: int, smallest: int) -> int:
    """Parts of ``smallest`` bytes, larger where the file needs more than MAX_PARTS."""
    return max(smallest, -(-size // MAX_PARTS))


def upload_in_parts(
    call: Call, bucket: str, key: str, local_path: str, size: int, smallest_part: int
) -> None:
    """Upload ``local_path`` (``size`` bytes) to ``bucket``/``key`` in parts."""
    part_size = part_size_for(size, smallest_part)
    upload = call("write", key, lambda c: c.create_multipart_upload(Bucket=bucket, Key=key))
    upload_id = upload["UploadId"]

    def send(number: int) -> dict[str, Any]:
        with open(local_path, "rb") as f:
            f.seek((number - 1) * part_size)
            body = f.read(part_size)
        sent = call(
            "write",
            key,
            lambda c: c.upload_part(
                Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
            ),
        )
        return {"PartNumber": number, "ETag": sent["ETag"]}

    try:
        with ThreadPoolExecutor(max_workers=PART_CONCURRENCY) as pool:
            parts = builtins.list(pool.map(send, range(1, -(-size // part_size) + 1)))
        call(
            "write",
            key,
            lambda c: c.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            ),
        )
    except BaseException:
        # the original failure is what the caller needs to see
        with contextlib.suppress(FederateError):
            call(
                "write",
                key,
                lambda c: c.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id),
            )
        raise
