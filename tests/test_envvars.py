"""One way to read numbers and sizes from the environment: wrong values fail naming the variable."""

from __future__ import annotations

import pytest

from federate.envvars import env_float, env_int, env_size
from federate.errors import INVALID_PARAMETER_VALUE
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
