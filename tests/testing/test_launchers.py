"""The test kit's plain start/stop functions, which benchmarks and scripts use without
pytest's fixtures: the server answers while running and is gone once stopped."""

from __future__ import annotations

import socket
import urllib.parse
import uuid
from pathlib import Path

import pytest

from federate.testing.azure import AZURITE_ENV, find_azurite, start_azurite, stop_azurite
from federate.testing.s3 import start_moto_s3, stop_moto_s3
from federate.testing.stores import server_unavailable


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_moto_s3_serves_objects_until_stopped() -> None:
    pytest.importorskip("moto.server")
    moto = start_moto_s3()
    port = urllib.parse.urlsplit(moto.endpoint).port
    assert port is not None
    try:
        client = moto.client()
        bucket = f"b-{uuid.uuid4().hex[:12]}"
        client.create_bucket(Bucket=bucket)
        client.put_object(Bucket=bucket, Key="k", Body=b"bytes")
        assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"bytes"
        assert moto.env()["FEDERATE_S3_ENDPOINT_URL"] == moto.endpoint
    finally:
        stop_moto_s3(moto)
    assert not _listening(port)


def test_azurite_serves_blobs_until_stopped(tmp_path: Path) -> None:
    if find_azurite() is None:
        server_unavailable("Azurite (npm package azurite)", "see federate.testing.azure")
    azurite = start_azurite(tmp_path)
    try:
        container = azurite.service_client().create_container(f"c{uuid.uuid4().hex[:12]}")
        container.upload_blob("k", b"bytes")
        assert container.download_blob("k").readall() == b"bytes"
    finally:
        stop_azurite(azurite)
    assert azurite.process is not None and azurite.process.poll() is not None
    assert not _listening(azurite.port)


def test_azurite_missing_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(AZURITE_ENV, str(tmp_path / "no-azurite-here"))
    with pytest.raises(FileNotFoundError, match="npm install --prefix .ci/node azurite"):
        start_azurite(tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing started, nothing written
