"""Benchmark: downloading a model directory from S3, Azure Blob and GCS emulators with
federate, with each store's own SDK at its best, and with MLflow 3's artifact repository.

Stores, one after the other, each started by federate's test kit (``federate.testing``)
on 127.0.0.1 and a free port: moto's S3 server (in a child process of its own, so it
shares no GIL with the clients), Azurite (Node) and gcp-storage-emulator (Python). The
same tree (one large file plus small ones, written with federate's uploader, as
``federate.register`` stores a version) is downloaded into a fresh directory by:

- federate: ``federate.download(<store URI>, dst)``, which verifies every file;
- the SDK's best call: boto3's TransferManager, ``download_blob(max_concurrency=16)``
  blob by blob, GCS's ``transfer_manager`` (chunks of the large file, many small files)
  on 16 threads;
- MLflow: ``<Store>ArtifactRepository(uri).download_artifacts("", dst)``.

Each contender first downloads once untimed (imports, connections) and its bytes are
compared with the source; then timed runs are interleaved (the order rotates each run);
the best of ``--runs`` counts, the median and the client's CPU time are shown too. The
emulators are single-process servers on the same machine, so they, not the network or
the clients, usually set the pace: read the ratios, not the absolute rates. Timings are
printed, never asserted.

    python bench/download_stores.py                 # 1 x 128 MB + 32 x 2 MB per store
    python bench/download_stores.py --quick         # 1 x 32 MB + 8 x 1 MB
    python bench/download_stores.py --stores gcs    # some stores only

Like resolve.py, it re-executes itself in bench/.venv (created on first use with MLflow,
the cloud SDKs, the emulators and an editable federate), so MLflow never enters the test
interpreter. Azurite is found as the test kit finds it (``FEDERATE_AZURITE``, ``PATH``,
``.ci/node``).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import importlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from harness import (
    Sample,
    azurite,
    best,
    ensure_venv,
    log,
    median,
    moto_s3,
    round_robin,
    store_bench_env,
    timed_call,
    tree_digests,
)

#: what this script needs in bench/.venv beside MLflow and federate
NEEDS = [
    "boto3>=1.28",
    "moto[server]>=5",
    "azure-storage-blob>=12.19",
    "google-cloud-storage>=2.14",
    "gcp-storage-emulator>=2024.8",
    "pytest>=8",  # federate.testing's modules are pytest plugins
]
#: importable in this interpreter (with MLflow): no venv needed, the script runs here
MODULES = ["boto3", "moto", "azure.storage.blob", "google.cloud.storage", "gcp_storage_emulator"]
BUCKET = "bench"
PREFIX = "models/m/1"
MB = 1024 * 1024
#: threads the SDK rows use; federate's default (FEDERATE_MAX_WORKERS) is also 16
SDK_CONCURRENCY = 16
#: the issue's goals: at least the SDK's rate, at least 1.2x MLflow's
GOAL_SDK, GOAL_MLFLOW = 1.0, 1.2

Download = Callable[[Path], None]


@dataclass
class Store:
    name: str
    root: str  # the same URI for federate and MLflow
    sdk: Download
    mlflow_repo: str  # <module>.<class> in mlflow.store.artifact

    @property
    def contenders(self) -> dict[str, Download]:
        return {"federate": self.federate, "sdk": self.sdk, "mlflow": self.mlflow}

    def federate(self, dst: Path) -> None:
        import federate

        federate.download(self.root, str(dst), progress=False)

    def mlflow(self, dst: Path) -> None:
        module, _, name = self.mlflow_repo.rpartition(".")
        repo_class = getattr(importlib.import_module(f"mlflow.store.artifact.{module}"), name)
        dst.mkdir(parents=True)
        repo_class(self.root).download_artifacts("", str(dst))


# -- the emulators, started by federate's test kit -----------------------------------------
#
# Each context manager yields the environment that points every client at the emulator.


@contextlib.contextmanager
def gcs_emulator(work: Path) -> Iterator[dict[str, str]]:
    from federate.testing.gcs import EMULATOR_HOST_ENV, start_gcs_emulator, stop_gcs_emulator

    running = start_gcs_emulator()
    try:
        yield {EMULATOR_HOST_ENV: running.url}
    finally:
        stop_gcs_emulator(running)


# -- a per-connection rate cap in front of an emulator ---------------------------------------
#
# Cloud stores serve each connection at a limited rate (tens of MB/s); emulators on the
# same machine do not, so on them the server's own CPU sets the pace and parallel
# connections buy nothing. With ``--cap`` every emulator sits behind nginx with
# ``limit_rate`` per connection, as issue 4's bench/download.py does for plain http.

_NGINX_PROXY = """
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_max_body_size 0;
    upstream emulator {{ server 127.0.0.1:{upstream}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://emulator;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_request_buffering off;
            proxy_buffers 64 64k;
            proxy_max_temp_file_size 0;
            proxy_read_timeout 300s;
            limit_rate {rate}k;
        }}
    }}
}}
"""
_LOCAL_URL = re.compile(r"http://(?:127\.0\.0\.1|localhost):(\d+)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def rate_capped(env: dict[str, str], mb_per_s: float, work: Path) -> Iterator[dict[str, str]]:
    """``env`` with the emulator's address replaced by nginx's, which relays it at
    ``mb_per_s`` per connection."""
    ports = {m.group(1) for value in env.values() for m in _LOCAL_URL.finditer(value)}
    if len(ports) != 1:
        raise SystemExit(f"--cap: expected one emulator address in {sorted(env)}")
    (upstream,) = ports
    port = _free_port()
    root = Path(tempfile.mkdtemp(dir=work))
    conf = root / "nginx.conf"
    rate = int(mb_per_s * MB / 1024)
    conf.write_text(_NGINX_PROXY.format(root=root, upstream=upstream, port=port, rate=rate))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    proc = subprocess.Popen([nginx, "-c", str(conf), "-p", str(root)])
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("nginx (for --cap) did not start") from None
                time.sleep(0.05)
        yield {k: _LOCAL_URL.sub(f"http://127.0.0.1:{port}", v) for k, v in env.items()}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# -- contenders per store -------------------------------------------------------------------


def s3_store() -> Store:
    root = f"s3://{BUCKET}/{PREFIX}"

    def sdk(dst: Path) -> None:
        import boto3
        from boto3.s3.transfer import TransferConfig, create_transfer_manager

        client = boto3.client("s3")
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=PREFIX)
        keys = [obj["Key"] for page in pages for obj in page.get("Contents", ())]
        config = TransferConfig(max_concurrency=SDK_CONCURRENCY)
        with create_transfer_manager(client, config) as manager:
            for key in keys:
                manager.download(BUCKET, key, str(_target(dst, key)))

    return Store("s3", root, sdk, "s3_artifact_repo.S3ArtifactRepository")


def azure_store() -> Store:
    from federate.testing.azure import DEV_ACCOUNT

    root = f"wasbs://{BUCKET}@{DEV_ACCOUNT}.blob.core.windows.net/{PREFIX}"

    def sdk(dst: Path) -> None:
        from azure.storage.blob import BlobServiceClient

        service = BlobServiceClient.from_connection_string(
            os.environ["AZURE_STORAGE_CONNECTION_STRING"]
        )
        container = service.get_container_client(BUCKET)
        for blob in container.list_blobs(name_starts_with=f"{PREFIX}/"):
            with open(_target(dst, blob.name), "wb") as out:
                container.download_blob(blob.name, max_concurrency=SDK_CONCURRENCY).readinto(out)

    return Store("azure", root, sdk, "azure_blob_artifact_repo.AzureBlobArtifactRepository")


def gcs_store() -> Store:
    root = f"gs://{BUCKET}/{PREFIX}"

    def sdk(dst: Path) -> None:
        from google.cloud import storage
        from google.cloud.storage import transfer_manager

        blobs = list(storage.Client().list_blobs(BUCKET, prefix=f"{PREFIX}/"))
        chunk = 32 * MB  # transfer_manager's default chunk size
        small = []
        for blob in blobs:
            target = _target(dst, blob.name)
            if blob.size > chunk:
                transfer_manager.download_chunks_concurrently(
                    blob,
                    str(target),
                    worker_type=transfer_manager.THREAD,
                    max_workers=SDK_CONCURRENCY,
                )
            else:
                small.append((blob, str(target)))
        transfer_manager.download_many(
            small,
            worker_type=transfer_manager.THREAD,
            max_workers=SDK_CONCURRENCY,
            raise_exception=True,
        )

    return Store("gcs", root, sdk, "gcs_artifact_repo.GCSArtifactRepository")


def _target(dst: Path, key: str) -> Path:
    target = dst / key[len(PREFIX) + 1 :]
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def make_container(store: str) -> None:
    """The bucket or container the tree goes into."""
    if store == "s3":
        import boto3

        boto3.client("s3").create_bucket(Bucket=BUCKET)
    elif store == "azure":
        from azure.storage.blob import BlobServiceClient

        conn = os.environ["AZURE_STORAGE_CONNECTION_STRING"]
        BlobServiceClient.from_connection_string(conn).create_container(BUCKET)
    else:
        from google.cloud import storage

        storage.Client().create_bucket(BUCKET)


# -- data, timing, report -------------------------------------------------------------------


def make_tree(src: Path, big_mb: int, small: int, small_mb: int) -> dict[str, str]:
    """The model directory; returns relative path -> sha256."""
    files = {"weights.bin": big_mb * MB} | {
        f"shards/s{i:03d}.bin": small_mb * MB for i in range(small)
    }
    digests = {}
    for name, size in files.items():
        path = src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = os.urandom(size)
        path.write_bytes(data)
        digests[name] = hashlib.sha256(data).hexdigest()
    return digests


def timed(fn: Download, dst: Path) -> Sample:
    """One download into a fresh ``dst``; the client's CPU is this process's (every emulator
    runs in a child process of its own, so none of its work is counted)."""
    shutil.rmtree(dst, ignore_errors=True)
    os.sync()  # the previous run's files and their removal are on disk before the clock starts
    return timed_call(lambda: fn(dst))


def bench_store(
    store: Store, src: Path, work: Path, expected: dict[str, str], runs: int
) -> dict[str, list[Sample]]:
    from federate.plugins.manager import get_plugin_host

    make_container(store.name)
    get_plugin_host().open_repo(store.root).upload_dir(str(src))
    dst = work / "out"
    for name, fn in store.contenders.items():  # untimed: imports, connections, a bytes check
        timed(fn, dst)
        if tree_digests(dst) != expected:
            raise SystemExit(f"{store.name}/{name} did not download the same bytes")
    contenders = {name: functools.partial(timed, fn, dst) for name, fn in store.contenders.items()}
    samples = round_robin(
        contenders,
        runs,
        after=lambda name, got: log(f"{store.name} {name}: {got.seconds:.3f}s cpu {got.cpu:.3f}s"),
    )
    shutil.rmtree(dst, ignore_errors=True)
    return samples


def report(
    results: dict[str, dict[str, list[Sample]]], total: int, runs: int, cap: float | None
) -> None:
    mb = total / MB
    if cap:
        print(
            f"\nEvery connection capped at {cap:g} MB/s (nginx limit_rate in front of each "
            "emulator), as a cloud store serves one connection."
        )
    print(
        f"\n{mb:.0f} MB per download (1 large file + small ones); best and median of {runs} "
        f"interleaved runs;\n{os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.1f} "
        "at the end. The stores are emulators, each ONE server\nprocess (moto: Python; Azurite: "
        "Node; gcp-storage-emulator: Python, one request at a time)\non this same machine: "
        "they set the pace, not the clients.\n'cpu s' is the client "
        "process's own CPU time (median): federate's includes verifying\nevery file's checksum "
        "(Azure: MD5; GCS: CRC32C; S3: MD5 of single-part objects).\n"
    )
    print(
        f"{'store':<6} {'contender':<9} {'best s':>7} {'median s':>9} {'MB/s':>7} "
        f"{'cpu s':>6} {'best cpu':>8}"
    )
    for label, samples in results.items():
        for name, got in samples.items():
            fastest = best(got)
            print(
                f"{label:<6} {name:<9} {fastest.seconds:>7.3f} {median(got):>9.3f} "
                f"{mb / fastest.seconds:>7.1f} {median(got, 'cpu'):>6.3f} "
                f"{min(s.cpu for s in got):>8.3f}"
            )
    goals = f"goals: >={GOAL_SDK}x SDK, >={GOAL_MLFLOW}x MLflow (best runs)"
    print(
        "\nhow many times faster federate was (peer's time / federate's; cpu: peer's median "
        "cpu s / federate's)"
    )
    print(
        f"{'store':<6} {'vs SDK best':>11} {'median':>7} {'cpu':>6} "
        f"{'vs MLflow best':>14} {'median':>7} {'cpu':>6}  {goals}"
    )
    for label, samples in results.items():
        fed = samples["federate"]
        cells, met = [], []
        for peer, goal in (("sdk", GOAL_SDK), ("mlflow", GOAL_MLFLOW)):
            ratio = best(samples[peer]).seconds / best(fed).seconds
            cells += [
                ratio,
                median(samples[peer]) / median(fed),
                median(samples[peer], "cpu") / median(fed, "cpu"),
            ]
            met.append("met" if ratio >= goal else "missed")
        print(
            f"{label:<6} {cells[0]:>10.2f}x {cells[1]:>6.2f}x {cells[2]:>5.2f}x "
            f"{cells[3]:>13.2f}x {cells[4]:>6.2f}x {cells[5]:>5.2f}x  {' / '.join(met)}"
        )


Emulator = Callable[[Path], contextlib.AbstractContextManager[dict[str, str]]]
STORES: dict[str, tuple[Callable[[], Store], Emulator]] = {
    "s3": (s3_store, moto_s3),
    "azure": (azure_store, azurite),
    "gcs": (gcs_store, gcs_emulator),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 x 32 MB + 8 x 1 MB")
    parser.add_argument("--runs", type=int, default=3, help="runs per contender (default 3)")
    parser.add_argument("--stores", default="s3,azure,gcs", help="comma-separated subset")
    parser.add_argument(
        "--cap",
        type=float,
        default=None,
        metavar="MB_PER_S",
        help="serve each connection at most this fast (nginx limit_rate in front of each "
        "emulator), as cloud stores do; needs nginx",
    )
    args = parser.parse_args()
    chosen = [s.strip() for s in args.stores.split(",") if s.strip()]
    unknown = set(chosen) - set(STORES)
    if unknown:
        parser.error(f"unknown store(s) {sorted(unknown)}; choose from {sorted(STORES)}")
    ensure_venv(__file__, NEEDS, MODULES)
    big, small, small_mb = (32, 8, 1) if args.quick else (128, 32, 2)
    work = Path(tempfile.mkdtemp(prefix="federate-bench-stores-"))
    os.environ.update(store_bench_env(work))
    results = {}
    try:
        expected = make_tree(work / "src", big, small, small_mb)
        total = (big + small * small_mb) * MB
        log(f"{total / MB:.0f} MB in {small + 1} files; stores: {', '.join(chosen)}")
        for name in chosen:
            make_store, emulator = STORES[name]
            with contextlib.ExitStack() as stack:
                env = stack.enter_context(emulator(work))
                if args.cap:
                    env = stack.enter_context(rate_capped(env, args.cap, work))
                os.environ.update(env)
                log(f"{name}: emulator up, filling it")
                results[name] = bench_store(make_store(), work / "src", work, expected, args.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(results, total, args.runs, args.cap)


if __name__ == "__main__":
    main()
