"""A real ``mlflow server`` for tests: SQLite backend, ``--serve-artifacts`` into a
temporary directory, on 127.0.0.1 and a free port, one per test session.

MLflow (the full package, for its server) is found through ``FEDERATE_MLFLOW_SERVER``
(the path of an ``mlflow`` executable, e.g. ``/opt/mlflow-venv/bin/mlflow``), else
``mlflow`` on ``PATH``; missing, the tests skip saying how to get it (they fail under
``FEDERATE_TEST_REQUIRE_SERVERS=1``). It may live in a virtual environment of its own:
its pins (SQLAlchemy, pandas...) then never touch the one federate is tested in.
:meth:`MlflowServer.run_client` runs MLflow's own Python client from that environment,
in a subprocess, so tests compare federate's answers with MLflow's.

``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false``: otherwise the server leaves job-runner
processes behind after SIGTERM. The server runs in a process group of its own, which
is what is stopped.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from federate.testing.faults import FaultProxy
from federate.testing.s3 import REGION, MotoS3
from federate.testing.stores import server_unavailable

MLFLOW_ENV = "FEDERATE_MLFLOW_SERVER"
#: the MLflow release the tests are written against (what .ci/run installs)
MLFLOW_VERSION = "3.17.2"
START_TIMEOUT_S = 180.0
INSTALL_HINT = (
    f"python -m venv /opt/mlflow && /opt/mlflow/bin/pip install mlflow=={MLFLOW_VERSION}, "
    f"then set {MLFLOW_ENV}=/opt/mlflow/bin/mlflow (or put mlflow on PATH)"
)


def find_mlflow() -> str | None:
    """The ``mlflow`` executable: ``FEDERATE_MLFLOW_SERVER``, else ``mlflow`` on PATH."""
    explicit = os.environ.get(MLFLOW_ENV, "").strip()
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    return shutil.which("mlflow")


@dataclass
class MlflowServer:
    """A running server: its tracking URI, where it keeps artifacts, and the Python of
    the environment MLflow is installed in."""

    url: str
    artifacts: Path
    python: str
    process: subprocess.Popen[bytes]
    log: Path

    def run_client(self, script: str, *args: str, env: dict[str, str] | None = None) -> Any:
        """Run ``script`` with MLflow's client (``MLFLOW_TRACKING_URI`` = this server,
        ``sys.argv[1:]`` = ``args``); its last stdout line, decoded as JSON."""
        return run_script(
            self.python,
            script,
            *args,
            env={
                **{k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")},
                "MLFLOW_TRACKING_URI": self.url,
                **(env or {}),
            },
        )


#: a script for :meth:`MlflowServer.run_client` that logs the tree ``sys.argv[1]`` to a new
#: run (under ``model/``) and registers it as a new version of the model ``sys.argv[2]``
#: (created if missing), as MLflow's client does; an alias in ``sys.argv[3]`` (optional)
#: then names it. Prints the version's number and source.
LOG_VERSION = """
import json, sys
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
client = MlflowClient()
tree, name = sys.argv[1], sys.argv[2]
experiment = client.get_experiment_by_name("federate")
experiment_id = experiment.experiment_id if experiment else client.create_experiment("federate")
run = client.create_run(experiment_id)
client.log_artifacts(run.info.run_id, tree, "model")
try:
    client.create_registered_model(name)
except MlflowException:
    pass  # already there
mv = client.create_model_version(name, f"{run.info.artifact_uri}/model", run.info.run_id)
if len(sys.argv) > 3:
    client.set_registered_model_alias(name, sys.argv[3], mv.version)
client.set_terminated(run.info.run_id)
print(json.dumps({"version": int(mv.version), "source": mv.source}))
"""


def run_script(
    python: str, script: str, *args: str, env: Mapping[str, str], timeout: float = 300
) -> Any:
    """Run ``python -c script args`` in ``env``; its last stdout line, decoded as JSON
    (a failure raises RuntimeError with the end of its stderr)."""
    done = subprocess.run(
        [python, "-c", script, *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{python} -c <script> failed: {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _python_of(executable: str) -> str:
    """The interpreter of the environment ``executable`` is installed in."""
    sibling = Path(executable).resolve().parent / "python"
    if sibling.exists():
        return str(sibling)
    first = Path(executable).read_bytes()[:200].split(b"\n", 1)[0]
    if first.startswith(b"#!"):
        return first[2:].decode().strip().split()[0]
    raise FileNotFoundError(f"no Python found for {executable}")


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"mlflow server exited with code {proc.returncode}: "
                f"{log.read_text(errors='replace')[-3000:]}"
            )
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"mlflow server did not answer {url}/health within {START_TIMEOUT_S:.0f}s")


def start_mlflow_server(
    workdir: Path, executable: str, *extra: str, env: Mapping[str, str] | None = None
) -> MlflowServer:
    """Start ``mlflow server`` in ``workdir``; stop it with :func:`stop_mlflow_server`.
    ``extra`` arguments come last (a repeated option wins: ``--artifacts-destination``,
    ``--workers``); ``env`` is added to the server's environment."""
    artifacts = workdir / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    log = workdir / "mlflow-server.log"
    server_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")},
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        **(env or {}),
    }
    for _attempt in range(3):  # the free port may be taken before the server binds it
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [
                    executable,
                    "server",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--workers",
                    "1",
                    "--backend-store-uri",
                    f"sqlite:///{workdir / 'mlflow.db'}",
                    "--serve-artifacts",
                    "--artifacts-destination",
                    str(artifacts),
                    *extra,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=workdir,
                env=server_env,
                start_new_session=True,
            )
        server = MlflowServer(url, artifacts, _python_of(executable), proc, log)
        try:
            _wait_ready(proc, url, log)
        except BaseException as err:
            stop_mlflow_server(server)
            if "address already in use" in str(err).lower():
                continue
            raise
        return server
    raise RuntimeError("mlflow server could not bind a free port in 3 attempts")


def stop_mlflow_server(server: MlflowServer) -> None:
    """Stop the server's process group (uvicorn and its workers)."""
    proc = server.process
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _require_mlflow() -> str:
    executable = find_mlflow()
    if executable is None:
        explicit = os.environ.get(MLFLOW_ENV)
        what = f"{MLFLOW_ENV}={explicit} (not an executable)" if explicit else "mlflow server"
        server_unavailable(f"{what} (MLflow {MLFLOW_VERSION} from PyPI)", INSTALL_HINT)
    return executable


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """One ``mlflow server`` for the session (SQLite, ``--serve-artifacts``)."""
    server = start_mlflow_server(tmp_path_factory.mktemp("mlflow"), _require_mlflow())
    try:
        yield server
    finally:
        stop_mlflow_server(server)


@dataclass
class MlflowOverS3:
    """An ``mlflow server --serve-artifacts`` whose destination is an S3 bucket on moto,
    reached through ``s3``, a :class:`~federate.testing.faults.FaultProxy` that sees every
    request the server makes to the store."""

    server: MlflowServer
    bucket: str
    s3: FaultProxy


@pytest.fixture(scope="session")
def mlflow_s3_server(
    moto_s3_server: MotoS3, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MlflowOverS3]:
    """A second ``mlflow server`` for the session, its artifacts proxied to
    ``s3://<bucket>/mlflow`` on moto (``MLFLOW_S3_ENDPOINT_URL`` and the admin keys in its
    environment). The server needs boto3 in its own environment (.ci/run installs it)."""
    executable = _require_mlflow()
    python = _python_of(executable)
    if subprocess.run([python, "-c", "import boto3"], capture_output=True).returncode != 0:
        server_unavailable(
            f"boto3 in the mlflow server's environment ({python})",
            f"{python} -m pip install 'boto3>=1.28.56,<2' (as .ci/run does)",
        )
    bucket = "mlflow-over-s3"
    moto_s3_server.client().create_bucket(Bucket=bucket)
    s3 = FaultProxy(moto_s3_server.endpoint).start()
    workdir = tmp_path_factory.mktemp("mlflow-s3")
    env = {
        "MLFLOW_S3_ENDPOINT_URL": s3.url,
        "AWS_ACCESS_KEY_ID": moto_s3_server.access_key_id,
        "AWS_SECRET_ACCESS_KEY": moto_s3_server.secret_access_key,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(workdir / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(workdir / "no-aws-credentials"),
    }
    try:
        server = start_mlflow_server(
            workdir, executable, "--artifacts-destination", f"s3://{bucket}/mlflow", env=env
        )
    except BaseException:
        s3.stop()
        raise
    try:
        yield MlflowOverS3(server, bucket, s3)
    finally:
        stop_mlflow_server(server)
        s3.stop()
