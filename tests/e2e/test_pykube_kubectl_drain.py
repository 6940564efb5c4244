"""``pykube kubectl drain`` beside the real kubectl: twin fake nodes (``pkdrain-x1`` drained by pykube's,
``pkdrain-x2`` by kubectl), each with the same kinds of pods, drained step by step; what they print,
their exit codes and the pods they leave must be the same."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_nodes import server_with_fake_nodes
from kubectl_helpers import Kubectl, to_yaml, wait_for
from pykube_kubectl_helpers import Twins

from minikube_py.testing import RunningServer

pytestmark = pytest.mark.kubectl

NODES = ["pkdrain-x1", "pkdrain-x2"]
#: generated pod names (a controller's pods): each twin's differ
GENERATED = r"(rcp|emp|dsd)(-x[12])?-[a-z0-9]{5}"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with server_with_fake_nodes(tmp_path_factory.mktemp("pkdrain") / "data", NODES) as (running, _):
        yield running


def pod_spec(node: str, **extra: object) -> dict:  # type: ignore[type-arg]
    return {
        "nodeName": node,
        "terminationGracePeriodSeconds": 0,
        "containers": [{"name": "c", "image": "pykube.local/pause:1"}],
        **extra,
    }


def rc(name: str, node: str, **extra: object) -> dict:  # type: ignore[type-arg]
    """Scheduled to ``node`` by its hostname label: a replacement waits while the node is cordoned."""
    spec = pod_spec("", nodeSelector={"kubernetes.io/hostname": node}, **extra)
    return {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"app": name},
            "template": {"metadata": {"labels": {"app": name}}, "spec": spec},
        },
    }


def workloads(suffix: str) -> str:
    node = f"pkdrain-{suffix}"
    return to_yaml(
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"bare-{suffix}"}, "spec": pod_spec(node)},
        rc(f"rcp-{suffix}", node),
        rc(f"emp-{suffix}", node, volumes=[{"name": "scratch", "emptyDir": {}}]),
    )


def test_drain_prints_as_kubectl(cluster: RunningServer, tmp_path: Path) -> None:
    k = Kubectl(cluster, "default")
    twins = Twins(k, tmp_path)
    twins.step("apply -f {file}", workloads, rc=0)
    k.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "dsd"},
            "spec": {
                "selector": {"matchLabels": {"app": "dsd"}},
                "template": {"metadata": {"labels": {"app": "dsd"}}, "spec": pod_spec("")},
            },
        }
    )
    wait_for(
        lambda: k.json("get", "pods")["items"],
        lambda pods: len(pods) == 8 and all(p["status"].get("phase") == "Running" for p in pods),
        "the pods to run",
        timeout=60,
    )
    # kubectl groups its errors and warnings in a Go map: with more than one kind their order changes
    # from run to run, so each step meets one kind (the pod selector picks the pods)
    for command, rc in [
        ("drain pkdrain-{s} --pod-selector=app=dsd", 1),
        ("drain pkdrain-{s} --pod-selector=app=emp-{s}", 1),
        ("drain pkdrain-{s} --pod-selector=!app", 1),
        ("drain pkdrain-{s} --ignore-daemonsets --pod-selector=app=dsd", 0),
        ("drain pkdrain-{s} --ignore-daemonsets --delete-emptydir-data --pod-selector=app=emp-{s}", 0),
        ("create pdb rcp-{s} --selector=app=rcp-{s} --min-available=1", 0),
        ("drain pkdrain-{s} --pod-selector=app=rcp-{s} --timeout=7s", 1),
        ("delete pdb rcp-{s}", 0),
        ("drain pkdrain-{s} --pod-selector=app=rcp-{s}", 0),
        ("drain pkdrain-{s} --force --pod-selector=!app", 0),
        ("drain pkdrain-{s} --ignore-daemonsets", 0),
        ("drain nope-{s}", 1),
    ]:
        twins.step(command, rc=rc, mask=GENERATED)
    left = sorted(
        p["metadata"]["name"].rsplit("-", 1)[0]
        for p in k.json("get", "pods")["items"]
        if p["spec"].get("nodeName") in NODES and not p["metadata"].get("deletionTimestamp")
    )
    # the controllers' replacements wait for a schedulable node; the DaemonSet's pods stay
    assert left == ["dsd", "dsd"], left
    assert all(k.obj("node", n)["spec"].get("unschedulable") for n in NODES)
