"""``federate serve``: the real command in a subprocess, stopped by SIGTERM."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

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


def _established_by_process(pids: list[int], port: int) -> dict[int, int]:
    """How many established TCP connections on local ``port`` each process holds (Linux:
    its socket inodes in /proc/PID/fd, their states in /proc/net/tcp)."""
    inodes: dict[str, int] = {}
    for pid in pids:
        for fd in os.scandir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(fd.path)
                if target.startswith("socket:["):
                    inodes[target[8:-1]] = pid
    counts = dict.fromkeys(pids, 0)
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            for line in list(f)[1:]:
                fields = line.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                if local_port == port and fields[3] == "01" and fields[9] in inodes:
                    counts[inodes[fields[9]]] += 1
    return counts


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT spreading: Linux")
def test_workers_share_connections_that_arrive_together(tmp_path):
    """32 keep-alive clients connecting at once reach both workers (each has a socket of
    its own): with one shared socket, the first worker to wake accepted all of them."""
    from federate.registry.sql.store import SqlRegistry

    db = tmp_path / "r.db"
    SqlRegistry(RegistryConfig(f"sqlite:///{db}", str(tmp_path / "art"))).create_registered_model(
        "main.ml.m"
    )
    port = free_port()
    env = {**os.environ, "PYTHONPATH": python_path()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "federate", "serve", "--registry-uri", f"sqlite:///{db}"]
        + ["--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    conns: list[http.client.HTTPConnection] = []
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while True:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "federate serve --workers 2 did not come up"
            with contextlib.suppress(OSError):
                children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text()
                workers = [
                    int(p)
                    for p in children.split()
                    if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()
                ]
                if len(workers) == 2 and _get(f"http://127.0.0.1:{port}/healthz")[0] == 200:
                    break
            time.sleep(0.2)
        time.sleep(1)  # both workers listening
        conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(32)]
        for conn in conns:
            conn.connect()
        for conn in conns:
            conn.request("GET", "/healthz")
            assert conn.getresponse().read()
        counts = _established_by_process(workers, port)
        assert sum(counts.values()) == 32, counts
        assert all(n > 0 for n in counts.values()), counts
    finally:
        for conn in conns:
            conn.close()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode in (0, -signal.SIGTERM), err
    assert "a socket each" in err


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_on_a_port_in_use_says_so(tmp_path, workers):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "federate",
                "serve",
                "--registry-uri",
                f"sqlite:///{tmp_path}/r.db",
            ]
            + ["--port", str(port), "--workers", str(workers)],
            env={**os.environ, "PYTHONPATH": python_path()},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert str(port) in proc.stderr
