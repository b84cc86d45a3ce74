"""Benchmark: federate's SQL registry vs MLflow 3.x's, on SQLite and PostgreSQL.

Platform teams run the registry on a database with many versions per model. This script
measures, for both libraries in the same run and on each database:

- writing: ``create_model_version`` through the public API, mean per version over N
  new versions of one model (10,000 in a full run);
- resolving ``models:/<name>@champion`` and ``models:/<name>/latest`` on a model with
  1,000 versions and on one with 100,000, to show whether resolution stays flat;
- a search by version tag over the 100,000 versions.

The large models are bulk-filled by direct SQL inserts into each library's own tables
(labelled as such, never timed, followed by ANALYZE as autovacuum would run it):
creating 100,000 versions through MLflow's API would take most of an hour. Every timed
call goes through the public API. Each library runs in its own fresh worker process per
database.

PostgreSQL: the registries live in two schemas (``federate_bench_federate`` and
``federate_bench_mlflow``) of the database given with ``--pg`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test_dbh``), dropped and created fresh at
the start of each run and dropped at its end; ``--pg none`` skips PostgreSQL.

    python bench/registry.py            # full run (several minutes, mostly MLflow)
    python bench/registry.py --quick    # smoke run with small numbers
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
import warnings
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from harness import (
    bench_workdir,
    create_versions,
    ensure_venv,
    log,
    per_call,
    print_table,
    time_row,
)

FULL = dict(
    create=10_000,
    small=1_000,
    big=100_000,
    alias_iters=1000,
    latest_iters=20,
    mlflow_big_iters=3,
    search_iters=5,
)
QUICK = dict(
    create=200,
    small=100,
    big=2_000,
    alias_iters=100,
    latest_iters=5,
    mlflow_big_iters=2,
    search_iters=2,
)
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test_dbh"
SIDES = ("federate", "mlflow")
SEARCH = "name = '{name}' AND tags.candidate = 'yes'"
CANDIDATE_EVERY = 1000  # every 1000th version of a bulk-filled model carries candidate=yes
FILL_BATCH = 5_000


# -- databases -------------------------------------------------------------------------


def schema_name(side: str) -> str:
    return f"federate_bench_{side}"


def pg_url(base: str, side: str) -> str:
    """``base`` with every connection's search_path set to the side's own schema (the two
    libraries use the same table names)."""
    import sqlalchemy as sa

    url = sa.engine.make_url(base)
    return url.update_query_dict(
        {"options": f"-csearch_path={schema_name(side)}"}
    ).render_as_string(hide_password=False)


def reset_pg_schemas(base: str, create: bool) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(base)
    with engine.begin() as conn:
        for side in SIDES:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema_name(side)} CASCADE")
            if create:
                conn.exec_driver_sql(f"CREATE SCHEMA {schema_name(side)}")
    engine.dispose()


def registry_url(backend: str, side: str, workdir: Path, pg: str) -> str:
    return f"sqlite:///{workdir / f'{side}.db'}" if backend == "sqlite" else pg_url(pg, side)


# -- the two clients, behind one small interface -----------------------------------------


def federate_client(uri: str) -> SimpleNamespace:
    import federate

    reg = federate.get_registry(uri)

    def search(name: str) -> int:
        return len(reg.search_model_versions(SEARCH.format(name=name), max_results=10_000))

    return SimpleNamespace(
        create_model=reg.create_registered_model,
        create_version=lambda name, src: reg.create_model_version(name, source=src).version,
        set_alias=reg.set_registered_model_alias,
        alias=lambda name: federate.resolve(f"models:/{name}@champion", registry_uri=uri).version,
        latest=lambda name: federate.resolve(f"models:/{name}/latest", registry_uri=uri).version,
        search=search,
        fill=lambda name, count, root: fill_federate(reg, name, count, root),
    )


def mlflow_client(uri: str) -> SimpleNamespace:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    warnings.simplefilter("ignore")  # get_latest_versions is deprecated, yet models:/ uses it

    def alias(name: str) -> int:
        mv = client.get_model_version_by_alias(name, "champion")
        client.get_model_version_download_uri(name, mv.version)
        return int(mv.version)

    def latest(name: str) -> int:
        # what MLflow does for models:/<name>/latest: latest per stage, then the highest
        return max(int(mv.version) for mv in client.get_latest_versions(name))

    def search(name: str) -> int:
        return len(client.search_model_versions(SEARCH.format(name=name), max_results=10_000))

    return SimpleNamespace(
        create_model=client.create_registered_model,
        create_version=lambda name, src: int(client.create_model_version(name, src).version),
        set_alias=client.set_registered_model_alias,
        alias=alias,
        latest=latest,
        search=search,
        fill=lambda name, count, root: fill_mlflow(uri, name, count, root),
    )


# -- bulk fill: direct SQL inserts, not timed ----------------------------------------------


def _batches(rows: list[dict[str, Any]]) -> Any:
    for i in range(0, len(rows), FILL_BATCH):
        yield rows[i : i + FILL_BATCH]


def analyze(conn: Any, *tables: str) -> None:
    """Planner statistics for the filled tables, as autovacuum would gather them."""
    for table in tables:
        conn.exec_driver_sql(f"ANALYZE {table}")


def fill_federate(reg: Any, name: str, count: int, root: str) -> None:
    """Insert ``count`` versions of existing model ``name`` into federate's tables."""
    import sqlalchemy as sa

    from federate.registry.sql import queries as q

    now = int(time.time() * 1000)
    with reg.engine.begin() as conn:
        rm_id = conn.execute(sa.select(q.rm.c.id).where(q.rm.c.name == name)).scalar_one()
        versions = [
            dict(
                registered_model_id=rm_id,
                version=v,
                creation_time=now,
                last_updated_time=now,
                current_stage="None",
                source=f"{root}/{name}/{v}",
                status="READY",
            )
            for v in range(1, count + 1)
        ]
        for batch in _batches(versions):
            conn.execute(sa.insert(q.mv), batch)
        ids = dict(
            conn.execute(
                sa.select(q.mv.c.version, q.mv.c.id).where(q.mv.c.registered_model_id == rm_id)
            ).all()
        )
        tags = [dict(model_version_id=ids[v], key="team", value=f"t{v % 10}") for v in ids]
        tags += [
            dict(model_version_id=ids[v], key="candidate", value="yes")
            for v in ids
            if v % CANDIDATE_EVERY == 0
        ]
        for batch in _batches(tags):
            conn.execute(sa.insert(q.mv_tag), batch)
        conn.execute(sa.update(q.rm).where(q.rm.c.id == rm_id).values(next_version=count + 1))
        analyze(conn, "registered_models", "model_versions", "model_version_tags")


def fill_mlflow(uri: str, name: str, count: int, root: str) -> None:
    """Insert ``count`` versions of existing model ``name`` into MLflow's tables."""
    import sqlalchemy as sa

    engine = sa.create_engine(uri)
    meta = sa.MetaData()
    mv = sa.Table("model_versions", meta, autoload_with=engine)
    tag = sa.Table("model_version_tags", meta, autoload_with=engine)
    now = int(time.time() * 1000)
    versions = [
        dict(
            name=name,
            version=v,
            creation_time=now,
            last_updated_time=now,
            current_stage="None",
            source=f"{root}/{name}/{v}",
            storage_location=f"{root}/{name}/{v}",
            status="READY",
        )
        for v in range(1, count + 1)
    ]
    tags = [dict(name=name, version=v, key="team", value=f"t{v % 10}") for v in range(1, count + 1)]
    tags += [
        dict(name=name, version=v, key="candidate", value="yes")
        for v in range(CANDIDATE_EVERY, count + 1, CANDIDATE_EVERY)
    ]
    with engine.begin() as conn:
        for batch in _batches(versions):
            conn.execute(sa.insert(mv), batch)
        for batch in _batches(tags):
            conn.execute(sa.insert(tag), batch)
        analyze(conn, "registered_models", "model_versions", "model_version_tags")
    engine.dispose()


# -- worker: one library on one database ---------------------------------------------------


def worker(side: str, backend: str, uri: str, root: str, sizes: dict[str, int]) -> dict[str, Any]:
    client = (federate_client if side == "federate" else mlflow_client)(uri)
    label = f"{side}/{backend}"
    out: dict[str, Any] = {}

    create_versions(client, label, "warm-up", 20, root)  # first-call costs, untimed
    log(f"{label}: creating {sizes['create']} versions through the API")
    out["create"] = create_versions(client, label, "fresh", sizes["create"], root) / sizes["create"]

    for key in ("small", "big"):
        name, count = key, sizes[key]
        log(f"{label}: bulk-filling {name} with {count} versions (direct SQL, untimed)")
        client.create_model(name)
        start = time.perf_counter()
        client.fill(name, count, root)
        log(f"{label}: filled in {time.perf_counter() - start:.1f} s")
        client.set_alias(name, "champion", count // 2)
        alias_iters, latest_iters = sizes["alias_iters"], sizes["latest_iters"]
        if side == "mlflow" and key == "big":  # MLflow's calls grow with the versions
            alias_iters = latest_iters = sizes["mlflow_big_iters"]
        out[f"alias_{key}"] = per_call(lambda n=name: client.alias(n), alias_iters, warmup=2)
        out[f"latest_{key}"] = per_call(lambda n=name: client.latest(n), latest_iters, warmup=1)
        out[f"answers_{key}"] = [client.alias(name), client.latest(name)]
    try:
        out["search_big"] = per_call(lambda: client.search("big"), sizes["search_iters"], warmup=1)
        out["search_hits"] = client.search("big")
    except Exception as err:  # e.g. a federate without the tag filter grammar yet
        out["search_big"] = None
        out["search_error"] = f"{type(err).__name__}: {err}"
    return out


def run_worker(side: str, backend: str, uri: str, workdir: Path, quick: bool) -> dict[str, Any]:
    out = workdir / f"{side}-{backend}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", side, "--backend", backend]
    cmd += ["--uri", uri, "--workdir", str(workdir)]
    if quick:
        cmd.append("--quick")
    subprocess.run(cmd, check=True)
    return json.loads(out.read_text())


# -- report --------------------------------------------------------------------------------


def report(backend: str, fed: dict[str, Any], mlf: dict[str, Any], sizes: dict[str, int]) -> None:
    small, big = f"{sizes['small']:,}", f"{sizes['big']:,}"
    for key in ("answers_small", "answers_big"):
        if fed[key] != mlf[key]:
            log(f"WARNING: {backend}: the two sides disagree on {key}: {fed[key]} vs {mlf[key]}")
    print(f"\n{backend}: federate vs MLflow {metadata.version('mlflow')}\n")
    rows = [
        time_row(
            f"create_model_version (mean of {sizes['create']:,})", fed["create"], mlf["create"], 5
        ),
        time_row(
            f"resolve @champion, {small} versions", fed["alias_small"], mlf["alias_small"], None
        ),
        time_row(f"resolve @champion, {big} versions", fed["alias_big"], mlf["alias_big"], None),
        time_row(
            f"resolve /latest, {small} versions", fed["latest_small"], mlf["latest_small"], None
        ),
        time_row(f"resolve /latest, {big} versions", fed["latest_big"], mlf["latest_big"], None),
    ]
    if fed["search_big"] is not None and mlf["search_big"] is not None:
        rows.append(
            time_row(
                f"search by tag over {big} versions ({fed['search_hits']} hits)",
                fed["search_big"],
                mlf["search_big"],
                None,
            )
        )
    print_table(rows)
    if fed["search_big"] is None:
        print(f"search by tag: federate could not run it: {fed.get('search_error')}")
    for side, res in (("federate", fed), ("MLflow", mlf)):
        alias_growth = res["alias_big"] / res["alias_small"]
        latest_growth = res["latest_big"] / res["latest_small"]
        print(
            f"{side}: time at {big} / time at {small} versions: @champion x{alias_growth:.2f}, "
            f"/latest x{latest_growth:.2f} (1.0 = flat)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small numbers, for a smoke run")
    parser.add_argument("--pg", default=DEFAULT_PG, help=f"PostgreSQL URL or 'none' ({DEFAULT_PG})")
    parser.add_argument("--worker", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], help=argparse.SUPPRESS)
    parser.add_argument("--uri", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = dict(QUICK if args.quick else FULL)

    if args.worker:
        root = (args.workdir / "models").as_uri()
        result = worker(args.worker, args.backend, args.uri, root, sizes)
        (args.workdir / f"{args.worker}-{args.backend}.json").write_text(json.dumps(result))
        return

    ensure_venv(__file__)
    started = time.perf_counter()
    workdir = bench_workdir("federate-bench-registry-")
    backends = ["sqlite"] + ([] if args.pg == "none" else ["postgresql"])
    results: dict[str, dict[str, Any]] = {}
    try:
        if "postgresql" in backends:
            reset_pg_schemas(args.pg, create=True)
        for backend in backends:
            results[backend] = {
                side: run_worker(
                    side,
                    backend,
                    registry_url(backend, side, workdir, args.pg),
                    workdir,
                    args.quick,
                )
                for side in SIDES
            }
    finally:
        if "postgresql" in backends:
            reset_pg_schemas(args.pg, create=False)
        shutil.rmtree(workdir, ignore_errors=True)
    for backend, res in results.items():
        report(backend, res["federate"], res["mlflow"], sizes)
    print(
        f"\n(bulk fills are direct SQL inserts, untimed; whole run "
        f"{time.perf_counter() - started:.0f} s)"
    )


if __name__ == "__main__":
    main()
