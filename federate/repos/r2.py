"""Cloudflare R2 (``r2://<bucket>@<account>.r2.cloudflarestorage.com/<prefix>``), a
built-in plugin: the S3 repository pointed at the account's R2 endpoint.

This is the location form Databricks Unity Catalog gives versions kept in R2, with
``r2_temp_credentials`` (S3 session credentials) vended for them. The endpoint is
``https://<account>.r2.cloudflarestorage.com``, addressed virtual-host style, region
``auto``; ``FEDERATE_R2_ENDPOINT_URL`` replaces it (an R2-compatible test server, a proxy).
Everything else (ranged parallel reads pinned to an ETag, multipart uploads, renewal of
scoped credentials) is the S3 repository's.
"""

from __future__ import annotations

import builtins
import os
import re

from federate.errors import INVALID_PARAMETER_VALUE, FederateError
from federate.plugins.hookspecs import hookimpl
from federate.plugins.types import RepoPlugin
from federate.repos.s3 import S3ArtifactRepository
from federate.repos.s3_client import ClientSettings, addressing_style

SCHEMES = ("r2",)
ENDPOINT_ENV = "FEDERATE_R2_ENDPOINT_URL"
R2_DOMAIN = "r2.cloudflarestorage.com"
_LOCATION = re.compile(
    rf"r2://(?P<bucket>[a-z0-9][a-z0-9.\-]{{1,62}})@(?P<host>[A-Za-z0-9\-]+\.{re.escape(R2_DOMAIN)})"
    r"(?:/(?P<prefix>.*))?",
    re.IGNORECASE,
)


def parse_r2_uri(location: str) -> tuple[str, str, str]:
    """``r2://bucket@acct.r2.cloudflarestorage.com/p`` -> (bucket, account host, prefix)."""
    found = _LOCATION.fullmatch(location.strip())
    if found is None:
        raise FederateError(
            f"{location!r} is not an R2 location; expected "
            f"r2://<bucket>@<account id>.{R2_DOMAIN}/<key prefix>",
            INVALID_PARAMETER_VALUE,
        )
    return found["bucket"], found["host"].lower(), (found["prefix"] or "").strip("/")


class R2ArtifactRepository(S3ArtifactRepository):
    def _locate(self, root: str) -> tuple[str, str, ClientSettings]:
        bucket, host, prefix = parse_r2_uri(root)
        self.r2_host = host
        override = os.environ.get(ENDPOINT_ENV, "").strip()
        endpoint = override or f"https://{host}"
        style = addressing_style(endpoint) if override else "virtual"
        return bucket, prefix, ClientSettings(endpoint, "auto", style)

    def _uri(self, key: str) -> str:
        return f"r2://{self.bucket}@{self.r2_host}/{key}"


@hookimpl(trylast=True)
def federate_artifact_repos() -> builtins.list[RepoPlugin]:
    return [
        RepoPlugin(
            name="r2",
            schemes=SCHEMES,
            factory=R2ArtifactRepository,
            description=f"Cloudflare R2: r2://bucket@<account>.{R2_DOMAIN}/prefix (boto3)",
            writable=True,
        )
    ]
