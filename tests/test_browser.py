"""The workbench in a real browser: Streamlit served on loopback (its own temporary
workspace), Debian's Chromium driven by Playwright, used as a person would, each step
asserting what the person sees:

- typing a graph and applying it (twice, after a refused cycle, after a layout button,
  after leaving the page and coming back), and adding, renaming and deleting nodes and
  arrows from the form;
- a built-in dataset from start to end: an arrow added with the mouse, a cycle refused,
  training, the intervention slider, counterfactuals, the runs, a quick model;
- an uploaded table (the adult census, from ../shared/data when present): its checks, its
  graph, training, seeing vs doing on categorical outcomes, counterfactuals, two runs
  compared;
- an image model trained through both of its stages, watched on one progress bar;
- five sessions at once.

Screenshots and timings go to a temporary folder ($COUNTERFACTORY_ARTIFACTS to keep them);
the README's pictures in assets/ are refreshed only by ``make screenshots``
($COUNTERFACTORY_SCREENSHOTS=assets), never by a test run.

Skips when /usr/bin/chromium is missing, unless COUNTERFACTORY_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import os
import json
import re
import shutil
import socket
import tempfile
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
ADULT = REPO.parent / "shared" / "data" / "adult" / "adult.csv"
# made when a browser test runs (a collection of the other tests leaves nothing behind)
ARTIFACTS = Path(os.environ.get("COUNTERFACTORY_ARTIFACTS") or Path(tempfile.gettempdir()) / f"cf-browser-{os.getpid()}")
SCREENSHOTS = os.environ.get("COUNTERFACTORY_SCREENSHOTS")  # a folder: refresh the README's pictures there
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


TIMINGS: dict[str, object] = {}


def _record(**values: object) -> None:
    TIMINGS.update(values)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "browser-timings.json").write_text(json.dumps(TIMINGS, indent=1) + "\n")


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """``streamlit run app/main.py`` on a free loopback port with an empty workspace;
    stopped after the module."""
    _require_browser()
    port = _free_port()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = open(ARTIFACTS / "streamlit.log", "w")
    root = tmp_path_factory.mktemp("browser") / "workspace"
    env = dict(os.environ, COUNTERFACTORY_WORKSPACE=str(root))
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env,
    )

    def stop() -> None:
        from app.workspace import Workspace

        ws = Workspace(root)  # workers outlive the server by design: stop this test's ones
        for run in ws.runs(("queued", "running")):
            ws.request_cancel(run.id)
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
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"streamlit did not answer /_stcore/health within 45 s; see {ARTIFACTS / 'streamlit.log'}")
        time.sleep(0.1)
    _record(health_seconds=round(time.monotonic() - started, 2))
    server_start[url] = started
    workspaces[url] = root
    server_pids[url] = proc.pid
    return url


server_start: dict[str, float] = {}
workspaces: dict[str, Path] = {}
server_pids: dict[str, int] = {}


def _cpu_seconds(pid: int) -> float | None:
    """User and system CPU seconds of a process so far (Linux's /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _ensure_done_run(server: str) -> None:
    """A finished run in the test's workspace (the workbench test trains one; run alone,
    this trains a small one with the CLI, in the foreground)."""
    from app.workspace import Workspace

    root = workspaces[server]
    if Workspace(root).runs(("done",)):
        return
    subprocess.run(
        [sys.executable, "-m", "app.cli", "train", "--workspace", str(root), "--dataset", "chain5-lin",
         "-n", "2000", "--set", "steps=300", "--workspace-run", "--name", "browser test"],
        cwd=REPO, check=True, capture_output=True, timeout=300,
    )
    assert Workspace(root).runs(("done",)), "the CLI run did not finish"


@pytest.fixture(scope="module")
def browser(server: str):
    sync_api = pytest.importorskip("playwright.sync_api")
    # expect() waits 5 s by default: too little for a first Plotly render on a 2-core CI
    # machine that is also training a model
    sync_api.expect.set_options(timeout=30_000)
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def _new_page(browser, height: int = 2000):
    # tall enough for the whole page: Streamlit scrolls inside its main block, which
    # full-page screenshots do not capture
    context = browser.new_context(viewport={"width": 1400, "height": height}, device_scale_factor=1)
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    return pg


def _idle(page, timeout: float = 30_000) -> None:
    """Wait until the app has finished its script run (no sleeps)."""
    page.wait_for_selector(IDLE, timeout=timeout)


def _no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator('[data-testid="stException"]').first.inner_text()


def _first_page(server: str) -> None:
    """Record the time from the server's start to the first page shown (once)."""
    if "cold_start_to_first_page_seconds" not in TIMINGS:
        _record(cold_start_to_first_page_seconds=round(time.monotonic() - server_start[server], 2))


def _go(page, server: str, path: str) -> None:
    """Open a page from the sidebar, as a user would: the session (and what was chosen on
    other pages) is kept; a fresh URL would start a new session."""
    if not page.url.startswith(server):
        page.goto(server)
        _idle(page)
        _first_page(server)
    page.locator(f'a[data-testid="stSidebarNavLink"][href$="/{path}"]').click()
    page.wait_for_url(re.compile(f"/{path}$"))
    _idle(page)
    _no_exception(page)


def _shot(page, name: str) -> Path:
    """A screenshot down to the end of the page's content."""
    path = ARTIFACTS / f"{name}.png"
    box = page.locator('[data-testid="stMainBlockContainer"]').bounding_box()
    size = page.viewport_size
    bottom = min(size["height"], int(box["y"] + box["height"])) if box else size["height"]
    page.screenshot(path=str(path), clip={"x": 0, "y": 0, "width": size["width"], "height": bottom})
    return path


def _save_asset(path: Path, name: str, limit: int = 400_000) -> None:
    """Copy a screenshot to $COUNTERFACTORY_SCREENSHOTS/NAME (``make screenshots``: assets/,
    the README's pictures) as a PNG under ``limit`` bytes (256 colours); in a plain test run
    to the artifacts folder, so that the size is checked and the repository is untouched."""
    target = Path(SCREENSHOTS or ARTIFACTS / "assets") / name
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        from PIL import Image
    except ImportError:
        shutil.copyfile(path, target)
    else:
        img = Image.open(path).convert("RGB")
        img.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(target, optimize=True)
    assert target.stat().st_size < limit, f"{target} is {target.stat().st_size:,} bytes"


def _legend(page) -> str:
    return " | ".join(page.locator(".st-key-comparison .legendtext").all_text_contents())


def _drag_edge(page, source: str, target: str) -> None:
    """Connect two canvas nodes with the mouse: press on the source's right handle, move
    to the target's left handle, release (as React Flow expects from a person)."""
    canvas = page.frame_locator('iframe[title="streamlit_flow.streamlit_flow"]')
    src = canvas.locator(f'[data-id="{source}-null-source"]')
    dst = canvas.locator(f'[data-id="{target}-null-target"]')
    src.wait_for()
    a, b = src.bounding_box(), dst.bounding_box()
    page.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
    page.mouse.down()
    page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2, steps=12)
    page.mouse.up()


def _canvas(page):
    return page.frame_locator('iframe[title="streamlit_flow.streamlit_flow"]')


def _editor(page):
    return page.locator("textarea").first


def _editor_shows(page, arrows: list[str], absent: tuple[str, ...] = ()) -> None:
    """Wait until the graph's text box lists exactly ``arrows`` (and none of ``absent``)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            "([want, gone]) => { const t = document.querySelector('textarea'); if (!t) return false;"
            " const lines = t.value.split('\\n').map(s => s.trim()).filter(s => s.includes('->'));"
            " return want.every(a => lines.includes(a)) && lines.length === want.length"
            " && gone.every(g => !t.value.includes(g)); }",
            arg=[arrows, list(absent)], timeout=30_000,
        )
    except PlaywrightTimeout:
        shown = page.locator("textarea").first.input_value() if page.locator("textarea").count() else None
        errors = page.locator('[data-testid="stAlert"]').all_inner_texts()
        raise AssertionError(f"the graph's text box shows {shown!r}, not {arrows}; messages: {errors}") from None


def _apply_text(page, text: str) -> None:
    # Ctrl+Enter commits the typed text to the app before the click: otherwise the text box's
    # blur (which commits it) and the click race, and on a loaded machine the click can land
    # on a button the blur's rerun is replacing (seen once in about ten full runs at load 10+).
    _settle(page)
    _editor(page).fill(text)
    _editor(page).press("Control+Enter")
    _settle(page)
    page.get_by_role("button", name="Apply text").click()
    _settle(page)


def _graph_is(page, arrows: list[str], nodes: int) -> None:
    """What the user sees of the graph: the text box and the canvas agree on ``arrows``,
    and stay so (the canvas hands back no stale state over it)."""
    from playwright.sync_api import expect

    _editor_shows(page, arrows)
    _idle(page)
    expect(_canvas(page).locator(".react-flow__edge")).to_have_count(len(arrows))
    expect(_canvas(page).locator(".react-flow__node")).to_have_count(nodes)
    page.wait_for_timeout(700)  # the canvas answers a redraw with its own state: it must change nothing
    _idle(page)
    _editor_shows(page, arrows)
    _no_exception(page)


def _settle(page) -> None:
    """Wait until the app has finished its runs: on the Graph page an edit is followed by
    the canvas's answers to the redraw (one or two more runs, a moment later)."""
    _idle(page)
    page.wait_for_timeout(600)
    _idle(page)


def _pick(page, label: str | re.Pattern, option: str) -> None:
    """Choose ``option`` in the selectbox labelled ``label`` (again if a rerun closed the
    list under the mouse)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    box = page.get_by_role("combobox", name=label, exact=isinstance(label, str))
    for attempt in range(3):
        _settle(page)
        box.click()
        try:
            page.get_by_role("option", name=option, exact=True).click(timeout=5_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
            page.keyboard.press("Escape")
    _settle(page)


def _rows(page, header: str) -> list[list[str]]:
    """The rows (their cells' texts) of the first table that has a column ``header``, as
    the browser's accessibility tree exposes them (the rows drawn)."""
    frame = page.locator('[data-testid="stDataFrame"]').filter(
        has=page.locator('[role="columnheader"]', has_text=re.compile(f"^{re.escape(header)}$"))).first
    rows = frame.locator('[role="row"]')
    out = [rows.nth(i).locator('[role="gridcell"]').all_inner_texts() for i in range(rows.count())]
    return [r for r in out if r]


def test_typed_graph_edits_stick(server: str, browser) -> None:
    """In a fresh tab on the default dataset: text applied is the graph, every time; so is
    every edit made with the form. Nothing is thrown away by the canvas, a refused cycle,
    a layout button or a trip to another page."""
    from playwright.sync_api import expect

    started = time.monotonic()
    page = _new_page(browser, height=1600)
    _go(page, server, "graph")
    _graph_is(page, ["x1 -> x2", "x1 -> x3", "x2 -> x3"], nodes=3)  # triangle-lin's true graph

    _apply_text(page, "x1 -> x2; x2 -> x3")
    _graph_is(page, ["x1 -> x2", "x2 -> x3"], nodes=3)
    _apply_text(page, "x1 -> x3\nx2 -> x3")  # and again
    _graph_is(page, ["x1 -> x3", "x2 -> x3"], nodes=3)

    _apply_text(page, "x1 -> x2; x2 -> x3; x3 -> x1")  # a cycle: refused, named, the graph kept
    expect(page.get_by_text(re.compile(r"the graph has a cycle: x1 (->|→) x2 (->|→) x3 (->|→) x1"))).to_be_visible()
    expect(_canvas(page).locator(".react-flow__edge")).to_have_count(2)
    _apply_text(page, "x1 -> x2; x2 -> x3")  # after the refusal
    _graph_is(page, ["x1 -> x2", "x2 -> x3"], nodes=3)

    page.get_by_role("button", name="Lay out top to bottom").click()
    _settle(page)
    _apply_text(page, "x1 -> x2; x1 -> x3")  # after a layout button
    _graph_is(page, ["x1 -> x2", "x1 -> x3"], nodes=3)

    _go(page, server, "data")  # leave the page and come back: the text box is filled, the graph kept
    _go(page, server, "graph")
    _graph_is(page, ["x1 -> x2", "x1 -> x3"], nodes=3)
    _apply_text(page, "x1 -> x2; x2 -> x3; x1 -> x3")
    _graph_is(page, ["x1 -> x2", "x1 -> x3", "x2 -> x3"], nodes=3)

    # the form: add a node, rename it, connect it, remove an arrow, delete the node
    page.get_by_text("Edit nodes and arrows").click()
    page.get_by_role("textbox", name="New node").fill("w")
    page.get_by_role("textbox", name="New node").press("Enter")
    _settle(page)
    page.get_by_role("button", name="Add node").click()
    _settle(page)
    expect(_canvas(page).locator(".react-flow__node")).to_have_count(4)
    _pick(page, "Node", "w")
    page.get_by_role("textbox", name="Rename to").fill("z")
    page.get_by_role("textbox", name="Rename to").press("Enter")
    _settle(page)
    page.get_by_role("button", name="Rename", exact=True).click()
    _settle(page)
    _pick(page, "From", "z")
    _pick(page, "To", "x3")
    page.get_by_role("button", name="Add arrow").click()
    _graph_is(page, ["x1 -> x2", "x1 -> x3", "x2 -> x3", "z -> x3"], nodes=4)
    _pick(page, "From", "x1")
    _pick(page, "To", "x3")
    page.get_by_role("button", name="Remove arrow").click()
    _graph_is(page, ["x1 -> x2", "x2 -> x3", "z -> x3"], nodes=4)
    _pick(page, "Node", "z")
    page.get_by_role("button", name="Delete node z").click()
    _graph_is(page, ["x1 -> x2", "x2 -> x3"], nodes=3)
    _apply_text(page, "x1 -> x2; x1 -> x3; x2 -> x3")  # typing still works after the form
    _graph_is(page, ["x1 -> x2", "x1 -> x3", "x2 -> x3"], nodes=3)
    _record(graph_journey_seconds=round(time.monotonic() - started, 1))
    page.context.close()


def test_a_suggestion_shows_its_progress_and_stops_on_request(server: str, browser) -> None:
    """The Graph page's suggestion on a 12-column table takes seconds: the page counts the
    tests as they run, and Stop ends the search at once, leaving no suggestion behind."""
    from playwright.sync_api import expect

    page = _new_page(browser)
    _go(page, server, "data")
    page.get_by_role("combobox", name=re.compile("^Dataset")).click()
    page.get_by_role("option", name="mlp-12").click()
    _idle(page)
    _go(page, server, "graph")
    page.get_by_text("Suggest from the data").click()
    page.get_by_role("button", name=re.compile(r"Suggest$")).click()
    expect(page.get_by_text(re.compile(r"independence tests in \d+ s"))).to_be_visible()
    clicked = time.monotonic()
    page.get_by_role("button", name=re.compile(r"Stop$")).click()
    _idle(page, timeout=15_000)
    stopped = time.monotonic() - clicked
    _no_exception(page)
    expect(page.get_by_text(re.compile(r"independence tests in"))).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile(r"Use as the graph$"))).to_have_count(0)  # no suggestion
    expect(page.get_by_role("button", name=re.compile(r"Stop$"))).to_have_count(0)
    _record(suggestion_stop_seconds=round(stopped, 2))
    assert stopped < 10, f"the page stayed busy {stopped:.1f} s after Stop"
    # Streamlit starts the next run at once and leaves the stopped one to end at its next drawn line
    # (the progress line): the search must end there, not go on in the background for its whole 4 s.
    before = _cpu_seconds(server_pids[server])
    page.wait_for_timeout(5_000)
    after = _cpu_seconds(server_pids[server])
    if before is not None and after is not None:
        _record(suggestion_cpu_after_stop=round(after - before, 2))
        assert after - before < 1.5, f"the server computed {after - before:.1f} s in the 5 s after Stop"
    page.context.close()


def test_the_workbench_as_a_user_would(server: str, browser) -> None:
    from playwright.sync_api import expect

    page = _new_page(browser)
    page.goto(server)
    _idle(page)
    _first_page(server)
    expect(page.get_by_role("heading", name="Counterfactory")).to_be_visible()
    _shot(page, "home")

    # Data: pick a built-in dataset; its description and true equations follow.
    _go(page, server, "data")
    page.get_by_role("combobox", name=re.compile("^Dataset")).click()
    page.get_by_role("option", name="chain5-lin").click()
    _idle(page)
    expect(page.get_by_text("A five-step linear chain")).to_be_visible()
    _shot(page, "data")

    # Graph: add x1 -> x3 with the mouse; then x5 -> x1, a cycle, is refused and named.
    _go(page, server, "graph")
    canvas = page.frame_locator('iframe[title="streamlit_flow.streamlit_flow"]')
    expect(canvas.locator(".react-flow__node")).to_have_count(5)
    _drag_edge(page, "x1", "x3")
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('textarea')).some(t => t.value.includes('x1 -> x3'))")
    _idle(page)
    _no_exception(page)
    expect(canvas.locator(".react-flow__edge")).to_have_count(5)
    _drag_edge(page, "x5", "x1")
    expect(page.get_by_text(re.compile(r"Refused: the graph has a cycle: x1 (->|→) .*x5 (->|→) x1"))).to_be_visible()
    _idle(page)
    expect(canvas.locator(".react-flow__edge")).to_have_count(5)  # the refused arrow is gone again
    assert "x5 -> x1" not in page.locator("textarea").first.input_value()
    _shot(page, "graph")
    _save_asset(ARTIFACTS / "graph.png", "graph.png")

    # Train: a small model on that graph, to completion, in a background worker.
    _go(page, server, "train")
    expect(page.get_by_text("x1 -> x3", exact=False).first).to_be_visible()
    steps = page.get_by_role("textbox", name="steps")
    steps.fill("400")
    page.get_by_test_id("stBaseButton-primaryFormSubmit").click()
    expect(page.get_by_text(re.compile(r"^Trained in"))).to_be_visible(timeout=120_000)
    _idle(page)
    _shot(page, "train")

    # Seeing vs doing: the comparison, then the slider moves and the figure is redrawn.
    _go(page, server, "explore")
    plot = page.locator(".st-key-comparison .js-plotly-plot")
    expect(plot).to_have_count(1)  # not the old figure and the new one while a rerun replaces it
    expect(plot).to_be_visible()
    expect(page.locator(".st-key-comparison .legendtext").first).to_be_visible()
    before = _legend(page)
    assert "observational" in before and "given x2 = " in before and "do(x2 = " in before, before
    thumb = page.get_by_role("slider").first
    thumb.focus()
    for _ in range(25):
        thumb.press("ArrowRight")
    target = f"do(x2 = {float(thumb.input_value()):.4g})"
    assert target not in before
    t0 = time.monotonic()
    page.wait_for_function(
        "t => Array.from(document.querySelectorAll('.st-key-comparison .legendtext')).some(e => e.textContent === t)",
        arg=target, timeout=30_000,
    )
    redraw = time.monotonic() - t0
    _idle(page)
    _no_exception(page)
    after = _legend(page)
    assert target in after and after != before, (before, after)
    server_ms = [float(m) for m in re.findall(r"Answered in (\d+) ms", page.inner_text("body"))]
    assert server_ms, "the page reports its server time"
    _record(slider_redraw_in_browser_seconds=round(redraw, 3), slider_server_ms=server_ms[-1])
    _save_asset(_shot(page, "explore"), "screenshot.png")

    # Counterfactuals: rows 0-4 under do(x1 = 0): the table, with changed cells, and the truth.
    _go(page, server, "counterfactuals")
    expect(page.get_by_text(re.compile(r"What these 5 row\(s\) would have been under do\(x1 = "))).to_be_visible()
    expect(page.get_by_text("Against the exact counterfactual")).to_be_visible()
    _shot(page, "counterfactuals")
    _save_asset(ARTIFACTS / "counterfactuals.png", "counterfactuals.png")

    # Runs: the run is listed, done.
    _go(page, server, "runs")
    expect(page.get_by_text("Every run in the workspace")).to_be_visible()
    _shot(page, "runs")

    # A quick model in one click: once trained, the selector and the page below show it,
    # and its answer off the data (do(x2) far from what x1 makes it) is flagged.
    _go(page, server, "explore")
    page.get_by_text("Train a quick model on a built-in example").click()
    _pick(page, "Built-in example", "triangle-nlin")
    page.get_by_role("button", name="Train a quick model").click()
    expect(page.get_by_role("combobox", name="Trained run")).to_have_value(
        re.compile(r"^quick Causal Gen on triangle-nlin · done"), timeout=180_000)
    _idle(page)
    expect(page.get_by_text(re.compile(r"^quick Causal Gen on triangle-nlin · triangle-nlin"))).to_be_visible()
    expect(page.get_by_text(re.compile("parent values the training data never show together"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Extrapolated: x3"))).to_be_visible()
    assert "widen the tolerance" not in page.inner_text("body")
    _no_exception(page)
    page.context.close()


def test_an_uploaded_table_from_upload_to_comparison(server: str, browser) -> None:
    """The adult census table, all categorical: its checks pass without false alarms, its
    graph is typed, a model trains on it, seeing vs doing gives the probability of each
    category and effects as differences of probabilities beside the exact answer of the
    graph, counterfactuals are computed, and two runs are compared."""
    from playwright.sync_api import expect

    if not ADULT.is_file():
        pytest.skip(f"the adult table {ADULT} is absent (../shared/data)")
    _ensure_done_run(server)  # a second run to compare with
    started = time.monotonic()
    page = _new_page(browser, height=2400)
    _go(page, server, "data")
    page.get_by_text("Upload a CSV").click()
    _idle(page)
    expect(page.get_by_text(re.compile("no data are chosen"))).to_be_visible()  # not the previous dataset
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(ADULT))
    expect(page.get_by_text(re.compile(r"adult\.csv: 30,162 rows × 8 columns pass the loader's checks"))).to_be_visible()
    _idle(page)
    assert "mixes numbers and text" not in page.inner_text("body")  # HoursPerWeek's labels are labels
    assert "set to categorical" not in page.inner_text("body")  # nobody set anything
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    _shot(page, "data-upload")

    _go(page, server, "graph")
    _graph_is(page, [], nodes=8)  # the columns, unconnected
    expect(page.get_by_text("This graph has no arrows")).to_be_visible()  # not "every arrow is identified"
    graph = ["Age -> Education", "Age -> Income", "Education -> Income", "Sex -> HoursPerWeek",
             "HoursPerWeek -> Income", "Sex -> Income", "Age -> MaritalStatus", "MaritalStatus -> Income"]
    lone = ["Race", "Immigrant"]  # text is the whole graph: columns without arrows are listed alone
    _apply_text(page, "\n".join(graph + lone))
    _graph_is(page, graph, nodes=8)
    _apply_text(page, "\n".join(graph + lone + ["Income -> Age"]))
    expect(page.get_by_text(re.compile("the graph has a cycle"))).to_be_visible()
    graph.append("Race -> Education")
    _apply_text(page, "\n".join(graph + lone))  # after the refused cycle
    _graph_is(page, graph, nodes=8)
    expect(page.get_by_text(re.compile(r"strength|negligible|consistent", re.I)).first).to_be_visible()
    _shot(page, "graph-upload")

    _go(page, server, "train")
    page.get_by_role("textbox", name="steps").fill("300")
    page.get_by_role("textbox", name="Run name").fill("adult, small")
    page.get_by_test_id("stBaseButton-primaryFormSubmit").click()
    expect(page.get_by_text(re.compile(r"^Trained in"))).to_be_visible(timeout=300_000)
    _idle(page)

    # Seeing vs doing on a categorical outcome: probabilities and effects with numbers
    _go(page, server, "explore")
    expect(page.get_by_role("combobox", name="Trained run")).to_have_value(re.compile(r"^adult, small · done"))
    _pick(page, "Variable", "Education")
    _pick(page, "Value of Education", "Academic-Degree")
    expect(page.get_by_text("Probability of each category")).to_be_visible()
    assert "Mean of each variable" not in page.inner_text("body")  # no means of categories
    rows = _rows(page, "category")  # node, category, observational, given, do, do · exact, given − do
    assert len(rows) == 24 and ["Income", ">50K"] == rows[-1][:2], rows
    probs = [float(x) for r in rows for x in r[2:6]]
    assert all(-1e-9 <= x <= 1 + 1e-9 for x in probs), rows  # numbers, not None
    effects = {r[0]: r[1:] for r in _rows(page, "low")}  # outcome: effect, low, high, exact, extrapolated
    assert "Income = >50K" in effects, effects
    effect, low, high = (float(x) for x in effects["Income = >50K"][:3])
    row = effects["Income = >50K"]
    assert low <= effect <= high and effect > 0.0, row  # a degree raises P(Income > 50K)
    headers = page.locator('[role="columnheader"]').all_inner_texts()
    assert "do · exact" in headers and "exact" in headers, headers  # the graph's exact answer beside the model's
    _no_exception(page)
    _shot(page, "explore-upload")

    _go(page, server, "counterfactuals")
    expect(page.get_by_text(re.compile(r"What these 5 row\(s\) would have been under do\("))).to_be_visible()
    _no_exception(page)

    # Runs: the two runs compared side by side (one type per column: no Arrow error logged)
    _go(page, server, "runs")
    grid = page.locator('[data-testid="stDataFrame"]').first
    expect(grid).to_be_visible()
    box = grid.bounding_box()
    for i in range(2):  # tick the first two rows' selection boxes
        page.mouse.click(box["x"] + 15, box["y"] + 35 * (i + 1) + 18)
        _idle(page)
    expect(page.get_by_text("Comparing 2 runs")).to_be_visible()
    _no_exception(page)
    log = (ARTIFACTS / "streamlit.log").read_text(errors="replace")
    assert "ArrowTypeError" not in log and "ArrowInvalid" not in log
    _record(upload_journey_seconds=round(time.monotonic() - started, 1))
    page.context.close()


def test_an_image_model_trains_in_two_stages_on_one_progress_bar(server: str, browser) -> None:
    """CCGM on 200 pendulum images: the form sets each stage's steps; the progress bar and
    the time left cover both stages (never 100% while the image networks still train); the
    loss curves come one per stage."""
    from playwright.sync_api import expect

    started = time.monotonic()
    page = _new_page(browser, height=1800)
    _go(page, server, "data")
    page.get_by_text("Built-in images").click()
    _idle(page)
    _pick(page, "Image dataset", "pendulum")
    images = page.get_by_role("spinbutton", name="Images")
    images.fill("200")
    images.press("Enter")
    _idle(page)
    _go(page, server, "train")
    _pick(page, "Model", "CCGM")
    # stages long enough (several seconds each on a CPU) that a page refreshing every second or two sees both
    page.get_by_role("textbox", name="label stage: steps").fill("8000")
    page.get_by_role("textbox", name="image stage: steps").fill("200")
    page.get_by_role("textbox", name="Run name").fill("pendulum, two stages")
    page.get_by_test_id("stBaseButton-primaryFormSubmit").click()
    # the label stage can end between two refreshes of the page on an idle machine, so the first card seen may
    # already show stage 2; that stage 1 ran is checked below, by its own loss curve
    expect(page.get_by_text(re.compile(r"stage [12] of 2: (label mechanisms|image networks)")).first).to_be_visible(timeout=120_000)
    stage2 = page.get_by_text(re.compile(r"stage 2 of 2: image networks"))
    expect(stage2).to_be_visible(timeout=180_000)
    seen: list[tuple[float, str]] = []  # (the bar's value, the caption under it) while the image stage runs
    while page.get_by_text(re.compile(r"^Trained in")).count() == 0 and len(seen) < 600:
        try:
            bar = page.locator('[data-testid="stProgress"]').first
            text = bar.inner_text(timeout=1000)
            value = float(bar.locator('[role="progressbar"]').get_attribute("aria-valuenow", timeout=1000) or "nan")
            caption = page.get_by_text(re.compile("^elapsed")).first.inner_text(timeout=1000)
        except Exception:  # noqa: BLE001 - the card was redrawn between the reads
            continue
        if "stage 2 of 2" in text:
            seen.append((value, caption))
        page.wait_for_timeout(250)
    expect(page.get_by_text(re.compile(r"^Trained in"))).to_be_visible(timeout=300_000)
    assert seen and all(v < 100 for v, _ in seen), seen  # never full while the image networks still train
    assert any(re.search(r"about \d[^—]* left$", c) for _, c in seen), seen  # the time left is told
    # "Trained in" comes from the page's full run after training, which goes on to draw the rest of the card: a
    # click on the expander before that run ends can hit the one it is about to replace (collapsed), so wait for it
    _idle(page, timeout=60_000)
    page.get_by_text("Loss curves").first.click()  # this run's card comes first
    # other image runs' cards (e.g. an earlier test's) keep their curves in the page, hidden: look at the shown ones
    expect(page.locator(".js-plotly-plot text:visible", has_text="stage 1: label mechanisms").first).to_be_visible()
    expect(page.locator(".js-plotly-plot text:visible", has_text="stage 2: image networks").first).to_be_visible()
    _no_exception(page)
    _shot(page, "train-images")
    _record(image_journey_seconds=round(time.monotonic() - started, 1))
    page.context.close()


def test_five_sessions_at_once(server: str, browser) -> None:
    """One session trains while four explore the finished run, in a bounded loop; none
    sees an error and the training run completes."""
    from playwright.sync_api import expect

    _ensure_done_run(server)
    pages = [_new_page(browser, height=1400) for _ in range(5)]
    trainer, explorers = pages[0], pages[1:]
    _go(trainer, server, "train")
    trainer.get_by_role("textbox", name="steps").fill("3000")
    trainer.get_by_test_id("stBaseButton-primaryFormSubmit").click()
    for i, pg in enumerate(explorers):
        _go(pg, server, "explore")
        # a run of continuous data (the newest may be the adult table's, all categories: no slider)
        pg.get_by_role("combobox", name="Trained run", exact=True).click()
        option = pg.get_by_role("option").filter(has_not_text="adult").first
        run_id = option.inner_text().rsplit(" · ", 1)[-1].strip()  # "name · status · id"
        option.click()
        # the pick's rerun may not have started when the click returns: wait for the page to show the picked
        # run (its id in the caption under the graph), then for the run to end
        expect(pg.locator("code", has_text=run_id).first).to_be_visible()
        _idle(pg)
        _shot(pg, f"session-{i + 1}")
        # while a rerun replaces the chart Streamlit briefly keeps the stale one beside the new: count shown ones
        expect(pg.locator(".st-key-comparison .js-plotly-plot:visible")).to_have_count(1)
    for _ in range(6):  # bounded: six slider moves in each exploring session
        for pg in explorers:
            thumb = pg.get_by_role("slider").first
            thumb.focus()
            thumb.press("ArrowLeft")
        for pg in explorers:
            _idle(pg)
            _no_exception(pg)
    # The run's 3,000 steps finished within a 3-minute wait in CI; the wait now allows ten,
    # because a loaded or slow host (measured: still running after 5.6 minutes on
    # 2026-12-01, while the host ran about 5x slow) is not what this test is about: no
    # session sees an error, and the run completes.
    expect(trainer.get_by_text(re.compile(r"^Trained in")).first).to_be_visible(timeout=600_000)
    for pg in pages:
        _no_exception(pg)
        pg.context.close()


def test_the_debias_page_cuts_and_reports(server: str, browser) -> None:
    """The De-bias page on a finished run: a parity cut (the default where the sensitive
    attribute has no direct edge into the target), its report and its downloads."""
    _ensure_done_run(server)
    page = _new_page(browser)
    _go(page, server, "debias")
    expect = pytest.importorskip("playwright.sync_api").expect
    expect(page.get_by_text("Is the bias gone?")).to_be_visible()
    expect(page.get_by_text("Is the rest kept?")).to_be_visible()
    _idle(page, timeout=60_000)
    _no_exception(page)
    expect(page.locator('[data-testid="stDownloadButton"]')).to_have_count(3)
    assert "Cut: " in page.inner_text("body")
    _shot(page, "debias")
    page.context.close()


def test_the_inverse_problems_page_recovers_an_image(server: str, browser) -> None:
    """The Inverse problems page without a trained model: a built-in glyph, half its pixels
    kept, Lasso-DCT; the measurement, the recovery and the truth side by side with the error."""
    page = _new_page(browser)
    _go(page, server, "inverse")
    expect = pytest.importorskip("playwright.sync_api").expect
    _pick(page, "Measurement", "Random pixels kept (inpainting)")
    _pick(page, "Method", "lasso")
    page.get_by_role("button", name="Recover", exact=True).click()
    _idle(page, timeout=120_000)
    expect(page.get_by_text(re.compile(r"Per-pixel MSE"))).to_be_visible(timeout=120_000)
    # the result's own caption, not only the page's text: under load the figure comes after the table
    expect(page.get_by_text(re.compile(r"recovery \(lasso\)")).first).to_be_visible(timeout=120_000)
    _no_exception(page)
    # waiting assertions, not one snapshot of the text: a rerun re-mounts the images, and their captions can be
    # missing from the page's text for a moment (seen once locally, after the result had been shown)
    for text in ("recovery (lasso)", "truth", "mask:random:0.5"):
        expect(page.locator("body")).to_contain_text(text, timeout=60_000)
    _shot(page, "inverse")
    _pick(page, "Method", "lasso-wavelet")  # the wavelet basis beside the DCT one
    page.get_by_role("button", name="Recover", exact=True).click()
    _idle(page, timeout=120_000)
    expect(page.get_by_text("recovery (lasso-wavelet)")).to_be_visible(timeout=120_000)
    _no_exception(page)
    page.context.close()


def test_the_hypotheses_page_starts_shows_and_cancels(server: str, browser) -> None:
    """The Hypotheses page: a finished test (run here, tiny) shown as ranking, heat map,
    per-node breakdown and downloads; then a test started from the form runs in the
    background with a progress bar and is cancelled from the page."""
    from app import hypothesis_jobs
    from causal import datasets
    from causal.hypotheses import HypothesisConfig

    root = workspaces[server]
    rows = datasets.load("triangle-lin", n=300, seed=0).data
    cfg = HypothesisConfig(folds=2, seeds=1, settings={"steps": 100}, permutations=5)
    job = hypothesis_jobs.submit(root, rows, ["truth=x1 -> x2; x1 -> x3; x2 -> x3", "x3 -> x2; x1 -> x2; x1 -> x3"],
                                 cfg, name="browser test", start=False)
    hypothesis_jobs.run_job(root / "hypotheses" / job)
    page = _new_page(browser)
    _go(page, server, "hypotheses")
    expect = pytest.importorskip("playwright.sync_api").expect
    expect(page.get_by_text("Ranking", exact=True)).to_be_visible()
    expect(page.get_by_text("Per node", exact=True)).to_be_visible()
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    expect(page.locator('[data-testid="stDownloadButton"]')).to_have_count(2)  # waits for the page to finish
    _no_exception(page)
    _shot(page, "hypotheses")
    page.locator("textarea").first.fill("x1 -> x2; x1 -> x3; x2 -> x3\nx3 -> x2; x1 -> x2; x1 -> x3")
    page.get_by_role("button", name="Start the test").click()
    expect(page.get_by_role("button", name="Cancel")).to_be_visible(timeout=60_000)
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_text(re.compile("The test was cancelled"))).to_be_visible(timeout=120_000)
    _no_exception(page)
    page.context.close()


def test_ambient_gan_trains_on_lossy_builtin_images(server: str, browser) -> None:
    """The Data page shows faces seen through 90% pixel dropout; the Train page fills in
    CausalGAN's AmbientGAN measurement with it, and a run on those images reaches its image
    stage (a finished fit through the measurement: tests/test_ambient.py)."""
    from playwright.sync_api import expect

    page = _new_page(browser, height=1800)
    _go(page, server, "data")
    page.get_by_text("Built-in images").click()
    _idle(page)
    _pick(page, "Image dataset", "faces")
    images = page.get_by_role("spinbutton", name="Images")
    images.fill("200")
    images.press("Enter")
    _idle(page)
    seen = page.get_by_role("textbox", name="Seen through (lossy measurement)")
    seen.fill("dropout:0.9")
    seen.press("Enter")
    _idle(page)
    expect(page.get_by_text(re.compile(r"seen through dropout:0\.9"))).to_be_visible()
    _go(page, server, "train")
    _pick(page, "Model", "CausalGAN")
    ambient = page.get_by_role("textbox", name="AmbientGAN measurement")
    expect(ambient).to_have_value("dropout:0.9")
    page.get_by_role("textbox", name="label stage: steps").fill("50")
    page.get_by_role("textbox", name="image stage: steps").fill("20")
    page.get_by_role("textbox", name="Run name").fill("ambient faces")
    page.get_by_test_id("stBaseButton-primaryFormSubmit").click()
    expect(page.get_by_text(re.compile(r"stage 2 of 2: image networks")).first).to_be_visible(timeout=300_000)
    _no_exception(page)
    _shot(page, "train-ambient")
    page.context.close()


def test_the_defense_section_shows_an_evaluation(server: str, browser) -> None:
    """The Inverse problems page's robust manifold defense with a tiny glyph model (trained
    here) and a tiny evaluation (run here, in this process): the settings with their cost
    estimate, then the table, the bar chart, the example images, the BPDA caveat and the
    JSON download."""
    from playwright.sync_api import expect

    from app import tasks
    from app.logic import defense as dl
    from app.worker import execute
    from app.workspace import RunSpec, Workspace
    from causal.sources import BuiltinImages

    ws = Workspace(workspaces[server])
    run = ws.create_run(RunSpec(BuiltinImages("morpho-glyphs", rows=200, size=32), kind="ccgm",
                                settings={"steps": 20, "image_train.steps": 10, "width": 4}, name="tiny glyphs"),
                        pid=os.getpid())
    assert execute(ws, run.id).status == "done"
    settings = dl.DefenseSettings(eps=(0.2,), n=4, train_n=100, epochs=1, pgd_steps=3, bpda_steps=2, restarts=2,
                                  steps=10)
    task = dl.submit(ws.root, ws.run(run.id), "morpho-glyphs", settings, start=False)
    assert tasks.run_task(ws.root / "tasks" / dl.KIND / task) == "done"
    page = _new_page(browser, height=2600)
    _go(page, server, "inverse")
    _pick(page, "Prior (a trained image model)", f"tiny glyphs · done · {run.id}")
    expect(page.get_by_text("Robust manifold defense", exact=True)).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Estimated cost: "))).to_be_visible()
    expect(page.get_by_text(re.compile(r"Accuracy of the classifier"))).to_be_visible(timeout=60_000)
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    expect(page.get_by_text(re.compile(r"never a proof of robustness"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"^PGD image projected: classified as"))).to_be_visible()
    expect(page.get_by_role("button", name="Result (JSON)")).to_be_visible()
    _no_exception(page)
    _shot(page, "inverse-defense")
    page.context.close()
