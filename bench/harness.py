"""What the benchmarks share: their virtualenv with MLflow, timing, and the ratio table.

MLflow is never installed into the interpreter that runs the tests: on first use
``ensure_venv`` creates ``bench/.venv`` with ``mlflow>=3,<4``, the database drivers and an
editable federate, then re-runs the calling script there.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from federate.testing.s3 import MotoS3

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENV = HERE / ".venv"
VENV_PY = VENV / "bin" / "python"
VENV_READY = VENV / ".bench-ready"  # written once mlflow and federate are installed
MLFLOW_REQ = "mlflow>=3,<4"
DRIVERS = ("psycopg[binary]>=3.1", "pymysql>=1.1")


def _importable(modules: Sequence[str]) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


def mlflow_python(extra: Sequence[str] = (), modules: Sequence[str] = ()) -> Path:
    """The venv's interpreter, creating or completing the venv (MLflow, drivers, federate,
    ``extra`` requirements) first if needed; for benchmarks that run MLflow in a child.
    When this interpreter already has MLflow and ``modules`` (a CI or dev environment with
    mlflow-skinny and the SDKs), it is used as it is and no venv is made."""
    if _importable(["mlflow", *modules]):
        return Path(sys.executable)
    have = VENV_READY.read_text().split() if VENV_READY.exists() else []
    wanted = list(dict.fromkeys([MLFLOW_REQ, *DRIVERS, *extra, *have]))
    missing = [req for req in wanted if req not in have]
    if missing:
        if not VENV_PY.exists():
            log(f"creating {VENV} with {MLFLOW_REQ} and federate (takes a few minutes, once)")
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        pip = [str(VENV_PY), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, *missing, "-e", str(REPO)], check=True)
        VENV_READY.write_text("\n".join(wanted) + "\n")
    return VENV_PY


def ensure_venv(script: str, extra: Sequence[str] = (), modules: Sequence[str] = ()) -> None:
    """Re-exec ``script`` under bench/.venv (see :func:`mlflow_python`) unless already there
    or this interpreter has MLflow and ``modules``."""
    if sys.prefix != sys.base_prefix and Path(sys.prefix).resolve() == VENV.resolve():
        return
    python = mlflow_python(extra, modules)
    if python == Path(sys.executable):
        return
    os.execv(str(python), [str(python), str(Path(script).resolve()), *sys.argv[1:]])


def bench_workdir(prefix: str) -> Path:
    """A new temporary directory for one run; ``FEDERATE_HOME`` points into it (so
    ``~/.federate`` is untouched) and MLflow's usage telemetry is off (offline run)."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["FEDERATE_HOME"] = str(workdir / "federate-home")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    return workdir


def tree_digests(root: Path) -> dict[str, str]:
    """SHA-256 (hex) of every file under ``root``, by its path relative to ``root``."""
    out = {}
    for path in root.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                out[path.relative_to(root).as_posix()] = hashlib.file_digest(
                    f, "sha256"
                ).hexdigest()
    return out


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


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


@dataclass(frozen=True)
class Sample:
    """One timed run: wall seconds and the client's CPU seconds (user + system)."""

    seconds: float
    cpu: float


def cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def timed_call(fn: Callable[[], object]) -> Sample:
    """``fn()`` in this process: wall time and this process's CPU time (every thread)."""
    cpu, start = cpu_seconds(), time.perf_counter()
    fn()
    return Sample(time.perf_counter() - start, cpu_seconds() - cpu)


def timed_process(cmd: Sequence[str], **kwargs: object) -> tuple[Sample, str]:
    """``cmd`` as a child process, waited for: its wall time, its whole CPU time (read from
    RUSAGE_CHILDREN, which grows only by the children reaped since), and its stdout."""
    cpu, start = cpu_seconds(resource.RUSAGE_CHILDREN), time.perf_counter()
    out = subprocess.run(list(cmd), capture_output=True, check=False, **kwargs)  # type: ignore[call-overload]
    sample = Sample(time.perf_counter() - start, cpu_seconds(resource.RUSAGE_CHILDREN) - cpu)
    if out.returncode != 0:
        raise RuntimeError(f"{cmd[0]} exited {out.returncode}: {out.stderr.decode()[-2000:]}")
    return sample, out.stdout.decode()


def round_robin(
    contenders: Mapping[str, Callable[[], Sample]],
    runs: int,
    after: Callable[[str, Sample], None] | None = None,
) -> dict[str, list[Sample]]:
    """``runs`` rounds; each round runs every contender once (A, B, C, A, B, C...; the
    order rotates by one each round, so nobody always follows the same neighbour), with
    ``os.sync()`` before each run: no one pays for another's dirty pages."""
    names = list(contenders)
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    for run in range(runs):
        shift = run % len(names) if names else 0
        for name in names[shift:] + names[:shift]:
            os.sync()
            sample = contenders[name]()
            samples[name].append(sample)
            if after is not None:
                after(name, sample)
    return samples


def best(samples: Sequence[Sample]) -> Sample:
    return min(samples, key=lambda s: s.seconds)


def median(samples: Sequence[Sample], attr: str = "seconds") -> float:
    return statistics.median(getattr(s, attr) for s in samples)


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


def create_versions(client: SimpleNamespace, label: str, name: str, count: int, root: str) -> float:
    """Create ``count`` versions of a new model ``name``; total seconds."""
    client.create_model(name)
    start = time.perf_counter()
    for i in range(1, count + 1):
        client.create_version(name, f"{root}/{name}/{i}")
        if i % 1000 == 0 or i == count:
            log(f"{label}: {name}: {i}/{count} versions ({time.perf_counter() - start:.1f} s)")
    return time.perf_counter() - start


# -- emulators, started by federate's test kit; each yields the environment that points
# every client at it


def store_bench_env(work: Path) -> dict[str, str]:
    """The environment of a benchmark against the emulators: no AWS files of the user's,
    ``FEDERATE_HOME`` under ``work``, MLflow quiet and offline."""
    return {
        "AWS_ACCESS_KEY_ID": "bench",  # replaced by moto's own admin keys
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(work / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(work / "no-aws-credentials"),
        "FEDERATE_HOME": str(work / "home"),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }


_MOTO_CHILD = (
    "import dataclasses, json, sys; sys.path.insert(0, sys.argv[1]); import moto_ranges;"
    "from federate.testing.s3 import start_moto_s3, stop_moto_s3; moto_ranges.install();"
    "m = start_moto_s3(); fields = [f.name for f in dataclasses.fields(m) if f.name != 'server'];"
    "print(json.dumps({name: getattr(m, name) for name in fields}), flush=True);"
    "sys.stdin.read(); stop_moto_s3(m)"
)


@contextlib.contextmanager
def moto_server() -> Iterator[MotoS3]:
    """moto's S3 + IAM + STS server in a child process of its own, so it shares no GIL
    with the clients, serving ranges in proportion to their size as S3 does
    (:mod:`moto_ranges`); it stops when its stdin closes. The ``MotoS3`` has no
    in-process server (``server`` is None): talk to it over HTTP only."""
    from federate.testing.s3 import MotoS3

    child = subprocess.Popen(
        [sys.executable, "-c", _MOTO_CHILD, str(HERE)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        if not line:
            raise SystemExit("moto server did not start")
        yield MotoS3(**json.loads(line))
    finally:
        child.communicate(b"", timeout=30)


@contextlib.contextmanager
def moto_s3(work: Path) -> Iterator[dict[str, str]]:
    """:func:`moto_server`, as the environment that points every client at it."""
    with moto_server() as moto:
        env = moto.env()
        url = env["FEDERATE_S3_ENDPOINT_URL"]
        yield env | {"AWS_ENDPOINT_URL": url, "MLFLOW_S3_ENDPOINT_URL": url}


def server_cpu() -> dict[str, float]:
    """CPU seconds so far of this process's children (the emulators, with their own
    children), by name: ``moto`` or ``Azurite``; from /proc (Linux), else nothing."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for children in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        for pid in children.read_text().split():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            name = "Azurite" if b"azurite" in cmdline else "moto"
            # utime, stime, cutime, cstime
            out[name] = out.get(name, 0.0) + sum(int(v) for v in stat[11:15]) / tick
    return out


@contextlib.contextmanager
def azurite(work: Path) -> Iterator[dict[str, str]]:
    from federate.testing.azure import start_azurite, stop_azurite

    running = start_azurite(Path(tempfile.mkdtemp(dir=work)))
    try:
        yield {"AZURE_STORAGE_CONNECTION_STRING": running.connection_string()}
    finally:
        stop_azurite(running)
