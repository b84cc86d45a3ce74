"""``federate serve``: the real command in a subprocess, stopped by SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from federate.config import RegistryConfig
from federate.testing.cli import python_path
from federate.testing.server import free_port

pytest.importorskip("uvicorn")


def _get(url: str, token: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_answers_and_stops_on_sigterm(tmp_path, workers):
    from federate.registry.sql.store import SqlRegistry

    db = tmp_path / "r.db"
    registry = SqlRegistry(RegistryConfig(f"sqlite:///{db}", str(tmp_path / "art")))
    registry.create_registered_model("main.ml.m")
    port = free_port()
    token = "cli-secret-5b2e"
    env = {**os.environ, "PYTHONPATH": python_path(), "FEDERATE_SERVER_TOKEN": token}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "federate",
            "serve",
            "--registry-uri",
            f"sqlite:///{db}",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, _ = _get(f"{base}/healthz")
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
                time.sleep(0.1)
        assert status == 200
        status, info = _get(f"{base}/api/2.1/unity-catalog/models/main.ml.m", token)
        assert (status, info["full_name"]) == (200, "main.ml.m")
        assert _get(f"{base}/api/2.1/unity-catalog/models/main.ml.m")[0] == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    # uvicorn finishes in-flight requests, then re-raises SIGTERM so the parent sees it
    assert proc.returncode in (0, -signal.SIGTERM), err
    assert "Application shutdown complete" in err
    assert token not in out + err
    assert '"GET /api/2.1/unity-catalog/models/main.ml.m HTTP/1.1" 200' in out  # access log


def test_serve_refuses_a_registry_it_cannot_serve(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "federate", "serve", "--registry-uri", "databricks-uc"],
        env={
            **os.environ,
            "PYTHONPATH": python_path(),
            "DATABRICKS_HOST": "https://127.0.0.1:9",
            "DATABRICKS_TOKEN": "dapi-unused",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "federate serve serves SQL registries (sqlite, postgresql, mysql)" in proc.stderr
    assert "databricks-uc: is not one" in proc.stderr
