"""FEDERATE_SQLALCHEMY_ECHO=debug on every database, webhooks with a secret and a URL whose
path and query are its credential: statements and rows are logged, no secret is, through
any channel (records, a root handler, SQLAlchemy's own echo handler on stdout)."""

from __future__ import annotations

import logging

import pytest

from federate.config import RegistryConfig
from federate.registry.sql.store import SqlRegistry
from federate.testing.logs import debug_logs

SECRET = "whsec-Echo-9f2c41"
NEW_SECRET = "whsec-Echo-new-77ab02"
PATH_TOKEN = "B0ECHO/PathToken6d1e"
QUERY_TOKEN = "QueryToken-c81f"

pytestmark = pytest.mark.usefixtures("webhook_dispatcher")


def test_sql_echo_and_deliveries_log_no_webhook_secret(
    database_uri, tmp_path, monkeypatch, webhook_receiver, webhook_dispatcher, capsys
):
    monkeypatch.setenv("FEDERATE_SQLALCHEMY_ECHO", "debug")  # statements, parameters, rows
    # SQLAlchemy adds its stdout handler once per process: let it add one to this test's stdout
    monkeypatch.setattr(logging.getLogger("sqlalchemy.engine.Engine"), "handlers", [])
    url = webhook_receiver.url.replace("/hook", f"/services/{PATH_TOKEN}") + f"?token={QUERY_TOKEN}"
    with debug_logs() as logs:
        registry = SqlRegistry(RegistryConfig(uri=database_uri, artifact_root=str(tmp_path)))
        hook = registry.create_webhook("deploys", url, ["registered_model.created"], secret=SECRET)
        registry.update_webhook(hook.id, secret=NEW_SECRET)
        registry.create_registered_model("m")
        assert webhook_dispatcher.flush(10)
        assert registry.test_webhook(hook.id).success
        registry.list_webhooks()
    first, tested = webhook_receiver.wait_for(2)
    assert first.path == tested.path == f"/services/{PATH_TOKEN}?token={QUERY_TOKEN}"

    logs.assert_hidden([SECRET, NEW_SECRET, PATH_TOKEN, QUERY_TOKEN])
    echoed = [r.getMessage() for r in logs.records if r.name.startswith("sqlalchemy.engine")]
    assert any("INSERT INTO webhooks" in m for m in echoed)  # the echo still shows statements
    assert any("'deploys'" in m for m in echoed)  # and the parameters that are not secret
    assert logs.count("urllib3") > 0  # the deliveries' request lines were logged
    out = capsys.readouterr()
    assert "INSERT INTO webhooks" in out.out  # SQLAlchemy's own echo handler
    for secret in (SECRET, NEW_SECRET, PATH_TOKEN, QUERY_TOKEN):
        assert secret not in out.out + out.err
