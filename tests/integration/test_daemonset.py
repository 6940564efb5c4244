"""The DaemonSet controller against a real server, fake nodes and the real kubectl."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_nodes import fake_nodes, in_process_cluster

from minikube_py.model.daemonsets import REVISION_LABEL, target_node
from minikube_py.testing import ServerEndpoint, eventually

Obj = dict[str, Any]
NS = "default"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerEndpoint]:
    with in_process_cluster(tmp_path_factory.mktemp("daemonset") / "data", ["n1", "n2"]) as (running, _):
        yield running


def create_ds(server: ServerEndpoint, name: str, **pod_spec: Any) -> None:
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "agent:v1"}], **pod_spec},
            },
        },
    }
    server.kubectl("-n", NS, "create", "-f", "-", input=json.dumps(manifest))


def ds_status(server: ServerEndpoint, name: str) -> Obj:
    code, body = server.request("GET", f"/apis/apps/v1/namespaces/{NS}/daemonsets/{name}")
    assert code == 200, body
    return dict(body.get("status") or {})


def live_pods(server: ServerEndpoint, name: str) -> list[Obj]:
    code, body = server.request("GET", f"/api/v1/namespaces/{NS}/pods?labelSelector=app%3D{name}")
    assert code == 200, body
    return [p for p in body["items"] if not p["metadata"].get("deletionTimestamp")]


def placed(server: ServerEndpoint, name: str) -> dict[str, Obj]:
    """The live daemon pods of ``name`` by the node they are bound to (unbound ones are left out)."""
    return {p["spec"]["nodeName"]: p for p in live_pods(server, name) if p["spec"].get("nodeName")}


def running_on(server: ServerEndpoint, name: str, nodes: set[str]) -> dict[str, Obj] | None:
    """The pods by node once exactly ``nodes`` each run one (and no other pod exists), else None."""
    every = live_pods(server, name)
    pods = {p["spec"]["nodeName"]: p for p in every if p["spec"].get("nodeName")}
    if (
        set(pods) == nodes
        and len(every) == len(nodes)
        and all(p.get("status", {}).get("phase") == "Running" for p in pods.values())
    ):
        return pods
    return None


def test_one_pod_per_node_following_nodes_and_rolling_updates(server: ServerEndpoint) -> None:
    create_ds(server, "agent")
    pods = eventually(lambda: running_on(server, "agent", {"n1", "n2"}), what="a pod on each node")
    for node, pod in pods.items():
        assert target_node({"spec": {"affinity": pod["spec"]["affinity"]}}) == node  # pinned, then bound
        keys = {(t["key"], t["effect"]) for t in pod["spec"]["tolerations"]}
        assert ("node.kubernetes.io/unreachable", "NoExecute") in keys
        assert ("node.kubernetes.io/unschedulable", "NoSchedule") in keys
    server.kubectl("-n", NS, "rollout", "status", "ds/agent", "--timeout=30s")
    table = server.kubectl("-n", NS, "get", "ds", "agent").stdout.splitlines()
    assert table[0].split() == [
        "NAME",
        "DESIRED",
        "CURRENT",
        "READY",
        "UP-TO-DATE",
        "AVAILABLE",
        "NODE",
        "SELECTOR",
        "AGE",
    ]
    assert table[1].split()[:7] == ["agent", "2", "2", "2", "2", "2", "<none>"]

    with fake_nodes(server, ["n3"]):
        eventually(lambda: running_on(server, "agent", {"n1", "n2", "n3"}), what="a pod on the new node")
        eventually(lambda: ds_status(server, "agent").get("numberAvailable") == 3, what="three available")
        fewest, stop = 3, threading.Event()

        def sample() -> None:
            nonlocal fewest
            while not stop.is_set():
                ready = [
                    p
                    for p in placed(server, "agent").values()
                    if any(
                        c["type"] == "Ready" and c["status"] == "True"
                        for c in p.get("status", {}).get("conditions", [])
                    )
                ]
                fewest = min(fewest, len({p["spec"]["nodeName"] for p in ready}))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            server.kubectl("-n", NS, "set", "image", "ds/agent", "c=agent:v2")
            done = server.kubectl("-n", NS, "rollout", "status", "ds/agent", "--timeout=60s")
        finally:
            stop.set()
            sampler.join()
        assert 'daemon set "agent" successfully rolled out' in done.stdout
        assert fewest >= 2, f"only {fewest} of 3 nodes had a ready pod at one point (maxUnavailable is 1)"
        pods = eventually(lambda: running_on(server, "agent", {"n1", "n2", "n3"}), what="updated pods")
        assert {p["spec"]["containers"][0]["image"] for p in pods.values()} == {"agent:v2"}
        assert len({p["metadata"]["labels"][REVISION_LABEL] for p in pods.values()}) == 1
        status = ds_status(server, "agent")
        assert status["updatedNumberScheduled"] == 3 and status["desiredNumberScheduled"] == 3
        code, events = server.request(
            "GET", f"/api/v1/namespaces/{NS}/events?fieldSelector=involvedObject.name%3Dagent"
        )
        assert code == 200, events
        created = [e for e in events["items"] if e["reason"] == "SuccessfulCreate"]
        assert len(created) == 6, "2 pods, 1 for the new node, 3 for the update: never one more"
    server.kubectl("delete", "node", "n3")
    eventually(lambda: running_on(server, "agent", {"n1", "n2"}), what="the pod of the removed node to go")
    eventually(lambda: ds_status(server, "agent").get("desiredNumberScheduled") == 2, what="desired back to 2")


def test_node_labels_decide_eligibility(server: ServerEndpoint) -> None:
    create_ds(server, "edge", nodeSelector={"role": "edge"})
    eventually(lambda: ds_status(server, "edge").get("observedGeneration"), what="a first status")
    time.sleep(0.5)
    assert placed(server, "edge") == {}
    server.kubectl("label", "node", "n2", "role=edge")
    eventually(lambda: running_on(server, "edge", {"n2"}), what="a pod on the labelled node")
    assert ds_status(server, "edge")["desiredNumberScheduled"] == 1
    server.kubectl("label", "node", "n2", "role-")
    eventually(lambda: running_on(server, "edge", set()) is not None, what="the pod to leave the unlabelled node")


def test_untolerated_taint_keeps_daemon_pods_off(server: ServerEndpoint) -> None:
    server.kubectl("taint", "nodes", "n1", "dedicated=db:NoSchedule")
    try:
        create_ds(server, "logs")
        eventually(lambda: running_on(server, "logs", {"n2"}), what="a pod on the untainted node only")
        time.sleep(0.5)
        assert set(placed(server, "logs")) == {"n2"}
        assert ds_status(server, "logs")["desiredNumberScheduled"] == 1
        # the NoSchedule taint did not evict the pod that was already running there
        assert "n1" in placed(server, "agent")
        server.kubectl("taint", "nodes", "n1", "dedicated=db:NoExecute")
        eventually(lambda: "n1" not in placed(server, "agent"), what="NoExecute to evict the daemon pod")
    finally:
        server.kubectl("taint", "nodes", "n1", "dedicated-")
    eventually(lambda: running_on(server, "logs", {"n1", "n2"}), what="pods back once the taint is gone")
    eventually(lambda: running_on(server, "agent", {"n1", "n2"}), what="the evicted pod to come back")


def test_server_log_has_no_tracebacks(server: ServerEndpoint) -> None:
    assert "Traceback" not in Path(server.log_path).read_text()
