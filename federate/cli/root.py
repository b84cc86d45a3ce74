"""Top-level commands: download, resolve, ls, register, plugins.

Every failure prints one line, ``federate: error: <message> [CODE]``, and exits 1;
set ``FEDERATE_DEBUG=1`` to see tracebacks of unexpected errors.
"""

from __future__ import annotations

import click

import federate
from federate.cli.cache import cache
from federate.cli.common import (
    FederateGroup,
    header_option,
    json_option,
    parse_tags,
    plain,
    print_json,
    print_table,
    registry_args,
)
from federate.cli.db import db
from federate.cli.jobs import copy_command, jobs, mirror_command, worker_command
from federate.cli.models import models
from federate.cli.plugins import plugins
from federate.cli.prompts import prompts
from federate.cli.serve import serve_command
from federate.cli.webhooks import webhooks
from federate.errors import redact


@click.group(cls=FederateGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(federate.__version__, prog_name="federate")
@click.option(
    "--registry-uri",
    envvar="FEDERATE_REGISTRY_URI",
    default=None,
    help="Registry to use (default: FEDERATE_REGISTRY_URI, FEDERATE_PROFILE, federate.toml, "
    "or the embedded SQLite registry under $FEDERATE_HOME).",
)
@click.option(
    "--profile",
    default=None,
    metavar="NAME",
    help="Use the registry [registries.NAME] of federate.toml, with its artifact_root "
    "(default: FEDERATE_PROFILE).",
)
def cli(registry_uri: str | None, profile: str | None) -> None:
    """Resolve models:/ and prompts:/ URIs and fetch model files from any store."""


@cli.command()
@click.argument("uri")
@click.argument("dst", required=False)
@click.option("--overwrite", is_flag=True, help="Replace DST if it exists and is not empty.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar (there is none off a terminal).")
@click.option("--path", "inner", metavar="PATH", help="Only this file (or directory) of URI.")
@click.option(
    "--include", multiple=True, metavar="GLOB", help="Only files matching GLOB (repeatable)."
)
@click.option(
    "--exclude", multiple=True, metavar="GLOB", help="No file matching GLOB (repeatable)."
)
@json_option('Print {"uri": URI, "path": PATH} as JSON.')
@click.pass_context
def download(
    ctx: click.Context,
    uri: str,
    dst: str | None,
    overwrite: bool,
    quiet: bool,
    inner: str | None,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    as_json: bool,
) -> None:
    """Download the files of URI (models:/... or a storage URI) into the directory DST.

    A single-file source lands at DST/<name>. Prints the path: DST, or that file's path
    (without DST: the cached version, or a directory under $FEDERATE_HOME/downloads).
    --path, --include and --exclude fetch only the files they select (globs match the
    path inside URI, e.g. 'weights/*'), at DST/<that path>."""
    path = federate.download(
        uri,
        dst,
        **registry_args(ctx),
        overwrite=overwrite,
        progress=not quiet,
        path=inner,
        include=include or None,
        exclude=exclude or None,
    )
    if as_json:
        print_json({"uri": redact(uri), "path": path})
    else:
        click.echo(plain(path))


@cli.command()
@click.argument("uri")
@json_option("Print the whole model version as JSON.")
@header_option()
@click.pass_context
def resolve(ctx: click.Context, uri: str, as_json: bool, show_header: bool) -> None:
    """Print the version URI means and where its files are."""
    mv = federate.resolve(uri, **registry_args(ctx))
    if as_json:
        print_json(mv)
    else:
        print_table(
            ("NAME", "VERSION", "LOCATION"), [(mv.name, mv.version, mv.download_uri)], show_header
        )


@cli.command(name="ls")
@click.argument("uri")
@click.argument("path", required=False)
@json_option("Print the entries as JSON: path, is_dir, size, checksum, etag.")
@header_option()
@click.pass_context
def ls(ctx: click.Context, uri: str, path: str | None, as_json: bool, show_header: bool) -> None:
    """List the files of URI (directories end with '/')."""
    entries = federate.list_artifacts(uri, path, **registry_args(ctx))
    if as_json:
        print_json(entries)
        return
    if show_header:
        click.echo(f"{'SIZE':>12}  PATH")
    for info in entries:
        if info.is_dir:
            click.echo(f"{'':>12}  {plain(info.path)}/")
        else:
            click.echo(f"{info.file_size:>12}  {plain(info.path)}")


@cli.command()
@click.argument("path", type=click.Path(exists=True))
@click.argument("name")
@click.option("--alias", help="Point this alias at the new version.")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Version tag (repeatable).")
@click.option("--description", help="Version description.")
@json_option("Print the new model version as JSON.")
@click.pass_context
def register(
    ctx: click.Context,
    path: str,
    name: str,
    alias: str | None,
    tags: tuple[str, ...],
    description: str | None,
    as_json: bool,
) -> None:
    """Copy PATH into the registry's artifact store as a new version of NAME."""
    mv = federate.register(
        path,
        name,
        alias=alias,
        tags=parse_tags(tags),
        description=description,
        **registry_args(ctx),
    )
    if as_json:
        print_json(mv)
    else:
        click.echo(f"Registered {plain(mv.name)} version {mv.version} at {mv.download_uri}")


cli.add_command(cache)
cli.add_command(db)
cli.add_command(plugins)
cli.add_command(models)
cli.add_command(prompts)
cli.add_command(webhooks)
cli.add_command(copy_command)
cli.add_command(mirror_command)
cli.add_command(jobs)
cli.add_command(worker_command)
cli.add_command(serve_command)


def main() -> None:
    cli(prog_name="federate")
