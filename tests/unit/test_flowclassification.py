"""API Priority and Fairness classification against kube-apiserver's configuration: who lands in
which schema and level, and which flow."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from minikube_py.model import flowcontrol as fc
from minikube_py.model.flowclassification import Classifier
from minikube_py.model.rbac import UserInfo
from minikube_py.model.requestinfo import RequestInfo, request_info

Obj = dict[str, Any]
ANYONE = ("system:authenticated",)


def _objects(table: tuple[tuple[bool, str, Obj], ...]) -> list[Obj]:
    return [{"metadata": {"name": name, "uid": f"uid-{name}"}, "spec": copy.deepcopy(spec)} for _, name, spec in table]


@pytest.fixture
def classifier() -> Classifier:
    return Classifier(_objects(fc.FLOW_SCHEMAS), {lvl["metadata"]["name"]: lvl for lvl in _objects(fc.PRIORITY_LEVELS)})


def _where(classifier: Classifier, user: UserInfo, method: str, path: str) -> tuple[str, str, str, bool]:
    found = classifier.classify(user, lambda: request_info(method, path, {}))
    assert found is not None
    return found.schema, found.level, found.flow, found.exempt


@pytest.mark.parametrize(
    ("user", "method", "path", "expected"),
    [
        (UserInfo("admin", ("system:masters", *ANYONE)), "DELETE", "/api/v1/nodes/n1", ("exempt", "exempt", "", True)),
        (UserInfo("system:anonymous", ("system:unauthenticated",)), "GET", "/readyz", ("probes", "exempt", "", True)),
        (
            UserInfo("system:anonymous", ("system:unauthenticated",)),
            "GET",
            "/version",
            ("global-default", "global-default", "system:anonymous", False),
        ),
        (
            UserInfo("system:node:n1", ("system:nodes", *ANYONE)),
            "PATCH",
            "/api/v1/nodes/n1/status",
            ("system-node-high", "node-high", "system:node:n1", False),
        ),
        (
            UserInfo("system:node:n1", ("system:nodes", *ANYONE)),
            "PUT",
            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1",
            ("system-node-high", "node-high", "system:node:n1", False),
        ),
        (
            UserInfo("system:node:n1", ("system:nodes", *ANYONE)),
            "GET",
            "/api/v1/namespaces/default/pods",
            ("system-nodes", "system", "system:node:n1", False),
        ),
        (
            UserInfo("system:serviceaccount:kube-system:coredns", ("system:serviceaccounts", *ANYONE)),
            "GET",
            "/api/v1/namespaces/kube-system/endpoints",
            ("kube-system-service-accounts", "workload-high", "kube-system", False),
        ),
        (
            UserInfo("system:serviceaccount:kube-system:operator", ("system:serviceaccounts", *ANYONE)),
            "PUT",
            "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/op",
            ("system-leader-election", "leader-election", "system:serviceaccount:kube-system:operator", False),
        ),
        (
            UserInfo("system:serviceaccount:apps:web", ("system:serviceaccounts", *ANYONE)),
            "GET",
            "/api/v1/namespaces/apps/configmaps",
            ("service-accounts", "workload-low", "system:serviceaccount:apps:web", False),
        ),
        (
            UserInfo("alice", ANYONE),
            "GET",
            "/api/v1/namespaces/x/pods",
            ("global-default", "global-default", "alice", False),
        ),
    ],
)
def test_kube_apiservers_configuration_classifies(
    classifier: Classifier, user: UserInfo, method: str, path: str, expected: tuple[str, str, str, bool]
) -> None:
    assert _where(classifier, user, method, path) == expected


def test_a_matching_schema_of_higher_precedence_wins_and_a_dangling_one_is_skipped() -> None:
    levels = {lvl["metadata"]["name"]: lvl for lvl in _objects(fc.PRIORITY_LEVELS)}
    mine = {
        "metadata": {"name": "ops", "uid": "uid-ops"},
        "spec": {
            "priorityLevelConfiguration": {"name": "workload-high"},
            "matchingPrecedence": 50,
            "distinguisherMethod": {"type": "ByNamespace"},
            "rules": [
                {
                    "subjects": [{"kind": "User", "user": {"name": "alice"}}],
                    "resourceRules": [
                        {"verbs": ["list"], "apiGroups": [""], "resources": ["pods"], "namespaces": ["x"]}
                    ],
                }
            ],
        },
    }
    classifier = Classifier([*_objects(fc.FLOW_SCHEMAS), mine], levels)
    alice = UserInfo("alice", ANYONE)
    assert _where(classifier, alice, "GET", "/api/v1/namespaces/x/pods") == ("ops", "workload-high", "x", False)
    assert _where(classifier, alice, "GET", "/api/v1/namespaces/y/pods")[0] == "global-default"
    assert _where(classifier, alice, "GET", "/api/v1/namespaces/x/pods/p")[0] == "global-default"  # get, not list
    mine["spec"]["priorityLevelConfiguration"] = {"name": "missing"}
    dangling = Classifier([*_objects(fc.FLOW_SCHEMAS), mine], levels)
    assert _where(dangling, alice, "GET", "/api/v1/namespaces/x/pods")[0] == "global-default"


def test_rules_ask_for_the_request_only_when_they_must() -> None:
    classifier = Classifier(
        _objects(fc.FLOW_SCHEMAS), {lvl["metadata"]["name"]: lvl for lvl in _objects(fc.PRIORITY_LEVELS)}
    )

    def no_info() -> RequestInfo:
        raise AssertionError("the exempt schema matches every request of a master")

    found = classifier.classify(UserInfo("admin", ("system:masters",)), no_info)
    assert found is not None and (found.schema_uid, found.level_uid) == ("uid-exempt", "uid-exempt")


def test_non_resource_urls_match_exactly_or_by_prefix() -> None:
    levels = {lvl["metadata"]["name"]: lvl for lvl in _objects(fc.PRIORITY_LEVELS)}
    schema = {
        "metadata": {"name": "metrics", "uid": "u"},
        "spec": {
            "priorityLevelConfiguration": {"name": "system"},
            "matchingPrecedence": 10,
            "rules": [
                {
                    "subjects": [{"kind": "Group", "group": {"name": "*"}}],
                    "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/metrics", "/debug/*"]}],
                }
            ],
        },
    }
    classifier = Classifier([schema, *_objects(fc.FLOW_SCHEMAS)], levels)
    bob = UserInfo("bob", ANYONE)
    assert _where(classifier, bob, "GET", "/metrics")[0] == "metrics"
    assert _where(classifier, bob, "GET", "/debug/pprof/heap")[0] == "metrics"
    assert _where(classifier, bob, "GET", "/metricsx")[0] == "global-default"
    assert _where(classifier, bob, "POST", "/metrics")[0] == "global-default"
    assert Classifier([], {}).classify(bob, lambda: request_info("GET", "/", {})) is None
