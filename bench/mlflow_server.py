"""Benchmark: ``models:/m@champion`` from a real ``mlflow server --serve-artifacts``,
federate against MLflow's own ``mlflow.artifacts.download_artifacts``, cold and cached.

One server (``--workers 4``, MLflow's default; SQLite backend, artifacts in a local
directory; started by federate's test kit; ``FEDERATE_MLFLOW_SERVER`` names the
``mlflow`` executable, else ``mlflow`` on ``PATH``) holds one version of model ``m``,
alias ``champion``: a tree of one large file and many small ones, logged to a run with
MLflow's client. Then, each in a fresh process of its own (the library imported before
the clock starts; wall and CPU seconds of the download call, all threads, from
``getrusage``):

- MLflow cold: ``mlflow.artifacts.download_artifacts("models:/m@champion", dst_path=dst)``
  with ``MLFLOW_TRACKING_URI`` = the server (MLflow has no cache: every run is cold);
- federate cold: ``federate.download(uri, dst)`` with an empty cache (a fresh
  ``FEDERATE_HOME``) and ``FEDERATE_REGISTRY_URI`` = the server;
- federate cached, into a fresh ``dst``: the cache's files copied there (reflinks where
  the filesystem can, copies on ext4);
- federate cached, no ``dst``: ``federate.download(uri)`` returns the cache's path.

A first round is untimed: it checks each contender's bytes against the logged tree and
writes the bytecode of both libraries (into the work directory, ``PYTHONPYCACHEPREFIX``;
an installed package has its bytecode, a ``PYTHONDONTWRITEBYTECODE`` environment would
otherwise recompile every module a download imports, on the clock).

The contenders alternate round robin (the cold pair's order rotates each round), with
``os.sync()`` before every run so one run's dirty pages are not the next one's cost; the
best and the median of ``--runs`` are printed, and the ratios MLflow/federate. Each
download's bytes are compared with the logged tree once. The server, the clients and the
disk share the machine: read the ratios. Timings are printed, never asserted.

    python bench/mlflow_server.py            # 1 GiB + 200 small files
    python bench/mlflow_server.py --quick    # 128 MiB + 50 small files

It runs in the interpreter it is started with, which needs MLflow's client (``mlflow``
or ``mlflow-skinny``) and federate (this checkout wins: ``PYTHONPATH`` is set to it for
the children).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

URI = "models:/m@champion"
MiB = 1024 * 1024
#: the issue's goals
GOAL_COLD_RATIO, GOAL_CACHED_S = 2.0, 0.2

# A child: import the library (untimed), download once, print wall and CPU seconds.
_CHILD = """
import json, resource, sys, time
kind, uri, dst = sys.argv[1], sys.argv[2], sys.argv[3] or None
if kind == "mlflow":
    import mlflow.artifacts
    def run():
        return mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=dst)
else:
    import federate
    def run():
        return federate.download(uri, dst, progress=False)
before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
out = run()
wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
print(json.dumps({"wall": wall, "cpu": cpu, "out": out}))
"""


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def make_tree(root: Path, big_mib: int, small: int) -> None:
    """``weights.bin`` of ``big_mib`` MiB and ``small`` files of 1-16 KiB in subdirectories."""
    root.mkdir(parents=True)
    with open(root / "weights.bin", "wb") as out:
        for _ in range(big_mib):
            out.write(os.urandom(MiB))
    for i in range(small):
        sub = root / "files" / f"part{i % 10}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{i}.json").write_bytes(os.urandom(1024 * (1 + i % 16)))
    (root / "MLmodel").write_text("artifact_path: model\nflavors: {}\n")


def digests(root: Path) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            h = hashlib.blake2b(digest_size=16)
            with open(path, "rb") as f:
                while chunk := f.read(4 * MiB):
                    h.update(chunk)
            out[path.relative_to(root).as_posix()] = h.hexdigest()
    return out


def group_cpu(pgid: int) -> float:
    """CPU seconds so far (user + system) of every live process in process group ``pgid``
    (the server started in a session of its own: its supervisor and workers); from /proc
    (Linux), else 0."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields[0] is the state: pgrp is the 5th stat field
            total += sum(int(v) for v in fields[11:13]) / tick
    return total


def child(kind: str, dst: Path | None, env: dict[str, str]) -> dict[str, Any]:
    from federate.testing.mlflow_server import run_script

    args = (kind, URI, str(dst) if dst else "")
    return dict(run_script(sys.executable, _CHILD, *args, env=env, timeout=1800))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="128 MiB + 50 small files")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--workers", type=int, default=4, help="the server's worker processes (MLflow's default)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    big_mib, small = (128, 50) if args.quick else (1024, 200)

    from federate.testing.mlflow_server import (
        LOG_VERSION,
        find_mlflow,
        run_script,
        start_mlflow_server,
        stop_mlflow_server,
    )

    executable = find_mlflow()
    if executable is None:
        sys.exit("no mlflow server: set FEDERATE_MLFLOW_SERVER to an mlflow executable")
    work = Path(tempfile.mkdtemp(prefix="federate-bench-mlflow-"))
    server = None
    try:
        log(f"work directory {work}; tree: {big_mib} MiB + {small} small files")
        make_tree(work / "src", big_mib, small)
        expected = digests(work / "src")
        # the test kit starts one worker; a later --workers wins
        server = start_mlflow_server(work / "server", executable, "--workers", str(args.workers))
        base = {
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("MLFLOW_", "FEDERATE_")) and k != "PYTHONDONTWRITEBYTECODE"
            },
            "MLFLOW_TRACKING_URI": server.url,
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "true",
            "FEDERATE_REGISTRY_URI": server.url,
            # bytecode as an installed package has it (written by the warm-up round)
            "PYTHONPYCACHEPREFIX": str(work / "pycache"),
            "PYTHONPATH": os.pathsep.join(
                [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
        }
        start = time.perf_counter()
        run_script(sys.executable, LOG_VERSION, str(work / "src"), "m", "champion", env=base)
        log(f"logged and registered with MLflow's client in {time.perf_counter() - start:.1f} s")

        samples: dict[str, list[dict[str, float]]] = {}
        checked: set[str] = set()

        def measure(label: str, kind: str, dst: Path | None, home: Path, warm: bool) -> str:
            os.sync()
            before = group_cpu(server.process.pid)
            got = child(kind, dst, {**base, "FEDERATE_HOME": str(home)})
            server_s = group_cpu(server.process.pid) - before
            if not warm:
                samples.setdefault(label, []).append(
                    {"wall": got["wall"], "cpu": got["cpu"], "server": server_s}
                )
            out = Path(str(got["out"]))
            if label not in checked:
                files = digests(out)
                extra = sorted(set(files) - set(expected))
                if {k: files.get(k) for k in expected} != expected:
                    raise SystemExit(f"{label}: the downloaded bytes differ from the tree")
                if extra:
                    log(f"{label}: also wrote {extra}")
                checked.add(label)
            what = (
                "warm-up"
                if warm
                else f"{got['wall']:.2f} s wall, {got['cpu']:.2f} s CPU, "
                f"server {server_s:.2f} s CPU"
            )
            log(f"{label}: {what}")
            return str(out)

        # round 0 is the untimed warm-up (bytecode, server caches) that checks the bytes
        for i in range(args.runs + 1):
            home = work / f"home{i}"
            cold = [("MLflow cold", "mlflow"), ("federate cold", "federate")]
            for label, kind in cold if i % 2 else cold[::-1]:
                dst = work / "dst"
                measure(label, kind, dst, home, i == 0)
                shutil.rmtree(dst)
            measure("federate cached, into dst", "federate", work / "dst", home, i == 0)
            shutil.rmtree(work / "dst")
            measure("federate cached, cache path", "federate", None, home, i == 0)
            shutil.rmtree(home)
        report(samples, big_mib, small)
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        if server is not None:
            stop_mlflow_server(server)
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def report(samples: dict[str, list[dict[str, float]]], big_mib: int, small: int) -> None:
    size = big_mib + small * 8.5 / 1024
    runs = len(samples["MLflow cold"])
    print(f"\nmodels:/m@champion: {big_mib} MiB + {small} small files, {runs} runs")
    print(
        f"{'contender':<28} {'best s':>7} {'median s':>9} {'MiB/s':>7} {'CPU s':>6}"
        f" {'server CPU s':>13}"
    )
    for label, got in samples.items():
        walls = [s["wall"] for s in got]
        best, median = min(walls), statistics.median(walls)
        cpu = statistics.median(s["cpu"] for s in got)
        served = statistics.median(s["server"] for s in got)
        print(
            f"{label:<28} {best:>7.3f} {median:>9.3f} {size / best:>7.0f} {cpu:>6.2f}"
            f" {served:>13.2f}"
        )
    mlflow = min(s["wall"] for s in samples["MLflow cold"])
    mlflow_median = statistics.median(s["wall"] for s in samples["MLflow cold"])
    print(f"\n{'MLflow cold / ...':<28} {'best':>7} {'median':>9}  goal")
    for label, got in samples.items():
        if label == "MLflow cold":
            continue
        walls = [s["wall"] for s in got]
        best, median = min(walls), statistics.median(walls)
        goal = (
            f">={GOAL_COLD_RATIO:g}x " + ("met" if mlflow / best >= GOAL_COLD_RATIO else "MISSED")
            if "cold" in label
            else f"<{GOAL_CACHED_S:g} s " + ("met" if best < GOAL_CACHED_S else "MISSED")
        )
        print(f"{label:<28} {mlflow / best:>6.1f}x {mlflow_median / median:>8.1f}x  {goal}")


if __name__ == "__main__":
    main()
