"""Planning rules beyond street blocks: hard barriers, dedicated grids, the rural rule,
weights and bands (issue 3, "Also in scope").

Hand-made layouts in EPSG:32650 (Beijing's UTM zone) isolate each rule; the bundled real
extracts (Helsinki, Beijing Wangjing, Kouvola, Monaco) check that the rules hold at
city scale together with the plan invariants of ``tests/test_pipeline.py``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy import sparse
from scipy.sparse import csgraph
from shapely.geometry import LineString, box

import gridgeo
from gridgeo import datasets
from gridgeo.cli import main
from gridgeo.constraints import BARRIER_STREETS, DEDICATED_KINDS, dedicated_zones, join_pockets
from gridgeo.pipeline import prepare
from tests.test_pipeline import assert_buildings_conserved, assert_tiles

X0, Y0 = 440_000.0, 4_420_000.0  # a 400 m square in Beijing's UTM zone
UTM50 = 32650


# ------------------------------------------------------------------ hand-made layouts


def _streets(verticals=(0, 400), horizontals=(0, 400), extra=()):
    """A square of 2-point street lines (offsets in metres from X0, Y0) plus ``extra``
    (LineString, highway) pairs."""
    lines = [LineString([(X0 + x, Y0), (X0 + x, Y0 + 400)]) for x in verticals]
    lines += [LineString([(X0, Y0 + y), (X0 + 400, Y0 + y)]) for y in horizontals]
    highway = ["residential"] * len(lines)
    for line, kind in extra:
        lines.append(line)
        highway.append(kind)
    return gpd.GeoDataFrame({"highway": highway}, geometry=lines, crs=UTM50)


def _across(y=200.0):
    """A line across the whole square at offset ``y`` (overshooting it on both ends)."""
    return LineString([(X0 - 50, Y0 + y), (X0 + 450, Y0 + y)])


def _barrier(value, y=200.0, **columns):
    return gpd.GeoDataFrame({"value": [value], **columns}, geometry=[_across(y)], crs=UTM50)


def _lattice(x_from, x_to, y_from, y_to, households, *, size=20.0, step=40.0):
    """Buildings of ``size`` m on a ``step`` m lattice; ``households`` (int or callable)."""
    geoms, hh = [], []
    for x in np.arange(x_from + 10, x_to - size - 5, step):
        for y in np.arange(y_from + 10, y_to - size - 5, step):
            geoms.append(box(X0 + x, Y0 + y, X0 + x + size, Y0 + y + size))
            hh.append(households(len(hh)) if callable(households) else households)
    return geoms, hh


def _buildings(*parts):
    geoms = [g for p in parts for g in p[0]]
    hh = [h for p in parts for h in p[1]]
    return gpd.GeoDataFrame({"hh": hh}, geometry=geoms, crs=UTM50)


def _spanning(plan, side):
    """Grid ids holding households on both sides (``side``: bool per input building)."""
    b = plan.buildings.assign(side=np.asarray(side))
    b = b[b["households"] > 0]
    sides = b.groupby("grid_id")["side"].nunique()
    return sorted(sides.index[sides > 1])


def _assert_plan(plan, n_buildings):
    g = plan.grids
    # one polygon, but for grids that took in an exclave (islands): reported as parts
    one = g.geom_type == "Polygon"
    assert (one | (g["parts"] > 1)).all(), "every grid must be one polygon"
    assert g.is_valid.all()
    assert g["grid_id"].is_unique
    assert_tiles(g, plan.study_area)
    assert_buildings_conserved(plan, n_buildings)


@pytest.fixture(scope="module")
def strips():
    """Four 100 m × 400 m strips, each half holding 10 buildings of 5–14 households (so
    blocks stay whole units: at most 140 households, under half the target)."""
    rng = np.random.default_rng(1)
    parts = [
        _lattice(x, x + 100, y, y + 200, lambda _: int(rng.integers(5, 15)))
        for x in range(0, 400, 100)
        for y in (0, 200)
    ]
    buildings = _buildings(*parts)
    assert len(buildings) == 80
    streets = _streets(verticals=(0, 100, 200, 300, 400))
    north = (buildings.geometry.centroid.y > Y0 + 200).to_numpy()
    return streets, buildings, north


KW = {"households_column": "hh", "crs": UTM50}
#: hand-made layouts keep blocks whole (no tessellation of big blocks): see
#: test_block_of_row_buildings_is_split for that
WHOLE = {**KW, "split_above": 1000}


def test_railway_splits_grids(strips):
    streets, buildings, north = strips
    free = gridgeo.partition(streets, buildings, **WHOLE)
    plan = gridgeo.partition(streets, buildings, barriers=_barrier("rail"), **WHOLE)
    for p in (free, plan):
        _assert_plan(p, len(buildings))
    # without the railway the engine joins halves of a strip; with it, never
    assert _spanning(free, north) != [], "the layout does not test the barrier"
    assert _spanning(plan, north) == []
    # the railway cuts blocks: none straddles it
    assert len(plan.blocks) == 2 * len(free.blocks)
    assert not shapely.crosses(plan.blocks.geometry.values, _across()).any()


def test_rail_cuts_adjacency_tram_and_tunnel_do_not(strips):
    streets, buildings, _ = strips

    def nnz(barriers):
        ws = prepare(streets, buildings, barriers=barriers, **WHOLE)
        return ws.adjacency.nnz, ws.full_adjacency.nnz

    free, _ = nnz(None)
    cut, full = nnz(_barrier("rail"))
    # 8 half-strips: 4 pairs across the railway are cut, the 2 × 3 along each side stay
    assert (cut, full) == (2 * 6, 2 * 10)
    assert free == 2 * 3
    assert nnz(_barrier("tram")) == (free, free)
    assert nnz(_barrier("rail", tunnel=[True])) == (free, free)


@pytest.fixture(scope="module")
def across_the_street():
    """A 400 m square halved by a street at y=200: 150 households in each half, so one
    grid of 300 across the street is the only balanced plan and a split is the
    barrier's doing."""
    north = _lattice(0, 400, 200, 400, 0)
    south = _lattice(0, 400, 0, 200, 0)
    for _, hh in (north, south):  # 150 on each side, spread over the buildings
        share = np.full(len(hh), 150 // len(hh))
        share[: 150 - share.sum()] += 1
        hh[:] = share.tolist()
    buildings = _buildings(north, south)
    side = (buildings.geometry.centroid.y > Y0 + 200).to_numpy()
    assert buildings["hh"].sum() == 300
    return buildings, side


@pytest.mark.parametrize(
    ("case", "split"),
    [
        ("rail", True),
        ("river", True),
        ("tram", False),
        ("stream", False),
        ("rail in tunnel", False),
        ("motorway", False),
        ("motorway, barrier_streets={'motorway'}", True),
        ("trunk", "trunk" in BARRIER_STREETS),
        ("trunk, barrier_streets={'trunk'}", True),
        ("motorway, barrier_streets=set()", False),
        ("primary", False),
        ("primary, barrier_streets={'primary'}", True),
    ],
)
def test_which_lines_divide_grids(case, split, across_the_street):
    buildings, side = across_the_street
    kw = dict(KW)  # blocks of 150: whole units
    street = "residential"
    if case in ("rail", "river", "tram", "stream"):
        kw["barriers"] = _barrier(case)
    elif case == "rail in tunnel":
        kw["barriers"] = _barrier("rail", tunnel=[True])
    else:
        street = case.split(",")[0]
        if "set()" in case:
            kw["barrier_streets"] = set()
        elif "{" in case:
            kw["barrier_streets"] = {street}
    streets = _streets(extra=[(_across(), street)])
    plan = gridgeo.partition(streets, buildings, **kw)
    _assert_plan(plan, len(buildings))
    if split:
        assert sorted(plan.grids["households"]) == [150, 150]
        assert _spanning(plan, side) == []
    else:
        assert len(plan.grids) == 1, plan.grids[["grid_id", "households"]]
        assert _spanning(plan, side) == plan.grids["grid_id"].tolist()


@pytest.fixture(scope="module")
def t_junctions():
    """Four 100 m strips drawn with plain T-junctions (each street end lies on the cross
    street, as in CAD or planning layers, not at a shared vertex), computed in gridgeo's
    own metric CRS (CGCS2000 Gauss–Krüger, not the input's UTM zone)."""
    streets = _streets(verticals=(0, 100, 200, 300, 400))
    rng = np.random.default_rng(1)
    geoms, hh = [], []
    for x in (0, 100, 200, 300):  # two 30 m × 20 m buildings a row, 8 rows a strip
        for y in (10, 50, 90, 130, 250, 290, 330, 370):
            for dx in (10, 50):
                geoms.append(box(X0 + x + dx, Y0 + y, X0 + x + dx + 30, Y0 + y + 20))
                hh.append(int(rng.integers(5, 40)))
    buildings = gpd.GeoDataFrame({"hh": hh}, geometry=geoms, crs=UTM50)
    plan = gridgeo.partition(streets, buildings, households_column="hh")
    assert plan.crs.to_epsg() != UTM50
    _assert_plan(plan, len(buildings))
    return plan


def test_every_street_cuts_after_reprojection(t_junctions):
    areas = np.sort(t_junctions.blocks.area.to_numpy())
    assert len(areas) == 4, f"expected 4 blocks of 4 ha, got areas (m²) {areas.round(6)}"
    np.testing.assert_allclose(areas, 40_000, rtol=0.01)


def test_no_sliver_grid_after_reprojection(t_junctions):
    g = t_junctions.grids
    tiny = g[g.area < 1.0]
    assert tiny.empty, f"grids under 1 m²:\n{tiny[['grid_id', 'households', 'area_m2']]}"


def test_block_of_row_buildings_is_split():
    """A compound of 20 m buildings on a 40 m lattice (行列式), 5–39 households each:
    blocks over half the target are cut into one piece per building."""
    rng = np.random.default_rng(1)
    parts = [
        _lattice(x, x + 100, 0, 400, lambda _: int(rng.integers(5, 40))) for x in range(0, 400, 100)
    ]
    buildings = _buildings(*parts)
    streets = _streets(verticals=(0, 100, 200, 300, 400))
    plan = gridgeo.partition(streets, buildings, households_column="hh")
    _assert_plan(plan, len(buildings))
    assert len(plan.units) > len(plan.blocks)


# ------------------------------------------------------------ hard barriers, real data


@pytest.fixture(scope="module")
def helsinki_barriers(osm, helsinki_population):
    layers = osm("helsinki")
    kw = {"population": helsinki_population, "barriers": layers.barriers}
    ws = prepare(layers.streets, layers.buildings, **kw)
    plan = gridgeo.partition(layers.streets, layers.buildings, **kw)
    return layers, ws, plan


def test_helsinki_barriers_invariants(helsinki_barriers):
    layers, _, plan = helsinki_barriers
    g = plan.grids
    assert (g.geom_type == "Polygon").all()
    assert g.is_valid.all()
    assert_tiles(g, plan.study_area)
    assert_buildings_conserved(plan, len(layers.buildings))


def test_helsinki_grids_join_households_across_barriers_only_for_pockets(helsinki_barriers):
    """Units of a grid that hold households are connected without crossing a barrier,
    but for whole slivers of land holding at most a grid's margin (``across_barrier``)."""
    _, ws, plan = helsinki_barriers
    units = plan.units
    assert len(units) == len(ws.units.geometry)
    assert shapely.equals_exact(units.geometry.values, ws.units.geometry, 0).all()
    assert ws.adjacency.nnz < ws.full_adjacency.nnz, "Helsinki's railways cut no adjacency"
    grid = pd.factorize(units["grid_id"])[0]
    cut = sparse.triu(ws.adjacency, k=1).tocoo()
    same = grid[cut.row] == grid[cut.col]
    inner = sparse.csr_matrix(
        (np.ones(same.sum()), (cut.row[same], cut.col[same])), shape=ws.adjacency.shape
    )
    _, comp = csgraph.connected_components(inner, directed=False)
    hh = units["households"].to_numpy()
    # pieces of land between barriers (within groups), and their households
    full_cut = sparse.triu(ws.adjacency, k=1).tocoo()
    same_group = ws.groups[full_cut.row] == ws.groups[full_cut.col]
    land = sparse.csr_matrix(
        (np.ones(same_group.sum()), (full_cut.row[same_group], full_cut.col[same_group])),
        shape=ws.adjacency.shape,
    )
    _, piece = csgraph.connected_components(land, directed=False)
    piece_hh = np.bincount(piece, weights=hh)
    across = plan.grids.set_index("grid_id")["across_barrier"]
    bad = []
    for gid, rows in units.groupby("grid_id").indices.items():
        rows = rows[hh[rows] > 0]
        parts = np.unique(comp[rows])
        if len(parts) == 1:
            assert not across[gid]
            continue
        # every part but the heaviest is a whole pocket lighter than a grid
        weights = np.array([hh[rows][comp[rows] == c].sum() for c in parts])
        for c, w in zip(parts, weights, strict=True):
            if w == weights.max():
                continue
            p = np.unique(piece[rows][comp[rows] == c])
            if len(p) != 1 or piece_hh[p[0]] != w or w > ws.band.upper - ws.band.target:
                bad.append(gid)
        assert across[gid]
    assert bad == [], f"grids joining households across a barrier: {bad}"


# ----------------------------------------------------------------------- dedicated grids


def _assert_dedicated(plan, layer):
    """Every zone of 1 ha or more holding households has dedicated grids covering it
    (one grid when it is one piece holding no more than a grid); a zone holding none has
    no grid (it joins the grids around it: the default ``empty_zones="join"``); the
    zone's grids take no households from outside it and no basic grid overlaps it."""
    zones = dedicated_zones(layer.to_crs(plan.crs), kinds=DEDICATED_KINDS)
    g = plan.grids
    assert len(zones) > 0
    area = plan.study_area
    dedicated = g[g["grid_type"] == "dedicated"]
    basic = g[g["grid_type"] != "dedicated"]
    pts = shapely.point_on_surface(plan.buildings.geometry.values)
    checked = 0
    for zone in zones.itertuples():
        zone_geom = shapely.intersection(zone.geometry, area)
        if zone_geom.area < 1.0:
            continue
        mine = dedicated[
            (dedicated["zone_kind"] == zone.kind)
            & (
                (dedicated["zone_name"] == zone.name)
                if zone.name is not None and zone.name == zone.name
                else dedicated["zone_name"].isna()
            )
        ]
        mine = mine[shapely.intersects(mine.geometry.values, zone_geom)]
        inside = shapely.within(pts, zone.geometry)
        held = plan.buildings["households"].to_numpy()[inside].sum()
        if not held:
            assert len(mine) == 0, f"zone {zone.name!r} holds no households but is a grid"
            continue
        checked += 1
        assert len(mine) >= 1, f"zone {zone.kind} {zone.name!r} has no dedicated grid"
        if zone_geom.geom_type == "Polygon" and held <= plan.target * (1 + plan.tolerance):
            assert len(mine) == 1, f"zone {zone.name!r} is one piece but has {len(mine)} grids"
        union = shapely.union_all(mine.geometry.values)
        covered = shapely.intersection(zone_geom, union).area / zone_geom.area
        assert covered > 0.9, f"{covered:.0%} of zone {zone.name!r} in its grids"
        # the zone's grids hold only the zone, plus land without households enclosed by
        # it that joined its grid (a weightless piece is never a grid of its own)
        units = plan.units[plan.units["grid_id"].isin(mine["grid_id"])]
        upts = shapely.point_on_surface(units.geometry.values)
        beside = units[~shapely.within(upts, zone.geometry)]
        assert (beside["households"] == 0).all(), (
            f"zone {zone.name!r}'s grids take households from outside it:\n{beside}"
        )
        over = shapely.area(shapely.intersection(basic.geometry.values, union))
        assert over.max(initial=0) < 1.0, f"a basic grid overlaps zone {zone.name!r}'s grids"
    assert len(dedicated) >= checked
    return checked


@pytest.mark.parametrize(("name", "with_households"), [("beijing_wangjing", 0), ("helsinki", 1)])
def test_dedicated_zones_on_real_data(name, with_households, osm, helsinki_population):
    """Wangjing's zones are three parks without a building, Helsinki's parks hold
    pavilions but no households: they join the grids around them; Helsinki's
    university holds households and is a grid."""
    layers = osm(name)
    kw = {"population": helsinki_population} if name == "helsinki" else {}
    plan = gridgeo.partition(layers.streets, layers.buildings, dedicated=layers.landuse, **kw)
    _assert_plan(plan, len(layers.buildings))
    assert _assert_dedicated(plan, layers.landuse) == with_households


@pytest.fixture(scope="module")
def campus():
    """A 2 ha campus holding 900 households, a 1.5 ha empty park across a street, and
    homes around them."""
    streets = _streets(verticals=(0, 200, 400), horizontals=(0, 200, 400))
    campus = box(X0 + 20, Y0 + 220, X0 + 180, Y0 + 345)  # 2 ha
    park = box(X0 + 150, Y0 + 20, X0 + 250, Y0 + 170)  # 1.5 ha, across the x=200 street
    zones = gpd.GeoDataFrame(
        {"kind": ["university", "park"], "name": ["Campus", "Park"]},
        geometry=[campus, park],
        crs=UTM50,
    )
    inside = _lattice(20, 180, 220, 345, 0)
    inside[1][:] = [900 // len(inside[1])] * len(inside[1])
    inside[1][0] += 900 - sum(inside[1])
    homes = [_lattice(260, 400, y, y + 200, 12) for y in (0, 200)]
    homes.append(_lattice(0, 150, 0, 200, 12))
    buildings = _buildings(inside, *homes)
    return streets, buildings, zones


def test_hand_made_dedicated_zones(campus):
    """With a band wide enough for the campus it is one grid; the park, holding no
    building, is no grid (it joins the grids around it)."""
    streets, buildings, zones = campus
    plan = gridgeo.partition(streets, buildings, dedicated=zones, band=(100, 1000), **WHOLE)
    _assert_plan(plan, len(buildings))
    g = plan.grids
    ded = g[g["grid_type"] == "dedicated"].set_index("zone_name")
    assert sorted(ded.index) == ["Campus"], g[["grid_id", "grid_type", "households"]]
    assert ded.loc["Campus", "households"] == 900
    assert ded.loc["Campus", "zone_kind"] == "university"
    row = zones.set_index("name").loc["Campus"]
    geom = ded.loc["Campus"].geometry
    assert geom.geom_type == "Polygon"
    assert shapely.symmetric_difference(geom, row.geometry).area < 1.0
    # the rest is basic, and takes every household outside the zones
    basic = g[g["grid_type"] == "basic"]
    assert basic["households"].sum() == buildings["hh"].sum() - 900
    # with the default band the campus is divided into dedicated grids of the band
    split = gridgeo.partition(streets, buildings, dedicated=zones, **KW)
    campus_grids = split.grids[split.grids["zone_name"] == "Campus"]
    assert len(campus_grids) == 3 and campus_grids["households"].sum() == 900


def test_dedicated_zone_under_a_hectare_is_ignored(campus):
    streets, buildings, _ = campus
    small = gpd.GeoDataFrame(
        {"kind": ["school"], "name": ["Small"]},
        geometry=[box(X0 + 20, Y0 + 220, X0 + 110, Y0 + 320)],  # 0.9 ha
        crs=UTM50,
    )
    plan = gridgeo.partition(streets, buildings, dedicated=small, **WHOLE)
    assert (plan.grids["grid_type"] == "basic").all()


# ---------------------------------------------------------------------------- rural rule


@pytest.fixture(scope="module")
def monaco_rural(osm, monaco_quarters):
    streets, buildings = _monaco_in_quarters(osm, monaco_quarters)
    q = monaco_quarters.copy()
    rural = q["name"].isin(["Monaco-Ville", "Sainte-Dévote"]).to_numpy()
    q["rural"] = rural
    q["code"] = np.where(rural, "220", "111")
    kw = {"boundaries": q, "boundary_id": "name"}
    base = gridgeo.partition(streets, buildings, rural_column="rural", **kw)
    return streets, buildings, q, kw, base


def _monaco_in_quarters(osm, quarters):
    """Monaco's buildings inside its quarters (the extract spills over into France)."""
    layers = osm("monaco")
    area = shapely.union_all(quarters.to_crs(layers.buildings.crs).geometry.values)
    shapely.prepare(area)
    inside = shapely.within(shapely.point_on_surface(layers.buildings.geometry.values), area)
    return layers.streets, layers.buildings[inside].reset_index(drop=True)


def test_rural_quarter_is_one_grid(monaco_rural):
    _, buildings, q, _, plan = monaco_rural
    g = plan.grids
    _assert_plan(plan, len(buildings))
    hh = g.groupby("community_id")["households"].sum()
    for name in ["Monaco-Ville", "Sainte-Dévote"]:
        assert hh[name] <= 1000, "pick quarters under the default cap"
        mine = g[g["community_id"] == name]
        assert len(mine) == 1, mine
        assert mine["grid_type"].iloc[0] == "rural"
        quarter = q.to_crs(plan.crs).set_index("name").geometry[name]
        assert shapely.symmetric_difference(mine.geometry.iloc[0], quarter).area < 1.0
    assert (
        g.loc[~g["community_id"].isin(["Monaco-Ville", "Sainte-Dévote"]), "grid_type"] != "rural"
    ).all()
    assert plan.summary()["rural_grids"] == 2


def test_urban_rural_codes_work_like_flags(monaco_rural):
    streets, buildings, _, kw, base = monaco_rural
    plan = gridgeo.partition(streets, buildings, rural_column="code", **kw)
    assert plan.grids["grid_type"].tolist() == base.grids["grid_type"].tolist()
    assert plan.buildings["grid_id"].equals(base.buildings["grid_id"])


def test_rural_quarter_over_the_cap_is_divided(monaco_rural):
    streets, buildings, _, kw, _ = monaco_rural
    plan = gridgeo.partition(streets, buildings, rural_column="rural", rural_cap=100, **kw)
    g = plan.grids
    assert (g.geom_type == "Polygon").all()
    mv = g[g["community_id"] == "Monaco-Ville"]
    assert mv["households"].sum() > 600
    assert len(mv) >= 2, "a rural quarter above the cap must be divided"
    assert mv["households"].max() <= 300 * 1.25


def test_bad_urban_rural_code_raises(osm, monaco_quarters):
    streets, buildings = _monaco_in_quarters(osm, monaco_quarters)
    q = monaco_quarters.assign(code="12345678")
    with pytest.raises(gridgeo.InputError, match="'code'"):
        gridgeo.partition(streets, buildings, boundaries=q, boundary_id="name", rural_column="code")


# -------------------------------------------------------------------------------- weights


@pytest.fixture(scope="module")
def kouvola_weighted(osm):
    layers = osm("kouvola")
    plan = gridgeo.partition(
        layers.streets, layers.buildings, pois=layers.pois, weight="households + 2 * shops"
    )
    return layers, plan


def _plain(grids):
    """Grids the balance figures speak of: basic, not indivisible, not constrained."""
    plain = (grids["grid_type"] == "basic") & ~grids["indivisible"]
    if "constrained" in grids:
        plain &= ~grids["constrained"]
    return plain


def _shops_in_buildings(pois, buildings):
    """POIs whose representative point lies in some building (each counted once)."""
    pts = gpd.GeoDataFrame(geometry=pois.geometry.representative_point(), crs=pois.crs)
    hit = gpd.sjoin(pts, buildings[["geometry"]], predicate="within")
    return hit.index.nunique()


def test_weight_column_sums_households_and_shops(kouvola_weighted):
    layers, plan = kouvola_weighted
    g = plan.grids
    assert "weight" in g
    _assert_plan(plan, len(layers.buildings))
    shops = _shops_in_buildings(layers.pois.to_crs(plan.crs), layers.buildings.to_crs(plan.crs))
    assert shops > 0, "Kouvola has shops in buildings"
    assert g["weight"].sum() == pytest.approx(g["households"].sum() + 2 * shops)
    assert (g["weight"] >= g["households"]).all()


def test_balance_figures_use_the_weight(kouvola_weighted):
    _, plan = kouvola_weighted
    g = plan.grids
    s = plan.summary()
    plain = _plain(g)
    dev = np.abs(g.loc[plain, "weight"] / plan.target - 1)
    assert s["within_10pct_basic"] == pytest.approx(float(np.mean(dev <= 0.1 + 1e-9)))
    assert s["within_10pct_basic"] >= 0.9


def test_bad_weight_expression_lists_columns(osm):
    layers = osm("kouvola")
    with pytest.raises(gridgeo.InputError, match="building_levels") as err:
        gridgeo.partition(layers.streets, layers.buildings, weight="households + 2 * nope")
    assert "households" in str(err.value)
    assert "shops" in str(err.value)


def test_negative_weight_raises(osm):
    layers = osm("kouvola")
    with pytest.raises(gridgeo.InputError, match="negative"):
        gridgeo.partition(layers.streets, layers.buildings, weight="households - 1000")


# ----------------------------------------------------------------------------------- band


def test_band_sets_target_and_tolerance(osm):
    layers = osm("kouvola")
    plan = gridgeo.partition(layers.streets, layers.buildings, band=(300, 500))
    assert plan.target == 400
    assert plan.tolerance == pytest.approx(0.25)
    g = plan.grids
    plain = g[_plain(g)]
    inside = plain["households"].between(300, 500)
    assert inside.mean() >= 0.95, plain.loc[~inside, ["grid_id", "households"]]
    assert plan.summary()["within_tolerance"] >= 0.95


@pytest.mark.parametrize("band", [(500, 300), (300, 300), (-1, 300)])
def test_bad_band_raises(band, osm):
    layers = osm("kouvola")
    with pytest.raises(gridgeo.InputError, match="band"):
        gridgeo.partition(layers.streets, layers.buildings, band=band)


# ------------------------------------------------------------------------------------ CLI


def _cli(argv):
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(a) for a in argv])
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    return code, out.getvalue(), err.getvalue()


WANGJING = ["partition", "--osm", datasets.get_path("beijing_wangjing"), "--no-map"]


def test_cli_band(tmp_path):
    code, _, err = _cli([*WANGJING, "--band", "300-500", "--out", tmp_path])
    assert code == 0, err
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["target"] == 400
    assert summary["tolerance"] == pytest.approx(0.25)
    # Wangjing's dedicated zones are parks holding no building: they join other grids
    assert summary["dedicated_grids"] == 0
    assert summary["out_of_band_without_reason"] == 0
    assert summary["band"] == [300, 500]


@pytest.mark.parametrize("band", ["300", "500-300", "a-b"])
def test_cli_bad_band_exits_2(band, tmp_path):
    code, _, err = _cli([*WANGJING, "--band", band, "--out", tmp_path])
    assert code == 2
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("gridgeo: error:")]
    assert len(lines) == 1, err
    assert "band" in lines[0]


def test_cli_no_dedicated(tmp_path):
    code, _, err = _cli([*WANGJING, "--no-dedicated", "--out", tmp_path])
    assert code == 0, err
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["dedicated_grids"] == 0
    grids = gpd.read_file(tmp_path / "grids.gpkg", layer="grids")
    assert set(grids["grid_type"]) == {"basic"}


# ------------------------------------------------------------------- slivers (pockets)


def _chain(lengths):
    n = len(lengths) + 1
    i = np.arange(n - 1)
    a = sparse.csr_matrix((np.asarray(lengths, float), (i, i + 1)), shape=(n, n))
    return (a + a.T).tocsr()


@pytest.mark.parametrize(("sliver", "joined"), [(5, True), (30, True), (31, False)])
def test_slivers_between_barriers_join_the_grid_across(sliver, joined):
    # five units in a row; barriers on both sides of unit 2 (a sliver grid of its own)
    labels = np.array([0, 0, 1, 2, 2])
    weights = np.array([150, 150, sliver, 140, 150], dtype=float)
    full = _chain([1.0, 1.0, 2.0, 1.0])
    cut = _chain([1.0, 0.0, 0.0, 1.0])
    cut.eliminate_zeros()
    out = join_pockets(
        labels, weights, full, cut, np.zeros(5, dtype=int), lower=270, upper=330, most=30
    )
    if joined:  # into grid 2: its boundary with the sliver is the longer one
        assert out.tolist() == [0, 0, 2, 2, 2]
    else:
        assert out.tolist() == labels.tolist()
    # never across groups (communities)
    out = join_pockets(
        labels, weights, full, cut, np.array([0, 0, 1, 2, 2]), lower=270, upper=330, most=30
    )
    assert out.tolist() == labels.tolist()
