"""Micro-grids and the hierarchy district → street → community → grid → micro-grid."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely import box

import gridgeo
from gridgeo.codes import assign_codes
from gridgeo.hierarchy import hierarchy, micro_grids


@pytest.fixture(scope="module")
def kouvola(osm):
    layers = osm("kouvola")
    plan = gridgeo.partition(layers.streets, layers.buildings)
    micro = micro_grids(plan.grids, plan.buildings, band=(30, 50))
    return plan, micro


def test_micro_grids_on_real_data(kouvola):
    plan, micro = kouvola
    g = plan.grids.set_index("grid_id")
    # households conserved grid by grid
    per = micro.groupby("grid_id")["households"].sum().reindex(g.index)
    assert (per.to_numpy() == g["households"].to_numpy()).all()
    assert int(micro["buildings"].sum()) == len(plan.buildings)
    # micro-grids tile their grid: areas add up, each lies inside its grid
    area = micro.area.groupby(micro["grid_id"]).sum()
    assert np.allclose(area.reindex(g.index).to_numpy(), g.area.to_numpy(), atol=1.0)
    inside = shapely.area(
        shapely.intersection(micro.geometry.values, g.geometry.loc[micro["grid_id"]].values)
    )
    assert (inside >= 0.999 * micro.area.to_numpy()).all()
    # near the micro target; what is over it is one building alone
    hh = micro["households"].to_numpy()
    assert ((hh >= 30) & (hh <= 50)).mean() >= 0.85
    assert (hh[micro["indivisible"].to_numpy()] > 50).all()
    assert (micro.loc[hh > 0, "liaisons"] >= 1).all()
    assert (micro["liaisons"] >= np.ceil(hh / 50)).all()
    # ids: <grid>-01 … in reading order, unique
    assert micro["micro_id"].is_unique
    assert micro["micro_id"].str.fullmatch(r"G\d{4}-\d{2}").all()
    assert (micro["micro_id"].str.slice(0, 5) == micro["grid_id"]).all()
    assert (micro.geom_type == "Polygon").mean() > 0.95


def test_hierarchy_counts_from_codes(kouvola):
    plan, micro = kouvola
    grids = plan.grids.copy()
    grids["code"] = assign_codes(grids, admin_code="110105", street_code="002")
    h = hierarchy(grids, micro)
    assert h.counts == {
        "district": 1,
        "street": 1,
        "community": 1,
        "grid": len(grids),
        "micro_grid": len(micro),
    }
    t = h.table
    assert t["level"].value_counts().to_dict() == {
        "grid": len(grids),
        "district": 1,
        "street": 1,
        "community": 1,
    }
    district = t[t["level"] == "district"].iloc[0]
    assert district["id"] == "110105"
    assert district["grids"] == len(grids) and district["micro_grids"] == len(micro)
    assert district["households"] == grids["households"].sum()
    street = t[t["level"] == "street"].iloc[0]
    assert street["id"] == "110105002" and street["parent"] == "110105"
    assert h.grids["district"].eq("110105").all()
    assert "微网格" in h.describe(lang="zh")


def test_hierarchy_several_streets_and_communities(tmp_path):
    grids = gpd.GeoDataFrame(
        {
            "grid_id": [f"g{i}" for i in range(6)],
            "community_id": ["a", "a", "b", "c", "c", "c"],
            "households": [300] * 6,
        },
        geometry=[box(i * 10, 0, i * 10 + 10, 10) for i in range(6)],
        crs=3857,
    )
    grids["code"] = assign_codes(
        grids,
        community_codes={"a": "110105001001", "b": "110105001002", "c": "110105004001"},
    )
    h = hierarchy(grids)
    assert h.counts == {"district": 1, "street": 2, "community": 3, "grid": 6}
    t = h.table.set_index(["level", "id"])
    assert t.loc[("street", "110105001"), "communities"] == 2
    assert t.loc[("street", "110105004"), "grids"] == 3
    assert t.loc[("community", "c"), "parent"] == "110105004"
    assert t.loc[("grid", "g5"), "parent"] == "c"
    # from columns, without codes
    cols = grids.drop(columns="code").assign(
        district="朝阳区", street=["望京"] * 3 + ["酒仙桥"] * 3
    )
    assert hierarchy(cols).counts == {"district": 1, "street": 2, "community": 3, "grid": 6}
    path = h.to_csv(tmp_path / "h.csv")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(path, encoding="utf-8-sig")
    assert back.columns[0] == "层级 Level" and back.iloc[0, 0] == "区县 District"


def test_micro_grid_errors(kouvola):
    plan, _ = kouvola
    with pytest.raises(gridgeo.InputError, match="lower < upper"):
        micro_grids(plan.grids, plan.buildings, band=(50, 30))
    with pytest.raises(gridgeo.MissingColumnError, match="no column 'grid_id'"):
        micro_grids(plan.grids.drop(columns="grid_id"), plan.buildings)
