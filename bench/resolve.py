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
import tempfile
import time
import warnings
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mlflow_venv import VENV, VENV_PY, log, mlflow_python  # noqa: E402

FULL = dict(versions=5000, alias_iters=2000, latest_iters=50, create=500, import_runs=5)
QUICK = dict(versions=200, alias_iters=200, latest_iters=10, create=50, import_runs=3)


# -- environment ---------------------------------------------------------------------------


def ensure_venv() -> None:
    """Re-exec under bench/.venv, creating it (with MLflow and federate) if needed."""
    if sys.prefix != sys.base_prefix and Path(sys.prefix).resolve() == VENV.resolve():
        return
    mlflow_python()
    os.execv(str(VENV_PY), [str(VENV_PY), str(Path(__file__).resolve()), *sys.argv[1:]])


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


def per_call(fn: Callable[[], object], iters: int, warmup: int) -> float:
    """Median seconds per call of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def create_versions(client: SimpleNamespace, side: str, name: str, count: int, root: str) -> float:
    """Create ``count`` versions of a new model ``name``; total seconds."""
    client.create_model(name)
    start = time.perf_counter()
    for i in range(1, count + 1):
        client.create_version(name, f"{root}/{name}/{i}")
        if i % 1000 == 0 or i == count:
            log(f"{side}: {name}: {i}/{count} versions ({time.perf_counter() - start:.1f} s)")
    return time.perf_counter() - start


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


# -- report --------------------------------------------------------------------------------


def fmt_time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


Row = tuple[str, str, str, float, "float | None"]  # label, federate, MLflow, ratio, goal


def time_row(label: str, fed: float, mlf: float, goal: float | None) -> Row:
    return (label, fmt_time(fed), fmt_time(mlf), mlf / fed, goal)


def print_table(rows: list[Row]) -> None:
    header = ("measurement", "federate", "MLflow", "MLflow/federate", "goal")
    lines = []
    for label, fed, mlf, ratio, goal in rows:
        verdict = "" if goal is None else f">={goal:g}x " + ("met" if ratio >= goal else "MISSED")
        lines.append((label, fed, mlf, f"{ratio:.1f}x", verdict))
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]
    for i, line in enumerate([header, *lines]):
        cells = [line[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(line[1:4], widths[1:4], strict=True)
        ]
        print("  ".join([*cells, line[4]]).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))


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

    ensure_venv()
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="federate-bench-"))
    os.environ["FEDERATE_HOME"] = str(workdir / "federate-home")
    # offline benchmark: keep MLflow from trying to send usage telemetry
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
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
