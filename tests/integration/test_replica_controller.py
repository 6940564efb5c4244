"""ReplicationControllers and ReplicaSets against the real server, fake nodes and the real kubectl.

One server with three fake nodes serves the whole module; each test works in its own namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_nodes import in_process_cluster

from minikube_py.client.kubeconfig import load_kubeconfig
from minikube_py.client.rest import ApiClient
from minikube_py.reconcilers.replication import REPLICATION_CONTROLLERS, ReplicaController
from minikube_py.testing import ServerEndpoint, eventually

Obj = dict[str, Any]
NODES = ["n1", "n2", "n3"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerEndpoint]:
    with in_process_cluster(tmp_path_factory.mktemp("replication") / "data", NODES) as (running, _):
        yield running


@pytest.fixture
def ns(server: ServerEndpoint, request: pytest.FixtureRequest) -> str:
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.removeprefix("test_").lower()).strip("-")[:50]
    server.kubectl("create", "namespace", name)
    return name


# ------------------------------------------------------------------------------ helpers


def stays(check: Callable[[], bool], what: str, seconds: float = 3.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert check(), what
        time.sleep(0.2)


def kubectl(server: ServerEndpoint, ns: str, *args: str, input: str | None = None) -> str:
    return server.kubectl("-n", ns, *args, input=input).stdout


def apply(server: ServerEndpoint, ns: str, manifest: Obj) -> None:
    kubectl(server, ns, "apply", "-f", "-", input=json.dumps(manifest))


def get(server: ServerEndpoint, path: str) -> Obj:
    status, body = server.request("GET", path)
    assert status == 200, body
    result: Obj = body
    return result


def template(app: str, **metadata: Any) -> Obj:
    return {
        "metadata": {"labels": {"app": app}, **metadata},
        "spec": {"containers": [{"name": "c", "image": "registry.example/app:1"}]},
    }


def rc(name: str, replicas: int, app: str, **template_metadata: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"app": app}, "template": template(app, **template_metadata)},
    }


def rs(name: str, replicas: int, app: str, **spec: Any) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": app}}, "template": template(app), **spec},
    }


def pods(server: ServerEndpoint, ns: str, app: str | None = None) -> list[Obj]:
    query = f"?labelSelector=app%3D{app}" if app else ""
    items: list[Obj] = get(server, f"/api/v1/namespaces/{ns}/pods{query}")["items"]
    return items


def active(server: ServerEndpoint, ns: str, app: str) -> list[Obj]:
    return [
        p
        for p in pods(server, ns, app)
        if not p["metadata"].get("deletionTimestamp")
        and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
    ]


def running(server: ServerEndpoint, ns: str, app: str, count: int) -> list[Obj] | None:
    """The app's pods once exactly ``count`` exist, all bound and Running, and nothing else is left."""
    found = pods(server, ns, app)
    done = len(found) == count and all(
        p["spec"].get("nodeName")
        and p.get("status", {}).get("phase") == "Running"
        and not p["metadata"].get("deletionTimestamp")
        for p in found
    )
    return found if done else None


def wait_running(server: ServerEndpoint, ns: str, app: str, count: int) -> list[Obj]:
    found: list[Obj] = eventually(lambda: running(server, ns, app, count), f"{count} running {app} pods")
    return found


def row(server: ServerEndpoint, ns: str, resource: str, name: str) -> list[str]:
    """``NAME DESIRED CURRENT READY AGE`` of ``kubectl get``, without the age."""
    return kubectl(server, ns, "get", resource, name, "--no-headers").split()[:4]


def events(server: ServerEndpoint, ns: str, reason: str) -> list[Obj]:
    items = get(server, f"/api/v1/namespaces/{ns}/events")["items"]
    return [e for e in items if e.get("reason") == reason]


def owners(pod: Obj) -> list[str]:
    return [r["uid"] for r in pod["metadata"].get("ownerReferences") or [] if r.get("controller")]


@contextlib.contextmanager
def second_controller(kubeconfig: Path) -> Iterator[None]:
    """Another ReplicationController controller against the same server, on its own loop, as when
    two servers briefly both believe they lead."""
    started = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> None:
        async with ApiClient(load_kubeconfig(kubeconfig)) as client:
            holder["loop"] = asyncio.get_running_loop()
            holder["task"] = asyncio.create_task(ReplicaController(client, REPLICATION_CONTROLLERS).run())
            started.set()
            with contextlib.suppress(asyncio.CancelledError):
                await holder["task"]

    thread = threading.Thread(target=lambda: asyncio.run(main()), name="second-rc-controller", daemon=True)
    thread.start()
    assert started.wait(30), "second controller did not start"
    try:
        yield
    finally:
        holder["loop"].call_soon_threadsafe(holder["task"].cancel)
        thread.join(10)


# ------------------------------------------------------------------------------ tests


def test_rc_spreads_six_pods_over_three_nodes(server: ServerEndpoint, ns: str) -> None:
    apply(server, ns, rc("web", 6, "web"))
    found = wait_running(server, ns, "web", 6)
    per_node = Counter(p["spec"]["nodeName"] for p in found)
    assert set(per_node) == set(NODES), per_node
    assert max(per_node.values()) - min(per_node.values()) <= 1, per_node
    uid = get(server, f"/api/v1/namespaces/{ns}/replicationcontrollers/web")["metadata"]["uid"]
    assert all(owners(p) == [uid] for p in found)
    eventually(lambda: row(server, ns, "rc", "web") == ["web", "6", "6", "6"], "kubectl get rc to show 6 6 6")
    status = get(server, f"/api/v1/namespaces/{ns}/replicationcontrollers/web")["status"]
    assert status == {
        "replicas": 6,
        "fullyLabeledReplicas": 6,
        "readyReplicas": 6,
        "availableReplicas": 6,
        "observedGeneration": 1,
    }
    created = {e["message"] for e in events(server, ns, "SuccessfulCreate")}
    assert created == {f"Created pod: {p['metadata']['name']}" for p in found}
    assert all(e["involvedObject"]["kind"] == "ReplicationController" for e in events(server, ns, "SuccessfulCreate"))


def test_deleted_pod_is_replaced(server: ServerEndpoint, ns: str) -> None:
    apply(server, ns, rc("web", 3, "web"))
    victim = wait_running(server, ns, "web", 3)[0]["metadata"]["name"]
    kubectl(server, ns, "delete", "pod", victim)
    found = wait_running(server, ns, "web", 3)
    assert victim not in {p["metadata"]["name"] for p in found}
    stays(lambda: len(pods(server, ns, "web")) == 3, "exactly 3 pods after the replacement")


def test_kubectl_scale_up_and_down(server: ServerEndpoint, ns: str) -> None:
    apply(server, ns, rc("web", 2, "web"))
    wait_running(server, ns, "web", 2)
    kubectl(server, ns, "scale", "rc", "web", "--replicas=5")
    wait_running(server, ns, "web", 5)
    eventually(lambda: row(server, ns, "rc", "web") == ["web", "5", "5", "5"], "kubectl get rc to show 5 5 5")
    before = {p["metadata"]["name"] for p in pods(server, ns, "web")}
    kubectl(server, ns, "scale", "rc", "web", "--replicas=1")
    after = {p["metadata"]["name"] for p in wait_running(server, ns, "web", 1)}
    eventually(lambda: row(server, ns, "rc", "web") == ["web", "1", "1", "1"], "kubectl get rc to show 1 1 1")
    deleted = {e["message"] for e in events(server, ns, "SuccessfulDelete")}
    assert deleted == {f"Deleted pod: {name}" for name in before - after}


def test_rapid_scaling_settles_on_the_last_value(server: ServerEndpoint, ns: str) -> None:
    apply(server, ns, rc("web", 1, "web"))
    wait_running(server, ns, "web", 1)
    for replicas in (10, 3, 8):
        kubectl(server, ns, "scale", "rc", "web", f"--replicas={replicas}")
    wait_running(server, ns, "web", 8)
    stays(lambda: len(pods(server, ns, "web")) == 8, "exactly 8 pods")


def test_two_controller_instances_converge(server: ServerEndpoint, ns: str) -> None:
    with second_controller(server.kubeconfig):
        apply(server, ns, rc("web", 4, "web"))
        wait_running(server, ns, "web", 4)
        for replicas in (12, 2, 7):
            kubectl(server, ns, "scale", "rc", "web", f"--replicas={replicas}")
        wait_running(server, ns, "web", 7)
        stays(lambda: len(pods(server, ns, "web")) == 7, "exactly 7 pods with two controllers")


def test_background_delete_removes_the_pods(server: ServerEndpoint, ns: str) -> None:
    apply(server, ns, rc("web", 3, "web"))
    wait_running(server, ns, "web", 3)
    kubectl(server, ns, "delete", "rc", "web")
    eventually(lambda: not pods(server, ns, "web"), "the pods to go with their RC")


def test_orphaned_pods_are_adopted_by_a_new_rc(server: ServerEndpoint, ns: str) -> None:
    apply(server, ns, rc("web", 3, "web"))
    original = {p["metadata"]["uid"] for p in wait_running(server, ns, "web", 3)}
    kubectl(server, ns, "delete", "rc", "web", "--cascade=orphan")
    eventually(
        lambda: all(not p["metadata"].get("ownerReferences") for p in pods(server, ns, "web")),
        "the pods to lose their ownerReferences",
    )
    assert {p["metadata"]["uid"] for p in pods(server, ns, "web")} == original
    apply(server, ns, rc("web", 3, "web"))
    uid = get(server, f"/api/v1/namespaces/{ns}/replicationcontrollers/web")["metadata"]["uid"]
    eventually(lambda: all(owners(p) == [uid] for p in pods(server, ns, "web")), "the new RC to adopt the pods")
    stays(lambda: {p["metadata"]["uid"] for p in pods(server, ns, "web")} == original, "no pod created or deleted")
    assert len(events(server, ns, "SuccessfulCreate")) == 3  # the first RC's creates, none since


def test_adoption_fills_up_and_scales_down_orphans(server: ServerEndpoint, ns: str) -> None:
    """Orphans count towards replicas as soon as they are adopted: two orphans and replicas 1
    leave one of them, replicas 3 adds one pod."""
    for name in ("orphan-a", "orphan-b"):
        apply(
            server,
            ns,
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "registry.example/app:1"}]},
            },
        )
    wait_running(server, ns, "web", 2)
    apply(server, ns, rs("web", 1, "web"))
    survivor = wait_running(server, ns, "web", 1)[0]
    assert survivor["metadata"]["name"] in ("orphan-a", "orphan-b") and owners(survivor)
    kubectl(server, ns, "scale", "rs", "web", "--replicas=3")
    assert survivor["metadata"]["name"] in {p["metadata"]["name"] for p in wait_running(server, ns, "web", 3)}


def test_relabelled_pod_is_released_and_replaced(server: ServerEndpoint, ns: str) -> None:
    apply(server, ns, rs("web", 2, "web"))
    victim = wait_running(server, ns, "web", 2)[0]["metadata"]["name"]
    kubectl(server, ns, "label", "pod", victim, "app=elsewhere", "--overwrite")
    wait_running(server, ns, "web", 2)
    released = eventually(lambda: [p for p in pods(server, ns, "elsewhere") if not owners(p)], "the pod's release")
    assert [p["metadata"]["name"] for p in released] == [victim]


def test_replicaset_status_scale_and_min_ready_seconds(server: ServerEndpoint, ns: str) -> None:
    apply(server, ns, rs("api", 3, "api", minReadySeconds=4))
    wait_running(server, ns, "api", 3)  # a fake node writes a started pod Running and Ready at once
    ready_at = time.monotonic()
    path = f"/apis/apps/v1/namespaces/{ns}/replicasets/api"
    eventually(lambda: get(server, path)["status"].get("readyReplicas") == 3, "3 ready replicas")
    eventually(lambda: get(server, path)["status"].get("availableReplicas") == 3, "3 available replicas")
    # ready transition times have whole seconds, so availability may come up to 1 s early
    assert time.monotonic() - ready_at >= 2.0
    eventually(lambda: row(server, ns, "rs", "api") == ["api", "3", "3", "3"], "kubectl get rs to show 3 3 3")
    kubectl(server, ns, "scale", "rs", "api", "--replicas=1")
    wait_running(server, ns, "api", 1)
    eventually(lambda: row(server, ns, "rs", "api") == ["api", "1", "1", "1"], "kubectl get rs to show 1 1 1")


def test_failed_creates_set_replica_failure_until_fixed(server: ServerEndpoint, ns: str) -> None:
    apply(server, ns, rc("broken", 2, "broken", finalizers=["not a finalizer!"]))
    path = f"/api/v1/namespaces/{ns}/replicationcontrollers/broken"
    condition = eventually(
        lambda: next(
            (c for c in get(server, path)["status"].get("conditions") or () if c["type"] == "ReplicaFailure"), None
        ),
        "the ReplicaFailure condition",
    )
    assert condition["status"] == "True" and condition["reason"] == "FailedCreate"
    assert "not a finalizer!" in condition["message"]
    failed = eventually(lambda: events(server, ns, "FailedCreate"), "a FailedCreate event")
    assert failed[0]["message"].startswith("Error creating: ") and failed[0]["type"] == "Warning"
    assert not pods(server, ns, "broken")
    kubectl(
        server,
        ns,
        "patch",
        "rc",
        "broken",
        "--type=json",
        "-p",
        '[{"op": "remove", "path": "/spec/template/metadata/finalizers"}]',
    )
    wait_running(server, ns, "broken", 2)
    eventually(lambda: not get(server, path)["status"].get("conditions"), "the condition to clear")
