"""Node-pressure eviction with the real kubectl: a fake node of 4Gi with a hard threshold of
``memory.available<1Gi`` and a 3 s pressure transition, whose pods' working sets are pinned
(``FAKE_MEMORY``), so the node's available memory is exact."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fake_nodes import in_process_cluster
from support import pods_by_name as pods

from minikube_py.testing import ServerEndpoint, eventually

NODE = "pressed"
SETTINGS = {"eviction_hard": "memory.available<1Gi", "eviction_pressure_transition_seconds": 3.0}
NS = "default"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerEndpoint]:
    data = tmp_path_factory.mktemp("eviction") / "data"
    with in_process_cluster(data, [NODE], memory="4Gi", settings=SETTINGS) as (running, _):
        yield running


def pod(name: str, using: str, request: str | None = None) -> dict[str, Any]:
    resources = {"requests": {"memory": request}} if request else {}
    container = {"name": "app", "image": "busybox", "env": [{"name": "FAKE_MEMORY", "value": using}]}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{**container, "resources": resources}]},
    }


def node(server: ServerEndpoint) -> dict[str, Any]:
    status, body = server.request("GET", f"/api/v1/nodes/{NODE}")
    assert status == 200, body
    return body


def condition(server: ServerEndpoint, kind: str) -> str:
    return next(c["status"] for c in node(server)["status"]["conditions"] if c["type"] == kind)


def taints(server: ServerEndpoint) -> list[str]:
    return [t["key"] for t in node(server)["spec"].get("taints") or []]


def test_the_node_keeps_the_threshold_out_of_allocatable_memory(server: ServerEndpoint) -> None:
    status = node(server)["status"]
    assert (status["capacity"]["memory"], status["allocatable"]["memory"]) == ("4194304Ki", "3145728Ki")
    assert condition(server, "MemoryPressure") == "False"


def test_under_memory_pressure_the_greediest_pod_is_evicted_and_the_node_tainted_meanwhile(
    server: ServerEndpoint,
) -> None:
    server.kubectl("apply", "-n", NS, "-f", "-", input=json.dumps(pod("steady", "1Gi", request="1536Mi")))
    eventually(lambda: pods(server, NS)["steady"]["status"].get("phase") == "Running", "steady to run")
    # 1Gi + 2560Mi of 4Gi: 512Mi available, under the 1Gi threshold
    server.kubectl("apply", "-n", NS, "-f", "-", input=json.dumps(pod("hog", "2560Mi")))

    def evicted() -> dict[str, Any] | None:
        status = pods(server, NS)["hog"]["status"]
        return status if status.get("phase") == "Failed" else None

    status = eventually(evicted, "the hog to be evicted", timeout=30)
    assert status["reason"] == "Evicted"
    assert status["message"] == (
        "The node was low on resource: memory. Threshold quantity: 1Gi, available: 524288Ki. "
        "Container app was using 2560Mi, request is 0, has larger consumption of memory. "
    )
    disruption = next(c for c in status["conditions"] if c["type"] == "DisruptionTarget")
    assert (disruption["status"], disruption["reason"]) == ("True", "TerminationByKubelet")
    assert "terminated" in status["containerStatuses"][0]["state"]
    events = server.kubectl("get", "events", "-A", "-o", "json").stdout
    reasons = {(e["involvedObject"]["name"], e["reason"]) for e in json.loads(events)["items"]}
    assert {("hog", "Evicted"), (NODE, "EvictionThresholdMet")} <= reasons
    # the pressure holds for the transition period: MemoryPressure and its NoSchedule taint...
    assert eventually(lambda: condition(server, "MemoryPressure") == "True" or None, "MemoryPressure", timeout=10)
    # ... and then goes, the taint with it; the pod within its request ran on throughout
    eventually(lambda: condition(server, "MemoryPressure") == "False", "the pressure to end", timeout=20)
    eventually(lambda: "node.kubernetes.io/memory-pressure" not in taints(server), "the taint to go", timeout=20)
    steady = pods(server, NS)["steady"]["status"]
    assert steady["phase"] == "Running" and steady["containerStatuses"][0]["restartCount"] == 0
    server.kubectl("delete", "pod", "steady", "hog", "-n", NS)


def test_a_critical_pod_is_never_evicted_and_the_taint_keeps_new_pods_off_meanwhile(server: ServerEndpoint) -> None:
    """A pod of system-node-critical priority is not evicted: while its use keeps the node under
    pressure the other pods go, and the node's taint keeps new pods off until the pressure ends."""
    server.kubectl("apply", "-n", NS, "-f", "-", input=json.dumps(pod("ordinary", "64Mi")))
    eventually(lambda: pods(server, NS)["ordinary"]["status"].get("phase") == "Running", "ordinary to run")
    keeper = pod("keeper", "3584Mi")
    keeper["spec"]["priorityClassName"] = "system-node-critical"
    server.kubectl("apply", "-n", "kube-system", "-f", "-", input=json.dumps(keeper))
    try:
        eventually(lambda: pods(server, NS)["ordinary"]["status"].get("reason") == "Evicted", "ordinary evicted")
        eventually(lambda: "node.kubernetes.io/memory-pressure" in taints(server) or None, "the taint", timeout=20)
        server.kubectl("apply", "-n", NS, "-f", "-", input=json.dumps(pod("later", "1Mi")))

        def waits() -> str:
            events = server.kubectl("get", "events", "-n", NS, "--field-selector", "involvedObject.name=later")
            return events.stdout if "untolerated taint {node.kubernetes.io/memory-pressure: }" in events.stdout else ""

        assert "FailedScheduling" in eventually(waits, "the new pod to wait", timeout=20)
        assert pods(server, "kube-system")["keeper"]["status"]["phase"] == "Running"
        # a pod bound to the node directly passes no scheduler: the node itself refuses it if it is
        # BestEffort, and starts one that requested its memory
        for name, request in (("bound-be", None), ("bound-burstable", "64Mi")):
            bound = pod(name, "1Mi", request=request)
            bound["spec"]["nodeName"] = NODE
            server.kubectl("apply", "-n", NS, "-f", "-", input=json.dumps(bound))
        refused = eventually(
            lambda: (p := pods(server, NS)["bound-be"]["status"]).get("phase") == "Failed" and p, "the refusal"
        )
        assert (refused["reason"], refused["message"]) == (
            "Evicted",
            "Pod was rejected: The node had condition: [MemoryPressure]. ",
        )
        # (admitted, it may well be the next one evicted: the critical pod keeps the node pressed)
        admitted = eventually(
            lambda: (p := pods(server, NS)["bound-burstable"]["status"]).get("containerStatuses") and p, "admitted"
        )
        assert not admitted.get("message", "").startswith("Pod was rejected")
    finally:
        server.kubectl("delete", "pod", "keeper", "-n", "kube-system", "--wait=false")
    eventually(lambda: pods(server, NS)["later"]["status"].get("phase") == "Running", "the new pod to run", timeout=30)
