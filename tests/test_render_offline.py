"""The HTML maps in a real browser with the network cut off.

Headless Chromium (Debian packages ``chromium`` and ``chromium-driver``, installed here
with apt-get when missing) opens the saved file:// pages with every connection sent to
a closed local port and every host name unresolvable. Each test checks that Leaflet ran
(``window.L``, the map container, one SVG path per grid, one label per grid), that no
request left the machine (Chromium's own network log and the page's resource timing:
only file: and data: URLs), and saves a screenshot under the test's tmp folder with a
copy in /tmp/gridgeo_screens/.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from _browser import install_chromium, requests, start_browser
from _render_data import (
    SCREENS,
    findings,
    layers,
    plan,
    street_front_zones,
    with_workers,
)

from gridgeo.render import grid_map, save_map

_LOCAL = ("file:", "data:", "about:")


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Chromium and its WebDriver, installed from Debian when missing (never skipped)."""
    return install_chromium()


@pytest.fixture(scope="module")
def browser(chromium):
    driver = start_browser(chromium)
    yield driver
    driver.quit()


_requests = requests


def _open(driver, path: Path, *, n_grids: int, timeout: float = 15.0) -> dict:
    """Load a map and wait until its grids are drawn; the page's state as a dict."""
    _requests(driver)  # drop earlier entries
    driver.get(path.resolve().as_uri())
    state: dict = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = driver.execute_script(
            """
            return {
                ready: document.readyState,
                leaflet: typeof window.L === "undefined" ? null : window.L.version,
                containers: document.querySelectorAll(".leaflet-container").length,
                grids: document.querySelectorAll("path.leaflet-interactive.gridgeo-grid").length,
                paths: document.querySelectorAll("path.leaflet-interactive").length,
                labels: document.querySelectorAll(".gridgeo-label").length,
                labelsHidden: document.querySelector(".gridgeo-labels-hidden") !== null,
                legend: document.querySelectorAll(".gridgeo-legend").length,
                layerControl: document.querySelectorAll(".leaflet-control-layers").length,
                scale: document.querySelectorAll(".leaflet-control-scale").length,
                resources: performance.getEntriesByType("resource").map(e => e.name),
            };
            """
        )
        if state["grids"] >= n_grids or (
            state["leaflet"] is None and time.monotonic() > deadline - timeout + 3
        ):
            break
        time.sleep(0.1)
    state["requests"] = _requests(driver)
    state["console_errors"] = [
        e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"
    ]
    return state


def _screenshot(driver, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    driver.save_screenshot(str(path))
    SCREENS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SCREENS / path.name)
    return path


def _assert_drawn_offline(state: dict, n_grids: int) -> None:
    assert state["leaflet"] == "1.9.4", state
    assert state["containers"] == 1
    assert state["grids"] == n_grids  # one SVG path per grid
    assert state["labels"] == n_grids
    assert state["legend"] == 1 and state["layerControl"] == 1 and state["scale"] == 1
    assert state["console_errors"] == []
    left = [u for u in state["requests"] + state["resources"] if not u.startswith(_LOCAL)]
    assert left == [], f"requests left the machine: {left[:5]}"


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def test_wangjing_map_offline_in_chromium(browser, tmp_path):
    p = plan("beijing_wangjing")
    grids = with_workers(p.grids)
    m = grid_map(
        grids,
        buildings=p.buildings,
        streets=layers("beijing_wangjing").streets,
        overlays={
            "沿街商铺区": street_front_zones("beijing_wangjing"),
            "核查发现": findings("beijing_wangjing"),
        },
        target=300,
        lang="zh",
        basemap="none",
        title="望京 网格划分区域图",
    )
    path = save_map(m, tmp_path / "wangjing_zh.html")
    state = _open(browser, path, n_grids=len(grids))
    _assert_drawn_offline(state, len(grids))
    # grids, buildings, overlay zones and finding points; streets start switched off
    n_overlays = 6 + 5
    assert state["paths"] == len(grids) + len(p.buildings) + n_overlays
    assert not state["labelsHidden"]
    shot = _screenshot(browser, tmp_path, "wangjing_zh_offline")
    assert _png_size(shot)[0] >= 1000 and shot.stat().st_size > 30_000

    # a click on a grid opens its popup with the grid worker and a phone link
    popup = browser.execute_script(
        """
        var path = document.querySelectorAll("path.gridgeo-grid")[arguments[0]];
        var box = path.getBoundingClientRect();
        var opts = {bubbles: true, cancelable: true, view: window,
                    clientX: box.left + box.width / 2, clientY: box.top + box.height / 2};
        path.dispatchEvent(new MouseEvent("mouseover", opts));
        var tooltip = document.querySelector(".leaflet-tooltip");
        path.dispatchEvent(new MouseEvent("click", opts));
        var content = document.querySelector(".leaflet-popup-content");
        return {
            tooltip: tooltip ? tooltip.innerText : null,
            popup: content ? content.innerText : null,
            tel: content ? content.querySelectorAll("a[href^='tel:']").length : 0,
        };
        """,
        0,
    )
    assert popup["tooltip"] and "网格编号" in popup["tooltip"]
    first = grids.iloc[0]
    assert first["grid_id"] in popup["popup"] and first["worker"] in popup["popup"]
    assert "联系电话" in popup["popup"] and popup["tel"] == 1
    time.sleep(0.5)  # the map pans the popup into view
    _screenshot(browser, tmp_path, "wangjing_zh_offline_popup")


def test_kouvola_deviation_map_offline_in_chromium(browser, tmp_path):
    p = plan("kouvola")
    m = grid_map(
        p.grids,
        buildings=p.buildings,
        target=300,
        color_by="deviation",
        lang="en",
        basemap="none",
        title="Kouvola",
    )
    path = save_map(m, tmp_path / "kouvola_en.html")
    state = _open(browser, path, n_grids=len(p.grids))
    _assert_drawn_offline(state, len(p.grids))
    assert state["paths"] == len(p.grids) + len(p.buildings)
    _screenshot(browser, tmp_path, "kouvola_en_deviation_offline")


def test_online_basemap_needs_no_cdn(browser, tmp_path):
    """With OSM tiles the map still draws where CDNs are blocked: only tiles are asked for."""
    p = plan("beijing_wangjing")
    path = save_map(grid_map(p.grids, basemap="osm"), tmp_path / "wangjing_osm.html")
    state = _open(browser, path, n_grids=len(p.grids))
    assert state["leaflet"] == "1.9.4" and state["grids"] == len(p.grids)
    remote = [u for u in state["requests"] if not u.startswith(_LOCAL)]
    assert remote, "the tiles should have been asked for"
    assert all(u.startswith("https://tile.openstreetmap.org/") for u in remote), remote[:3]
    _screenshot(browser, tmp_path, "wangjing_osm_tiles_blocked")


def test_cdn_map_is_blank_offline(browser, tmp_path):
    """The control: with Leaflet linked from the CDN, nothing draws without network."""
    p = plan("beijing_wangjing")
    m = grid_map(p.grids, basemap="none", inline_assets=False)
    path = save_map(m, tmp_path / "wangjing_cdn.html")
    state = _open(browser, path, n_grids=len(p.grids))
    assert state["leaflet"] is None and state["grids"] == 0
    assert any("cdn.jsdelivr.net" in u for u in state["requests"])
