"""``federate prompts ...``: register, show and alias prompt templates."""

from __future__ import annotations

import click

import federate
from federate.cli.common import (
    YES_HELP,
    confirm,
    header_option,
    json_option,
    move_alias,
    parse_tags,
    print_json,
    print_table,
    registry_args,
    registry_of,
)
from federate.registry import Registry


def _registry(ctx: click.Context) -> Registry:
    return registry_of(ctx)


@click.group()
def prompts() -> None:
    """Prompt templates, their versions and aliases."""


@prompts.command()
@click.argument("name")
@click.argument("template", required=False)
@click.option("--file", "path", type=click.File("r", encoding="utf-8"), help="Read the template.")
@click.option("--message", help="Commit message for this version.")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE")
@click.option("--alias", help="Point this alias at the new version.")
@json_option("Print the new prompt version as JSON.")
@click.pass_context
def register(
    ctx: click.Context,
    name: str,
    template: str | None,
    path: click.utils.LazyFile | None,
    message: str | None,
    tags: tuple[str, ...],
    alias: str | None,
    as_json: bool,
) -> None:
    """Register TEMPLATE (or --file) as the next version of prompt NAME."""
    if (template is None) == (path is None):
        raise click.UsageError("give the template either as an argument or with --file")
    text = template if template is not None else path.read()  # type: ignore[union-attr]
    registry = _registry(ctx)
    pv = registry.register_prompt(name, text, commit_message=message, tags=parse_tags(tags))
    if alias:
        registry.set_prompt_alias(name, alias, pv.version)
        pv = registry.get_prompt_version(name, pv.version)  # with its alias
    if as_json:
        print_json(pv)
        return
    click.echo(f"Registered prompt {pv.name} version {pv.version}")


@prompts.command()
@click.argument("uri")
@json_option("Print the prompt version as JSON (template included).")
@click.pass_context
def show(ctx: click.Context, uri: str, as_json: bool) -> None:
    """Print the template a prompts:/ URI names."""
    pv = federate.load_prompt(uri, **registry_args(ctx))
    if as_json:
        print_json(pv)
    else:
        click.echo(pv.template)


@prompts.command(name="list")
@click.option("--filter", "filter_string")
@click.option("--max-results", default=100, show_default=True)
@json_option("Print the prompts as JSON.")
@header_option()
@click.pass_context
def list_prompts(
    ctx: click.Context,
    filter_string: str | None,
    max_results: int,
    as_json: bool,
    show_header: bool,
) -> None:
    """List prompts."""
    page = _registry(ctx).search_prompts(filter_string, max_results=max_results)
    if as_json:
        print_json(page)
        return
    print_table(
        ("NAME", "LATEST", "ALIASES"),
        [
            (p.name, p.latest_version, ",".join(f"{a}->{v}" for a, v in sorted(p.aliases.items())))
            for p in page
        ],
        show_header,
    )


@prompts.command()
@click.argument("name")
@json_option("Print the prompt versions as JSON (templates included).")
@header_option()
@click.pass_context
def versions(ctx: click.Context, name: str, as_json: bool, show_header: bool) -> None:
    """List the versions of prompt NAME, newest first."""
    found = _registry(ctx).search_prompt_versions(name)
    if as_json:
        print_json(found)
        return
    print_table(
        ("VERSION", "ALIASES", "MESSAGE"),
        [(pv.version, ",".join(pv.aliases), pv.commit_message) for pv in found],
        show_header,
    )


@prompts.command()
@click.argument("name")
@click.argument("alias")
@click.argument("version", required=False)
@click.option("--delete", "remove", is_flag=True)
@click.pass_context
def alias(ctx: click.Context, name: str, alias: str, version: str | None, remove: bool) -> None:
    """Point ALIAS of prompt NAME at VERSION (or remove it with --delete)."""
    registry = _registry(ctx)
    move_alias(
        name,
        alias,
        version,
        remove,
        registry.set_prompt_alias,
        registry.delete_prompt_alias,
        what="prompt ",
    )


@prompts.command()
@click.argument("name")
@click.argument("version", required=False)
@click.option("--yes", is_flag=True, help=YES_HELP)
@click.pass_context
def delete(ctx: click.Context, name: str, version: str | None, yes: bool) -> None:
    """Delete VERSION of prompt NAME, or the whole prompt."""
    what = f"version {version} of prompt {name}" if version else f"prompt {name}"
    confirm(f"Delete {what}?", yes)
    registry = _registry(ctx)
    if version:
        registry.delete_prompt_version(name, version)
    else:
        registry.delete_prompt(name)
    click.echo(f"Deleted {what}")
