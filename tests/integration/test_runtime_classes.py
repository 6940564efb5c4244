"""RuntimeClasses with the real kubectl against a server with two fake nodes of 2 cpus: the kind
itself, the RuntimeClass admission plugin on pods (overhead, scheduling, refusals), overhead in the
scheduler's arithmetic, and the node's side of a handler."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fake_nodes import in_process_cluster
from support import cpu_pod as pod
from support import namespace_of_test
from support import pods_by_name as pods

from minikube_py.testing import ServerEndpoint, eventually

PLAIN, SANDBOXED = "rc-plain", "rc-sandboxed"
CLASSES = "/apis/node.k8s.io/v1/runtimeclasses"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerEndpoint]:
    labels = {SANDBOXED: {"sandboxed": "true"}}
    data = tmp_path_factory.mktemp("runtimeclasses") / "data"
    with in_process_cluster(data, [PLAIN, SANDBOXED], cpu=2, memory="4Gi", labels=labels) as (running, _):
        yield running


@pytest.fixture
def namespace(server: ServerEndpoint, request: pytest.FixtureRequest) -> Iterator[str]:
    yield from namespace_of_test(server, request)


@pytest.fixture
def classes(server: ServerEndpoint) -> Iterator[list[str]]:
    """The names of the classes a test creates, deleted afterwards."""
    created: list[str] = []
    yield created
    for name in created:
        server.request("DELETE", f"{CLASSES}/{name}")


def runtime_class(name: str, handler: str = "runc", **fields: Any) -> dict[str, Any]:
    return {
        "apiVersion": "node.k8s.io/v1",
        "kind": "RuntimeClass",
        "metadata": {"name": name},
        "handler": handler,
        **fields,
    }


def apply(server: ServerEndpoint, obj: dict[str, Any], namespace: str | None = None, check: bool = True) -> Any:
    where = ["-n", namespace] if namespace else []
    return server.kubectl("apply", *where, "-f", "-", input=json.dumps(obj), check=check)


def make_class(server: ServerEndpoint, classes: list[str], obj: dict[str, Any]) -> None:
    apply(server, obj)
    classes.append(obj["metadata"]["name"])


def test_kubectl_serves_lists_and_validates_classes(server: ServerEndpoint, classes: list[str]) -> None:
    resources = server.kubectl("api-resources", "--api-group=node.k8s.io", "--no-headers").stdout.split()
    assert resources == ["runtimeclasses", "node.k8s.io/v1", "false", "RuntimeClass"]
    make_class(server, classes, runtime_class("gvisor", "runsc"))
    lines = server.kubectl("get", "runtimeclasses").stdout.splitlines()
    assert lines[0].split() == ["NAME", "HANDLER", "AGE"]
    assert lines[1].split()[:2] == ["gvisor", "runsc"]
    bad = apply(server, runtime_class("bad", "Run_SC"), check=False)
    assert bad.returncode == 1
    assert (
        'The RuntimeClass "bad" is invalid: handler: Invalid value: "Run_SC": a lowercase RFC 1123 label' in bad.stderr
    )
    moved = server.kubectl("patch", "runtimeclass", "gvisor", "-p", '{"handler": "kata"}', check=False)
    assert moved.returncode == 1
    assert 'The RuntimeClass "gvisor" is invalid: handler: Invalid value: "kata": field is immutable' in moved.stderr
    assert server.request("GET", f"{CLASSES}/bad")[0] == 404


def test_a_pod_of_a_class_gets_its_overhead_and_runs_where_it_says(
    server: ServerEndpoint, namespace: str, classes: list[str]
) -> None:
    scheduling = {
        "nodeSelector": {"sandboxed": "true"},
        "tolerations": [{"key": "sandboxed", "operator": "Exists", "effect": "NoSchedule"}],
    }
    make_class(
        server,
        classes,
        runtime_class("sandboxed", overhead={"podFixed": {"cpu": "250m", "memory": "64Mi"}}, scheduling=scheduling),
    )
    for i in range(3):
        apply(server, pod(f"p{i}", runtimeClassName="sandboxed"), namespace)
    stored = pods(server, namespace)
    assert sorted(stored) == ["p0", "p1", "p2"]
    assert all(p["spec"]["overhead"] == {"cpu": "250m", "memory": "64Mi"} for p in stored.values())
    assert stored["p0"]["spec"]["nodeSelector"] == {"sandboxed": "true"}
    assert {"key": "sandboxed", "operator": "Exists", "effect": "NoSchedule"} in stored["p0"]["spec"]["tolerations"]

    def all_running() -> bool:
        now = pods(server, namespace).values()
        return all(p["status"].get("phase") == "Running" for p in now)

    eventually(all_running, what="the class's pods to run")
    assert {p["spec"]["nodeName"] for p in pods(server, namespace).values()} == {SANDBOXED}


def test_the_overhead_counts_against_the_nodes_room(server: ServerEndpoint, namespace: str, classes: list[str]) -> None:
    """2 cpus: a pod of 100m with 1500m of overhead fits once; a second waits, as its overhead says."""
    make_class(server, classes, runtime_class("heavy", overhead={"podFixed": {"cpu": "1500m"}}))
    for name in ("first", "second"):
        apply(server, pod(name, nodeSelector={"kubernetes.io/hostname": PLAIN}, runtimeClassName="heavy"), namespace)
    eventually(lambda: pods(server, namespace)["first"]["status"].get("phase") == "Running", what="the first pod")

    def refused() -> str:
        events = server.kubectl("get", "events", "-n", namespace, "--field-selector", "involvedObject.name=second")
        return events.stdout if "Insufficient cpu" in events.stdout else ""

    assert "FailedScheduling" in eventually(refused, what="the second pod to wait for cpu")
    assert not pods(server, namespace)["second"]["spec"].get("nodeName")


def test_pods_that_break_the_class_rules_are_refused(
    server: ServerEndpoint, namespace: str, classes: list[str]
) -> None:
    make_class(
        server,
        classes,
        runtime_class("zoned", overhead={"podFixed": {"cpu": "100m"}}, scheduling={"nodeSelector": {"zone": "b"}}),
    )
    cases = {
        'pod rejected: RuntimeClass "nope" not found': pod("unknown", runtimeClassName="nope"),
        "pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead": pod(
            "self-made", overhead={"cpu": "1"}
        ),
        "pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead": pod(
            "mismatch", runtimeClassName="zoned", overhead={"cpu": "1"}
        ),
        "conflict: runtimeClass.scheduling.nodeSelector[zone] = b; pod.spec.nodeSelector[zone] = a": pod(
            "elsewhere", runtimeClassName="zoned", nodeSelector={"zone": "a"}
        ),
    }
    for message, obj in cases.items():
        result = apply(server, obj, namespace, check=False)
        assert result.returncode == 1, result.stdout
        name = obj["metadata"]["name"]
        assert f'Error from server (Forbidden): error when creating "STDIN": pods "{name}" is forbidden: {message}' in (
            result.stderr
        )
    assert pods(server, namespace) == {}


def test_a_handler_the_node_lacks_keeps_the_pod_waiting(
    server: ServerEndpoint, namespace: str, classes: list[str]
) -> None:
    make_class(server, classes, runtime_class("kata", "kata"))
    apply(server, pod("waits", runtimeClassName="kata"), namespace)

    def failed() -> str:
        events = server.kubectl("get", "events", "-n", namespace, "--field-selector", "involvedObject.name=waits")
        return events.stdout if "FailedCreatePodSandBox" in events.stdout else ""

    assert 'no runtime for "kata" is configured' in eventually(failed, what="the sandbox to fail")
    assert pods(server, namespace)["waits"]["status"]["phase"] == "Pending"
    status, node = server.request("GET", f"/api/v1/nodes/{PLAIN}")
    assert status == 200, node
    assert [h["name"] for h in node["status"]["runtimeHandlers"]] == ["", "runc"]
