"""Dashboard first-page time on a cluster of many pods, in a real headless Chromium.

    .venv/bin/python bench/dashboard.py [--pods 1000] [--loads 7] [--waterfall] [--smoke]

A ``pykube server`` without nodes (a subprocess, as a user runs it), ``--pods`` pods created through
the API (addressed to a scheduler that does not exist, so they stay Pending and the figures are the
dashboard's, not the scheduler's events), a session from a login code, then Debian's Chromium
(/usr/bin/chromium, driven by Playwright) loading ``/dashboard/``:

- overview: from the navigation's start to the pods-by-phase numbers on screen (the page's
  ``pykube:overview-ready`` performance mark);
- pods: from the navigation's start to the pods table filled (``pykube:pods-ready``).

Each is measured cold (a fresh browser context: empty cache, the session cookie only) and warm (a
reload in the same context), ``--loads`` times; the median and the worst are printed (aim: 300 ms for
the first page on 1,000 pods). ``--waterfall`` prints each request of one cold load of each page from
the Performance API: when it started, its time to first byte (mostly the server's time) and its end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from minikube_py.testing import RunningServer, start_server

CHROMIUM = "/usr/bin/chromium"
NS = "bench-dashboard"
MARKS = {"overview": "pykube:overview-ready", "pods": "pykube:pods-ready"}


def pod(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"web-{i:05d}", "labels": {"app": "web", "shard": str(i % 10)}},
        "spec": {
            "schedulerName": "bench-no-scheduler",
            "containers": [
                {
                    "name": "app",
                    "image": "busybox:1.36",
                    "command": ["sleep", "3600"],
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                }
            ],
        },
    }


async def create_pods(server: RunningServer, count: int, concurrency: int = 20) -> None:
    connector = aiohttp.TCPConnector(ssl=server.ssl_context(), limit=concurrency)
    headers = {"Authorization": f"Bearer {server.admin_token}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as http:
        async with http.post(f"{server.url}/api/v1/namespaces", json={"metadata": {"name": NS}}) as r:
            assert r.status == 201, await r.text()
        queue = iter(range(count))

        async def worker() -> None:
            for i in queue:
                async with http.post(f"{server.url}/api/v1/namespaces/{NS}/pods", data=json.dumps(pod(i))) as r:
                    assert r.status == 201, await r.text()

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def login_state(server: RunningServer, browser: Browser) -> Any:
    """A session cookie, as the URL `pykube dashboard` prints hands it out."""
    status, body = server.request("POST", "/dashboard/api/login-codes", {})
    assert status == 201, body
    context = browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    timed_load(page, server.url + body["path"], MARKS["overview"])
    state = context.storage_state()
    context.close()
    return state


def timed_load(page: Page, url: str | None, mark: str) -> float:
    """Milliseconds from the start of a navigation to ``url`` (None: a reload) to the page's mark.
    Chromium aborts a load when the host's network interfaces change (other clusters' containers start
    and stop on a shared host), and a request cut off that way may leave the page without its mark:
    such a load is done again, and said so on stderr."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    for attempt in range(5):
        try:
            page.reload() if url is None else page.goto(url)
            # a function, not a string: the page's CSP forbids eval
            page.wait_for_function("(mark) => performance.getEntriesByName(mark).length > 0", arg=mark, timeout=30000)
            return float(page.evaluate("(mark) => performance.getEntriesByName(mark)[0].startTime", mark))
        except PlaywrightError as exc:
            print(
                f"  (a load of {url or 'the page'} failed and is done again: {str(exc).splitlines()[0]} {[str(e) for e in errors]})",
                file=sys.stderr,
            )
            if attempt == 4:
                raise
            if url is not None:  # a new document first: going to the same URL again would only move the hash
                with contextlib.suppress(PlaywrightError):
                    page.goto("about:blank")
    raise AssertionError("unreachable")


def measure(
    server: RunningServer, browser: Browser, state: Any, route: str, loads: int
) -> tuple[list[float], list[float]]:
    cold: list[float] = []
    warm: list[float] = []
    url = f"{server.url}/dashboard/#/{route}"
    for _ in range(loads):
        context = browser.new_context(ignore_https_errors=True, storage_state=state)
        page = context.new_page()
        cold.append(timed_load(page, url, MARKS[route]))
        warm.append(timed_load(page, None, MARKS[route]))
        context.close()
    return cold, warm


def waterfall(server: RunningServer, browser: Browser, state: Any, route: str) -> None:
    context = browser.new_context(ignore_https_errors=True, storage_state=state)
    page = context.new_page()
    timed_load(page, f"{server.url}/dashboard/#/{route}", MARKS[route])
    entries = page.evaluate("""() => performance.getEntriesByType("navigation").concat(
        performance.getEntriesByType("resource")).map((e) => ({name: e.name, start: e.startTime,
        ttfb: e.responseStart - e.requestStart, end: e.responseEnd, size: e.transferSize}))""")
    context.close()
    print(f"  waterfall of one cold {route} load (ms: start, time to first byte, end; bytes):")
    for e in sorted(entries, key=lambda e: e["start"]):
        name = e["name"].replace(server.url, "")
        print(f"    {e['start']:7.1f} {e['ttfb']:7.1f} {e['end']:7.1f} {e['size']:8d}  {name[:110]}")


def line(what: str, values: list[float]) -> str:
    return (
        f"  {what:<18} median {statistics.median(values):7.1f} ms   worst {max(values):7.1f} ms   ({len(values)} loads)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--loads", type=int, default=7)
    parser.add_argument("--waterfall", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="100 pods, 2 loads, with the waterfall")
    args = parser.parse_args()
    if args.smoke:
        args.pods, args.loads, args.waterfall = 100, 2, True
    if not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} is missing: scripts/install.sh installs Debian's chromium with the test extras")
    with tempfile.TemporaryDirectory(prefix="pykube-bench-dashboard-") as tmp:
        server = start_server(Path(tmp) / "data")
        try:
            asyncio.run(create_pods(server, args.pods))
            print(f"dashboard on {args.pods} pods (no nodes), Chromium headless")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                try:
                    state = login_state(server, browser)
                    for route in ("overview", "pods"):
                        cold, warm = measure(server, browser, state, route, args.loads)
                        print(line(f"{route} cold", cold))
                        print(line(f"{route} warm", warm))
                        if args.waterfall:
                            waterfall(server, browser, state, route)
                finally:
                    browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
