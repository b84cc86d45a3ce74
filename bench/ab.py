"""A/B: federate at an older commit against this checkout, downloading one file from nginx
on 127.0.0.1 (uncapped, or ``--cap`` MB/s per connection), in fresh processes, alternating.

For a change to the download path: each pair runs old then new (the order flips every
pair), ``os.sync()`` before each run, and each child prints the call's wall time and its
own CPU time (user and system apart, all threads, the import not included). The table
shows medians and best runs, and new/old ratios (< 1: the change made it cheaper).

    python bench/ab.py --old main                 # 1 GiB, 7 pairs
    python bench/ab.py --old HEAD~1 --mib 256 --pairs 9 --cap 25

The old tree is ``git archive <rev> federate`` in a temporary directory, put first on
PYTHONPATH (as this checkout is for the new side). Needs nginx (``apt-get install nginx``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from download import start_nginx
from harness import log

REPO = Path(__file__).resolve().parent.parent
CHILD = """
import json, resource, sys, time
import federate
u0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
federate.download(sys.argv[1], sys.argv[2], progress=False)
wall, u1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"wall": wall, "user": u1.ru_utime - u0.ru_utime,
                  "sys": u1.ru_stime - u0.ru_stime, "minflt": u1.ru_minflt - u0.ru_minflt}))
"""


def run_one(tree: Path, url: str, out: Path, home: Path) -> dict[str, float]:
    subprocess.run(["rm", "-rf", str(out)], check=True)
    out.mkdir(parents=True)
    os.sync()
    env = {**os.environ, "PYTHONPATH": str(tree), "FEDERATE_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, url, str(out)], env=env, capture_output=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr.decode()[-2000:])
    return json.loads(done.stdout.decode().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", required=True, help="git revision of the old side")
    parser.add_argument("--mib", type=int, default=1024, help="file size (default 1024)")
    parser.add_argument("--pairs", type=int, default=7, help="old/new pairs (default 7)")
    parser.add_argument("--cap", type=int, default=0, help="MB/s per connection (0: uncapped)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="federate-ab-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)  # nginx workers run as an unprivileged user
        old = work / "old"
        old.mkdir()
        git = ["git", "-C", str(REPO), "archive", args.old, "federate"]
        archive = subprocess.run(git, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive.stdout, check=True)
        data = work / "data"
        data.mkdir()
        pattern = os.urandom(16 * 1024 * 1024)
        with open(data / "big.bin", "wb") as f:
            for _ in range(max(1, args.mib // 16)):
                f.write(pattern)
        nginx, fast, slow = start_nginx(work / "nginx", data)
        url = f"http://127.0.0.1:{slow if args.cap else fast}/big.bin"
        if args.cap and args.cap != 25:
            log("--cap: the bench's nginx caps at 25 MB/s per connection; using that")
        results: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
        try:
            for pair in range(args.pairs):
                order = [("old", old), ("new", REPO)]
                for side, tree in order if pair % 2 == 0 else order[::-1]:
                    got = run_one(tree, url, work / "out", work / f"home-{side}")
                    results[side].append(got)
                    shown = " ".join(f"{k} {v:.2f}" for k, v in got.items())
                    log(f"pair {pair + 1} {side}: {shown}")
        finally:
            nginx.send_signal(signal.SIGQUIT)
            nginx.wait(timeout=10)
    gib = args.mib / 1024
    print(f"\n{args.mib} MiB, {args.pairs} pairs, old = {args.old}, new = this checkout")
    print(f"{'':<5} {'wall med':>9} {'wall best':>10} {'user':>6} {'sys':>6} {'cpu s/GiB':>10}")
    med: dict[str, dict[str, float]] = {}
    for side, runs in results.items():
        med[side] = {k: statistics.median(r[k] for r in runs) for k in ("wall", "user", "sys")}
        cpu = statistics.median(r["user"] + r["sys"] for r in runs)
        med[side]["cpu"] = cpu
        best = min(r["wall"] for r in runs)
        m = med[side]
        print(
            f"{side:<5} {m['wall']:>9.2f} {best:>10.2f} {m['user']:>6.2f} {m['sys']:>6.2f} "
            f"{cpu / gib:>10.2f}"
        )
    ratio = {k: med["new"][k] / med["old"][k] for k in ("wall", "user", "sys", "cpu")}
    print("new/old (medians): " + ", ".join(f"{k} {v:.2f}" for k, v in ratio.items()))


if __name__ == "__main__":
    main()
