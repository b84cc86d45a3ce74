"""``federate db ...``: inspect and migrate a SQL registry's schema."""

from __future__ import annotations

import sys

import click

from federate.cli.common import json_option, print_json
from federate.registry.sql import db as sqldb


@click.group(name="db")
def db() -> None:
    """Schema of a SQL registry database (SQLite, PostgreSQL, MySQL)."""


@db.command()
@click.argument("uri")
@json_option('Print {"revision": ..., "head": ..., "at_head": ...} as JSON.')
def current(uri: str, as_json: bool) -> None:
    """Print the schema revision of URI ('none' for a database federate never touched)."""
    rev, head = sqldb.schema_state(uri)
    if as_json:
        print_json({"revision": rev, "head": head, "at_head": rev == head})
        return
    click.echo(f"{rev or 'none'}{' (head)' if rev == head else ''}")


@db.command()
@click.argument("uri")
def check(uri: str) -> None:
    """Exit 0 if URI's schema is the one this federate expects, 1 otherwise."""
    rev, head = sqldb.schema_state(uri)
    if rev == head:
        click.echo(f"ok: at {head}")
        return
    click.echo(f"schema is at {rev or 'none'}, this federate expects {head}", err=True)
    sys.exit(1)


@db.command()
@click.argument("uri")
def upgrade(uri: str) -> None:
    """Migrate URI's schema to this federate's head. Take a backup first."""
    before, head = sqldb.upgrade_url(uri)
    click.echo(
        f"upgraded from {before or 'none'} to {head}" if before != head else f"already at {head}"
    )
