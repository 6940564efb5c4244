"""The official ``kubernetes`` Python client against pykube, configured from the admin kubeconfig.

This client deserializes every answer into typed models, so it catches fields the server renders in
a shape Kubernetes would not (a string where an int belongs, a missing required key).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from minikube_py.testing import RunningServer, eventually

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
T = TypeVar("T")


@pytest.fixture(scope="module")
def api(server: RunningServer) -> Iterator[client.ApiClient]:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(server.kubeconfig), client_configuration=configuration)
    with client.ApiClient(configuration) as api_client:
        yield api_client


@pytest.fixture
def core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture
def apps(api: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api)


def pod_body(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"containers": [{"name": "main", "image": "busybox:1.36", "env": [{"name": "A", "value": "1"}]}]},
    }


def deployment_body(name: str, replicas: int = 1) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
        },
    }


def retry_on_conflict(write: Callable[[], T], attempts: int = 10) -> T:
    """client-go's RetryOnConflict: a read-modify-write of an object its controller also writes (the
    Deployment's status) may lose the race to that write; read again and retry."""
    for _ in range(attempts - 1):
        try:
            return write()
        except ApiException as exc:
            if exc.status != 409:
                raise
            time.sleep(0.1)
    return write()


def test_version_and_namespaces(api: client.ApiClient, core: client.CoreV1Api) -> None:
    info = client.VersionApi(api).get_code()
    assert info.major == "1" and info.minor == "32"
    names = {ns.metadata.name for ns in core.list_namespace().items}
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= names


def test_create_read_replace_delete_configmap(core: client.CoreV1Api, namespace: str) -> None:
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cfg", labels={"a": "1"}), data={"k": "v"})
    created = core.create_namespaced_config_map(namespace, body)
    assert created.metadata.uid and created.metadata.resource_version
    assert created.metadata.creation_timestamp is not None
    read = core.read_namespaced_config_map("cfg", namespace)
    assert read.data == {"k": "v"} and read.metadata.uid == created.metadata.uid
    read.data = {"k": "replaced", "n": "2"}
    replaced = core.replace_namespaced_config_map("cfg", namespace, read)
    assert replaced.data == {"k": "replaced", "n": "2"}
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)
    # replacing with the old resourceVersion is a conflict
    read.data = {"k": "stale"}
    with pytest.raises(ApiException) as stale:
        core.replace_namespaced_config_map("cfg", namespace, read)
    assert stale.value.status == 409
    status = core.delete_namespaced_config_map("cfg", namespace)
    assert status is not None
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_config_map("cfg", namespace)
    assert gone.value.status == 404


def test_pod_patches(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_pod(namespace, pod_body("patchy", {"app": "patchy"}))
    # strategic merge: the container list merges by name, so env survives an image change (a
    # replaced list would lose it, and pods may not change env: that would be a 422)
    patch = {
        "spec": {"containers": [{"name": "main", "image": "busybox:1.37"}]},
        "metadata": {"labels": {"tier": "be"}},
    }
    patched = core.patch_namespaced_pod("patchy", namespace, patch, _content_type=STRATEGIC)
    container = patched.spec.containers[0]
    assert container.image == "busybox:1.37"
    assert [(e.name, e.value) for e in container.env] == [("A", "1")]
    assert patched.metadata.labels == {"app": "patchy", "tier": "be"}
    # the same body as a merge patch replaces the whole list, dropping env: refused
    with pytest.raises(ApiException) as forbidden:
        core.patch_namespaced_pod("patchy", namespace, patch, _content_type=MERGE)
    assert forbidden.value.status == 422
    # merge patch: null removes a label
    merged = core.patch_namespaced_pod(
        "patchy", namespace, {"metadata": {"labels": {"tier": None, "m": "x"}}}, _content_type=MERGE
    )
    assert merged.metadata.labels == {"app": "patchy", "m": "x"}
    # a json patch body is a list; the client picks the json-patch content type for it
    jp = core.patch_namespaced_pod(
        "patchy", namespace, [{"op": "add", "path": "/metadata/annotations", "value": {"note": "json"}}]
    )
    assert jp.metadata.annotations == {"note": "json"}


def test_list_pods_with_label_selector(core: client.CoreV1Api, namespace: str) -> None:
    for i in range(4):
        core.create_namespaced_pod(namespace, pod_body(f"p{i}", {"parity": "even" if i % 2 == 0 else "odd"}))
    even = core.list_namespaced_pod(namespace, label_selector="parity=even")
    assert sorted(p.metadata.name for p in even.items) == ["p0", "p2"]
    assert even.metadata.resource_version
    some = core.list_namespaced_pod(namespace, label_selector="parity in (odd),!missing")
    assert sorted(p.metadata.name for p in some.items) == ["p1", "p3"]
    by_name = core.list_namespaced_pod(namespace, field_selector="metadata.name=p3")
    assert [p.metadata.name for p in by_name.items] == ["p3"]
    assert all(p.status.phase == "Pending" for p in core.list_namespaced_pod(namespace).items)


def test_watch_sees_changes_made_meanwhile(api: client.ApiClient, core: client.CoreV1Api, namespace: str) -> None:
    start = core.list_namespaced_config_map(namespace).metadata.resource_version
    failures: list[BaseException] = []

    def writer() -> None:
        try:
            time.sleep(0.3)
            core.create_namespaced_config_map(namespace, {"metadata": {"name": "watched"}, "data": {"v": "1"}})
            core.patch_namespaced_config_map("watched", namespace, {"data": {"v": "2"}}, _content_type=MERGE)
            core.delete_namespaced_config_map("watched", namespace)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    seen: list[tuple[str, str, dict[str, str] | None]] = []
    w = watch.Watch()
    for event in w.stream(
        core.list_namespaced_config_map, namespace=namespace, resource_version=start, timeout_seconds=10
    ):
        obj = event["object"]
        seen.append((event["type"], obj.metadata.name, obj.data))
        if event["type"] == "DELETED":
            w.stop()
    thread.join()
    assert not failures, failures
    assert seen == [
        ("ADDED", "watched", {"v": "1"}),
        ("MODIFIED", "watched", {"v": "2"}),
        ("DELETED", "watched", {"v": "2"}),
    ]


def test_watch_ends_at_timeout_seconds(core: client.CoreV1Api, namespace: str) -> None:
    started = time.monotonic()
    events = list(watch.Watch().stream(core.list_namespaced_pod, namespace=namespace, timeout_seconds=1))
    assert events == []
    assert time.monotonic() - started < 5


def test_deployment_create_and_scale(apps: client.AppsV1Api, namespace: str) -> None:
    created = apps.create_namespaced_deployment(namespace, deployment_body("web"))
    assert created.spec.replicas == 1 and created.metadata.generation == 1
    scale = apps.read_namespaced_deployment_scale("web", namespace)
    assert scale.spec.replicas == 1 and scale.status.selector == "app=web"
    scaled = apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 3}}, _content_type=MERGE)
    assert scaled.spec.replicas == 3
    live = apps.read_namespaced_deployment("web", namespace)
    assert live.spec.replicas == 3 and live.metadata.generation == 2

    def scale_to_4() -> client.V1Scale:
        scale = apps.read_namespaced_deployment_scale("web", namespace)
        scale.spec.replicas = 4
        return apps.replace_namespaced_deployment_scale("web", namespace, scale)

    assert retry_on_conflict(scale_to_4).spec.replicas == 4
    listed = apps.list_namespaced_deployment(namespace)
    assert [d.metadata.name for d in listed.items] == ["web"]
    apps.delete_namespaced_deployment("web", namespace, propagation_policy="Background")
    with pytest.raises(ApiException) as gone:
        apps.read_namespaced_deployment("web", namespace)
    assert gone.value.status == 404


def test_statefulset_its_scale_and_controller_revisions(apps: client.AppsV1Api, namespace: str) -> None:
    """The typed models accept a StatefulSet with claim templates, its Scale and its revisions (whose
    ``data`` is raw JSON)."""
    labels = {"app": "db"}
    body = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db"},
        "spec": {
            "replicas": 0,
            "serviceName": "db",
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {"name": "db", "image": "busybox:1.36", "volumeMounts": [{"name": "data", "mountPath": "/d"}]}
                    ]
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                }
            ],
        },
    }
    created = apps.create_namespaced_stateful_set(namespace, body)
    assert created.spec.pod_management_policy == "OrderedReady"
    assert created.spec.update_strategy.rolling_update.partition == 0
    assert created.spec.volume_claim_templates[0].spec.volume_mode == "Filesystem"
    scale = apps.read_namespaced_stateful_set_scale("db", namespace)
    assert scale.spec.replicas == 0 and scale.status.selector == "app=db"
    revisions = eventually(lambda: apps.list_namespaced_controller_revision(namespace, label_selector="app=db").items)
    assert revisions[0].revision == 1 and revisions[0].data["spec"]["template"]["$patch"] == "replace"
    status = eventually(lambda: apps.read_namespaced_stateful_set("db", namespace).status.update_revision)
    assert status == revisions[0].metadata.name


def test_errors_raise_api_exception_with_status(core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str) -> None:
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_pod("nope", namespace)
    assert missing.value.status == 404 and '"NotFound"' in missing.value.body
    core.create_namespaced_pod(namespace, pod_body("dup"))
    with pytest.raises(ApiException) as dup:
        core.create_namespaced_pod(namespace, pod_body("dup"))
    assert dup.value.status == 409 and '"AlreadyExists"' in dup.value.body
    invalid = pod_body("bad")
    del invalid["spec"]["containers"][0]["image"]
    with pytest.raises(ApiException) as bad:
        core.create_namespaced_pod(namespace, invalid)
    assert bad.value.status == 422 and "spec.containers[0].image" in bad.value.body
    with pytest.raises(ApiException) as no_ns:
        core.create_namespaced_config_map("does-not-exist", {"metadata": {"name": "x"}})
    assert no_ns.value.status == 404
    with pytest.raises(ApiException) as selector:
        core.list_namespaced_pod(namespace, label_selector="a b c")
    assert selector.value.status == 400
    with pytest.raises(ApiException) as missing_deploy:
        apps.patch_namespaced_deployment_scale("nope", namespace, {"spec": {"replicas": 1}}, _content_type=MERGE)
    assert missing_deploy.value.status == 404


def test_wrong_token_is_401(server: RunningServer) -> None:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(server.kubeconfig), client_configuration=configuration)
    configuration.refresh_api_key_hook = None  # it would put the kubeconfig's token back
    configuration.api_key = {"BearerToken": "Bearer not-the-token"}
    with client.ApiClient(configuration) as api_client, pytest.raises(ApiException) as denied:
        client.CoreV1Api(api_client).list_namespace()
    assert denied.value.status == 401


def test_a_custom_scheduler_binds_with_the_bindings_resource(core: client.CoreV1Api, namespace: str) -> None:
    """The custom scheduler of the client's examples: pods that name it are left to it, and it binds
    each with ``create_namespaced_binding`` (``POST .../bindings``, the Binding named for the pod)."""
    body = pod_body("custom")
    body["spec"]["schedulerName"] = "my-scheduler"
    core.create_namespaced_pod(namespace, body)
    binding = client.V1Binding(
        metadata=client.V1ObjectMeta(name="custom"),
        target=client.V1ObjectReference(api_version="v1", kind="Node", name="far-away"),
    )
    # the answer is a Status, which the client would try to read as a Binding
    answer = core.create_namespaced_binding(namespace, binding, _preload_content=False)
    assert answer.status == 201
    pod = core.read_namespaced_pod("custom", namespace)
    assert pod.spec.node_name == "far-away"
    assert [(c.type, c.status) for c in pod.status.conditions or [] if c.type == "PodScheduled"] == [
        ("PodScheduled", "True")
    ]
    with pytest.raises(ApiException) as again:
        core.create_namespaced_binding(namespace, binding, _preload_content=False)
    assert again.value.status == 409 and 'is already assigned to node \\"far-away\\"' in again.value.body
    binding.metadata.name = "nobody"
    with pytest.raises(ApiException) as missing:
        core.create_namespaced_binding(namespace, binding, _preload_content=False)
    assert missing.value.status == 404
    binding.metadata = None
    with pytest.raises(ApiException) as unnamed:
        core.create_namespaced_binding(namespace, binding, _preload_content=False)
    assert unnamed.value.status == 400 and '"name is required"' in unnamed.value.body
    [listed] = [r for r in core.get_api_resources().resources if r.name == "bindings"]
    assert (listed.kind, listed.namespaced, listed.verbs) == ("Binding", True, ["create"])


def test_token_review_through_the_typed_client(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "reviewed"}})
    token = core.create_namespaced_service_account_token("reviewed", namespace, {"spec": {}}).status.token
    review = client.AuthenticationV1Api(api).create_token_review({"spec": {"token": token}})
    assert review.status.authenticated is True
    assert review.status.user.username == f"system:serviceaccount:{namespace}:reviewed"
    assert review.status.audiences == ["https://kubernetes.default.svc.cluster.local"]
