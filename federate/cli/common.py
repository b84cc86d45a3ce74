"""Pieces shared by the command modules: error handling, output, option parsing."""

from __future__ import annotations

import json
import os
import sys
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import click

from federate.config import RegistryConfig, chosen_registry
from federate.errors import INVALID_PARAMETER_VALUE, FederateError, PluginError, describe
from federate.plugins.blame import plugin_failure
from federate.serialize import to_json
from federate.transfer.engine import RESUMABLE_AT

if TYPE_CHECKING:
    from federate.registry import Registry


class FederateGroup(click.Group):
    """Turns FederateError (and anything unexpected) into one line on stderr."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        try:
            run: Any = super().main
            return run(*args, standalone_mode=False, **kwargs)
        except click.exceptions.Abort as err:
            _interrupted(err.__cause__ or err.__context__)
        except click.ClickException as err:
            err.show()
            sys.exit(err.exit_code)
        except click.exceptions.Exit as err:
            sys.exit(err.exit_code)
        except FederateError as err:
            _fail(err)
        except KeyboardInterrupt as err:
            _interrupted(err)
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


def _interrupted(err: BaseException | None) -> NoReturn:
    """Ctrl-C: exit 130, saying where an interrupted download's files wait for a rerun."""
    kept = getattr(err, RESUMABLE_AT, None)
    if kept is not None:
        click.echo(
            f"federate: interrupted; the partial download is kept in {kept} and running the "
            "same command again resumes it (`federate cache prune` removes it)",
            err=True,
        )
    else:
        click.echo("federate: interrupted", err=True)
    sys.exit(130)


def _fail(err: FederateError) -> NoReturn:
    """One line and exit 1; with FEDERATE_DEBUG, a plugin's failure shows its traceback."""
    if os.environ.get("FEDERATE_DEBUG") and isinstance(err, PluginError) and err.__cause__:
        raise err
    click.echo(f"federate: error: {plain(err.message)} [{err.error_code}]", err=True)
    sys.exit(1)


_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(char: str) -> str:
    return _ESCAPES.get(char) or (
        f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"
    )


def plain(text: str) -> str:
    """``text`` fit for one line of a terminal or a tab-separated row: control characters
    (a newline in a tag, an escape sequence in a description, a tab) and line or paragraph
    separators shown as backslash escapes (``\\n``, ``\\x1b``), never acted on."""
    if text.isprintable():
        return text  # the common case: one C-level scan
    return "".join(_escape(c) if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text)


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


def print_json(obj: Any) -> None:
    """``--json`` output: ``obj`` through :func:`federate.serialize.to_json`, indented."""
    click.echo(json.dumps(to_json(obj), indent=2, ensure_ascii=False))


def print_table(
    header: Sequence[str], rows: Iterable[Sequence[object]], show_header: bool = True
) -> None:
    """Tab-separated rows under a header row (``--no-header`` drops it); None prints as
    an empty cell, and control characters inside a value (a tab, a newline) as escapes
    (see :func:`plain`), so every line has as many cells as the header."""
    if show_header:
        click.echo("\t".join(header))
    for row in rows:
        click.echo("\t".join("" if v is None else plain(str(v)) for v in row))


def json_option(help: str = "Print the result as JSON (fields: see README).") -> Any:
    return click.option("--json", "as_json", is_flag=True, help=help)


def header_option() -> Any:
    return click.option(
        "--no-header",
        "show_header",
        is_flag=True,
        flag_value=False,
        default=True,
        help="Leave out the header row.",
    )


YES_HELP = "Do not ask for confirmation (needed when stdin is not a terminal)."


def confirm(question: str, yes: bool) -> None:
    """Ask ``question`` before something that cannot be undone, unless ``--yes`` was given.

    Declining prints "aborted" and exits 1. Without a terminal on stdin nobody can answer
    (a script, a pipe, CI): that is an error naming ``--yes``, and nothing is done."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise FederateError(
            f"{question} Nobody can answer: stdin is not a terminal. Pass --yes to go ahead "
            "without asking; nothing was changed",
            INVALID_PARAMETER_VALUE,
        )
    if not click.confirm(question, default=False):
        click.echo("federate: aborted; nothing was changed", err=True)
        sys.exit(1)


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
