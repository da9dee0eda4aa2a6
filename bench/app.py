"""Workbench speed, measured as a user meets it: the cold start of ``make run`` to a usable
first page, and the server time of a redrawn seeing-vs-doing figure after a slider move.

    python bench/app.py --out docs/benchmarks.md

Needs Debian's Chromium (``/usr/bin/chromium``) and Playwright, like the browser tests.
The app runs on a free loopback port with a fresh temporary workspace holding one trained
run (Causal Gen on 2,000 rows of each dataset asked about); each slider move reruns the page,
whose caption reports the server time of the comparison and its figures ("Answered in N ms").
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.run import machine, write_section  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
TARGETS = {"cold_start_s": 5.0, "slider_server_ms": 300.0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_runs(workspace: Path, names: list[str]) -> None:
    from app.worker import execute
    from app.workspace import RunSpec, Workspace
    from causal.sources import BuiltinTable

    ws = Workspace(workspace)
    for name in names:
        run = ws.create_run(RunSpec(BuiltinTable(name, rows=2000), settings={"steps": 1500}, name=f"bench {name}"),
                            pid=os.getpid())
        assert execute(ws, run.id).status == "done"


def measure(moves: int, datasets: list[str]) -> dict[str, object]:
    from playwright.sync_api import sync_playwright

    workspace = Path(tempfile.mkdtemp(prefix="cf-bench-")) / "workspace"
    train_runs(workspace, datasets)
    port = free_port()
    env = dict(os.environ, COUNTERFACTORY_WORKSPACE=str(workspace))
    t0 = time.monotonic()
    proc = subprocess.Popen(["make", "run", f"PORT={port}"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() - t0 > 60:
                    raise RuntimeError("make run did not start the app")
                time.sleep(0.05)
        health = time.monotonic() - t0
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            page = browser.new_context(viewport={"width": 1400, "height": 1600}).new_page()
            page.goto(url)
            page.wait_for_selector(IDLE)
            page.get_by_role("heading", name="Counterfactory").wait_for()
            first_page = time.monotonic() - t0
            server_ms: dict[str, list[float]] = {}
            browser_s: dict[str, list[float]] = {}
            page.locator('a[data-testid="stSidebarNavLink"][href$="/explore"]').click()
            page.wait_for_selector(IDLE)
            for name in datasets:
                page.get_by_role("combobox", name="Trained run").click()
                page.get_by_role("option", name=re.compile(f"^bench {re.escape(name)} ")).click()
                page.wait_for_selector(IDLE)
                # IDLE can match before the rerun has begun: wait for the one new figure
                page.wait_for_function(
                    "() => document.querySelectorAll('.st-key-comparison .js-plotly-plot').length === 1")
                page.wait_for_selector(IDLE)
                thumb = page.get_by_role("slider").first
                for _ in range(moves):
                    thumb.focus()
                    thumb.press("ArrowRight")  # a value not asked about before: no cache answers it
                    t = time.monotonic()
                    page.wait_for_function(
                        "v => Array.from(document.querySelectorAll('.st-key-comparison .legendtext'))"
                        ".some(e => e.textContent.startsWith('do(') && e.textContent.endsWith(' = ' + v + ')'))",
                        arg=f"{float(thumb.input_value()):.4g}", timeout=60_000,
                    )
                    page.wait_for_selector(IDLE)
                    browser_s.setdefault(name, []).append(time.monotonic() - t)
                    found = re.findall(r"Answered in (\d+) ms", page.inner_text("body"))
                    server_ms.setdefault(name, []).append(float(found[-1]))
            browser.close()
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=20)
    return {"health_s": health, "first_page_s": first_page, "server_ms": server_ms, "browser_s": browser_s}


def markdown(res: dict[str, object], command: str, moves: int) -> str:
    from bench.run import markers

    start, end = markers("app")
    lines = [start, "## Workbench speed (cold start, slider to redrawn figure)", "",
             f"- Command: `{command}`", f"- Machine: {machine()}", "- Browser: Debian Chromium, headless, on loopback",
             "", "| measure | value | target |", "|---|---|---|"]
    cold = float(res["first_page_s"])
    lines.append(f"| `make run` (existing environment) to the first page rendered | {cold:.2f} s "
                 f"{'✓' if cold <= TARGETS['cold_start_s'] else '✗'} | ≤ {TARGETS['cold_start_s']:.0f} s |")
    lines.append(f"| ... to the server answering `/_stcore/health` | {float(res['health_s']):.2f} s | |")
    for name, ms in res["server_ms"].items():  # type: ignore[union-attr]
        med, worst = statistics.median(ms), max(ms)
        ok = "✓" if med <= TARGETS["slider_server_ms"] else "✗"
        bs = res["browser_s"][name]  # type: ignore[index]
        lines.append(f"| slider move to redrawn figure, server time, {name} (median / max of {len(ms)}) | "
                     f"{med:.0f} / {worst:.0f} ms {ok} | ≤ {TARGETS['slider_server_ms']:.0f} ms |")
        lines.append(f"| ... the same seen in the browser (round trip, render) | {statistics.median(bs) * 1000:.0f} ms | |")
    lines += ["", "Server time is what the page reports in its caption: sampling the model (2,000 observational, "
              "2,000 interventional and 2,000 conditional samples by rejection, plus the true SCM's) and building "
              f"the figures; {moves} slider moves per dataset, each to a value not asked about before, so no cache "
              "answers.", end]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--moves", type=int, default=10, help="slider moves per dataset")
    ap.add_argument("--datasets", nargs="+", default=["triangle-lin", "large-backdoor"])
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    res = measure(args.moves, args.datasets)
    command = "python bench/app.py " + " ".join(argv if argv is not None else sys.argv[1:])
    section = markdown(res, command.strip(), args.moves)
    print(section)
    if args.out:
        write_section(args.out, section, "app")
    return 0


if __name__ == "__main__":
    sys.exit(main())
