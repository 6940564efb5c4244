"""The HorizontalPodAutoscaler controller on a server whose node runs the fake runtime.

Pods pin their simulated usage with ``FAKE_CPU``/``FAKE_MEMORY``, so the controller's decisions are
known in advance; a 1 s sync period and a 3 s scale-down window keep each step short.
tests/e2e/test_autoscaling.py checks real containers on Docker with the real ``kubectl autoscale``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from support import fake_node_flags

from minikube_py.testing import RunningServer, eventually, start_server

Obj = dict[str, Any]
NODE = "hpa-fake-node"
NS = "hpa-fake"
WAIT = 90.0


def workload(kind: str, name: str, replicas: int, cpu: str, memory: str = "16Mi") -> Obj:
    container = {
        "name": "main",
        "image": "fake.pykube.io/app:1",
        "env": [{"name": "FAKE_CPU", "value": cpu}, {"name": "FAKE_MEMORY", "value": memory}],
        "resources": {"requests": {"cpu": "100m", "memory": "32Mi"}},
    }
    spec: Obj = {
        "replicas": replicas,
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"terminationGracePeriodSeconds": 0, "containers": [container]},
        },
    }
    if kind == "StatefulSet":
        spec["serviceName"] = name
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}


def autoscaler(name: str, kind: str, maximum: int, metric: Obj) -> Obj:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": name},
            "minReplicas": 1,
            "maxReplicas": maximum,
            "metrics": [metric],
        },
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path_factory.mktemp("hpa") / "data",
        *fake_node_flags(NODE),
        "--horizontal-pod-autoscaler-sync-period",
        "1",
        "--horizontal-pod-autoscaler-downscale-stabilization",
        "3",
        agent=True,
    )
    running.node_network = False  # the fake runtime writes no host rules
    try:
        running.kubectl("create", "namespace", NS)
        yield running
    finally:
        running.stop()


def create(server: RunningServer, *manifests: Obj) -> None:
    for manifest in manifests:
        server.kubectl("-n", NS, "create", "-f", "-", input=json.dumps(manifest))


def get(server: RunningServer, path: str) -> Obj:
    status, body = server.request("GET", path)
    assert status == 200, body
    return body


def hpa(server: RunningServer, name: str) -> Obj:
    return get(server, f"/apis/autoscaling/v2/namespaces/{NS}/horizontalpodautoscalers/{name}")


def settled(server: RunningServer, name: str, replicas: int, reason: str) -> Obj:
    """The autoscaler once its target sits at ``replicas`` and its ScalingLimited condition says
    ``reason`` with every pod measured: where the controller must come to rest."""

    def check() -> Obj | None:
        obj = hpa(server, name)
        status = obj.get("status") or {}
        conditions = {c["type"]: c["reason"] for c in status.get("conditions") or []}
        if status.get("currentReplicas") == replicas and conditions.get("ScalingLimited") == reason:
            return obj
        return None

    return eventually(check, f"{name} at {replicas} replicas ({reason})", timeout=WAIT)


def events(server: RunningServer, name: str) -> list[str]:
    items = get(server, f"/api/v1/namespaces/{NS}/events?fieldSelector=involvedObject.name={name}")["items"]
    return [f"{e['reason']}: {e['message']}" for e in items if e["involvedObject"]["kind"] == "HorizontalPodAutoscaler"]


def test_cpu_utilization_drives_a_deployment_up_to_max_then_down_to_min(server: RunningServer) -> None:
    cpu = {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}
    create(server, workload("Deployment", "api", 2, "150m"), autoscaler("api", "Deployment", 4, cpu))
    up = settled(server, "api", 4, "TooManyReplicas")
    current = up["status"]["currentMetrics"][0]["resource"]["current"]
    assert current == {"averageValue": "150m", "averageUtilization": 150}
    assert get(server, f"/apis/apps/v1/namespaces/{NS}/deployments/api")["spec"]["replicas"] == 4
    assert any(
        e.startswith("SuccessfulRescale: New size: ")
        and e.endswith("cpu resource utilization (percentage of request) above target")
        for e in events(server, "api")
    )

    # the load goes: new pods at 10 % of their request
    server.kubectl("-n", NS, "set", "env", "deployment/api", "FAKE_CPU=10m")
    down = settled(server, "api", 1, "DesiredWithinRange")  # 10 % of 50 % on one pod: ceil(0.2) = 1
    assert down["status"]["currentMetrics"][0]["resource"]["current"]["averageUtilization"] == 10
    assert "SuccessfulRescale: New size: 1; reason: All metrics below target" in events(server, "api")


def test_average_memory_drives_a_statefulset(server: RunningServer) -> None:
    memory = {
        "type": "Resource",
        "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "32Mi"}},
    }
    create(server, workload("StatefulSet", "db", 1, "5m", memory="64Mi"), autoscaler("db", "StatefulSet", 3, memory))
    settled(server, "db", 3, "TooManyReplicas")
    assert get(server, f"/apis/apps/v1/namespaces/{NS}/statefulsets/db")["spec"]["replicas"] == 3
    assert "SuccessfulRescale: New size: 2; reason: memory resource above target" in events(server, "db")


def test_a_target_scaled_to_zero_is_left_alone(server: RunningServer) -> None:
    cpu = {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}
    create(server, workload("Deployment", "off", 0, "150m"), autoscaler("off", "Deployment", 4, cpu))

    def active() -> tuple[str, str] | None:
        conditions = hpa(server, "off").get("status", {}).get("conditions") or []
        return next(((c["status"], c["reason"]) for c in conditions if c["type"] == "ScalingActive"), None)

    assert eventually(active, "the ScalingActive condition", timeout=WAIT) == ("False", "ScalingDisabled")
    assert get(server, f"/apis/apps/v1/namespaces/{NS}/deployments/off")["spec"]["replicas"] == 0
