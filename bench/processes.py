"""Benchmark: federate and MLflow as short processes (a deploy script's CLI call, a serving
container's entrypoint), whole, from exec to exit.

Rows, federate against MLflow in the same run, each a fresh process:

- ``import``: ``python -c "import federate"`` / ``python -c "import mlflow"`` (and peak RSS);
- ``--help``: the console scripts, ``federate --help`` / ``mlflow --help``;
- ``resolve``: ``federate resolve models:/m@champion`` on a SQLite registry /
  ``MlflowClient.get_model_version_by_alias`` + ``get_model_version_download_uri`` on a
  SQLite registry with the same model, version and alias (MLflow has no CLI for it).

Contenders run round robin (A, B, A, B...; see ``harness.round_robin``), ``--runs`` rounds
(default 7); each row prints the best and median wall time and the median CPU seconds
(user + system, read from RUSAGE_CHILDREN) of the whole process, and MLflow's / federate's
(> 1: federate is faster). Both registries are filled before anything is timed, in a
temporary directory (``FEDERATE_HOME`` too). Needs MLflow in this interpreter (mlflow-skinny
is enough) or ``bench/.venv`` (see harness.py). Timings are printed, never asserted.

    python bench/processes.py [--runs N]
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

from harness import (
    Sample,
    bench_workdir,
    best,
    ensure_venv,
    log,
    median,
    round_robin,
    timed_process,
)

MLFLOW_RESOLVE = """
import sys
from mlflow import MlflowClient
uri = sys.argv[1]
client = MlflowClient(tracking_uri=uri, registry_uri=uri)
mv = client.get_model_version_by_alias("m", "champion")
print(mv.version, client.get_model_version_download_uri("m", mv.version))
"""

FILL_MLFLOW = """
import sys, warnings
warnings.simplefilter("ignore")
from mlflow import MlflowClient
uri = sys.argv[1]
client = MlflowClient(tracking_uri=uri, registry_uri=uri)
client.create_registered_model("m")
for _ in range(3):
    client.create_model_version("m", sys.argv[2])
client.set_registered_model_alias("m", "champion", 2)
"""

FILL_FEDERATE = """
import sys, federate
reg = federate.get_registry(sys.argv[1])
reg.create_registered_model("m")
for _ in range(3):
    reg.create_model_version("m", source=sys.argv[2])
reg.set_registered_model_alias("m", "champion", 2)
"""


def script(name: str) -> str:
    """The console script installed beside this interpreter (not a pyenv shim, which is a
    shell script that would add its own start-up to every run)."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else (shutil.which(name) or name)


def peak_rss_mb(cmd: list[str], env: dict[str, str]) -> float:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    _, _, usage = os.wait4(proc.pid, 0)
    return usage.ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="rounds (default 7)")
    args = parser.parse_args()
    ensure_venv(__file__)
    work = bench_workdir("federate-bench-processes-")
    repo = Path(__file__).resolve().parent.parent
    env = {
        **os.environ,
        "PYTHONPATH": str(repo),  # this checkout's federate, whatever is installed
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
    }
    fed_uri = f"sqlite:///{work / 'federate.db'}"
    mlf_uri = f"sqlite:///{work / 'mlflow.db'}"
    source = (work / "models").as_uri()
    py = sys.executable
    try:
        log("filling both registries (untimed)")
        for code, uri in ((FILL_FEDERATE, fed_uri), (FILL_MLFLOW, mlf_uri)):
            subprocess.run([py, "-c", code, uri, source], env=env, check=True)
        fed_env = {**env, "FEDERATE_REGISTRY_URI": fed_uri}
        pairs = {
            "import": ([py, "-c", "import federate"], [py, "-c", "import mlflow"]),
            "--help": ([script("federate"), "--help"], [script("mlflow"), "--help"]),
            "resolve models:/m@champion": (
                [script("federate"), "resolve", "models:/m@champion"],
                [py, "-c", MLFLOW_RESOLVE, mlf_uri],
            ),
        }
        rows: dict[str, dict[str, list[Sample]]] = {}
        for label, (fed_cmd, mlf_cmd) in pairs.items():
            for cmd in (fed_cmd, mlf_cmd):  # untimed: .pyc files, the OS's cache
                timed_process(cmd, env=fed_env)

            def run(cmd: list[str]) -> Sample:
                return timed_process(cmd, env=fed_env)[0]

            log(f"{label}: {args.runs} rounds")
            rows[label] = round_robin(
                {
                    "federate": functools.partial(run, fed_cmd),
                    "mlflow": functools.partial(run, mlf_cmd),
                },
                args.runs,
            )
        rss = {
            name: peak_rss_mb([py, "-c", f"import {name}"], env) for name in ("federate", "mlflow")
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"\nwhole processes, {args.runs} rounds each, federate and MLflow alternating; "
        f"{os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.1f} at the end"
    )
    head = f"{'row':<28} {'':<9} {'best s':>7} {'median s':>9} {'cpu s':>6}"
    print(f"{head}  MLflow/federate: best, median, cpu")
    for label, got in rows.items():
        fed, mlf = got["federate"], got["mlflow"]
        for name, samples in got.items():
            print(
                f"{label:<28} {name:<9} {best(samples).seconds:>7.3f} {median(samples):>9.3f} "
                f"{median(samples, 'cpu'):>6.3f}"
            )
        print(
            f"{'':<28} {'ratio':<9} {best(mlf).seconds / best(fed).seconds:>6.1f}x "
            f"{median(mlf) / median(fed):>8.1f}x {median(mlf, 'cpu') / median(fed, 'cpu'):>5.1f}x"
        )
    fed_rss, mlf_rss = rss["federate"], rss["mlflow"]
    print(f"peak RSS after import: federate {fed_rss:.0f} MB, mlflow {mlf_rss:.0f} MB")


if __name__ == "__main__":
    main()
