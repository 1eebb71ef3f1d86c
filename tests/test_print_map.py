"""Print maps (PNG, PDF) and the ``gridgeo map`` command, on real plans."""

from __future__ import annotations

import argparse
import logging
import math
import re
import zlib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from _render_data import (
    ensure_debian,
    findings,
    layers,
    plan,
    street_front_zones,
    two_communities,
    with_workers,
)
from PIL import Image  # comes with matplotlib

from gridgeo._errors import InputError, ReadError
from gridgeo.cli import map as _cli_map
from gridgeo.render import PAPER_SIZES, _fonts, print_map, save_print_map
from gridgeo.render._printpage import nice_length, round_ratio, true_north

DPI = 80  # enough to check content, fast to draw


@pytest.fixture(scope="session")
def cjk_font() -> str:
    """A Chinese font for matplotlib; fonts-wqy-microhei is installed when there is none."""

    def present() -> bool:
        _fonts.cjk_font_family.cache_clear()
        return _fonts.cjk_font_family() is not None

    ensure_debian(["fonts-wqy-microhei"], present, "a font with Chinese glyphs")
    return _fonts.cjk_font_family()


def _image_stats(path: Path) -> dict:
    img = np.asarray(Image.open(path).convert("RGB"), dtype=np.int32)
    flat = img.reshape(-1, 3)
    colors = np.unique(flat[:, 0] * 65536 + flat[:, 1] * 256 + flat[:, 2])
    return {
        "size": img.shape[1::-1],
        "std": float(flat.std()),
        "ink": float((flat.min(axis=1) < 240).mean()),  # share of pixels not near-white
        "colors": len(colors),
    }


def _pdf_pages(data: bytes) -> list[bytes]:
    """The decompressed content streams of a matplotlib PDF, one per page."""
    streams = []
    for m in re.finditer(rb"/Filter /FlateDecode[^>]*>>\s*stream\r?\n", data):
        end = data.index(b"endstream", m.end())
        try:
            streams.append(zlib.decompress(data[m.end() : end]))
        except zlib.error:
            continue
    return streams


def _pdf_page_count(data: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page\b", data))


def _pixels(paper: str, landscape: bool, dpi: float) -> tuple[int, int]:
    w, h = PAPER_SIZES[paper]
    if landscape:
        w, h = h, w
    return round(w / 25.4 * dpi), round(h / 25.4 * dpi)


# ------------------------------------------------------------------ pieces


def test_scale_bar_and_north_helpers():
    assert nice_length(730.0) == 500.0
    assert nice_length(2600.0) == 2500.0
    assert nice_length(99.0) == 50.0
    assert round_ratio(12_345.6) == 12_000
    assert round_ratio(987.0) == 990
    # meridian convergence in a Gauss-Kruger zone: about (lon - central meridian) x sin(lat)
    p = plan("beijing_wangjing")
    c = p.grids.union_all().centroid
    lon, lat = gpd.GeoSeries([c], crs=p.crs).to_crs(4326).iloc[0].coords[0]
    expected = math.radians((lon - 117.0) * math.sin(math.radians(lat)))
    got = true_north(p.crs, c.x, c.y)
    assert abs(abs(got) - abs(expected)) < math.radians(0.02)
    assert abs(got) > math.radians(0.1)  # 0.5 degree west of the central meridian


def test_orientation_follows_the_shape_of_the_area():
    cells = [shapely.box(i * 100, 0, (i + 1) * 100, 100) for i in range(6)]
    wide = gpd.GeoDataFrame(
        {"grid_id": [f"G{i}" for i in range(6)], "households": [300] * 6},
        geometry=cells,
        crs="EPSG:32650",
    )
    tall = wide.set_geometry(
        [shapely.affinity.rotate(g, 90, origin=(0, 0)) for g in wide.geometry], crs=wide.crs
    )
    w_in, h_in = print_map(wide, table=False).get_size_inches()
    assert w_in > h_in  # landscape
    w_in, h_in = print_map(tall, table=False).get_size_inches()
    assert w_in < h_in  # portrait
    w_in, h_in = print_map(wide, orientation="portrait", paper="A3").get_size_inches()
    assert (round(w_in * 25.4), round(h_in * 25.4)) == (297, 420)


def test_font_fallback_warns_and_still_draws(monkeypatch, caplog, tmp_path):
    for finder in ("_from_matplotlib", "_from_fontconfig", "_from_folders"):
        monkeypatch.setattr(_fonts, finder, lambda: None)
    _fonts.cjk_font_family.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="gridgeo.render"):
            out = save_print_map(plan("kouvola").grids, tmp_path / "no_font.png", lang="zh", dpi=40)
        assert "fonts-noto-cjk" in caplog.text and "fonts-wqy-microhei" in caplog.text
        assert out[0].stat().st_size > 10_000
        # English text needs no CJK font and asks for none
        caplog.clear()
        _fonts.cjk_font_family.cache_clear()
        with caplog.at_level(logging.WARNING, logger="gridgeo.render"):
            print_map(plan("kouvola").grids, lang="en")
        assert "Chinese" not in caplog.text
    finally:
        _fonts.cjk_font_family.cache_clear()


def test_print_errors(tmp_path):
    grids = plan("kouvola").grids
    with pytest.raises(InputError, match=r"\.pdf or \.png"):
        save_print_map(grids, tmp_path / "map.svg")
    with pytest.raises(InputError, match="paper"):
        save_print_map(grids, tmp_path / "map.pdf", paper="Letter")
    with pytest.raises(InputError, match="orientation"):
        print_map(grids, orientation="sideways")
    with pytest.raises(InputError, match="per_community"):
        save_print_map(grids.drop(columns="community_id"), tmp_path / "m.pdf", per_community=True)
    with pytest.raises(InputError, match="unknown keyword"):
        save_print_map(grids, tmp_path / "map.pdf", basemap="osm")
    with pytest.raises(InputError, match="community_id 'nowhere'"):
        print_map(grids, community="nowhere")


# ------------------------------------------------------------------ real maps


def test_png_wangjing_zh_a4(cjk_font, tmp_path, caplog):
    p = plan("beijing_wangjing")
    grids = with_workers(p.grids)
    with caplog.at_level(logging.WARNING, logger="gridgeo"):
        (out,) = save_print_map(
            grids,
            tmp_path / "wangjing.png",
            buildings=p.buildings,
            streets=layers("beijing_wangjing").streets,
            overlays={
                "沿街商铺区": street_front_zones("beijing_wangjing"),
                "核查发现": findings("beijing_wangjing"),
            },
            target=300,
            lang="zh",
            title="望京 网格划分区域图",
            dpi=DPI,
        )
    assert "Chinese" not in caplog.text, caplog.text  # a CJK font was found
    assert cjk_font
    stats = _image_stats(out)
    assert stats["size"] in (_pixels("A4", False, DPI), _pixels("A4", True, DPI))
    assert 30_000 < out.stat().st_size < 3_000_000
    assert stats["std"] > 30 and stats["colors"] > 200
    assert 0.25 < stats["ink"] < 0.95  # a drawn map, not a blank or a solid page


@pytest.mark.usefixtures("cjk_font")
def test_pdf_per_community_kouvola_a3(tmp_path):
    p = plan("kouvola")
    grids = two_communities(with_workers(p.grids))
    (out,) = save_print_map(
        grids,
        tmp_path / "kouvola.pdf",
        buildings=p.buildings,
        target=300,
        color_by="deviation",
        lang="en",
        paper="A3",
        per_community=True,
        title="Kouvola",
    )
    data = out.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert _pdf_page_count(data) == 2  # one page per community
    assert b"Kouvola" in data and b"gridgeo" in data  # title and creator metadata
    assert 50_000 < len(data) < 10_000_000
    pages = [s for s in _pdf_pages(data) if b" re" in s or b" l\n" in s or b" m\n" in s]
    assert len(pages) >= 2
    for content in pages[:2]:
        ops = len(re.findall(rb"\s(?:l|c|re|m)\s", content))
        assert ops > 2_000  # thousands of drawn segments per page: grids and buildings
    # the PNG flavour writes one file per community
    pngs = save_print_map(
        grids, tmp_path / "kouvola.png", per_community=True, dpi=40, lang="zh", table=False
    )
    assert [x.name for x in pngs] == ["kouvola-east.png", "kouvola-west.png"]
    assert all(_image_stats(x)["colors"] > 50 for x in pngs)


# ------------------------------------------------------------------ command line


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gridgeo")
    sub = parser.add_subparsers(dest="command")
    _cli_map.add_parser(sub)
    return _cli_map.run(parser.parse_args(argv))


@pytest.fixture(scope="module")
def plan_file(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("plan")
    paths = plan("beijing_wangjing").to_files(out, map_html=False)
    return paths["gpkg"]


@pytest.mark.usefixtures("cjk_font")
def test_cli_map_outputs(plan_file, tmp_path, capsys):
    html = tmp_path / "map.html"
    assert (
        _cli(["map", str(plan_file), "--out", str(html), "--lang", "zh", "--basemap", "none"]) == 0
    )
    text = html.read_text(encoding="utf-8")
    assert "Leaflet 1.9.4" in text and "cdn.jsdelivr" not in text
    assert "300" in text  # the target, worked out from the plan's deviation column
    pdf = tmp_path / "map.pdf"
    assert _cli(["map", str(plan_file), "--out", str(pdf), "--paper", "A3", "--lang", "zh"]) == 0
    assert _pdf_page_count(pdf.read_bytes()) == 1
    png = tmp_path / "map.png"
    args = ["map", str(plan_file), "--out", str(png), "--dpi", "50", "--no-buildings"]
    assert _cli([*args, "--title", "Wangjing"]) == 0
    assert _image_stats(png)["colors"] > 50
    printed = capsys.readouterr().out
    assert "map.html" in printed and "map.pdf" in printed and "map.png" in printed


def test_cli_map_errors(plan_file, tmp_path, monkeypatch):
    monkeypatch.delenv("TIANDITU_TOKEN", raising=False)
    with pytest.raises(ReadError, match="not found"):
        _cli(["map", str(tmp_path / "missing.gpkg"), "--out", str(tmp_path / "m.html")])
    with pytest.raises(InputError, match=r"\.html, \.png or \.pdf"):
        _cli(["map", str(plan_file), "--out", str(tmp_path / "m.svg")])
    with pytest.raises(InputError, match="TIANDITU_TOKEN"):
        _cli(
            ["map", str(plan_file), "--out", str(tmp_path / "m.html"), "--basemap", "tianditu-img"]
        )
    with pytest.raises(InputError, match="NAME=FILE"):
        _cli(["map", str(plan_file), "--out", str(tmp_path / "m.html"), "--overlay", "x"])
    other = tmp_path / "other.gpkg"
    gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.Point(0, 0)], crs=4326).to_file(
        other, layer="points"
    )
    with pytest.raises(ReadError, match="no layer 'grids'"):
        _cli(["map", str(other), "--out", str(tmp_path / "m.html")])
