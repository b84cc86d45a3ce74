"""``federate plugins``: what is installed, what handles which scheme, and what is broken."""

from __future__ import annotations

from typing import Any

import click

import federate
from federate.cli.common import print_json
from federate.plugins.hookspecs import HOOK_API_VERSION
from federate.plugins.manager import PluginHost, PluginInfo, get_plugin_host
from federate.serialize import to_json


def _package(info: PluginInfo) -> tuple[str | None, str | None]:
    if info.origin == "built-in":
        return "federate", federate.__version__
    return info.package, info.version


def _routes(host: PluginHost) -> dict[str, dict[str, str]]:
    return {
        "registries": {s: info.name for s, (_, info) in sorted(host.registry_routes.items())},
        "repositories": {s: info.name for s, (_, info) in sorted(host.repo_routes.items())},
    }


def _as_json(info: PluginInfo) -> dict[str, Any]:
    package, version = _package(info)
    return {**to_json(info), "package": package, "version": version}


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print plugins, routes and problems as JSON.")
def plugins(as_json: bool) -> None:
    """List plugins: package, origin, schemes, and why any failed or was skipped."""
    host = get_plugin_host()
    routes = _routes(host)
    if as_json:
        print_json(
            {
                "plugin_api": HOOK_API_VERSION,
                "plugins": [_as_json(info) for info in host.infos.values()],
                "routes": routes,
                "conflicts": host.conflicts,
                "notes": host.notes,
            }
        )
        return
    for info in host.infos.values():
        package, version = _package(info)
        click.echo(f"{info.name}  [{info.origin}; {package or '?'} {version or '?'}]")
        for kind, schemes in (
            ("registries", info.registry_schemes),
            ("repositories", info.repo_schemes),
        ):
            if schemes:
                shown = [
                    s
                    if routes[kind].get(s) == info.name
                    else f"{s} (overridden by {routes[kind][s]})"
                    for s in schemes
                ]
                click.echo(f"    {kind}: {', '.join(shown)}")
        if info.disabled:
            click.echo(f"    skipped: {info.disabled}")
        if info.error:
            click.echo(f"    ERROR: {info.error}")
    click.echo(f"registry schemes: {', '.join(routes['registries'])}")
    click.echo(f"repository schemes: {', '.join(routes['repositories'])}")
    for line in host.conflicts + host.notes:
        click.echo(f"warning: {line}")
