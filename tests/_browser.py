"""Headless Chromium with the network cut off, shared by the browser tests.

Debian's ``chromium`` and ``chromium-driver`` are installed with apt-get when missing
(never skipped). Every connection goes to a closed local port and every host name but
127.0.0.1 is unresolvable; :func:`requests` reads Chromium's own network log.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from pathlib import Path

from _render_data import ensure_debian

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CUT_OFF = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--proxy-server=127.0.0.1:9",  # discard port, nothing listens: every request fails
    "--proxy-bypass-list=127.0.0.1",  # … but 127.0.0.1 itself, reached directly
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--window-size=1280,900",
]


def install_chromium() -> Path:
    """Chromium and its WebDriver, installed from Debian when missing (never skipped)."""
    ensure_debian(
        ["chromium", "chromium-driver"],
        lambda: CHROMIUM.exists() and CHROMEDRIVER.exists(),
        "headless Chromium for the browser tests",
    )
    # Chinese text in the screenshots needs a CJK font; the assertions do not.
    fc_list = shutil.which("fc-list")
    if fc_list:
        ensure_debian(
            ["fonts-wqy-microhei"],
            lambda: bool(subprocess.run([fc_list, ":lang=zh"], capture_output=True).stdout),
            "a Chinese font for the screenshots",
        )
    return CHROMIUM


def start_browser(chromium: Path, *, local_server: bool = False):
    """A Selenium Chrome driver on ``chromium`` with the network cut off; with
    ``local_server``, requests to 127.0.0.1 still go through."""
    from selenium import webdriver  # test extra: pip install selenium
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for arg in CUT_OFF:
        if local_server or "bypass" not in arg:
            options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    # an explicit driver path: Selenium Manager (which downloads drivers) never runs
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    if not local_server:
        with contextlib.suppress(Exception):  # the proxy and resolver rules cut it off anyway
            driver.set_network_conditions(offline=True, latency=0, throughput=0)
    return driver


def requests(driver) -> list[str]:
    """URLs of every request Chromium sent since the last call (its DevTools log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls
