"""Benchmark: federate vs MLflow 3.x at importing, resolving models:/ URIs and registering.

federate exists to be a fast client for what MLflow's client does slowly: it should import
in a fraction of the time, resolve an alias in a fraction of a millisecond, and resolve
``models:/<name>/latest`` with one indexed query where MLflow loads every version of the
model. This script measures both libraries in the same run, on the same registry contents
(each in its own SQLite file, since MLflow has its own schema), and prints the ratios.

MLflow is never installed into the interpreter that runs the tests: on first use the script
creates ``bench/.venv`` with ``mlflow>=3,<4`` and an editable federate, then re-runs itself
there. Each library's measurements run in a fresh worker process of their own, so neither
pays for the other's imports or garbage. Only public APIs of both libraries are called.

    python bench/resolve.py            # full run (5,000 versions; about a minute or two)
    python bench/resolve.py --quick    # smoke run with small numbers
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import warnings
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from harness import (
    bench_workdir,
    create_versions,
    ensure_venv,
    fmt_time,
    log,
    per_call,
    print_table,
    time_row,
)

FULL = dict(versions=5000, alias_iters=2000, latest_iters=50, create=500, import_runs=5)
QUICK = dict(versions=200, alias_iters=200, latest_iters=10, create=50, import_runs=3)


# -- import cost: a fresh interpreter per run ----------------------------------------------


def run_child(code: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of ``python -c code`` in a fresh process."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code])
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"python -c {code!r} failed with exit code {proc.returncode}")
    return wall, usage.ru_maxrss / 1024  # Linux reports KiB


def measure_import(module: str, runs: int) -> tuple[float, float]:
    run_child(f"import {module}")  # warm the OS cache and write .pyc files first
    samples = [run_child(f"import {module}") for _ in range(runs)]
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


# -- the two clients, behind the same small interface --------------------------------------


def federate_client(db: Path) -> SimpleNamespace:
    import federate

    uri = f"sqlite:///{db}"
    reg = federate.get_registry(uri)
    return SimpleNamespace(
        create_model=reg.create_registered_model,
        create_version=lambda name, src: reg.create_model_version(name, source=src).version,
        set_alias=reg.set_registered_model_alias,
        alias=lambda: federate.resolve("models:/m@champion", registry_uri=uri).download_uri,
        latest=lambda: federate.resolve("models:/big/latest", registry_uri=uri).version,
    )


def mlflow_client(db: Path) -> SimpleNamespace:
    from mlflow import MlflowClient

    uri = f"sqlite:///{db}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    warnings.simplefilter("ignore")  # get_latest_versions is deprecated, yet models:/ uses it

    def alias() -> str:
        mv = client.get_model_version_by_alias("m", "champion")
        return client.get_model_version_download_uri("m", mv.version)

    def latest() -> int:
        # what MLflow does for models:/big/latest: latest per stage, then the highest
        return max(int(mv.version) for mv in client.get_latest_versions("big"))

    return SimpleNamespace(
        create_model=client.create_registered_model,
        create_version=lambda name, src: int(client.create_model_version(name, src).version),
        set_alias=client.set_registered_model_alias,
        alias=alias,
        latest=latest,
    )


# -- worker: populate one registry and time the calls --------------------------------------


def worker(side: str, workdir: Path, sizes: dict[str, int]) -> dict[str, Any]:
    factory = federate_client if side == "federate" else mlflow_client
    client = factory(workdir / f"{side}.db")
    root = (workdir / "models").as_uri()

    create_versions(client, side, "m", 3, root)
    client.set_alias("m", "champion", 2)
    create_versions(client, side, "big", sizes["versions"], root)

    log(f"{side}: timing models:/m@champion x{sizes['alias_iters']}")
    alias = per_call(client.alias, sizes["alias_iters"], warmup=50)
    log(f"{side}: timing models:/big/latest x{sizes['latest_iters']}")
    latest = per_call(client.latest, sizes["latest_iters"], warmup=3)
    log(f"{side}: timing create_model_version x{sizes['create']}")
    create = create_versions(client, side, "fresh", sizes["create"], root) / sizes["create"]
    return {
        "alias": alias,
        "latest": latest,
        "create": create,
        # answers, so the driver can check both sides resolved the same thing
        "alias_answer": client.alias().rsplit("/", 2)[-2:],
        "latest_answer": client.latest(),
    }


def run_worker(side: str, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    out = workdir / f"{side}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", side]
    cmd += ["--workdir", str(workdir), "--versions", str(args.versions)]
    if args.quick:
        cmd.append("--quick")
    subprocess.run(cmd, check=True)
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small numbers, for a smoke run")
    parser.add_argument("--versions", type=int, help="versions of model 'big' (default 5000)")
    parser.add_argument("--worker", choices=["federate", "mlflow"], help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = dict(QUICK if args.quick else FULL)
    sizes["versions"] = args.versions = args.versions or sizes["versions"]

    if args.worker:
        result = worker(args.worker, args.workdir, sizes)
        (args.workdir / f"{args.worker}.json").write_text(json.dumps(result))
        return

    ensure_venv(__file__)
    started = time.perf_counter()
    workdir = bench_workdir("federate-bench-")
    try:
        log(f"import cost, median of {sizes['import_runs']} fresh interpreters each")
        baseline, _ = measure_import("sys", sizes["import_runs"])
        imports = {m: measure_import(m, sizes["import_runs"]) for m in ("federate", "mlflow")}
        res = {side: run_worker(side, workdir, args) for side in ("federate", "mlflow")}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    fed, mlf = res["federate"], res["mlflow"]
    for key in ("alias_answer", "latest_answer"):
        if fed[key] != mlf[key]:
            log(f"WARNING: the two sides disagree on {key}: {fed[key]} vs {mlf[key]}")

    (fed_t, fed_mb), (mlf_t, mlf_mb) = imports["federate"], imports["mlflow"]
    n = sizes["versions"]
    print(
        f"\nfederate vs MLflow {metadata.version('mlflow')}, SQLite registries, Python "
        f"{sys.version.split()[0]}; times are medians except where marked\n"
    )
    print_table(
        [
            time_row("import: wall time, fresh process", fed_t, mlf_t, 10),
            ("import: peak RSS", f"{fed_mb:.1f} MB", f"{mlf_mb:.1f} MB", mlf_mb / fed_mb, None),
            time_row("resolve models:/m@champion (warm)", fed["alias"], mlf["alias"], 10),
            time_row(
                f"resolve models:/big/latest ({n} versions)", fed["latest"], mlf["latest"], 100
            ),
            time_row(
                f"create_model_version (mean of {sizes['create']})",
                fed["create"],
                mlf["create"],
                None,
            ),
        ]
    )
    print(
        f"\n(a bare `python -c 'import sys'` takes {fmt_time(baseline)} here; "
        f"whole run {time.perf_counter() - started:.0f} s)"
    )


if __name__ == "__main__":
    main()
