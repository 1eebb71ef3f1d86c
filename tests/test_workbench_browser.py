"""The workbench in real headless Chromium, served by ``gridgeo serve`` on 127.0.0.1
(with its API token) and every other connection cut off: open the Wangjing plan from
the page, move a piece of a block (selected by click, then by lasso), see a move
refused, undo, lock two grids, rebalance, save, reload and find the version, export
GeoJSON, compare two versions on the map, revert — and no request leaves 127.0.0.1."""

from __future__ import annotations

import json
import shutil
import time

import pytest
from _browser import install_chromium, requests, start_browser
from _render_data import SCREENS
from _service import Server
from _workbench_data import boundary_moves, n_grids, write_wangjing

import gridgeo
from gridgeo import datasets
from gridgeo.workbench import EditRefused, Session

TOKEN = "browser-token-0123"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """``gridgeo serve`` (a token from a file) on a data directory holding the Wangjing
    plan (with its streets) under plans/."""
    root = tmp_path_factory.mktemp("serve")
    folder = write_wangjing(root / "data" / "plans" / "wangjing", streets=True)
    (root / "token").write_text(TOKEN + "\n")
    server = Server(root / "data", "--token-file", str(root / "token")).start().wait()
    yield server.url + "/", folder
    server.stop()


@pytest.fixture(scope="module")
def browser():
    driver = start_browser(install_chromium(), local_server=True)
    yield driver
    driver.quit()


def _wait(driver, script: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {script}")


def _idle(driver) -> None:
    _wait(driver, "return window.wb && window.wb.ready && window.wb.busy === 0")
    time.sleep(0.05)


def _rows(driver) -> dict[str, dict]:
    return driver.execute_script(
        """
        const out = {};
        for (const f of window.wb.state.grids.features) out[f.properties.grid_id] = f.properties;
        return out;
        """
    )


def _click_building(driver, i: int, *, shift: bool = False) -> None:
    driver.execute_script(
        """
        const path = window.wb.buildingPath(arguments[0]);
        const box = path.getBoundingClientRect();
        path.dispatchEvent(new MouseEvent("click", {bubbles: true, cancelable: true, view: window,
            shiftKey: arguments[1], clientX: box.left + box.width / 2, clientY: box.top + box.height / 2}));
        """,
        int(i),
        shift,
    )
    _idle(driver)


def _click_row(driver, grid: str, *, shift: bool = False) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    row = driver.find_element(By.CSS_SELECTOR, f'#grids tr[data-grid="{grid}"]')
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", row)
    if shift:
        ActionChains(driver).key_down(Keys.SHIFT).click(row).key_up(Keys.SHIFT).perform()
    else:
        row.click()


def _button(driver, name: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, name).click()
    _idle(driver)


def _moves(folder):
    """A piece that may move to a neighbour, and one whose move splits its grid."""
    s = Session.open(folder)
    ok = refused = None
    for piece, to in boundary_moves(s):
        try:
            s.move(piece, to)
        except EditRefused as exc:
            if refused is None and "two pieces" in str(exc):
                refused = (piece, to)
        else:
            s.undo()
            ok = ok or (piece, to)
        if ok is not None and refused is not None:
            return ok, refused
    raise AssertionError("Wangjing has no movable piece or no splitting move")


def _lasso(driver, buildings, *, radius: int = 5) -> None:
    """Draw a lasso with the real mouse around the centre of each building (the first
    a fresh selection, the others shift-added)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    for k, i in enumerate(buildings):
        driver.find_element(By.ID, "lasso").click()
        x, y = driver.execute_script(
            "const b = window.wb.buildingPath(arguments[0]).getBoundingClientRect();"
            "return [b.left + b.width / 2, b.top + b.height / 2];",
            int(i),
        )
        keys = ActionChains(driver)
        if k:
            keys.key_down(Keys.SHIFT).perform()
        act = ActionBuilder(driver)
        ring = [
            (x - radius, y - radius),
            (x + radius, y - radius),
            (x + radius, y + radius),
            (x - radius, y + radius),
        ]
        act.pointer_action.move_to_location(int(ring[0][0]), int(ring[0][1]))
        act.pointer_action.pointer_down()
        for px, py in [*ring[1:], ring[0]]:
            act.pointer_action.move_to_location(int(px), int(py))
        act.pointer_action.pointer_up()
        act.perform()
        if k:
            ActionChains(driver).key_up(Keys.SHIFT).perform()
        _idle(driver)


def _brush(driver, buildings) -> None:
    """Brush with the real mouse from the centre of one building to the next."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, "brush").click()
    centres = [
        driver.execute_script(
            "const b = window.wb.buildingPath(arguments[0]).getBoundingClientRect();"
            "return [b.left + b.width / 2, b.top + b.height / 2];",
            int(i),
        )
        for i in buildings
    ]
    act = ActionBuilder(driver)
    act.pointer_action.move_to_location(int(centres[0][0]), int(centres[0][1]))
    act.pointer_action.pointer_down()
    for x, y in centres[1:] or [(centres[0][0] + 1, centres[0][1])]:
        act.pointer_action.move_to_location(int(x), int(y))
    act.pointer_action.pointer_up()
    act.perform()
    _idle(driver)


def _fetch(driver, url: str, *, token: bool = True):
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "const h = arguments[1] ? {Authorization: 'Bearer ' + sessionStorage.getItem('gridgeo-token')} : {};"
        "fetch(arguments[0], {headers: h}).then(r => r.text().then(t => done([r.status, t])));",
        url,
        token,
    )


def test_workbench_in_chromium(browser, served, tmp_path):
    from selenium.webdriver.common.by import By

    url, folder = served
    (piece, to), (lone, to2) = _moves(folder)
    requests(browser)
    browser.get(url)

    # gridgeo serve: the page asks for the API token, then lists the plans to open
    _wait(browser, "return !document.getElementById('token').hidden")
    browser.find_element(By.ID, "tokenvalue").send_keys(TOKEN)
    browser.find_element(By.ID, "tokenok").click()
    _wait(
        browser,
        "return document.querySelector('#sources li[data-source=\"plans/wangjing\"] button')",
    )
    assert browser.execute_script("return window.wb.state.open") is False
    browser.find_element(
        By.CSS_SELECTOR, '#sources li[data-source="plans/wangjing"] button'
    ).click()
    _idle(browser)
    _wait(browser, "return window.wb.state.open && document.getElementById('open').hidden")
    n = browser.execute_script("return document.querySelectorAll('path.wb-grid').length")
    labels = browser.execute_script("return document.querySelectorAll('.wb-label').length")
    assert n == labels == n_grids()
    assert browser.execute_script("return window.L.version") == "1.9.4"
    assert browser.execute_script("return document.querySelectorAll('path.wb-street').length") > 100
    assert (
        browser.execute_script("return document.querySelectorAll('path.wb-building').length") == 226
    )
    label = browser.execute_script("return document.querySelector('.wb-label').textContent")
    assert label.endswith("户") and any(ch.isdigit() for ch in label)
    before = _rows(browser)

    # colour by neighbours: no two bordering grids share a colour; English labels
    browser.execute_script(
        "const s = document.getElementById('colour'); s.value = 'neighbours'; s.dispatchEvent(new Event('change'));"
    )
    fills = browser.execute_script("return window.wb.fills()")
    assert all(fills[g] != fills[h] for g, r in before.items() for h in r["neighbours"])
    browser.find_element(By.ID, "lang").click()
    assert browser.find_element(By.ID, "move").text == "Move to selected grid"
    assert browser.execute_script(
        "return document.querySelector('.wb-label').textContent"
    ).endswith("households")
    browser.find_element(By.ID, "lang").click()
    assert browser.find_element(By.ID, "move").text == "移入所选网格"

    # click a building: its piece of the block is selected; pick the grid; move
    _click_building(browser, piece[0])
    assert sorted(browser.execute_script("return window.wb.selB")) == sorted(piece.tolist())
    src = browser.execute_script(
        "return window.wb.state.building_grid[arguments[0]]", int(piece[0])
    )
    _click_row(browser, to)
    _button(browser, "move")
    after = _rows(browser)
    gained = after[to]["households"] - before[to]["households"]
    assert gained > 0 and after[src]["households"] == before[src]["households"] - gained
    assert after[to]["buildings"] == before[to]["buildings"] + len(piece)
    assert browser.execute_script("return document.getElementById('msg').className") == "ok"
    cell = browser.execute_script(
        "return document.querySelector(`#grids tr[data-grid='${arguments[0]}'] td:nth-child(2)`).textContent",
        to,
    )
    assert int(cell) == after[to]["households"]

    # a move that would split its grid is refused, with the reason shown
    _click_building(browser, lone[0])
    _click_building(browser, lone[0], shift=True)  # shift-click toggles it off …
    assert browser.execute_script("return window.wb.selB.length") == len(lone) - 1
    _click_building(browser, lone[0], shift=True)  # … and on again
    _click_row(browser, to2)
    _button(browser, "move")
    msg = browser.execute_script(
        "return [document.getElementById('msg').className, document.getElementById('msg').textContent]"
    )
    assert msg[0] == "error" and "two pieces" in msg[1], msg
    assert _rows(browser) == after

    # undo the first move
    _button(browser, "undo")
    assert _rows(browser) == before

    # the same piece selected with the lasso (drawn with the mouse), moved, undone
    browser.execute_script(
        "window.wb.selB = []; window.wb.zoomToBuildings(arguments[0])", piece.tolist()
    )
    time.sleep(0.3)
    _lasso(browser, piece.tolist())
    assert sorted(browser.execute_script("return window.wb.selB")) == sorted(piece.tolist())
    assert browser.execute_script("return window.wb.lasso") is False
    # the brush: a stroke from one building of the piece to another takes both (and
    # whatever of their grid it passes over), one dot takes one building
    _brush(browser, [piece[0], piece[-1]])
    brushed = browser.execute_script("return window.wb.selB")
    assert {int(piece[0]), int(piece[-1])} <= set(brushed)
    assert (
        len(
            {
                browser.execute_script("return window.wb.state.building_grid[arguments[0]]", i)
                for i in brushed
            }
        )
        == 1
    )
    _brush(browser, [piece[0]])
    assert browser.execute_script("return window.wb.selB") == [int(piece[0])]
    _lasso(browser, piece.tolist())
    _click_row(browser, to)
    _button(browser, "move")
    assert _rows(browser) == after
    _button(browser, "undo")
    assert _rows(browser) == before
    browser.execute_script("window.wb.map.fitBounds(window.wb.map.getBounds().pad(3))")

    # lock two grids (click, shift-click), rebalance: they stay as they are
    a, b = sorted(before)[:2]
    _click_row(browser, a)
    _click_row(browser, b, shift=True)
    assert browser.execute_script("return window.wb.selG") == [a, b]
    _button(browser, "lock")
    locked = browser.execute_script("return document.querySelectorAll('#grids td:nth-child(6)')")
    assert sum(td.text == "✔" for td in locked) == 2
    _button(browser, "rebalance")
    rebalanced = _rows(browser)
    for g in (a, b):
        assert rebalanced[g]["locked"] and rebalanced[g]["households"] == before[g]["households"]
    assert sum(r["households"] for r in rebalanced.values()) == sum(
        r["households"] for r in before.values()
    )
    assert sum(r["out_of_band"] for r in rebalanced.values()) <= sum(
        r["out_of_band"] for r in before.values()
    )

    # save, reload the page, find the version (the token is kept for the tab)
    _button(browser, "save")
    assert "1" in browser.execute_script("return document.getElementById('msg').textContent")
    browser.refresh()
    _idle(browser)
    versions = browser.execute_script(
        "return [...document.querySelectorAll('#versions li')].map(li => li.dataset.version)"
    )
    assert versions == ["1"]
    assert browser.execute_script("return window.wb.state.base") == 1
    SCREENS.mkdir(parents=True, exist_ok=True)
    shot = tmp_path / "workbench.png"
    browser.save_screenshot(str(shot))
    shutil.copy(shot, SCREENS / shot.name)

    # export GeoJSON from the page (with the token; without it, 401)
    href = browser.execute_script("return document.getElementById('geojson').href")
    assert _fetch(browser, href, token=False)[0] == 401
    status, text = _fetch(browser, href)
    assert status == 200
    geo = json.loads(text)
    props = {f["properties"]["grid_id"]: f["properties"] for f in geo["features"]}
    assert {g: p["households"] for g, p in props.items()} == {
        g: r["households"] for g, r in rebalanced.items()
    }
    assert props[a]["locked"] and "note" in props[a]
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in geo["features"])

    # a second version: move the piece again, save; compare it with the first on the map
    _click_building(browser, piece[0])
    _click_row(browser, to)
    _button(browser, "move")
    _button(browser, "save")
    browser.find_element(By.CSS_SELECTOR, '#versions li[data-version="1"] button.compare').click()
    _idle(browser)
    msg = browser.execute_script("return document.getElementById('msg').textContent")
    assert msg.startswith(f"#1 → #2: {len(piece)} "), msg
    assert browser.execute_script("return document.querySelectorAll('path.wb-diff').length") == len(
        piece
    )
    # someone else saving from version 1 is refused: 409, nothing overwritten
    status = browser.execute_async_script(
        "const done = arguments[0];"
        "fetch('api/save', {method: 'POST', headers: {'Content-Type': 'application/json',"
        " Authorization: 'Bearer ' + sessionStorage.getItem('gridgeo-token')},"
        " body: JSON.stringify({base: 1, message: 'other'})}).then(r => done(r.status));"
    )
    assert status == 409
    versions = browser.execute_script(
        "return [...document.querySelectorAll('#versions li')].map(li => li.dataset.version)"
    )
    assert versions == ["2", "1"]
    # revert to version 1: a third version with its content
    browser.find_element(By.CSS_SELECTOR, '#versions li[data-version="1"] button.revert').click()
    _idle(browser)
    _wait(browser, "return document.querySelectorAll('#versions li').length === 3")
    assert {g: r["households"] for g, r in _rows(browser).items()} == {
        g: r["households"] for g, r in rebalanced.items()
    }

    # a new partition of uploaded layers (the service's partition job), then opened
    layers = tmp_path / "layers.gpkg"
    osm = gridgeo.read_osm(datasets.get_path("beijing_wangjing"))
    osm.streets.to_file(layers, layer="streets", driver="GPKG", engine="pyogrio")
    osm.buildings.to_file(layers, layer="buildings", driver="GPKG", engine="pyogrio")
    browser.find_element(By.ID, "openbtn").click()
    _wait(browser, "return !document.getElementById('partitionform').hidden")
    browser.find_element(By.ID, "layersfile").send_keys(str(layers))
    browser.find_element(By.ID, "ptarget").clear()
    browser.find_element(By.ID, "ptarget").send_keys("500")
    browser.find_element(By.ID, "partition").click()
    _wait(browser, "return window.wb.state.plan && window.wb.state.plan.startsWith('jobs/')", 180)
    _idle(browser)
    assert browser.execute_script("return window.wb.state.target") == 500
    hh = browser.execute_script("return window.wb.state.households")
    assert hh == sum(r["households"] for r in before.values())
    assert browser.execute_script("return document.querySelectorAll('path.wb-grid').length") == len(
        _rows(browser)
    )
    assert browser.execute_script("return document.querySelectorAll('#versions li').length") == 0

    left = [u for u in requests(browser) if not u.startswith((url, "data:", "about:"))]
    assert left == [], f"requests left 127.0.0.1: {left[:5]}"
    errors = [e["message"] for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    # the token asked for (401 twice: the first load, the export without it), the one
    # refused move (422) and the refused save (409); nothing else went wrong
    expected = ("status of 401", "status of 422", "status of 409")
    assert [e for e in errors if not any(x in e for x in expected)] == []
