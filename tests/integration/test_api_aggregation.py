"""The API aggregation layer with the real server (in this process), the real kubectl and a real
HTTPS extension API server (:mod:`extension_apiserver`): APIServices, their availability checks in
kube-aggregator's words, discovery of the extension's resources, requests proxied with the user's
identity, RBAC before the proxy, and the Local APIServices of what the server serves itself."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from extension_apiserver import BASE, GROUP, VERSION, ExtensionServer
from inprocess import InProcessServer, start_in_process

from minikube_py.testing import eventually

Obj = dict[str, Any]
NAME = f"{VERSION}.{GROUP}"
APISERVICES = "/apis/apiregistration.k8s.io/v1/apiservices"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    running = start_in_process(tmp_path_factory.mktemp("aggregation") / "data")
    running.kubectl("create", "namespace", "wardle")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def wardle(server: InProcessServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExtensionServer]:
    """The extension server, trusting what the API server publishes for extension servers."""
    status, config = server.request(
        "GET", "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication"
    )
    assert status == 200
    extension = ExtensionServer(tmp_path_factory.mktemp("wardle"), config["data"], "api.wardle.svc")
    yield extension
    extension.close()


def apply(server: InProcessServer, obj: Obj) -> None:
    server.kubectl("apply", "-f", "-", input=json.dumps(obj))


def apiservice(service: Obj | None, **spec: Any) -> Obj:
    return {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": NAME},
        "spec": {
            "group": GROUP,
            "version": VERSION,
            "groupPriorityMinimum": 1000,
            "versionPriority": 15,
            **({"service": service} if service is not None else {}),
            **spec,
        },
    }


def backend(server: InProcessServer, port: int, *, addresses: bool = True) -> None:
    """Service ``wardle/api`` on port 443, its Endpoints the extension server on loopback."""
    apply(
        server,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "api", "namespace": "wardle"},
            "spec": {"ports": [{"name": "https", "port": 443, "targetPort": port}]},
        },
    )
    subset: Obj = {"ports": [{"name": "https", "port": port}]}
    subset["addresses" if addresses else "notReadyAddresses"] = [{"ip": "127.0.0.1"}]
    apply(
        server,
        {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": "api", "namespace": "wardle"},
            "subsets": [subset],
        },
    )


def condition(server: InProcessServer) -> Obj | None:
    status, obj = server.request("GET", f"{APISERVICES}/{NAME}")
    if status != 200:
        return None
    found = [c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == "Available"]
    return found[0] if found else None


def becomes(server: InProcessServer, reason: str) -> Obj:
    return eventually(
        lambda: (c := condition(server)) is not None and c["reason"] == reason and c, f"Available reason {reason}"
    )


def test_local_apiservices_and_what_extension_servers_read(server: InProcessServer) -> None:
    listed = server.kubectl("get", "apiservices").stdout.splitlines()
    assert listed[0].split() == ["NAME", "SERVICE", "AVAILABLE", "AGE"]
    rows = {line.split()[0]: line.split()[1:3] for line in listed[1:]}
    for name in ("v1.", "v1.apps", "v2.autoscaling", "v1.apiregistration.k8s.io", "v1beta1.metrics.k8s.io"):
        assert rows[name] == ["Local", "True"]
    apps = json.loads(server.kubectl("get", "apiservice", "v1.apps", "-o", "json").stdout)
    assert apps["spec"] == {"group": "apps", "version": "v1", "groupPriorityMinimum": 17800, "versionPriority": 15}
    assert apps["metadata"]["labels"] == {"kube-aggregator.kubernetes.io/automanaged": "onstart"}
    (local,) = apps["status"]["conditions"]
    assert (local["status"], local["reason"], local["message"]) == (
        "True",
        "Local",
        "Local APIServices are always available",
    )
    data = json.loads(
        server.kubectl("-n", "kube-system", "get", "cm", "extension-apiserver-authentication", "-o", "json").stdout
    )["data"]
    assert data["requestheader-allowed-names"] == '["front-proxy-client"]'
    assert data["requestheader-username-headers"] == '["X-Remote-User"]'
    assert data["requestheader-client-ca-file"].startswith("-----BEGIN CERTIFICATE-----")
    assert data["requestheader-client-ca-file"] != data["client-ca-file"]  # a CA of its own
    role = json.loads(
        server.kubectl(
            "-n", "kube-system", "get", "role", "extension-apiserver-authentication-reader", "-o", "json"
        ).stdout
    )
    assert role["rules"][0]["resourceNames"] == ["extension-apiserver-authentication"]
    assert server.kubectl("get", "clusterrole", "system:auth-delegator").returncode == 0


def test_invalid_apiservices_are_refused_with_kube_aggregators_causes(server: InProcessServer) -> None:
    bad = apiservice({"namespace": "wardle", "name": "api"}, insecureSkipTLSVerify=True, caBundle="Zm9v")
    bad["metadata"]["name"] = "v1.wrong"
    bad["spec"]["groupPriorityMinimum"] = 0
    refused = server.kubectl("apply", "-f", "-", input=json.dumps(bad), check=False)
    assert refused.returncode != 0
    for cause in (
        'metadata.name: Invalid value: "v1.wrong": must be `spec.version+"."+spec.group`: "v1alpha1.wardle.example.com"',
        "spec.groupPriorityMinimum: Invalid value: 0: must be positive and less than 20000",
        "spec.insecureSkipTLSVerify: Invalid value: true: may not be true if caBundle is present",
    ):
        assert cause in refused.stderr
    local = apiservice(None, caBundle="Zm9v")
    refused = server.kubectl("apply", "-f", "-", input=json.dumps(local), check=False)
    assert 'spec.caBundle: Invalid value: "3 bytes": local APIServices may not have a caBundle' in refused.stderr
    assert server.request("GET", f"{APISERVICES}/{NAME}")[0] == 404


def test_an_extension_server_answers_its_group_through_the_api_server(
    server: InProcessServer, wardle: ExtensionServer
) -> None:
    ca = base64.b64encode(wardle.ca_pem).decode()
    apply(server, apiservice({"namespace": "wardle", "name": "api"}, caBundle=ca))
    try:
        missing = becomes(server, "ServiceNotFound")
        assert missing["status"] == "False"
        assert missing["message"] == 'service/api in "wardle" is not present'
        # not available: kube-aggregator's plain 503, which kubectl words its own way
        status, answer = server.request("GET", f"{BASE}/namespaces/default/flunders")
        assert (status, answer) == (503, "service unavailable\n")
        failed = server.kubectl("get", "flunders.wardle.example.com", check=False)
        assert failed.returncode != 0

        backend(server, wardle.port, addresses=False)
        no_addresses = becomes(server, "MissingEndpoints")
        assert (
            no_addresses["message"] == 'endpoints for service/api in "wardle" have no addresses with port name "https"'
        )
        backend(server, wardle.port)
        passed = becomes(server, "Passed")
        assert (passed["status"], passed["message"]) == ("True", "all checks passed")
        row = server.kubectl("get", "apiservice", NAME, "--no-headers").stdout.split()
        assert row[1:3] == ["wardle/api", "True"]
        # the availability check asked as kube-aggregator, with the front-proxy identity
        assert (BASE, "system:kube-aggregator", ["system:masters"]) in wardle.seen

        # kubectl learns the extension's resources with the built-in ones (aggregated discovery)
        resources = server.kubectl("api-resources", "--api-group", GROUP, "--no-headers").stdout.split()
        assert resources == ["flunders", "fl", f"{GROUP}/{VERSION}", "true", "Flunder"]
        status, groups = server.request("GET", "/apis")
        assert {"groupVersion": f"{GROUP}/{VERSION}", "version": VERSION} in next(
            g["versions"] for g in groups["groups"] if g["name"] == GROUP
        )

        flunder = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Flunder", "metadata": {"name": "first"}}
        created = server.kubectl("create", "-f", "-", input=json.dumps(flunder))
        assert created.stdout.strip() == f"flunder.{GROUP}/first created"
        listed = server.kubectl("get", "fl").stdout.split()
        assert listed[:2] == ["NAME", "AGE"] and "first" in listed
        got = json.loads(server.kubectl("get", "flunder", "first", "-o", "json").stdout)
        assert got["metadata"]["annotations"] == {"wardle/creator": "admin"}  # the user, from the proxy's headers

        # a client cannot speak for someone else: its own identity headers are dropped
        status, mine = server.request(
            "GET",
            f"{BASE}/namespaces/default/flunders/first",
            headers={"X-Remote-User": "mallory", "X-Remote-Group": "system:masters"},
        )
        assert (status, mine["metadata"]["annotations"]) == (200, {"wardle/creator": "admin"})
        assert wardle.seen[-1] == (
            f"{BASE}/namespaces/default/flunders/first",
            "admin",
            ["system:masters", "system:authenticated"],
        )

        # RBAC decides before the proxy: a user without a grant never reaches the extension server
        before = len(wardle.seen)
        refused = server.kubectl("get", "flunders", "--as", "jane", check=False)
        assert 'flunders.wardle.example.com is forbidden: User "jane" cannot list resource "flunders"' in refused.stderr
        assert len(wardle.seen) == before
        assert server.kubectl("delete", "flunder", "first").returncode == 0
        assert not wardle.flunders
    finally:
        server.kubectl("delete", "apiservice", NAME, "--ignore-not-found")
        server.kubectl("-n", "wardle", "delete", "service,endpoints", "api", "--ignore-not-found")
    # gone with its APIService: the group is not served any more
    assert server.request("GET", f"{BASE}/namespaces/default/flunders")[0] == 404


def test_a_server_whose_certificate_does_not_verify_fails_the_discovery_check(
    server: InProcessServer, wardle: ExtensionServer
) -> None:
    backend(server, wardle.port)
    apply(server, apiservice({"namespace": "wardle", "name": "api"}))  # no caBundle: the system's roots
    try:
        failed = becomes(server, "FailedDiscoveryCheck")
        url = f"https://127.0.0.1:{wardle.port}/apis/{GROUP}/{VERSION}"
        assert failed["status"] == "False"
        assert failed["message"].startswith(f'failing or missing response from {url}: Get "{url}": ')
        assert "CERTIFICATE_VERIFY_FAILED" in failed["message"]
        # insecureSkipTLSVerify trusts any certificate
        apply(server, apiservice({"namespace": "wardle", "name": "api"}, insecureSkipTLSVerify=True))
        becomes(server, "Passed")
    finally:
        server.kubectl("delete", "apiservice", NAME, "--ignore-not-found")
        server.kubectl("-n", "wardle", "delete", "service,endpoints", "api", "--ignore-not-found")


FLUNDER_SCHEMA: Obj = {
    "description": "A Flunder is a unit of a wardle's work.",
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string", "description": "The versioned schema of this object."},
        "kind": {"type": "string", "description": "The REST resource this object represents."},
        "metadata": {"type": "object", "description": "Standard object's metadata."},
        "spec": {
            "type": "object",
            "description": "What the flunder should be.",
            "properties": {"reference": {"type": "string", "description": "The name of another flunder."}},
        },
    },
    "x-kubernetes-group-version-kind": [{"group": GROUP, "version": VERSION, "kind": "Flunder"}],
}


def test_kubectl_explain_reads_the_extension_servers_openapi_document(
    server: InProcessServer, wardle: ExtensionServer
) -> None:
    """The extension's OpenAPI v3 document of its group version is published in ``/openapi/v3`` with
    the built-in ones, at a URL that follows its content; other documents of that server are not."""
    gvk = {"group": GROUP, "version": VERSION, "kind": "Flunder"}
    operation = {"x-kubernetes-group-version-kind": gvk, "responses": {}}
    paths = {f"{BASE}/namespaces/{{namespace}}/flunders": {"get": operation}}
    document = {"openapi": "3.0.0", "info": {"title": "wardle", "version": "v0"}, "paths": paths}
    first = {**document, "components": {"schemas": {"com.example.wardle.v1alpha1.Flunder": FLUNDER_SCHEMA}}}
    wardle.routes["/openapi/v3"] = {
        "paths": {
            f"apis/{GROUP}/{VERSION}": {"serverRelativeURL": f"/openapi/v3/apis/{GROUP}/{VERSION}?hash=A"},
            "apis/other.example.com/v1": {"serverRelativeURL": "/openapi/v3/apis/other.example.com/v1?hash=B"},
        }
    }
    wardle.routes[f"/openapi/v3/apis/{GROUP}/{VERSION}"] = first
    backend(server, wardle.port)
    apply(server, apiservice({"namespace": "wardle", "name": "api"}, caBundle=base64.b64encode(wardle.ca_pem).decode()))
    try:
        becomes(server, "Passed")
        index = eventually(
            lambda: (
                (paths := server.request("GET", "/openapi/v3")[1]["paths"]).get(f"apis/{GROUP}/{VERSION}") and paths
            ),
            "the extension's document in the index",
        )
        assert "apis/other.example.com/v1" not in index
        url = index[f"apis/{GROUP}/{VERSION}"]["serverRelativeURL"]
        assert url.startswith(f"/openapi/v3/apis/{GROUP}/{VERSION}?hash=")
        assert server.request("GET", url) == (200, first)
        explained = server.kubectl("explain", "flunders").stdout
        assert "KIND:       Flunder" in explained and "A Flunder is a unit of a wardle's work." in explained
        assert "The name of another flunder." in server.kubectl("explain", "flunders.spec").stdout
    finally:
        server.kubectl("delete", "apiservice", NAME, "--ignore-not-found")
        server.kubectl("-n", "wardle", "delete", "service,endpoints", "api", "--ignore-not-found")
        for path in [p for p in wardle.routes if p.startswith("/openapi/")]:
            del wardle.routes[path]
    assert f"apis/{GROUP}/{VERSION}" not in server.request("GET", "/openapi/v3")[1]["paths"]
    assert server.request("GET", f"/openapi/v3/apis/{GROUP}/{VERSION}")[0] == 404


def test_the_group_versions_of_crds_get_local_apiservices_while_served(server: InProcessServer) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gizmos.toys.example.com"},
        "spec": {
            "group": "toys.example.com",
            "scope": "Namespaced",
            "names": {"plural": "gizmos", "singular": "gizmo", "kind": "Gizmo"},
            "versions": [
                {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {"type": "object"}}}
            ],
        },
    }
    apply(server, crd)
    registered = eventually(
        lambda: (found := server.request("GET", f"{APISERVICES}/v1.toys.example.com"))[0] == 200 and found[1],
        "the CRD's APIService",
    )
    assert registered["spec"]["groupPriorityMinimum"] == 1000
    assert registered["metadata"]["labels"] == {"kube-aggregator.kubernetes.io/automanaged": "true"}
    server.kubectl("delete", "crd", "gizmos.toys.example.com")
    eventually(lambda: server.request("GET", f"{APISERVICES}/v1.toys.example.com")[0] == 404, "its removal")
