"""redact: storage and database URIs fit for messages, with nothing secret and nothing mangled."""

from __future__ import annotations

import pytest

from federate.errors import redact


@pytest.mark.parametrize(
    "uri, shown",
    [
        ("sqlite:////var/lib/federate/registry.db", "sqlite:////var/lib/federate/registry.db"),
        ("sqlite:///relative.db", "sqlite:///relative.db"),
        (
            "postgresql+psycopg://svc:hunter2@db:5432/reg",
            "postgresql+psycopg://svc:***@db:5432/reg",
        ),
        ("mysql+pymysql://root@db/reg", "mysql+pymysql://root@db/reg"),
        (
            "https://acct.blob.core.windows.net/c/m?sv=2024&sig=SECRET",
            "https://acct.blob.core.windows.net/c/m?<redacted>",
        ),
        ("https://h/p#token=SECRET", "https://h/p"),
        ("s3://bucket/key with space", "s3://bucket/key with space"),
        ("/plain/path", "/plain/path"),
        ("file:///x/y", "file:///x/y"),
    ],
)
def test_redact_hides_secrets_and_keeps_the_rest_as_written(uri: str, shown: str) -> None:
    assert redact(uri) == shown
    assert "SECRET" not in redact(uri) and "hunter2" not in redact(uri)
