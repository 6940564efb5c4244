"""API benchmark: prints creates/s, gets/s, LIST of 10,000 pods, watch delivery latency and
mutating-call latency, for SQLite and (with --postgres URL) PostgreSQL with one server and with three.

Runs the real ``pykube server`` in subprocesses on loopback and drives it over HTTPS with aiohttp,
the way clients do. With three servers on one database the requests and the watchers are spread
over the servers round-robin, and the watched updates all go through the first, so watch delivery
includes the way from one server through PostgreSQL to another. Usage::

    .venv/bin/python bench/api.py [--pods 10000] [--concurrency 50] [--postgres postgresql://...]

To compare server settings under the same load, name them with ``--variant NAME=FLAGS`` (repeatable,
e.g. ``--variant off= --variant audit="--audit-log-path /tmp/audit.log"``): the variants run in turn,
``--rounds`` times over, alternating, so a drift of the machine's load hits each variant alike; each
figure is printed per round and variant.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from minikube_py.testing import RunningServer, fresh_postgres_database, start_server

NS = "bench"
#: how many times each LIST is timed
LISTS = 5
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


def pod(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"pod-{i:05d}", "labels": {"app": "bench", "shard": str(i % 10)}},
        # addressed to a scheduler that does not exist, so the bench measures the API and store, not
        # the default scheduler's reaction (status writes and events) to 10,000 unschedulable pods
        "spec": {
            "schedulerName": "bench-no-scheduler",
            "containers": [
                {
                    "name": "app",
                    "image": "busybox:1.36",
                    "command": ["sleep", "3600"],
                    "ports": [{"containerPort": 8080}],
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                }
            ],
        },
    }


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


async def run_pool(n: int, concurrency: int, make: Any) -> tuple[float, list[float]]:
    """Run ``make(i)`` for i in range(n) with ``concurrency`` workers; (elapsed, latencies)."""
    latencies: list[float] = []
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            t0 = time.perf_counter()
            await make(i)
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start, latencies


async def bench(servers: list[RunningServer], pods: int, concurrency: int, watchers: int) -> dict[str, str]:
    """Every figure; request ``i`` goes to ``servers[i % len(servers)]`` (one cluster: one CA, one
    admin token)."""
    server = servers[0]
    headers = {"Authorization": f"Bearer {server.admin_token}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(ssl=server.ssl_context(), limit=concurrency + watchers + 10)
    out: dict[str, str] = {}
    bases = [f"{s.url}/api/v1/namespaces/{NS}/pods" for s in servers]
    base = bases[0]

    def at(i: int) -> str:
        return bases[i % len(bases)]

    async with aiohttp.ClientSession(connector=connector, headers=headers) as http:
        async with http.post(f"{server.url}/api/v1/namespaces", json={"metadata": {"name": NS}}) as r:
            assert r.status in (201, 409), await r.text()

        async def create(i: int) -> None:
            async with http.post(at(i), data=json.dumps(pod(i))) as r:
                assert r.status == 201, await r.text()
                await r.read()

        elapsed, lat = await run_pool(pods, concurrency, create)
        out["creates/s"] = f"{pods / elapsed:,.0f}"
        out[f"create p50/p99 ms (c={concurrency})"] = f"{pct(lat, 0.5):.1f} / {pct(lat, 0.99):.1f}"
        await all_caught_up(http, bases, pods)

        async def get(i: int) -> None:
            async with http.get(f"{at(i)}/pod-{i % pods:05d}") as r:
                assert r.status == 200
                await r.read()

        elapsed, lat = await run_pool(pods, concurrency, get)
        out["gets/s"] = f"{pods / elapsed:,.0f}"

        # a LIST's figure is the time until the whole answer is in, as the server's (decoding 16 MB with
        # the client's json module would add ~0.4 s of the client's own); the items are counted after.
        # Each LIST is timed LISTS times and the median printed with the slowest: one LIST alone may or
        # may not meet a full collection of the server's garbage collector, which moved a single
        # figure by 0.25 s between two builds of equal average cost
        for label, accept, field in (("", None, "items"), (" as Table", TABLE, "rows")):
            took_each = []
            for _ in range(LISTS):
                t0 = time.perf_counter()
                async with http.get(base, headers={"Accept": accept} if accept else None) as r:
                    raw = await r.read()
                took_each.append(time.perf_counter() - t0)
            count = len(json.loads(raw)[field])
            out[f"LIST {count} pods{label} (s, median/max of {LISTS})"] = (
                f"{statistics.median(took_each):.3f} / {max(took_each):.3f}"
            )

        async def patch(i: int) -> None:
            body = json.dumps({"metadata": {"labels": {"touched": str(i)}}})
            async with http.patch(
                f"{at(i)}/pod-{i % pods:05d}", data=body, headers={"Content-Type": "application/merge-patch+json"}
            ) as r:
                assert r.status == 200, await r.text()
                await r.read()

        _, lat = await run_pool(min(pods, 2000), concurrency, patch)
        out[f"patch p50/p99 ms (c={concurrency})"] = f"{pct(lat, 0.5):.1f} / {pct(lat, 0.99):.1f}"

        out.update(await watch_latency(http, bases, watchers))
    return out


async def all_caught_up(http: aiohttp.ClientSession, bases: list[str], pods: int) -> None:
    """Until every server lists all ``pods`` (the others learn of the creates through PostgreSQL a
    moment later), so that no read below meets a pod its server has not seen yet."""
    for url in bases[1:]:
        for _ in range(600):
            async with http.get(url) as r:
                if len((await r.json())["items"]) == pods:
                    break
            await asyncio.sleep(0.1)
        else:
            raise RuntimeError(f"{url} never listed all {pods} pods")


async def watch_latency(http: aiohttp.ClientSession, bases: list[str], watchers: int) -> dict[str, str]:
    """``watchers`` clients, spread over the servers, watch one pod; each of 200 paced updates (through
    the first server) stamps its send time, and every watcher records when it saw it."""
    base = bases[0]
    async with http.get(f"{base}/pod-00000") as r:
        rv = (await r.json())["metadata"]["resourceVersion"]
    delays: list[float] = []
    updates = 200
    ready = asyncio.Event()
    opened = 0

    async def watcher(n: int) -> None:
        nonlocal opened
        url = f"{bases[n % len(bases)]}?watch=true&resourceVersion={rv}&fieldSelector=metadata.name%3Dpod-00000"
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=None)) as r:
            opened += 1
            if opened == watchers:
                ready.set()
            seen = 0
            async for line in r.content:
                event = json.loads(line)
                stamp = event["object"]["metadata"].get("annotations", {}).get("sent")
                if stamp:
                    delays.append(time.time() - float(stamp))
                    seen += 1
                    if seen == updates:
                        return

    tasks = [asyncio.create_task(watcher(n)) for n in range(watchers)]
    await asyncio.wait_for(ready.wait(), 30)
    await asyncio.sleep(0.5)
    for _ in range(updates):
        body = json.dumps({"metadata": {"annotations": {"sent": repr(time.time())}}})
        async with http.patch(
            f"{base}/pod-00000", data=body, headers={"Content-Type": "application/merge-patch+json"}
        ) as r:
            assert r.status == 200
        await asyncio.sleep(0.01)
    await asyncio.wait_for(asyncio.gather(*tasks), 120)
    return {f"watch delivery p50/p99 ms ({watchers} watchers)": f"{pct(delays, 0.5):.1f} / {pct(delays, 0.99):.1f}"}


def run_one(extra: list[str], args: argparse.Namespace, servers: int = 1) -> dict[str, str]:
    """The figures of ``servers`` servers started with ``extra``; the further ones join the first's
    cluster with its token (on PostgreSQL)."""
    with tempfile.TemporaryDirectory() as tmp:
        running = [start_server(Path(tmp) / "s0", *extra)]
        try:
            for n in range(1, servers):
                running.append(start_server(Path(tmp) / f"s{n}", *extra, "--token", running[0].node_token))
            before = sum(cpu_seconds(server.process.pid) for server in running)
            figures = asyncio.run(bench(running, args.pods, args.concurrency, args.watchers))
            # the same requests in every run: the servers' CPU time for them is the figure that a busy
            # machine (other processes taking the cores) disturbs least
            after = sum(cpu_seconds(server.process.pid) for server in running)
            figures["server CPU s for the whole load"] = f"{after - before:.2f}"
            return figures
        finally:
            for server in running:
                server.stop()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_on_fresh_postgres(base: str, args: argparse.Namespace, servers: int) -> dict[str, str]:
    """A scratch database on ``base``'s server for the run, dropped afterwards."""

    async def scenario() -> dict[str, str]:
        async with fresh_postgres_database(base) as url:
            return await asyncio.to_thread(run_one, ["--datastore", url], args, servers)

    return asyncio.run(scenario())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--watchers", type=int, default=100)
    parser.add_argument("--postgres", help="also run on a scratch database of this PostgreSQL server")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=FLAGS",
        help="server flags to compare (repeatable); the runs alternate between variants",
    )
    parser.add_argument("--rounds", type=int, default=1, help="runs of each variant (with --variant)")
    args = parser.parse_args()
    results: dict[str, dict[str, str]] = {}
    if args.variant:
        variants = [(name, shlex.split(flags)) for name, _, flags in (v.partition("=") for v in args.variant)]
        for round_ in range(1, args.rounds + 1):
            for name, flags in variants:
                results[f"sqlite {name} (round {round_})"] = run_one(flags, args)
    else:
        results["sqlite"] = run_one([], args)
    if args.postgres:
        results["postgresql, 1 server"] = run_on_fresh_postgres(args.postgres, args, 1)
        results["postgresql, 3 servers"] = run_on_fresh_postgres(args.postgres, args, 3)
    for name, figures in results.items():
        print(f"== {name}")
        for key, value in figures.items():
            print(f"  {key:45s} {value}")


if __name__ == "__main__":
    main()
