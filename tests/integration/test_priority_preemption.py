"""PriorityClasses, the Priority admission and preemption in the real server (a subprocess), with one
fake node of 2 cpus."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fake_nodes import server_with_fake_nodes
from support import apply_list, namespace_of_test
from support import cpu_pod as pod
from support import pods_by_name as pods

from minikube_py.testing import ServerEndpoint, eventually

NODE = "prio-n1"
CLASSES = "/apis/scheduling.k8s.io/v1/priorityclasses"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerEndpoint]:
    with server_with_fake_nodes(tmp_path_factory.mktemp("priority") / "data", [NODE], cpu=2, memory="4Gi") as (
        running,
        _,
    ):
        yield running


@pytest.fixture
def namespace(server: ServerEndpoint, request: pytest.FixtureRequest) -> Iterator[str]:
    yield from namespace_of_test(server, request)


def klass(name: str, value: int, **fields: Any) -> dict[str, Any]:
    return {
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": {"name": name},
        "value": value,
        **fields,
    }


def create_class(server: ServerEndpoint, obj: dict[str, Any]) -> None:
    status, body = server.request("POST", CLASSES, obj)
    assert status == 201, body


@pytest.fixture
def classes(server: ServerEndpoint) -> Iterator[None]:
    """``high`` (1000) and ``low`` (10), which tests use and delete afterwards."""
    create_class(server, klass("high", 1000))
    create_class(server, klass("low", 10))
    yield
    for name in ("high", "low"):
        server.request("DELETE", f"{CLASSES}/{name}")


def forbidden(message: str, name: str, kind: str, group: str = "") -> dict[str, Any]:
    details = {"name": name, "kind": kind, **({"group": group} if group else {})}
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "Forbidden",
        "details": details,
        "code": 403,
    }


def test_the_built_in_classes_exist_and_cannot_be_deleted(server: ServerEndpoint) -> None:
    status, body = server.request("GET", CLASSES)
    assert status == 200, body
    values = {c["metadata"]["name"]: (c["value"], c["preemptionPolicy"]) for c in body["items"]}
    assert values["system-node-critical"] == (2000001000, "PreemptLowerPriority")
    assert values["system-cluster-critical"] == (2000000000, "PreemptLowerPriority")
    status, body = server.request("DELETE", f"{CLASSES}/system-node-critical")
    assert (status, body) == (
        403,
        forbidden(
            'priorityclasses.scheduling.k8s.io "system-node-critical" is forbidden: this is a system priority class '
            "and cannot be deleted",
            "system-node-critical",
            "priorityclasses",
            "scheduling.k8s.io",
        ),
    )
    assert server.request("GET", f"{CLASSES}/system-node-critical")[0] == 200


def test_class_validation_and_immutability(server: ServerEndpoint) -> None:
    status, body = server.request("POST", CLASSES, klass("too-high", 1_000_000_001))
    assert status == 422, body
    assert body["message"] == (
        'PriorityClass.scheduling.k8s.io "too-high" is invalid: value: Forbidden: maximum allowed value of a user '
        "defined priority is 1000000000"
    )
    status, body = server.request("POST", CLASSES, klass("system-mine", 5))
    assert status == 422, body
    assert body["details"]["causes"] == [
        {
            "reason": "FieldValueForbidden",
            "message": "Forbidden: priority class names with 'system-' prefix are reserved for system use only. "
            "error: system-mine is not a known system priority class",
            "field": "metadata.name",
        }
    ]
    status, body = server.request("POST", CLASSES, klass("big", 2**31))
    assert status == 400, body  # not an int32: Go's decoding refuses it
    create_class(server, klass("fixed", 100, description="first"))
    try:
        status, body = server.request(
            "PATCH", f"{CLASSES}/fixed", {"value": 200}, content_type="application/merge-patch+json"
        )
        assert status == 422, body
        assert body["message"] == (
            'PriorityClass.scheduling.k8s.io "fixed" is invalid: value: Forbidden: may not be changed in an update.'
        )
        status, body = server.request(
            "PATCH", f"{CLASSES}/fixed", {"description": "second"}, content_type="application/merge-patch+json"
        )
        assert status == 200 and body["description"] == "second", body
    finally:
        assert server.request("DELETE", f"{CLASSES}/fixed")[0] == 200
    assert server.request("GET", f"{CLASSES}/fixed")[0] == 404


def test_one_global_default_which_pods_without_a_class_get(server: ServerEndpoint, namespace: str) -> None:
    create_class(server, klass("everyone", 5, globalDefault=True))
    try:
        status, body = server.request("POST", CLASSES, klass("another", 6, globalDefault=True))
        assert (status, body) == (
            403,
            forbidden(
                'priorityclasses.scheduling.k8s.io "another" is forbidden: PriorityClass everyone is already marked '
                "as default. Only one default can exist",
                "another",
                "priorityclasses",
                "scheduling.k8s.io",
            ),
        )
        status, body = server.request("POST", f"/api/v1/namespaces/{namespace}/pods", pod("plain"))
        assert status == 201, body
        assert (body["spec"]["priorityClassName"], body["spec"]["priority"]) == ("everyone", 5)
    finally:
        server.request("DELETE", f"{CLASSES}/everyone")
    status, body = server.request("POST", f"/api/v1/namespaces/{namespace}/pods", pod("after"))
    assert status == 201, body
    assert "priorityClassName" not in body["spec"]
    assert (body["spec"]["priority"], body["spec"]["preemptionPolicy"]) == (0, "PreemptLowerPriority")


def replace_without_priority(server: ServerEndpoint, path: str) -> dict[str, Any] | None:
    """PUT the pod back labelled and without the fields admission set; None on a conflict (its
    status changed since the read), to try again."""
    status, body = server.request("GET", path)
    assert status == 200, body
    body["metadata"]["labels"] = {"tier": "front"}
    del body["spec"]["priority"], body["spec"]["preemptionPolicy"]
    status, body = server.request("PUT", path, body)
    if status == 409:
        return None
    assert status == 200, body
    return body  # type: ignore[no-any-return]


@pytest.mark.usefixtures("classes")
def test_pod_admission_resolves_and_refuses(server: ServerEndpoint, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/pods"
    status, body = server.request("POST", path, pod("urgent", priorityClassName="high"))
    assert status == 201, body
    assert (body["spec"]["priority"], body["spec"]["preemptionPolicy"]) == (1000, "PreemptLowerPriority")
    # a later update without the fields admission set keeps them
    updated = eventually(lambda: replace_without_priority(server, f"{path}/urgent"), what="the pod replaced")
    assert (updated["metadata"]["labels"], updated["spec"]["priority"]) == ({"tier": "front"}, 1000)
    status, body = server.request("POST", path, pod("lost", priorityClassName="nope"))
    assert (status, body) == (
        403,
        forbidden('pods "lost" is forbidden: no PriorityClass with name nope was found', "lost", "pods"),
    )
    status, body = server.request("POST", path, pod("liar", priorityClassName="high", priority=5))
    assert (status, body) == (
        403,
        forbidden(
            'pods "liar" is forbidden: the integer value of priority (5) must not be provided in pod spec; priority '
            "admission controller computed 1000 from the given PriorityClass name",
            "liar",
            "pods",
        ),
    )
    assert set(pods(server, namespace)) == {"urgent"}  # the refused pods changed nothing
    # the system classes are allowed in every namespace, as since Kubernetes 1.17
    status, body = server.request("POST", path, pod("critical", priorityClassName="system-node-critical"))
    assert status == 201, body
    assert body["spec"]["priority"] == 2000001000


@pytest.mark.usefixtures("classes")
def test_pods_of_controllers_get_their_template_class(server: ServerEndpoint, namespace: str) -> None:
    template = {"metadata": {"labels": {"app": "web"}}, "spec": {**pod("x", priorityClassName="high")["spec"]}}
    apply_list(
        server,
        namespace,
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {"name": "web"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": template},
        },
    )
    made = eventually(lambda: len(p := pods(server, namespace)) == 2 and p, what="the ReplicaSet's pods")
    assert {p["spec"]["priority"] for p in made.values()} == {1000}


@pytest.mark.usefixtures("classes")
def test_a_high_priority_pod_preempts_a_low_one(server: ServerEndpoint, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/pods"
    for name in ("batch-1", "batch-2"):
        assert server.request("POST", path, pod(name, cpu="900m", priorityClassName="low"))[0] == 201
    eventually(
        lambda: all(p["spec"].get("nodeName") == NODE for p in pods(server, namespace).values()),
        what="the low-priority pods bound",
    )
    status, body = server.request(
        "POST", path, pod("urgent", cpu="900m", priorityClassName="high", preemptionPolicy="PreemptLowerPriority")
    )
    assert status == 201, body
    # of a class that never preempts: it waits, and says why
    status, body = server.request("POST", CLASSES, klass("never", 500, preemptionPolicy="Never"))
    assert status == 201, body
    try:
        assert server.request("POST", path, pod("waiter", cpu="900m", priorityClassName="never"))[0] == 201
    finally:
        server.request("DELETE", f"{CLASSES}/never")
    # "urgent" (1000) preempts one of the two batch pods (10), and is bound once it is gone
    placed = eventually(lambda: pods(server, namespace)["urgent"]["spec"].get("nodeName"), what="urgent bound")
    assert placed == NODE
    left = pods(server, namespace)
    assert sum(name.startswith("batch") for name in left) == 1
    assert left["urgent"]["status"].get("nominatedNodeName") == NODE
    events = json.loads(
        server.kubectl("get", "events", "-n", namespace, "--field-selector", "reason=Preempted", "-o", "json").stdout
    )["items"]
    (event,) = events
    victim = event["involvedObject"]["name"]
    assert (event["involvedObject"]["kind"], event["type"], event["source"]["component"]) == (
        "Pod",
        "Normal",
        "default-scheduler",
    )
    assert victim.startswith("batch") and victim not in left
    assert event["message"] == f"Preempted by pod {left['urgent']['metadata']['uid']} on node {NODE}"
    # the pod that never preempts still waits: the room was the preemptor's
    condition = next(c for c in left["waiter"]["status"]["conditions"] if c["type"] == "PodScheduled")
    assert condition["message"].endswith("preemption: not eligible due to preemptionPolicy=Never."), condition
    assert "nodeName" not in left["waiter"]["spec"]
