"""Pieces shared by the command modules: error handling, output, option parsing."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

import click

from federate.config import RegistryConfig, chosen_registry
from federate.errors import FederateError, PluginError, describe
from federate.plugins.blame import plugin_failure

if TYPE_CHECKING:
    from federate.registry import Registry


class FederateGroup(click.Group):
    """Turns FederateError (and anything unexpected) into one line on stderr."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        try:
            run: Any = super().main
            return run(*args, standalone_mode=False, **kwargs)
        except click.exceptions.Abort:
            click.echo("federate: interrupted", err=True)
            sys.exit(130)
        except click.ClickException as err:
            err.show()
            sys.exit(err.exit_code)
        except click.exceptions.Exit as err:
            sys.exit(err.exit_code)
        except FederateError as err:
            _fail(err)
        except KeyboardInterrupt:
            click.echo("federate: interrupted", err=True)
            sys.exit(130)
        except Exception as err:
            # commands calling a registry's methods directly: a plugin's bug names it too
            failure = plugin_failure(err)
            if failure is not None:
                failure.__cause__ = err
                _fail(failure)
            if os.environ.get("FEDERATE_DEBUG"):
                raise
            click.echo(
                f"federate: internal error: {describe(err)} (set FEDERATE_DEBUG=1 for a traceback)",
                err=True,
            )
            sys.exit(2)


def _fail(err: FederateError) -> NoReturn:
    """One line and exit 1; with FEDERATE_DEBUG, a plugin's failure shows its traceback."""
    if os.environ.get("FEDERATE_DEBUG") and isinstance(err, PluginError) and err.__cause__:
        raise err
    click.echo(f"federate: error: {err.message} [{err.error_code}]", err=True)
    sys.exit(1)


def registry_uri_of(ctx: click.Context) -> str | None:
    return registry_args(ctx)["registry_uri"]


def registry_args(ctx: click.Context) -> dict[str, str | None]:
    """``registry_uri=`` and ``profile=`` for the API, from ``--registry-uri`` and
    ``--profile``: a flag typed on the command line beats an environment variable
    (``FEDERATE_REGISTRY_URI``, ``FEDERATE_PROFILE``, which the API reads itself)."""
    root = ctx.find_root()
    uri, profile = root.params.get("registry_uri"), root.params.get("profile")
    if root.get_parameter_source("registry_uri") != click.core.ParameterSource.COMMANDLINE:
        uri = None  # FEDERATE_REGISTRY_URI: the API's chain reads it, below --profile
    if uri and profile:
        raise click.UsageError("pass --registry-uri or --profile, not both")
    return {"registry_uri": uri, "profile": profile}


def registry_of(ctx: click.Context) -> Registry:
    """The registry the command line names (or the configured one)."""
    import federate

    args = registry_args(ctx)
    return federate.get_registry(args["registry_uri"], profile=args["profile"])


def configured_registry(ctx: click.Context) -> RegistryConfig:
    """What :func:`registry_of` would open, without opening it."""
    args = registry_args(ctx)
    return chosen_registry(args["registry_uri"], args["profile"])


def as_dict(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {k: as_dict(v) for k, v in dataclasses.asdict(obj).items()}
    if isinstance(obj, tuple):
        return list(obj)
    return obj


def print_json(obj: Any) -> None:
    click.echo(json.dumps(as_dict(obj), indent=2, ensure_ascii=False, default=str))


def parse_tags(tags: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in tags:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--tag")
        out[key] = value
    return out


def move_alias(
    name: str,
    alias: str,
    version: str | None,
    remove: bool,
    set_alias: Callable[[str, str, str], object],
    delete_alias: Callable[[str, str], object],
    what: str = "",
) -> None:
    """The ``alias NAME ALIAS [VERSION] [--delete]`` command of models and prompts alike."""
    if remove:
        delete_alias(name, alias)
        click.echo(f"Removed alias {alias} of {what}{name}")
        return
    if version is None:
        raise click.UsageError("VERSION is required unless --delete is given")
    set_alias(name, alias, version)
    click.echo(f"{name}@{alias} -> version {version}")
