"""``federate models ...``: manage registered models, versions, aliases and stages."""

from __future__ import annotations

import click

from federate.cli.common import (
    YES_HELP,
    confirm,
    header_option,
    json_option,
    move_alias,
    parse_tags,
    print_json,
    print_table,
    registry_of,
)
from federate.registry import Registry


def _registry(ctx: click.Context) -> Registry:
    return registry_of(ctx)


@click.group()
def models() -> None:
    """Registered models, their versions, aliases and stages."""


@models.command()
@click.argument("name")
@click.option("--description")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE")
@click.pass_context
def create(ctx: click.Context, name: str, description: str | None, tags: tuple[str, ...]) -> None:
    """Create registered model NAME."""
    _registry(ctx).create_registered_model(name, parse_tags(tags), description)
    click.echo(f"Created registered model {name}")


@models.command(name="list")
@click.option("--filter", "filter_string", help="e.g. \"name LIKE 'iris%'\"")
@click.option("--max-results", default=100, show_default=True)
@json_option("Print the registered models as JSON.")
@header_option()
@click.pass_context
def list_models(
    ctx: click.Context,
    filter_string: str | None,
    max_results: int,
    as_json: bool,
    show_header: bool,
) -> None:
    """List registered models."""
    page = _registry(ctx).search_registered_models(filter_string, max_results=max_results)
    if as_json:
        print_json(page)
    else:
        print_table(
            ("NAME", "LATEST", "ALIASES"),
            [
                (
                    rm.name,
                    max((mv.version for mv in rm.latest_versions), default=None),
                    ",".join(f"{a}->{v}" for a, v in sorted(rm.aliases.items())),
                )
                for rm in page
            ],
            show_header,
        )
    if page.token:
        click.echo(f"(more results; raise --max-results above {max_results})", err=True)


@models.command()
@click.argument("name")
@json_option("Print the model versions as JSON.")
@header_option()
@click.pass_context
def versions(ctx: click.Context, name: str, as_json: bool, show_header: bool) -> None:
    """List the versions of NAME, newest first."""
    registry = _registry(ctx)
    registry.get_registered_model(name)  # a clear error for a missing model
    escaped = name.replace("'", "''")
    found = list(registry.search_model_versions(f"name = '{escaped}'"))
    if as_json:
        print_json(found)
        return
    print_table(
        ("VERSION", "STAGE", "STATUS", "ALIASES", "LOCATION"),
        [
            (mv.version, mv.current_stage, mv.status, ",".join(mv.aliases), mv.download_uri)
            for mv in found
        ],
        show_header,
    )


@models.command()
@click.argument("name")
@click.argument("alias")
@click.argument("version", required=False)
@click.option("--delete", "remove", is_flag=True, help="Remove the alias instead.")
@click.pass_context
def alias(ctx: click.Context, name: str, alias: str, version: str | None, remove: bool) -> None:
    """Point ALIAS of NAME at VERSION (or remove it with --delete)."""
    registry = _registry(ctx)
    move_alias(
        name,
        alias,
        version,
        remove,
        registry.set_registered_model_alias,
        registry.delete_registered_model_alias,
    )


@models.command()
@click.argument("name")
@click.argument("version")
@click.argument("stage")
@click.option("--archive-existing", is_flag=True, help="Archive other versions in STAGE.")
@json_option("Print the model version as JSON.")
@click.pass_context
def stage(
    ctx: click.Context, name: str, version: str, stage: str, archive_existing: bool, as_json: bool
) -> None:
    """Move VERSION of NAME to STAGE (None, Staging, Production, Archived)."""
    mv = _registry(ctx).transition_model_version_stage(name, version, stage, archive_existing)
    if as_json:
        print_json(mv)
        return
    click.echo(f"{mv.name} version {mv.version} is now in {mv.current_stage}")


@models.command()
@click.argument("name")
@click.argument("version", required=False)
@click.option("--yes", is_flag=True, help=YES_HELP)
@click.pass_context
def delete(ctx: click.Context, name: str, version: str | None, yes: bool) -> None:
    """Delete VERSION of NAME, or the whole model with all its versions."""
    what = f"version {version} of {name}" if version else f"registered model {name}"
    confirm(f"Delete {what}?", yes)
    registry = _registry(ctx)
    if version:
        registry.delete_model_version(name, version)
    else:
        registry.delete_registered_model(name)
    click.echo(f"Deleted {what}")
