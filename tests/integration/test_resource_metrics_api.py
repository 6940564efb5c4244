"""The metrics API on a server whose node runs the fake runtime, read by the real ``kubectl top``.

Pods pin their simulated usage with ``FAKE_CPU``/``FAKE_MEMORY``, so every figure kubectl prints can
be checked exactly; tests/e2e/test_top.py checks real containers on Docker.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from support import fake_node_flags

from minikube_py.testing import RunningServer, eventually, start_server

Obj = dict[str, Any]
NODE = "rm-fake-node"
NS = "rm-top"
METRICS = "/apis/metrics.k8s.io/v1beta1"


def pod(name: str, containers: dict[str, tuple[str, str]], labels: dict[str, str]) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "terminationGracePeriodSeconds": 0,
            "containers": [
                {
                    "name": c,
                    "image": "fake.pykube.io/app:1",
                    "env": [{"name": "FAKE_CPU", "value": cpu}, {"name": "FAKE_MEMORY", "value": memory}],
                }
                for c, (cpu, memory) in containers.items()
            ],
        },
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("metrics") / "data", *fake_node_flags(NODE), agent=True)
    # the fake runtime runs no service proxy (proxy mode none): there are no host rules to clean up on
    # stop, and cleaning them would take other clusters' rules on this host with them
    running.node_network = False
    try:
        running.kubectl("create", "namespace", NS)
        for manifest in (
            pod("busy", {"main": ("250m", "64Mi")}, {"tier": "busy"}),
            pod("calm", {"main": ("10m", "16Mi")}, {"tier": "calm"}),
            pod("pair", {"web": ("30m", "100Mi"), "log": ("5m", "8Mi")}, {"tier": "busy"}),
        ):
            running.kubectl("-n", NS, "create", "-f", "-", input=json.dumps(manifest))
        eventually(
            lambda: len(top(running, "pods", "-n", NS, "--no-headers")) == 3, "metrics of the three pods", timeout=90
        )
        yield running
    finally:
        running.stop()


def top(server: RunningServer, *args: str) -> list[list[str]]:
    """``kubectl top`` as rows of cells; no rows while it fails (metrics not there yet)."""
    done = server.kubectl("top", *args, check=False)
    if done.returncode != 0:
        return []
    return [line.split() for line in done.stdout.splitlines() if line.strip()]


def test_discovery_lists_the_metrics_group_as_metrics_server_does(server: RunningServer) -> None:
    out = server.kubectl("api-resources", "--api-group=metrics.k8s.io", "--no-headers").stdout.split("\n")
    rows = sorted(line.split() for line in out if line.strip())
    assert rows == [
        ["nodes", "metrics.k8s.io/v1beta1", "false", "NodeMetrics"],
        ["pods", "metrics.k8s.io/v1beta1", "true", "PodMetrics"],
    ]
    _, groups = server.request("GET", "/apis")
    assert {"groupVersion": "metrics.k8s.io/v1beta1", "version": "v1beta1"} in next(
        g for g in groups["groups"] if g["name"] == "metrics.k8s.io"
    )["versions"]
    _, listing = server.request("GET", METRICS)
    assert {r["name"]: r["verbs"] for r in listing["resources"]} == {"nodes": ["get", "list"], "pods": ["get", "list"]}


def test_top_pods_prints_each_pods_usage(server: RunningServer) -> None:
    assert top(server, "pods", "-n", NS) == [
        ["NAME", "CPU(cores)", "MEMORY(bytes)"],
        ["busy", "250m", "64Mi"],
        ["calm", "10m", "16Mi"],
        ["pair", "35m", "108Mi"],
    ]


def test_top_pods_sorts_selects_and_drops_headers(server: RunningServer) -> None:
    assert [r[0] for r in top(server, "pods", "-n", NS, "--sort-by=cpu", "--no-headers")] == ["busy", "pair", "calm"]
    assert [r[0] for r in top(server, "pods", "-n", NS, "--sort-by=memory", "--no-headers")] == ["pair", "busy", "calm"]
    assert top(server, "pods", "-n", NS, "-l", "tier=calm", "--no-headers") == [["calm", "10m", "16Mi"]]
    assert [r[0] for r in top(server, "pods", "-n", NS, "-l", "tier!=calm", "--no-headers")] == ["busy", "pair"]
    assert top(server, "pods", "-n", NS, "--field-selector", "metadata.name=busy", "--no-headers") == [
        ["busy", "250m", "64Mi"]
    ]


def test_top_pods_per_container_and_across_namespaces(server: RunningServer) -> None:
    assert top(server, "pods", "pair", "-n", NS, "--containers") == [  # kubectl sorts containers by name
        ["POD", "NAME", "CPU(cores)", "MEMORY(bytes)"],
        ["pair", "log", "5m", "8Mi"],
        ["pair", "web", "30m", "100Mi"],
    ]
    everywhere = top(server, "pods", "-A", "--no-headers")
    assert [NS, "busy", "250m", "64Mi"] in everywhere
    assert {row[0] for row in everywhere} == {NS}  # pods of other namespaces: none run here


def test_top_nodes_shows_the_node_with_its_share_of_capacity(server: RunningServer) -> None:
    rows = top(server, "nodes")
    assert rows[0] == ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
    [(name, cpu, cpu_share, memory, _)] = rows[1:]
    assert name == NODE
    # not the host (the fake runtime): the node is its pods plus the agent process, so at least the pods
    assert int(cpu.removesuffix("m")) >= 250 + 10 + 35 and cpu_share.endswith("%")
    assert int(memory.removesuffix("Mi")) >= 64 + 16 + 108
    assert top(server, "node", NODE, "--no-headers")[0][0] == NODE


def test_metrics_objects_have_metrics_servers_shape(server: RunningServer) -> None:
    code, item = server.request("GET", f"{METRICS}/namespaces/{NS}/pods/busy")
    assert code == 200
    assert item["kind"] == "PodMetrics" and item["apiVersion"] == "metrics.k8s.io/v1beta1"
    assert item["metadata"]["labels"] == {"tier": "busy"} and "resourceVersion" not in item["metadata"]
    assert item["containers"] == [{"name": "main", "usage": {"cpu": "250m", "memory": "64Mi"}}]
    assert item["window"].endswith("s") and item["timestamp"].endswith("Z")
    code, listing = server.request("GET", f"{METRICS}/pods?labelSelector=tier%3Dbusy")
    assert listing["kind"] == "PodMetricsList" and sorted(i["metadata"]["name"] for i in listing["items"]) == [
        "busy",
        "pair",
    ]
    code, nodes = server.request("GET", f"{METRICS}/nodes")
    assert nodes["kind"] == "NodeMetricsList" and [n["metadata"]["name"] for n in nodes["items"]] == [NODE]
    assert set(nodes["items"][0]["usage"]) == {"cpu", "memory"}
    rows = [line.split() for line in server.kubectl("get", "podmetrics", "-n", NS).stdout.splitlines()]
    assert rows[0] == ["NAME", "CPU", "MEMORY", "WINDOW"] and rows[1][:3] == ["busy", "250m", "64Mi"]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (f"{METRICS}/namespaces/{NS}/pods/nobody", f'podmetrics.metrics.k8s.io "{NS}/nobody" not found'),
        (f"{METRICS}/nodes/nowhere", 'nodemetrics.metrics.k8s.io "nowhere" not found'),
    ],
)
def test_unknown_ones_are_404_not_found(server: RunningServer, path: str, message: str) -> None:
    code, status = server.request("GET", path)
    assert code == 404 and status["kind"] == "Status" and status["reason"] == "NotFound"
    assert status["message"] == message
    done = server.kubectl("top", "pod", "nobody", "-n", NS, check=False)
    assert done.returncode != 0 and f'podmetrics.metrics.k8s.io "{NS}/nobody" not found' in done.stderr


def test_metrics_are_read_only_and_need_credentials(server: RunningServer) -> None:
    code, status = server.request("POST", f"{METRICS}/namespaces/{NS}/pods", {"kind": "PodMetrics"})
    assert code == 405 and status["reason"] == "MethodNotAllowed"
    code, status = server.request("DELETE", f"{METRICS}/nodes/{NODE}")
    assert code == 405
    for path in (f"{METRICS}/pods", "/pykube/metrics/v1/nodes"):
        code, status = server.request("GET", path, token="")
        assert code == 401 and status["reason"] == "Unauthorized"
    code, status = server.request("GET", f"{METRICS}/namespaces/{NS}/configmaps")
    assert code == 404


def test_history_keeps_samples_for_sparklines(server: RunningServer) -> None:
    def samples(path: str) -> list[Obj] | None:
        code, body = server.request("GET", path)
        assert code == 200, body
        points = body["items"][0]["samples"]
        return points if len(points) >= 2 else None

    pod_points = eventually(
        lambda: samples(f"/pykube/metrics/v1/namespaces/{NS}/pods/busy"), "two samples of busy", timeout=90
    )
    assert {p["cpuNanoCores"] for p in pod_points} == {250_000_000}
    assert {p["memoryBytes"] for p in pod_points} == {64 << 20}
    assert [p["timestamp"] for p in pod_points] == sorted(p["timestamp"] for p in pod_points)
    node_points = eventually(lambda: samples(f"/pykube/metrics/v1/nodes/{NODE}"), "two samples of the node")
    assert all(p["cpuNanoCores"] > 0 and p["memoryBytes"] > 0 for p in node_points)
    code, body = server.request("GET", f"/pykube/metrics/v1/namespaces/{NS}/pods?labelSelector=tier%3Dcalm")
    assert code == 200 and body["interval"] == "15s" and [i["metadata"]["name"] for i in body["items"]] == ["calm"]
    code, body = server.request("GET", f"/pykube/metrics/v1/namespaces/{NS}/pods/nobody")
    assert code == 404
    code, body = server.request("GET", f"/pykube/metrics/v1/nodes/{NODE}?sinceSeconds=600")
    assert code == 200 and len(body["items"][0]["samples"]) >= 2
    code, body = server.request("GET", f"/pykube/metrics/v1/nodes/{NODE}?sinceSeconds=0")
    assert code == 400 and body["reason"] == "BadRequest"
