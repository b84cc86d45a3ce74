"""``bench/.venv``: MLflow 3.x and an editable federate, kept apart from the test interpreter.

MLflow is never installed into the interpreter that runs the tests. The first benchmark
that needs it creates this virtual environment (a few minutes, needs PyPI); later runs
reuse it. Delete ``bench/.venv`` to reinstall.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENV = HERE / ".venv"
VENV_PY = VENV / "bin" / "python"
VENV_READY = VENV / ".bench-ready"  # written once mlflow and federate are installed
MLFLOW_REQ = "mlflow>=3,<4"


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def mlflow_python() -> Path:
    """The venv's interpreter, creating the venv first if needed."""
    if not VENV_READY.exists():
        log(f"creating {VENV} with {MLFLOW_REQ} and federate (takes a few minutes, once)")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        pip = [str(VENV_PY), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, MLFLOW_REQ, "-e", str(REPO)], check=True)
        VENV_READY.write_text(MLFLOW_REQ + "\n")
    return VENV_PY
