"""Node lifecycle against the real server (short timings), fake nodes, the scheduler and the RC
controller: a node that stops heartbeating loses its pods to the healthy nodes, and comes back clean.

Timings: grace period 4 s, eviction timeout 6 s; the nodes renew their leases every 2 s.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fake_nodes import in_process_cluster

from minikube_py.agent.fleet import FleetThread
from minikube_py.testing import ServerEndpoint, eventually

Obj = dict[str, Any]
NODES = ["n1", "n2", "n3"]
GRACE, EVICTION = 4.0, 6.0
UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"
NS = "lifecycle"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerEndpoint, FleetThread]]:
    with in_process_cluster(
        tmp_path_factory.mktemp("nodelifecycle") / "data",
        NODES,
        "--node-monitor-grace-period",
        str(GRACE),
        "--pod-eviction-timeout",
        str(EVICTION),
    ) as (running, nodes):
        running.kubectl("create", "namespace", NS)
        yield running, nodes


def get(server: ServerEndpoint, path: str) -> Obj:
    status, body = server.request("GET", path)
    assert status == 200, body
    result: Obj = body
    return result


def node(server: ServerEndpoint, name: str) -> Obj:
    return get(server, f"/api/v1/nodes/{name}")


def node_when(server: ServerEndpoint, name: str, predicate: Callable[[Obj], bool]) -> Obj | None:
    found = node(server, name)
    return found if predicate(found) else None


def ready(obj: Obj) -> str | None:
    return next((c["status"] for c in obj.get("status", {}).get("conditions") or [] if c["type"] == "Ready"), None)


def taints_of(obj: Obj, key: str) -> list[Obj]:
    return [t for t in obj.get("spec", {}).get("taints") or [] if t["key"] == key]


def unreachable_taints(obj: Obj) -> list[Obj]:
    return taints_of(obj, UNREACHABLE)


def pods(server: ServerEndpoint, selector: str = "app=web") -> list[Obj]:
    items: list[Obj] = get(server, f"/api/v1/namespaces/{NS}/pods?labelSelector={selector}")["items"]
    return items


def tolerating_pod(name: str, node_name: str, taint: str) -> Obj:
    """A pod bound to ``node_name`` that tolerates the NoExecute ``taint`` for ever: it stays through it."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "nodeName": node_name,
            "containers": [{"name": "c", "image": "registry.example/keeper:1"}],
            "tolerations": [{"key": taint, "operator": "Exists", "effect": "NoExecute"}],
        },
    }


def healthy_spread(server: ServerEndpoint, count: int, avoid: str = "") -> Counter[str] | None:
    """Pods per node once exactly ``count`` web pods exist, all Running and Ready, none on ``avoid``."""
    found = pods(server)
    if len(found) != count or any(
        p["spec"].get("nodeName") in (None, avoid) or ready(p) != "True" or p["metadata"].get("deletionTimestamp")
        for p in found
    ):
        return None
    return Counter(p["spec"]["nodeName"] for p in found)


def test_a_silent_node_loses_its_pods_to_healthy_nodes_and_comes_back_clean(
    cluster: tuple[ServerEndpoint, FleetThread],
) -> None:
    server, nodes = cluster
    rc = {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 6,
            "selector": {"app": "web"},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "registry.example/web:1"}]},
            },
        },
    }
    server.kubectl("-n", NS, "apply", "-f", "-", input=json.dumps(rc))
    spread = eventually(lambda: healthy_spread(server, 6), "6 ready web pods")
    assert set(spread) == set(NODES), spread
    # a pod that tolerates the unreachable taint for ever stays through the outage
    server.kubectl("-n", NS, "apply", "-f", "-", input=json.dumps(tolerating_pod("keeper", "n1", UNREACHABLE)))
    eventually(lambda: ready(get(server, f"/api/v1/namespaces/{NS}/pods/keeper")) == "True", "keeper to be ready")
    doomed = {p["metadata"]["name"] for p in pods(server) if p["spec"]["nodeName"] == "n1"}

    nodes.stop("n1")  # its agent is killed: no heartbeat, no pod updates
    failed = time.monotonic()
    lost = eventually(lambda: node_when(server, "n1", lambda n: ready(n) == "Unknown"), "n1 Ready=Unknown")
    noticed = time.monotonic() - failed
    # the lease may have been renewed just before the failure; the controller rechecks at the deadline
    assert noticed < GRACE + 2 + 3, f"n1 was noticed after {noticed:.1f}s"
    condition = next(c for c in lost["status"]["conditions"] if c["type"] == "Ready")
    assert (condition["reason"], condition["message"]) == ("NodeStatusUnknown", "Kubelet stopped posting node status.")
    taints = eventually(lambda: unreachable_taints(node(server, "n1")), "the unreachable taints")
    assert sorted(t["effect"] for t in taints) == ["NoExecute", "NoSchedule"]
    assert all(t.get("timeAdded") for t in taints)

    # its pods leave the service endpoints first: not ready, while still there
    on_n1 = eventually(
        lambda: [p for p in pods(server) if p["spec"]["nodeName"] == "n1" and ready(p) == "False"] or None,
        "n1's pods to be marked not ready",
    )
    assert {p["metadata"]["name"] for p in on_n1} <= doomed
    assert time.monotonic() - failed < GRACE + 2 + EVICTION, "pods were not marked not ready before eviction"

    # after the eviction timeout they are replaced on the healthy nodes
    spread = eventually(lambda: healthy_spread(server, 6, avoid="n1"), "6 ready web pods on n2 and n3")
    assert set(spread) == {"n2", "n3"}, spread
    assert time.monotonic() - failed >= EVICTION, "pods were evicted before their toleration ran out"
    assert not doomed & {p["metadata"]["name"] for p in pods(server)}
    status = get(server, f"/api/v1/namespaces/{NS}/replicationcontrollers/web")["status"]
    eventually(
        lambda: get(server, f"/api/v1/namespaces/{NS}/replicationcontrollers/web")["status"].get("readyReplicas") == 6,
        f"the RC to be back at 6 ready replicas (status {status})",
    )
    keeper_now = get(server, f"/api/v1/namespaces/{NS}/pods/keeper")
    assert keeper_now["spec"]["nodeName"] == "n1" and not keeper_now["metadata"].get("deletionTimestamp")
    assert ready(keeper_now) == "False"

    reasons = {
        (e["involvedObject"]["kind"], e["involvedObject"]["name"], e["reason"])
        for e in get(server, "/api/v1/events")["items"]
    }
    assert ("Node", "n1", "NodeNotReady") in reasons
    assert any(kind == "Pod" and reason == "TaintManagerEviction" and name in doomed for kind, name, reason in reasons)

    nodes.start("n1")
    back = eventually(
        lambda: node_when(server, "n1", lambda n: ready(n) == "True" and not unreachable_taints(n)),
        "n1 Ready again without the unreachable taints",
        timeout=20,
    )
    assert ready(back) == "True"
    assert not [p for p in pods(server) if p["spec"]["nodeName"] == "n1"], "a replaced pod is still bound to n1"
    assert healthy_spread(server, 6, avoid="n1") is not None


def test_a_not_ready_node_is_tainted_and_its_pods_go_when_their_toleration_runs_out(
    cluster: tuple[ServerEndpoint, FleetThread],
) -> None:
    """A node whose engine stops answering reports Ready=False: the node lifecycle controller taints it
    not-ready (NoSchedule and NoExecute), and deletes its pods once their toleration of that runs out
    (the eviction timeout for the default one), as Kubernetes' taint manager; the node, alive, stops
    them. Once the engine answers again the taints come off."""
    server, nodes = cluster
    web = {p["metadata"]["name"] for p in pods(server)}
    doomed = {p["metadata"]["name"] for p in pods(server) if p["spec"]["nodeName"] == "n2"}
    assert doomed, web
    server.kubectl("-n", NS, "apply", "-f", "-", input=json.dumps(tolerating_pod("stays", "n2", NOT_READY)))
    # held by a finalizer, so that what its eviction wrote can be read once it is deleted
    held = tolerating_pod("held", "n2", NOT_READY)
    held["metadata"]["finalizers"] = ["pykube.test/hold"]
    held["spec"]["tolerations"][0]["tolerationSeconds"] = 1
    server.kubectl("-n", NS, "apply", "-f", "-", input=json.dumps(held))
    eventually(lambda: ready(get(server, f"/api/v1/namespaces/{NS}/pods/stays")) == "True", "stays to be ready")
    runtime = nodes.fleet.runtimes["n2"]
    runtime.outage = "engine down for the test"
    try:
        down = eventually(lambda: node_when(server, "n2", lambda n: ready(n) == "False"), "n2 Ready=False")
        failed = time.monotonic()
        taints = eventually(lambda: taints_of(node(server, "n2"), NOT_READY), "the not-ready taints")
        assert sorted(t["effect"] for t in taints) == ["NoExecute", "NoSchedule"]
        assert not taints_of(down, UNREACHABLE)
        # replaced elsewhere once the default toleration (the eviction timeout) ran out
        eventually(lambda: healthy_spread(server, 6, avoid="n2"), "6 ready web pods off n2", timeout=30)
        assert time.monotonic() - failed >= EVICTION - 1, "pods were deleted before their toleration ran out"
        left = get(server, f"/api/v1/namespaces/{NS}/pods/stays")
        assert left["spec"]["nodeName"] == "n2" and not left["metadata"].get("deletionTimestamp")
        reasons = {(e["involvedObject"]["name"], e["reason"]) for e in get(server, "/api/v1/events")["items"]}
        assert any((name, "TaintManagerEviction") in reasons for name in doomed)
        evicted = get(server, f"/api/v1/namespaces/{NS}/pods/held")
        assert evicted["metadata"].get("deletionTimestamp")
        assert {
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "DeletionByTaintManager",
            "message": "Taint manager: deleting due to NoExecute taint",
        }.items() <= next(c for c in evicted["status"]["conditions"] if c["type"] == "DisruptionTarget").items()
    finally:
        runtime.outage = None
    eventually(
        lambda: node_when(server, "n2", lambda n: ready(n) == "True" and not taints_of(n, NOT_READY)),
        "n2 Ready again without the not-ready taints",
        timeout=30,
    )
    # the deleted pods were stopped by their node, which is alive, and are gone
    eventually(lambda: not doomed & {p["metadata"]["name"] for p in pods(server)}, "n2's evicted pods to be gone")
    server.kubectl("-n", NS, "delete", "pod", "stays", "--wait=false")
    server.kubectl("-n", NS, "patch", "pod", "held", "--type=merge", "-p", '{"metadata": {"finalizers": null}}')
