"""``federate copy``, ``mirror``, ``worker`` and ``federate jobs ls|show|retry|cancel|work``.

Jobs live in the configured registry's database (``--registry-uri``,
``FEDERATE_REGISTRY_URI``, federate.toml), so a ``copy --queue`` on one host and
``federate worker`` on another share one queue when they reach the same database.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

import click

from federate.cli.common import (
    configured_registry,
    header_option,
    json_option,
    plain,
    print_json,
    print_table,
    registry_args,
)


def _store(ctx: click.Context) -> Any:
    from federate.jobs.store import JobStore

    return JobStore(configured_registry(ctx).uri)  # --profile, --registry-uri or the configured


@click.command(name="copy")
@click.argument("src_uri")
@click.option(
    "--to", "to", required=True, help="Destination registry URI or federate.toml profile."
)
@click.option("--name", help="Model name in the destination (default: the source's).")
@click.option("--alias", help="Point this alias of the destination at the copy.")
@click.option("--queue", is_flag=True, help="Queue a copy job and print its id; copy nothing here.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
def copy_command(
    ctx: click.Context,
    src_uri: str,
    to: str,
    name: str | None,
    alias: str | None,
    queue: bool,
    quiet: bool,
) -> None:
    """Copy the version SRC_URI names, files, tags and all, into another registry.

    Copying the same source version again prints the existing copy."""
    from federate.jobs.copy import copy

    result: Any = copy(
        src_uri,
        to,
        name=name,
        alias=alias,
        queue=queue,
        progress=not quiet,
        registry_uri=registry_args(ctx)["registry_uri"],  # a source profile: models://p/...
    )
    if queue:
        click.echo(f"Queued copy of {src_uri} to {to} as job:")
        click.echo(result.id)
    else:
        click.echo(
            f"Copied {src_uri} to {result.name} version {result.version} at {result.download_uri}"
        )


@click.command(name="mirror")
@click.argument("uris", nargs=-1, required=True)
@click.option("--queue", is_flag=True, help="Queue a mirror job (a worker warms its host).")
@click.option(
    "--every",
    metavar="DURATION",
    help="Keep going: resolve the URIs again every DURATION (5m, 30s) and cache what "
    "they name now, until SIGTERM or Ctrl-C.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
def mirror_command(
    ctx: click.Context, uris: tuple[str, ...], queue: bool, every: str | None, quiet: bool
) -> None:
    """Fetch the versions URIS name into this host's cache (warm a host before traffic).

    With --every, an alias's current version is fetched each time it moves."""
    from federate.cache import parse_duration
    from federate.jobs.mirror import keep_warm, mirror

    registry_uri = registry_args(ctx)["registry_uri"]
    if every is not None:
        if queue:
            raise click.UsageError("--every runs here and cannot be queued; drop one of them")
        interval = parse_duration(every)
        stop = threading.Event()

        def on_signal(_signum: int, _frame: Any) -> None:
            stop.set()

        def on_mirrored(m: Any) -> None:
            click.echo(f"Cached {m.uri} ({m.name} version {m.version}) at {m.path}")
            sys.stdout.flush()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            keep_warm(list(uris), interval, stop, on_mirrored, registry_uri=registry_uri)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return
    result: Any = mirror(list(uris), queue=queue, progress=not quiet, registry_uri=registry_uri)
    if queue:
        click.echo(f"Queued mirror of {' '.join(uris)} as job:")
        click.echo(result.id)
        return
    for m in result:
        click.echo(f"Cached {m.uri} ({m.name} version {m.version}) at {m.path}")


@click.group()
def jobs() -> None:
    """Queued jobs (copies): list, show, retry, cancel, and run them."""


_HEADER = ("id", "name", "status", "bytes", "files", "params")


def _row(job: Any) -> tuple[str, ...]:
    p = job.progress
    params = " ".join(f"{k}={v}" for k, v in sorted(job.params.items()) if v is not None)
    return (
        job.id,
        job.name,
        job.status,
        f"{p.bytes_done}/{p.bytes_total}",
        f"{p.files_done}/{p.files_total}",
        params,
    )


@jobs.command(name="ls")
@click.option("--status", "statuses", multiple=True, help="Only jobs in this status (repeatable).")
@click.option("--name", help="Only jobs of this kind (copy).")
@click.option("--limit", type=click.IntRange(1), default=1000, show_default=True)
@json_option("A JSON array of jobs, newest first.")
@header_option()
@click.pass_context
def ls(
    ctx: click.Context,
    statuses: tuple[str, ...],
    name: str | None,
    limit: int,
    as_json: bool,
    show_header: bool,
) -> None:
    """List jobs, newest first."""
    found = _store(ctx).list_jobs(name=name, statuses=list(statuses) or None, limit=limit)
    if as_json:
        print_json(found)
        return
    print_table(_HEADER, [_row(job) for job in found], show_header)


@jobs.command()
@click.argument("job_id")
@json_option("The job as one JSON object.")
@header_option()
@click.pass_context
def show(ctx: click.Context, job_id: str, as_json: bool, show_header: bool) -> None:
    """Show one job: status, params, error, progress."""
    job = _store(ctx).get(job_id)
    if as_json:
        print_json(job)
        return
    print_table(_HEADER, [_row(job)], show_header)
    if job.error:
        click.echo(f"error: {plain(job.error)}")


@jobs.command()
@click.argument("job_id")
@click.pass_context
def retry(ctx: click.Context, job_id: str) -> None:
    """Put a FAILED, TIMEOUT or CANCELED job back in the queue."""
    job = _store(ctx).retry(job_id)
    click.echo(f"Job {job.id} is {job.status}")


@jobs.command()
@click.argument("job_id")
@click.pass_context
def cancel(ctx: click.Context, job_id: str) -> None:
    """Cancel a PENDING job, or stop a RUNNING one."""
    job = _store(ctx).cancel(job_id)
    click.echo(f"Job {job.id} is {job.status}")


def _worker_options(command: Any) -> Any:
    command = click.option(
        "--once", is_flag=True, help="Stop when no job is due instead of waiting for more."
    )(command)
    return click.option(
        "--concurrency",
        type=click.IntRange(1),
        default=1,
        show_default=True,
        help="Jobs run at once, each with its own lease.",
    )(command)


def _work(ctx: click.Context, concurrency: int, once: bool) -> None:
    from federate.jobs.worker import Worker

    worker = Worker(_store(ctx), concurrency=concurrency)

    def on_signal(_signum: int, _frame: Any) -> None:
        worker.stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    click.echo(
        f"federate worker {worker.owner} waiting for jobs ({concurrency} at a time)", err=True
    )
    try:
        done = worker.run(once=once)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo(f"federate worker {worker.owner} stopped after {done} job(s)", err=True)
    sys.stdout.flush()


_WORK_HELP = """Claim and run queued jobs until SIGTERM or Ctrl-C (running jobs go back to
    the queue). FEDERATE_JOBS_LEASE_SECONDS, FEDERATE_JOBS_POLL_SECONDS tune it."""


@click.command(name="worker", help=_WORK_HELP)
@_worker_options
@click.pass_context
def worker_command(ctx: click.Context, concurrency: int, once: bool) -> None:
    _work(ctx, concurrency, once)


@jobs.command(help=_WORK_HELP + " Same as `federate worker`.")
@_worker_options
@click.pass_context
def work(ctx: click.Context, concurrency: int, once: bool) -> None:
    _work(ctx, concurrency, once)
