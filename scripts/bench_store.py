"""Writing and reading a city's plan through PostGIS against GeoPackage, side by side.

Usage::

    pg_virtualenv -v 15 python scripts/bench_store.py --wuhan /work/shared/data/wuhan_streets
    python scripts/bench_store.py --wuhan DIR --db postgresql://user@host/db

``pg_virtualenv`` (Debian's ``postgresql-common``, with ``postgresql-15-postgis-3``)
starts a throwaway cluster around the command and exports ``PGHOST``, ``PGPORT``,
``PGUSER``, ``PGPASSWORD`` and ``PGDATABASE``, which the default ``--db
postgresql://`` picks up; the script creates the postgis extension when it may. Without
``--wuhan`` the bundled Monaco extract is the plan.

The plan is drawn once with :func:`gridgeo.partition` (Wuhan: streets and the modelled
population grid, as ``scripts/bench_pipeline.py``), then each row is timed ``--repeat``
times (best shown):

- *plan*: every table of :func:`gridgeo.write_plan` (grids, buildings, staffing, run) in
  one transaction, against ``grids.gpkg`` (grids, buildings) + ``staffing.csv`` +
  ``summary.json`` as :meth:`Plan.to_files` writes them (GeoJSON and map left out);
  read back: the grids layer through :func:`gridgeo.read_layer`.
- *units*: the plan's units (blocks and pieces: the largest polygon layer a plan has),
  written with :func:`gridgeo.io.postgis.write_db_tables` against
  :func:`gridgeo.io.write_layers`, read back through :func:`gridgeo.read_layer`.
- *streets*: the input street network, likewise; and a query reading the streets of
  a 5 km square (``?query=… ST_Intersects(geom, ST_MakeEnvelope(…))``, GiST index)
  against pyogrio's ``bbox=`` (GeoPackage R-tree).

The jobs half (``--jobs N``, default 10,000; ``--only jobs`` skips the plan): the
service's job store, :class:`~gridgeo.service.store.SQLiteJobStore` against
:class:`~gridgeo.service.pgstore.PostgresJobStore` (schema ``bench_jobs``, recreated),
each filled with N finished jobs (four small result files each, written in bulk), then
timed through the store's own methods, as the API calls them:

- *submit* and *claim + succeed*: per job, over 200 jobs (the inputs and results
  written into the database too, for PostgreSQL);
- *list*: ``GET /jobs`` (the newest 50, a page deep in the list, 50 by status);
- *fetch*: ``GET /jobs/{id}`` on 1,000 random ids (per job); ``/health``'s counts;
  a result file (PostgreSQL: out of the database the first time, then from the local
  copy).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import geopandas as gpd
import psycopg
import pyogrio

import gridgeo
from gridgeo import datasets
from gridgeo.io import parse_db_url, write_layers
from gridgeo.io.postgis import write_db_tables
from gridgeo.plan import _plain_columns
from gridgeo.staffing import StaffingRules, staffing_table, write_staffing_csv


def _best(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def _plan(args: argparse.Namespace):
    if args.wuhan:
        streets = gpd.read_parquet(args.wuhan / "wuhan_8989_original.parquet")
        population = gpd.read_file(args.wuhan / "wuhan_population_model_500m.gpkg")
        return "Wuhan", streets, gridgeo.partition(streets, None, population=population)
    layers = gridgeo.read_osm(datasets.get_path("monaco"))
    return "Monaco", layers.streets, gridgeo.partition(layers.streets, layers.buildings)


def _gpkg_plan(plan, folder: Path) -> None:
    """What to_files writes of the plan, without GeoJSON and map."""
    layers = {"grids": plan.grids}
    if plan.buildings is not None:
        layers["buildings"] = _plain_columns(plan.buildings)
    write_layers(folder / "grids.gpkg", layers)
    table = staffing_table(
        plan.grids, buildings=plan.buildings, rules=StaffingRules(target=plan.target)
    )
    write_staffing_csv(table, folder / "staffing.csv")
    (folder / "summary.json").write_text(json.dumps(plan.summary(), ensure_ascii=False))


def _fill(store, n: int, rng) -> list[str]:
    """``n`` finished jobs, with four result rows each, written in bulk."""
    from gridgeo.service.store import SQLiteJobStore

    ids = [f"{k:08x}" + rng.bytes(12).hex() for k in range(n)]  # one every 4 minutes
    params = json.dumps(
        {
            "inputs": {"streets": {"format": "geojson", "file": "inputs/streets.geojson"}},
            "options": {"target": 300},
        }
    )
    summary = json.dumps({"grids": 42, "households": 12345, "buildings": 678})
    start = datetime.now(UTC) - timedelta(days=30)
    when = [(start + timedelta(minutes=4 * k)).isoformat(timespec="milliseconds") for k in range(n)]
    jobs = [
        (i, "partition", "succeeded", 1.0, "done", t, t, t, params, summary, 1)
        for i, t in zip(ids, when, strict=True)
    ]
    files = {
        "geojson": "grids.geojson",
        "gpkg": "grids.gpkg",
        "map": "map.html",
        "summary": "summary.json",
    }
    data = b"x" * 2048
    results = [
        (i, name, f"results/{f}", "application/octet-stream", len(data))
        for i in ids
        for name, f in files.items()
    ]
    cols = "id, kind, status, progress, stage, created_at, started_at, finished_at, params, summary, attempts"
    if isinstance(store, SQLiteJobStore):
        with sqlite3.connect(store.path) as db:
            db.executemany(f"INSERT INTO jobs ({cols}) VALUES ({', '.join('?' * 11)})", jobs)
            db.executemany(
                "INSERT INTO results (job_id, name, file, media_type, bytes) VALUES (?, ?, ?, ?, ?)",
                results,
            )
        for i in ids[:50]:
            (store.job_dir(i) / "results").mkdir(parents=True)
            for f in files.values():
                (store.job_dir(i) / "results" / f).write_bytes(data)
    else:

        def work(conn) -> None:
            with conn.cursor() as cur:
                with cur.copy(f"COPY jobs ({cols}) FROM STDIN") as copy:
                    for row in jobs:
                        copy.write_row(row)
                with cur.copy(
                    "COPY results (job_id, name, file, media_type, bytes, data) FROM STDIN"
                ) as copy:
                    for row in results:
                        copy.write_row((*row, data))
            conn.execute("ANALYZE jobs")
            conn.execute("ANALYZE results")

        store.db.run(work)
    return ids


def _bench_jobs(args: argparse.Namespace) -> None:
    import numpy as np

    from gridgeo.service.pgstore import PostgresJobStore
    from gridgeo.service.store import SQLiteJobStore

    with psycopg.connect(parse_db_url(args.db).conninfo, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS bench_jobs CASCADE")
    base = args.db + ("&" if "?" in args.db else "?")
    folder = Path(tempfile.mkdtemp(prefix="gridgeo-bench-jobs-"))
    stores = {
        "SQLite": SQLiteJobStore(folder / "sqlite"),
        "PostgreSQL": PostgresJobStore(base + "schema=bench_jobs", folder / "pg"),
    }
    rng = np.random.default_rng(0)
    times: dict[str, dict[str, float]] = {}
    for name, store in stores.items():
        t: dict[str, float] = {}
        # per job, through the API's calls: a submission, a claim and its success
        new = []
        for _ in range(args.write_jobs):
            job_id = store.new_id()
            (store.job_dir(job_id) / "inputs").mkdir()
            (store.job_dir(job_id) / "inputs" / "body.geojson").write_bytes(b"{}" * 4096)
            new.append(job_id)
        t0 = time.perf_counter()
        for job_id in new:
            store.create(job_id, "partition", {"inputs": {}, "options": {}}, max_queue=10**9)
        t["submit a job (ms)"] = (time.perf_counter() - t0) / len(new) * 1e3
        t0 = time.perf_counter()
        for _ in new:
            job = store.claim("bench:1:x", lease=30)
            (store.job_dir(job.id) / "results").mkdir()
            (store.job_dir(job.id) / "results" / "summary.json").write_text("{}")
            store.succeed(job.id, {}, {"summary": ("results/summary.json", "application/json")})
        t["claim + succeed a job (ms)"] = (time.perf_counter() - t0) / len(new) * 1e3
        ids = _fill(store, args.jobs, np.random.default_rng(1))
        total = sum(store.counts().values())

        def best(fn, repeat=args.repeat * 5) -> float:
            return _best(fn, repeat)[0] * 1e3

        t["list the newest 50 (ms)"] = best(lambda s=store: s.list_jobs(limit=50))
        t["list 50 at offset 5,000 (ms)"] = best(lambda s=store: s.list_jobs(limit=50, offset=5000))
        t["list 50 succeeded (ms)"] = best(
            lambda s=store: s.list_jobs(status="succeeded", limit=50)
        )
        t["list 500 (ms)"] = best(lambda s=store: s.list_jobs(limit=500))
        picks = rng.choice(ids, 1000)
        t0 = time.perf_counter()
        for job_id in picks:
            assert store.get(str(job_id)).status == "succeeded"
        t["fetch a job by id (ms)"] = (time.perf_counter() - t0) / len(picks) * 1e3
        t["counts for /health (ms)"] = best(lambda s=store: s.queue_info())
        info = store.get(ids[0]).results["gpkg"]
        t0 = time.perf_counter()
        store.result_path(ids[0], info).read_bytes()
        t["a result file, first time (ms)"] = (time.perf_counter() - t0) * 1e3
        t["a result file, again (ms)"] = best(
            lambda s=store, i=ids[0], f=info: s.result_path(i, f).read_bytes()
        )
        times[name] = t
        print(f"{name}: {total:,d} jobs in the store", flush=True)
    print(f"\n{'job store':34s} {'SQLite':>10s} {'PostgreSQL':>10s} {'ratio':>7s}")
    for what in times["SQLite"]:
        a, b = times["SQLite"][what], times["PostgreSQL"][what]
        print(f"{what:34s} {a:10.2f} {b:10.2f} {b / a:7.2f}")
    print(f"\nlists best of {args.repeat * 5}; fetches averaged over 1,000 ids; files in {folder}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wuhan", type=Path, help="folder with the Wuhan streets and population")
    parser.add_argument(
        "--db", default="postgresql://", help="database URL (default: libpq's PG* variables)"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs in the store (10,000)")
    parser.add_argument("--write-jobs", type=int, default=200, help="jobs submitted and run")
    parser.add_argument("--only", choices=["plan", "jobs"], help="one half of the benchmark")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    with psycopg.connect(parse_db_url(args.db).conninfo, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        version = conn.execute("SELECT version(), postgis_full_version()").fetchone()
    print(version[0].split(",")[0], "|", version[1].split('"')[1])
    if args.only != "jobs":
        _bench_plan(args)
    if args.only != "plan":
        print()
        _bench_jobs(args)


def _bench_plan(args: argparse.Namespace) -> None:
    base = args.db + ("&" if "?" in args.db else "?")
    t0 = time.perf_counter()
    city, streets, plan = _plan(args)
    print(
        f"{city}: {len(plan.grids)} grids, {len(plan.units)} units, {len(streets)} streets; "
        f"partition {time.perf_counter() - t0:.1f} s\n"
    )
    folder = Path(tempfile.mkdtemp(prefix="gridgeo-bench-store-"))
    units = _plain_columns(plan.units)
    x, y = streets.to_crs(plan.crs).union_all().centroid.coords[0]
    square = gpd.GeoSeries.from_xy([x - 2500, x + 2500], [y - 2500, y + 2500], crs=plan.crs)
    w, s, e, n = square.to_crs(streets.crs).total_bounds
    srid = streets.crs.to_epsg()
    rows = []

    def row(what: str, n: int, gpkg: Callable[[], object], pg: Callable[[], object]) -> None:
        tg, a = _best(gpkg, args.repeat)
        tp, b = _best(pg, args.repeat)
        if hasattr(a, "__len__") and hasattr(b, "__len__"):
            assert len(a) == len(b), (what, len(a), len(b))
        rows.append((what, n, tg, tp))
        print(f"{what:34s} {n:>9,d} {tg:9.2f} {tp:9.2f} {tp / tg:7.2f}", flush=True)

    print(f"{'':34s} {'rows':>9s} {'GPKG s':>9s} {'PostGIS s':>9s} {'ratio':>7s}")
    row(
        "write plan (grids, staffing, run)",
        len(plan.grids),
        lambda: _gpkg_plan(plan, folder),
        lambda: gridgeo.write_plan(plan, base + "schema=bench_plan", if_exists="replace"),
    )
    row(
        "read plan grids",
        len(plan.grids),
        lambda: gridgeo.read_layer(folder / "grids.gpkg", layer="grids"),
        lambda: gridgeo.read_layer(base + "table=bench_plan.grids"),
    )
    for name, layer in (("units", units), ("streets", streets)):
        schema = "bench_layers" if name == "units" else "bench_in"
        row(
            f"write {name}",
            len(layer),
            lambda n=name, g=layer: write_layers(folder / f"{n}.gpkg", {n: g}),
            lambda n=name, g=layer, sc=schema: write_db_tables(
                base + f"schema={sc}", {n: g}, if_exists="replace"
            ),
        )
        row(
            f"read {name}",
            len(layer),
            lambda n=name: gridgeo.read_layer(folder / f"{n}.gpkg"),
            lambda n=name, sc=schema: gridgeo.read_layer(base + f"table={sc}.{n}"),
        )
    query = (
        f"query=SELECT * FROM bench_in.streets WHERE "
        f"ST_Intersects(geom, ST_MakeEnvelope({w}, {s}, {e}, {n}, {srid}))"
    )
    part = pyogrio.read_dataframe(folder / "streets.gpkg", bbox=(w, s, e, n))
    row(
        "read streets in a 5 km square",
        len(part),
        lambda: pyogrio.read_dataframe(folder / "streets.gpkg", bbox=(w, s, e, n)),
        lambda: gridgeo.read_layer(base + query),
    )
    print(f"\nbest of {args.repeat}; files in {folder}")


if __name__ == "__main__":
    main()
