"""ResourceQuota and LimitRange against a real server: the quota controller's status, refusals with
Kubernetes' messages, concurrent creates that must not overshoot, usage given back on deletion,
kubectl's quota tables, and LimitRange defaults and bounds."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from minikube_py.testing import RunningServer, eventually, start_server

Obj = dict[str, Any]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(Path(tmp_path_factory.mktemp("quota")) / "data")
    try:
        yield running
    finally:
        running.stop()


def _namespace(server: RunningServer, name: str) -> str:
    code, body = server.request("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
    assert code == 201, body
    return name


def _quota(server: RunningServer, ns: str, name: str, hard: dict[str, str]) -> Obj:
    quota = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": name}, "spec": {"hard": hard}}
    code, body = server.request("POST", f"/api/v1/namespaces/{ns}/resourcequotas", quota)
    assert code == 201, body
    return _counted(server, ns, name, lambda used: set(used) == set(hard))


def _counted(server: RunningServer, ns: str, name: str, ok: Any) -> Obj:
    def check() -> Obj | None:
        code, body = server.request("GET", f"/api/v1/namespaces/{ns}/resourcequotas/{name}")
        assert code == 200, body
        used = (body.get("status") or {}).get("used")
        return body if used is not None and ok(used) else None

    return eventually(check, f"quota {name} counted")


def _pod(name: str, **resources: dict[str, str]) -> Obj:
    container: Obj = {"name": "c", "image": "registry.example/app:1"}
    if resources:
        container["resources"] = resources
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [container]}}


def _create_pod(server: RunningServer, ns: str, pod: Obj) -> tuple[int, Any]:
    return server.request("POST", f"/api/v1/namespaces/{ns}/pods", pod)


def test_a_pod_beyond_the_quota_is_forbidden_with_kubernetes_message(server: RunningServer) -> None:
    ns = _namespace(server, "quota-pods")
    quota = _quota(server, ns, "q", {"pods": "2"})
    assert quota["status"] == {"hard": {"pods": "2"}, "used": {"pods": "0"}}
    for name in ("a", "b"):
        code, body = _create_pod(server, ns, _pod(name))
        assert code == 201, body
    code, body = _create_pod(server, ns, _pod("c"))
    assert code == 403, body
    assert body["reason"] == "Forbidden"
    assert body["message"] == (
        'pods "c" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2'
    )
    assert body["details"] == {"name": "c", "kind": "pods"}
    assert server.request("GET", f"/api/v1/namespaces/{ns}/pods/c")[0] == 404

    # deleting a pod gives its share back (the controller recounts), and the next create fits
    assert server.request("DELETE", f"/api/v1/namespaces/{ns}/pods/a")[0] == 200
    _counted(server, ns, "q", lambda used: used == {"pods": "1"})
    assert _create_pod(server, ns, _pod("c"))[0] == 201


def test_concurrent_creates_do_not_overshoot(server: RunningServer) -> None:
    ns = _namespace(server, "quota-race")
    # the namespace's kube-root-ca.crt counts too: made first, so that the root CA publisher does not
    # race the test's creates for the quota's last ConfigMap
    eventually(
        lambda: server.request("GET", f"/api/v1/namespaces/{ns}/configmaps/kube-root-ca.crt")[0] == 200,
        "the namespace's kube-root-ca.crt",
    )
    _quota(server, ns, "q", {"pods": "5", "configmaps": "4"})
    with ThreadPoolExecutor(12) as pool:
        codes = list(pool.map(lambda i: _create_pod(server, ns, _pod(f"p{i}"))[0], range(12)))
        cm_codes = list(
            pool.map(
                lambda i: server.request(
                    "POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": f"c{i}"}}
                )[0],
                range(8),
            )
        )
    assert sorted(codes) == [201] * 5 + [403] * 7
    assert sorted(cm_codes) == [201] * 3 + [403] * 5
    _, body = server.request("GET", f"/api/v1/namespaces/{ns}/pods")
    assert len(body["items"]) == 5
    quota = _counted(server, ns, "q", lambda used: True)
    assert quota["status"]["used"] == {"pods": "5", "configmaps": "4"}


def test_creates_racing_deletions_and_recounts_stay_within_the_quota(server: RunningServer) -> None:
    """Deletions make the controller recount while creates are charged: whatever interleaves, no
    more pods exist than the quota allows, and the count settles on the truth."""
    ns = _namespace(server, "quota-churn")
    _quota(server, ns, "q", {"pods": "3"})
    for i in range(3):
        assert _create_pod(server, ns, _pod(f"old{i}"))[0] == 201

    def work(i: int) -> int:
        if i < 3:
            return int(server.request("DELETE", f"/api/v1/namespaces/{ns}/pods/old{i}")[0])
        return int(_create_pod(server, ns, _pod(f"new{i}"))[0])

    with ThreadPoolExecutor(12) as pool:
        codes = list(pool.map(work, range(15)))
    assert codes[:3] == [200, 200, 200]
    created = codes[3:].count(201)
    assert set(codes[3:]) <= {201, 403}
    _, body = server.request("GET", f"/api/v1/namespaces/{ns}/pods")
    assert len(body["items"]) == created <= 3
    _counted(server, ns, "q", lambda used: used == {"pods": str(created)})


def test_object_counts_of_any_kind_are_given_back_on_deletion(server: RunningServer) -> None:
    ns = _namespace(server, "quota-count")
    _quota(server, ns, "q", {"count/deployments.apps": "1"})
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d1"},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "d"}},
            "template": {
                "metadata": {"labels": {"app": "d"}},
                "spec": {"containers": [{"name": "c", "image": "registry.example/app:1"}]},
            },
        },
    }
    path = f"/apis/apps/v1/namespaces/{ns}/deployments"
    assert server.request("POST", path, deployment)[0] == 201
    deployment["metadata"]["name"] = "d2"
    code, body = server.request("POST", path, deployment)
    assert (code, body["message"]) == (
        403,
        'deployments.apps "d2" is forbidden: exceeded quota: q, requested: '
        "count/deployments.apps=1, used: count/deployments.apps=1, limited: "
        "count/deployments.apps=1",
    )
    assert server.request("DELETE", f"{path}/d1")[0] == 200
    _counted(server, ns, "q", lambda used: used == {"count/deployments.apps": "0"})
    assert server.request("POST", path, deployment)[0] == 201


def test_compute_quota_and_the_missing_request_message(server: RunningServer) -> None:
    ns = _namespace(server, "quota-compute")
    _quota(server, ns, "compute", {"requests.cpu": "1", "limits.memory": "1Gi"})
    code, body = _create_pod(server, ns, _pod("bare"))
    assert (code, body["message"]) == (
        403,
        'pods "bare" is forbidden: failed quota: compute: must specify '
        "limits.memory for: c; must specify requests.cpu for: c",
    )
    fits = _pod("fits", requests={"cpu": "600m"}, limits={"memory": "512Mi"})
    assert _create_pod(server, ns, fits)[0] == 201
    code, body = _create_pod(server, ns, _pod("big", requests={"cpu": "600m"}, limits={"memory": "256Mi"}))
    assert (code, body["message"]) == (
        403,
        'pods "big" is forbidden: exceeded quota: compute, requested: '
        "requests.cpu=600m, used: requests.cpu=600m, limited: requests.cpu=1",
    )

    table = server.kubectl("-n", ns, "get", "quota").stdout.splitlines()
    assert table[0].split() == ["NAME", "AGE", "REQUEST", "LIMIT"]
    assert table[1].split()[0] == "compute"
    assert table[1].split()[2:] == ["requests.cpu:", "600m/1", "limits.memory:", "512Mi/1Gi"]
    described = server.kubectl("-n", ns, "describe", "quota", "compute").stdout
    assert "Name:          compute" in described and f"Namespace:     {ns}" in described
    lines = [line.split() for line in described.splitlines()]
    assert ["Resource", "Used", "Hard"] in lines
    assert ["limits.memory", "512Mi", "1Gi"] in lines and ["requests.cpu", "600m", "1"] in lines


def test_services_and_node_ports(server: RunningServer) -> None:
    ns = _namespace(server, "quota-svc")
    _quota(server, ns, "svc", {"services": "2", "services.nodeports": "1"})
    node_port = {
        "metadata": {"name": "np"},
        "spec": {"type": "NodePort", "ports": [{"name": "a", "port": 80}, {"name": "b", "port": 81}]},
    }
    code, body = server.request("POST", f"/api/v1/namespaces/{ns}/services", node_port)
    assert (code, body["message"]) == (
        403,
        'services "np" is forbidden: exceeded quota: svc, requested: '
        "services.nodeports=2, used: services.nodeports=0, limited: "
        "services.nodeports=1",
    )
    plain = {"metadata": {"name": "plain"}, "spec": {"ports": [{"port": 80}]}}
    assert server.request("POST", f"/api/v1/namespaces/{ns}/services", plain)[0] == 201
    # an update that adds usage is charged too
    code, body = server.request(
        "PATCH",
        f"/api/v1/namespaces/{ns}/services/plain",
        {"spec": {"type": "NodePort", "ports": [{"name": "a", "port": 80}, {"name": "b", "port": 81}]}},
        content_type="application/strategic-merge-patch+json",
    )
    assert code == 403, body
    assert "exceeded quota: svc, requested: services.nodeports=2" in body["message"]


def test_limit_range_defaults_and_bounds(server: RunningServer) -> None:
    ns = _namespace(server, "limits")
    limit_range = {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": "lr"},
        "spec": {
            "limits": [{"type": "Container", "max": {"cpu": "1"}, "defaultRequest": {"cpu": "100m", "memory": "64Mi"}}]
        },
    }
    code, body = server.request("POST", f"/api/v1/namespaces/{ns}/limitranges", limit_range)
    assert code == 201, body
    assert body["spec"]["limits"][0]["default"] == {"cpu": "1"}, "the default limit defaults to max"
    code, pod = _create_pod(server, ns, _pod("defaulted"))
    assert code == 201, pod
    assert pod["spec"]["containers"][0]["resources"] == {
        "limits": {"cpu": "1"},
        "requests": {"cpu": "100m", "memory": "64Mi"},
    }
    assert pod["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: cpu, memory request for container c; cpu limit for container c"
    )
    assert pod["status"]["qosClass"] == "Burstable"
    code, body = _create_pod(server, ns, _pod("big", limits={"cpu": "2"}))
    assert (code, body["message"]) == (
        403,
        'pods "big" is forbidden: maximum cpu usage per Container is 1, but limit is 2',
    )
    # the default limit (1 cpu) below the pod's own request makes the pod invalid, as in Kubernetes
    code, body = _create_pod(server, ns, _pod("over", requests={"cpu": "2"}))
    assert (code, body["message"]) == (
        422,
        'Pod "over" is invalid: spec.containers[0].resources.requests: '
        'Invalid value: "2": must be less than or equal to cpu limit of 1',
    )
    header, row = server.kubectl("-n", ns, "get", "limits").stdout.splitlines()
    assert header.split() == ["NAME", "CREATED", "AT"] and row.split()[0] == "lr"
