"""Scheduler throughput against the real server with 1,000 fake nodes.

    .venv/bin/python bench/scheduler.py [--pods 10000] [--nodes 1000] [--replicas 1000] [--profile FILE]
                                        [--agents process|thread]

Starts ``pykube server`` (a subprocess, as a user would) with node lifecycle on, and ``--nodes`` fake
nodes: real agents on the fake runtime (minikube_py.agent.fleet, kubemark's hollow nodes) that register,
renew their leases, and run the pods bound to them (Running, through the same pod workers and status
code as a node on Docker). By default they run in one ``pykube agent --runtime fake --count`` process;
``--agents thread`` runs them as a fleet in a thread of this process instead. Measured on 2 cores
(loaded by other work, runs back to back), the two disturb the server about as much at 1,000 nodes
(2,000 pods bound at 286/s in the process and 296/s in the thread; 118/s and 137/s in an earlier
pair) and the process less at 300 (255/s against 69/s): either way the agents' CPU comes from the
same two cores, but a thread also takes the interpreter lock from the bench's own client, whose
creates then slow down (449/s against 301/s), so only the process leaves the client's figures as
they were. Three agent processes instead of one took more from the server (61/s). Every node gets a
pod subnet (the server's --node-cidr-mask-size is sized for them). Then:

1. creates ``--pods`` pods through the API from many concurrent requests and reports pods created
   and bound per second and the time until every pod is bound (bindings watched on a pod watch);
2. creates one ReplicaSet of ``--replicas`` and reports the time until all its pods exist and are
   bound (skipped, with a note, when the server has no ReplicaSet controller).

With ``--profile`` the server is sampled by py-spy during phase 1 and a summary of where its time
goes (own time by function, and time inside pykube's modules) is printed; the raw samples stay in FILE.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from minikube_py.agent.fleet import Fleet, FleetThread
from minikube_py.client.kubeconfig import load_kubeconfig
from minikube_py.client.rest import ApiClient, Obj
from minikube_py.client.watching import Listing, watch_forever
from minikube_py.config import AgentConfig
from minikube_py.testing import RunningServer, start_server

WRITERS = 64
#: seconds without watch news after which the bench lists pods instead
QUIET = 5.0
NAMESPACE = "default"
PY_SPY = Path(sys.executable).parent / "py-spy"
#: what each node offers: 32 CPUs, 128 GiB, 110 pods
CPUS, MEMORY = 32, "128Gi"


def node_cidr_mask_size(nodes: int) -> int:
    """A subnet for every node in the server's default /16 cluster CIDR (/24 while that suffices)."""
    return max(24, 16 + math.ceil(math.log2(max(nodes, 1))))


@contextlib.contextmanager
def fake_nodes(server: RunningServer, nodes: int, where: str, tmp: Path) -> Iterator[None]:
    """``nodes`` fake nodes, node-1 to node-N: a ``pykube agent --count`` process, or a fleet on a thread
    of this process."""
    config = AgentConfig(
        kubeconfig=str(server.kubeconfig),
        node_name="node-%d",
        count=nodes,
        runtime="fake",
        node_ip="127.0.0.1",
        data_dir=tmp / "agents",
        fake_cpus=CPUS,
        fake_memory=MEMORY,
    )
    if where == "thread":
        with FleetThread(Fleet(config)):
            yield
        return
    with open(tmp / "agents.log", "ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "minikube_py.cli.main",
                "agent",
                "--kubeconfig",
                str(server.kubeconfig),
                "--runtime",
                "fake",
                "--count",
                str(nodes),
                "--node-name",
                config.node_name,
                "--node-ip",
                config.node_ip,
                "--data-dir",
                str(config.data_dir),
                "--fake-cpus",
                str(CPUS),
                "--fake-memory",
                MEMORY,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield
    finally:
        process.terminate()
        process.wait(30)


def container() -> Obj:
    return {
        "name": "app",
        "image": "registry.k8s.io/pause:3.9",
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
    }


def pod(i: int) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"bench-{i:05d}", "namespace": NAMESPACE, "labels": {"app": "bench"}},
        "spec": {"containers": [container()]},
    }


def replica_set(replicas: int) -> Obj:
    labels = {"app": "bench-rs"}
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": "bench-rs", "namespace": NAMESPACE},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container()]}},
        },
    }


async def spread(total: int, workers: int, one: Callable[[int], Awaitable[object]]) -> None:
    async def worker(first: int) -> None:
        for i in range(first, total, workers):
            await one(i)

    await asyncio.gather(*(worker(w) for w in range(workers)))


class BindingWatch:
    """Follows pods (optionally by label) and notes when each one was first seen and first bound."""

    def __init__(self, client: ApiClient, label_selector: str) -> None:
        self.client, self.selector = client, label_selector
        self.seen: dict[str, float] = {}
        self.bound: dict[str, float] = {}
        self.listed = asyncio.Event()
        self.changed = asyncio.Event()
        self.relisted = 0

    async def run(self) -> None:
        async for item in watch_forever(
            self.client, f"/api/v1/namespaces/{NAMESPACE}/pods", label_selector=self.selector
        ):
            pods = item.items if isinstance(item, Listing) else [item.object]
            now = time.perf_counter()
            for p in pods:
                name = p["metadata"]["name"]
                self.seen.setdefault(name, now)
                if p["spec"].get("nodeName"):
                    self.bound.setdefault(name, now)
            self.listed.set()
            self.changed.set()

    async def until(self, done: Callable[[], bool], limit: float) -> None:
        """Wait until ``done()``; if the watch goes quiet for a while meanwhile, list instead (and say
        so, since bind times then have the listing's granularity)."""
        deadline = time.perf_counter() + limit
        while not done():
            self.changed.clear()
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError(f"{len(self.bound)} of {len(self.seen)} pods bound when time ran out")
            try:
                await asyncio.wait_for(self.changed.wait(), min(remaining, QUIET))
            except TimeoutError:
                await self.relist()

    async def relist(self) -> None:
        listing = await self.client.list(f"/api/v1/namespaces/{NAMESPACE}/pods", label_selector=self.selector)
        now = time.perf_counter()
        fresh = 0
        for p in listing["items"]:
            name = p["metadata"]["name"]
            self.seen.setdefault(name, now)
            if p["spec"].get("nodeName") and name not in self.bound:
                self.bound[name] = now
                fresh += 1
        if fresh:
            self.relisted += fresh
            print(f"  (the watch went quiet for {QUIET:.0f} s; a listing found {fresh} more bound pods)")


@contextlib.contextmanager
def profiling(pid: int, out: Path | None):  # type: ignore[no-untyped-def]
    if out is None:
        yield
        return
    spy = subprocess.Popen(
        [str(PY_SPY), "record", "-f", "raw", "-r", "100", "--pid", str(pid), "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(1.0)  # let py-spy attach before the work starts
    try:
        yield
    finally:
        spy.send_signal(2)  # SIGINT: py-spy writes what it has and exits
        _, err = spy.communicate(timeout=60)
        if not out.exists():
            print(f"py-spy wrote nothing: {err.decode(errors='replace')[-500:]}")


#: where the server's event loop spends its time, by a frame that marks each kind of work
CATEGORIES = {
    "API: creating objects (pods, events)": "Registry.create (",
    "API: pods/binding": "bind (minikube_py/api/subresources.py",
    "API: pods/status patches": "patch_status",
    "API: serving watches": "ResourceHandlers._watch",
    "store: write loop": "SqlStore._write_loop",
    "store: event feed": "EventFeed.offer",
    "reconcilers: informers decoding watches": "Informer.run",
    "scheduler: decisions": "Scheduler.reconcile",
    "scheduler: binding requests": "Scheduler._bind",
    "scheduler: events": "EventRecorder.record",
    "TLS": "ssl.py",
}


def summarize_profile(raw: Path, top: int = 20) -> None:
    """The share of the event loop thread's samples per kind of work, then own time per function."""
    categories: Counter[str] = Counter()
    own: Counter[str] = Counter()
    loop_samples = other_samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        if "Runner.run (" not in stack:  # the loop's entry with asyncio's loop and with uvloop's
            other_samples += count  # the SQLite thread and other helpers
            continue
        loop_samples += count
        own[_short(stack.rsplit(";", 1)[-1])] += count
        for name, marker in CATEGORIES.items():
            if marker in stack:
                categories[name] += count
    if not loop_samples:
        print("  no samples")
        return
    print(f"\n  py-spy: {loop_samples} samples on the event loop thread, {other_samples} on other threads")
    print("  event loop time by kind of work (overlapping: a watch served to a reconciler counts in both):")
    for name, n in categories.most_common():
        print(f"    {100 * n / loop_samples:5.1f}%  {name}")
    print("  own time (leaf frame) on the event loop thread:")
    for name, n in own.most_common(top):
        print(f"    {100 * n / loop_samples:5.1f}%  {name}")


def _short(frame: str) -> str:
    """``func (path/to/module.py:123)`` -> ``func (module.py)``."""
    func, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    path = path.split("minikube_py/", 1)[1] if "minikube_py/" in path else path.rsplit("/", 1)[-1]
    return f"{func} ({path})"


async def nodes_ready(client: ApiClient, count: int, started: float, limit: float = 600) -> float:
    """Seconds from ``started`` until ``count`` nodes are Ready with their pod subnets."""
    while True:
        ready = sum(
            1
            for n in (await client.list("/api/v1/nodes"))["items"]
            if n["spec"].get("podCIDR")
            and any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions") or ())
        )
        took = time.perf_counter() - started
        if ready >= count:
            return took
        if took > limit:
            raise TimeoutError(f"{ready} of {count} nodes Ready after {took:.0f} s")
        await asyncio.sleep(0.5)


async def bench_pods(client: ApiClient, count: int) -> None:
    watch = BindingWatch(client, "app=bench")
    task = asyncio.create_task(watch.run())
    await watch.listed.wait()
    started = time.perf_counter()
    await spread(count, WRITERS, lambda i: client.create(f"/api/v1/namespaces/{NAMESPACE}/pods", pod(i)))
    created = time.perf_counter() - started
    await watch.until(lambda: len(watch.bound) >= count, limit=600)
    task.cancel()
    times = sorted(t - started for t in watch.bound.values())
    all_bound = times[-1]
    latencies = sorted(watch.bound[n] - watch.seen[n] for n in watch.bound)
    print(f"  created {count} pods in {created:.1f} s ({count / created:.0f}/s, {WRITERS} concurrent writers)")
    print(f"  all bound after {all_bound:.1f} s: {count / all_bound:.0f} pods/s bound end to end")
    steady = times[int(0.9 * count)] - times[int(0.1 * count)]
    print(f"  steady binding rate (10%..90% of pods): {0.8 * count / steady:.0f} pods/s")
    print(
        f"  create-to-bound latency seen by a watcher: median {latencies[len(latencies) // 2] * 1000:.0f} ms, "
        f"p99 {latencies[int(0.99 * len(latencies))] * 1000:.0f} ms"
    )


async def bench_replica_set(client: ApiClient, replicas: int) -> None:
    watch = BindingWatch(client, "app=bench-rs")
    task = asyncio.create_task(watch.run())
    await watch.listed.wait()
    started = time.perf_counter()
    await client.create(f"/apis/apps/v1/namespaces/{NAMESPACE}/replicasets", replica_set(replicas))
    try:
        await watch.until(lambda: len(watch.seen) > 0, limit=15)
    except TimeoutError:
        print("  no pod appeared within 15 s: this server has no ReplicaSet controller yet, skipped")
        return
    finally:
        if not watch.seen:
            task.cancel()
    await watch.until(lambda: len(watch.bound) >= replicas, limit=600)
    task.cancel()
    existed = max(watch.seen.values()) - started
    bound = max(watch.bound.values()) - started
    print(
        f"  {replicas} replicas: all pods existed after {existed:.1f} s, all bound after {bound:.1f} s "
        f"({replicas / bound:.0f} pods/s)"
    )
    listing = await client.list(f"/api/v1/namespaces/{NAMESPACE}/pods", label_selector=watch.selector)
    per_node = Counter(p["spec"]["nodeName"] for p in listing["items"])
    print(f"  spread: {replicas} replicas on {len(per_node)} distinct nodes (at most {max(per_node.values())} on one)")


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="pykube-bench-") as tmp:
        server = start_server(Path(tmp) / "data", "--node-cidr-mask-size", str(node_cidr_mask_size(args.nodes)))
        try:
            async with ApiClient(load_kubeconfig(server.kubeconfig), timeout=120) as client:
                started = time.perf_counter()
                with fake_nodes(server, args.nodes, args.agents, Path(tmp)):
                    took = await nodes_ready(client, args.nodes, started)
                    print(f"{args.nodes} fake nodes ({args.agents}) registered and Ready in {took:.1f} s")
                    await asyncio.sleep(2)  # let the informers take in the nodes
                    await phases(client, server, args)
        finally:
            server.stop()


async def phases(client: ApiClient, server: RunningServer, args: argparse.Namespace) -> None:
    print(f"\n{args.pods} pods created through the API:")
    with profiling(server.process.pid, args.profile):
        await bench_pods(client, args.pods)
    if args.profile is not None and args.profile.exists():
        summarize_profile(args.profile)
    if args.replicas:
        print(f"\none ReplicaSet of {args.replicas}:")
        await bench_replica_set(client, args.replicas)
    rss, peak = server_memory(server.process.pid)
    print(f"\nserver memory with {args.nodes} nodes and their pods: RSS {rss:.0f} MiB (peak {peak:.0f} MiB)")


def server_memory(pid: int) -> tuple[float, float]:
    """The server's resident memory now and at its peak (VmRSS, VmHWM), in MiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    rss, peak = (int(fields[name].split()[0]) / 1024 for name in ("VmRSS", "VmHWM"))
    return rss, peak


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--nodes", type=int, default=1_000)
    parser.add_argument("--replicas", type=int, default=1_000)
    parser.add_argument("--profile", type=Path, default=None, help="py-spy raw output file (enables profiling)")
    parser.add_argument(
        "--agents",
        choices=("process", "thread"),
        default="process",
        help="where the fake nodes run: a pykube agent process, or a thread of this process",
    )
    asyncio.run(main(parser.parse_args()))
