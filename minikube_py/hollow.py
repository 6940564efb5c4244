"""Hollow nodes: simulated kubelets for control-plane tests and benchmarks.

A hollow node registers a Node, renews its Lease, and plays the kubelet's part for pods bound to it
by writing their status through the API: Running and Ready at once, Succeeded or Failed after a
while when the pod asks for it (annotations below), and deleted for good once a graceful deletion
starts. No container runs. A node can be made to "fail" (stop heartbeating and stop touching its
pods) to exercise node lifecycle handling.

Pod annotations understood:
- ``hollow.pykube.io/run-seconds``: seconds until the containers exit (default: run forever);
- ``hollow.pykube.io/exit-code``: their exit code (default 0: Succeeded, else Failed);
- ``hollow.pykube.io/not-ready``: "true" keeps the pod Running but not Ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from minikube_py.client.errors import ConflictError, NotFoundError
from minikube_py.client.kubeconfig import load_kubeconfig
from minikube_py.client.rest import ApiClient, Obj
from minikube_py.client.watching import Listing, watch_forever
from minikube_py.model.times import rfc3339, rfc3339_micro
from minikube_py.model.volumebinding import LOCAL_PATH_ROOT_ANNOTATION
from minikube_py.testing import RunningServer, start_server

RUN_SECONDS = "hollow.pykube.io/run-seconds"
EXIT_CODE = "hollow.pykube.io/exit-code"
NOT_READY = "hollow.pykube.io/not-ready"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"


def _now() -> str:
    return rfc3339()


def _micro_now() -> str:
    return rfc3339_micro()


@dataclass
class HollowNode:
    name: str
    index: int
    capacity: dict[str, str]
    labels: dict[str, str]
    taints: list[Obj]
    alive: bool = True
    ips: Iterator[int] = field(default_factory=lambda: itertools.count(2))

    @property
    def address(self) -> str:
        return f"192.0.2.{self.index + 1}"

    def manifest(self) -> Obj:
        now = _now()
        return {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": self.name, "labels": {"kubernetes.io/hostname": self.name, "kubernetes.io/os": "linux",
                                                       "kubernetes.io/arch": "amd64", **self.labels},
                         # local-path volumes can be provisioned here; hollow pods mount nothing, so no
                         # file is ever made under this root
                         "annotations": {LOCAL_PATH_ROOT_ANNOTATION: f"/var/lib/pykube-hollow/{self.name}/storage"}},
            "spec": {"podCIDR": f"10.244.{self.index}.0/24", **({"taints": self.taints} if self.taints else {})},
            "status": {
                "capacity": self.capacity, "allocatable": self.capacity,
                "addresses": [{"type": "InternalIP", "address": self.address}, {"type": "Hostname", "address": self.name}],
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                "message": "hollow node is posting ready status", "lastHeartbeatTime": now,
                                "lastTransitionTime": now}],
                "nodeInfo": {"kubeletVersion": "v1.32.0-pykube", "containerRuntimeVersion": "hollow://0",
                             "osImage": "hollow", "kernelVersion": "0", "operatingSystem": "linux",
                             "architecture": "amd64"},
            },
        }


class HollowNodes:
    """Runs a set of hollow nodes against one API server until cancelled."""

    def __init__(self, client: ApiClient, names: list[str], *, cpu: str = "4", memory: str = "8Gi", pods: int = 110,
                 labels: dict[str, dict[str, str]] | None = None, taints: dict[str, list[Obj]] | None = None,
                 heartbeat: float = 2.0) -> None:
        self.client = client
        self.heartbeat = heartbeat
        capacity = {"cpu": cpu, "memory": memory, "pods": str(pods)}
        self.nodes = {name: HollowNode(name, i + 1, capacity, (labels or {}).get(name, {}), (taints or {}).get(name, []))
                      for i, name in enumerate(names)}
        self._timers: dict[str, asyncio.Task[None]] = {}

    def fail(self, name: str) -> None:
        """The node goes silent: no heartbeats, no pod updates (as if it lost power)."""
        self.nodes[name].alive = False

    def recover(self, name: str) -> None:
        self.nodes[name].alive = True

    async def register(self) -> None:
        """Create (or refresh) every Node object; call before ``run``."""
        for node in self.nodes.values():
            await self._register(node)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._heartbeats())
            tasks.create_task(self._pods())

    async def _register(self, node: HollowNode) -> None:
        try:
            await self.client.create("/api/v1/nodes", node.manifest())
        except ConflictError:
            await self.client.patch(f"/api/v1/nodes/{node.name}/status", {"status": node.manifest()["status"]})

    async def _heartbeats(self) -> None:
        while True:
            for node in self.nodes.values():
                if node.alive:
                    await self._renew(node)
            await asyncio.sleep(self.heartbeat)

    async def _renew(self, node: HollowNode) -> None:
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                 "metadata": {"name": node.name, "namespace": "kube-node-lease"},
                 "spec": {"holderIdentity": node.name, "leaseDurationSeconds": 40, "renewTime": _micro_now()}}
        try:
            await self.client.patch(f"{LEASES}/{node.name}", {"spec": lease["spec"]})
        except NotFoundError:
            with contextlib.suppress(ConflictError):
                await self.client.create(LEASES, lease)
        status = await self.client.get(f"/api/v1/nodes/{node.name}")
        conditions = (status.get("status") or {}).get("conditions") or []
        ready = next((c for c in conditions if c.get("type") == "Ready"), None)
        if ready is None or ready.get("status") != "True":
            await self.client.patch(f"/api/v1/nodes/{node.name}/status", {"status": node.manifest()["status"]})

    async def _pods(self) -> None:
        async for item in watch_forever(self.client, "/api/v1/pods"):
            pods = item.items if isinstance(item, Listing) else [item.object] if item.type != "DELETED" else []
            for pod in pods:
                await self._on_pod(pod)

    async def _on_pod(self, pod: Obj) -> None:
        node = self.nodes.get((pod.get("spec") or {}).get("nodeName", ""))
        if node is None or not node.alive:
            return
        md = pod["metadata"]
        path = f"/api/v1/namespaces/{md['namespace']}/pods/{md['name']}"
        if md.get("deletionTimestamp"):
            with contextlib.suppress(NotFoundError):
                await self.client.delete(path, grace_period_seconds=0)
            return
        status = pod.get("status") or {}
        if not status.get("startTime"):
            with contextlib.suppress(NotFoundError, ConflictError):
                await self.client.patch(f"{path}/status", {"status": self._running(node, pod)}, "strategic")
            run_for = (md.get("annotations") or {}).get(RUN_SECONDS)
            if run_for is not None:
                key = md["uid"]
                self._timers[key] = asyncio.create_task(self._finish(path, pod, float(run_for)))

    def _running(self, node: HollowNode, pod: Obj) -> Obj:
        now = _now()
        ready = "False" if (pod["metadata"].get("annotations") or {}).get(NOT_READY) == "true" else "True"
        containers = (pod.get("spec") or {}).get("containers") or []
        return {
            "phase": "Running", "hostIP": node.address, "podIP": f"10.244.{node.index}.{next(node.ips) % 250 + 2}",
            "startTime": now,
            "conditions": [{"type": t, "status": s, "lastTransitionTime": now} for t, s in (
                ("Initialized", "True"), ("Ready", ready), ("ContainersReady", ready), ("PodScheduled", "True"))],
            "containerStatuses": [{"name": c["name"], "image": c.get("image", ""), "imageID": "",
                                   "ready": ready == "True", "restartCount": 0, "started": True,
                                   "containerID": f"hollow://{pod['metadata']['uid']}-{c['name']}",
                                   "state": {"running": {"startedAt": now}}} for c in containers],
        }

    async def _finish(self, path: str, pod: Obj, after: float) -> None:
        await asyncio.sleep(after)
        code = int((pod["metadata"].get("annotations") or {}).get(EXIT_CODE, "0"))
        now = _now()
        reason = "Completed" if code == 0 else "Error"
        status: dict[str, Any] = {
            "phase": "Succeeded" if code == 0 else "Failed",
            "conditions": [{"type": "Ready", "status": "False", "reason": "PodCompleted", "lastTransitionTime": now},
                           {"type": "ContainersReady", "status": "False", "reason": "PodCompleted",
                            "lastTransitionTime": now}],
            "containerStatuses": [{"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": False,
                                   "restartCount": 0, "started": False,
                                   "state": {"terminated": {"exitCode": code, "reason": reason, "startedAt": now,
                                                            "finishedAt": now}}}
                                  for c in (pod.get("spec") or {}).get("containers") or []],
        }
        node = self.nodes.get(pod["spec"].get("nodeName", ""))
        if node is not None and node.alive:
            with contextlib.suppress(NotFoundError, ConflictError):
                await self.client.patch(f"{path}/status", {"status": status}, "strategic")


@contextlib.contextmanager
def hollow_nodes_in_thread(kubeconfig: Path, names: list[str], **options: Any) -> Iterator[HollowNodes]:
    """Run hollow nodes on their own event loop in a thread, for synchronous tests that drive
    kubectl. ``fail``/``recover`` on the yielded object are safe to call from the test thread."""
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> None:
        async with ApiClient(load_kubeconfig(kubeconfig)) as client:
            nodes = HollowNodes(client, names, **options)
            holder["nodes"], holder["loop"] = nodes, asyncio.get_running_loop()
            await nodes.register()
            task = asyncio.create_task(nodes.run())
            holder["task"] = task
            ready.set()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    thread = threading.Thread(target=lambda: asyncio.run(main()), name="hollow-nodes", daemon=True)
    thread.start()
    if not ready.wait(30):
        raise RuntimeError("hollow nodes did not start")
    try:
        yield holder["nodes"]
    finally:
        holder["loop"].call_soon_threadsafe(holder["task"].cancel)
        thread.join(10)


@contextlib.contextmanager
def server_with_hollow_nodes(data_dir: Path, names: list[str], *flags: str,
                             **options: Any) -> Iterator[tuple[RunningServer, HollowNodes]]:
    """A real ``pykube server`` (see minikube_py.testing) with hollow nodes joined, stopped on exit."""
    running = start_server(data_dir, *flags)
    try:
        with hollow_nodes_in_thread(running.kubeconfig, names, **options) as nodes:
            yield running, nodes
    finally:
        running.stop()
