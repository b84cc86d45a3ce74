"""Benchmark: get-model-version requests per second from 32 concurrent clients,
``federate serve`` against a real ``mlflow server``, both on PostgreSQL, one run.

Each server gets a fresh database of its own on the PostgreSQL server given with
``--pg`` (dropped at the end), one model with one version, and ``--workers`` worker
processes. The load: ``--clients`` threads, each on one keep-alive connection, asking
for that version for ``--seconds`` seconds: federate's
``GET /api/2.1/unity-catalog/models/main.ml.m/versions/1``, MLflow's own
``GET /api/2.0/mlflow/model-versions/get?name=m&version=1``. Reported: requests per
second, p50 and p99 latency, and every answer that was not a 200 (goal: none).

The load generator shares the machine with the servers (2 cores here): read the numbers
as a ratio within one run. MLflow runs from ``--mlflow-python`` (an interpreter with
``mlflow`` and ``psycopg2``; default: ``bench/.venv``, see ``bench/harness.py``).

    python bench/serve.py
    python bench/serve.py --seconds 5 --mlflow-python /tmp/venv/bin/python
    python bench/serve.py --no-mlflow
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from federate.testing.databases import drop_run_databases, run_database_uri  # noqa: E402

FEDERATE_PATH = "/api/2.1/unity-catalog/models/main.ml.m/versions/1"
MLFLOW_PATH = "/api/2.0/mlflow/model-versions/get?name=m&version=1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_up(port: int, path: str, proc: subprocess.Popen, deadline_s: float = 120) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing answered on port {port}")


def call(port: int, method: str, path: str, body: dict | None = None) -> dict:
    """One setup request; a dropped connection is tried again (a loaded machine makes
    uvicorn's supervisor restart a worker that answers its ping late)."""
    data = json.dumps(body).encode() if body is not None else None
    for attempt in range(5):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            payload = resp.read()
        except (ConnectionError, http.client.RemoteDisconnected):
            if attempt == 4:
                raise
            time.sleep(2)
            continue
        if resp.status != 200:
            raise RuntimeError(f"{method} {path}: {resp.status} {payload[:300]!r}")
        return json.loads(payload or b"{}")
    raise AssertionError("unreachable")


async def _client(
    port: int, request: bytes, stop_at: float, latencies: list[float], errors: list[int]
) -> None:
    """One keep-alive connection asking ``request`` until ``stop_at``; a failed connection
    counts as an error and is opened again."""
    reader = writer = None
    while True:
        t0 = time.perf_counter()
        if t0 >= stop_at:
            break
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert reader is not None
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            ok = status == 200
        except (OSError, asyncio.IncompleteReadError, ValueError):
            ok = False
            if writer is not None:
                writer.close()
            reader = writer = None
        latencies.append(time.perf_counter() - t0)
        if not ok:
            errors.append(1)
    if writer is not None:
        writer.close()


def load(port: int, path: str, clients: int, seconds: float) -> dict[str, float]:
    """``clients`` keep-alive connections asking ``path`` for ``seconds``, from one asyncio
    loop (a thread per client would spend the shared cores on the GIL): RPS, p50, p99,
    errors."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    latencies: list[float] = []
    errors: list[int] = []

    async def run() -> float:
        began = time.perf_counter()
        stop_at = began + seconds
        await asyncio.gather(
            *(_client(port, request, stop_at, latencies, errors) for _ in range(clients))
        )
        return time.perf_counter() - began

    cpu0 = time.process_time()
    elapsed = asyncio.run(run())
    every = sorted(latencies)
    return {
        "requests": len(every),
        "rps": len(every) / elapsed,
        "p50_ms": statistics.median(every) * 1000,
        "p99_ms": every[int(len(every) * 0.99) - 1] * 1000,
        "errors": len(errors),
        "client_cpu_s": time.process_time() - cpu0,
        "wall_s": elapsed,
    }


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid`` and its descendants (its workers),
    from /proc; 0 where there is no /proc."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        child = int(entry.parent.name)
        parents[child] = int(fields[1])
        cpu[child] = (int(fields[11]) + int(fields[12])) / tick
    total = 0.0
    for child in cpu:
        walk = child
        while walk in parents and walk != pid:
            walk = parents[walk]
        if walk == pid:
            total += cpu[child]
    return total


def measured(proc: subprocess.Popen, port: int, path: str, args: argparse.Namespace):
    """:func:`load` with the server's CPU seconds over the same interval."""
    before = tree_cpu_s(proc.pid)
    row = load(port, path, args.clients, args.seconds)
    row["server_cpu_s"] = tree_cpu_s(proc.pid) - before
    return row


def start(cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def federate_row(pg: str, args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    uri = run_database_uri(pg)
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "FEDERATE_HOME": str(workdir / "home"),
        "FEDERATE_ARTIFACT_ROOT": str(workdir / "artifacts"),
    }
    # the schema and the version, created through federate itself first
    setup = (
        "import sys, federate; r = federate.get_registry(sys.argv[1]);"
        "r.create_registered_model('main.ml.m');"
        "r.create_model_version('main.ml.m', source='file:///tmp/none')"
    )
    subprocess.run([sys.executable, "-c", setup, uri], env=env, check=True)
    cmd = [sys.executable, "-m", "federate", "serve", "--registry-uri", uri, "--port", str(port)]
    proc = start([*cmd, "--workers", str(args.workers)], env)
    try:
        wait_up(port, "/healthz", proc)
        assert call(port, "GET", FEDERATE_PATH)["version"] == 1
        return measured(proc, port, FEDERATE_PATH, args)
    finally:
        stop(proc)


def mlflow_row(pg: str, args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    # a database of its own: run_database_uri keeps one per server URI, so ask for another
    separate = pg + ("&" if "?" in pg else "?") + "application_name=bench-mlflow"
    uri = run_database_uri(separate).replace("postgresql+psycopg://", "postgresql://", 1)
    port = free_port()
    env = {
        **os.environ,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "PYTHONPATH": "",
    }
    mlflow = str(Path(args.mlflow_python).parent / "mlflow")
    cmd = [
        mlflow,
        "server",
        "--backend-store-uri",
        uri,
        "--default-artifact-root",
        str(workdir / "mlflow-artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(args.workers),
    ]
    proc = start(cmd, env)
    try:
        wait_up(port, "/health", proc, deadline_s=300)
        call(port, "POST", "/api/2.0/mlflow/registered-models/create", {"name": "m"})
        call(
            port,
            "POST",
            "/api/2.0/mlflow/model-versions/create",
            {"name": "m", "source": "s3://bench-bucket/models/m/1"},
        )
        assert call(port, "GET", MLFLOW_PATH)["model_version"]["version"] == "1"
        return measured(proc, port, MLFLOW_PATH, args)
    finally:
        stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--mlflow-python", default=str(HERE / ".venv" / "bin" / "python"))
    parser.add_argument("--no-mlflow", action="store_true")
    args = parser.parse_args()
    import tempfile

    workdir = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    rows: dict[str, dict[str, float]] = {}
    try:
        rows["federate serve"] = federate_row(args.pg, args, workdir)
        if not args.no_mlflow:
            rows["mlflow server"] = mlflow_row(args.pg, args, workdir)
    finally:
        drop_run_databases()
    print(
        f"get-model-version, {args.clients} clients, {args.seconds:g} s, "
        f"{args.workers} workers each, PostgreSQL"
    )
    print(
        f"{'server':<16}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'not 200':>10}"
        f"{'server CPU ms/req':>19}{'client CPU s':>14}{'wall s':>8}"
    )
    for name, row in rows.items():
        print(
            f"{name:<16}{row['rps']:>10.0f}{row['p50_ms']:>10.1f}{row['p99_ms']:>10.1f}"
            f"{row['errors']:>10.0f}{1000 * row['server_cpu_s'] / row['requests']:>19.2f}"
            f"{row['client_cpu_s']:>14.2f}{row['wall_s']:>8.1f}"
        )
    print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()}")
    if len(rows) == 2:
        ratio = rows["federate serve"]["rps"] / rows["mlflow server"]["rps"]
        print(f"federate serve / mlflow server: {ratio:.2f}x requests per second")


if __name__ == "__main__":
    main()
