"""``federate prompts ...``: register, show and alias prompt templates."""

from __future__ import annotations

import click

import federate
from federate.cli.common import move_alias, parse_tags, print_json, registry_args, registry_of
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
@click.pass_context
def register(
    ctx: click.Context,
    name: str,
    template: str | None,
    path: click.utils.LazyFile | None,
    message: str | None,
    tags: tuple[str, ...],
    alias: str | None,
) -> None:
    """Register TEMPLATE (or --file) as the next version of prompt NAME."""
    if (template is None) == (path is None):
        raise click.UsageError("give the template either as an argument or with --file")
    text = template if template is not None else path.read()  # type: ignore[union-attr]
    registry = _registry(ctx)
    pv = registry.register_prompt(name, text, commit_message=message, tags=parse_tags(tags))
    if alias:
        registry.set_prompt_alias(name, alias, pv.version)
    click.echo(f"Registered prompt {pv.name} version {pv.version}")


@prompts.command()
@click.argument("uri")
@click.option("--json", "as_json", is_flag=True)
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
@click.pass_context
def list_prompts(ctx: click.Context, filter_string: str | None, max_results: int) -> None:
    """List prompts."""
    for p in _registry(ctx).search_prompts(filter_string, max_results=max_results):
        aliases = ", ".join(f"{a}->{v}" for a, v in sorted(p.aliases.items()))
        click.echo(f"{p.name}\tlatest={p.latest_version}\t{aliases}")


@prompts.command()
@click.argument("name")
@click.pass_context
def versions(ctx: click.Context, name: str) -> None:
    """List the versions of prompt NAME, newest first."""
    for pv in _registry(ctx).search_prompt_versions(name):
        click.echo(f"{pv.version}\t{','.join(pv.aliases)}\t{pv.commit_message or ''}")


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
@click.option("--yes", is_flag=True)
@click.pass_context
def delete(ctx: click.Context, name: str, version: str | None, yes: bool) -> None:
    """Delete VERSION of prompt NAME, or the whole prompt."""
    what = f"version {version} of prompt {name}" if version else f"prompt {name}"
    if not yes:
        click.confirm(f"Delete {what}?", abort=True)
    registry = _registry(ctx)
    if version:
        registry.delete_prompt_version(name, version)
    else:
        registry.delete_prompt(name)
    click.echo(f"Deleted {what}")
