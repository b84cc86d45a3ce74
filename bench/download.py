"""Benchmark: federate's download engine against the tools people fetch model files with.

nginx (Debian package) serves the data on 127.0.0.1 twice: uncapped, and with
``limit_rate 25m`` per connection, which imitates a cloud store's per-connection rate.
Data: one large file (1 GiB by default) and a tree of 2,000 files of 16 KiB. Peers:
``curl`` single stream to disk, ``aria2c -x16 -s16``, a ``requests`` single stream with
1 MiB reads (how MLflow's HTTP and presigned repositories read), and a sequential
``requests`` loop over the small files. federate runs through its public API
(``federate.download``) in a fresh process and times only the call, not the import.
Finally a registry version pointing at the large file is downloaded twice: the second
call is served from federate's cache.

Numbers are noisy on a shared machine, and the page cache absorbs writes: read them as
ratios within one run, never as pass/fail. Needs ``nginx``, ``curl`` and ``aria2c`` on
PATH (``apt-get install nginx curl aria2``); rows whose tool is missing are skipped.

    python bench/download.py            # 1 GiB file, 2,000 small files
    python bench/download.py --quick    # 256 MiB, 500 small files
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
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MiB = 1024 * 1024

FULL = dict(big_mib=1024, small_files=2000)
QUICK = dict(big_mib=256, small_files=500)

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
    }}
    server {{
        listen 127.0.0.1:{slow};
        root {data};
        autoindex on;
        limit_rate 25m;
    }}
}}
"""


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- data and server -----------------------------------------------------------------------


def make_data(data: Path, big_mib: int, small_files: int) -> None:
    pattern = os.urandom(16 * MiB)  # incompressible, and fast to write many times
    with open(data / "big.bin", "wb") as f:
        for _ in range(big_mib // 16):
            f.write(pattern)
    tree = data / "tree"
    for i in range(small_files):
        sub = tree / f"d{i % 20:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i:05d}.bin").write_bytes(os.urandom(16 * 1024))


def start_nginx(root: Path, data: Path) -> tuple[subprocess.Popen[bytes], int, int]:
    fast, slow = free_port(), free_port()
    (root / "tmp").mkdir(parents=True)
    conf = root / "nginx.conf"
    conf.write_text(NGINX_CONF.format(root=root, data=data, fast=fast, slow=slow))
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


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def curl(url: str, dst: Path) -> float:
    return timed(lambda: run(["curl", "-s", "-f", "-o", str(dst), url]))


def aria2c(url: str, dst: Path) -> float:
    cmd = ["aria2c", "-x16", "-s16", "-k1M", "-q", "--file-allocation=none"]
    cmd += ["--allow-overwrite=true", "-d", str(dst.parent), "-o", dst.name, url]
    return timed(lambda: run(cmd))


def requests_stream(url: str, dst: Path) -> float:
    import requests

    def go() -> None:
        with requests.get(url, stream=True, timeout=60) as resp, open(dst, "wb") as out:
            resp.raise_for_status()
            for piece in resp.iter_content(MiB):
                out.write(piece)

    return timed(go)


def requests_loop(base: str, names: list[str], dst: Path) -> float:
    import requests

    def go() -> None:
        with requests.Session() as session:
            for name in names:
                target = dst / name
                target.parent.mkdir(parents=True, exist_ok=True)
                resp = session.get(base + name, timeout=60)
                resp.raise_for_status()
                target.write_bytes(resp.content)

    return timed(go)


FEDERATE_CHILD = """
import json, sys, time
import federate
t = time.perf_counter()
federate.download(sys.argv[1], sys.argv[2], progress=False)
first = time.perf_counter() - t
print(json.dumps({"seconds": first}))
"""

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


def federate_child(code: str, args: list[str], home: Path, env: dict[str, str]) -> dict:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "FEDERATE_HOME": str(home), **env}
    out = subprocess.run(
        [sys.executable, "-c", code, *args], env=full_env, capture_output=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"federate failed: {out.stderr.decode()[-2000:]}")
    return json.loads(out.stdout.decode().strip().splitlines()[-1])


def federate_file(url: str, dst: Path, home: Path, **env: str) -> float:
    return float(federate_child(FEDERATE_CHILD, [url, str(dst)], home, env)["seconds"])


# -- main ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller data, for a smoke run")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    missing = [t for t in ("nginx", "curl", "aria2c") if shutil.which(t) is None]
    if "nginx" in missing:
        raise SystemExit("nginx is needed: apt-get install nginx")
    work = Path(tempfile.mkdtemp(prefix="federate-bench-"))
    work.chmod(0o755)  # nginx workers run as an unprivileged user
    data = work / "data"
    data.mkdir()
    log(f"writing {sizes['big_mib']} MiB + {sizes['small_files']} x 16 KiB under {work}")
    make_data(data, sizes["big_mib"], sizes["small_files"])
    names = sorted(p.relative_to(data / "tree").as_posix() for p in (data / "tree").rglob("*.bin"))
    nginx, fast, slow = start_nginx(work / "nginx", data)
    rows: list[tuple[str, str, float, float]] = []  # server, tool, seconds, MiB/s
    big = sizes["big_mib"]
    try:
        for label, port in (("uncapped", fast), ("25 MB/s per connection", slow)):
            url = f"http://127.0.0.1:{port}/big.bin"
            contenders: dict[str, Callable[[Path], float]] = {
                "curl (1 stream)": lambda d, u=url: curl(u, d),
                "aria2c -x16 -s16": lambda d, u=url: aria2c(u, d),
                "requests (1 stream, 1 MiB reads)": lambda d, u=url: requests_stream(u, d),
                "federate (default: 16 workers)": lambda d, u=url: federate_file(
                    u, d, work / "home-plain"
                ),
                "federate (8 workers)": lambda d, u=url: federate_file(
                    u, d, work / "home-plain", FEDERATE_MAX_WORKERS="8"
                ),
            }
            for tool, fn in contenders.items():
                if tool.split()[0] in missing:
                    continue
                dst = work / "out" / "big.bin"
                dst.parent.mkdir(parents=True, exist_ok=True)
                log(f"{label}: {tool}")
                seconds = fn(dst)
                assert dst.stat().st_size == big * MiB, tool
                rows.append((label, tool, seconds, big / seconds))
                shutil.rmtree(work / "out")
        tree_url = f"http://127.0.0.1:{fast}/tree/"
        log("small files: requests loop")
        loop = requests_loop(tree_url, names, work / "out-loop")
        log("small files: federate")
        fed_tree = federate_file(tree_url, work / "out-tree", work / "home-plain")
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

    print(f"\nOne file of {big} MiB from nginx on 127.0.0.1 (MiB/s, higher is better)")
    for label in ("uncapped", "25 MB/s per connection"):
        group = [r for r in rows if r[0] == label]
        best_peer = max((r for r in group if not r[1].startswith("federate")), key=lambda r: r[3])
        print(f"  {label}:")
        for _, tool, seconds, rate in group:
            print(f"    {tool:<36} {seconds:7.2f} s  {rate:8.0f} MiB/s")
        for _, tool, _, rate in group:
            if tool.startswith("federate"):
                print(f"    {tool} / best peer ({best_peer[1]}): {rate / best_peer[3]:.2f}x")
    n = len(names)
    print(
        f"\n{n} files of 16 KiB: sequential requests loop {loop:.2f} s, federate "
        f"{fed_tree:.2f} s -> {loop / fed_tree:.1f}x (goal >= 3x)"
    )
    print(
        f"\nRegistry version of {big} MiB: first download (network + cache fill) "
        f"{cache['cold']:.2f} s, cached re-download {cache['warm'] * 1000:.0f} ms (goal < 200 ms)"
    )


if __name__ == "__main__":
    main()
