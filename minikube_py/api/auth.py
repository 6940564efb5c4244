"""Authentication, and authorization in the order kube-apiserver's authorizers run.

Credentials: the admin token written into the admin kubeconfig (``system:masters``), the node
join token that agents present to get their certificate, and client certificates signed by the
cluster CA, whose CN is the user and whose O values are the groups (nodes, users minted with
``pykube kubeconfig --user``). Health and version endpoints are public, as kube-apiserver's are.

Authorization: ``system:masters`` may do anything; the join token only what joining takes (a node
certificate, :mod:`minikube_py.api.nodecreds`); a node by the Node authorizer
(:mod:`minikube_py.api.nodeauth`), then RBAC; every other user by RBAC (:mod:`minikube_py.api.rbac`).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from minikube_py.api.nodeauth import NodeAuthorizer
from minikube_py.model import errors
from minikube_py.model.rbac import (
    AUTHENTICATED,
    MASTERS,
    NODE_USER_PREFIX,
    NODES_GROUP,
    SERVICE_ACCOUNT_PREFIX,
    Decision,
    UserInfo,
    service_account_groups,
)
from minikube_py.model.requestinfo import RequestInfo, request_info
from minikube_py.pki import NODE_CREDENTIALS_PATH

#: /cacerts serves the CA certificate to joining agents, which check it against their token's hash
PUBLIC_PATHS = frozenset({"/version", "/version/", "/healthz", "/livez", "/readyz", "/cacerts"})


@dataclass(frozen=True)
class User:
    name: str
    admin: bool  # in system:masters
    node: str = ""  # set for a node's certificate: it may write only that node's objects
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def info(self) -> UserInfo:
        return UserInfo(self.name, self.groups, self.uid, dict(self.extra))


#: the user a request acts as (the impersonated one, if any), set by the API server's authentication middleware
USER = web.RequestKey("user", User)
#: the user who authenticated the request, before any impersonation (what the audit log calls ``user``)
REQUESTER = web.RequestKey("requester", User)


ADMIN = User("admin", admin=True, groups=(MASTERS, AUTHENTICATED))
NODE_BOOTSTRAP = User("system:node-bootstrap", admin=False, groups=("system:bootstrappers", AUTHENTICATED))


class Authenticator:
    def __init__(self, admin_token: str, node_token: str) -> None:
        self._admin_token = admin_token
        self.node_token = node_token

    @property
    def node_token(self) -> str:
        """The join secret agents bootstrap with; replaced when the cluster token is rotated, from
        then on the old one authenticates nobody."""
        return self._tokens[1][0]

    @node_token.setter
    def node_token(self, token: str) -> None:
        self._tokens = ((self._admin_token, ADMIN), (token, NODE_BOOTSTRAP))

    def authenticate(self, authorization: str | None, peercert: dict[str, Any] | None = None) -> User | None:
        """A bearer token, or else a client certificate the TLS layer verified against the cluster CA:
        its CN is the user and its O values the groups, as in Kubernetes."""
        token_text = bearer_token(authorization)
        if token_text is None:
            return _certificate_user(peercert) if peercert else None
        presented = token_text.encode()
        for token, user in self._tokens:
            if hmac.compare_digest(presented, token.encode()):
                return user
        return None


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; the scheme is case-insensitive
    (RFC 7235), and the official Python client sends ``bearer``."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _certificate_user(peercert: dict[str, Any]) -> User | None:
    subject = [(k, v) for rdn in peercert.get("subject", ()) for k, v in rdn]
    name = next((v for k, v in subject if k == "commonName"), "")
    groups = tuple(dict.fromkeys(v for k, v in subject if k == "organizationName"))
    if not name:
        return None
    groups += (AUTHENTICATED,) if AUTHENTICATED not in groups else ()
    if MASTERS in groups:
        return User(name, admin=True, groups=groups)
    return User(name, admin=False, node=_node_name(name, groups), groups=groups)


def _node_name(user: str, groups: tuple[str, ...]) -> str:
    """The node a user is, as the Node authorizer recognizes one: ``system:node:<name>`` in
    ``system:nodes`` (by certificate, or impersonated by a fleet of fake nodes); "" for others."""
    return user.removeprefix(NODE_USER_PREFIX) if NODES_GROUP in groups and user.startswith(NODE_USER_PREFIX) else ""


def impersonate(
    user: User,
    headers: Mapping[str, str],
    getall: Callable[[str], list[str]],
    rbac: Callable[[UserInfo, RequestInfo], Decision],
) -> User:
    """The user a request acts as: ``user`` itself, or the one its ``Impersonate-User``,
    ``Impersonate-Group`` and ``Impersonate-Uid`` headers name (``kubectl --as``), if ``user`` may
    ``impersonate`` each of them, as kube-apiserver's impersonation filter decides."""
    name, groups, uid = headers.get("Impersonate-User"), getall("Impersonate-Group"), headers.get("Impersonate-Uid")
    if name is None and not groups and uid is None:
        return user
    if name is None:
        raise errors.bad_request("requested impersonation of groups or a uid without impersonating a user")
    wanted: list[RequestInfo] = []
    if name.startswith(SERVICE_ACCOUNT_PREFIX) and name.count(":") == 3:
        namespace, account = name[len(SERVICE_ACCOUNT_PREFIX) :].split(":")
        wanted.append(RequestInfo("impersonate", "", True, "", "v1", namespace, "serviceaccounts", "", account))
        implied = service_account_groups(namespace)[:2]
    else:
        wanted.append(RequestInfo("impersonate", "", True, "", "v1", "", "users", "", name))
        implied = ()
    wanted += [RequestInfo("impersonate", "", True, "", "v1", "", "groups", "", g) for g in groups]
    if uid is not None:
        wanted.append(RequestInfo("impersonate", "", True, "authentication.k8s.io", "v1", "", "uids", "", uid))
    if not user.admin:
        for info in wanted:
            if not rbac(user.info, info).allowed:
                raise errors.forbidden_by_policy(user.name, info)
    all_groups = tuple(dict.fromkeys([*(groups or implied), AUTHENTICATED]))
    if MASTERS in all_groups:
        return User(name, admin=True, groups=all_groups, uid=uid or "")
    return User(name, admin=False, node=_node_name(name, all_groups), groups=all_groups, uid=uid or "")


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(("/healthz/", "/livez/", "/readyz/"))


def authorize(
    user: User | None,
    method: str,
    path: str,
    query: Mapping[str, str],
    rbac: Callable[[UserInfo, RequestInfo], Decision],
    nodes: NodeAuthorizer | None = None,
) -> None:
    """Raise 401/403 unless ``user`` may call ``method`` on ``path``: masters at once; the join
    token only to trade itself for a node certificate; a node as the Node authorizer (``nodes``)
    allows, else as RBAC does (as kube-apiserver's ``Node,RBAC`` chain); everyone else by ``rbac``."""
    if is_public(path):
        return
    if user is None:
        raise errors.unauthorized()
    if user.admin:
        return
    if user == NODE_BOOTSTRAP:
        if method == "POST" and path == NODE_CREDENTIALS_PATH:
            return
        raise errors.forbidden_request(
            user.name, method.lower(), path, "the join token may only request node credentials"
        )
    info = request_info(method, path, query)
    if user.node and nodes is not None and nodes.allows(user.node, info, query):
        return
    if not rbac(user.info, info).allowed:
        reason = f"no relationship found between node '{user.node}' and this object" if user.node else ""
        raise errors.forbidden_by_policy(user.name, info, reason)
