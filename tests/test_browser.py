"""The seeing-vs-doing flow in a real browser: Streamlit served on loopback, Debian's
Chromium driven by Playwright. Screenshots go to tests/artifacts/; the best one is copied
to assets/screenshot.png (for the README).

Skips when /usr/bin/chromium is missing, unless COUNTERFACTORY_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "tests" / "artifacts"
SCREENSHOT = REPO / "assets" / "screenshot.png"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def _require_browser() -> None:
    if CHROMIUM.exists():
        return
    msg = f"{CHROMIUM} is missing: `apt-get install -y chromium` to run the browser tests"
    if os.environ.get("COUNTERFACTORY_REQUIRE_BROWSER") == "1":
        pytest.fail(msg + " (COUNTERFACTORY_REQUIRE_BROWSER=1)")
    pytest.skip(msg)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest) -> str:
    """``streamlit run app/main.py`` on a free loopback port; stopped after the module."""
    _require_browser()
    port = _free_port()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = open(ARTIFACTS / "streamlit.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
    )

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()

    request.addfinalizer(stop)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 45
    while True:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited with {proc.returncode}; see {ARTIFACTS / 'streamlit.log'}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return url
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"streamlit did not answer /_stcore/health within 45 s; see {ARTIFACTS / 'streamlit.log'}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def page(server: str):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            # tall enough for the whole page: Streamlit scrolls inside its main block, which
            # full-page screenshots do not capture
            context = browser.new_context(viewport={"width": 1400, "height": 2300}, device_scale_factor=1)
            pg = context.new_page()
            pg.set_default_timeout(20_000)
            yield pg
        finally:
            browser.close()


def _idle(page, timeout: float = 20_000) -> None:
    """Wait until the app has finished its script run (no sleeps)."""
    page.wait_for_selector(IDLE, timeout=timeout)


def _shot(page, name: str) -> Path:
    """A screenshot down to the end of the page's content."""
    path = ARTIFACTS / f"{name}.png"
    box = page.locator('[data-testid="stMainBlockContainer"]').bounding_box()
    size = page.viewport_size
    bottom = min(size["height"], int(box["y"] + box["height"])) if box else size["height"]
    page.screenshot(path=str(path), clip={"x": 0, "y": 0, "width": size["width"], "height": bottom})
    return path


def _legend(page) -> str:
    """The legend texts of the comparison figure."""
    return " | ".join(page.locator(".st-key-comparison .legendtext").all_text_contents())


def test_seeing_vs_doing_flow(server: str, page) -> None:
    from playwright.sync_api import expect

    # Home page, then follow its link to the explore page.
    page.goto(server)
    _idle(page)
    expect(page.get_by_role("heading", name="Counterfactory")).to_be_visible()
    page.get_by_role("link", name=re.compile("Start: seeing vs doing")).click()
    page.wait_for_url(re.compile(r"/explore$"))
    _idle(page)
    expect(page.get_by_role("heading", name="Seeing vs doing")).to_be_visible()

    # Pick a dataset: its description follows the choice.
    dataset = page.get_by_role("combobox", name=re.compile("Built-in dataset"))
    dataset.click()
    page.get_by_role("option", name="chain5-lin").click()
    _idle(page)
    expect(page.get_by_text("A five-step linear chain")).to_be_visible()
    dataset.click()
    page.get_by_role("option", name="triangle-lin").click()
    _idle(page)
    expect(page.get_by_text("Three variables in a triangle")).to_be_visible()
    expect(page.locator(".st-key-graph-triangle-lin .js-plotly-plot")).to_be_visible()

    # Train a small model to completion in the background; progress is polled.
    page.get_by_role("spinbutton", name="Training steps").fill("600")
    page.get_by_test_id("stBaseButton-primaryFormSubmit").click()
    _screenshot_progress(page)
    expect(page.get_by_text(re.compile(r"^Trained Causal Gen on triangle-lin"))).to_be_visible(timeout=60_000)
    _idle(page)

    # The comparison: three labelled distributions per other node, and the means table.
    plot = page.locator(".st-key-comparison .js-plotly-plot")
    expect(plot).to_be_visible()
    expect(page.locator(".st-key-comparison .legendtext").first).to_be_visible()
    before = _legend(page)
    assert "observational" in before and "given x2 = " in before and "do(x2 = " in before, before
    _shot(page, "explore-trained")

    # Move the slider: the figure is redrawn for the new value.
    thumb = page.get_by_role("slider").first
    thumb.focus()
    for _ in range(25):
        thumb.press("ArrowRight")
    target = f"do(x2 = {float(thumb.input_value()):.4g})"
    assert target not in before
    page.wait_for_function(
        "t => Array.from(document.querySelectorAll('.st-key-comparison .legendtext'))"
        ".some(e => e.textContent === t)",
        arg=target, timeout=30_000,
    )
    _idle(page)
    after = _legend(page)
    assert target in after and after != before, (before, after)
    assert page.locator(".st-key-comparison .legendtext").count() == 4  # obs, given, do, true mean
    _save_readme_screenshot(_shot(page, "explore-moved"))


def _screenshot_progress(page) -> None:
    """Keep a picture of the progress bar when training lasts long enough to show one."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.get_by_text(re.compile(r"train loss .* validation loss")).wait_for(timeout=5_000)
    except PlaywrightTimeout:
        return  # a fast machine finished first; nothing to show
    _shot(page, "explore-training")


def _save_readme_screenshot(path: Path) -> None:
    """Copy the screenshot to assets/ as a PNG under 400 KB (fewer colours if needed)."""
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    try:
        from PIL import Image
    except ImportError:
        shutil.copyfile(path, SCREENSHOT)
    else:
        img = Image.open(path).convert("RGB")
        img.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(SCREENSHOT, optimize=True)
    assert SCREENSHOT.stat().st_size < 400_000, f"{SCREENSHOT} is {SCREENSHOT.stat().st_size:,} bytes"
