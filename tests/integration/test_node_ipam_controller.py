"""Node IPAM in the real server, on a cluster CIDR with room for two nodes: the third waits with a
CIDRNotAvailable event and NetworkUnavailable=True, unbothered by its heartbeats, and takes the
subnet of a node that is deleted."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from minikube_py.testing import RunningServer, eventually, start_server

Obj = dict[str, Any]
#: two /24 subnets (the default mask size)
CLUSTER_CIDR = "10.244.0.0/23"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("nodeipam") / "data", "--cluster-cidr", CLUSTER_CIDR)
    try:
        yield running
    finally:
        running.stop()


def create_node(server: RunningServer, name: str, **spec: Any) -> None:
    status, body = server.request(
        "POST",
        "/api/v1/nodes",
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name},
            "spec": spec,
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]},
        },
    )
    assert status == 201, body


def node(server: RunningServer, name: str) -> Obj:
    status, body = server.request("GET", f"/api/v1/nodes/{name}")
    assert status == 200, body
    result: Obj = body
    return result


def network_condition(obj: Obj) -> Obj | None:
    return next(
        (c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == "NetworkUnavailable"), None
    )


def cidr_events(server: RunningServer, name: str) -> list[Obj]:
    status, body = server.request("GET", "/api/v1/namespaces/default/events")
    assert status == 200, body
    return [e for e in body["items"] if e["involvedObject"].get("name") == name and e["reason"] == "CIDRNotAvailable"]


def heartbeat(server: RunningServer, name: str) -> None:
    """What a kubelet's status update looks like to the controller: an update of the node."""
    status, body = server.request(
        "PATCH",
        f"/api/v1/nodes/{name}/status",
        {
            "status": {
                "conditions": [
                    {"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": _now()}
                ]
            }
        },
        content_type="application/strategic-merge-patch+json",
    )
    assert status == 200, body


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def test_nodes_beyond_the_cluster_cidr_wait_for_a_released_subnet(server: RunningServer) -> None:
    create_node(server, "a")
    create_node(server, "b")
    first = eventually(lambda: node(server, "a")["spec"].get("podCIDR"), "a's pod CIDR")
    second = eventually(lambda: node(server, "b")["spec"].get("podCIDR"), "b's pod CIDR")
    assert {first, second} == {"10.244.0.0/24", "10.244.1.0/24"}
    assert node(server, "a")["spec"]["podCIDRs"] == [first]
    assert network_condition(node(server, "a")) is None  # got its subnet at once: no condition to clear

    create_node(server, "c")
    unavailable = eventually(lambda: network_condition(node(server, "c")), "c's NetworkUnavailable condition")
    assert (unavailable["status"], unavailable["reason"]) == ("True", "CIDRNotAvailable")
    assert CLUSTER_CIDR in unavailable["message"]
    [event] = eventually(lambda: cidr_events(server, "c"), "the CIDRNotAvailable event")
    assert event["message"] == "Node c status is now: CIDRNotAvailable"
    assert (event["type"], event["source"]["component"]) == ("Normal", "cidrAllocator")
    assert event["involvedObject"]["kind"] == "Node"

    for _ in range(5):  # a waiting node's heartbeats are no news: no new attempts, events or writes
        heartbeat(server, "c")
    time.sleep(1.0)
    [event] = cidr_events(server, "c")
    assert event["count"] == 1
    waiting = node(server, "c")
    assert not waiting["spec"].get("podCIDR")
    assert network_condition(waiting) == unavailable
    assert "reconciling c failed" not in server.log_path.read_text()

    status, body = server.request("DELETE", "/api/v1/nodes/a")
    assert status == 200, body
    assert eventually(lambda: node(server, "c")["spec"].get("podCIDR"), "c's pod CIDR") == first
    available = eventually(
        lambda: (c := network_condition(node(server, "c"))) and c["status"] == "False" and c,
        "c's NetworkUnavailable turning False",
    )
    assert available["reason"] == "CIDRAssigned"
    assert first in available["message"]


def test_a_subnet_set_by_hand_is_never_handed_out_again(server: RunningServer) -> None:
    """Runs after the first test: "b" and "c" hold both subnets. A node created with one of them by
    hand keeps it; deleting "b" frees its subnet only once no other node holds it."""
    b_cidr = node(server, "b")["spec"]["podCIDR"]
    create_node(server, "twin", podCIDR=b_cidr, podCIDRs=[b_cidr])
    create_node(server, "d")
    eventually(lambda: network_condition(node(server, "d")), "d waiting")
    status, body = server.request("DELETE", "/api/v1/nodes/b")
    assert status == 200, body
    time.sleep(1.0)
    assert not node(server, "d")["spec"].get("podCIDR")  # "twin" still holds it
    status, body = server.request("DELETE", "/api/v1/nodes/twin")
    assert status == 200, body
    assert eventually(lambda: node(server, "d")["spec"].get("podCIDR"), "d's pod CIDR") == b_cidr
