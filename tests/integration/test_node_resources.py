"""Resources beyond cpu and memory with the real kubectl, on a fake node: the node's ephemeral-storage,
extended resources advertised by patching its status (Kubernetes' documented way), the scheduler
counting both, and the node evicting pods that write more than their local storage limits (the
fake runtime's ``FAKE_DISK`` pins what a container keeps on disk)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from fake_nodes import in_process_cluster
from support import pods_by_name as pods

from minikube_py.model.quantity import value
from minikube_py.testing import ServerEndpoint, eventually

NODE = "resourced"
NS = "default"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerEndpoint]:
    data = tmp_path_factory.mktemp("resources") / "data"
    with in_process_cluster(data, [NODE]) as (running, _):
        yield running


def node(server: ServerEndpoint) -> dict[str, Any]:
    status, body = server.request("GET", f"/api/v1/nodes/{NODE}")
    assert status == 200, body
    return body


def pod(name: str, *containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"terminationGracePeriodSeconds": 0, "containers": list(containers), **spec},
    }


def container(name: str = "app", *, writes: str | None = None, **resources: dict[str, str]) -> dict[str, Any]:
    env = [{"name": "FAKE_DISK", "value": writes}] if writes else []
    return {"name": name, "image": "busybox", "env": env, "resources": resources}


def apply(server: ServerEndpoint, manifest: dict[str, Any]) -> None:
    server.kubectl("apply", "-n", NS, "-f", "-", input=json.dumps(manifest))


def phase(server: ServerEndpoint, name: str) -> str:
    return pods(server, NS)[name]["status"].get("phase", "")


def scheduling_failure(server: ServerEndpoint, name: str) -> str:
    events = server.kubectl(
        "get",
        "events",
        "-n",
        NS,
        "-o",
        "json",
        "--field-selector",
        f"involvedObject.name={name},reason=FailedScheduling",
    ).stdout
    return "\n".join(e["message"] for e in json.loads(events)["items"])


def test_the_node_reports_its_disk_as_ephemeral_storage_less_the_share_kept_free(server: ServerEndpoint) -> None:
    status = node(server)["status"]
    total = shutil.disk_usage(server.data_dir).total
    capacity, allocatable = status["capacity"]["ephemeral-storage"], status["allocatable"]["ephemeral-storage"]
    assert value(capacity) == total
    # nodefs.available<10% is not allocatable, 10% as the kubelet's float32 (0.100000001490116...)
    assert value(allocatable) == total - int(total * 0.10000000149011612)


def test_advertised_extended_resources_are_allocatable_and_the_scheduler_counts_them(server: ServerEndpoint) -> None:
    patched = server.kubectl(
        "patch", "node", NODE, "--subresource=status", "--type=json",
        "-p", '[{"op": "add", "path": "/status/capacity/example.com~1dongle", "value": "4"}]',
    )  # fmt: skip
    assert patched.stdout.strip() == f"node/{NODE} patched"
    eventually(lambda: node(server)["status"]["allocatable"].get("example.com/dongle") == "4", "the dongles")
    dongles = {"example.com/dongle": "3"}
    apply(server, pod("three", container(limits=dongles)))
    eventually(lambda: phase(server, "three") == "Running", "three dongles to run")
    apply(server, pod("two", container(limits={"example.com/dongle": "2"})))
    message = eventually(lambda: scheduling_failure(server, "two"), "two dongles to wait")
    assert message.startswith("0/1 nodes are available: 1 Insufficient example.com/dongle.")
    described = server.kubectl("describe", "node", NODE).stdout
    assert "example.com/dongle  3" in described  # allocated (requests and limits)
    server.kubectl("delete", "pod", "three", "-n", NS)
    eventually(lambda: phase(server, "two") == "Running", "two dongles to run once three are free")
    # withdrawn from the capacity, the resource leaves the allocatable at the next heartbeat
    server.kubectl(
        "patch", "node", NODE, "--subresource=status", "--type=json",
        "-p", '[{"op": "remove", "path": "/status/capacity/example.com~1dongle"}]',
    )  # fmt: skip
    eventually(lambda: "example.com/dongle" not in node(server)["status"]["allocatable"], "the dongles to go")
    server.kubectl("delete", "pod", "two", "-n", NS)


def test_a_pod_asking_for_more_disk_than_the_node_has_waits(server: ServerEndpoint) -> None:
    apply(server, pod("greedy", container(requests={"ephemeral-storage": "1Pi"})))
    message = eventually(lambda: scheduling_failure(server, "greedy"), "the disk-hungry pod to wait")
    assert message.startswith("0/1 nodes are available: 1 Insufficient ephemeral-storage.")
    server.kubectl("delete", "pod", "greedy", "-n", NS)


def evicted(server: ServerEndpoint, name: str) -> dict[str, Any]:
    return eventually(
        lambda: (status := pods(server, NS)[name]["status"]).get("phase") == "Failed" and status,
        f"{name} to be evicted",
        timeout=30,
    )


def test_pods_writing_past_their_local_storage_limits_are_evicted(server: ServerEndpoint) -> None:
    # the pod's limit (its containers' added up) is checked before each container's: a pod of one
    # container past its limit is past the pod's; a container past its own within the pod's total
    # is named
    apply(server, pod("spiller", container(writes="2Mi", limits={"ephemeral-storage": "1Mi"})))
    apply(
        server,
        pod(
            "pair",
            container("a", writes="2Mi", limits={"ephemeral-storage": "1Mi"}),
            container("b", limits={"ephemeral-storage": "4Mi"}),
        ),
    )
    apply(server, pod("tidy", container(writes="1Mi", limits={"ephemeral-storage": "2Mi"})))
    status = evicted(server, "spiller")
    assert (status["reason"], status["message"]) == (
        "Evicted",
        "Pod ephemeral local storage usage exceeds the total limit of containers 1Mi. ",
    )
    assert next(c for c in status["conditions"] if c["type"] == "DisruptionTarget")["reason"] == "TerminationByKubelet"
    status = evicted(server, "pair")
    assert status["message"] == 'Container a exceeded its local ephemeral storage limit "1Mi". '
    events = json.loads(server.kubectl("get", "events", "-n", NS, "-o", "json").stdout)["items"]
    assert {(e["involvedObject"]["name"], e["reason"], e["type"]) for e in events} >= {
        ("spiller", "Evicted", "Warning"),
        ("pair", "Evicted", "Warning"),
    }
    assert phase(server, "tidy") == "Running"
    server.kubectl("delete", "pod", "spiller", "pair", "tidy", "-n", NS)


def test_the_node_refuses_a_pod_bound_to_it_that_does_not_fit(server: ServerEndpoint) -> None:
    """A pod created with ``spec.nodeName`` passes no scheduler: the node itself refuses one that
    does not fit beside its pods, as the kubelet does (``OutOfcpu``), and admits one that does."""
    apply(server, pod("resident", container(requests={"cpu": "3"})))
    eventually(lambda: phase(server, "resident") == "Running", "the resident pod to run")
    apply(server, pod("squatter", container(requests={"cpu": "2"}), nodeName=NODE))
    status = eventually(
        lambda: (status := pods(server, NS)["squatter"]["status"]).get("phase") == "Failed" and status,
        "the squatter to be refused",
    )
    assert (status["reason"], status["message"]) == (
        "OutOfcpu",
        "Pod was rejected: Node didn't have enough resource: cpu, requested: 2000, used: 3000, capacity: 4000",
    )
    table = server.kubectl("get", "pod", "squatter", "-n", NS).stdout
    assert table.split("\n")[1].split()[2] == "OutOfcpu"
    apply(server, pod("lodger", container(requests={"cpu": "1"}), nodeName=NODE))
    eventually(lambda: phase(server, "lodger") == "Running", "the pod that fits to run")
    server.kubectl("delete", "pod", "resident", "squatter", "lodger", "-n", NS)


def test_a_quota_limits_what_a_namespace_requests_of_an_extended_resource(server: ServerEndpoint) -> None:
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "dongles"},
        "spec": {"hard": {"requests.example.com/dongle": "2"}},
    }
    apply(server, quota)

    def counted() -> bool:
        status, body = server.request("GET", f"/api/v1/namespaces/{NS}/resourcequotas/dongles")
        return status == 200 and (body.get("status") or {}).get("used") == {"requests.example.com/dongle": "0"}

    eventually(counted, "the quota to be counted")
    refused = server.kubectl(
        "create", "-n", NS, "-f", "-", input=json.dumps(pod("many", container(limits={"example.com/dongle": "3"}))),
        check=False,
    )  # fmt: skip
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        'Error from server (Forbidden): error when creating "STDIN": pods "many" is forbidden: exceeded quota: '
        "dongles, requested: requests.example.com/dongle=3, used: requests.example.com/dongle=0, "
        "limited: requests.example.com/dongle=2"
    )
    apply(server, pod("few", container(limits={"example.com/dongle": "2"})))
    server.kubectl("delete", "pod", "few", "-n", NS, "--wait=false")
    server.kubectl("delete", "resourcequota", "dongles", "-n", NS)
