"""The audit log's cost per request, in-process: recording one request at Metadata (its attributes,
the event, its JSON line into the buffer) and writing the buffered lines (in the worker thread).

The end-to-end comparison is ``bench/api.py --variant off= --variant audit="--audit-log-path FILE"``;
on a shared machine its wall-clock figures drift more than this cost, so this isolates it. Usage::

    .venv/bin/python bench/audit.py [--requests 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from minikube_py.api.audit import AUDITED, AuditLog, audit_middleware
from minikube_py.api.auth import ADMIN, REQUESTER, USER
from minikube_py.model.audit import DEFAULT_POLICY


async def measure(requests: int, directory: Path) -> dict[str, str]:
    sink = AuditLog(str(directory / "audit.log"))
    middleware = audit_middleware(DEFAULT_POLICY, sink)
    answer = web.json_response({"kind": "Pod"})

    async def handler(request: web.Request) -> web.StreamResponse:
        request[REQUESTER] = request[USER] = ADMIN
        return answer

    path = "/api/v1/namespaces/bench/pods/pod-00001"
    made = [make_mocked_request("GET", path, headers={"User-Agent": "kubectl/v1.32.0"}) for _ in range(requests)]
    started = time.perf_counter()
    for request in made:
        await middleware(request, handler)
    recorded = (time.perf_counter() - started) / requests
    assert all(AUDITED in r for r in made)
    started = time.perf_counter()
    await sink.stop()  # writes every buffered line
    written = (time.perf_counter() - started) / requests
    plain = [make_mocked_request("GET", path) for _ in range(requests)]
    started = time.perf_counter()
    for request in plain:
        await handler(request)
    bare = (time.perf_counter() - started) / requests
    return {
        "record one request at Metadata (event loop)": f"{(recorded - bare) * 1e6:.1f} µs",
        "write one event (worker thread)": f"{written * 1e6:.1f} µs",
        "bytes per event": f"{(directory / 'audit.log').stat().st_size / requests:.0f}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        figures = asyncio.run(measure(args.requests, Path(tmp)))
    for name, value in figures.items():
        print(f"  {name:45s} {value}")


if __name__ == "__main__":
    main()
