"""``federate cache ...``: see and trim the model cache under ``$FEDERATE_HOME/cache``."""

from __future__ import annotations

import dataclasses
import sys
import time

import click

from federate.cache import ModelCache, parse_duration
from federate.cli.common import print_json
from federate.envvars import parse_size
from federate.errors import INVALID_PARAMETER_VALUE, FederateError, redact


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


@click.group(name="cache")
def cache() -> None:
    """The cache of downloaded model versions."""


@cache.command(name="ls")
def ls() -> None:
    """List cached versions (least recently used first) and the cache's size."""
    store = ModelCache()
    now = time.time()
    for meta in store.entries():
        used = now - float(str(meta.get("last_used") or 0))
        # redacted again: older snapshots may hold a password federate then failed to spot
        registry = redact(str(meta["registry"])) if meta.get("registry") else None
        click.echo(
            f"{meta.get('name')}/{meta.get('version')}\t{_human(float(str(meta.get('bytes'))))}"
            f"\t{meta.get('files')} files\tused {used / 86400:.1f}d ago\t{registry}"
        )
    for part in store.partials():
        idle_days = float(str(part["idle"])) / 86400
        state = (
            "downloading now"
            if part["active"]
            else f"interrupted {idle_days:.1f}d ago, resumes on the next download"
        )
        click.echo(
            f"{part['name']}/{part['version']}\t{_human(float(str(part['bytes'])))}\t"
            f"partial: {state}"
        )
    click.echo(f"total {_human(store.size())} in {store.root}")


@cache.command()
@click.option("--older-than", help="Remove versions not used for this long (30d, 12h, 90m).")
@click.option("--max-size", help="Then remove least recently used versions down to this size.")
def prune(older_than: str | None, max_size: str | None) -> None:
    """Remove cached versions, and the file contents only they used.

    Interrupted downloads into the cache go too: those idle for --older-than, and all of
    them when the cache is over --max-size. A download still running is never touched."""
    if older_than is None and max_size is None:
        raise FederateError(
            "Say what to prune: --older-than DURATION and/or --max-size SIZE",
            INVALID_PARAMETER_VALUE,
        )
    limit = None
    if max_size is not None:
        try:
            limit = parse_size(max_size)
        except ValueError:
            raise FederateError(
                f"Invalid --max-size {max_size!r}: use bytes or a size like 10G, 500MiB",
                INVALID_PARAMETER_VALUE,
            ) from None
    store = ModelCache()
    age = parse_duration(older_than) if older_than is not None else None
    for removed in store.prune(age, limit):
        click.echo(f"removed {removed}")
    click.echo(f"total {_human(store.size())} in {store.root}")


@cache.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify(as_json: bool) -> None:
    """Read and hash every cached file; remove what is damaged.

    Downloads check each cached file's size and time (cheap); this also finds changes
    that keep both. Every blob is hashed against its name and every version's files
    against the digests recorded when they were cached. A damaged version is removed,
    so the next download fetches it again. Exit status 1 when damage was found."""
    report = ModelCache().verify()
    if as_json:
        print_json(dataclasses.asdict(report))
    else:
        for damage in report.damaged:
            click.echo(f"damaged {damage.what}: {damage.file} ({damage.reason}); removed")
        click.echo(
            f"checked {report.versions} versions ({report.files} files) and {report.blobs} "
            f"blobs: {len(report.damaged) or 'nothing'} damaged"
        )
    if report.damaged:
        sys.exit(1)
