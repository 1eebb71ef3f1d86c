"""The workbench in real headless Chromium, served on 127.0.0.1 with every other
connection cut off: open the Wangjing plan, move a piece of a block, see a move
refused, undo, lock two grids, rebalance, save, reload and find the version, export
GeoJSON — and no request leaves 127.0.0.1."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time

import pytest
from _browser import install_chromium, requests, start_browser
from _render_data import SCREENS
from _workbench_data import boundary_moves, n_grids, write_wangjing

from gridgeo.workbench import EditRefused, Session
from gridgeo.workbench.api import Workbench, create_app
from gridgeo.workbench.versions import VersionStore


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    import uvicorn

    folder = write_wangjing(tmp_path_factory.mktemp("wangjing"))
    bench = Workbench(Session.open(folder), VersionStore(tmp_path_factory.mktemp("data")))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(bench), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the workbench did not start"
    yield f"http://127.0.0.1:{port}/", folder
    server.should_exit = True
    thread.join(10)


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


def test_workbench_in_chromium(browser, served, tmp_path):
    url, folder = served
    (piece, to), (lone, to2) = _moves(folder)
    requests(browser)
    browser.get(url)
    _idle(browser)
    n = browser.execute_script("return document.querySelectorAll('path.wb-grid').length")
    labels = browser.execute_script("return document.querySelectorAll('.wb-label').length")
    assert n == labels == n_grids()
    assert browser.execute_script("return window.L.version") == "1.9.4"
    before = _rows(browser)

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

    # save, reload the page, find the version
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

    # export GeoJSON from the page
    text = browser.execute_async_script(
        "const done = arguments[0];"
        "fetch(document.getElementById('geojson').href).then(r => r.text()).then(done);"
    )
    geo = json.loads(text)
    props = {f["properties"]["grid_id"]: f["properties"] for f in geo["features"]}
    assert {g: p["households"] for g, p in props.items()} == {
        g: r["households"] for g, r in rebalanced.items()
    }
    assert props[a]["locked"] and "note" in props[a]
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in geo["features"])

    # a second version: move the piece again, save; compare it with the first
    _click_building(browser, piece[0])
    _click_row(browser, to)
    _button(browser, "move")
    _button(browser, "save")
    from selenium.webdriver.common.by import By

    browser.find_element(By.CSS_SELECTOR, '#versions li[data-version="1"] button.compare').click()
    _idle(browser)
    msg = browser.execute_script("return document.getElementById('msg').textContent")
    assert msg.startswith(f"#1 → #2: {len(piece)} "), msg
    # someone else saving from version 1 is refused: 409, nothing overwritten
    status = browser.execute_async_script(
        "const done = arguments[0];"
        "fetch('api/save', {method: 'POST', headers: {'Content-Type': 'application/json'},"
        " body: JSON.stringify({base: 1, message: 'other'})}).then(r => done(r.status));"
    )
    assert status == 409
    versions = browser.execute_script(
        "return [...document.querySelectorAll('#versions li')].map(li => li.dataset.version)"
    )
    assert versions == ["2", "1"]

    left = [u for u in requests(browser) if not u.startswith((url, "data:", "about:"))]
    assert left == [], f"requests left 127.0.0.1: {left[:5]}"
    errors = [e["message"] for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    # the one refused move answers 422; nothing else went wrong
    assert [e for e in errors if "status of 422" not in e and "status of 409" not in e] == []
    assert len(errors) == 2  # and the refused save answers 409
