"""``store_zip``: an archive written with the stdlib's zipfile, the store's own "SDK".

It yields a :class:`federate.testing.stores.StoreUnderTest`, the same contract as
federate's ``store_local`` or ``store_s3``, so the checks below read like federate's
own conformance suite.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from federate.testing.stores import StoreUnderTest


@pytest.fixture(params=[zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED], ids=["stored", "deflated"])
def store_zip(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreUnderTest]:
    """The directory ``data/`` of an archive; members stored, or compressed."""
    archive = tmp_path / "models.zip"
    zipfile.ZipFile(archive, "w").close()

    def put(path: str, data: bytes) -> None:
        with zipfile.ZipFile(archive, "a", compression=request.param) as zf:
            zf.writestr(f"data/{path}", data)

    yield StoreUnderTest("zip", f"zip://{archive}!/data", put)
