"""PriorityClasses and preemption through the real kubectl, on a server with its Docker agent: a pod of
a high class evicts a low-priority pod from a node whose cpu is taken."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from agent_helpers import busybox_pod, cluster_fixtures, create, pod_obj, wait_running
from kubectl_helpers import Kubectl, header, row

from minikube_py.model.quantity import milli_value
from minikube_py.testing import RunningServer
from minikube_py.testing import eventually as wait_for

pytestmark = pytest.mark.kubectl

NODE = "prio-e2e"
cluster, k = cluster_fixtures(NODE, cluster_cidr="10.201.0.0/16", namespace_prefix="prio")


def requesting(millicores: int) -> dict[str, object]:
    return {"resources": {"requests": {"cpu": f"{millicores}m"}}}


@pytest.fixture
def high(cluster: RunningServer) -> Iterator[None]:
    created = cluster.kubectl("create", "priorityclass", "high", "--value=1000", "--description=urgent work")
    assert created.stdout.strip() == "priorityclass.scheduling.k8s.io/high created"
    yield
    cluster.kubectl("delete", "priorityclass", "high", "--ignore-not-found")


@pytest.mark.usefixtures("high")
def test_get_pc_and_the_built_in_classes(cluster: RunningServer, k: Kubectl) -> None:
    out = cluster.kubectl("get", "pc").stdout
    assert header(out) == ["NAME", "VALUE", "GLOBAL-DEFAULT", "AGE", "PREEMPTIONPOLICY"]
    assert [row(out, "high")[i] for i in (0, 1, 2, 4)] == ["high", "1000", "false", "PreemptLowerPriority"]
    assert row(out, "system-node-critical")[1:3] == ["2000001000", "false"]
    assert row(out, "system-cluster-critical")[1:3] == ["2000000000", "false"]
    refused = cluster.kubectl("delete", "pc", "system-cluster-critical", check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        'Error from server (Forbidden): priorityclasses.scheduling.k8s.io "system-cluster-critical" is forbidden: '
        "this is a system priority class and cannot be deleted"
    )
    lost = k.fails("create", "-f", "-", input=json.dumps(busybox_pod("lost", "sleep 1", priorityClassName="nope")))
    assert lost.stderr.strip() == (
        'Error from server (Forbidden): error when creating "STDIN": pods "lost" is forbidden: no PriorityClass '
        "with name nope was found"
    )


@pytest.mark.usefixtures("high")
def test_a_high_priority_pod_preempts_a_low_one_on_a_full_node(cluster: RunningServer, k: Kubectl) -> None:
    status, node = cluster.request("GET", f"/api/v1/nodes/{NODE}")
    assert status == 200, node
    cpu = milli_value(str(node["status"]["allocatable"]["cpu"]))
    create(k, busybox_pod("low", "exec sleep 3600", container=requesting(cpu - 100)))
    wait_running(k, "low")
    create(k, busybox_pod("urgent", "exec sleep 3600", container=requesting(cpu // 2), priorityClassName="high"))
    urgent = wait_running(k, "urgent", timeout=90)
    assert urgent["spec"]["priority"] == 1000
    assert urgent["spec"]["nodeName"] == urgent["status"]["nominatedNodeName"] == NODE
    gone = k.run("get", "pod", "low", check=False)
    assert gone.returncode == 1 and "(NotFound)" in gone.stderr
    events = wait_for(
        lambda: k.json("get", "events", "--field-selector", "involvedObject.name=low,reason=Preempted")["items"],
        "the Preempted event",
    )
    assert [e["message"] for e in events] == [f"Preempted by pod {urgent['metadata']['uid']} on node {NODE}"]
    assert pod_obj(k, "urgent")["status"]["phase"] == "Running"
