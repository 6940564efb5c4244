"""A node that cannot do part of its job says so in its conditions and events, and recovers alone.

As a user meets it: the Docker engine behind a node stops answering, or the disk under the node's
data fills up. The agent keeps running; ``kubectl describe node`` shows ``Ready=False`` with the
engine's error and what to do, or ``DiskPressure=True`` with the free space; Warning events say when
it started and Normal ones when it ended; the log has one line per change, no tracebacks.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_helpers import start_agent_server, wait_for
from kubectl_helpers import Kubectl
from support import ensure_docker

from minikube_py.testing import remove_node_containers, start_server

DOCKER_SOCKET = "/var/run/docker.sock"


class EngineRelay:
    """A unix socket that passes every connection through to the local engine, until cut: the
    engine as a node sees it when dockerd stops, without stopping the engine the other tests use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []

    def start(self) -> None:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.path.unlink(missing_ok=True)
        listener.bind(str(self.path))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Refuse new connections and break the open ones, as a stopped engine does."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        self.path.unlink(missing_ok=True)
        for sock in self._open:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            engine.connect(DOCKER_SOCKET)
            self._open += [client, engine]
            for source, sink in ((client, engine), (engine, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def condition(k: Kubectl, node: str, kind: str) -> dict[str, str]:
    """The node's condition of type ``kind``; {} while it has none, or before the node registered (a
    server is up before its agent has made its Lease and then its Node)."""
    done = k.run("get", "node", node, "-o", "json", check=False)
    if done.returncode != 0:
        assert "NotFound" in done.stderr, done.stderr
        return {}
    found = json.loads(done.stdout)
    return next((c for c in found["status"].get("conditions", []) if c["type"] == kind), {})


def node_events(k: Kubectl, node: str) -> str:
    return k.out(
        "get",
        "events",
        "--field-selector",
        f"involvedObject.kind=Node,involvedObject.name={node}",
        "-o",
        "custom-columns=T:.type,R:.reason",
        "--no-headers",
    )


def test_an_engine_that_stops_answering_makes_the_node_not_ready_until_it_is_back(tmp_path: Path) -> None:
    ensure_docker()
    node = "pykube-e2e-enginedown"
    relay = EngineRelay(tmp_path / "docker.sock")
    relay.start()
    remove_node_containers(node)
    server = start_agent_server(
        tmp_path / "data",
        node,
        "--proxy-mode",
        "none",
        "--docker-host",
        f"unix://{relay.path}",
        cluster_cidr="10.249.0.0/16",
    )
    k = Kubectl(server, "default")
    try:
        pid = server.process.pid
        relay.cut()
        wait_for(lambda: condition(k, node, "Ready").get("status") == "False", "Ready=False on the node", timeout=60)
        ready = condition(k, node, "Ready")
        assert ready["reason"] == "KubeletNotReady"
        assert ready["message"].startswith(f"container runtime is down: unix://{relay.path} does not answer (")
        described = " ".join(k.out("describe", "node", node).split())
        assert "Ready False" in described and "start Docker (`systemctl start docker`)" in described
        wait_for(lambda: "Warning KubeletNotReady" in " ".join(node_events(k, node).split()), "a Warning event")
        # the node lifecycle controller taints it, as Kubernetes' does: no new pods, and its pods go once
        # their toleration of the taint (five minutes by default) runs out
        wait_for(lambda: not_ready_taints(k, node) == ["NoExecute", "NoSchedule"], "the not-ready taints")

        relay.start()
        wait_for(lambda: condition(k, node, "Ready").get("status") == "True", "Ready=True again", timeout=60)
        assert "Normal NodeReady" in " ".join(node_events(k, node).split())
        wait_for(lambda: not not_ready_taints(k, node), "the not-ready taints to come off")
        assert server.process.poll() is None and server.process.pid == pid
        log = server.log_path.read_text()
        assert log.count("runtime: container runtime is down") == 1 and "Traceback" not in log, log[-3000:]
    finally:
        relay.cut()
        server.stop()
        remove_node_containers(node)


def not_ready_taints(k: Kubectl, node: str) -> list[str]:
    taints = json.loads(k.out("get", "node", node, "-o", "json"))["spec"].get("taints") or []
    return sorted(t["effect"] for t in taints if t["key"] == "node.kubernetes.io/not-ready")


def pod_phase(k: Kubectl, name: str) -> str:
    return str(k.json("get", "pod", name)["status"].get("phase", ""))


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 MiB tmpfs for the server's data dir: small enough to fill in a test."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,mode=0700", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_sets_disk_pressure_and_freeing_it_clears_it(small_disk: Path, tmp_path: Path) -> None:
    node = "pykube-e2e-diskfull"
    server = start_server(small_disk / "data", "--node-name", node, "--agent-runtime", "fake", agent=True)
    k = Kubectl(server, "default")
    try:
        wait_for(lambda: condition(k, node, "DiskPressure").get("status") == "False", "the node to report")
        # the node's ephemeral-storage is its data directory's filesystem, less the 10% kept free
        resources = json.loads(k.out("get", "node", node, "-o", "json"))["status"]
        assert resources["capacity"]["ephemeral-storage"] == "64Mi"
        assert resources["allocatable"]["ephemeral-storage"] == str((64 << 20) - 6710886)  # 10% as a float32
        # two pods that write to the node's disk (the fake runtime's FAKE_DISK), neither asking for room
        for name, writes in (("big", "10Mi"), ("small", "1Mi")):
            writer = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name},
                "spec": {
                    "terminationGracePeriodSeconds": 0,
                    "containers": [
                        {"name": "app", "image": "busybox", "env": [{"name": "FAKE_DISK", "value": writes}]}
                    ],
                },
            }
            k.run("apply", "-f", "-", input=json.dumps(writer))
        for name in ("big", "small"):
            wait_for(lambda name=name: pod_phase(k, name) == "Running", f"pod {name} to run")
        free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
        filler = small_disk / "filler"
        # leave about 7% of the 64 MiB free: under the 10% threshold, yet room for the datastore's
        # write-ahead log on the same disk (at 4% it could fill the disk, and the node's status write failed)
        with open(filler, "wb") as f:
            f.write(b"\0" * (free - (64 << 20) * 7 // 100))
        wait_for(lambda: condition(k, node, "DiskPressure").get("status") == "True", "DiskPressure=True", timeout=60)
        pressure = condition(k, node, "DiskPressure")
        assert pressure["reason"] == "KubeletHasDiskPressure"
        assert f"{small_disk}/data" in pressure["message"] and "under the 10% the node needs" in pressure["message"]
        assert "Warning KubeletHasDiskPressure" in " ".join(node_events(k, node).split())
        # no unused image to remove: the node evicts the pod writing most, alone, as the kubelet does
        wait_for(lambda: pod_phase(k, "big") == "Failed", "the pod writing most to be evicted", timeout=60)
        assert pod_phase(k, "small") == "Running", json.dumps(k.json("get", "pod", "small")["status"])[:600]
        evicted = k.json("get", "pod", "big")["status"]
        assert evicted["reason"] == "Evicted"
        assert evicted["message"].startswith(
            "The node was low on resource: ephemeral-storage. Threshold quantity: 6710886, available: "
        )
        assert evicted["message"].endswith(
            "Container app was using 10Mi, request is 0, has larger consumption of ephemeral-storage. "
        )
        assert "Warning EvictionThresholdMet" in " ".join(node_events(k, node).split())
        wait_for(lambda: pod_phase(k, "small") == "Failed", "the next pod to be evicted while the disk is full")
        # meanwhile the node refuses a new pod, even one bound to it past the scheduler and its taint
        bound = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "late"},
            "spec": {"nodeName": node, "containers": [{"name": "app", "image": "busybox", "resources": {}}]},
        }
        k.run("apply", "-f", "-", input=json.dumps(bound))
        wait_for(lambda: k.json("get", "pod", "late")["status"].get("phase") == "Failed", "the pod to be refused")
        refused = k.json("get", "pod", "late")["status"]
        assert (refused["reason"], refused["message"]) == (
            "Evicted",
            "Pod was rejected: The node had condition: [DiskPressure]. ",
        )
        k.run("delete", "pod", "late", "big", "small")

        filler.unlink()
        wait_for(lambda: condition(k, node, "DiskPressure").get("status") == "False", "DiskPressure=False", timeout=60)
        assert "Normal NodeHasNoDiskPressure" in " ".join(node_events(k, node).split())
    finally:
        server.stop()
