"""What the CLI tests share: ``run``, which invokes ``federate ARGS`` in-process in a
throwaway FEDERATE_HOME and returns click's result (exit code, stdout, stderr)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import CliRunner, Result

from federate.cli.root import cli


@pytest.fixture
def run(federate_home) -> Callable[..., Result]:  # type: ignore[no-untyped-def]
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(cli, list(args), input=input, env=env, catch_exceptions=False)

    return invoke
