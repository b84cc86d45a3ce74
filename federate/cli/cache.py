"""``federate cache ...``: see and trim the model cache under ``$FEDERATE_HOME/cache``."""

from __future__ import annotations

import sys
import time

import click

from federate.cache import ModelCache, housekeeping, parse_duration
from federate.cli.common import header_option, json_option, print_json, print_table
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


def _days(seconds: float) -> str:
    return f"{seconds / 86400:.1f}d"


def _state(leftover: dict[str, object]) -> str:
    if leftover["active"]:
        return "partial: downloading now"
    idle = _days(float(str(leftover["idle"])))
    return f"partial: interrupted {idle} ago, resumes on the next download"


@cache.command(name="ls")
@json_option("Print versions, partial downloads and staging directories as JSON.")
@header_option()
def ls(as_json: bool, show_header: bool) -> None:
    """List cached versions (least recently used first), downloads that did not finish
    (into the cache, and beside other destinations) and the cache's size.

    The size and location of the cache go to stderr, after the table."""
    store = ModelCache()
    now = time.time()
    versions = []
    for meta in store.entries():
        # redacted again: older snapshots may hold a password federate then failed to spot
        registry = redact(str(meta["registry"])) if meta.get("registry") else None
        versions.append(
            {
                "name": meta.get("name"),
                "version": int(str(meta.get("version"))),
                "bytes": int(str(meta.get("bytes") or 0)),
                "files": meta.get("files"),
                "last_used": float(str(meta.get("last_used") or 0)),
                "registry": registry,
                "path": meta.get("path"),
            }
        )
    partials = [
        {**part, "version": int(str(part["version"])) if str(part["version"]).isdigit() else None}
        for part in store.partials()
    ]
    elsewhere = housekeeping.staging_elsewhere(store)
    if as_json:
        print_json(
            {
                "root": str(store.root),
                "bytes": store.size(),
                "versions": versions,
                "partials": partials,
                "staging": elsewhere,
            }
        )
        return
    rows: list[tuple[object, ...]] = []
    for v in versions:
        used = f"used {_days(now - float(str(v['last_used'])))} ago"
        rows.append(
            (
                v["name"],
                v["version"],
                _human(float(str(v["bytes"]))),
                v["files"],
                used,
                v["registry"],
            )
        )
    for part in partials:
        rows.append(
            (
                part["name"],
                part["version"],
                _human(float(str(part["bytes"]))),
                None,
                _state(part),
                part["path"],
            )
        )
    for left in elsewhere:
        state = f"{_state(left)} into {left['destination']}"
        rows.append((None, None, _human(float(str(left["bytes"]))), None, state, left["path"]))
    print_table(("NAME", "VERSION", "SIZE", "FILES", "STATE", "WHERE"), rows, show_header)
    click.echo(f"total {_human(store.size())} in {store.root}", err=True)


def _max_bytes(max_size: str | None) -> int | None:
    if max_size is None:
        return None
    if max_size.strip().isdigit():
        raise FederateError(
            f"--max-size {max_size.strip()} has no unit; nothing was removed. Write the unit: "
            f"{max_size.strip()}G, {max_size.strip()}MiB, or {max_size.strip()}B for bytes",
            INVALID_PARAMETER_VALUE,
        )
    try:
        return parse_size(max_size)
    except ValueError:
        raise FederateError(
            f"Invalid --max-size {max_size!r}: use a size with a unit like 10G, 500MiB, 4096B",
            INVALID_PARAMETER_VALUE,
        ) from None


@cache.command()
@click.option("--older-than", help="Remove versions not used for this long (30d, 12h, 90m).")
@click.option(
    "--max-size", help="Then remove least recently used versions down to this size (50G, 500MiB)."
)
@click.option("--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
def prune(older_than: str | None, max_size: str | None, dry_run: bool) -> None:
    """Remove cached versions, and the file contents only they used.

    Interrupted downloads into the cache go too: those idle for --older-than, and all of
    them when the cache is over --max-size. So do interrupted downloads' staging
    directories beside other destinations: those idle for --older-than, and all of them
    with --max-size. A download still running is never touched."""
    if older_than is None and max_size is None:
        raise FederateError(
            "Say what to prune: --older-than DURATION and/or --max-size SIZE",
            INVALID_PARAMETER_VALUE,
        )
    limit = _max_bytes(max_size)
    store = ModelCache()
    age = parse_duration(older_than) if older_than is not None else None
    verb = "would remove" if dry_run else "removed"
    for removed in housekeeping.prune(store, age, limit, dry_run=dry_run):
        click.echo(f"{verb} {removed}")
    click.echo(f"total {_human(store.size())} in {store.root}", err=True)


@cache.command()
@json_option("Print the report as JSON.")
def verify(as_json: bool) -> None:
    """Read and hash every cached file; remove what is damaged.

    Downloads check each cached file's size and time (cheap); this also finds changes
    that keep both. Every blob is hashed against its name and every version's files
    against the digests recorded when they were cached. A damaged version is removed,
    so the next download fetches it again. Exit status 1 when damage was found."""
    report = ModelCache().verify()
    if as_json:
        print_json(report)
    else:
        for damage in report.damaged:
            click.echo(f"damaged {damage.what}: {damage.file} ({damage.reason}); removed")
        click.echo(
            f"checked {report.versions} versions ({report.files} files) and {report.blobs} "
            f"blobs: {len(report.damaged) or 'nothing'} damaged"
        )
    if report.damaged:
        sys.exit(1)
