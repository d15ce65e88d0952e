#!/usr/bin/env python3
"""Screenshot of the incident view for the README, from a throw-away demo instance.

Runs the app on a temporary data dir loaded with the demo stream, opens the
largest incident in headless Chromium (Debian's, not a Playwright download) and
writes a PNG. Usage::

    .venv/bin/python scripts/screenshot.py [--out docs/img/incident-view.png]
        [--incident inc-7] [--index-out index.png] [--full-page]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Page, sync_playwright
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from aiops.api import create_app  # noqa: E402
from aiops.config import DataDir  # noqa: E402
from aiops.runtime import Runtime, open_runtime  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 1300}


def load_demo(data_dir: Path, faults: int) -> None:
    """What ``make run`` shows: ``aiops demo`` (topology, training on history, replay)."""
    from aiops.cli import main

    main(["--data-dir", str(data_dir), "demo", "--no-serve", "--faults", str(faults)],
         standalone_mode=False)


@contextmanager
def serve(runtime: Runtime) -> Iterator[str]:
    """The app on a free port of 127.0.0.1 in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, create_app(runtime=runtime), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def pick_incident(page: Page, base: str) -> str:
    """The incident with the most alerts: it shows the most of what the view can draw."""
    response = page.request.get(f"{base}/api/v1/incidents?limit=1000")
    incidents = response.json()["incidents"]
    if not incidents:
        raise SystemExit("the demo produced no incidents")
    return max(incidents, key=lambda inc: (inc["alert_count"], inc["id"]))["id"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "incident-view.png")
    parser.add_argument("--incident", help="incident id (default: the one with most alerts)")
    parser.add_argument("--index-out", type=Path, help="also capture the incident list here")
    parser.add_argument("--full-page", action="store_true",
                        help="capture the whole page, not just the first screen")
    parser.add_argument("--faults", type=int, default=30)
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} not found: install Debian's chromium (make test-deps)")

    with tempfile.TemporaryDirectory(prefix="aiops-screenshot-") as tmp:
        load_demo(Path(tmp) / "data", args.faults)
        runtime = open_runtime(DataDir.from_env(Path(tmp) / "data"))
        try:
            with serve(runtime) as base, sync_playwright() as driver:
                browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport=VIEWPORT)
                if args.index_out:
                    page.goto(base + "/")
                    page.locator("#resolved-incidents").wait_for()
                    args.index_out.parent.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(args.index_out), full_page=args.full_page)
                incident = args.incident or pick_incident(page, base)
                response = page.goto(f"{base}/incidents/{incident}")
                if response is None or not response.ok:
                    raise SystemExit(f"/incidents/{incident} did not load")
                page.locator("svg.topology").wait_for()
                args.out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(args.out), full_page=args.full_page)
                browser.close()
        finally:
            runtime.close()
    print(f"wrote {args.out} ({incident})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
