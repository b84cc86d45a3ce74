"""Copy one model version from an S3 registry to an Azure one: federate vs MLflow's path.

The source is a SQLite registry whose artifact root is in S3 (moto's server, in a child
process of its own); the destination a SQLite registry whose root is in Azure (Azurite).
The version is one large file and many small ones (1 GiB + 200 x 256 KiB; ``--quick``:
128 MiB + 50 files).

- federate: ``federate.copy("models:/big/1", "company")`` with a cold cache: resolve,
  fetch into the cache (verified), reserve the destination version, upload, finish.
- MLflow (mlflow-skinny, this interpreter): ``copy_model_version`` copies only the
  registry entry (the new version points at the source's files), so moving the files
  between stores is the caller's: ``mlflow.artifacts.download_artifacts`` of the source
  version's S3 location into a temporary directory, then the upload MLflow's artifact
  repository for ``wasbs://`` does (``AzureBlobArtifactRepository.log_artifacts``), then
  ``MlflowClient.create_model_version`` in a destination SQLite registry pointing at it.

One run of each (they move the same bytes), MLflow first; wall and CPU seconds of this
process (both clients run here), the ratio, where each copy's wall and CPU time went (federate:
resolve and lookups, fetch into the cache, reserving the destination version, upload and
its check, the registry writes that finish it; MLflow: download, upload, register), and
the CPU seconds each emulator spent serving each copy (moto and Azurite run on this
machine: on a small one their CPU is most of the work, and both copies push the same
bytes through them). The load average is printed: on a busy machine, read the figures
as such.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from harness import azurite, log, moto_s3, server_cpu, store_bench_env, tree_digests

MiB = 1024 * 1024
BUCKET = "bench"


def make_tree(root: Path, big: int, small: int, small_size: int) -> None:
    (root / "shards").mkdir(parents=True)
    with open(root / "weights.bin", "wb") as f:
        for _ in range(big // (64 * MiB) or 1):
            f.write(os.urandom(min(big, 64 * MiB)))
    for i in range(small):
        (root / "shards" / f"s{i:03d}.bin").write_bytes(os.urandom(small_size))
    (root / "MLmodel").write_text("flavors:\n  python_function: {}\n")


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    fn()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


class Phases:
    """Wall and CPU seconds (this process's, every thread) between named marks:
    ``mark("fetch")`` ends the phase before it."""

    def __init__(self) -> None:
        self.restart()

    @staticmethod
    def _cpu() -> float:
        used = resource.getrusage(resource.RUSAGE_SELF)
        return used.ru_utime + used.ru_stime

    def restart(self) -> None:
        self.last, self.last_cpu = time.perf_counter(), self._cpu()
        self.spent: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def mark(self, ended: str) -> None:
        now, cpu = time.perf_counter(), self._cpu()
        self.spent[ended] = self.spent.get(ended, 0.0) + now - self.last
        self.cpu[ended] = self.cpu.get(ended, 0.0) + cpu - self.last_cpu
        self.last, self.last_cpu = now, cpu

    def line(self) -> str:
        return ", ".join(
            f"{name} {secs:.2f} ({self.cpu[name]:.2f} CPU)" for name, secs in self.spent.items()
        )


def federate_phases(phases: Phases) -> None:
    """Mark federate.copy's phases: wrap (for this run) the copy's fetch and upload steps,
    which it calls by name; what comes before the fetch is resolving and looking up
    earlier copies, between the two reserving the destination version, after the
    upload the registry writes that finish it."""
    from federate.jobs import copy as copy_module

    def between(fn: Callable[..., object], before: str, after: str) -> Callable[..., object]:
        def marked(*args: object, **kwargs: object) -> object:
            phases.mark(before)
            try:
                return fn(*args, **kwargs)
            finally:
                phases.mark(after)

        return marked

    copy_module._fetch = between(copy_module._fetch, "resolve", "fetch")  # type: ignore[assignment]
    copy_module._upload = between(copy_module._upload, "reserve", "upload")  # type: ignore[assignment]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="128 MiB + 50 files")
    args = parser.parse_args()
    big, small, small_size = (
        (128 * MiB, 50, 256 * 1024) if args.quick else (1024 * MiB, 200, 256 * 1024)
    )
    work = Path(tempfile.mkdtemp(prefix="federate-bench-copy-"))
    os.environ.update(store_bench_env(work))
    try:
        with moto_s3(work) as s3_env, azurite(work) as az_env:
            os.environ.update(s3_env | az_env)
            run(work, big, small, small_size)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, big: int, small: int, small_size: int) -> None:
    import boto3
    from azure.storage.blob import BlobServiceClient

    import federate
    from federate.testing.azure import DEV_ACCOUNT

    boto3.client("s3").create_bucket(Bucket=BUCKET)
    BlobServiceClient.from_connection_string(
        os.environ["AZURE_STORAGE_CONNECTION_STRING"]
    ).create_container(BUCKET)
    azure_root = f"wasbs://{BUCKET}@{DEV_ACCOUNT}.blob.core.windows.net"
    os.chdir(work)
    Path("federate.toml").write_text(
        'default_registry = "team"\n'
        "[registries.team]\n"
        f'uri = "sqlite:///{work / "team.db"}"\n'
        f'artifact_root = "s3://{BUCKET}/team"\n'
        "[registries.company]\n"
        f'uri = "sqlite:///{work / "company.db"}"\n'
        f'artifact_root = "{azure_root}/federate"\n'
    )
    src = work / "src"
    make_tree(src, big, small, small_size)
    expected = tree_digests(src)
    total = sum(p.stat().st_size for p in src.rglob("*") if p.is_file())
    log(f"{total / MiB:.0f} MiB in {len(expected)} files; registering in S3")
    source = federate.register(src, "big")
    shutil.rmtree(src)

    # -- MLflow's path: download the source's files, upload them, register ---------------
    import mlflow
    from mlflow import MlflowClient
    from mlflow.store.artifact.azure_blob_artifact_repo import AzureBlobArtifactRepository

    mlflow_dst = f"{azure_root}/mlflow/big/1"
    client = MlflowClient(registry_uri=f"sqlite:///{work / 'mlflow-company.db'}")
    client.create_registered_model("big")  # creates the schema: not timed

    mlflow_phases = Phases()

    def mlflow_copy() -> None:
        mlflow_phases.restart()
        with tempfile.TemporaryDirectory(dir=work) as tmp:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=source.download_uri, dst_path=tmp
            )
            mlflow_phases.mark("download")
            AzureBlobArtifactRepository(mlflow_dst).log_artifacts(local)
            mlflow_phases.mark("upload")
        client.create_model_version("big", mlflow_dst)
        mlflow_phases.mark("register")

    load_before = os.getloadavg()
    log("MLflow: download_artifacts + AzureBlobArtifactRepository.log_artifacts")
    servers = server_cpu()
    mlflow_wall, mlflow_cpu = timed(mlflow_copy)
    mlflow_servers, servers = _spent(servers), server_cpu()

    log("federate: federate.copy (cold cache)")
    copied: list[federate.ModelVersion] = []
    fed_phases = Phases()
    federate_phases(fed_phases)

    def federate_copy() -> None:
        fed_phases.restart()
        copied.append(federate.copy("models:/big/1", "company", progress=False))
        fed_phases.mark("finish")

    fed_wall, fed_cpu = timed(federate_copy)
    fed_servers = _spent(servers)
    load_after = os.getloadavg()

    log("checking both copies' bytes in Azure")
    for label, uri in (("federate", copied[0].download_uri), ("MLflow", mlflow_dst)):
        out = work / f"check-{label}"
        federate.download(uri, out, progress=False)
        if tree_digests(out) != expected:
            raise SystemExit(f"{label}'s copy in Azure differs from the source")
        shutil.rmtree(out)

    print(f"copy of {total / MiB:.0f} MiB in {len(expected)} files, S3 (moto) -> Azure (Azurite)")
    names = sorted(fed_servers.keys() | mlflow_servers.keys())
    print(f"{'':10}{'wall s':>10}{'CPU s':>10}" + "".join(f"{n + ' CPU s':>14}" for n in names))
    for label, wall, cpu, spent in (
        ("federate", fed_wall, fed_cpu, fed_servers),
        ("MLflow", mlflow_wall, mlflow_cpu, mlflow_servers),
    ):
        cells = "".join(f"{spent.get(n, 0.0):14.2f}" for n in names)
        print(f"{label:10}{wall:10.2f}{cpu:10.2f}{cells}")
    print(f"federate wall (CPU) s by phase: {fed_phases.line()}")
    print(f"MLflow wall (CPU) s by phase:   {mlflow_phases.line()}")
    print(
        "load average (1 min) before/after: "
        f"{load_before[0]:.2f}/{load_after[0]:.2f} on {os.cpu_count()} CPUs"
    )
    verdict = "met" if mlflow_wall / fed_wall >= 2 else "MISSED"
    print(
        f"MLflow/federate: wall {mlflow_wall / fed_wall:.2f}x (goal >= 2x: {verdict}), "
        f"CPU {mlflow_cpu / fed_cpu:.2f}x"
    )


def _spent(before: dict[str, float]) -> dict[str, float]:
    """Each emulator's CPU seconds since ``before`` (a :func:`server_cpu` reading)."""
    return {name: secs - before.get(name, 0.0) for name, secs in server_cpu().items()}


if __name__ == "__main__":
    main()
