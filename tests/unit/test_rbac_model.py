"""RBAC decisions (model/rbac.py): rule matching, bindings by subject, escalation and aggregation,
and the forbidden message kube-apiserver writes."""

from __future__ import annotations

from typing import Any

import pytest

from minikube_py.model import errors
from minikube_py.model.bootstrappolicy import CLUSTER_ROLES
from minikube_py.model.rbac import (
    Policy,
    Rule,
    UserInfo,
    aggregated_rules,
    allows,
    authorize,
    parse_rules,
    service_account_groups,
    service_account_user,
    uncovered,
    validate_cluster_role_binding,
    validate_role,
    validate_role_binding,
    validate_role_ref_unchanged,
)
from minikube_py.model.requestinfo import RequestInfo, request_info

G = "rbac.authorization.k8s.io"


def rule(
    verbs: list[str],
    groups: list[str] | None = None,
    resources: list[str] | None = None,
    names: list[str] | None = None,
    urls: list[str] | None = None,
) -> Rule:
    spec: dict[str, Any] = {"verbs": verbs}
    if groups is not None:
        spec["apiGroups"] = groups
    if resources is not None:
        spec["resources"] = resources
    if names is not None:
        spec["resourceNames"] = names
    if urls is not None:
        spec["nonResourceURLs"] = urls
    return Rule.parse(spec)


def can(r: Rule, method: str, path: str, query: dict[str, str] | None = None) -> bool:
    return allows(request_info(method, path, query), [r])


def test_verbs_groups_and_resources_must_all_match() -> None:
    r = rule(["get", "list"], [""], ["pods"])
    assert can(r, "GET", "/api/v1/namespaces/a/pods")
    assert can(r, "GET", "/api/v1/namespaces/a/pods/p")
    assert not can(r, "GET", "/api/v1/namespaces/a/pods", {"watch": "true"})
    assert not can(r, "DELETE", "/api/v1/namespaces/a/pods/p")
    assert not can(r, "GET", "/api/v1/namespaces/a/services")
    assert not can(r, "GET", "/apis/apps/v1/namespaces/a/pods")  # another group's "pods"


def test_stars_match_everything_of_their_list() -> None:
    assert can(rule(["*"], [""], ["pods"]), "DELETE", "/api/v1/namespaces/a/pods")
    assert can(rule(["get"], ["*"], ["deployments"]), "GET", "/apis/apps/v1/namespaces/a/deployments/d")
    star = rule(["get"], [""], ["*"])
    assert can(star, "GET", "/api/v1/namespaces/a/pods/p/log")  # "*" includes subresources
    assert can(star, "GET", "/api/v1/nodes/n")


def test_subresources_are_named_apart_from_their_resource() -> None:
    logs = rule(["get"], [""], ["pods/log"])
    assert can(logs, "GET", "/api/v1/namespaces/a/pods/p/log")
    assert not can(logs, "GET", "/api/v1/namespaces/a/pods/p")
    assert not can(rule(["get"], [""], ["pods"]), "GET", "/api/v1/namespaces/a/pods/p/log")
    any_status = rule(["update"], ["*"], ["*/status"])
    assert can(any_status, "PUT", "/apis/apps/v1/namespaces/a/deployments/d/status")
    assert not can(any_status, "PUT", "/apis/apps/v1/namespaces/a/deployments/d")


def test_resource_names_allow_only_named_objects() -> None:
    named = rule(["get", "list", "delete"], [""], ["configmaps"], names=["settings"])
    assert can(named, "GET", "/api/v1/namespaces/a/configmaps/settings")
    assert not can(named, "GET", "/api/v1/namespaces/a/configmaps/other")
    assert not can(named, "GET", "/api/v1/namespaces/a/configmaps")  # a list names nobody
    assert can(named, "GET", "/api/v1/namespaces/a/configmaps", {"fieldSelector": "metadata.name=settings"})
    assert not can(named, "DELETE", "/api/v1/namespaces/a/configmaps")  # deletecollection


def test_non_resource_urls_match_exactly_or_by_prefix_star() -> None:
    urls = rule(["get"], urls=["/healthz", "/apis/*"])
    assert can(urls, "GET", "/healthz")
    assert can(urls, "GET", "/apis/apps/v1")
    assert not can(urls, "GET", "/healthz/ping")
    assert not can(urls, "POST", "/healthz")
    assert not can(rule(["get"], [""], ["*"]), "GET", "/healthz")  # resource rules never match a path
    assert can(rule(["*"], urls=["*"]), "GET", "/anything")


def binding(
    kind: str, name: str, role_kind: str, role: str, subjects: list[dict[str, str]], namespace: str = ""
) -> dict[str, Any]:
    md = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {
        "kind": kind,
        "metadata": md,
        "roleRef": {"apiGroup": G, "kind": role_kind, "name": role},
        "subjects": subjects,
    }


def role(kind: str, name: str, rules: list[dict[str, Any]], namespace: str = "") -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name, **({"namespace": namespace} if namespace else {})}, "rules": rules}


READ_PODS = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]
LIST_PODS = request_info("GET", "/api/v1/namespaces/team/pods")


def policy_with(*objects: dict[str, Any]) -> Policy:
    policy = Policy()
    for obj in objects:
        policy.put(obj["kind"], obj)
    return policy


def test_a_role_binding_grants_its_role_in_its_namespace_only() -> None:
    policy = policy_with(
        role("Role", "reader", READ_PODS, "team"),
        binding("RoleBinding", "b", "Role", "reader", [{"kind": "User", "name": "alice"}], "team"),
    )
    alice = UserInfo("alice", ("system:authenticated",))
    assert authorize(alice, LIST_PODS, policy).allowed
    assert not authorize(alice, request_info("GET", "/api/v1/namespaces/other/pods"), policy).allowed
    assert not authorize(alice, request_info("GET", "/api/v1/pods"), policy).allowed
    assert not authorize(UserInfo("bob"), LIST_PODS, policy).allowed


def test_a_role_binding_may_refer_to_a_cluster_role_and_a_cluster_role_binding_grants_everywhere() -> None:
    policy = policy_with(
        role("ClusterRole", "reader", READ_PODS),
        binding("RoleBinding", "b", "ClusterRole", "reader", [{"kind": "Group", "name": "dev"}], "team"),
        binding("ClusterRoleBinding", "c", "ClusterRole", "reader", [{"kind": "User", "name": "ops"}]),
    )
    assert authorize(UserInfo("x", ("dev",)), LIST_PODS, policy).allowed
    assert not authorize(UserInfo("x", ("dev",)), request_info("GET", "/api/v1/namespaces/b/pods"), policy).allowed
    assert authorize(UserInfo("ops"), request_info("GET", "/api/v1/pods"), policy).allowed
    decision = authorize(UserInfo("ops"), LIST_PODS, policy)
    assert decision.reason == 'RBAC: allowed by ClusterRoleBinding "c" of ClusterRole "reader"'


def test_service_account_subjects_are_their_user_names() -> None:
    policy = policy_with(
        role("Role", "reader", READ_PODS, "team"),
        binding("RoleBinding", "b", "Role", "reader", [{"kind": "ServiceAccount", "name": "bot"}], "team"),
    )
    bot = UserInfo(service_account_user("team", "bot"), service_account_groups("team"))
    assert bot.name == "system:serviceaccount:team:bot"
    assert authorize(bot, LIST_PODS, policy).allowed
    other = UserInfo(service_account_user("else", "bot"), service_account_groups("else"))
    assert not authorize(other, LIST_PODS, policy).allowed


def test_bindings_and_roles_follow_updates_and_deletions() -> None:
    policy = policy_with(
        role("Role", "reader", READ_PODS, "team"),
        binding("RoleBinding", "b", "Role", "reader", [{"kind": "User", "name": "alice"}], "team"),
    )
    alice = UserInfo("alice")
    policy.put("RoleBinding", binding("RoleBinding", "b", "Role", "reader", [{"kind": "User", "name": "bob"}], "team"))
    assert not authorize(alice, LIST_PODS, policy).allowed
    assert authorize(UserInfo("bob"), LIST_PODS, policy).allowed
    policy.put("Role", role("Role", "reader", [], "team"))
    assert not authorize(UserInfo("bob"), LIST_PODS, policy).allowed
    policy.put("Role", role("Role", "reader", READ_PODS, "team"))
    policy.remove("RoleBinding", "team", "b")
    assert not authorize(UserInfo("bob"), LIST_PODS, policy).allowed
    assert list(policy.rules_for(UserInfo("bob"), "team")) == []


def test_a_binding_to_a_missing_role_grants_nothing() -> None:
    policy = policy_with(binding("RoleBinding", "b", "Role", "ghost", [{"kind": "User", "name": "alice"}], "team"))
    assert not authorize(UserInfo("alice"), LIST_PODS, policy).allowed


def test_masters_may_do_anything_without_a_binding() -> None:
    assert authorize(UserInfo("root", ("system:masters",)), request_info("DELETE", "/api/v1/nodes"), Policy()).allowed


def test_the_index_answers_from_the_subjects_bindings_only() -> None:
    """A request looks at the bindings naming its user and groups, not at every binding."""
    objects = [role("ClusterRole", "reader", READ_PODS)]
    objects += [
        binding("ClusterRoleBinding", f"b{i}", "ClusterRole", "reader", [{"kind": "User", "name": f"u{i}"}])
        for i in range(2000)
    ]
    policy = policy_with(*objects)
    assert [b.name for b in policy.bindings_for(UserInfo("u7", ("g",)), "team")] == ["b7"]


# ------------------------------------------------------------------------------ escalation


def test_a_user_may_grant_what_they_hold() -> None:
    held = parse_rules([{"apiGroups": [""], "resources": ["pods", "services"], "verbs": ["get", "list"]}])
    assert uncovered(held, [rule(["list"], [""], ["pods"])]) == []
    missing = uncovered(held, parse_rules(READ_PODS))
    assert [m.to_api() for m in missing] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["watch"]}]


def test_stars_are_granted_only_by_stars() -> None:
    everything = [rule(["*"], ["*"], ["*"]), rule(["*"], urls=["*"])]
    assert uncovered(everything, parse_rules(CLUSTER_ROLES[0]["rules"])) == []
    assert uncovered([rule(["get", "list"], [""], ["pods"])], [rule(["*"], [""], ["pods"])])
    assert uncovered([rule(["get"], [""], ["*"])], [rule(["get"], [""], ["pods/log"])]) == []
    assert uncovered([rule(["get"], [""], ["pods/*"])], [rule(["get"], [""], ["pods/log"])]) == []


def test_resource_names_narrow_what_can_be_granted() -> None:
    one = [rule(["get"], [""], ["secrets"], names=["a"])]
    assert uncovered(one, [rule(["get"], [""], ["secrets"], names=["a"])]) == []
    assert uncovered(one, [rule(["get"], [""], ["secrets"], names=["a", "b"])])
    assert uncovered(one, [rule(["get"], [""], ["secrets"])])  # all names is more than one
    assert uncovered([rule(["get"], urls=["/logs/*"])], [rule(["get"], urls=["/logs/x"])]) == []


# ------------------------------------------------------------------------------ aggregation


def test_aggregated_rules_are_the_union_of_the_matching_roles() -> None:
    admin = {
        "metadata": {"name": "monitoring"},
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"aggregate-to-monitoring": "true"}}]},
        "rules": [],
    }
    a = {"metadata": {"name": "a", "labels": {"aggregate-to-monitoring": "true"}}, "rules": READ_PODS}
    b = {
        "metadata": {"name": "b", "labels": {"aggregate-to-monitoring": "true"}},
        "rules": [*READ_PODS, {"verbs": ["get"], "nonResourceURLs": ["/metrics"]}],
    }
    c = {"metadata": {"name": "c"}, "rules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]}
    assert aggregated_rules(admin, [c, b, a, admin]) == [
        *READ_PODS,
        {"verbs": ["get"], "nonResourceURLs": ["/metrics"]},
    ]
    assert aggregated_rules(a, [a, b]) is None


# ------------------------------------------------------------------------------ validation and messages


def test_rule_and_binding_validation() -> None:
    assert [e.field for e in validate_role({"rules": [{"resources": ["pods"]}]})] == [
        "rules[0].verbs",
        "rules[0].apiGroups",
    ]
    assert [e.field for e in validate_role({"rules": [{"verbs": ["get"], "nonResourceURLs": ["/x"]}]})] == [
        "rules[0].nonResourceURLs"
    ]
    ok = binding(
        "RoleBinding",
        "b",
        "Role",
        "r",
        [{"kind": "ServiceAccount", "name": "bot"}, {"kind": "User", "name": "u", "apiGroup": G}],
        "ns",
    )
    assert validate_role_binding(ok) == []
    bad = binding(
        "ClusterRoleBinding",
        "b",
        "Role",
        "",
        [{"kind": "ServiceAccount", "name": "bot"}, {"kind": "Robot", "name": "r"}],
    )
    assert [e.field for e in validate_cluster_role_binding(bad)] == [
        "roleRef.kind",
        "roleRef.name",
        "subjects[0].namespace",
        "subjects[1].kind",
    ]
    changed = binding("RoleBinding", "b", "ClusterRole", "r", [], "ns")
    assert [e.field for e in validate_role_ref_unchanged(changed, ok)] == ["roleRef"]


@pytest.mark.parametrize(
    ("info", "message"),
    [
        (
            request_info("GET", "/api/v1/namespaces/kube-system/pods"),
            'pods is forbidden: User "system:serviceaccount:default:reader" cannot list resource "pods" in API group "" '
            'in the namespace "kube-system"',
        ),
        (
            request_info("GET", "/apis/apps/v1/namespaces/a/deployments/d"),
            'deployments.apps "d" is forbidden: User "system:serviceaccount:default:reader" cannot get resource '
            '"deployments" in API group "apps" in the namespace "a"',
        ),
        (
            request_info("GET", "/api/v1/namespaces/a/pods/p/log"),
            'pods "p" is forbidden: User "system:serviceaccount:default:reader" cannot get resource "pods/log" in API '
            'group "" in the namespace "a"',
        ),
        (
            request_info("DELETE", "/api/v1/nodes"),
            'nodes is forbidden: User "system:serviceaccount:default:reader" cannot deletecollection resource "nodes" in '
            'API group "" at the cluster scope',
        ),
        (
            RequestInfo("get", "/metrics"),
            'forbidden: User "system:serviceaccount:default:reader" cannot get path "/metrics"',
        ),
    ],
)
def test_the_forbidden_message_is_kube_apiservers(info: RequestInfo, message: str) -> None:
    error = errors.forbidden_by_policy("system:serviceaccount:default:reader", info)
    assert (error.code, error.reason, error.message) == (403, "Forbidden", message)


def test_an_aggregation_rule_must_hold_selectors() -> None:
    from minikube_py.model.rbac import validate_cluster_role

    assert validate_cluster_role({"aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]}}) == []
    for bad in ("junk", {"clusterRoleSelectors": "junk"}, {"clusterRoleSelectors": ["junk"]}):
        [error] = validate_cluster_role({"aggregationRule": bad})
        assert error.field == "aggregationRule.clusterRoleSelectors"
    assert aggregated_rules({"metadata": {"name": "x"}, "aggregationRule": "junk"}, []) is None


def test_rule_lists_must_be_lists_of_strings() -> None:
    errs = validate_role({"rules": [{"verbs": "get", "apiGroups": [""], "resources": ["pods", 3]}]})
    assert [e.field for e in errs] == ["rules[0].verbs", "rules[0].resources"]
