"""``federate db ...``: inspect and migrate a SQL registry's schema."""

from __future__ import annotations

import sys

import click

from federate.cli.common import configured_registry, json_option, print_json


def _database(ctx: click.Context, uri: str | None) -> str:
    """URI, else the registry the command line or the configuration names."""
    return uri or configured_registry(ctx).uri


@click.group(name="db")
def db() -> None:
    """Schema of a SQL registry database (SQLite, PostgreSQL, MySQL)."""


@db.command()
@click.argument("uri", required=False)
@json_option('Print {"revision": ..., "head": ..., "at_head": ...} as JSON.')
@click.pass_context
def current(ctx: click.Context, uri: str | None, as_json: bool) -> None:
    """Print the schema revision of URI ('none' for a database federate never touched).
    Without URI: the registry --profile, --registry-uri or the configuration names."""
    from federate.registry.sql import db as sqldb  # SQLAlchemy: not for every command

    rev, head = sqldb.schema_state(_database(ctx, uri))
    if as_json:
        print_json({"revision": rev, "head": head, "at_head": rev == head})
        return
    click.echo(f"{rev or 'none'}{' (head)' if rev == head else ''}")


@db.command()
@click.argument("uri", required=False)
@click.pass_context
def check(ctx: click.Context, uri: str | None) -> None:
    """Exit 0 if URI's schema is the one this federate expects, 1 otherwise.
    Without URI: the registry --profile, --registry-uri or the configuration names."""
    from federate.registry.sql import db as sqldb  # SQLAlchemy: not for every command

    rev, head = sqldb.schema_state(_database(ctx, uri))
    if rev == head:
        click.echo(f"ok: at {head}")
        return
    click.echo(f"schema is at {rev or 'none'}, this federate expects {head}", err=True)
    sys.exit(1)


@db.command()
@click.argument("uri", required=False)
@click.pass_context
def upgrade(ctx: click.Context, uri: str | None) -> None:
    """Migrate URI's schema to this federate's head. Take a backup first.
    Without URI: the registry --profile, --registry-uri or the configuration names."""
    from federate.registry.sql import db as sqldb

    before, head = sqldb.upgrade_url(_database(ctx, uri))
    click.echo(
        f"upgraded from {before or 'none'} to {head}" if before != head else f"already at {head}"
    )
