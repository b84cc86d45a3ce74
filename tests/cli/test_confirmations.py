"""Deleting asks first: at a terminal "n" aborts (exit 1); with no terminal, --yes is needed."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

import pytest

from federate.testing.cli import python_path


def _at_a_terminal(args: list[str], answer: str) -> tuple[int, str]:
    """Run ``federate ARGS`` with a pseudo-terminal as stdin/stdout/stderr, answer the
    question, and return the exit status and everything the terminal showed."""
    leader, follower = pty.openpty()
    env = {**os.environ, "PYTHONPATH": python_path(base=os.environ.get("PYTHONPATH"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "federate", *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
        close_fds=True,
    )
    os.close(follower)
    shown = b""
    answered = False
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(leader, 4096)
                except OSError:  # the follower closed: the process is done
                    break
                if not chunk:
                    break
                shown += chunk
            if not answered and b"[y/N]" in shown:
                os.write(leader, answer.encode() + b"\n")
                answered = True
            if proc.poll() is not None and not ready:
                break
        return proc.wait(timeout=30), shown.decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(leader)


def test_declining_at_a_terminal_prints_aborted_and_exits_1(run, model_tree):
    assert run("register", str(model_tree), "fraud").exit_code == 0
    status, shown = _at_a_terminal(["models", "delete", "fraud"], "n")
    assert "Delete registered model fraud? [y/N]" in shown
    assert status == 1, shown
    assert "aborted" in shown and "interrupted" not in shown
    assert run("resolve", "models:/fraud/1").exit_code == 0  # still there

    status, shown = _at_a_terminal(["models", "delete", "fraud", "1"], "y")
    assert status == 0, shown
    assert "Deleted version 1 of fraud" in shown
    assert run("resolve", "models:/fraud/1").exit_code == 1


@pytest.mark.parametrize(
    "command",
    [
        ["models", "delete", "fraud"],
        ["models", "delete", "fraud", "1"],
        ["prompts", "delete", "summ"],
        ["webhooks", "delete", "WEBHOOK"],
    ],
)
def test_without_a_terminal_deleting_needs_yes(run, model_tree, command):
    assert run("register", str(model_tree), "fraud").exit_code == 0
    assert run("prompts", "register", "summ", "Summarise {{ text }}").exit_code == 0
    created = run(
        "webhooks", "create", "hook", "https://example.com/h", "--event", "prompt.created"
    )
    hook_id = created.stdout.split()[2]
    command = [hook_id if arg == "WEBHOOK" else arg for arg in command]

    # a "y" on a pipe is not a person answering: nothing is deleted
    res = run(*command, input="y\n")
    assert res.exit_code == 1, res.output
    assert "--yes" in res.stderr and "stdin is not a terminal" in res.stderr
    assert res.stderr.rstrip().endswith("[INVALID_PARAMETER_VALUE]")
    assert "interrupted" not in res.stderr
    env = {**os.environ, "PYTHONPATH": python_path(base=os.environ.get("PYTHONPATH"))}
    proc = subprocess.run(  # a real process whose stdin is not a terminal
        [sys.executable, "-m", "federate", *command],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 1 and "--yes" in proc.stderr, proc.stderr
    assert run("resolve", "models:/fraud/1").exit_code == 0
    assert run("prompts", "show", "prompts:/summ/1").exit_code == 0
    assert hook_id in run("webhooks", "list").stdout

    res = run(*command, "--yes")
    assert res.exit_code == 0 and res.stdout.startswith("Deleted"), res.output
