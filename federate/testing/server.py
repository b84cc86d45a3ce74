"""``federate serve`` on a free 127.0.0.1 port, for tests (and plugin authors' tests).

:func:`running_server` starts uvicorn on a thread of this process, serving the given SQL
registry, and stops it on exit; the ``federate_server`` fixture serves a fresh SQLite
registry (artifact root under ``tmp_path``) and yields a :class:`ServedRegistry`.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from federate.registry.base import Registry

API = "/api/2.1/unity-catalog"


@dataclass
class ServedRegistry:
    """A running server: its base URL, the registry behind it, and a small JSON client."""

    url: str
    registry: Registry
    token: str | None = field(default=None, repr=False)

    @property
    def uc_uri(self) -> str:
        """The registry URI federate's ``uc:`` plugin (and MLflow) use for it."""
        return f"uc:{self.url}"

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """(status, decoded JSON answer) of one request; ``path`` is relative to the API
        root unless it starts with ``/``."""
        url = self.url + (path if path.startswith("/") else f"{API}/{path}")
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        bearer = token if token is not None else self.token
        if bearer:
            request.add_header("Authorization", f"Bearer {bearer}")
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                status, payload, kind = resp.status, resp.read(), resp.headers.get("Content-Type")
        except urllib.error.HTTPError as err:
            status, payload, kind = err.code, err.read(), err.headers.get("Content-Type")
        assert kind is not None and kind.startswith("application/json"), (status, kind, payload)
        return status, json.loads(payload) if payload else None

    def seed(self, full_name: str = "main.ml.m", pending_versions: int = 0) -> None:
        """Create the catalog, schema and model ``full_name`` names through the API (an
        existing one is left as it is), then ``pending_versions`` new versions of it."""
        catalog, schema, model = full_name.split(".")
        self.call("POST", "catalogs", {"name": catalog})
        self.call("POST", "schemas", {"name": schema, "catalog_name": catalog})
        self.call("POST", "models", {"name": model, "catalog_name": catalog, "schema_name": schema})
        names = {"catalog_name": catalog, "schema_name": schema, "model_name": model}
        for _ in range(pending_versions):
            status, answer = self.call("POST", "models/versions", {**names, "source": "s"})
            assert status == 200, answer


def sqlite_registry(path: Path, artifact_root: str) -> Registry:
    """A SQL registry in a new SQLite file at ``path``, its schema created, storing new
    versions under ``artifact_root``."""
    from federate.config import RegistryConfig
    from federate.registry.sql.store import SqlRegistry

    registry = SqlRegistry(RegistryConfig(f"sqlite:///{path}", artifact_root, None, "argument"))
    with registry.session.write(create=True):  # creates the database
        pass
    return registry


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_server(
    registry: Registry,
    *,
    token: str | None = None,
    read_token: str | None = None,
    log_level: str | None = None,
    **app_args: Any,
) -> Iterator[ServedRegistry]:
    """Serve ``registry`` until the block ends. With ``log_level`` uvicorn logs at that
    level, access log included, through the process's logging (records reach the root
    logger, and pytest's ``caplog``); without, it logs only warnings."""
    import uvicorn

    from federate.server.app import create_app
    from federate.server.auth import Tokens

    app = create_app(registry, Tokens(token, read_token), **app_args)
    port = free_port()
    logging: dict[str, Any] = {"log_level": "warning"}
    if log_level is not None:
        logging = {"log_level": log_level, "log_config": None, "access_log": True}
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", **logging)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"federate-serve-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"federate serve did not start on 127.0.0.1:{port}")
        time.sleep(0.02)
    try:
        yield ServedRegistry(f"http://127.0.0.1:{port}", registry, token)
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@pytest.fixture
def federate_server(tmp_path: Path) -> Iterator[ServedRegistry]:
    """A fresh SQLite registry (artifacts under ``tmp_path/artifacts``) served over the
    Unity Catalog API, without authentication."""
    pytest.importorskip("uvicorn")
    registry = sqlite_registry(tmp_path / "served.db", str(tmp_path / "artifacts"))
    with running_server(registry) as served:
        yield served
