"""The HorizontalPodAutoscaler controller on a server whose node runs the fake runtime.

Pods pin their simulated usage with ``FAKE_CPU``/``FAKE_MEMORY``, so the controller's decisions are
known in advance; a 1 s sync period and a 3 s scale-down window keep each step short. Pods and
External metrics come from a metrics adapter (a real HTTPS extension API server, see
:mod:`extension_apiserver`) behind the custom and external metrics APIs' APIServices.
tests/e2e/test_autoscaling.py checks real containers on Docker with the real ``kubectl autoscale``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from extension_apiserver import ExtensionServer
from support import fake_node_flags

from minikube_py.testing import RunningServer, eventually, start_server

Obj = dict[str, Any]
NODE = "hpa-fake-node"
NS = "hpa-fake"
WAIT = 90.0
ADAPTER_NS = "metrics-adapter"
CUSTOM, EXTERNAL = "/apis/custom.metrics.k8s.io/v1beta2", "/apis/external.metrics.k8s.io/v1beta1"


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


@pytest.fixture(scope="module")
def adapter(server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExtensionServer]:
    """A metrics adapter, as prometheus-adapter or KEDA: the custom and external metrics APIs, each
    handed to it by an APIService, answering what the tests put in its routes."""
    config = get(server, "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication")
    extension = ExtensionServer(tmp_path_factory.mktemp("adapter"), config["data"], f"adapter.{ADAPTER_NS}.svc")
    for path in (CUSTOM, EXTERNAL):
        group_version = path.removeprefix("/apis/")
        extension.routes[path] = {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": group_version,
            "resources": [],
        }
    server.kubectl("create", "namespace", ADAPTER_NS)
    service = {
        "metadata": {"name": "adapter"},
        "spec": {"ports": [{"name": "https", "port": 443, "targetPort": extension.port}]},
    }
    subsets = [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "https", "port": extension.port}]}]
    for kind, obj in (("Service", service), ("Endpoints", {"metadata": {"name": "adapter"}, "subsets": subsets})):
        server.kubectl(
            "-n", ADAPTER_NS, "create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": kind, **obj})
        )
    bundle = base64.b64encode(extension.ca_pem).decode()
    for path in (CUSTOM, EXTERNAL):
        group, version = path.removeprefix("/apis/").split("/")
        apiservice = {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": f"{version}.{group}"},
            "spec": {
                "group": group,
                "version": version,
                "groupPriorityMinimum": 100,
                "versionPriority": 100,
                "service": {"namespace": ADAPTER_NS, "name": "adapter"},
                "caBundle": bundle,
            },
        }
        server.kubectl("apply", "-f", "-", input=json.dumps(apiservice))
        eventually(
            lambda name=f"{version}.{group}": "True" in server.kubectl("get", "apiservice", name).stdout,
            f"the {group} APIService available",
            timeout=WAIT,
        )
    try:
        yield extension
    finally:
        server.kubectl("delete", "apiservice", "v1beta2.custom.metrics.k8s.io", "v1beta1.external.metrics.k8s.io")
        extension.close()


def running_pods(server: RunningServer, app: str, count: int) -> list[str]:
    def check() -> list[str] | None:
        items = get(server, f"/api/v1/namespaces/{NS}/pods?labelSelector=app={app}")["items"]
        names = [p["metadata"]["name"] for p in items if (p.get("status") or {}).get("phase") == "Running"]
        return names if len(names) == count else None

    return eventually(check, f"{count} running pods of {app}", timeout=WAIT)


def test_a_pods_metric_from_a_metrics_adapter_drives_a_deployment(
    server: RunningServer, adapter: ExtensionServer
) -> None:
    create(server, workload("Deployment", "queue", 2, "5m"))
    path = f"{CUSTOM}/namespaces/{NS}/pods/*/qps"
    adapter.routes[path] = {
        "kind": "MetricValueList",
        "apiVersion": "custom.metrics.k8s.io/v1beta2",
        "metadata": {},
        "items": [
            {
                "describedObject": {"kind": "Pod", "namespace": NS, "name": name, "apiVersion": "/v1"},
                "metric": {"name": "qps", "selector": None},
                "timestamp": "2026-12-07T00:00:00Z",
                "value": "3",
            }
            for name in running_pods(server, "queue", 2)
        ],
    }
    qps = {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "1"}}}
    create(server, autoscaler("queue", "Deployment", 10, qps))
    up = settled(server, "queue", 6, "DesiredWithinRange")  # 3 a pod against 1: three times the pods
    assert up["status"]["currentMetrics"] == [
        {"type": "Pods", "pods": {"metric": {"name": "qps"}, "current": {"averageValue": "3"}}}
    ]
    assert "SuccessfulRescale: New size: 6; reason: pods metric qps above target" in events(server, "queue")
    assert adapter.queries[path][-1]["labelSelector"] == ["app=queue"]  # the target's pods


def test_an_external_metric_per_pod_from_a_metrics_adapter(server: RunningServer, adapter: ExtensionServer) -> None:
    path = f"{EXTERNAL}/namespaces/{NS}/queue_depth"
    adapter.routes[path] = {
        "kind": "ExternalMetricValueList",
        "apiVersion": "external.metrics.k8s.io/v1beta1",
        "metadata": {},
        "items": [
            {
                "metricName": "queue_depth",
                "metricLabels": {"queue": "jobs"},
                "timestamp": "2026-12-07T00:00:00Z",
                "value": v,
            }
            for v in ("20", "30")
        ],
    }
    depth = {
        "type": "External",
        "external": {
            "metric": {"name": "queue_depth", "selector": {"matchLabels": {"queue": "jobs"}}},
            "target": {"type": "AverageValue", "averageValue": "10"},
        },
    }
    create(server, workload("Deployment", "workers", 1, "5m"), autoscaler("workers", "Deployment", 10, depth))
    settled_at = settled(server, "workers", 5, "DesiredWithinRange")  # 50 waiting, 10 for each pod
    current = settled_at["status"]["currentMetrics"][0]["external"]
    assert current == {"metric": depth["external"]["metric"], "current": {"averageValue": "10"}}
    assert get(server, f"/apis/apps/v1/namespaces/{NS}/deployments/workers")["spec"]["replicas"] == 5
    assert adapter.queries[path][-1]["labelSelector"] == ["queue=jobs"]
