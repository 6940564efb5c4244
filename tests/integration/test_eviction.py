"""PodDisruptionBudgets and the ``pods/eviction`` subresource against a real server with hollow
nodes: the disruption controller's status, evictions refused with 429 and then allowed once a
replacement is Ready, concurrent evictions racing for one disruption, and the edge cases Kubernetes
answers specially (several budgets, pods that are not running, dry runs)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fake_nodes import in_process_cluster

from minikube_py.testing import ServerEndpoint, eventually

Obj = dict[str, Any]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerEndpoint]:
    with in_process_cluster(tmp_path_factory.mktemp("eviction") / "data", list(NODES)) as (s, _):
        yield s


NODES = ("evict-n1", "evict-n2")


@contextlib.contextmanager
def cordoned(server: ServerEndpoint) -> Iterator[None]:
    """No new pod is scheduled meanwhile, so an evicted pod's replacement stays Pending (not Ready)
    and what the budget allows changes only with the test's evictions."""
    for node in NODES:
        server.kubectl("cordon", node)
    try:
        yield
    finally:
        for node in NODES:
            server.kubectl("uncordon", node)


def _namespace(server: ServerEndpoint, name: str) -> str:
    code, body = server.request("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
    assert code == 201, body
    return name


def _replica_set(server: ServerEndpoint, ns: str, app: str, replicas: int) -> None:
    rs = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": app},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": app}},
            "template": {
                "metadata": {"labels": {"app": app}},
                "spec": {"containers": [{"name": "c", "image": "registry.example/app:1"}]},
            },
        },
    }
    code, body = server.request("POST", f"/apis/apps/v1/namespaces/{ns}/replicasets", rs)
    assert code == 201, body


def _budget(server: ServerEndpoint, ns: str, name: str, app: str, **spec: Any) -> None:
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"app": app}}, **spec},
    }
    code, body = server.request("POST", f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets", pdb)
    assert code == 201, body


def _status(server: ServerEndpoint, ns: str, name: str) -> Obj:
    code, body = server.request("GET", f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets/{name}")
    assert code == 200, body
    return dict(body.get("status") or {})


def _ready_pods(server: ServerEndpoint, ns: str, app: str) -> list[str]:
    code, body = server.request("GET", f"/api/v1/namespaces/{ns}/pods?labelSelector=app%3D{app}")
    assert code == 200, body
    return sorted(
        p["metadata"]["name"]
        for p in body["items"]
        if not p["metadata"].get("deletionTimestamp")
        and any(c["type"] == "Ready" and c["status"] == "True" for c in (p.get("status") or {}).get("conditions") or [])
    )


def _evict(
    server: ServerEndpoint, ns: str, pod: str, version: str = "policy/v1", **delete_options: Any
) -> tuple[int, Any]:
    eviction: Obj = {"apiVersion": version, "kind": "Eviction", "metadata": {"name": pod, "namespace": ns}}
    if delete_options:
        eviction["deleteOptions"] = delete_options
    return server.request("POST", f"/api/v1/namespaces/{ns}/pods/{pod}/eviction", eviction)


def _settled(server: ServerEndpoint, ns: str, name: str, **wanted: int) -> Obj:
    def check() -> Obj | None:
        status = _status(server, ns, name)
        return status if all(status.get(k) == v for k, v in wanted.items()) else None

    return eventually(check, f"budget {name} with {wanted}")


def test_discovery_names_the_eviction_subresource_for_kubectl_drain(server: ServerEndpoint) -> None:
    code, body = server.request("GET", "/api/v1")
    assert code == 200
    [entry] = [r for r in body["resources"] if r["name"] == "pods/eviction"]
    assert (entry["kind"], entry["group"], entry["version"], entry["verbs"]) == ("Eviction", "policy", "v1", ["create"])


def test_budget_status_then_eviction_refused_then_allowed_when_a_replacement_is_ready(server: ServerEndpoint) -> None:
    ns = _namespace(server, "evict-basic")
    _replica_set(server, ns, "web", 3)
    _budget(server, ns, "web", "web", minAvailable=2)
    status = _settled(server, ns, "web", currentHealthy=3, disruptionsAllowed=1)
    assert (status["expectedPods"], status["desiredHealthy"], status["observedGeneration"]) == (3, 2, 1)
    assert [(c["type"], c["status"], c["reason"]) for c in status["conditions"]] == [
        ("DisruptionAllowed", "True", "SufficientPods")
    ]
    table = server.kubectl("-n", ns, "get", "pdb").stdout.splitlines()
    assert table[0].split() == ["NAME", "MIN", "AVAILABLE", "MAX", "UNAVAILABLE", "ALLOWED", "DISRUPTIONS", "AGE"]
    assert table[1].split()[:4] == ["web", "2", "N/A", "1"]
    described = [line.split() for line in server.kubectl("-n", ns, "describe", "pdb", "web").stdout.splitlines()]
    for expected in (
        ["Min", "available:", "2"],
        ["Selector:", "app=web"],
        ["Allowed", "disruptions:", "1"],
        ["Current:", "3"],
        ["Desired:", "2"],
        ["Total:", "3"],
    ):
        assert expected in described, described

    first, second = _ready_pods(server, ns, "web")[:2]
    with cordoned(server):
        code, body = _evict(server, ns, first)
        assert code == 201, body
        assert body["status"] == "Success"
        spent = _status(server, ns, "web")
        assert spent["disruptionsAllowed"] == 0, spent

        code, body = _evict(server, ns, second)
        assert code == 429, body
        assert body["reason"] == "TooManyRequests"
        assert body["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
        [cause] = body["details"]["causes"]
        assert cause["reason"] == "DisruptionBudget"
        assert cause["message"] in (
            "The disruption budget web needs 2 healthy pods and has 2 currently",
            "The disruption budget web needs 2 healthy pods and has 3 currently",
        )
        _settled(server, ns, "web", currentHealthy=2, disruptionsAllowed=0)
        assert _evict(server, ns, second)[0] == 429

    # the ReplicaSet's replacement is scheduled now; once it is Ready the budget allows again
    _settled(server, ns, "web", currentHealthy=3, disruptionsAllowed=1)
    code, body = _evict(server, ns, second)
    assert code == 201, body


def test_concurrent_evictions_spend_one_disruption_once(server: ServerEndpoint) -> None:
    ns = _namespace(server, "evict-race")
    _replica_set(server, ns, "db", 6)
    _budget(server, ns, "db", "db", maxUnavailable=1)
    _settled(server, ns, "db", currentHealthy=6, expectedPods=6, disruptionsAllowed=1)
    names = _ready_pods(server, ns, "db")
    with cordoned(server), ThreadPoolExecutor(len(names)) as pool:
        codes = sorted(code for code, _ in pool.map(lambda pod: _evict(server, ns, pod), names))
        assert codes == [201] + [429] * (len(names) - 1)
        _settled(server, ns, "db", currentHealthy=5, disruptionsAllowed=0)


def test_a_percentage_budget_and_a_relaxed_budget(server: ServerEndpoint) -> None:
    ns = _namespace(server, "evict-relax")
    _replica_set(server, ns, "api", 2)
    _budget(server, ns, "api", "api", minAvailable="100%")
    _settled(server, ns, "api", expectedPods=2, desiredHealthy=2, currentHealthy=2, disruptionsAllowed=0)
    pod = _ready_pods(server, ns, "api")[0]
    assert _evict(server, ns, pod)[0] == 429
    server.kubectl("-n", ns, "patch", "pdb", "api", "--type=merge", "-p", json.dumps({"spec": {"minAvailable": "50%"}}))
    _settled(server, ns, "api", observedGeneration=2, desiredHealthy=1, disruptionsAllowed=1)
    assert _evict(server, ns, pod, version="policy/v1beta1")[0] == 201


def test_several_budgets_dry_runs_and_pods_that_are_not_running(server: ServerEndpoint) -> None:
    ns = _namespace(server, "evict-edges")
    _replica_set(server, ns, "app", 2)
    _budget(server, ns, "one", "app", minAvailable=0)
    _settled(server, ns, "one", currentHealthy=2, disruptionsAllowed=2)
    pod = _ready_pods(server, ns, "app")[0]

    code, body = _evict(server, ns, pod, dryRun=["All"])
    assert code == 201, body
    assert pod in _ready_pods(server, ns, "app") and _status(server, ns, "one")["disruptionsAllowed"] == 2

    _budget(server, ns, "two", "app", minAvailable=0)
    code, body = _evict(server, ns, pod)
    assert code == 500, body
    assert body["message"] == (
        "Internal error occurred: This pod has more than one PodDisruptionBudget, which the "
        "eviction subresource does not support."
    )

    # a pod no node runs (Pending) disrupts nothing: evicted whatever its budget says
    unschedulable = {
        "metadata": {"name": "pending", "labels": {"app": "held"}},
        "spec": {"nodeSelector": {"no": "such-node"}, "containers": [{"name": "c", "image": "x"}]},
    }
    assert server.request("POST", f"/api/v1/namespaces/{ns}/pods", unschedulable)[0] == 201
    _budget(server, ns, "held", "held", minAvailable=1)
    _settled(server, ns, "held", expectedPods=1, disruptionsAllowed=0)
    assert _evict(server, ns, "pending")[0] == 201
    assert server.request("GET", f"/api/v1/namespaces/{ns}/pods/pending")[0] == 404

    code, body = _evict(server, ns, "nobody")
    assert code == 404, body
    code, body = server.request(
        "POST",
        f"/api/v1/namespaces/{ns}/pods/{pod}/eviction",
        {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "other"}},
    )
    assert (code, body["message"]) == (400, "name in URL does not match name in Eviction object")


def test_expected_pods_come_from_the_deployment_and_unmanaged_pods_are_left_out(server: ServerEndpoint) -> None:
    ns = _namespace(server, "evict-scale")
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "front"},
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": "front"}},
            "template": {
                "metadata": {"labels": {"app": "front"}},
                "spec": {"containers": [{"name": "c", "image": "registry.example/app:1"}]},
            },
        },
    }
    assert server.request("POST", f"/apis/apps/v1/namespaces/{ns}/deployments", deployment)[0] == 201
    bare = {
        "metadata": {"name": "bare", "labels": {"app": "front"}},
        "spec": {"containers": [{"name": "c", "image": "registry.example/app:1"}]},
    }
    assert server.request("POST", f"/api/v1/namespaces/{ns}/pods", bare)[0] == 201
    _budget(server, ns, "front", "front", maxUnavailable="25%")
    # 4 replicas of the Deployment (through its ReplicaSet); the bare pod is healthy but not expected
    _settled(server, ns, "front", expectedPods=4, desiredHealthy=3, currentHealthy=5, disruptionsAllowed=2)

    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "batch"},
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "batch"}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "registry.example/app:1"}]},
            }
        },
    }
    assert server.request("POST", f"/apis/batch/v1/namespaces/{ns}/jobs", job)[0] == 201
    _budget(server, ns, "batch", "batch", minAvailable="50%")

    def failed() -> Obj | None:
        status = _status(server, ns, "batch")
        return status if any(c["reason"] == "SyncFailed" for c in status.get("conditions") or []) else None

    status = eventually(failed, "a budget over a Job's pods to fail safe")
    assert status["disruptionsAllowed"] == 0
    assert status["conditions"][0]["message"].startswith("found no controllers for pod ")
    assert eventually(lambda: _events(server, ns, "batch", "CalculateExpectedPodCountFailed"), "a warning event")

    _budget(server, ns, "empty", "nothing", minAvailable=1)
    _settled(server, ns, "empty", expectedPods=0, desiredHealthy=1, disruptionsAllowed=0)
    [event] = eventually(lambda: _events(server, ns, "empty", "NoPods"), "a NoPods event")
    assert (event["type"], event["message"]) == ("Normal", "No matching pods found")


def _events(server: ServerEndpoint, ns: str, name: str, reason: str) -> list[Obj]:
    code, body = server.request("GET", f"/api/v1/namespaces/{ns}/events")
    assert code == 200, body
    return [e for e in body["items"] if e["involvedObject"]["name"] == name and e["reason"] == reason]


def test_budget_validation(server: ServerEndpoint) -> None:
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "bad"},
        "spec": {"minAvailable": 1, "maxUnavailable": "120%", "selector": {}},
    }
    code, body = server.request("POST", "/apis/policy/v1/namespaces/default/poddisruptionbudgets", pdb)
    assert code == 422, body
    assert [c["field"] for c in body["details"]["causes"]] == ["spec.minAvailable", "spec.maxUnavailable"]
