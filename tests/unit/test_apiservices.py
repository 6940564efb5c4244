"""APIServices' pure rules: kube-aggregator's validation and table, the availability checks before
the call, the Available condition's transitions, the Local APIServices' registration, the identity
headers and the merged CA bundles."""

from __future__ import annotations

from typing import Any

import pytest

from minikube_py import pki
from minikube_py.api import openapi
from minikube_py.api.discovery import group_list
from minikube_py.model import apiservices
from minikube_py.model.apiservices import (
    LOCAL,
    PASSED,
    Verdict,
    available_column,
    local_changes,
    merge_bundles,
    proxy_headers,
    remote_of,
    service_column,
    service_verdict,
    with_verdict,
)
from minikube_py.model.kindrules import rules_of
from minikube_py.model.rbac import UserInfo

Obj = dict[str, Any]


def apiservice(name: str = "v1beta1.metrics.k8s.io", **spec: Any) -> Obj:
    group, version = spec.pop("group", "metrics.k8s.io"), spec.pop("version", "v1beta1")
    return {
        "metadata": {"name": name},
        "spec": {
            "group": group,
            "version": version,
            "groupPriorityMinimum": 100,
            "versionPriority": 100,
            "service": {"namespace": "kube-system", "name": "metrics-server", "port": 443},
            **spec,
        },
    }


def causes(obj: Obj) -> list[str]:
    return [e.render() for e in rules_of("APIService").validate(obj)]


def test_a_complete_apiservice_is_valid_and_a_missing_port_means_443() -> None:
    obj = apiservice(insecureSkipTLSVerify=True)
    del obj["spec"]["service"]["port"]
    apiservices.defaults(obj)
    assert obj["spec"]["service"]["port"] == 443
    assert causes(obj) == []


@pytest.mark.parametrize(
    ("change", "cause"),
    [
        (
            {"name": "metrics"},
            'metadata.name: Invalid value: "metrics": must be `spec.version+"."+spec.group`: "v1beta1.metrics.k8s.io"',
        ),
        ({"versionPriority": 1001}, "spec.versionPriority: Invalid value: 1001: must be positive and less than 1000"),
        (
            {"groupPriorityMinimum": -1},
            "spec.groupPriorityMinimum: Invalid value: -1: must be positive and less than 20000",
        ),
        ({"service": {"port": 443}}, "spec.service.namespace: Required value"),
        (
            {"service": {"namespace": "a", "name": "b", "port": 70000}},
            "spec.service.port: Invalid value: 70000: port is not valid: must be between 1 and 65535, inclusive",
        ),
        (
            {"caBundle": "Zm9v", "insecureSkipTLSVerify": True},
            "spec.insecureSkipTLSVerify: Invalid value: true: may not be true if caBundle is present",
        ),
        (
            {"status": {"conditions": [{"type": "Available", "status": "Maybe"}]}},
            'status.conditions[0].status: Unsupported value: "Maybe": supported values: "True", "False", "Unknown"',
        ),
    ],
)
def test_kube_aggregators_causes(change: Obj, cause: str) -> None:
    obj = apiservice()
    if "name" in change:
        obj["metadata"]["name"] = change.pop("name")
    if "status" in change:
        obj["status"] = change.pop("status")
    obj["spec"].update(change)
    assert cause in causes(obj)


def test_only_v1_may_have_the_empty_group_and_versions_are_dns_labels() -> None:
    assert causes(apiservice("v2.", group="", version="v2")) == [
        "spec.group: Required value: only v1 may have an empty group and it better be legacy kube"
    ]
    assert any(
        c.startswith('spec.version: Invalid value: "V1"') for c in causes(apiservice("V1.metrics.k8s.io", version="V1"))
    )


def test_a_local_apiservice_has_no_tls_settings() -> None:
    local = apiservice(caBundle="Zm9vYmFy", insecureSkipTLSVerify=True)
    del local["spec"]["service"]
    assert causes(local) == [
        'spec.caBundle: Invalid value: "6 bytes": local APIServices may not have a caBundle',
        "spec.insecureSkipTLSVerify: Invalid value: true: local APIServices may not have insecureSkipTLSVerify",
    ]


def test_the_columns() -> None:
    obj = apiservice()
    assert (service_column(obj), available_column(obj)) == ("kube-system/metrics-server", "Unknown")
    obj["status"] = {"conditions": [{"type": "Available", "status": "False", "reason": "MissingEndpoints"}]}
    assert available_column(obj) == "False (MissingEndpoints)"
    obj["status"]["conditions"][0].update(status="True", reason="Passed")
    assert available_column(obj) == "True"
    del obj["spec"]["service"]
    assert service_column(obj) == "Local"


SERVICE = {"metadata": {"name": "metrics-server"}, "spec": {"ports": [{"name": "https", "port": 443}]}}


def endpoints(*, ready: bool = True, port_name: str = "https") -> Obj:
    subset: Obj = {"ports": [{"name": port_name, "port": 10250}]}
    subset["addresses" if ready else "notReadyAddresses"] = [{"ip": "10.42.0.5"}]
    return {"subsets": [subset]}


@pytest.mark.parametrize(
    ("service", "found", "verdict"),
    [
        (None, None, Verdict("False", "ServiceNotFound", 'service/metrics-server in "kube-system" is not present')),
        (
            {"spec": {"ports": [{"port": 8443}]}},
            None,
            Verdict(
                "False", "ServicePortError", 'service/metrics-server in "kube-system" is not listening on port 443'
            ),
        ),
        (
            SERVICE,
            None,
            Verdict("False", "EndpointsNotFound", 'cannot find endpoints for service/metrics-server in "kube-system"'),
        ),
        (
            SERVICE,
            endpoints(ready=False),
            Verdict(
                "False",
                "MissingEndpoints",
                'endpoints for service/metrics-server in "kube-system" have no addresses with port name "https"',
            ),
        ),
        (SERVICE, endpoints(port_name="other"), "MissingEndpoints"),
        (SERVICE, endpoints(), "https"),
        ({"spec": {"type": "ExternalName", "externalName": "metrics.example.com"}}, None, ""),
    ],
)
def test_the_checks_before_the_discovery_call(service: Obj | None, found: Obj | None, verdict: Verdict | str) -> None:
    remote = remote_of(apiservice())
    assert remote is not None
    outcome = service_verdict(remote, service, found)
    if verdict == "MissingEndpoints":
        assert isinstance(outcome, Verdict) and outcome.reason == "MissingEndpoints"
    else:
        assert outcome == verdict  # a str: go on to the call, at that port name


def test_the_available_condition_moves_its_time_with_its_status_only() -> None:
    obj = apiservice()
    first = with_verdict(obj, Verdict("False", "ServiceNotFound", "gone"), "2026-01-01T00:00:00Z")
    assert first is not None
    obj["status"] = first
    assert with_verdict(obj, Verdict("False", "ServiceNotFound", "gone"), "2026-01-02T00:00:00Z") is None
    again = with_verdict(obj, Verdict("False", "MissingEndpoints", "none"), "2026-01-03T00:00:00Z")
    assert again is not None and again["conditions"][0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    obj["status"] = again
    passed = with_verdict(obj, PASSED, "2026-01-04T00:00:00Z")
    assert passed is not None
    assert passed["conditions"] == [
        {
            "type": "Available",
            "status": "True",
            "lastTransitionTime": "2026-01-04T00:00:00Z",
            "reason": "Passed",
            "message": "all checks passed",
        }
    ]


def test_local_apiservices_follow_what_is_served() -> None:
    builtin = [("", "v1"), ("apps", "v1"), ("metrics.k8s.io", "v1beta1")]
    creates, deletes = local_changes({}, builtin, [("toys.example.com", "v1")], starting=True)
    assert [c["metadata"]["name"] for c in creates] == [
        "v1.",
        "v1.apps",
        "v1beta1.metrics.k8s.io",
        "v1.toys.example.com",
    ]
    assert [c["spec"]["groupPriorityMinimum"] for c in creates] == [18000, 17800, 100, 1000]
    assert deletes == []
    stored = {c["metadata"]["name"]: c for c in creates}
    # a user's change to a built-in one (metrics-server's manifest) stays; it is never re-created later
    del stored["v1.apps"]
    assert local_changes(stored, builtin, [("toys.example.com", "v1")], starting=False) == ([], [])
    # a CRD's group version that is no longer served goes
    assert local_changes(stored, builtin, [], starting=False) == ([], ["v1.toys.example.com"])


def test_the_identity_headers_of_a_proxied_request() -> None:
    user = UserInfo("jane", ("dev", "system:authenticated"), extra={"scopes.example.com/a b": ("x", "y")})
    assert proxy_headers(user) == [
        ("X-Remote-User", "jane"),
        ("X-Remote-Group", "dev"),
        ("X-Remote-Group", "system:authenticated"),
        ("X-Remote-Extra-scopes.example.com%2Fa%20b", "x"),
        ("X-Remote-Extra-scopes.example.com%2Fa%20b", "y"),
    ]
    assert apiservices.is_identity_header("x-remote-extra-anything")
    assert not apiservices.is_identity_header("X-Forwarded-For")
    assert LOCAL.reason == "Local"


def test_ca_bundles_merge_each_certificate_once() -> None:
    one = pki.self_signed_serving_cert("one", ["one"])[0].decode()
    two = pki.self_signed_serving_cert("two", ["two"])[0].decode()
    assert merge_bundles(one, one + two) == one + two
    assert merge_bundles("", two) == two


def test_the_openapi_document_an_index_names_for_a_group_version() -> None:
    index = {
        "paths": {
            "apis/wardle.example.com/v1alpha1": {
                "serverRelativeURL": "/openapi/v3/apis/wardle.example.com/v1alpha1?hash=A"
            },
            "apis/elsewhere.example.com/v1": {"serverRelativeURL": "https://evil.example.com/openapi/v3/x"},
        }
    }
    found = apiservices.openapi_path(index, "wardle.example.com", "v1alpha1")
    assert found == "/openapi/v3/apis/wardle.example.com/v1alpha1?hash=A"
    assert apiservices.openapi_path(index, "elsewhere.example.com", "v1") is None  # not a path of that server
    assert apiservices.openapi_path(index, "other.example.com", "v1") is None
    assert apiservices.openapi_path("not an index", "wardle.example.com", "v1alpha1") is None


def test_the_openapi_index_lists_the_extension_documents_by_their_content() -> None:
    doc = {"openapi": "3.0.0", "paths": {}}
    first = openapi.root({("wardle.example.com", "v1alpha1"): doc})["paths"]["apis/wardle.example.com/v1alpha1"]
    changed = openapi.root({("wardle.example.com", "v1alpha1"): {**doc, "info": {}}})["paths"]
    assert first["serverRelativeURL"].startswith("/openapi/v3/apis/wardle.example.com/v1alpha1?hash=")
    assert changed["apis/wardle.example.com/v1alpha1"] != first


def test_an_extension_groups_versions_follow_their_version_priority() -> None:
    """kube-aggregator prefers the version whose APIService has the highest ``versionPriority``, not
    the newest name; a group it does not fully know keeps Kubernetes' name order."""
    extra = [("wardle.example.com", "v1"), ("wardle.example.com", "v1beta1"), ("other.example.com", "v1alpha1")]
    priorities = {("wardle.example.com", "v1"): 10, ("wardle.example.com", "v1beta1"): 100}
    listed = {g["name"]: g for g in group_list(extra, priorities)["groups"]}
    wardle = listed["wardle.example.com"]
    assert [v["version"] for v in wardle["versions"]] == ["v1beta1", "v1"]
    assert wardle["preferredVersion"] == {"groupVersion": "wardle.example.com/v1beta1", "version": "v1beta1"}
    equal = {key: 10 for key in priorities}
    assert [v["version"] for v in group_list(extra, equal)["groups"][-2]["versions"]] == ["v1", "v1beta1"]
    assert [v["version"] for v in group_list(extra)["groups"][-2]["versions"]] == ["v1", "v1beta1"]
