"""redact: storage and database URIs fit for messages, with nothing secret and nothing mangled;
describe: other exceptions' text, with the same secrets hidden."""

from __future__ import annotations

import pytest

from federate.errors import describe, redact, redact_urls


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
        # generated passwords with unencoded / ? # @: hidden whole, the host still shown
        (
            "postgresql+psycopg://svc:hun/ter2@db:5432/reg",
            "postgresql+psycopg://svc:***@db:5432/reg",
        ),
        ("mysql+pymysql://svc:hun?ter2=x@db/reg", "mysql+pymysql://svc:***@db/reg"),
        ("postgresql://svc:hun#ter2@db/reg", "postgresql://svc:***@db/reg"),
        (
            "postgresql+psycopg://svc:hu@n/te?r#2hunter2@db:5432/reg",
            "postgresql+psycopg://svc:***@db:5432/reg",
        ),
        (
            "oracle+oracledb://svc:hunter2/x@[::1]:1521/reg",
            "oracle+oracledb://svc:***@[::1]:1521/reg",
        ),
        ("unknown+scheme://svc:a/hunter2@h/x", "unknown+scheme://svc:***@h/x"),
        # an "@" after the host belongs to the path or query, not to a password
        ("https://h/p/a@b?SECRET", "https://h/p/a@b?<redacted>"),
        ("sqlite:////srv/a@b/reg.db", "sqlite:////srv/a@b/reg.db"),
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


def test_redact_urls_keeps_quotes_and_brackets_around_urls() -> None:
    said = redact_urls(
        """cannot open 'postgresql://svc:a/hunter2@db/reg' (https://h/p?sig=SECRET)"""
    )
    assert said == "cannot open 'postgresql://svc:***@db/reg' (https://h/p?<redacted>)"


def test_describe_hides_sql_parameters_holding_a_stored_webhook_secret() -> None:
    import sqlalchemy.exc

    err = sqlalchemy.exc.OperationalError(
        "INSERT INTO webhooks (id, url, secret) VALUES (?, ?, ?)",
        ("abc", "https://hooks.example.com/x?token=SECRET", "plain:hunter2"),
        Exception("database is locked"),
    )
    said = describe(err)
    assert said.startswith("OperationalError: (builtins.Exception) database is locked")
    assert "INSERT INTO webhooks" in said
    assert "SECRET" not in said and "hunter2" not in said
