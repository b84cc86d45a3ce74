"""Benchmark: ``models:/c.s.m@champion`` from a Databricks Unity Catalog workspace, federate
against MLflow's ``mlflow.artifacts.download_artifacts``, in one run.

The workspace is federate's fake (:mod:`federate.testing.uc_workspace`), vending session
credentials of moto's S3 server, where the version lives: one large file (1 GiB; 128 MiB
with ``--quick``) and 200 small files of 16 KiB. Both clients resolve the alias, ask the
workspace for temporary credentials and read S3 with them, each in a fresh process that
times only the call (wall, and CPU of the process and its children). MLflow is
``mlflow-skinny`` from this interpreter's site-packages (as in
``tests/registry/uc/test_uc_mlflow_client.py``); it talks to the same workspace with
``DATABRICKS_HOST``/``DATABRICKS_TOKEN`` and to moto with ``MLFLOW_S3_ENDPOINT_URL``.

Rows: cold (federate's cache empty) into a fresh directory; cached, federate's second
download into another fresh directory (the cache copies the files into dst, a reflink
where the file system has them; ext4 has not, so this is a real copy) and
``federate.download(uri)`` without dst (the cache's own directory, nothing copied), each
in a fresh process (which pays for loading the plugins and the HTTP client on its first
call) and as the second call of one process; all against MLflow's cold time (it has no
cache). The alias is resolved against the workspace every time. Goals: cold >= 2x MLflow, cached
< 0.2 s. Every download's files are checked against what was published.

    python bench/uc.py            # 1 GiB + 200 x 16 KiB
    python bench/uc.py --quick    # 128 MiB + 200 x 16 KiB
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))
from harness import fmt_time, log, moto_server, server_cpu  # noqa: E402

MiB = 1024 * 1024
SMALL = 16 * 1024
SMALL_FILES = 200
NAME = "main.bench.model"
URI = f"models:/{NAME}@champion"

#: runs in a fresh process: the call timed, wall and CPU (self and children)
_WORKER = r"""
import json, os, resource, sys, time
which, uri, dst = sys.argv[1], sys.argv[2], sys.argv[3] or None
if which.startswith("federate"):
    import federate
    call = lambda: federate.download(uri, dst, registry_uri="databricks-uc", progress=False)
    if which == "federate-warm":  # a process that has downloaded before: time the next one
        federate.download(uri, registry_uri="databricks-uc", progress=False)
else:
    import mlflow
    mlflow.set_registry_uri("databricks-uc")
    call = lambda: mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=dst)
def cpu():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime
c0, t0 = cpu(), time.perf_counter()
out = call()
wall, used = time.perf_counter() - t0, cpu() - c0
print(json.dumps({"wall": wall, "cpu": used, "out": str(out)}))
"""


def _digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }


def _publish(ws, moto, big_mib: int, work: Path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Upload the version to a moto bucket (the big file streamed from disk)."""
    import uuid

    client = moto.client()
    bucket = f"uc-bench-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    src = work / "src"
    (src / "small").mkdir(parents=True)
    big = src / "model.bin"
    with big.open("wb") as fh:
        for _ in range(big_mib):
            fh.write(os.urandom(MiB))
    for i in range(SMALL_FILES):
        (src / "small" / f"f{i:03d}.bin").write_bytes(os.urandom(SMALL))
    prefix = "models/m-bench/versions/v-1"
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(src).as_posix()}")
    version = ws.add_version(NAME, f"s3://{bucket}/{prefix}")
    ws.set_alias(NAME, "champion", version)
    expected = _digest(src)
    big.unlink()
    return expected


def _run(which: str, env: dict[str, str], dst: Path | None, expected: dict[str, str]) -> dict:  # type: ignore[type-arg]
    before = server_cpu().get("moto", 0.0)
    done = subprocess.run(
        [sys.executable, "-c", _WORKER, which, URI, str(dst) if dst else ""],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if done.returncode != 0:
        raise SystemExit(f"{which} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["moto"] = server_cpu().get("moto", 0.0) - before
    log(
        f"{which}: wall {fmt_time(result['wall'])}, CPU {fmt_time(result['cpu'])}, "
        f"moto server CPU {fmt_time(result['moto'])}"
    )
    got = _digest(Path(result["out"]))
    if got != expected:
        raise SystemExit(f"{which} downloaded other files than were published ({result['out']})")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="128 MiB instead of 1 GiB")
    args = parser.parse_args()
    big_mib = 128 if args.quick else 1024

    from federate.testing.s3 import REGION
    from federate.testing.uc_workspace import start_uc_workspace, stop_uc_workspace

    with (
        tempfile.TemporaryDirectory(prefix="federate-bench-uc-") as tmp,
        moto_server() as moto,
    ):
        work = Path(tmp)
        ws = start_uc_workspace(moto)
        try:
            log(f"publishing {big_mib} MiB + {SMALL_FILES} x 16 KiB to moto")
            expected = _publish(ws, moto, big_mib, work)
            base = {
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("AWS_", "DATABRICKS_", "FEDERATE_", "MLFLOW_"))
            }
            base.update(
                DATABRICKS_HOST=ws.url,
                DATABRICKS_TOKEN=ws.token,
                DATABRICKS_CONFIG_FILE=str(work / "no-databrickscfg"),
                AWS_DEFAULT_REGION=REGION,
                AWS_CONFIG_FILE=str(work / "no-aws-config"),
                AWS_SHARED_CREDENTIALS_FILE=str(work / "no-aws-credentials"),
                PYTHONPATH=str(REPO),
                MLFLOW_DISABLE_TELEMETRY="true",
                DO_NOT_TRACK="true",
            )
            fed_env = {
                **base,
                "FEDERATE_HOME": str(work / "federate-home"),
                "FEDERATE_S3_ENDPOINT_URL": moto.endpoint,
            }
            mlf_env = {**base, "MLFLOW_S3_ENDPOINT_URL": moto.endpoint}
            log("MLflow download_artifacts (cold)")
            mlf = _run("mlflow", mlf_env, work / "mlflow-out", expected)
            log("federate.download (cold cache)")
            cold = _run("federate", fed_env, work / "federate-cold", expected)
            log("federate.download (cached, into a fresh dst)")
            cached = _run("federate", fed_env, work / "federate-cached", expected)
            log("federate.download (cached, no dst: the cache's directory)")
            nodst = _run("federate", fed_env, None, expected)
            log("federate.download (cached, second call in one process)")
            warm = _run("federate-warm", fed_env, work / "federate-warm", expected)
            warm_nodst = _run("federate-warm", fed_env, None, expected)
        finally:
            stop_uc_workspace(ws)

    size = f"{big_mib} MiB + {SMALL_FILES} x 16 KiB"
    print(f"\nmodels:/c.s.m@champion from the fake workspace over moto S3: {size}")
    header = ("row", "wall", "CPU", "moto CPU", "MLflow wall / this", "goal")
    rows = [("MLflow download_artifacts, cold", mlf, None)]
    rows += [
        ("federate, cold cache", cold, ">= 2x MLflow"),
        ("federate, cached, into fresh dst (copy)", cached, "< 0.2 s"),
        ("federate, cached, no dst (cache path)", nodst, "< 0.2 s"),
        ("  same, 2nd call in one process, into dst", warm, "< 0.2 s"),
        ("  same, 2nd call in one process, no dst", warm_nodst, "< 0.2 s"),
    ]
    lines = [header] + [
        (
            label,
            fmt_time(r["wall"]),
            fmt_time(r["cpu"]),
            fmt_time(r["moto"]),
            "" if goal is None else f"{mlf['wall'] / r['wall']:.1f}x",
            goal or "",
        )
        for label, r, goal in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for i, line in enumerate(lines):
        print(
            "  ".join(
                c.ljust(w) if j in (0, 5) else c.rjust(w)
                for j, (c, w) in enumerate(zip(line, widths, strict=True))
            ).rstrip()
        )
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print(
        f"\ncold: MLflow/federate wall {mlf['wall'] / cold['wall']:.2f}x, "
        f"CPU {mlf['cpu'] / cold['cpu']:.2f}x, moto CPU {mlf['moto'] / cold['moto']:.2f}x; "
        f"cached into dst {fmt_time(cached['wall'])}, "
        f"without dst {fmt_time(nodst['wall'])}"
    )


if __name__ == "__main__":
    main()
