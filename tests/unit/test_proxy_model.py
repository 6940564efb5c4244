"""The pure half of the proxy subresources: names with schemes and ports, the endpoint a Service
request goes to, and which headers cross the proxy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request

from minikube_py.api import routing
from minikube_py.api.connections import long_running
from minikube_py.api.discovery import resource_list
from minikube_py.api.instrument import request_labels
from minikube_py.model import errors
from minikube_py.model.proxy import (
    PROXY_PATH,
    Backend,
    ProxyName,
    agent_path_allowed,
    pick_service_endpoint,
    pod_backend,
    request_headers,
    response_headers,
    service_port_name,
    split_name,
)
from minikube_py.model.requestinfo import request_info


@pytest.mark.parametrize(
    ("ident", "expected"),
    [
        ("web", ProxyName("", "web", "")),
        ("web:80", ProxyName("", "web", "80")),
        ("web:http", ProxyName("", "web", "http")),
        ("https:web:443", ProxyName("https", "web", "443")),
        ("http:web:", ProxyName("http", "web", "")),
        ("https:web:", ProxyName("https", "web", "")),
    ],
)
def test_names_carry_an_optional_scheme_and_port(ident: str, expected: ProxyName) -> None:
    assert split_name(ident) == expected


@pytest.mark.parametrize("ident", ["", ":80", "ftp:web:21", "a:b:c:d", "https::443"])
def test_malformed_names_are_refused(ident: str) -> None:
    assert split_name(ident) is None


SERVICE = {
    "metadata": {"name": "web"},
    "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}, {"name": "metrics", "port": 9000}]},
}


def test_a_port_number_resolves_to_the_service_ports_name() -> None:
    assert service_port_name(SERVICE, "80") == "http"
    assert service_port_name(SERVICE, "metrics") == "metrics"
    assert service_port_name(SERVICE, "") == ""
    unnamed = {"metadata": {"name": "one"}, "spec": {"ports": [{"port": 80}]}}
    assert service_port_name(unnamed, "80") == ""
    with pytest.raises(errors.StatusError) as caught:
        service_port_name(SERVICE, "81")
    assert (caught.value.code, caught.value.message) == (503, 'no service port 81 found for service "web"')


ENDPOINTS = {
    "subsets": [
        {
            "addresses": [{"ip": "10.1.0.5"}, {"ip": "10.1.0.6"}],
            "notReadyAddresses": [{"ip": "10.1.0.7"}],
            "ports": [{"name": "http", "port": 8080}, {"name": "metrics", "port": 9000}],
        },
        {"notReadyAddresses": [{"ip": "10.1.0.8"}], "ports": [{"name": "http", "port": 8081}]},
    ]
}


def test_a_ready_address_of_the_named_port_is_chosen() -> None:
    seen: list[Any] = []

    def first(candidates: Sequence[Any]) -> Any:
        seen.extend(candidates)
        return candidates[0]

    assert pick_service_endpoint(ENDPOINTS, "http", "", "web", first) == Backend("http", "10.1.0.5", 8080)
    assert seen == [("10.1.0.5", 8080), ("10.1.0.6", 8080)]  # never the not-ready ones
    assert pick_service_endpoint(ENDPOINTS, "metrics", "https", "web", first).base_url == "https://10.1.0.5:9000"


@pytest.mark.parametrize(
    ("endpoints", "port"),
    [(None, "http"), ({"subsets": []}, "http"), (ENDPOINTS, "nope"), ({"subsets": ENDPOINTS["subsets"][1:]}, "http")],
)
def test_no_ready_endpoint_is_kubernetes_503(endpoints: Any, port: str) -> None:
    with pytest.raises(errors.StatusError) as caught:
        pick_service_endpoint(endpoints, port, "", "web")
    assert caught.value.status()["reason"] == "ServiceUnavailable"
    assert (caught.value.code, caught.value.message) == (503, 'no endpoints available for service "web"')


POD = {
    "metadata": {"name": "p"},
    "status": {"podIP": "10.1.0.9"},
    "spec": {"containers": [{"name": "a"}, {"name": "b", "ports": [{"name": "web", "containerPort": 8080}]}]},
}


def test_a_pod_is_reached_at_its_ip_by_number_port_name_or_first_declared_port() -> None:
    assert pod_backend(POD, "", "81") == Backend("http", "10.1.0.9", 81)
    assert pod_backend(POD, "", "web") == Backend("http", "10.1.0.9", 8080)
    assert pod_backend(POD, "https", "") == Backend("https", "10.1.0.9", 8080)
    bare = {"metadata": {"name": "q"}, "status": {"podIP": "fd00::5"}, "spec": {"containers": [{"name": "a"}]}}
    assert pod_backend(bare, "", "").base_url == "http://[fd00::5]:80"
    for pod, port in ((POD, "nope"), (POD, "70000"), ({**POD, "status": {}}, "80")):
        with pytest.raises(errors.StatusError) as caught:
            pod_backend(pod, "", port)
        assert caught.value.code == 400


def test_hop_by_hop_headers_and_the_callers_credentials_stay_behind() -> None:
    sent = [
        ("Host", "127.0.0.1:8001"),
        ("Authorization", "Bearer secret"),
        ("Connection", "keep-alive, X-Private"),
        ("X-Private", "1"),
        ("Keep-Alive", "timeout=5"),
        ("Transfer-Encoding", "chunked"),
        ("TE", "trailers"),
        ("Impersonate-User", "bob"),
        ("Impersonate-Extra-Scopes", "x"),
        ("Accept", "text/html"),
        ("Cookie", "a=b"),
        ("X-Forwarded-For", "192.0.2.1"),
        ("Content-Length", "4"),
        ("Expect", "100-continue"),
    ]
    assert request_headers(sent, "127.0.0.1") == [
        ("Accept", "text/html"),
        ("Cookie", "a=b"),
        ("Content-Length", "4"),
        ("X-Forwarded-For", "192.0.2.1, 127.0.0.1"),
    ]
    upgrade = [
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Key", "k"),
        ("Sec-WebSocket-Protocol", "chat"),
        ("Origin", "http://x"),
    ]
    assert request_headers(upgrade, None, websocket=True) == [("Origin", "http://x")]


def test_answers_pass_unchanged_but_for_hop_by_hop_headers() -> None:
    answer = [
        ("Location", "/login"),
        ("Content-Type", "text/html"),
        ("Transfer-Encoding", "chunked"),
        ("Connection", "close"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
    ]
    assert response_headers(answer) == [
        ("Location", "/login"),
        ("Content-Type", "text/html"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
    ]


def test_nodes_proxy_reaches_only_what_the_agent_serves() -> None:
    for path in ("/healthz", "/stats/summary", "/containerLogs/ns/p/c", "/exec/ns/p/c", "/portForward/ns/p"):
        assert agent_path_allowed(path), path
    for path in (
        "/",
        "/pods",
        "/containerLogs/ns/p",
        "/healthz/x",
        "/exec/ns/p/c/../../x",
        "/containerLogs/../stats/summary",
        "/portForward/%2e%2e/x",
        "/exec/./p/c",
    ):
        assert not agent_path_allowed(path), path


def test_rbac_sees_the_proxy_subresource_with_the_http_verb() -> None:
    info = request_info("POST", "/api/v1/namespaces/ns/services/https:web:443/proxy/a/b", {})
    assert (info.verb, info.resource_with_subresource, info.name, info.namespace) == (
        "create",
        "services/proxy",
        "https:web:443",
        "ns",
    )
    info = request_info("GET", "/api/v1/nodes/n1/proxy/stats/summary", {})
    assert (info.verb, info.resource_with_subresource, info.name, info.namespace) == ("get", "nodes/proxy", "n1", "")
    assert request_info("OPTIONS", "/api/v1/namespaces/ns/pods/p:80/proxy/", {}).verb == "options"


def test_proxy_requests_are_long_running_connects() -> None:
    assert PROXY_PATH.match("/api/v1/namespaces/ns/services/web:80/proxy/x")
    assert PROXY_PATH.match("/api/v1/nodes/n1/proxy")
    assert not PROXY_PATH.match("/api/v1/namespaces/proxy/pods")
    labels = request_labels("GET", "/api/v1/namespaces/ns/services/web:80/proxy/a/b")
    assert (labels.verb, labels.resource, labels.subresource, labels.long_running) == (
        "CONNECT",
        "services",
        "proxy",
        True,
    )
    target = routing.parse_path("/api/v1/namespaces/ns/pods/p/proxy/deep/path")
    assert target is not None and (target.name, target.subresource) == ("p", "proxy")
    assert routing.parse_path("/api/v1/namespaces/ns/pods/p/log/deep") is None
    assert long_running(make_mocked_request("POST", "/api/v1/namespaces/ns/pods/p:80/proxy/upload"))
    assert not long_running(make_mocked_request("GET", "/api/v1/namespaces/proxy/pods"))


def test_discovery_lists_the_proxy_subresources() -> None:
    listing = resource_list("", "v1")
    assert listing is not None
    entries = {e["name"]: e for e in listing["resources"]}
    for name, kind in (
        ("pods/proxy", "PodProxyOptions"),
        ("services/proxy", "ServiceProxyOptions"),
        ("nodes/proxy", "NodeProxyOptions"),
    ):
        assert entries[name]["kind"] == kind
        assert entries[name]["verbs"] == ["create", "delete", "get", "patch", "update"]
