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

The other half of issue 20's benchmark (listing and fetching jobs with 10,000 jobs in
the service's store, SQLite against PostgreSQL) needs the service's PostgreSQL store,
which this script does not cover.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from collections.abc import Callable
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wuhan", type=Path, help="folder with the Wuhan streets and population")
    parser.add_argument(
        "--db", default="postgresql://", help="database URL (default: libpq's PG* variables)"
    )
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    with psycopg.connect(parse_db_url(args.db).conninfo, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        version = conn.execute("SELECT version(), postgis_full_version()").fetchone()
    print(version[0].split(",")[0], "|", version[1].split('"')[1])
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
