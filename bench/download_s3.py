"""Benchmark: downloading a model directory from S3 (moto server) with federate, with
boto3's TransferManager (the SDK's own best call) and with MLflow's S3 artifact repository.

The moto server runs in a child process on 127.0.0.1 and a free port, so the clients do
not share an interpreter (or its GIL) with it. Every contender downloads the same prefix
into a fresh directory; runs are interleaved and the best of ``--runs`` counts. moto is a
Python server: on a small machine it is usually the bottleneck, so the ratios say more
than the absolute rates. Timings are printed, never asserted.

    python bench/download_s3.py            # 1 x 128 MB + 32 x 2 MB
    python bench/download_s3.py --quick    # 1 x 32 MB + 8 x 1 MB

Like resolve.py, it re-executes itself in bench/.venv (created on first use with MLflow,
boto3, moto and an editable federate), so MLflow never enters the test interpreter.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENV = HERE / ".venv"
VENV_PY = VENV / "bin" / "python"
NEEDS = ["mlflow>=3,<4", "boto3>=1.28", "moto[server]>=5"]
BUCKET = "bench"
PREFIX = "models/m/1"
MB = 1024 * 1024


def ensure_venv() -> None:
    """Re-exec under bench/.venv, creating it or adding what this script needs."""
    if sys.prefix != sys.base_prefix and Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not VENV_PY.exists():
        log(f"creating {VENV} (takes a few minutes, once)")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    probe = "import mlflow, boto3, moto.server, federate"
    if subprocess.run([str(VENV_PY), "-c", probe], capture_output=True).returncode != 0:
        pip = [str(VENV_PY), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, *NEEDS, "-e", str(REPO)], check=True)
    os.execv(str(VENV_PY), [str(VENV_PY), str(Path(__file__).resolve()), *sys.argv[1:]])


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code = (
        "import logging, sys, threading; logging.disable(logging.INFO);"
        "from moto.server import ThreadedMotoServer;"
        f"s = ThreadedMotoServer(ip_address='127.0.0.1', port={port}, verbose=False); s.start();"
        "sys.stdin.read(); s.stop()"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=2).close()
            return proc, endpoint
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise SystemExit("moto server did not start") from None
            time.sleep(0.1)


def fill(client, big_mb: int, small: int, small_mb: int) -> int:  # type: ignore[no-untyped-def]
    from boto3.s3.transfer import TransferConfig

    client.create_bucket(Bucket=BUCKET)
    with tempfile.TemporaryDirectory() as tmp:
        files = {"weights.bin": big_mb * MB} | {
            f"shards/s{i:03d}.bin": small_mb * MB for i in range(small)
        }
        for name, size in files.items():
            path = Path(tmp) / "f"
            path.write_bytes(os.urandom(size))
            client.upload_file(str(path), BUCKET, f"{PREFIX}/{name}", Config=TransferConfig())
    return sum(files.values())


def with_federate(dst: Path) -> None:
    import federate

    federate.download(f"s3://{BUCKET}/{PREFIX}", str(dst))


def with_boto3(dst: Path) -> None:
    import boto3
    from boto3.s3.transfer import TransferConfig, create_transfer_manager

    client = boto3.client("s3")
    keys = [
        obj["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=PREFIX)
        for obj in page.get("Contents", ())
    ]
    with create_transfer_manager(client, TransferConfig(max_concurrency=16)) as manager:
        for key in keys:
            target = dst / key[len(PREFIX) + 1 :]
            target.parent.mkdir(parents=True, exist_ok=True)
            manager.download(BUCKET, key, str(target))


def with_mlflow(dst: Path) -> None:
    from mlflow.store.artifact.s3_artifact_repo import S3ArtifactRepository

    dst.mkdir(parents=True)
    S3ArtifactRepository(f"s3://{BUCKET}/{PREFIX}").download_artifacts("", str(dst))


def timed(fn: Callable[[Path], None], work: Path, total: int) -> float:
    dst = work / "out"
    shutil.rmtree(dst, ignore_errors=True)
    start = time.perf_counter()
    fn(dst)
    seconds = time.perf_counter() - start
    got = sum(p.stat().st_size for p in dst.rglob("*") if p.is_file())
    if got != total:
        raise SystemExit(f"{fn.__name__} wrote {got} bytes, expected {total}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    ensure_venv()
    big, small, small_mb = (32, 8, 1) if args.quick else (128, 32, 2)
    server, endpoint = start_moto()
    work = Path(tempfile.mkdtemp(prefix="federate-bench-s3-"))
    os.environ.update(
        {
            "FEDERATE_S3_ENDPOINT_URL": endpoint,
            "MLFLOW_S3_ENDPOINT_URL": endpoint,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "FEDERATE_HOME": str(work / "home"),
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "true",
        }
    )
    try:
        import boto3

        total = fill(boto3.client("s3"), big, small, small_mb)
        log(f"moto at {endpoint}; {total / MB:.0f} MB in {small + 1} files")
        contenders = {"federate": with_federate, "boto3": with_boto3, "mlflow": with_mlflow}
        best = {name: float("inf") for name in contenders}
        for run in range(args.runs):
            for name, fn in contenders.items():
                seconds = timed(fn, work, total)
                best[name] = min(best[name], seconds)
                log(f"run {run + 1} {name}: {seconds:.2f}s")
    finally:
        server.communicate(b"", timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{'contender':<10} {'best s':>8} {'MB/s':>8}  federate speed-up")
    for name, seconds in best.items():
        ratio = "" if name == "federate" else f"{seconds / best['federate']:.2f}x"
        print(f"{name:<10} {seconds:>8.2f} {total / MB / seconds:>8.1f}  {ratio}")


if __name__ == "__main__":
    main()
