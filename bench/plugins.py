"""Benchmark: what installed plugins cost a ``federate resolve`` run.

Runs ``federate resolve models:/m@champion`` in fresh processes, with the two example
plugins (examples/plugins/federate-zip and federate-index) pip-installed into a directory
on ``PYTHONPATH``, and without them; the runs alternate so drift on a busy machine hits
both sides alike. Prints the median wall time of each and the difference. Goal: under
20 ms, i.e. discovering plugins (reading entry points, importing the plugin modules,
calling their hooks) is cheap, and neither example imports its implementation unless its
scheme is used.

Whole-process wall time on a shared machine wobbles by more than the effect, so the
script also times the part plugins change, building the plugin host (``get_plugin_host()``
in a fresh process, timed inside it), the same way.

    python bench/plugins.py            # 21 runs each
    python bench/plugins.py --runs 51
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # this checkout's federate, even if another is installed

from federate.testing.cli import pip_install  # noqa: E402

EXAMPLES = [
    REPO / "examples" / "plugins" / "federate-zip",
    REPO / "examples" / "plugins" / "federate-index",
]
GOAL_MS = 20.0


def run(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, env=env, check=True, capture_output=True)
    return (time.perf_counter() - start) * 1000


HOST_PROBE = (
    "import time, federate.plugins.manager as m; t = time.perf_counter(); m.get_plugin_host(); "
    "print((time.perf_counter() - t) * 1000)"
)


def host_ms(env: dict[str, str]) -> float:
    out = subprocess.run(
        [sys.executable, "-c", HOST_PROBE], env=env, check=True, capture_output=True, text=True
    )
    return float(out.stdout)


def report(label: str, none: list[float], both: list[float]) -> None:
    a, b = statistics.median(none), statistics.median(both)
    print(f"{label}, median of {len(none)} fresh processes each")
    print(f"  no plugins installed:      {a:7.1f} ms")
    print(f"  both examples installed:   {b:7.1f} ms")
    print(
        f"  difference:                {b - a:+7.1f} ms  (goal < {GOAL_MS:.0f} ms: "
        f"{'met' if b - a < GOAL_MS else 'NOT met'})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="runs per side (default 21)")
    parser.add_argument("--quick", action="store_true", help="5 runs per side, for a smoke run")
    opts = parser.parse_args()
    if opts.quick:
        opts.runs = 5

    with tempfile.TemporaryDirectory(prefix="federate-bench-plugins-") as tmp:
        site, home = Path(tmp) / "site", Path(tmp) / "home"
        pip_install(site, *EXAMPLES)
        base = {k: v for k, v in os.environ.items() if not k.startswith("FEDERATE_")}
        base["FEDERATE_HOME"] = str(home)
        without = {**base, "PYTHONPATH": str(REPO)}
        with_examples = {**base, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}
        cli = [sys.executable, "-m", "federate"]
        model = Path(tmp) / "model"
        model.mkdir()
        (model / "MLmodel").write_text("flavors: {}\n")
        run([*cli, "register", str(model), "m", "--alias", "champion"], without)
        listed = subprocess.run(
            [*cli, "plugins"], env=with_examples, capture_output=True, text=True
        )
        assert "federate-zip" in listed.stdout and "federate-index" in listed.stdout, listed.stdout

        resolve = [*cli, "resolve", "models:/m@champion"]
        for env in (without, with_examples):  # untimed: writes .pyc files
            run(resolve, env)
        times: dict[str, list[float]] = {"none": [], "both": [], "host none": [], "host both": []}
        for _ in range(opts.runs):
            times["none"].append(run(resolve, without))
            times["both"].append(run(resolve, with_examples))
            times["host none"].append(host_ms(without))
            times["host both"].append(host_ms(with_examples))

    report("federate resolve (wall time)", times["none"], times["both"])
    report("plugin host build (inside the process)", times["host none"], times["host both"])


if __name__ == "__main__":
    main()
