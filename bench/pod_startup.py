"""Pod start-up latency on one node, next to the floor and next to Docker Swarm on the same engine.

    .venv/bin/python bench/pod_startup.py [--pods 30] [--replicas 50] [--no-swarm]

1. Floor: what the agent cannot beat — a pause container and an app container created and started
   straight through aiodocker, one pod after another, app joined to the pause container's network
   namespace exactly as the agent does it. Prints p50/p99 per pod.
2. pykube: ``pykube server`` with its embedded agent (a subprocess, as a user runs it); pods created one
   after another through the API, each timed from the POST to the moment a watch shows it Running.
   Prints p50/p99 and the ratio to the floor (aim: within 1.3x).
3. A ReplicationController of ``--replicas`` pods: seconds from the POST until all are Running.
4. Docker Swarm on the same engine: ``docker service create --replicas N`` until N of its containers
   started, seen on one ``docker events`` stream as pykube's pods are seen on one watch (aim: pykube
   faster). The swarm is created for the run and left again afterwards if it was not there before.

Needs root and Docker (scripts/docker.sh installs and starts it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiodocker
from testbed import BUSYBOX_IMAGE, ensure_docker

from minikube_py.agent.runtime.docker import DockerRuntime
from minikube_py.agent.runtime.pause import ensure_pause_image
from minikube_py.client.kubeconfig import load_kubeconfig
from minikube_py.client.rest import ApiClient, Obj
from minikube_py.client.watching import Listing, watch_forever
from minikube_py.testing import RunningServer, remove_node_containers, start_server

NAMESPACE = "default"
SWARM_SERVICE = "pykube-bench"
BENCH_NODE = "pykube-bench"
FLOOR_NETWORK = "pykube-bench-floor"
FLOOR_LABEL = "io.pykube.bench"
#: seconds any one phase may take before the bench gives up
WAIT = 300.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> str:
    return f"p50 {statistics.median(values) * 1000:7.1f} ms   p99 {percentile(values, 0.99) * 1000:7.1f} ms"


async def floor(count: int) -> list[float]:
    """Per pod: create + start the pause container, then create + start the app container in its
    network namespace. Containers are removed afterwards, outside the timing."""
    runtime = DockerRuntime()
    pause = await ensure_pause_image(runtime)
    await runtime.close()
    docker = aiodocker.Docker()
    timings: list[float] = []
    try:
        with contextlib.suppress(aiodocker.DockerError):
            await docker.networks.create({"Name": FLOOR_NETWORK, "Driver": "bridge"})
        for i in range(count):
            start = time.perf_counter()
            sandbox = await docker.containers.create(
                {"Image": pause, "Labels": {FLOOR_LABEL: "1"}, "HostConfig": {"NetworkMode": FLOOR_NETWORK}},
                name=f"bench-floor-pause-{i}",
            )
            await sandbox.start()
            app = await docker.containers.create(
                {
                    "Image": BUSYBOX_IMAGE,
                    "Cmd": ["sleep", "3600"],
                    "Labels": {FLOOR_LABEL: "1"},
                    "HostConfig": {"NetworkMode": f"container:{sandbox.id}"},
                },
                name=f"bench-floor-app-{i}",
            )
            await app.start()
            timings.append(time.perf_counter() - start)
    finally:
        for c in await docker.containers.list(all=True, filters={"label": [FLOOR_LABEL]}):
            await c.delete(force=True)
        with contextlib.suppress(aiodocker.DockerError):
            await (await docker.networks.get(FLOOR_NETWORK)).delete()
        await docker.close()
    return timings


def bench_pod(name: str, labels: dict[str, str] | None = None) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {"bench": "startup"}},
        "spec": {
            "terminationGracePeriodSeconds": 0,
            "containers": [
                {"name": "app", "image": BUSYBOX_IMAGE, "command": ["sleep", "3600"], "imagePullPolicy": "Never"}
            ],
        },
    }


class RunningWatch:
    """Reports when pods matching a selector reach phase Running, from one long watch."""

    def __init__(self, client: ApiClient, selector: str) -> None:
        self.running: dict[str, float] = {}
        self.changed = asyncio.Event()
        self._task = asyncio.create_task(self._watch(client, selector))

    async def _watch(self, client: ApiClient, selector: str) -> None:
        path = f"/api/v1/namespaces/{NAMESPACE}/pods"
        async for item in watch_forever(client, path, label_selector=selector):
            pods = item.items if isinstance(item, Listing) else [item.object]
            for pod in pods:
                if (pod.get("status") or {}).get("phase") == "Running":
                    self.running.setdefault(pod["metadata"]["name"], time.perf_counter())
                    self.changed.set()

    async def until(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(WAIT):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@contextlib.asynccontextmanager
async def cluster(data_dir: Path) -> AsyncIterator[tuple[RunningServer, ApiClient]]:
    """A server with its embedded agent on a node of its own; every container of that node is removed
    afterwards (pods still terminating when the server stops would otherwise stay behind)."""
    server = start_server(
        data_dir,
        "--node-name",
        BENCH_NODE,
        "--node-ip",
        "127.0.0.1",
        "--kubelet-port",
        "0",
        "--cluster-cidr",
        "10.247.0.0/16",
        agent=True,
    )
    try:
        async with ApiClient(load_kubeconfig(server.kubeconfig)) as client:
            await wait_for_ready_node(client)
            yield server, client
    finally:
        server.stop()
        await asyncio.to_thread(remove_node_containers, BENCH_NODE)


async def wait_for_ready_node(client: ApiClient) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        nodes = (await client.list("/api/v1/nodes"))["items"]
        for node in nodes:
            conditions = (node.get("status") or {}).get("conditions") or []
            if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions) and node["spec"].get("podCIDR"):
                return
        await asyncio.sleep(0.2)
    raise TimeoutError("the embedded agent's node did not become Ready")


async def pods_one_by_one(client: ApiClient, count: int) -> list[float]:
    watch = RunningWatch(client, "bench=startup")
    path = f"/api/v1/namespaces/{NAMESPACE}/pods"
    timings: list[float] = []
    try:
        await client.create(path, bench_pod("warmup"))  # first pod pays for the pause image and network
        await watch.until(lambda: "warmup" in watch.running)
        for i in range(count):
            name = f"startup-{i}"
            start = time.perf_counter()
            await client.create(path, bench_pod(name))
            await watch.until(lambda n=name: n in watch.running)
            timings.append(watch.running[name] - start)
    finally:
        await watch.close()
        with contextlib.suppress(Exception):
            await client.request("DELETE", path, params={"labelSelector": "bench=startup"})
    return timings


async def replication_controller(client: ApiClient, replicas: int) -> float:
    watch = RunningWatch(client, "bench=rc")
    rc = {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": "bench-rc"},
        "spec": {
            "replicas": replicas,
            "selector": {"bench": "rc"},
            "template": {"metadata": {"labels": {"bench": "rc"}}, "spec": bench_pod("x", {"bench": "rc"})["spec"]},
        },
    }
    try:
        start = time.perf_counter()
        await client.create(f"/api/v1/namespaces/{NAMESPACE}/replicationcontrollers", rc)
        await watch.until(lambda: len(watch.running) >= replicas)
        return max(watch.running.values()) - start
    finally:
        await watch.close()
        with contextlib.suppress(Exception):
            await client.delete(f"/api/v1/namespaces/{NAMESPACE}/replicationcontrollers/bench-rc")


async def wait_pods_gone(client: ApiClient) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if not (await client.list(f"/api/v1/namespaces/{NAMESPACE}/pods"))["items"]:
            return
        await asyncio.sleep(0.5)


def swarm(replicas: int) -> float:
    """Seconds from ``docker service create`` until ``replicas`` of its containers have started.

    Observed as pykube is, through one stream of changes (``docker events``, started before the
    service, as pykube's pods are seen on one watch), not by polling: a ``docker ps`` 20 times a
    second is a CLI process and a full container listing each time, which on 2 cores took enough CPU
    from the engine to double Swarm's time (36-56 s for 50 replicas against ~16 s unobserved)."""

    def docker(*args: str) -> str:
        return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout.strip()

    joined = docker("info", "--format", "{{.Swarm.LocalNodeState}}") == "active"
    if not joined:
        docker("swarm", "init", "--advertise-addr", "127.0.0.1")
    events = subprocess.Popen(
        [
            "docker",
            "events",
            "--filter",
            "type=container",
            "--filter",
            "event=start",
            "--filter",
            f"label=com.docker.swarm.service.name={SWARM_SERVICE}",
            "--format",
            "{{.ID}}",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        start = time.perf_counter()
        docker(
            "service",
            "create",
            "--detach",
            "--name",
            SWARM_SERVICE,
            "--replicas",
            str(replicas),
            "--no-resolve-image",
            BUSYBOX_IMAGE,
            "sleep",
            "3600",
        )
        return start_to_started(events, start, replicas)
    finally:
        events.kill()
        events.wait()
        subprocess.run(["docker", "service", "rm", SWARM_SERVICE], capture_output=True, check=False)
        if not joined:
            subprocess.run(["docker", "swarm", "leave", "--force"], capture_output=True, check=False)


def start_to_started(events: subprocess.Popen[str], start: float, replicas: int) -> float:
    """Read container ids off ``events`` until ``replicas`` distinct ones started; a watchdog ends
    the stream after 300 s so a swarm that never gets there fails the bench rather than hanging it."""
    assert events.stdout is not None
    watchdog = threading.Timer(300, events.kill)
    watchdog.start()
    started: set[str] = set()
    try:
        for line in events.stdout:
            started.add(line.strip())
            if len(started) >= replicas:
                return time.perf_counter() - start
    finally:
        watchdog.cancel()
    raise TimeoutError(f"swarm started {len(started)} of {replicas} replicas in 300 s")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=30)
    parser.add_argument("--replicas", type=int, default=50)
    parser.add_argument("--no-swarm", action="store_true")
    args = parser.parse_args()
    ensure_docker()

    base = await floor(args.pods)
    print(f"floor (aiodocker, pause + app)      {summary(base)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="pykube-bench-") as tmp:
        async with cluster(Path(tmp) / "data") as (_, client):
            ours = await pods_one_by_one(client, args.pods)
            ratio = statistics.median(ours) / statistics.median(base)
            ratio99 = percentile(ours, 0.99) / percentile(base, 0.99)
            print(
                f"pykube create -> Running            {summary(ours)}   "
                f"(x{ratio:.2f} p50, x{ratio99:.2f} p99 of the floor)",
                flush=True,
            )
            await wait_pods_gone(client)
            rc_seconds = await replication_controller(client, args.replicas)
            print(f"pykube RC of {args.replicas}: all Running after   {rc_seconds:7.2f} s", flush=True)
            await wait_pods_gone(client)
    if not args.no_swarm:
        swarm_seconds = swarm(args.replicas)
        print(f"docker swarm service of {args.replicas}: running  {swarm_seconds:7.2f} s", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
