"""Reading layers from and publishing plans to a real PostgreSQL 15 + PostGIS 3 (no mock).

The server is the throwaway cluster of :func:`_postgres.postgres` (installed from
Debian's packages when missing; the tests fail, never skip, when it cannot be had).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
import tomllib
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import pytest
import shapely
from _postgres import DATABASE, PASSWORD, USER

import gridgeo
from gridgeo.cli import main
from gridgeo.io.postgis import read_db_layer, write_db_tables

ROOT = Path(__file__).resolve().parent.parent
CODES = {"scheme": "db11", "admin_code": "110105", "street_code": "001"}


@pytest.fixture(scope="module")
def wangjing(osm):
    layers = osm("beijing_wangjing")
    rules = {"barriers": layers.barriers, "dedicated": layers.landuse, "pois": layers.pois}
    plan = gridgeo.partition(layers.streets, layers.buildings, target=300, codes=CODES, **rules)
    return layers, plan


@pytest.fixture(scope="module")
def base(postgres, osm, tmp_path_factory):
    """Wangjing's streets and buildings in schema ``base`` and in GeoPackage files."""
    layers = osm("beijing_wangjing")
    folder = tmp_path_factory.mktemp("base")
    files = {}
    for name in ("streets", "buildings"):
        files[name] = folder / f"{name}.gpkg"
        gridgeo.io.write_layers(files[name], {name: getattr(layers, name)})
    write_db_tables(
        postgres.url("?schema=base"),
        {"streets": layers.streets, "buildings": layers.buildings},
        if_exists="replace",
    )
    return files


def _conn(postgres):
    return psycopg.connect(postgres.url(), autocommit=True)


def _same_geometry(a, b) -> float:
    """Largest Hausdorff distance (m or degrees) between matching geometries."""
    a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    assert len(a) == len(b)
    return float(shapely.hausdorff_distance(a, b).max()) if len(a) else 0.0


# ------------------------------------------------------------------------ publishing


def test_wangjing_plan_in_postgis_equals_geopackage(postgres, wangjing, tmp_path):
    _, plan = wangjing
    url = postgres.url("?schema=plan_wangjing")
    written = gridgeo.write_plan(plan, url)
    assert written == [f"plan_wangjing.{t}" for t in ("grids", "buildings", "staffing", "run")]
    paths = plan.to_files(tmp_path, map_html=False)
    for layer in ("grids", "buildings"):
        gpkg = gridgeo.read_layer(paths["gpkg"], layer=layer)
        db = gridgeo.read_layer(postgres.url(f"?table=plan_wangjing.{layer}"))
        assert list(db.columns) == ["fid", *gpkg.columns]
        assert db["fid"].tolist() == list(range(1, len(gpkg) + 1))
        assert db.crs == gpkg.crs == plan.crs
        assert _same_geometry(db.geometry, gpkg.geometry) <= 1e-9
        for col in gpkg.columns.drop("geometry"):
            pd.testing.assert_series_equal(
                db[col], gpkg[col], check_dtype=False, check_index=False, obj=f"{layer}.{col}"
            )
    grids = gridgeo.read_layer(postgres.url("?table=plan_wangjing.grids"))
    assert grids["code"].str.fullmatch(r"110105001\d{6}").all()
    assert grids["code"].tolist() == plan.grids["code"].tolist()
    assert grids["households"].tolist() == plan.grids["households"].tolist()
    assert grids["households"].sum() == plan.summary()["households"] > 0
    buildings = gridgeo.read_layer(postgres.url("?table=plan_wangjing.buildings"))
    assert buildings["grid_id"].tolist() == plan.buildings["grid_id"].astype(str).tolist()
    # staffing: the CSV's rows, workers included
    staffing = read_db_layer(postgres.url("?table=plan_wangjing.staffing"))
    csv = pd.read_csv(paths["staffing"], encoding="utf-8-sig")
    assert len(staffing) == len(csv) - 1 == len(plan.grids)  # the CSV ends with a total row
    assert staffing["workers"].tolist() == csv["网格员 Grid workers"][:-1].astype(int).tolist()
    assert staffing["workers"].sum() >= len(plan.grids)
    assert staffing["households"].tolist() == plan.grids["households"].tolist()
    # run: the summary's figures
    run = read_db_layer(postgres.url("?table=plan_wangjing.run"))
    summary = json.loads(paths["summary"].read_text(encoding="utf-8"))
    assert len(run) == 1 and run.loc[0, "kind"] == "partition"
    for key in ("target", "tolerance", "n_grids", "households", "buildings", "crs"):
        assert run.loc[0, key] == summary[key], key
    # what QGIS needs: typed geometry columns with SRID, GiST indexes, primary keys
    with _conn(postgres) as conn:
        srids = dict(
            conn.execute(
                "SELECT f_table_name, srid FROM geometry_columns WHERE f_table_schema = 'plan_wangjing'"
            ).fetchall()
        )
        gist = conn.execute(
            "SELECT tablename FROM pg_indexes WHERE schemaname = 'plan_wangjing' "
            "AND indexdef LIKE '%USING gist%' ORDER BY 1"
        ).fetchall()
        keys = dict(
            conn.execute(
                "SELECT c.relname, a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a "
                "ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey) "
                "WHERE n.nspname = 'plan_wangjing' AND i.indisprimary"
            ).fetchall()
        )
        left = conn.execute("SELECT count(*) FROM pg_class WHERE relname LIKE '%gridgeo_%'")
        assert left.fetchone()[0] == 0  # no staged table or index left behind
    assert srids == {"grids": plan.crs.to_epsg(), "buildings": plan.crs.to_epsg()}
    assert [r[0] for r in gist] == ["buildings", "grids"]
    assert keys == {"grids": "fid", "buildings": "fid", "staffing": "grid_id", "run": "fid"}


def test_publish_twice_fails_then_replaces(postgres, wangjing):
    _, plan = wangjing
    url = postgres.url("?schema=plan_twice")
    gridgeo.write_plan(plan, url)
    with pytest.raises(gridgeo.InputError, match="already holds .*--if-exists replace"):
        gridgeo.write_plan(plan, url)
    first = read_db_layer(postgres.url("?table=plan_twice.run"))["published_at"][0]
    gridgeo.write_plan(plan, url, if_exists="replace")
    second = read_db_layer(postgres.url("?table=plan_twice.run"))["published_at"][0]
    assert second > first
    assert len(gridgeo.read_layer(postgres.url("?table=plan_twice.grids"))) == len(plan.grids)


def test_failed_write_leaves_the_old_plan(postgres, wangjing):
    """A replace that fails at its very end (a view depends on the old grids) changes
    nothing: the old plan stays whole and no staged table is left."""
    _, plan = wangjing
    url = postgres.url("?schema=plan_failed")
    gridgeo.write_plan(plan, url)
    before = read_db_layer(postgres.url("?table=plan_failed.run"))["published_at"][0]
    with _conn(postgres) as conn:
        conn.execute("CREATE VIEW plan_failed.big AS SELECT * FROM plan_failed.grids")
    with pytest.raises(gridgeo.DatabaseError, match="view plan_failed.big depends on") as err:
        gridgeo.write_plan(plan, url, if_exists="replace")
    assert "nothing was changed" in str(err.value)
    assert read_db_layer(postgres.url("?table=plan_failed.run"))["published_at"][0] == before
    grids = gridgeo.read_layer(postgres.url("?table=plan_failed.grids"))
    assert grids["grid_id"].tolist() == plan.grids["grid_id"].tolist()
    with _conn(postgres) as conn:
        tables = conn.execute(
            "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE nspname = 'plan_failed' AND relkind = 'r' ORDER BY 1"
        ).fetchall()
    assert [t[0] for t in tables] == ["buildings", "grids", "run", "staffing"]


def test_interrupted_write_leaves_the_old_plan(postgres, tmp_path):
    """A writer killed in the middle of replacing a plan leaves the old one: it is held
    while a reader keeps the old grids open, then killed."""
    old = gpd.GeoDataFrame(
        {"grid_id": ["OLD"]}, geometry=[shapely.box(0, 0, 1, 1)], crs="EPSG:4547"
    )
    url = postgres.url("?schema=plan_killed")
    write_db_tables(url, {"grids": old})
    new = gpd.GeoDataFrame(
        {"grid_id": [f"N{i}" for i in range(500)]},
        geometry=[shapely.box(i, 0, i + 1, 1) for i in range(500)],
        crs="EPSG:4547",
    )
    new.to_file(tmp_path / "new.gpkg", layer="grids")
    script = textwrap.dedent(
        f"""
        import geopandas, sys
        from gridgeo.io.postgis import write_db_tables
        grids = geopandas.read_file({str(tmp_path / "new.gpkg")!r})
        write_db_tables(sys.argv[1], {{"grids": grids}}, if_exists="replace")
        print("committed")
        """
    )
    reader = psycopg.connect(postgres.url())
    reader.execute("SELECT count(*) FROM plan_killed.grids")  # holds the table till rollback
    writer = subprocess.Popen(
        [sys.executable, "-c", script, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        with _conn(postgres) as watch:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                waiting = watch.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'gridgeo' "
                    "AND wait_event_type = 'Lock'"
                ).fetchone()[0]
                if waiting or writer.poll() is not None:
                    break
                time.sleep(0.05)
            assert waiting, f"the writer never waited: {writer.communicate()}"
            staged = watch.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE a.application_name = 'gridgeo' AND l.mode = 'AccessExclusiveLock' "
                "AND l.locktype = 'relation'"
            ).fetchone()[0]
            assert staged > 0  # it has written its new table when it is killed
            os.kill(writer.pid, signal.SIGKILL)
            writer.wait(timeout=30)
            reader.rollback()
            deadline = time.monotonic() + 30
            while watch.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'gridgeo'"
            ).fetchone()[0]:
                assert time.monotonic() < deadline, "the killed writer's session lingers"
                time.sleep(0.05)
            left = watch.execute(
                "SELECT count(*) FROM pg_class WHERE relname LIKE '%gridgeo_%'"
            ).fetchone()[0]
    finally:
        reader.close()
        if writer.poll() is None:
            writer.kill()
    assert b"committed" not in writer.stdout.read()
    assert gridgeo.read_layer(postgres.url("?table=plan_killed.grids"))["grid_id"].tolist() == [
        "OLD"
    ]
    assert left == 0


# --------------------------------------------------------------------------- reading


def test_partition_from_postgis_equals_partition_from_files(postgres, base, tmp_path):
    """The CLI reads streets from a table and buildings from a query, publishes the plan,
    and it is the plan drawn from the same layers in files."""
    query = "?query=SELECT * FROM base.buildings WHERE fid > 0 ORDER BY fid"
    common = ["--target", "300", "--codes", "db11", "--admin-code", "110105"]
    db_args = ["--streets", postgres.url("?table=base.streets"), "--buildings", postgres.url(query)]
    out = postgres.url("?schema=plan_cli")
    assert main(["-q", "partition", *db_args, *common, "--out", out]) == 0
    files = ["--streets", str(base["streets"]), "--buildings", str(base["buildings"])]
    assert main(["-q", "partition", *files, *common, "--out", str(tmp_path), "--no-map"]) == 0
    db = gridgeo.read_layer(postgres.url("?table=plan_cli.grids"))
    gpkg = gridgeo.read_layer(tmp_path / "grids.gpkg", layer="grids")
    assert len(db) == len(gpkg) > 1
    assert db["grid_id"].tolist() == gpkg["grid_id"].tolist()
    assert db["code"].tolist() == gpkg["code"].tolist()
    assert db["households"].tolist() == gpkg["households"].tolist()
    assert _same_geometry(db.geometry, gpkg.geometry) <= 1e-9
    # the layer option names a table when the URL names none
    streets = gridgeo.read_layer(postgres.url(), layer="base.streets", name="streets")
    assert len(streets) == len(gridgeo.read_layer(base["streets"]))


def test_other_subcommands_read_the_database(postgres, base, wangjing, tmp_path):
    """coverage reads grids and buildings from tables, map draws a published plan, and
    both give what they give from the same layers in files."""
    _, plan = wangjing
    gridgeo.write_plan(plan, postgres.url("?schema=plan_sub"))
    paths = plan.to_files(tmp_path / "files", map_html=False)
    db = ["--grids", postgres.url("?table=plan_sub.grids")]
    db += ["--buildings", postgres.url("?table=base.buildings")]
    files = ["--grids", str(paths["gpkg"]), "--grids-layer", "grids"]
    files += ["--buildings", str(base["buildings"])]
    for name, args in (("db", db), ("files", files)):
        out = tmp_path / f"coverage_{name}"
        assert main(["-q", "coverage", *args, "--out", str(out), "--no-map"]) == 0
    figures = [
        json.loads((tmp_path / f"coverage_{n}" / "coverage.json").read_text())
        for n in ("db", "files")
    ]
    for key in ("grids", "buildings", "households", "uncovered_buildings", "overlaps", "gaps"):
        assert figures[0][key] == figures[1][key], key
    assert figures[0]["grids"] == len(plan.grids)
    html = tmp_path / "map.html"
    url = postgres.url("?schema=plan_sub")
    assert main(["-q", "map", url, "--out", str(html), "--basemap", "none"]) == 0
    text = html.read_text(encoding="utf-8")
    assert all(g in text for g in plan.grids["grid_id"])
    # a folder-writing subcommand refuses a database --out instead of making a folder
    with pytest.raises(SystemExit) as err:
        main(["coverage", *db, "--out", url])
    assert err.value.code == 2


@pytest.mark.usefixtures("base")
def test_read_validation_is_that_of_files(postgres, tmp_path):
    """SRID 0 is a layer without CRS, with the message of a file without CRS; the rest
    of the checks (empty layer, plain table) as for files."""
    with _conn(postgres) as conn:
        conn.execute(
            "CREATE TABLE base.nocrs AS SELECT fid, ST_SetSRID(geom, 0) AS geom FROM base.streets"
        )
        conn.execute("CREATE TABLE base.plain (id int, name text)")
        conn.execute("INSERT INTO base.plain VALUES (1, 'a')")
    nocrs = gpd.GeoDataFrame(geometry=[shapely.Point(0, 0)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no CRS, on purpose
        nocrs.to_file(tmp_path / "nocrs.gpkg")
    with pytest.raises(gridgeo.CRSError) as from_file:
        gridgeo.read_layer(tmp_path / "nocrs.gpkg", name="streets")
    with pytest.raises(gridgeo.CRSError) as from_db:
        gridgeo.read_layer(postgres.url("?table=base.nocrs"), name="streets")
    assert str(from_db.value) == str(from_file.value)
    with pytest.raises(gridgeo.EmptyLayerError, match="streets layer is empty"):
        gridgeo.read_layer(
            postgres.url("?query=SELECT * FROM base.streets WHERE false"), name="streets"
        )
    with pytest.raises(gridgeo.InputError, match="has no geometry column .*plain table"):
        gridgeo.read_layer(postgres.url("?table=base.plain"), name="streets")
    with pytest.raises(gridgeo.InputError, match="tabel=base.streets names no streets layer"):
        gridgeo.read_layer(postgres.url("?tabel=base.streets"), name="streets")
    with pytest.raises(gridgeo.DatabaseError, match="cannot connect .*sslmdoe"):
        gridgeo.read_layer(postgres.url("?table=base.streets&sslmdoe=require"), name="streets")
    with pytest.raises(gridgeo.InputError, match="no table or view 'base.rods'.*base.streets"):
        gridgeo.read_layer(postgres.url("?table=base.rods"), name="streets")
    two = "?query=SELECT fid, geom, ST_Centroid(geom) AS centre FROM base.buildings"
    with pytest.raises(gridgeo.InputError, match="geometry columns geom, centre.*&geometry="):
        gridgeo.read_layer(postgres.url(two))
    centres = gridgeo.read_layer(postgres.url(two.replace("?", "?geometry=centre&")))
    assert set(centres.geom_type) == {"Point"} and centres.crs.to_epsg() == 4326
    # a query in another CRS: the SRID of its geometries
    utm = gridgeo.read_layer(
        postgres.url("?query=SELECT fid, ST_Transform(geom, 4547) AS geom FROM base.streets")
    )
    assert utm.crs.to_epsg() == 4547
    # % and & in a query written as it stands
    like = gridgeo.read_layer(
        postgres.url("?query=SELECT * FROM base.streets WHERE highway LIKE '%ary' AND geom && geom")
    )
    assert set(like["highway"]) <= {"primary", "secondary", "tertiary"} and len(like)


# --------------------------------------------------------------- faults and secrets


def test_unreachable_database_names_host_and_database_never_the_password(postgres, capsys):
    with _conn(postgres):
        pass  # the server is up; a closed port is not
    closed = postgres.url("?table=base.streets").replace(f":{postgres.port}/", ":9/")
    with pytest.raises(gridgeo.DatabaseError) as err:
        gridgeo.read_layer(closed)
    text = str(err.value)
    assert "database 'city' on 127.0.0.1:9" in text and PASSWORD not in text
    assert "Pw" not in text and "%40" not in text
    code = main(
        [
            "partition",
            "--streets",
            closed,
            "--out",
            postgres.url("?schema=x").replace(f":{postgres.port}/", ":9/"),
        ]
    )
    captured = capsys.readouterr()
    assert code == 2
    assert "127.0.0.1:9" in captured.err and "city" in captured.err
    assert "Pw" not in captured.err + captured.out
    # a wrong password: refused, and neither password is shown
    wrong = postgres.url("?table=base.streets").replace("Pw%3A", "Wrong%3A")
    with pytest.raises(gridgeo.DatabaseError, match="password authentication failed") as err:
        gridgeo.read_layer(wrong)
    assert "Wrong" not in str(err.value) and "Pw" not in str(err.value)


def test_credentials_from_pgpassword_pgpass_and_service_file(
    postgres, base, tmp_path, monkeypatch, caplog
):
    caplog.set_level(logging.DEBUG)
    bare = postgres.url("?table=base.streets", password=False)
    n = len(gridgeo.read_layer(base["streets"]))
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))
    with pytest.raises(gridgeo.DatabaseError, match="no password supplied|password authentication"):
        gridgeo.read_layer(bare)
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    assert len(gridgeo.read_layer(bare)) == n
    monkeypatch.delenv("PGPASSWORD")
    pgpass = tmp_path / "pgpass"
    escaped = PASSWORD.replace("\\", "\\\\").replace(":", "\\:")
    pgpass.write_text(f"127.0.0.1:{postgres.port}:{DATABASE}:{USER}:{escaped}\n")
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    assert len(gridgeo.read_layer(bare)) == n
    services = tmp_path / "pg_service.conf"
    services.write_text(
        f"[citydb]\nhost=127.0.0.1\nport={postgres.port}\ndbname={DATABASE}\nuser={USER}\n"
    )
    monkeypatch.setenv("PGSERVICEFILE", str(services))
    assert len(gridgeo.read_layer("postgresql://?service=citydb&table=base.streets")) == n
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert PASSWORD not in logged and "Pw%3A" not in logged


def test_password_in_no_message_or_log(postgres, wangjing, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    _, plan = wangjing
    url = postgres.url("?schema=plan_secret")
    gridgeo.write_plan(plan, url)
    messages = []
    for bad in (url, postgres.url("?table=base.nothing"), postgres.url("?query=SELEC 1")):
        with pytest.raises(gridgeo.GridgeoError) as err:
            (gridgeo.write_plan(plan, bad) if "schema" in bad else gridgeo.read_layer(bad))
        messages.append(str(err.value))
    assert "SELEC" in messages[2] and "syntax error" in messages[2]
    out = capsys.readouterr()
    everything = " ".join([*messages, out.out, out.err, *(r.getMessage() for r in caplog.records)])
    assert "postgresql://gis@127.0.0.1" in everything
    assert PASSWORD not in everything and "Pw%3A" not in everything and "s3cr" not in everything
    assert PASSWORD not in repr(gridgeo.io.parse_db_url(url))


@pytest.mark.usefixtures("base")
def test_injected_names_are_refused_or_quoted(postgres, wangjing):
    _, plan = wangjing
    with _conn(postgres) as conn:
        conn.execute("CREATE TABLE public.victim AS SELECT 1 AS id")
    evil = 'x"; DROP TABLE victim; --'
    # a double quote: refused before anything reaches the server
    for url in (postgres.url(f"?table=base.{evil}"), postgres.url(f"?table={evil}")):
        with pytest.raises(gridgeo.InputError, match="invalid table name"):
            gridgeo.read_layer(url)
    with pytest.raises(gridgeo.InputError, match="invalid schema name"):
        gridgeo.read_layer(postgres.url(f"?table={evil}.streets"))
    with pytest.raises(gridgeo.InputError, match="invalid schema name"):
        gridgeo.write_plan(plan, postgres.url(f"?schema={evil}"))
    # without one: quoted as an identifier, so it is only a (missing) name
    with pytest.raises(gridgeo.InputError, match="no table or view"):
        gridgeo.read_layer(postgres.url("?table=base.x; DROP TABLE victim; --"))
    odd = "plan; DROP TABLE victim; --"
    written = gridgeo.write_plan(plan, postgres.url(f"?schema={odd}"))
    assert written[0] == f"{odd}.grids"
    assert len(gridgeo.read_layer(postgres.url(f"?table={odd}.grids"))) == len(plan.grids)
    # a query runs read-only: it cannot change anything either
    with pytest.raises(gridgeo.DatabaseError, match="read-only transaction"):
        gridgeo.read_layer(postgres.url("?query=DELETE FROM victim RETURNING *"))
    with _conn(postgres) as conn:
        assert conn.execute("SELECT count(*) FROM public.victim").fetchone()[0] == 1
        schemas = {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace")}
    assert odd in schemas and not any('"' in s for s in schemas)


# ------------------------------------------------------------------------ install


def test_postgis_extra_only():
    """The database libraries are an extra (and in the test extra); the core has none."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = ("sqlalchemy", "geoalchemy2", "psycopg")
    assert not [d for d in project["dependencies"] if d.lower().startswith(names)]
    extra = project["optional-dependencies"]["postgis"]
    assert sorted(d.split(">")[0].split("[")[0] for d in extra) == sorted(names)
    assert set(extra) <= set(project["optional-dependencies"]["test"])


def test_database_url_without_the_extra_says_what_to_install():
    script = textwrap.dedent(
        """
        import sys
        for m in ("psycopg", "sqlalchemy", "geoalchemy2"):
            sys.modules[m] = None  # as if not installed
        from gridgeo.cli import main
        sys.exit(main(["partition", "--streets", "postgresql://gis@127.0.0.1/city?table=base.roads"]))
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 2, run.stderr
    assert "pip install 'gridgeo[postgis]'" in run.stderr
    assert "Traceback" not in run.stderr
