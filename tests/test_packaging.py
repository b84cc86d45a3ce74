"""What an installed federate must be: light to import, and able to migrate a database."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from federate.testing.cli import pip_install
from federate.testing.databases import database_params, fresh_database_uri

ROOT = Path(__file__).resolve().parents[1]
#: what ``import federate`` must not load (each costs tens of milliseconds or more, and
#: short processes, a CLI call or a serving entrypoint, pay it whether they use it or not):
#: cloud SDKs, the SQL stack, the server, the HTTP client, the CLI toolkit, progress bars
HEAVY = (
    "boto3",
    "botocore",
    "azure",
    "google",
    "alembic",
    "sqlalchemy",
    "sqlalchemy.orm",
    "starlette",
    "uvicorn",
    "urllib3",
    "requests",
    "click",
    "tqdm",
    "filelock",
    "mlflow",
)


def test_import_federate_does_not_import_heavy_modules():
    code = (
        f"import sys, json, federate; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_federate_help_imports_no_sql_stack_nor_cloud_sdk():
    """``federate --help`` (and every command that does not open a SQL registry) costs
    click and federate's own modules only: ``federate db`` loads SQLAlchemy when it runs."""
    heavy = tuple(m for m in HEAVY if m != "click")
    code = (
        "import sys, json\n"
        "from federate.cli import main\n"
        "sys.argv = ['federate', '--help']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(json.dumps([m for m in {heavy!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.splitlines()[-1]) == []


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(out),
            str(ROOT),
        ],
        check=True,
    )
    return next(out.glob("federate-*.whl"))


def test_wheel_ships_migrations_typing_marker_and_entry_points(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "federate/py.typed" in names
    assert "federate/_migrations/env.py" in names
    assert "federate/_migrations/script.py.mako" in names
    versions = {Path(n).name for n in names if n.startswith("federate/_migrations/versions/")}
    on_disk = {p.name for p in (ROOT / "migrations" / "versions").glob("*.py")}
    assert on_disk <= versions
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "federate = federate.cli:main" in text and "[pytest11]" in text


@pytest.mark.parametrize("database", database_params())
def test_installed_wheel_creates_a_registry_from_its_own_migrations(wheel, tmp_path, database):
    uri = fresh_database_uri(database, tmp_path)
    target = pip_install(tmp_path / "site", wheel)
    code = (
        "import federate, federate.registry.sql.db as db; "
        "reg = federate.get_registry(__import__('sys').argv[1]); "
        "reg.create_registered_model('m'); "
        "print(db.migrations_dir())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, uri],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={
            "PYTHONPATH": str(target),
            "FEDERATE_HOME": str(tmp_path / "home"),
            "PATH": "/usr/bin:/bin",
        },
    )
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()) == target / "federate" / "_migrations"
