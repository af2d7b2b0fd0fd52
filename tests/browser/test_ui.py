"""`make ui` in a real browser: the demo's instance, opened by headless Chromium.

Runs the demo and `python -m cloudinsights_dagster.demo.ui` as a user would (processes, a free
port on 127.0.0.1), then drives Debian's chromium through its chromedriver (`make browser-deps`
installs both; nothing is downloaded at run time). Screenshots go to test-artifacts/browser/
(or $CLOUDINSIGHTS_TEST_ARTIFACTS).
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("CLOUDINSIGHTS_TEST_ARTIFACTS") or ROOT / "test-artifacts")
DEMO_INTEGRATIONS = ("retail-shared", "retail-payments", "media-web", "retail-flow-logs")

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    message = "Debian's chromium and chromium-driver are missing: run `make browser-deps`"
    if os.environ.get("CI"):
        raise RuntimeError(message)
    pytest.skip(message, allow_module_level=True)

from selenium import webdriver  # noqa: E402  (only with a browser to drive)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _lines(proc: subprocess.Popen) -> queue.Queue:
    lines: queue.Queue = queue.Queue()

    def pump():
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


@pytest.fixture(scope="module")
def demo_ui(tmp_path_factory):
    home = tmp_path_factory.mktemp("demo-home")
    env = {
        **os.environ,
        "CLOUDINSIGHTS_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
    }
    demo = subprocess.run(
        [sys.executable, "-m", "cloudinsights_dagster.demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    port = _free_port()
    ui = subprocess.Popen(
        [sys.executable, "-m", "cloudinsights_dagster.demo.ui", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = _lines(ui)
    seen = []
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            assert ui.poll() is None, "".join(seen)
            continue
        seen.append(line)
        if "UI ready" in line:
            break
    else:
        ui.kill()
        pytest.fail("the UI did not start in time:\n" + "".join(seen))
    yield f"http://127.0.0.1:{port}", home, ui, seen
    if ui.poll() is None:
        ui.kill()
        ui.wait()


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in a container
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


def _open(browser, url: str, wanted: tuple[str, ...], shot: str, timeout: float = 60) -> str:
    """Open `url`, wait until the page shows every text in `wanted`, save a screenshot."""
    browser.get(url)
    folder = ARTIFACTS / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        WebDriverWait(browser, timeout).until(
            lambda d: all(w in d.find_element(By.TAG_NAME, "body").text for w in wanted)
        )
    finally:
        browser.save_screenshot(str(folder / f"{shot}.png"))
    return browser.find_element(By.TAG_NAME, "body").text


def test_code_location_loads_without_errors(demo_ui, browser):
    url, *_ = demo_ui
    query = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
    query += "locationOrLoadError { __typename ... on PythonError { message } } } } } }"
    answer = requests.post(f"{url}/graphql", json={"query": query}, timeout=30).json()
    (entry,) = answer["data"]["workspaceOrError"]["locationEntries"]
    assert entry["name"] == "cloudinsights"
    assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", entry
    text = _open(browser, f"{url}/locations", ("cloudinsights", "Loaded"), "code-locations")
    assert "error" not in text.lower()


def test_asset_graph_shows_every_group(demo_ui, browser):
    url, *_ = demo_ui
    text = _open(
        browser,
        f"{url}/asset-groups",
        ("Global asset lineage", "inventory", "flow_logs", "views", "status"),
        "asset-graph",
    )
    assert "error" not in text.lower()


def test_integration_status_lists_the_demos_integrations(demo_ui, browser):
    url, *_ = demo_ui
    text = _open(
        browser,
        f"{url}/assets/integration_status",
        ("Latest materialization", *DEMO_INTEGRATIONS),
        "integration-status",
    )
    assert "Never materialized" not in text
    assert "Connected with warning" in text  # the partly permitted account, the failed files
    assert "access denied to ec2:DescribeTransitGateway" in text


def test_traffic_views_show_talkers_and_rejects(demo_ui, browser):
    url, *_ = demo_ui
    text = _open(
        browser,
        f"{url}/assets/traffic_views",
        ("Latest materialization", "top_talkers", "reject_reasons", "no_rule_allows"),
        "traffic-views",
    )
    assert "Never materialized" not in text


def test_topology_picture_renders(demo_ui, browser):
    _, home, *_ = demo_ui
    picture = home / "topology" / "123456789012-us-east-1.svg"
    assert picture.exists(), sorted(p.name for p in (home / "topology").iterdir())
    browser.get(picture.as_uri())
    folder = ARTIFACTS / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(folder / "topology.png"))
    svg = browser.find_element(By.TAG_NAME, "svg")
    assert svg.size["width"] > 200 and svg.size["height"] > 200
    labels = [t.text for t in browser.find_elements(By.TAG_NAME, "text")]
    assert any(label.startswith("vpc-") or "main" in label for label in labels), labels[:20]


def test_ctrl_c_stops_everything_it_started(demo_ui):
    url, home, ui, seen = demo_ui
    ui.send_signal(signal.SIGINT)
    assert ui.wait(timeout=60) == 0, "".join(seen)
    assert not (home / "demo-ui.pid").exists()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/server_info", timeout=5)
