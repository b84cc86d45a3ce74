"""``federate webhooks ...`` as a user types it, and a short-lived CLI process whose
deliveries still arrive (the exit hook waits for them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from federate.cli import cli
from federate.webhooks.signing import EVENT_HEADER, verify

ROOT = Path(__file__).resolve().parents[2]
SECRET = "cli-secret-41"


@pytest.fixture
def run(federate_home, webhook_dispatcher):
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None, env: dict[str, str] | None = None):
        return runner.invoke(cli, list(args), input=input, env=env, catch_exceptions=False)

    return invoke


def _only_id(run) -> str:
    (line,) = run("webhooks", "list", "--no-header").stdout.splitlines()
    return line.split("\t")[0]


def test_create_list_update_test_delete(run, webhook_receiver):
    res = run(
        "webhooks",
        "create",
        "deploys",
        webhook_receiver.url + "?token=t-55",
        "--event",
        "model_version.created",
        "--event",
        "prompt.created",
        "--secret-env",
        "HOOK_SECRET",
        env={"HOOK_SECRET": SECRET},
    )
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("Created webhook ") and res.stdout.rstrip().endswith("(deploys)")
    hook_id = _only_id(run)
    listed = run("webhooks", "list", "--no-header").stdout.rstrip("\n").split("\t")
    assert listed == [
        hook_id,
        "deploys",
        "ACTIVE",
        "signed",
        webhook_receiver.url + "?<redacted>",
        "model_version.created,prompt.created",
    ]
    (as_json,) = json.loads(run("webhooks", "list", "--json").stdout)
    assert as_json["id"] == hook_id and as_json["has_secret"] is True
    assert SECRET not in run("webhooks", "list", "--json").stdout
    # the URL's token is hidden as in the table
    assert as_json["url"] == webhook_receiver.url + "?<redacted>"

    res = run("webhooks", "test", hook_id, "--event", "prompt.created")
    assert res.exit_code == 0 and res.stdout.startswith("Delivered prompt.created (")
    (request,) = webhook_receiver.requests
    assert request.header(EVENT_HEADER) == "prompt.created"
    assert verify(SECRET, request.headers, request.body)

    res = run("webhooks", "update", hook_id, "--status", "disabled", "--remove-secret")
    assert res.stdout == f"Updated webhook {hook_id} (deploys, DISABLED)\n"
    assert run("webhooks", "list", "--no-header").stdout.split("\t")[2:4] == [
        "DISABLED",
        "unsigned",
    ]
    res = run("webhooks", "update", hook_id, "--secret-stdin", input="new-secret\n")
    assert res.exit_code == 0 and "\tsigned\t" in run("webhooks", "list").stdout

    webhook_receiver.answer_with(502)
    res = run("webhooks", "test", hook_id, "--json")
    assert res.exit_code == 1
    assert json.loads(res.stdout)["status_code"] == 502

    assert run("webhooks", "delete", hook_id, "--yes").stdout == f"Deleted webhook {hook_id}\n"
    assert run("webhooks", "list", "--no-header").stdout == ""


def test_bad_input_gets_one_line_errors(run):
    res = run("webhooks", "create", "h", "ftp://h/x", "--event", "prompt.created")
    assert res.exit_code == 1
    assert res.stderr.startswith("federate: error: Invalid webhook URL 'ftp://h/x'")
    assert "http://, https://" in res.stderr and "[INVALID_PARAMETER_VALUE]" in res.stderr
    res = run("webhooks", "create", "h", "http://h/x", "--event", "model.deleted")
    assert res.exit_code == 2 and "'model.deleted' is not one of" in res.stderr
    res = run(
        "webhooks",
        "create",
        "h",
        "http://h/x",
        "--event",
        "prompt.created",
        "--secret-env",
        "NOPE_UNSET",
    )
    assert res.exit_code == 2 and "NOPE_UNSET is not set" in res.stderr
    assert run("models", "create", "m").exit_code == 0  # the registry database exists
    res = run("webhooks", "delete", "0123", "--yes")
    assert res.exit_code == 1 and "Webhook '0123' does not exist" in res.stderr


def test_a_short_lived_cli_write_still_delivers_at_exit(federate_home, webhook_receiver):
    env = {
        **os.environ,
        "FEDERATE_HOME": str(federate_home),
        "PYTHONPATH": str(ROOT),  # this checkout's federate, not the installed one
        "HOOK_SECRET": SECRET,
    }

    def federate(*args: str) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(
            [sys.executable, "-m", "federate", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        return out

    webhook_receiver.delay_s = 0.3  # still in flight when the command's work is done
    federate(
        "webhooks",
        "create",
        "h",
        webhook_receiver.url,
        "--event",
        "registered_model.created",
        "--secret-env",
        "HOOK_SECRET",
    )
    federate("models", "create", "iris")
    (request,) = webhook_receiver.requests
    assert request.json()["data"]["name"] == "iris"
    assert verify(SECRET, request.headers, request.body)
