"""``federate serve``: the registry behind the open-source Unity Catalog REST API."""

from __future__ import annotations

import click

from federate.cli.common import registry_args


@click.command(name="serve")
@click.option(
    "--registry-uri",
    "serve_registry_uri",
    help="SQL registry to serve (default: the configured one, as for other commands).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 256))
@click.pass_context
def serve_command(
    ctx: click.Context, serve_registry_uri: str | None, host: str, port: int, workers: int
) -> None:
    """Serve a SQL registry over the Unity Catalog REST API (/api/2.1/unity-catalog/).

    FEDERATE_SERVER_TOKEN turns on bearer authentication; FEDERATE_SERVER_READ_TOKEN is
    a token that may only read."""
    from federate.server.app import serve

    args = registry_args(ctx)
    serve(
        serve_registry_uri or args["registry_uri"],
        host,
        port,
        workers,
        profile=None if serve_registry_uri else args["profile"],
    )
