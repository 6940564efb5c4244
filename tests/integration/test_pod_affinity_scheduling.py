"""Pod affinity, anti-affinity and topology spread in the real server (a subprocess) with fake nodes
in two zones, driven by the real kubectl."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from fake_nodes import server_with_fake_nodes
from support import apply_list as apply
from support import pods_by_name as pods

from minikube_py.testing import ServerEndpoint, eventually

ZONE = "topology.kubernetes.io/zone"
NODES = ["aff-n1", "aff-n2", "aff-n3"]
ZONES = {"aff-n1": "aff-a", "aff-n2": "aff-b", "aff-n3": "aff-b"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerEndpoint]:
    labels = {name: {ZONE: zone} for name, zone in ZONES.items()}
    with server_with_fake_nodes(
        tmp_path_factory.mktemp("podaffinity") / "data", NODES, cpu=4, memory="8Gi", labels=labels
    ) as (running, _):
        yield running


@pytest.fixture
def namespace(server: ServerEndpoint, request: pytest.FixtureRequest) -> Iterator[str]:
    name = "aff-" + request.node.name.removeprefix("test_").replace("_", "-")[:36].strip("-")
    server.kubectl("create", "namespace", name)
    yield name
    server.kubectl("delete", "namespace", name, "--wait=false")
    server.kubectl("delete", "pods", "--all", "-n", name, "--grace-period=0", "--force", "--wait=false")


def bound(server: ServerEndpoint, namespace: str, count: int) -> dict[str, str]:
    def check() -> dict[str, str] | None:
        placed = {n: p["spec"].get("nodeName") for n, p in pods(server, namespace).items()}
        done = [n for n in placed.values() if n]
        return placed if len(done) == count else None  # type: ignore[return-value]

    return {n: node for n, node in eventually(check, what=f"{count} pods bound in {namespace}").items() if node}


def pod(name: str, labels: dict[str, str], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "app", "image": "nginx"}], **spec},
    }


def hostname_term(app: str) -> dict[str, Any]:
    return {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": "kubernetes.io/hostname"}


def test_required_anti_affinity_puts_one_replica_per_node(server: ServerEndpoint, namespace: str) -> None:
    template = {
        "metadata": {"labels": {"app": "ha"}},
        "spec": {
            "containers": [{"name": "app", "image": "nginx"}],
            "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [hostname_term("ha")]}},
        },
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "ha"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "ha"}}, "template": template},
    }
    apply(server, namespace, deployment)
    placed = bound(server, namespace, 3)
    assert sorted(placed.values()) == sorted(NODES)
    server.kubectl("scale", "deployment", "ha", "--replicas=4", "-n", namespace)
    message = (
        "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. "
        "preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
    )

    def pending_with_message() -> str | None:
        for name, p in pods(server, namespace).items():
            if name in placed or p["spec"].get("nodeName"):
                continue
            condition = next((c for c in p["status"].get("conditions") or [] if c["type"] == "PodScheduled"), {})
            if condition.get("message") == message:
                return name
        return None

    name = eventually(pending_with_message, what="the 4th replica unschedulable")
    events = json.loads(
        server.kubectl(
            "get", "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}", "-o", "json"
        ).stdout
    )["items"]
    assert any(e["reason"] == "FailedScheduling" and e["message"] == message for e in events)


def test_spread_constraint_balances_pods_over_zones(server: ServerEndpoint, namespace: str) -> None:
    constraint = {
        "maxSkew": 1,
        "topologyKey": ZONE,
        "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app": "spread"}},
    }
    # one at a time, so that each decision sees the ones before it bound
    for i in range(4):
        apply(server, namespace, pod(f"s{i}", {"app": "spread"}, topologySpreadConstraints=[constraint]))
        bound(server, namespace, i + 1)
    placed = bound(server, namespace, 4)
    assert Counter(ZONES[node] for node in placed.values()) == {"aff-a": 2, "aff-b": 2}


def test_required_affinity_lands_next_to_the_app(server: ServerEndpoint, namespace: str) -> None:
    apply(server, namespace, pod("db", {"app": "db"}))
    db_node = bound(server, namespace, 1)["db"]
    affinity = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [hostname_term("db")]}}
    apply(server, namespace, *(pod(f"api-{i}", {"app": "api"}, affinity=affinity) for i in range(3)))
    placed = bound(server, namespace, 4)
    assert set(placed.values()) == {db_node}


def test_a_pod_waiting_for_its_app_lands_once_the_app_is_placed(server: ServerEndpoint, namespace: str) -> None:
    affinity = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [hostname_term("cache")]}}
    apply(server, namespace, pod("client", {"app": "client"}, affinity=affinity))
    message = (
        "0/3 nodes are available: 3 node(s) didn't match pod affinity rules. "
        "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    )

    def condition_message() -> str | None:
        client = pods(server, namespace)["client"]
        return next(
            (c.get("message") for c in client["status"].get("conditions") or [] if c["type"] == "PodScheduled"), None
        )

    assert eventually(condition_message, what="client unschedulable") == message
    apply(server, namespace, pod("cache", {"app": "cache"}))
    placed = bound(server, namespace, 2)
    assert placed["client"] == placed["cache"]


def test_a_bad_spread_constraint_is_refused(server: ServerEndpoint, namespace: str) -> None:
    constraint = {"maxSkew": 0, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule"}
    manifest = pod("bad", {"app": "bad"}, topologySpreadConstraints=[constraint])
    result = server.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest), check=False)
    assert result.returncode != 0
    assert (
        'The Pod "bad" is invalid: spec.topologySpreadConstraints[0].maxSkew: Invalid value: 0: '
        "must be greater than zero" in result.stderr
    )
    assert "bad" not in pods(server, namespace)
