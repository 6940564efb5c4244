"""The raw API against bad input, and the write semantics kubectl and client libraries rely on.

Every bad request must answer a ``kind: Status`` with the code, reason and details kube-apiserver
gives, and must leave the store untouched; the checks compare the affected collection before and
after (names and resourceVersions), so a half-applied write cannot hide. The server runs its
controllers meanwhile, as any cluster does: pods here are left to a scheduler nobody runs so that
nothing else writes them, and workloads, whose status their controllers keep writing, are compared
by what a client's request could have changed.
"""

from __future__ import annotations

import copy
import json
import sqlite3
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from kubectl_helpers import MANUAL_SCHEDULER, client_view, wait_for

from minikube_py.pki import parse_join_token
from minikube_py.testing import RunningServer, start_server

Obj = dict[str, Any]


# ------------------------------------------------------------------------------------------ helpers


def pod(name: str, labels: dict[str, str] | None = None, image: str = "busybox:1.36") -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"containers": [{"name": "main", "image": image}]},
    }


def unscheduled_pod(name: str) -> Obj:
    """A pod no component writes (its scheduler does not run), so its resourceVersion moves only
    when a test's request changes it."""
    body = pod(name)
    body["spec"]["schedulerName"] = MANUAL_SCHEDULER
    return body


def configmap(name: str, labels: dict[str, str] | None = None, **metadata: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels or {}, **metadata},
        "data": {"k": "v"},
    }


def deployment(name: str, replicas: int = 1) -> Obj:
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
                "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]},
            },
        },
    }


def service(name: str, **spec: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"ports": [{"port": 80, "protocol": "TCP"}], **spec},
    }


def q(path: str, **params: str) -> str:
    return f"{path}?{urllib.parse.urlencode(params)}"


def expect_status(answer: tuple[int, Any], code: int, reason: str) -> Obj:
    """The answer is a Failure Status with ``code`` and ``reason``; returns it."""
    status, body = answer
    assert status == code, body
    assert isinstance(body, dict), body
    assert body["kind"] == "Status" and body["apiVersion"] == "v1", body
    assert body["status"] == "Failure" and body["code"] == code and body["reason"] == reason, body
    assert isinstance(body["message"], str) and body["message"], body
    return body


def ok(answer: tuple[int, Any], code: int = 200) -> Obj:
    status, body = answer
    assert status == code, body
    assert isinstance(body, dict), body
    return body


def create(server: RunningServer, path: str, obj: Obj) -> Obj:
    return ok(server.request("POST", path, obj), 201)


#: collections whose objects controllers write too (their status and revision annotations)
CONTROLLED = ("/deployments", "/replicasets", "/replicationcontrollers", "/daemonsets", "/jobs")


def snapshot(server: RunningServer, path: str) -> dict[str, Any]:
    """Name -> resourceVersion of every object in a collection; for collections controllers also
    write, name -> what a client's request could have changed (identity, generation, labels, spec)."""
    listing = ok(server.request("GET", path))
    if path.endswith(CONTROLLED):
        return {item["metadata"]["name"]: client_view(item) for item in listing["items"]}
    return {item["metadata"]["name"]: item["metadata"]["resourceVersion"] for item in listing["items"]}


def read_modify_write(
    server: RunningServer,
    method: str,
    path: str,
    change: Callable[[Obj], Obj],
    *,
    content_type: str = "application/json",
    attempts: int = 10,
) -> tuple[Obj, Obj]:
    """client-go's RetryOnConflict: read ``path``, send ``change(read)`` guarded by the read's
    resourceVersion, and start over when a controller's write got in between. Returns the read the
    accepted write was made from, and the answer to that write."""
    for _ in range(attempts):
        current = ok(server.request("GET", path))
        status, body = server.request(method, path, change(copy.deepcopy(current)), content_type=content_type)
        if status != 409:
            return current, ok((status, body))
    raise AssertionError(f"{method} {path} lost {attempts} races in a row")


@contextmanager
def unchanged(server: RunningServer, *paths: str) -> Iterator[None]:
    """Asserts that the collections at ``paths`` are exactly the same afterwards."""
    before = {p: snapshot(server, p) for p in paths}
    yield
    assert {p: snapshot(server, p) for p in paths} == before


def watch_events(server: RunningServer, path: str, **params: str) -> list[Obj]:
    """The events of a watch that the server ends itself (``timeoutSeconds`` or an ERROR)."""
    status, text = server.request("GET", q(path, watch="true", **params))
    assert status == 200, text
    if isinstance(text, dict):  # exactly one event
        return [text]
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def pods_path(ns: str) -> str:
    return f"/api/v1/namespaces/{ns}/pods"


def cm_path(ns: str) -> str:
    return f"/api/v1/namespaces/{ns}/configmaps"


def deploy_path(ns: str) -> str:
    return f"/apis/apps/v1/namespaces/{ns}/deployments"


# ------------------------------------------------------------------------------------------ bodies


BAD_BODIES = {
    "malformed-json": (b'{"apiVersion": "v1", "kind": "Pod", "metadata": {', "application/json"),
    "malformed-yaml": (b"apiVersion: v1\nkind: Pod\nmetadata: {name: [x\n", "application/yaml"),
    "json-array": (b'[{"apiVersion": "v1", "kind": "Pod"}]', "application/json"),
    "json-string": (b'"a pod"', "application/json"),
    "json-null": (b"null", "application/json"),
    "yaml-scalar": (b"just text\n", "application/yaml"),
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_undecodable_or_non_object_body_is_400(server: RunningServer, namespace: str, case: str) -> None:
    raw, content_type = BAD_BODIES[case]
    with unchanged(server, pods_path(namespace)):
        expect_status(server.request("POST", pods_path(namespace), raw, content_type=content_type), 400, "BadRequest")


WRONG_TYPES = {
    "metadata-string": {"apiVersion": "v1", "kind": "Pod", "metadata": "p"},
    "name-number": {**pod("x"), "metadata": {"name": 5}},
    "labels-string": {**pod("x"), "metadata": {"name": "x", "labels": "a=b"}},
    "annotation-number": {**pod("x"), "metadata": {"name": "x", "annotations": {"a": 1}}},
    "finalizers-string": {**pod("x"), "metadata": {"name": "x", "finalizers": "example.com/f"}},
    "owner-references-string": {**pod("x"), "metadata": {"name": "x", "ownerReferences": "x"}},
    "spec-string": {**pod("x"), "spec": "x"},
    "status-string": {**pod("x"), "status": "Running"},
    "containers-string": {**pod("x"), "spec": {"containers": "main"}},
    "container-number": {**pod("x"), "spec": {"containers": [1]}},
}


@pytest.mark.parametrize("case", sorted(WRONG_TYPES))
def test_fields_of_the_wrong_json_type_are_400(server: RunningServer, namespace: str, case: str) -> None:
    """kube-apiserver fails these while decoding into typed structs: 400, never a 500 or a stored object."""
    with unchanged(server, pods_path(namespace)):
        expect_status(server.request("POST", pods_path(namespace), WRONG_TYPES[case]), 400, "BadRequest")


def test_a_null_spec_is_no_spec(server: RunningServer, namespace: str) -> None:
    """Go decodes ``"spec": null`` as the zero struct: the admission step that fills in a default
    class (DefaultIngressClass) starts from an empty spec, then validation answers, never a 500."""
    classes = "/apis/networking.k8s.io/v1/ingressclasses"
    default = {
        "metadata": {
            "name": "null-spec-default",
            "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"},
        },
        "spec": {"controller": "example.com/ingress"},
    }
    ok(server.request("POST", classes, default), 201)
    try:
        ingresses = f"/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses"
        with unchanged(server, ingresses):
            status = expect_status(
                server.request("POST", ingresses, {"metadata": {"name": "i"}, "spec": None}), 422, "Invalid"
            )
        assert "either `defaultBackend` or `rules` must be specified" in status["message"]
    finally:
        server.request("DELETE", f"{classes}/null-spec-default")


def test_wrong_json_types_in_data_maps_are_400(server: RunningServer, namespace: str) -> None:
    secrets = f"/api/v1/namespaces/{namespace}/secrets"
    with unchanged(server, cm_path(namespace), secrets):
        status = expect_status(
            server.request("POST", cm_path(namespace), {**configmap("n"), "data": {"k": 1}}), 400, "BadRequest"
        )
        assert "ConfigMap.data" in status["message"]
        expect_status(
            server.request("POST", secrets, {"metadata": {"name": "s"}, "stringData": "x"}), 400, "BadRequest"
        )


def test_yaml_body_is_accepted(server: RunningServer, namespace: str) -> None:
    raw = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  a: b\n"
    created = ok(server.request("POST", cm_path(namespace), raw, content_type="application/yaml"), 201)
    assert created["data"] == {"a": "b"}


@pytest.mark.parametrize(
    ("api_version", "kind", "word"),
    [("apps/v1", "Pod", "API version"), ("v2", "Pod", "API version"), ("v1", "Service", "kind")],
)
def test_wrong_type_for_the_url_is_400(
    server: RunningServer, namespace: str, api_version: str, kind: str, word: str
) -> None:
    body = {**pod("typed"), "apiVersion": api_version, "kind": kind}
    with unchanged(server, pods_path(namespace), f"/api/v1/namespaces/{namespace}/services"):
        status = expect_status(server.request("POST", pods_path(namespace), body), 400, "BadRequest")
    assert word in status["message"] and (api_version in status["message"] or kind in status["message"])


def test_name_mismatch_between_url_and_body_is_400(server: RunningServer, namespace: str) -> None:
    create(server, cm_path(namespace), configmap("real"))
    with unchanged(server, cm_path(namespace)):
        status = expect_status(
            server.request("PUT", f"{cm_path(namespace)}/real", configmap("other")), 400, "BadRequest"
        )
    assert "other" in status["message"] and "real" in status["message"]


def test_namespace_mismatch_is_400(server: RunningServer, namespace: str) -> None:
    body = configmap("elsewhere")
    body["metadata"]["namespace"] = "kube-system"
    with unchanged(server, cm_path(namespace), cm_path("kube-system")):
        status = expect_status(server.request("POST", cm_path(namespace), body), 400, "BadRequest")
        assert "namespace" in status["message"]
        create(server, cm_path(namespace), configmap("put-target"))
        before = snapshot(server, cm_path(namespace))
        put = {**configmap("put-target"), "metadata": {"name": "put-target", "namespace": "kube-system"}}
        expect_status(server.request("PUT", f"{cm_path(namespace)}/put-target", put), 400, "BadRequest")
        assert snapshot(server, cm_path(namespace)) == before
        server.request("DELETE", f"{cm_path(namespace)}/put-target")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/namespaces/default/widgets",
        "/api/v1/widgets",
        "/api/v1/namespaces/default/pods/x/nonsense",
        "/api/v2/pods",
        "/apis/apps/v1/namespaces/default/pods",
        "/apis/apps/v2/deployments",
        "/apis/nope.example.com/v1/things",
        "/apis/nope.example.com/v1",
        "/apis/nope.example.com",
        "/definitely/not/kubernetes",
    ],
)
def test_unknown_resource_paths_are_404_status(server: RunningServer, path: str) -> None:
    status = expect_status(server.request("GET", path), 404, "NotFound")
    assert status["message"] == "the server could not find the requested resource"


def test_unknown_resource_post_changes_nothing(server: RunningServer, namespace: str) -> None:
    with unchanged(server, cm_path(namespace)):
        expect_status(
            server.request("POST", f"/api/v1/namespaces/{namespace}/widgets", configmap("w")), 404, "NotFound"
        )


@pytest.mark.parametrize(
    ("path_of", "obj", "field"),
    [
        (cm_path, configmap("UpperCase"), "metadata.name"),
        (cm_path, configmap("x" * 254), "metadata.name"),
        (cm_path, configmap("under_score"), "metadata.name"),
        (lambda ns: f"/api/v1/namespaces/{ns}/services", service("s" * 64), "metadata.name"),
        (cm_path, configmap("badlabel", {"bad key": "v"}), "metadata.labels"),
        (cm_path, configmap("badvalue", {"k": "v" * 64}), "metadata.labels"),
        (cm_path, configmap("badvalue2", {"k": "-leading-dash"}), "metadata.labels"),
    ],
)
def test_invalid_metadata_is_422_with_causes(
    server: RunningServer, namespace: str, path_of: Any, obj: Obj, field: str
) -> None:
    with unchanged(server, path_of(namespace)):
        status = expect_status(server.request("POST", path_of(namespace), obj), 422, "Invalid")
    details = status["details"]
    assert details["name"] == obj["metadata"]["name"]
    assert details["kind"] == obj["kind"]
    assert details["causes"] and all(c["field"].startswith(field) for c in details["causes"]), details
    assert status["message"].startswith(f'{obj["kind"]} "{obj["metadata"]["name"]}" is invalid: {field}')


def test_pod_without_containers_or_image_is_422(server: RunningServer, namespace: str) -> None:
    no_containers = {**pod("empty"), "spec": {}}
    no_image = {**pod("noimage"), "spec": {"containers": [{"name": "main"}]}}
    with unchanged(server, pods_path(namespace)):
        status = expect_status(server.request("POST", pods_path(namespace), no_containers), 422, "Invalid")
        assert any(
            c["field"] == "spec.containers" and c["reason"] == "FieldValueRequired" for c in status["details"]["causes"]
        ), status
        status = expect_status(server.request("POST", pods_path(namespace), no_image), 422, "Invalid")
    assert status["details"]["causes"] == [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.containers[0].image"}
    ]
    assert status["message"] == 'Pod "noimage" is invalid: spec.containers[0].image: Required value'


def test_an_invalid_object_of_a_group_is_named_with_its_group(server: RunningServer, namespace: str) -> None:
    """kube-apiserver names the kind with its group in the message (``Deployment.apps``), not in kubectl's
    ``The Deployment "x" is invalid``, which comes from the details."""
    bad = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "noselector"},
        "spec": {
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
        },
    }
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    status = expect_status(server.request("POST", path, bad), 422, "Invalid")
    assert status["message"].startswith('Deployment.apps "noselector" is invalid: spec.selector: Required value')
    assert (status["details"]["kind"], status["details"]["group"]) == ("Deployment", "apps")


def test_missing_name_is_422(server: RunningServer, namespace: str) -> None:
    body = configmap("x")
    del body["metadata"]["name"]
    with unchanged(server, cm_path(namespace)):
        status = expect_status(server.request("POST", cm_path(namespace), body), 422, "Invalid")
    assert status["details"]["causes"][0]["field"] == "metadata.name"


def test_stale_resource_version_on_put_is_409_conflict(server: RunningServer, namespace: str) -> None:
    first = create(server, cm_path(namespace), configmap("cas"))
    second = {**first, "data": {"k": "second"}}
    updated = ok(server.request("PUT", f"{cm_path(namespace)}/cas", second))
    assert int(updated["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    stale = {**first, "data": {"k": "lost update"}}
    with unchanged(server, cm_path(namespace)):
        status = expect_status(server.request("PUT", f"{cm_path(namespace)}/cas", stale), 409, "Conflict")
    assert status["message"] == (
        'Operation cannot be fulfilled on configmaps "cas": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    assert status["details"] == {"name": "cas", "kind": "configmaps"}
    assert ok(server.request("GET", f"{cm_path(namespace)}/cas"))["data"] == {"k": "second"}


def test_put_of_a_missing_object_is_404(server: RunningServer, namespace: str) -> None:
    with unchanged(server, cm_path(namespace)):
        status = expect_status(
            server.request("PUT", f"{cm_path(namespace)}/ghost", configmap("ghost")), 404, "NotFound"
        )
    assert status["message"] == 'configmaps "ghost" not found'


def test_create_existing_is_409_already_exists(server: RunningServer, namespace: str) -> None:
    create(server, deploy_path(namespace), deployment("twice"))
    with unchanged(server, deploy_path(namespace)):
        status = expect_status(
            server.request("POST", deploy_path(namespace), deployment("twice")), 409, "AlreadyExists"
        )
    assert status["message"] == 'deployments.apps "twice" already exists'
    assert status["details"] == {"name": "twice", "kind": "deployments", "group": "apps"}


def test_create_in_missing_namespace_is_404(server: RunningServer) -> None:
    status = expect_status(server.request("POST", cm_path("no-such-ns"), configmap("orphan")), 404, "NotFound")
    assert status["message"] == 'namespaces "no-such-ns" not found'
    assert status["details"] == {"name": "no-such-ns", "kind": "namespaces"}
    expect_status(server.request("GET", f"{cm_path('no-such-ns')}/orphan"), 404, "NotFound")


def test_oversized_body_is_413(server: RunningServer, namespace: str) -> None:
    big = configmap("huge")
    big["data"] = {"blob": "x" * (3 * 1024 * 1024 + 10)}
    with unchanged(server, cm_path(namespace)):
        status = expect_status(server.request("POST", cm_path(namespace), big), 413, "RequestEntityTooLarge")
    assert "limit" in status["message"]
    expect_status(server.request("GET", f"{cm_path(namespace)}/huge"), 404, "NotFound")


def test_body_just_under_the_limit_is_accepted(server: RunningServer, namespace: str) -> None:
    big = configmap("big")
    big["data"] = {"blob": "x" * (1024 * 1024)}
    created = create(server, cm_path(namespace), big)
    assert len(created["data"]["blob"]) == 1024 * 1024


def test_unsupported_content_type_is_415(server: RunningServer, namespace: str) -> None:
    raw = json.dumps(configmap("csv")).encode()
    with unchanged(server, cm_path(namespace)):
        status = expect_status(
            server.request("POST", cm_path(namespace), raw, content_type="text/csv"), 415, "UnsupportedMediaType"
        )
        assert "text/csv" in status["message"]
        create(server, cm_path(namespace), configmap("patched"))
        before = snapshot(server, cm_path(namespace))
        expect_status(
            server.request(
                "PATCH", f"{cm_path(namespace)}/patched", {"data": {"k": "x"}}, content_type="application/json"
            ),
            415,
            "UnsupportedMediaType",
        )
        assert snapshot(server, cm_path(namespace)) == before
        server.request("DELETE", f"{cm_path(namespace)}/patched")


@pytest.mark.parametrize(
    "params",
    [
        {"labelSelector": "a b c"},
        {"labelSelector": "a in (x"},
        {"labelSelector": "=x"},
        {"fieldSelector": "metadata.name"},
        {"fieldSelector": "spec.nonsense=x"},
        {"fieldSelector": "metadata.uid=1234"},
        {"continue": "not-a-token!!"},
        {"continue": "eyJrIjogMX0"},
        {"limit": "ten"},
        {"limit": "-1"},
    ],
)
def test_bad_list_parameters_are_400(server: RunningServer, namespace: str, params: dict[str, str]) -> None:
    expect_status(server.request("GET", q(pods_path(namespace), **params)), 400, "BadRequest")


def test_continue_token_of_another_collection_is_400(server: RunningServer, namespace: str) -> None:
    for i in range(3):
        create(server, cm_path(namespace), configmap(f"c{i}"))
    token = ok(server.request("GET", q(cm_path(namespace), limit="1")))["metadata"]["continue"]
    expect_status(server.request("GET", q(pods_path(namespace), limit="1", **{"continue": token})), 400, "BadRequest")


def test_unsupported_field_selector_names_the_field(server: RunningServer, namespace: str) -> None:
    status = expect_status(
        server.request("GET", q(pods_path(namespace), fieldSelector="spec.nonsense=x")), 400, "BadRequest"
    )
    assert "spec.nonsense" in status["message"]


@pytest.mark.parametrize(
    ("content_type", "raw", "codes"),
    [
        ("application/json-patch+json", b'[{"op": "replace", "path": "/data/k"', (400,)),
        ("application/json-patch+json", b'{"op": "replace"}', (400, 422)),
        ("application/json-patch+json", b'[{"op": "frobnicate", "path": "/data/k", "value": "x"}]', (400, 422)),
        (
            "application/json-patch+json",
            b'[{"op": "test", "path": "/data/k", "value": "not-v"},'
            b' {"op": "replace", "path": "/data/k", "value": "changed"}]',
            (422,),
        ),
        ("application/json-patch+json", b'[{"op": "remove", "path": "/data/missing"}]', (422,)),
        ("application/merge-patch+json", b'{"data": ', (400,)),
        ("application/merge-patch+json", b'["not", "an", "object"]', (400, 422)),
        ("application/strategic-merge-patch+json", b"{{", (400,)),
    ],
)
def test_bad_patches_are_4xx_and_change_nothing(
    server: RunningServer, namespace: str, content_type: str, raw: bytes, codes: tuple[int, ...]
) -> None:
    create(server, cm_path(namespace), configmap("target"))
    with unchanged(server, cm_path(namespace)):
        status, body = server.request("PATCH", f"{cm_path(namespace)}/target", raw, content_type=content_type)
        assert status in codes, (status, body)
        expect_status((status, body), status, body["reason"] if isinstance(body, dict) else "?")
    assert ok(server.request("GET", f"{cm_path(namespace)}/target"))["data"] == {"k": "v"}


def test_patch_of_a_missing_object_is_404(server: RunningServer, namespace: str) -> None:
    with unchanged(server, cm_path(namespace)):
        expect_status(
            server.request(
                "PATCH",
                f"{cm_path(namespace)}/ghost",
                {"data": {"a": "b"}},
                content_type="application/merge-patch+json",
            ),
            404,
            "NotFound",
        )


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("POST", "/obj"), ("PUT", ""), ("PATCH", ""), ("POST", "/obj/status"), ("DELETE", "/obj/status")],
)
def test_wrong_method_is_405(server: RunningServer, namespace: str, method: str, suffix: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/pods{suffix}"
    create(server, pods_path(namespace), unscheduled_pod("obj"))
    with unchanged(server, pods_path(namespace)):
        expect_status(
            server.request(
                method,
                path,
                pod("obj"),
                content_type="application/merge-patch+json" if method == "PATCH" else "application/json",
            ),
            405,
            "MethodNotAllowed",
        )


# ------------------------------------------------------------------------------------------ authentication


@pytest.mark.parametrize("token", ["", "wrong-token", "K10deadbeef::server:nope"])
def test_missing_or_wrong_token_is_401(server: RunningServer, token: str) -> None:
    for method, path in (
        ("GET", "/api/v1/namespaces"),
        ("GET", "/api"),
        ("GET", "/apis/apps/v1"),
        ("POST", cm_path("default")),
    ):
        status = expect_status(
            server.request(method, path, configmap("anon") if method == "POST" else None, token=token),
            401,
            "Unauthorized",
        )
        assert status["message"] == "Unauthorized"
    expect_status(server.request("GET", f"{cm_path('default')}/anon"), 404, "NotFound")


@pytest.mark.parametrize("path", ["/version", "/healthz", "/livez", "/readyz"])
def test_health_and_version_are_public(server: RunningServer, path: str) -> None:
    status, body = server.request("GET", path, token="")
    assert status == 200, body
    if path == "/version":
        assert body["major"] == "1" and body["minor"] == "32" and body["gitVersion"].startswith("v1.32.")
    else:
        assert body == "ok"


def test_node_join_token_may_only_request_node_credentials(server: RunningServer, namespace: str) -> None:
    """The join token is every joining node's: it trades itself for a node certificate and nothing
    else (no Node of any name, no reads), as Kubernetes' bootstrap tokens only make CSRs."""
    _, secret = parse_join_token((server.data_dir / "node-token").read_text())
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"joined-{namespace}"[:63]}}
    status = expect_status(server.request("POST", "/api/v1/nodes", node, token=secret), 403, "Forbidden")
    assert "the join token may only request node credentials" in status["message"]
    assert server.request("GET", f"/api/v1/nodes/{node['metadata']['name']}")[0] == 404
    expect_status(server.request("GET", deploy_path(namespace), token=secret), 403, "Forbidden")
    with unchanged(server, deploy_path(namespace)):
        status = expect_status(
            server.request("POST", deploy_path(namespace), deployment("nope"), token=secret), 403, "Forbidden"
        )
    assert 'User "system:node-bootstrap"' in status["message"]


# ------------------------------------------------------------------------------------------ deletion


def test_delete_preconditions_mismatch_is_409(server: RunningServer, namespace: str) -> None:
    obj = create(server, cm_path(namespace), configmap("guarded"))
    path = f"{cm_path(namespace)}/guarded"
    with unchanged(server, cm_path(namespace)):
        status = expect_status(
            server.request("DELETE", path, {"preconditions": {"uid": "not-the-uid"}}), 409, "Conflict"
        )
        assert "Precondition failed" in status["message"] and "UID" in status["message"]
        status = expect_status(
            server.request("DELETE", path, {"preconditions": {"resourceVersion": "1"}}), 409, "Conflict"
        )
        assert "ResourceVersion" in status["message"]
    md = obj["metadata"]
    ok(server.request("DELETE", path, {"preconditions": {"uid": md["uid"], "resourceVersion": md["resourceVersion"]}}))
    expect_status(server.request("GET", path), 404, "NotFound")


def test_delete_of_a_missing_object_is_404(server: RunningServer, namespace: str) -> None:
    status = expect_status(server.request("DELETE", f"{cm_path(namespace)}/ghost"), 404, "NotFound")
    assert status["details"] == {"name": "ghost", "kind": "configmaps"}


def test_finalizers_hold_deletion_until_removed(server: RunningServer, namespace: str) -> None:
    path = f"{cm_path(namespace)}/held"
    create(server, cm_path(namespace), configmap("held", finalizers=["example.com/hold"]))
    deleted = ok(server.request("DELETE", path))
    assert deleted["metadata"]["deletionTimestamp"]
    live = ok(server.request("GET", path))
    assert live["metadata"]["deletionTimestamp"] == deleted["metadata"]["deletionTimestamp"]
    assert live["metadata"]["finalizers"] == ["example.com/hold"]
    # a terminating object cannot get new finalizers... but it can lose them, and then it goes
    ok(server.request("PATCH", path, {"metadata": {"finalizers": None}}, content_type="application/merge-patch+json"))
    expect_status(server.request("GET", path), 404, "NotFound")


def test_orphan_propagation_adds_the_orphan_finalizer(server: RunningServer, namespace: str) -> None:
    """The DELETE marks the owner with the ``orphan`` finalizer; the garbage collector then strips
    the owner reference from its dependents and lets the owner go."""
    path = f"{deploy_path(namespace)}/orphaner"
    owner = create(server, deploy_path(namespace), deployment("orphaner"))
    ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "orphaner", "uid": owner["metadata"]["uid"]}
    create(server, cm_path(namespace), configmap("dependent", ownerReferences=[ref]))
    deleted = ok(server.request("DELETE", path, {"propagationPolicy": "Orphan"}))
    assert "orphan" in deleted["metadata"]["finalizers"]
    assert deleted["metadata"]["deletionTimestamp"]
    deadline = time.monotonic() + 30
    while server.request("GET", path)[0] != 404:
        assert time.monotonic() < deadline, "the orphaned owner was never deleted"
        time.sleep(0.1)
    dependent = ok(server.request("GET", f"{cm_path(namespace)}/dependent"))
    assert not dependent["metadata"].get("ownerReferences")


def test_bad_propagation_policy_is_400(server: RunningServer, namespace: str) -> None:
    create(server, cm_path(namespace), configmap("policy"))
    with unchanged(server, cm_path(namespace)):
        expect_status(
            server.request("DELETE", f"{cm_path(namespace)}/policy", {"propagationPolicy": "Sideways"}),
            400,
            "BadRequest",
        )


def test_dry_run_create_and_delete_change_nothing(server: RunningServer, namespace: str) -> None:
    with unchanged(server, cm_path(namespace)):
        dry = ok(server.request("POST", q(cm_path(namespace), dryRun="All"), configmap("dry")), 201)
        assert dry["metadata"]["name"] == "dry" and dry["metadata"]["uid"]
    expect_status(server.request("GET", f"{cm_path(namespace)}/dry"), 404, "NotFound")
    create(server, cm_path(namespace), configmap("real"))
    with unchanged(server, cm_path(namespace)):
        ok(server.request("DELETE", q(f"{cm_path(namespace)}/real", dryRun="All")))
        ok(server.request("DELETE", f"{cm_path(namespace)}/real", {"dryRun": ["All"]}))
    ok(server.request("GET", f"{cm_path(namespace)}/real"))


def test_generate_name_makes_unique_names(server: RunningServer, namespace: str) -> None:
    names = set()
    for _ in range(10):
        body = configmap("")
        body["metadata"] = {"generateName": "gen-"}
        created = create(server, cm_path(namespace), body)
        assert created["metadata"]["name"].startswith("gen-") and len(created["metadata"]["name"]) == 9
        names.add(created["metadata"]["name"])
    assert len(names) == 10
    assert set(snapshot(server, cm_path(namespace))) >= names


def test_deletecollection_with_label_selector(server: RunningServer, namespace: str) -> None:
    for i in range(3):
        create(server, cm_path(namespace), configmap(f"gone-{i}", {"batch": "one"}))
    for i in range(2):
        create(server, cm_path(namespace), configmap(f"kept-{i}", {"batch": "two"}))
    answer = ok(server.request("DELETE", q(cm_path(namespace), labelSelector="batch=one")))
    assert answer["kind"] == "ConfigMapList"
    assert sorted(i["metadata"]["name"] for i in answer["items"]) == ["gone-0", "gone-1", "gone-2"]
    remaining = set(snapshot(server, cm_path(namespace)))
    assert {"kept-0", "kept-1"} <= remaining and not any(n.startswith("gone-") for n in remaining)


def test_list_paging_with_limit_and_continue(server: RunningServer, namespace: str) -> None:
    wanted = {f"page-{i:02d}" for i in range(24)} | {"kube-root-ca.crt"}  # every namespace has the CA
    for name in sorted(wanted - {"kube-root-ca.crt"}):
        create(server, cm_path(namespace), configmap(name))
    pages: list[list[str]] = []
    token: str | None = None
    revisions = set()
    while True:
        params = {"limit": "10", **({"continue": token} if token else {})}
        page = ok(server.request("GET", q(cm_path(namespace), **params)))
        pages.append([i["metadata"]["name"] for i in page["items"]])
        revisions.add(page["metadata"]["resourceVersion"])
        token = page["metadata"].get("continue")
        if not token:
            break
        assert len(pages) < 5, pages
    assert [len(p) for p in pages] == [10, 10, 5]
    flat = [n for p in pages for n in p]
    assert len(flat) == len(set(flat)) == 25 and set(flat) == wanted
    assert flat == sorted(flat)


def test_paging_with_a_label_selector_fills_pages(server: RunningServer, namespace: str) -> None:
    for i in range(12):
        create(server, cm_path(namespace), configmap(f"sel-{i:02d}", {"odd": str(i % 2)}))
    first = ok(server.request("GET", q(cm_path(namespace), limit="4", labelSelector="odd=1")))
    second = ok(
        server.request(
            "GET",
            q(cm_path(namespace), limit="4", labelSelector="odd=1", **{"continue": first["metadata"]["continue"]}),
        )
    )
    names = [i["metadata"]["name"] for i in first["items"] + second["items"]]
    assert names == [f"sel-{i:02d}" for i in range(1, 12, 2)][:8]
    assert "continue" not in second["metadata"]


# ------------------------------------------------------------------------------------------ watch


def test_watch_from_resource_version_gets_exactly_later_events(server: RunningServer, namespace: str) -> None:
    create(server, cm_path(namespace), configmap("before"))
    start = ok(server.request("GET", cm_path(namespace)))["metadata"]["resourceVersion"]
    a = create(server, cm_path(namespace), configmap("w-a"))
    modified = ok(
        server.request(
            "PATCH", f"{cm_path(namespace)}/w-a", {"data": {"k": "2"}}, content_type="application/merge-patch+json"
        )
    )
    create(server, cm_path(namespace), configmap("w-b"))
    ok(server.request("DELETE", f"{cm_path(namespace)}/w-a"))
    events = watch_events(server, cm_path(namespace), resourceVersion=start, timeoutSeconds="1")
    seen = [(e["type"], e["object"]["metadata"]["name"]) for e in events]
    assert seen == [("ADDED", "w-a"), ("MODIFIED", "w-a"), ("ADDED", "w-b"), ("DELETED", "w-a")]
    assert events[0]["object"]["metadata"]["resourceVersion"] == a["metadata"]["resourceVersion"]
    assert events[1]["object"]["data"] == {"k": "2"} == modified["data"]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs) and rvs[0] > int(start)
    assert all(e["object"]["kind"] == "ConfigMap" and e["object"]["apiVersion"] == "v1" for e in events)


def test_watch_without_resource_version_starts_with_current_objects(server: RunningServer, namespace: str) -> None:
    create(server, cm_path(namespace), configmap("present-1"))
    create(server, cm_path(namespace), configmap("present-2"))
    events = watch_events(server, cm_path(namespace), timeoutSeconds="1")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "kube-root-ca.crt"),
        ("ADDED", "present-1"),
        ("ADDED", "present-2"),
    ]


def test_watch_with_label_selector_sees_objects_leave_as_deleted(server: RunningServer, namespace: str) -> None:
    path = f"{cm_path(namespace)}/mover"
    create(server, cm_path(namespace), configmap("mover", {"tier": "front"}))
    start = ok(server.request("GET", cm_path(namespace)))["metadata"]["resourceVersion"]
    merge = "application/merge-patch+json"
    ok(server.request("PATCH", path, {"metadata": {"labels": {"tier": "back"}}}, content_type=merge))
    ok(server.request("PATCH", path, {"data": {"k": "unseen"}}, content_type=merge))
    ok(server.request("PATCH", path, {"metadata": {"labels": {"tier": "front"}}}, content_type=merge))
    ok(server.request("DELETE", path))
    events = watch_events(
        server, cm_path(namespace), resourceVersion=start, labelSelector="tier=front", timeoutSeconds="1"
    )
    assert [e["type"] for e in events] == ["DELETED", "ADDED", "DELETED"]
    assert events[0]["object"]["metadata"]["labels"] == {"tier": "back"}


def test_watch_of_one_object_by_field_selector(server: RunningServer, namespace: str) -> None:
    start = ok(server.request("GET", cm_path(namespace)))["metadata"]["resourceVersion"]
    create(server, cm_path(namespace), configmap("one"))
    create(server, cm_path(namespace), configmap("other"))
    ok(server.request("DELETE", f"{cm_path(namespace)}/one"))
    events = watch_events(
        server, cm_path(namespace), resourceVersion=start, fieldSelector="metadata.name=one", timeoutSeconds="1"
    )
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "one"), ("DELETED", "one")]


def test_watch_timeout_seconds_ends_the_stream(server: RunningServer, namespace: str) -> None:
    started = time.monotonic()
    events = watch_events(server, f"/api/v1/namespaces/{namespace}/secrets", timeoutSeconds="1")
    elapsed = time.monotonic() - started
    assert events == []
    assert 0.9 <= elapsed < 5, elapsed


def test_watch_with_a_bad_resource_version_is_400(server: RunningServer, namespace: str) -> None:
    expect_status(server.request("GET", q(cm_path(namespace), watch="true", resourceVersion="abc")), 400, "BadRequest")


def test_watch_from_a_compacted_revision_is_an_error_event_410(tmp_path: Path) -> None:
    """A dedicated server keeps two revisions of history (``watch.history``); after a restart the
    history it compacted is gone, and a watch from before it gets an ERROR event with 410."""
    config = tmp_path / "config.yaml"
    config.write_text("watch:\n  history: 2\n")
    data = tmp_path / "data"
    srv = start_server(data, "--config", str(config))
    try:
        first = create(srv, cm_path("default"), configmap("old-0"))
        for i in range(1, 6):
            create(srv, cm_path("default"), configmap(f"old-{i}"))
    finally:
        assert srv.stop() == 0
    srv = start_server(data, "--config", str(config))
    try:
        events = watch_events(
            srv, cm_path("default"), resourceVersion=first["metadata"]["resourceVersion"], timeoutSeconds="5"
        )
        assert len(events) == 1, events
        assert events[0]["type"] == "ERROR"
        status = events[0]["object"]
        assert status["kind"] == "Status" and status["code"] == 410 and status["reason"] == "Expired"
        assert status["message"].startswith("too old resource version")
        # a recent revision still resumes
        latest = ok(srv.request("GET", cm_path("default")))["metadata"]["resourceVersion"]
        create(srv, cm_path("default"), configmap("new"))
        events = watch_events(srv, cm_path("default"), resourceVersion=latest, timeoutSeconds="1")
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "new")]
    finally:
        srv.stop()


# ------------------------------------------------------------------------------------------ subresources


def test_status_subresource_changes_only_status(server: RunningServer, namespace: str) -> None:
    """The Deployment controller writes this status too: each write is checked in its own answer,
    and the conditional ones start from a fresh read (retried when the controller got in between)."""
    path = f"{deploy_path(namespace)}/stat"
    created = create(server, deploy_path(namespace), deployment("stat", replicas=2))
    assert created["status"] == {} or "replicas" not in created["status"]
    assert created["metadata"]["generation"] == 1
    written = {"replicas": 2, "readyReplicas": 1, "observedGeneration": 1}

    def to_status(obj: Obj) -> Obj:  # PUT status: the status is taken, the spec change is ignored
        obj["spec"]["replicas"] = 9
        obj["status"] = written
        return obj

    _, put = read_modify_write(server, "PUT", f"{path}/status", to_status)
    assert put["spec"]["replicas"] == 2 and put["status"] == written
    assert put["metadata"]["generation"] == 1
    # PATCH status
    patched = ok(
        server.request(
            "PATCH",
            f"{path}/status",
            {"status": {"readyReplicas": 2}, "spec": {"replicas": 7}},
            content_type="application/merge-patch+json",
        )
    )
    assert patched["status"]["readyReplicas"] == 2 and patched["spec"]["replicas"] == 2

    def to_main(obj: Obj) -> Obj:  # the main resource cannot change status
        obj["status"] = {"replicas": 100}
        obj["spec"]["replicas"] = 3
        return obj

    before, updated = read_modify_write(server, "PUT", path, to_main)
    assert updated["spec"]["replicas"] == 3 and updated["status"] == before["status"]
    assert updated["metadata"]["generation"] == 2
    before, merged = read_modify_write(
        server,
        "PATCH",
        path,
        lambda obj: {
            "metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]},
            "status": {"readyReplicas": 50},
        },
        content_type="application/merge-patch+json",
    )
    assert merged["status"] == before["status"] and merged["status"].get("readyReplicas") != 50
    # the status subresource reads as the whole object (compared at one version of it)
    got, main = wait_for(
        lambda: (ok(server.request("GET", f"{path}/status")), ok(server.request("GET", path))),
        lambda pair: pair[0]["metadata"]["resourceVersion"] == pair[1]["metadata"]["resourceVersion"],
        "the Deployment never held still for two reads",
    )
    assert got["kind"] == "Deployment" and got == main and got["spec"]["replicas"] == 3


def test_status_put_with_stale_resource_version_is_409(server: RunningServer, namespace: str) -> None:
    created = create(server, pods_path(namespace), unscheduled_pod("status-cas"))
    path = f"{pods_path(namespace)}/status-cas"
    ok(server.request("PATCH", path, {"metadata": {"labels": {"x": "y"}}}, content_type="application/merge-patch+json"))
    stale = {**created, "status": {"phase": "Running"}}
    with unchanged(server, pods_path(namespace)):
        expect_status(server.request("PUT", f"{path}/status", stale), 409, "Conflict")


SCALABLE = {
    "deployments": (lambda ns: deploy_path(ns), lambda name: deployment(name)),
    "replicasets": (
        lambda ns: f"/apis/apps/v1/namespaces/{ns}/replicasets",
        lambda name: {**deployment(name), "kind": "ReplicaSet"},
    ),
    "replicationcontrollers": (
        lambda ns: f"/api/v1/namespaces/{ns}/replicationcontrollers",
        lambda name: {
            "apiVersion": "v1",
            "kind": "ReplicationController",
            "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"app": name}, "template": deployment(name)["spec"]["template"]},
        },
    ),
}


@pytest.mark.parametrize("plural", sorted(SCALABLE))
def test_scale_subresource(server: RunningServer, namespace: str, plural: str) -> None:
    path_of, make = SCALABLE[plural]
    collection = path_of(namespace)
    created = create(server, collection, make("sc"))
    path = f"{collection}/sc/scale"

    def to_3(read: Obj) -> Obj:
        read["spec"]["replicas"] = 3
        return read

    # guarded by the scale's resourceVersion, which the controller's status writes move as well
    scale, put = read_modify_write(server, "PUT", path, to_3, content_type="")  # as kubectl scale: no type
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["metadata"]["name"] == "sc" and scale["metadata"]["uid"] == created["metadata"]["uid"]
    assert scale["spec"] == {"replicas": 1}
    assert scale["status"]["selector"] == "app=sc"
    assert put["spec"]["replicas"] == 3
    patched = ok(server.request("PATCH", path, {"spec": {"replicas": 5}}, content_type="application/merge-patch+json"))
    assert patched["spec"]["replicas"] == 5
    assert ok(server.request("GET", f"{collection}/sc"))["spec"]["replicas"] == 5
    with unchanged(server, collection):
        expect_status(server.request("PUT", path, scale), 409, "Conflict")  # scale carries an old resourceVersion
        expect_status(
            server.request("PATCH", path, {"spec": {"replicas": -1}}, content_type="application/merge-patch+json"),
            422,
            "Invalid",
        )
    expect_status(server.request("GET", f"{collection}/missing/scale"), 404, "NotFound")


def test_pods_binding_once(server: RunningServer, namespace: str) -> None:
    create(server, pods_path(namespace), unscheduled_pod("bindme"))
    binding = {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": "bindme"},
        "target": {"apiVersion": "v1", "kind": "Node", "name": "node-a"},
    }
    ok(server.request("POST", f"{pods_path(namespace)}/bindme/binding", binding), 201)
    bound = ok(server.request("GET", f"{pods_path(namespace)}/bindme"))
    assert bound["spec"]["nodeName"] == "node-a"
    assert any(c["type"] == "PodScheduled" and c["status"] == "True" for c in bound["status"]["conditions"])
    with unchanged(server, pods_path(namespace)):
        status = expect_status(
            server.request("POST", f"{pods_path(namespace)}/bindme/binding", {**binding, "target": {"name": "node-b"}}),
            409,
            "Conflict",
        )
    assert "node-a" in status["message"]
    expect_status(server.request("POST", f"{pods_path(namespace)}/ghost/binding", binding), 404, "NotFound")


# ------------------------------------------------------------------------------------------ allocation


def reservations(server: RunningServer) -> list[str]:
    """The allocator's reservation keys, read straight from the server's SQLite file (read-only)."""
    db = sqlite3.connect(f"file:{server.data_dir / 'state.db'}?mode=ro", uri=True)
    try:
        return [row[0] for row in db.execute("SELECT key FROM objects WHERE key LIKE '/internal/%' ORDER BY key")]
    finally:
        db.close()


def all_services(server: RunningServer) -> list[Obj]:
    return ok(server.request("GET", "/api/v1/services"))["items"]


def held(server: RunningServer) -> list[str]:
    """What the services hold, in reservation-key form."""
    keys = []
    for svc in all_services(server):
        spec = svc["spec"]
        keys += [f"/internal/clusterips/{ip}" for ip in spec.get("clusterIPs", []) if ip != "None"]
        keys += [f"/internal/nodeports/{p['nodePort']}" for p in spec.get("ports", []) if p.get("nodePort")]
    return sorted(keys)


def test_explicit_cluster_ip_and_node_port_conflicts_are_422(server: RunningServer, namespace: str) -> None:
    svc_path = f"/api/v1/namespaces/{namespace}/services"
    first = create(server, svc_path, service("first", type="NodePort"))
    ip, node_port = first["spec"]["clusterIP"], first["spec"]["ports"][0]["nodePort"]
    assert ip.startswith("10.") and 30000 <= node_port <= 32767
    with unchanged(server, svc_path):
        status = expect_status(server.request("POST", svc_path, service("dup-ip", clusterIP=ip)), 422, "Invalid")
        assert status["details"]["causes"][0]["field"].startswith("spec.clusterIP"), status
        assert ip in status["message"]
        dup_port = service("dup-port", type="NodePort")
        dup_port["spec"]["ports"][0]["nodePort"] = node_port
        status = expect_status(server.request("POST", svc_path, dup_port), 422, "Invalid")
        assert status["details"]["causes"][0]["field"] == "spec.ports[0].nodePort", status
        expect_status(server.request("POST", svc_path, service("outside", clusterIP="192.168.1.1")), 422, "Invalid")
    assert reservations(server) == held(server)


def test_allocations_are_freed_on_delete_without_leaks(server: RunningServer, namespace: str) -> None:
    svc_path = f"/api/v1/namespaces/{namespace}/services"
    baseline = reservations(server)
    assert baseline == held(server)
    ip, port = "10.96.77.77", 31777
    for i in range(20):
        svc = service(f"cycle-{i}", type="NodePort", clusterIP=ip)
        svc["spec"]["ports"][0]["nodePort"] = port
        created = create(server, svc_path, svc)
        assert created["spec"]["clusterIP"] == ip and created["spec"]["ports"][0]["nodePort"] == port
        assert sorted(set(reservations(server)) - set(baseline)) == [
            f"/internal/clusterips/{ip}",
            f"/internal/nodeports/{port}",
        ]
        ok(server.request("DELETE", f"{svc_path}/cycle-{i}"))
    for i in range(20):
        create(server, svc_path, service(f"auto-{i}", type="NodePort"))
        ok(server.request("DELETE", f"{svc_path}/auto-{i}"))
    assert reservations(server) == baseline


def test_type_change_releases_the_node_port(server: RunningServer, namespace: str) -> None:
    svc_path = f"/api/v1/namespaces/{namespace}/services"
    created = create(server, svc_path, service("shrink", type="NodePort"))
    port = created["spec"]["ports"][0]["nodePort"]
    assert f"/internal/nodeports/{port}" in reservations(server)
    ok(
        server.request(
            "PATCH", f"{svc_path}/shrink", {"spec": {"type": "ClusterIP"}}, content_type="application/merge-patch+json"
        )
    )
    assert f"/internal/nodeports/{port}" not in reservations(server)
    assert reservations(server) == held(server)


# ------------------------------------------------------------------------------------------ bootstrap


def test_bootstrap_objects_exist(server: RunningServer) -> None:
    names = set(snapshot(server, "/api/v1/namespaces"))
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= names
    for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
        assert ok(server.request("GET", f"/api/v1/namespaces/{ns}"))["status"]["phase"] == "Active"
    svc = ok(server.request("GET", "/api/v1/namespaces/default/services/kubernetes"))
    assert svc["spec"]["clusterIP"] == "10.96.0.1"
    assert svc["spec"]["ports"][0]["port"] == 443
    endpoints = ok(server.request("GET", "/api/v1/namespaces/default/endpoints/kubernetes"))
    subset = endpoints["subsets"][0]
    port = int(server.url.rsplit(":", 1)[1])
    assert subset["ports"][0]["port"] == port and subset["addresses"][0]["ip"]
    assert "/internal/clusterips/10.96.0.1" in reservations(server)
