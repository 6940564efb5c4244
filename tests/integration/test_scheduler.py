"""The scheduler in the real server, with fake nodes, driven by the real kubectl."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_nodes import fake_nodes, in_process_cluster
from support import apply_list as apply
from support import pods_by_name as pods

from minikube_py.testing import ServerEndpoint, eventually

NODES = ["n1", "n2", "n3"]
PREEMPTION_NOT_HELPFUL = "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerEndpoint]:
    with in_process_cluster(
        tmp_path_factory.mktemp("scheduler") / "data", NODES, cpu=2, memory="4Gi", labels={"n2": {"disk": "ssd"}}
    ) as (running, _):
        yield running


def pod_manifest(name: str, *, cpu: str = "100m", host_port: int | None = None, **spec: Any) -> dict[str, Any]:
    ports = [{"containerPort": 80, "hostPort": host_port}] if host_port else []
    container = {"name": "app", "image": "nginx", "resources": {"requests": {"cpu": cpu}}, "ports": ports}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [container], **spec}}


def node_of(server: ServerEndpoint, namespace: str) -> Callable[[str], str | None]:
    return lambda name: pods(server, namespace)[name]["spec"].get("nodeName")


def all_bound(server: ServerEndpoint, namespace: str, count: int) -> dict[str, str]:
    def check() -> dict[str, str] | None:
        placed = {name: p["spec"].get("nodeName") for name, p in pods(server, namespace).items()}
        return placed if len(placed) == count and all(placed.values()) else None  # type: ignore[return-value]

    return eventually(check, what=f"{count} pods bound in {namespace}")


def scheduled_condition(server: ServerEndpoint, namespace: str, name: str) -> dict[str, Any] | None:
    conditions = (pods(server, namespace)[name].get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == "PodScheduled"), None)


def wait_unschedulable(server: ServerEndpoint, namespace: str, name: str, message: str) -> None:
    def check() -> bool:
        condition = scheduled_condition(server, namespace, name)
        return condition is not None and condition["status"] == "False" and condition.get("message") == message

    try:
        eventually(check, what=f"{name} to be unschedulable")
    except AssertionError:
        raise AssertionError(f"PodScheduled condition: {scheduled_condition(server, namespace, name)}") from None
    assert node_of(server, namespace)(name) is None
    assert scheduled_condition(server, namespace, name)["reason"] == "Unschedulable"  # type: ignore[index]


@pytest.fixture
def namespace(server: ServerEndpoint, request: pytest.FixtureRequest) -> Iterator[str]:
    """A namespace per test, emptied afterwards so no test's pods take room from the next."""
    name = request.node.name.removeprefix("test_").replace("_", "-")[:40].strip("-")
    server.kubectl("create", "namespace", name)
    yield name
    server.kubectl("delete", "pods", "--all", "-n", name, "--grace-period=0", "--force", "--wait=false")
    eventually(lambda: not pods(server, name), what=f"pods in {name} to go")


def test_pods_spread_over_the_nodes_and_get_a_scheduled_event(server: ServerEndpoint, namespace: str) -> None:
    apply(server, namespace, *(pod_manifest(f"web-{i}") for i in range(6)))
    placed = all_bound(server, namespace, 6)
    assert Counter(placed.values()) == {"n1": 2, "n2": 2, "n3": 2}
    events = server.kubectl(
        "get", "events", "-n", namespace, "--field-selector", "reason=Scheduled", "-o", "json"
    ).stdout
    messages = {e["message"] for e in json.loads(events)["items"]}
    assert f"Successfully assigned {namespace}/web-0 to {placed['web-0']}" in messages


def test_a_tainted_node_gets_no_new_pods(server: ServerEndpoint, namespace: str) -> None:
    server.kubectl("taint", "nodes", "n1", "dedicated=infra:NoSchedule")
    try:
        apply(server, namespace, *(pod_manifest(f"app-{i}") for i in range(6)))
        placed = all_bound(server, namespace, 6)
        assert "n1" not in placed.values()
        assert set(placed.values()) == {"n2", "n3"}
        tolerant = pod_manifest(
            "tolerant",
            nodeSelector={"kubernetes.io/hostname": "n1"},
            tolerations=[{"key": "dedicated", "operator": "Equal", "value": "infra", "effect": "NoSchedule"}],
        )
        apply(server, namespace, tolerant)
        assert eventually(lambda: node_of(server, namespace)("tolerant")) == "n1"
    finally:
        server.kubectl("taint", "nodes", "n1", "dedicated-")


def test_pods_with_the_same_host_port_never_share_a_node(server: ServerEndpoint, namespace: str) -> None:
    server.kubectl("cordon", "n3")  # two nodes left for three pods wanting port 8080
    try:
        apply(server, namespace, *(pod_manifest(f"hp-{i}", host_port=8080) for i in range(2)))
        placed = all_bound(server, namespace, 2)
        assert sorted(placed.values()) == ["n1", "n2"]
        apply(server, namespace, pod_manifest("hp-2", host_port=8080))
        wait_unschedulable(
            server,
            namespace,
            "hp-2",
            (
                "0/3 nodes are available: 1 node(s) were unschedulable, 2 node(s) didn't have free ports for the "
                "requested pod ports. preemption: 0/3 nodes are available: 1 Preemption is not helpful for "
                "scheduling, 2 No preemption victims found for incoming pod."
            ),
        )
        apply(server, namespace, pod_manifest("other-port", host_port=8081))
        assert eventually(lambda: node_of(server, namespace)("other-port")) in ("n1", "n2")
    finally:
        server.kubectl("uncordon", "n3")
    # the node coming back is news: the waiting pod is retried and lands there
    assert eventually(lambda: node_of(server, namespace)("hp-2")) == "n3"


def test_node_selector(server: ServerEndpoint, namespace: str) -> None:
    apply(
        server,
        namespace,
        *(pod_manifest(f"ssd-{i}", nodeSelector={"disk": "ssd"}) for i in range(3)),
        pod_manifest("nvme", nodeSelector={"disk": "nvme"}),
    )
    for i in range(3):
        assert eventually(lambda i=i: node_of(server, namespace)(f"ssd-{i}")) == "n2"  # type: ignore[misc]
    wait_unschedulable(
        server,
        namespace,
        "nvme",
        f"0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. {PREEMPTION_NOT_HELPFUL}",
    )


def test_insufficient_cpu_keeps_a_pod_pending_until_a_node_with_room_comes(
    server: ServerEndpoint, namespace: str, tmp_path: Path
) -> None:
    apply(server, namespace, pod_manifest("big", cpu="3"))
    message = f"0/3 nodes are available: 3 Insufficient cpu. {PREEMPTION_NOT_HELPFUL}"
    wait_unschedulable(server, namespace, "big", message)
    described = eventually(
        lambda: (
            (out := server.kubectl("describe", "pod", "big", "-n", namespace).stdout)
            and "FailedScheduling" in out
            and out
        ),
        what="the FailedScheduling event",
    )
    assert "PodScheduled   False" in described
    assert "Status:           Pending" in described
    event = next(line for line in described.splitlines() if "FailedScheduling" in line)
    assert event.split()[:2] == ["Warning", "FailedScheduling"]
    assert event.endswith(f"default-scheduler  {message}")
    try:
        with fake_nodes(server, ["n4"], cpu=4, memory="8Gi"):
            assert eventually(lambda: node_of(server, namespace)("big")) == "n4"
    finally:
        server.kubectl("delete", "node", "n4")
