"""The request path's authentication and authorization order (api/auth.py): public paths, masters,
the join token, nodes (the Node authorizer, then RBAC), RBAC with kube-apiserver's 403, bearer
parsing and impersonation."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from minikube_py.api.auth import ADMIN, NODE_BOOTSTRAP, User, authorize, bearer_token, impersonate
from minikube_py.api.nodeauth import NodeAuthorizer
from minikube_py.model.errors import StatusError
from minikube_py.model.rbac import Decision, UserInfo
from minikube_py.model.requestinfo import RequestInfo
from minikube_py.store.base import Event

ALICE = User("alice", admin=False, groups=("team-a", "system:authenticated"))
NODE = User("system:node:n1", admin=False, node="n1", groups=("system:nodes", "system:authenticated"))


def allow(*allowed: tuple[str, str, str]) -> tuple[list[RequestInfo], Callable[[UserInfo, RequestInfo], Decision]]:
    """An RBAC stand-in that allows (verb, resource, name) triples and records what it was asked."""
    asked: list[RequestInfo] = []

    def decide(user: UserInfo, info: RequestInfo) -> Decision:
        asked.append(info)
        return Decision((info.verb, info.resource or info.path, info.name) in allowed)

    return asked, decide


def test_public_paths_masters_and_the_join_token_never_reach_rbac() -> None:
    asked, decide = allow()
    authorize(None, "GET", "/readyz", {}, decide)
    authorize(ADMIN, "DELETE", "/api/v1/nodes", {}, decide)
    authorize(NODE_BOOTSTRAP, "POST", "/pykube/v1/node-credentials", {}, decide)
    for method, path in (
        ("GET", "/api/v1/secrets"),
        ("GET", "/api/v1/nodes"),
        ("POST", "/api/v1/nodes"),
        ("GET", "/pykube/v1/node-credentials"),
    ):
        with pytest.raises(StatusError) as refused:
            authorize(NODE_BOOTSTRAP, method, path, {}, decide)
        assert refused.value.code == 403 and "the join token may only request node credentials" in refused.value.message
    assert asked == []
    with pytest.raises(StatusError) as anonymous:
        authorize(None, "GET", "/api/v1/pods", {}, decide)
    assert anonymous.value.code == 401


def test_a_node_is_judged_by_the_node_authorizer_then_by_rbac() -> None:
    """What the Node authorizer does not allow, RBAC may (kube-apiserver's ``Node,RBAC`` chain); a
    refusal says that the node has no relationship to the object."""
    asked, decide = allow(("get", "/apis", ""))
    nodes = NodeAuthorizer(None)  # type: ignore[arg-type]  # fed no store: an empty graph
    authorize(NODE, "GET", "/api/v1/nodes/n2", {}, decide, nodes)
    authorize(NODE, "GET", "/apis", {}, decide, nodes)
    with pytest.raises(StatusError) as refused:
        authorize(NODE, "GET", "/api/v1/secrets", {}, decide, nodes)
    assert refused.value.message == (
        'secrets is forbidden: User "system:node:n1" cannot list resource "secrets" in '
        "API group \"\" at the cluster scope: no relationship found between node 'n1' "
        "and this object"
    )
    assert [i.verb for i in asked] == ["get", "list"]


def test_other_users_are_rbacs_with_its_forbidden_message() -> None:
    asked, decide = allow(("list", "pods", ""))
    authorize(ALICE, "GET", "/api/v1/namespaces/a/pods", {}, decide)
    with pytest.raises(StatusError) as refused:
        authorize(ALICE, "GET", "/api/v1/namespaces/a/pods", {"watch": "true"}, decide)
    assert (refused.value.code, refused.value.message) == (
        403,
        'pods is forbidden: User "alice" cannot watch resource "pods" in API group "" in the namespace "a"',
    )
    assert [i.verb for i in asked] == ["list", "watch"]


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("BEARER  abc ", "abc"),
        ("Basic abc", None),
        ("Bearer ", None),
        (None, None),
    ],
)
def test_bearer_tokens(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


def headers(**values: str | list[str]) -> tuple[dict[str, str], Callable[[str], list[str]]]:
    single = {k.replace("_", "-"): v for k, v in values.items() if isinstance(v, str)}
    return single, lambda name: [
        g for k, v in values.items() if k.replace("_", "-") == name and isinstance(v, list) for g in v
    ]


def test_impersonation_needs_the_impersonate_verb_for_each_identity() -> None:
    single, getall = headers(Impersonate_User="carol", Impersonate_Group=["ops"])
    _, decide = allow(("impersonate", "users", "carol"))
    with pytest.raises(StatusError) as refused:
        impersonate(ALICE, single, getall, decide)
    assert refused.value.message == (
        'groups "ops" is forbidden: User "alice" cannot impersonate resource "groups" '
        'in API group "" at the cluster scope'
    )
    _, decide = allow(("impersonate", "users", "carol"), ("impersonate", "groups", "ops"))
    carol = impersonate(ALICE, single, getall, decide)
    assert (carol.name, carol.groups, carol.admin) == ("carol", ("ops", "system:authenticated"), False)


def test_masters_may_impersonate_anyone_and_service_accounts_get_their_groups() -> None:
    single, getall = headers(Impersonate_User="system:serviceaccount:team:bot")
    _, decide = allow()
    bot = impersonate(ADMIN, single, getall, decide)
    assert bot.groups == ("system:serviceaccounts", "system:serviceaccounts:team", "system:authenticated")
    assert not bot.admin
    assert impersonate(ALICE, {}, lambda name: [], decide) is ALICE
    single, getall = headers(Impersonate_Group=["ops"])
    with pytest.raises(StatusError) as no_user:
        impersonate(ADMIN, single, getall, decide)
    assert no_user.value.code == 400


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/namespaces/a/pods/p/exec",
        "/api/v1/namespaces/a/pods/p/proxy",
        "/api/v1/namespaces/a/pods/p:80/proxy/x",
        "/api/v1/namespaces/a/services/web:80/proxy/",
        "/api/v1/nodes/n1/proxy/stats/summary",
    ],
)
def test_node_credentials_never_open_shells_or_proxies(path: str) -> None:
    """Not even into the node's own pods."""
    _, decide = allow()
    nodes = NodeAuthorizer(None)  # type: ignore[arg-type]  # fed by hand
    for namespace in ("a", "proxy"):
        bound = {"metadata": {"name": "p", "namespace": namespace}, "spec": {"nodeName": "n1"}}
        nodes.observe(Event("ADDED", f"/core/pods/{namespace}/p", 1, bound, None))
    with pytest.raises(StatusError) as refused:
        authorize(NODE, "GET", path, {}, decide, nodes)
    assert refused.value.code == 403
    authorize(NODE, "GET", "/api/v1/namespaces/proxy/pods/p", {}, decide, nodes)  # a namespace named proxy is no proxy
