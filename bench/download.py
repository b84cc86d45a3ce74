"""Benchmark: federate's download engine against the tools people fetch model files with.

nginx (Debian package) serves the data on 127.0.0.1 twice: uncapped, and with
``limit_rate 25m`` per connection, which imitates a cloud store's per-connection rate.
Data: one large file (1 GiB by default) and a tree of 2,000 files of 16 KiB.

Peers, each writing to disk: ``curl`` single stream, ``aria2c -x16 -s16``, a ``requests``
single stream with 1 MiB reads (how MLflow's HTTP and presigned repositories read),
MLflow's own ``mlflow.artifacts.download_artifacts`` (its HTTP artifact repository,
against the same nginx speaking MLflow's artifact-proxy protocol: static JSON listings
for ``GET .../mlflow-artifacts/artifacts?path=``, files under
``.../mlflow-artifacts/artifacts/<path>``), and for the small files a sequential
``requests`` loop and a thread pool of bare urllib3 GETs (the floor any Python client
meets under the GIL on this machine). boto3's TransferManager runs on moto's S3 server;
federate's S3 row needs the ``s3`` extra (see :func:`s3_rows`). federate runs through
its public API (``federate.download``) in a fresh process and times only the call, not
the import; MLflow likewise, in ``bench/.venv`` (see ``bench/harness.py``). Finally a
registry version pointing at the large file is downloaded twice: the second call is
served from federate's cache.

Numbers are noisy on a shared machine, and the page cache absorbs writes: read them as
ratios within one run, never as pass/fail. Needs ``nginx``, ``curl`` and ``aria2c`` on
PATH (``apt-get install nginx curl aria2``); a row whose tool is missing says so.

    python bench/download.py            # 1 GiB file, 2,000 small files
    python bench/download.py --quick    # 256 MiB, 500 small files
    python bench/download.py --no-mlflow --no-s3   # skip the slower peers
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote_plus

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from harness import (  # noqa: E402
    Sample,
    best,
    log,
    median,
    mlflow_python,
    round_robin,
    timed_call,
    timed_process,
)

MiB = 1024 * 1024
SMALL = 16 * 1024

FULL = dict(big_mib=1024, small_files=2000)
QUICK = dict(big_mib=256, small_files=500)
MLFLOW_API = "/api/2.0/mlflow-artifacts/artifacts"

NGINX_CONF = """
daemon off;
worker_processes 2;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path {root}/tmp;
    proxy_temp_path {root}/tmp;
    fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp;
    scgi_temp_path {root}/tmp;
    server {{
        listen 127.0.0.1:{fast};
        root {data};
        autoindex on;
        {mlflow}
    }}
    server {{
        listen 127.0.0.1:{slow};
        root {data};
        autoindex on;
        limit_rate 25m;
        {mlflow}
    }}
}}
"""

# MLflow's artifact proxy protocol, served statically: listings precomputed as JSON
MLFLOW_LOCATIONS = """
        location = {api} {{
            root {listings};
            default_type application/json;
            try_files /$arg_path.json /empty.json =404;
        }}
        location {api}/ {{
            alias {data}/;
        }}
"""


@dataclass
class Row:
    section: str
    tool: str
    samples: list[Sample] | None  # None: not run (see note)
    note: str = ""
    mib: float | None = None  # the data moved, when not the large file's size

    @property
    def seconds(self) -> float | None:
        """The best run's wall time."""
        return best(self.samples).seconds if self.samples else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- data and server -----------------------------------------------------------------------


def make_data(data: Path, big_mib: int, small_files: int) -> list[str]:
    pattern = os.urandom(16 * MiB)  # incompressible, and fast to write many times
    with open(data / "big.bin", "wb") as f:
        for _ in range(big_mib // 16):
            f.write(pattern)
    tree = data / "tree"
    names = []
    for i in range(small_files):
        name = f"d{i % 20:02d}/f{i:05d}.bin"
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_bytes(os.urandom(SMALL))
        names.append(name)
    return sorted(names)


def make_mlflow_listings(data: Path, listings: Path) -> None:
    """What MLflow's artifact proxy answers to ``?path=<dir>``, one JSON file per directory
    (named as nginx sees the raw query argument)."""
    listings.mkdir()
    (listings / "empty.json").write_text("{}")  # a file's path lists nothing: a file
    for dirpath, dirnames, filenames in os.walk(data):
        rel = Path(dirpath).relative_to(data).as_posix()
        if rel == ".":
            continue
        # entries are named relative to the directory listed, as MLflow's server does
        files: list[dict[str, object]] = [{"path": d, "is_dir": True} for d in sorted(dirnames)]
        for f in sorted(filenames):
            size = (Path(dirpath) / f).stat().st_size
            files.append({"path": f, "is_dir": False, "file_size": size})
        (listings / f"{quote_plus(rel)}.json").write_text(json.dumps({"files": files}))


def start_nginx(root: Path, data: Path) -> tuple[subprocess.Popen[bytes], int, int]:
    fast, slow = free_port(), free_port()
    (root / "tmp").mkdir(parents=True)
    listings = root / "mlflow-listings"
    make_mlflow_listings(data, listings)
    mlflow = MLFLOW_LOCATIONS.format(api=MLFLOW_API, listings=listings, data=data)
    conf = root / "nginx.conf"
    conf.write_text(NGINX_CONF.format(root=root, data=data, fast=fast, slow=slow, mlflow=mlflow))
    proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(root)])
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", slow), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                log_text = (root / "error.log").read_text()
                raise SystemExit(f"nginx did not start: {log_text}") from None
            time.sleep(0.05)
    return proc, fast, slow


# -- contenders ----------------------------------------------------------------------------


# Each contender returns a Sample: wall seconds and the CPU seconds (user + system) of the
# client doing the work. Tools (curl, aria2c) run as child processes, whose whole CPU time
# is read from RUSAGE_CHILDREN; Python contenders run in this process (RUSAGE_SELF: nginx
# is a child that is reaped only at the end, so none of its work is counted); federate,
# MLflow and boto3 run in fresh child processes that time only the call, CPU included.


def curl(url: str, dst: Path) -> Sample:
    return timed_process(["curl", "-s", "-f", "-o", str(dst), url])[0]


def aria2c(url: str, dst: Path) -> Sample:
    cmd = ["aria2c", "-x16", "-s16", "-k1M", "-q", "--file-allocation=none"]
    cmd += ["--allow-overwrite=true", "-d", str(dst.parent), "-o", dst.name, url]
    return timed_process(cmd)[0]


def requests_stream(url: str, dst: Path) -> Sample:
    import requests

    def go() -> None:
        with requests.get(url, stream=True, timeout=60) as resp, open(dst, "wb") as out:
            resp.raise_for_status()
            for piece in resp.iter_content(MiB):
                out.write(piece)

    return timed_call(go)


def requests_loop(base: str, names: list[str], dst: Path) -> Sample:
    import requests

    def go() -> None:
        with requests.Session() as session:
            for name in names:
                target = dst / name
                target.parent.mkdir(parents=True, exist_ok=True)
                resp = session.get(base + name, timeout=60)
                resp.raise_for_status()
                target.write_bytes(resp.content)

    return timed_call(go)


def urllib3_pool(base: str, names: list[str], dst: Path, workers: int) -> Sample:
    """The floor: bare urllib3 GETs on a thread pool, each body written to its file."""
    from concurrent.futures import ThreadPoolExecutor

    import urllib3

    def go() -> None:
        pool = urllib3.PoolManager(maxsize=workers)
        for d in {n.rsplit("/", 1)[0] for n in names}:
            (dst / d).mkdir(parents=True, exist_ok=True)

        def one(name: str) -> None:
            resp = pool.request("GET", base + name)
            assert resp.status == 200, resp.status
            with open(dst / name, "wb") as out:
                out.write(resp.data)

        with ThreadPoolExecutor(workers) as ex:
            list(ex.map(one, names))

    return timed_call(go)


#: what every Python child prints last: the call's wall and CPU seconds (all its threads)
_CHILD_CLOCK = """
import json, resource, sys, time
def _cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime
"""
_CHILD_REPORT = """
print(json.dumps({"seconds": time.perf_counter() - t, "cpu": _cpu() - c}))
"""

FEDERATE_CHILD = (
    _CHILD_CLOCK
    + """
import federate
t, c = time.perf_counter(), _cpu()
federate.download(sys.argv[1], sys.argv[2], progress=False)
"""
    + _CHILD_REPORT
)

FEDERATE_CACHE_CHILD = """
import json, sys, time
import federate
reg = federate.get_registry()
reg.create_registered_model("bench")
reg.create_model_version("bench", source=sys.argv[1])
t = time.perf_counter()
federate.download("models:/bench/1", sys.argv[2] + "/cold", progress=False)
cold = time.perf_counter() - t
t = time.perf_counter()
federate.download("models:/bench/1", sys.argv[2] + "/warm", progress=False)
warm = time.perf_counter() - t
print(json.dumps({"cold": cold, "warm": warm}))
"""

MLFLOW_CHILD = (
    _CHILD_CLOCK
    + """
import mlflow.artifacts
t, c = time.perf_counter(), _cpu()
mlflow.artifacts.download_artifacts(artifact_uri=sys.argv[1], dst_path=sys.argv[2])
"""
    + _CHILD_REPORT
)

BOTO3_CHILD = (
    _CHILD_CLOCK
    + """
import boto3
from boto3.s3.transfer import TransferConfig
s3 = boto3.client("s3")
config = TransferConfig(max_concurrency=16, multipart_chunksize=8 * 1024 * 1024)
t, c = time.perf_counter(), _cpu()
s3.download_file("bench", "big.bin", sys.argv[1], Config=config)
"""
    + _CHILD_REPORT
)


def child(python: str | Path, code: str, args: list[str], env: dict[str, str]) -> dict:
    _, out = timed_process([str(python), "-c", code, *args], env={**os.environ, **env})
    return json.loads(out.strip().splitlines()[-1])


def child_sample(answer: dict) -> Sample:
    return Sample(float(answer["seconds"]), float(answer["cpu"]))


def federate_child(code: str, args: list[str], home: Path, env: dict[str, str]) -> dict:
    env = {"PYTHONPATH": str(REPO), "FEDERATE_HOME": str(home), **env}
    return child(sys.executable, code, args, env)


def federate_file(url: str, dst: Path, home: Path, **env: str) -> Sample:
    return child_sample(federate_child(FEDERATE_CHILD, [url, str(dst)], home, env))


def mlflow_download(artifact_uri: str, dst: Path) -> Sample:
    env = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "PYTHONPATH": ""}
    dst.mkdir(parents=True, exist_ok=True)
    return child_sample(child(mlflow_python(), MLFLOW_CHILD, [artifact_uri, str(dst)], env))


# -- S3 on moto ----------------------------------------------------------------------------


def s3_rows(work: Path, big_mib: int, data: Path, runs: int) -> list[Row]:
    """boto3's TransferManager on moto's S3 server, and federate's S3 repository on the same
    bucket (pointed at moto with ``AWS_ENDPOINT_URL``), each in a fresh child process.
    ``bench/download_stores.py`` compares the stores in depth; this row puts S3 beside the
    http rows of the same run."""
    big_mib = min(big_mib, S3_MAX_MIB)
    section = f"one file of {big_mib} MiB from moto's S3 server (Python, single process)"
    try:
        import boto3
        from moto.server import ThreadedMotoServer
    except ImportError as err:
        return [Row(section, "boto3 TransferManager", None, f"not installed: {err.name}")]
    import logging

    import moto_ranges

    moto_ranges.install()  # ranges served in proportion to their size, as S3 does
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    env = {**S3_ENV, "AWS_ENDPOINT_URL": endpoint}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    dst = work / "s3-out" / "big.bin"
    try:
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket="bench")
        with open(data / "big.bin", "rb") as f:
            part = f.read(big_mib * MiB)
        s3.put_object(Bucket="bench", Key="big.bin", Body=part)
        del part
        contenders = {
            "boto3 TransferManager (16 threads)": lambda d: child_sample(
                child(sys.executable, BOTO3_CHILD, [str(d)], {})
            ),
        }
        if federate_has_s3():
            contenders["federate (default)"] = lambda d: federate_file(
                "s3://bench/big.bin", d.parent, work / "home-s3", **env
            )
        rows = compare(section, contenders, runs, dst, big_mib * MiB, mib=big_mib)
        if "federate (default)" not in contenders:
            rows.append(Row(section, "federate (default)", None, "no s3 repository (federate[s3])"))
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return rows


#: moto's server moves about 15-60 MiB/s: more than this only makes the run longer
S3_MAX_MIB = 256

S3_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def federate_has_s3() -> bool:
    code = (
        "from federate.plugins.manager import get_plugin_host\n"
        "get_plugin_host().repo_plugin('s3://bench/big.bin')"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return (
        subprocess.run([sys.executable, "-c", code], env=env, capture_output=True).returncode == 0
    )


# -- the run -------------------------------------------------------------------------------


def compare(
    section: str,
    contenders: dict[str, Callable[[Path], Sample]],
    runs: int,
    dst: Path,
    size: int | None = None,
    files: int | None = None,
    mib: float | None = None,
) -> list[Row]:
    """``runs`` rounds of every contender into ``dst`` (see :func:`harness.round_robin`:
    A, B, C, A, B, C..., ``os.sync()`` before each run), each run's output checked (one
    file of ``size`` bytes at ``dst``, or ``files`` files under ``dst``) and removed. A
    contender that fails is a row saying why, and is not run again."""
    failed: dict[str, str] = {}

    def checked(tool: str, fn: Callable[[Path], Sample]) -> Callable[[], Sample]:
        def go() -> Sample:
            if tool in failed:
                return Sample(float("nan"), float("nan"))
            log(f"{section}: {tool}")
            shutil.rmtree(dst.parent if size is not None else dst, ignore_errors=True)
            target_dir = dst.parent if size is not None else dst
            target_dir.mkdir(parents=True, exist_ok=True)
            try:
                sample = fn(dst)
                if size is not None and dst.stat().st_size != size:
                    raise RuntimeError(f"wrote {dst.stat().st_size} bytes, expected {size}")
                if files is not None:
                    got = sum(1 for p in dst.rglob("*.bin"))
                    if got != files:
                        raise RuntimeError(f"wrote {got} files, expected {files}")
            except Exception as err:  # a peer failing is a row, not the end of the run
                failed[tool] = f"failed: {str(err).strip().splitlines()[-1:]}"
                return Sample(float("nan"), float("nan"))
            finally:
                # removed now, so the next run's os.sync() waits for it, not its clock
                shutil.rmtree(target_dir, ignore_errors=True)
            return sample

        return go

    got = round_robin({tool: checked(tool, fn) for tool, fn in contenders.items()}, runs)
    return [
        Row(section, tool, None, failed[tool])
        if tool in failed
        else Row(section, tool, samples, mib=mib)
        for tool, samples in got.items()
    ]


def missing_tools(
    rows: list[Row], section: str, contenders: dict[str, Callable[[Path], Sample]]
) -> None:
    for tool in list(contenders):
        exe = tool.split()[0]
        if exe in ("curl", "aria2c") and shutil.which(exe) is None:
            rows.append(Row(section, tool, None, f"{exe} not on PATH"))
            del contenders[tool]


def big_file_rows(
    rows: list[Row], section: str, port: int, work: Path, size: int, args: argparse.Namespace
) -> None:
    url = f"http://127.0.0.1:{port}/big.bin"
    contenders: dict[str, Callable[[Path], Sample]] = {
        "curl (1 stream)": lambda d: curl(url, d),
        "aria2c -x16 -s16": lambda d: aria2c(url, d),
        "requests (1 stream, 1 MiB reads)": lambda d: requests_stream(url, d),
        # federate, as MLflow, puts a single-file source inside the directory it is given
        "federate (default: 16 workers)": lambda d: federate_file(
            url, d.parent, work / "home-plain"
        ),
        "federate (8 workers)": lambda d: federate_file(
            url, d.parent, work / "home-plain", FEDERATE_MAX_WORKERS="8"
        ),
    }
    if not args.no_mlflow:
        uri = f"http://127.0.0.1:{port}{MLFLOW_API}/big.bin"
        contenders["MLflow download_artifacts (http)"] = lambda d: mlflow_download(uri, d.parent)
    missing_tools(rows, section, contenders)
    rows.extend(compare(section, contenders, args.runs, work / "out" / "big.bin", size=size))


def tree_rows(
    rows: list[Row], section: str, port: int, work: Path, names: list[str], args: argparse.Namespace
) -> None:
    base = f"http://127.0.0.1:{port}/tree/"
    contenders: dict[str, Callable[[Path], Sample]] = {
        "requests, sequential loop (1 Session)": lambda d: requests_loop(base, names, d),
        "urllib3, 8 threads, bare GETs (floor)": lambda d: urllib3_pool(base, names, d, 8),
        "urllib3, 16 threads, bare GETs (floor)": lambda d: urllib3_pool(base, names, d, 16),
        "federate (default: 8 pipelined connections)": lambda d: federate_file(
            base, d, work / "home-plain"
        ),
        "federate (1 pipelined connection)": lambda d: federate_file(
            base, d, work / "home-plain", FEDERATE_BATCH_CONNECTIONS="1"
        ),
        "federate (no pipelining: a GET per file)": lambda d: federate_file(
            base, d, work / "home-plain", FEDERATE_BATCH_CONNECTIONS="0"
        ),
    }
    if not args.no_mlflow:
        uri = f"http://127.0.0.1:{port}{MLFLOW_API}/tree"
        contenders["MLflow download_artifacts (http)"] = lambda d: mlflow_download(uri, d)
    rows.extend(compare(section, contenders, args.runs, work / "out-tree", files=len(names)))


def _line(row: Row, unit: str, amount: float) -> str:
    if not row.samples:
        return f"    {row.tool:<44} {'-':>8}  {row.note}"
    fastest = best(row.samples)
    cpu = median(row.samples, "cpu")
    rate = f"{amount / fastest.seconds:8.0f} {unit}"
    per = f"{cpu / (amount / 1024):6.2f} cpu s/GiB" if unit == "MiB/s" else ""
    return (
        f"    {row.tool:<44} {fastest.seconds:7.3f} {median(row.samples):8.3f} {rate}  "
        f"{cpu:6.3f} {per}"
    )


def _versus(label: str, peer: Row, fed: Row) -> str:
    assert peer.samples and fed.samples
    wall = best(peer.samples).seconds / best(fed.samples).seconds
    wall_median = median(peer.samples) / median(fed.samples)
    cpu = median(peer.samples, "cpu") / median(fed.samples, "cpu")
    return (
        f"    {fed.tool} vs {label} ({peer.tool}): wall {wall:.2f}x best, "
        f"{wall_median:.2f}x median; cpu {cpu:.2f}x"
    )


def report(rows: list[Row], big_mib: int, n: int, runs: int, cache: dict | None) -> None:
    print(
        f"\nbest and median wall seconds of {runs} rounds (contenders round robin, os.sync() "
        "before each run);\ncpu s: the client's user + system CPU seconds, median; ratios > 1 "
        "favour federate\n(wall: peer's / federate's; cpu: peer's cpu / federate's)"
    )
    sections: dict[str, list[Row]] = {}
    for row in rows:
        sections.setdefault(row.section, []).append(row)
    for section, group in sections.items():
        tree = section.startswith(f"{n} files")
        unit, amount = ("files/s", float(n)) if tree else ("MiB/s", float(big_mib))
        print(f"\n{section}")
        print(f"    {'':<44} {'best s':>7} {'median':>8} {'rate':>14}  {'cpu s':>6}")
        for row in group:
            print(_line(row, unit, row.mib or amount))
        ran = [r for r in group if r.samples]
        feds = [r for r in ran if r.tool.startswith("federate")]
        peers = [r for r in ran if not r.tool.startswith("federate") and "floor" not in r.tool]
        if tree:
            loop = next((r for r in ran if "sequential" in r.tool), None)
            for r in ran:
                if loop is not None and r is not loop:
                    print(_versus("the loop", loop, r))
            print("    goal: federate >= 3x the sequential loop")
        elif feds and peers:
            fastest = min(peers, key=lambda r: r.seconds or 0)
            for r in feds:
                print(_versus("best peer", fastest, r))
                for p in peers:
                    if p.tool.startswith(("curl", "aria2c")) and p is not fastest:
                        print(_versus(p.tool.split()[0], p, r))
    if cache is not None:
        print(
            f"\nRegistry version of {big_mib} MiB: first download (network + cache fill) "
            f"{cache['cold']:.2f} s, cached re-download {cache['warm'] * 1000:.0f} ms "
            "(goal < 200 ms)"
        )
        # what a user of models:/ URIs sees the first time, against the same file fetched
        # without the cache (by federate and by MLflow, which has no cache) uncapped
        plain = [r for r in rows if r.section.startswith("one file") and r.seconds]
        uncapped = [r for r in plain if r.section.endswith("uncapped")]
        for r in uncapped:
            if r.tool.startswith(("federate (default", "MLflow")) and r.seconds:
                print(f"    first download vs {r.tool}: {r.seconds / cache['cold']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller data, for a smoke run")
    parser.add_argument("--no-mlflow", action="store_true", help="skip MLflow (needs bench/.venv)")
    parser.add_argument("--no-s3", action="store_true", help="skip boto3 on moto")
    parser.add_argument("--runs", type=int, default=3, help="rounds of every contender (3)")
    parser.add_argument(
        "--uncapped-only",
        action="store_true",
        help="only the uncapped large-file section (CPU s/GiB against curl and aria2c)",
    )
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    if shutil.which("nginx") is None:
        raise SystemExit("nginx is needed: apt-get install nginx")
    if not args.no_mlflow:
        mlflow_python()  # create bench/.venv before anything is timed
    work = Path(tempfile.mkdtemp(prefix="federate-bench-"))
    work.chmod(0o755)  # nginx workers run as an unprivileged user
    data = work / "data"
    data.mkdir()
    big = sizes["big_mib"]
    log(f"writing {big} MiB + {sizes['small_files']} x 16 KiB under {work}")
    names = make_data(data, big, sizes["small_files"])
    nginx, fast, slow = start_nginx(work / "nginx", data)
    rows: list[Row] = []
    n = len(names)
    cache = None
    started = time.perf_counter()
    try:
        for label, port in (("uncapped", fast), ("25 MB/s per connection", slow)):
            section = f"one file of {big} MiB from nginx on 127.0.0.1, {label}"
            big_file_rows(rows, section, port, work, big * MiB, args)
            if args.uncapped_only:
                break
        if args.uncapped_only:
            return report(rows, big, len(names), args.runs, None)
        tree_rows(
            rows, f"{n} files of 16 KiB from nginx on 127.0.0.1, uncapped", fast, work, names, args
        )
        if not args.no_s3:
            log("S3 on moto: boto3 TransferManager")
            try:
                rows.extend(s3_rows(work, big, data, args.runs))
            except Exception as err:
                rows.append(Row("S3 on moto", "boto3 TransferManager", None, f"failed: {err}"))
        log("cache: cold and warm download of a registry version")
        cache = federate_child(
            FEDERATE_CACHE_CHILD,
            [f"http://127.0.0.1:{fast}/big.bin", str(work / "dl")],
            work / "home-cache",
            {},
        )
    finally:
        nginx.send_signal(signal.SIGQUIT)
        nginx.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)
    report(rows, big, n, args.runs, cache)
    print(f"\n(whole run {time.perf_counter() - started:.0f} s; ratios > 1 favour federate)")


if __name__ == "__main__":
    main()
