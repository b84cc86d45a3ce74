"""One way to read numbers and sizes from the environment: wrong values fail naming the variable."""

from __future__ import annotations

import time

import pytest

import federate
from federate.credentials import CredentialKeeper, ScopedCredentials
from federate.envvars import env_float, env_int, env_size
from federate.errors import INVALID_PARAMETER_VALUE, FederateError
from federate.testing.cli import run_federate
from federate.testing.errors import raises_federate_error


def test_unset_or_blank_means_the_default():
    env = {"BLANK": "  "}
    assert env_int("UNSET", 7, 1, env=env) == 7
    assert env_int("BLANK", None, 1, env=env) is None
    assert env_float("BLANK", 0.5, 0, env=env) == 0.5
    assert env_size("BLANK", 1024, 1, env=env) == 1024


def test_values_are_parsed():
    env = {"N": " 12 ", "F": "0.25", "S": "8MiB", "K": "512k", "B": "4096"}
    assert env_int("N", 1, 1, env=env) == 12
    assert env_float("F", 1.0, 0, env=env) == 0.25
    assert [env_size(n, 1, 1, env=env) for n in ("S", "K", "B")] == [8 << 20, 512 << 10, 4096]


@pytest.mark.parametrize(
    "read, raw, accepted",
    [
        (lambda env: env_int("X", 1, 1, "workers", env), "many", "an integer >= 1 (workers)"),
        (lambda env: env_int("X", 1, 1, "", env), "0", "an integer >= 1"),
        (lambda env: env_int("X", 1, 1, "", env), "1.5", "an integer >= 1"),
        (lambda env: env_float("X", 1.0, 0, "", env), "-1", "a number >= 0"),
        (lambda env: env_float("X", 1.0, 0, "", env), "nan", "a number >= 0"),
        (lambda env: env_size("X", 1, 64, env), "8 parsecs", "a size in bytes"),
        (lambda env: env_size("X", 1, 64, env), "10", "a size in bytes"),
    ],
)
def test_unusable_values_name_the_variable_what_it_accepts_and_what_it_got(read, raw, accepted):
    with raises_federate_error(INVALID_PARAMETER_VALUE, "X must be ", accepted, repr(raw)):
        read({"X": raw})


def test_the_engine_settings_use_it(monkeypatch):
    from federate.transfer.settings import TransferSettings

    monkeypatch.setenv("FEDERATE_CHUNK_SIZE", "1k")
    with raises_federate_error(INVALID_PARAMETER_VALUE, "FEDERATE_CHUNK_SIZE", ">= 65536"):
        TransferSettings.from_env()


@pytest.mark.parametrize("raw", ["0", "-1", "nan", "abc", "inf", "-inf", "1e999"])
def test_a_timeout_must_be_a_finite_number_above_zero(raw):
    with raises_federate_error(INVALID_PARAMETER_VALUE, "T must be a number > 0", repr(raw)):
        env_float("T", 60.0, 0, "", {"T": raw}, above=True)


def test_a_number_of_thousands_of_digits_is_refused_by_name_and_shortened():
    raw = "9" * 5000
    for read in (
        lambda: env_int("N", 1, 1, "", {"N": raw}),
        lambda: env_float("N", 1.0, 0, "", {"N": raw}),
        lambda: env_size("N", 1, 1, {"N": raw}),
    ):
        with pytest.raises(FederateError) as caught:
            read()
        message = str(caught.value)
        assert caught.value.error_code == INVALID_PARAMETER_VALUE
        assert message.startswith("N must be ") and "(5000 characters)" in message
        assert len(message) < 200


NUMERIC_VARIABLES = [
    ("FEDERATE_HTTP_TIMEOUT", "0", "a number > 0"),
    ("FEDERATE_HTTP_TIMEOUT", "-1", "a number > 0"),
    ("FEDERATE_HTTP_TIMEOUT", "nan", "a number > 0"),
    ("FEDERATE_HTTP_TIMEOUT", "abc", "a number > 0"),
    ("FEDERATE_MAX_WORKERS", "9" * 5000, "an integer >= 1"),
]


@pytest.mark.parametrize(("name", "raw", "accepted"), NUMERIC_VARIABLES)
def test_a_bad_http_setting_fails_a_download_in_one_line(
    http_server, federate_home, tmp_path, monkeypatch, name, raw, accepted
):
    (http_server.directory / "f.bin").write_bytes(b"data")
    url = http_server.url("f.bin")
    monkeypatch.setenv(name, raw)
    with raises_federate_error(INVALID_PARAMETER_VALUE, name, accepted):
        federate.download(url, tmp_path / "api")
    res = run_federate("download", url, str(tmp_path / "cli"), env={name: raw})
    assert res.returncode == 1 and res.stdout == ""
    assert res.stderr.count("\n") == 1 and name in res.stderr and accepted in res.stderr
    assert "[INVALID_PARAMETER_VALUE]" in res.stderr
    assert not (tmp_path / "api").exists() and not (tmp_path / "cli").exists()


@pytest.mark.parametrize("raw", ["abc", "nan", "-inf"])
def test_a_bad_credential_refresh_margin_is_refused_by_name(federate_home, monkeypatch, raw):
    monkeypatch.setenv("FEDERATE_CREDENTIAL_REFRESH_MARGIN", raw)
    with raises_federate_error(
        INVALID_PARAMETER_VALUE, "FEDERATE_CREDENTIAL_REFRESH_MARGIN", "a number", repr(raw)
    ):
        CredentialKeeper(ScopedCredentials("aws_session", {"token": "t"}, time.time() + 5))
    res = run_federate(
        "ls", "gs://bucket/model", env={"FEDERATE_CREDENTIAL_REFRESH_MARGIN": raw}, timeout=60
    )
    assert res.returncode == 1 and res.stderr.count("\n") == 1
    assert "FEDERATE_CREDENTIAL_REFRESH_MARGIN must be a number (seconds" in res.stderr


def test_a_bad_webhook_refresh_interval_is_refused_before_any_write(tmp_path, monkeypatch):
    monkeypatch.setenv("FEDERATE_WEBHOOKS_REFRESH_SECONDS", "soon")
    with raises_federate_error(INVALID_PARAMETER_VALUE, "FEDERATE_WEBHOOKS_REFRESH_SECONDS"):
        federate.get_registry(f"sqlite:///{tmp_path / 'r.db'}")
