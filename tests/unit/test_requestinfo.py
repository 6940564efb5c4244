"""Request attributes as kube-apiserver's RequestInfo derives them (model/requestinfo.py)."""

from __future__ import annotations

import pytest

from minikube_py.model.requestinfo import RequestInfo, request_info


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/api/v1/namespaces/ns/pods", {}, ("list", "", "ns", "pods", "", "")),
        ("GET", "/api/v1/namespaces/ns/pods", {"watch": "true"}, ("watch", "", "ns", "pods", "", "")),
        ("GET", "/api/v1/pods", {"watch": "1"}, ("watch", "", "", "pods", "", "")),
        ("GET", "/api/v1/namespaces/ns/pods/p", {}, ("get", "", "ns", "pods", "", "p")),
        ("HEAD", "/api/v1/namespaces/ns/pods/p", {}, ("get", "", "ns", "pods", "", "p")),
        ("GET", "/api/v1/namespaces/ns/pods/p/log", {}, ("get", "", "ns", "pods", "log", "p")),
        ("POST", "/api/v1/namespaces/ns/pods/p/exec", {}, ("create", "", "ns", "pods", "exec", "p")),
        (
            "POST",
            "/api/v1/namespaces/ns/serviceaccounts/sa/token",
            {},
            ("create", "", "ns", "serviceaccounts", "token", "sa"),
        ),
        ("POST", "/apis/apps/v1/namespaces/ns/deployments", {}, ("create", "apps", "ns", "deployments", "", "")),
        (
            "PUT",
            "/apis/apps/v1/namespaces/ns/deployments/d/scale",
            {},
            ("update", "apps", "ns", "deployments", "scale", "d"),
        ),
        ("PATCH", "/apis/apps/v1/namespaces/ns/deployments/d", {}, ("patch", "apps", "ns", "deployments", "", "d")),
        ("DELETE", "/apis/apps/v1/namespaces/ns/deployments/d", {}, ("delete", "apps", "ns", "deployments", "", "d")),
        (
            "DELETE",
            "/apis/apps/v1/namespaces/ns/deployments",
            {},
            ("deletecollection", "apps", "ns", "deployments", "", ""),
        ),
        # a namespace is its own namespace; status and finalize are its subresources, not resources in it
        ("GET", "/api/v1/namespaces/ns", {}, ("get", "", "ns", "namespaces", "", "ns")),
        ("PUT", "/api/v1/namespaces/ns/finalize", {}, ("update", "", "ns", "namespaces", "finalize", "ns")),
        ("GET", "/api/v1/namespaces", {}, ("list", "", "", "namespaces", "", "")),
        ("GET", "/api/v1/nodes/n1", {}, ("get", "", "", "nodes", "", "n1")),
        # a list of one name by field selector is authorized for that name
        (
            "GET",
            "/api/v1/namespaces/ns/secrets",
            {"fieldSelector": "metadata.name=s1"},
            ("list", "", "ns", "secrets", "", "s1"),
        ),
        # a named watch stays a get, as in kube-apiserver
        ("GET", "/api/v1/namespaces/ns/pods/p", {"watch": "true"}, ("get", "", "ns", "pods", "", "p")),
        ("GET", "/api/v1/watch/namespaces/ns/pods", {}, ("watch", "", "ns", "pods", "", "")),
    ],
)
def test_resource_requests(
    method: str, path: str, query: dict[str, str], expected: tuple[str, str, str, str, str, str]
) -> None:
    info = request_info(method, path, query)
    assert info.resource_request
    assert (info.verb, info.api_group, info.namespace, info.resource, info.subresource, info.name) == expected


@pytest.mark.parametrize(
    ("method", "path", "verb"),
    [
        ("GET", "/api", "get"),
        ("GET", "/api/v1", "get"),
        ("GET", "/apis/apps/v1", "get"),
        ("GET", "/apis", "get"),
        ("GET", "/healthz", "get"),
        ("POST", "/pykube/v1/node-credentials", "post"),
        ("GET", "/version/", "get"),
    ],
)
def test_non_resource_requests_keep_the_path_and_the_method_as_verb(method: str, path: str, verb: str) -> None:
    assert request_info(method, path) == RequestInfo(verb, path)


def test_resource_with_subresource_is_how_rules_spell_it() -> None:
    assert request_info("GET", "/api/v1/namespaces/n/pods/p/log").resource_with_subresource == "pods/log"
    assert request_info("GET", "/api/v1/namespaces/n/pods").resource_with_subresource == "pods"
