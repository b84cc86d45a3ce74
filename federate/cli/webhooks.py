"""``federate webhooks ...``: register, list, change, delete and test registry webhooks.

Secrets are read from an environment variable or stdin, never from the command line,
where shell history and ``ps`` would keep them.
"""

from __future__ import annotations

import os
import sys

import click

from federate.cli.common import (
    YES_HELP,
    confirm,
    header_option,
    json_option,
    print_json,
    print_table,
    registry_of,
)
from federate.errors import redact
from federate.registry import Registry
from federate.webhooks.validation import EVENT_NAMES, STATUSES

_EVENT = click.Choice(EVENT_NAMES)


def _registry(ctx: click.Context) -> Registry:
    return registry_of(ctx)


def _secret(secret_env: str | None, secret_stdin: bool) -> str | None:
    if secret_env and secret_stdin:
        raise click.UsageError("use either --secret-env or --secret-stdin, not both")
    if secret_env:
        if secret_env not in os.environ:
            raise click.BadParameter(
                f"environment variable {secret_env} is not set", param_hint="--secret-env"
            )
        return os.environ[secret_env]
    if secret_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return None


_secret_options = [
    click.option("--secret-env", metavar="VAR", help="Sign deliveries with the secret in $VAR."),
    click.option("--secret-stdin", is_flag=True, help="Read the signing secret from stdin."),
]


def _with_secret_options(command):  # type: ignore[no-untyped-def]
    for option in reversed(_secret_options):
        command = option(command)
    return command


@click.group()
def webhooks() -> None:
    """Webhooks: HTTP POSTs sent when models, versions, aliases or prompts change."""


@webhooks.command()
@click.argument("name")
@click.argument("url")
@click.option(
    "--event", "events", multiple=True, required=True, type=_EVENT, help="Repeat for several."
)
@click.option("--description")
@click.option("--disabled", is_flag=True, help="Create it DISABLED (no deliveries yet).")
@_with_secret_options
@click.pass_context
def create(
    ctx: click.Context,
    name: str,
    url: str,
    events: tuple[str, ...],
    description: str | None,
    disabled: bool,
    secret_env: str | None,
    secret_stdin: bool,
) -> None:
    """Send EVENTs to URL, as webhook NAME."""
    hook = _registry(ctx).create_webhook(
        name,
        url,
        list(events),
        description=description,
        secret=_secret(secret_env, secret_stdin),
        status="DISABLED" if disabled else "ACTIVE",
    )
    click.echo(f"Created webhook {hook.id} ({hook.name})")


@webhooks.command(name="list")
@click.option("--max-results", default=100, show_default=True)
@json_option("Print the webhooks as JSON (secrets are never included).")
@header_option()
@click.pass_context
def list_webhooks(ctx: click.Context, max_results: int, as_json: bool, show_header: bool) -> None:
    """List webhooks, oldest first (secrets are never shown)."""
    page = _registry(ctx).list_webhooks(max_results=max_results)
    if as_json:
        print_json(page)
    else:
        print_table(
            ("ID", "NAME", "STATUS", "SIGNED", "URL", "EVENTS"),
            [
                (
                    hook.id,
                    hook.name,
                    hook.status,
                    "signed" if hook.has_secret else "unsigned",
                    redact(hook.url),
                    ",".join(event.value for event in hook.events),
                )
                for hook in page
            ],
            show_header,
        )
    if page.token:
        click.echo(f"(more results; raise --max-results above {max_results})", err=True)


@webhooks.command()
@click.argument("webhook_id")
@click.option("--name")
@click.option("--url")
@click.option("--event", "events", multiple=True, type=_EVENT, help="Replaces the event list.")
@click.option("--description")
@click.option("--status", type=click.Choice(STATUSES, case_sensitive=False))
@click.option("--remove-secret", is_flag=True, help="Send deliveries unsigned from now on.")
@_with_secret_options
@click.pass_context
def update(
    ctx: click.Context,
    webhook_id: str,
    name: str | None,
    url: str | None,
    events: tuple[str, ...],
    description: str | None,
    status: str | None,
    remove_secret: bool,
    secret_env: str | None,
    secret_stdin: bool,
) -> None:
    """Change fields of webhook WEBHOOK_ID; options not given stay as they are."""
    secret = _secret(secret_env, secret_stdin)
    if remove_secret:
        if secret is not None:
            raise click.UsageError("--remove-secret cannot be combined with a new secret")
        secret = ""
    hook = _registry(ctx).update_webhook(
        webhook_id,
        name=name,
        url=url,
        events=list(events) or None,
        description=description,
        secret=secret,
        status=status,
    )
    click.echo(f"Updated webhook {hook.id} ({hook.name}, {hook.status})")


@webhooks.command()
@click.argument("webhook_id")
@click.option("--yes", is_flag=True, help=YES_HELP)
@click.pass_context
def delete(ctx: click.Context, webhook_id: str, yes: bool) -> None:
    """Delete webhook WEBHOOK_ID."""
    confirm(f"Delete webhook {webhook_id}?", yes)
    _registry(ctx).delete_webhook(webhook_id)
    click.echo(f"Deleted webhook {webhook_id}")


@webhooks.command()
@click.argument("webhook_id")
@click.option("--event", type=_EVENT, help="Default: the webhook's first event.")
@json_option("Print the delivery's result as JSON.")
@click.pass_context
def test(ctx: click.Context, webhook_id: str, event: str | None, as_json: bool) -> None:
    """Send one example event to WEBHOOK_ID now and show the answer (exit 1 on failure)."""
    result = _registry(ctx).test_webhook(webhook_id, event)
    if as_json:
        print_json(result)
    elif result.success:
        click.echo(
            f"Delivered {result.event.value} ({result.delivery_id}): HTTP {result.status_code}"
        )
    else:
        click.echo(f"Test delivery of {result.event.value} failed: {result.error_message}")
    if not result.success:
        sys.exit(1)
