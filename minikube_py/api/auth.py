"""Authentication, and authorization in the order kube-apiserver's authorizers run.

Credentials: the admin token written into the admin kubeconfig (``system:masters``), the node
join token that agents present to get their certificate, and client certificates signed by the
cluster CA, whose CN is the user and whose O values are the groups (nodes, users minted with
``pykube kubeconfig --user``). Health and version endpoints are public, as kube-apiserver's are.

Authorization: ``system:masters`` may do anything; a node's certificate is judged by the node
policy below, which stands in for Kubernetes' Node authorizer and bypasses RBAC (a node may read
everything and write only what a node writes, plus the deletion of a released local-path
PersistentVolume once it removed the directory: the known hole the node authorizer closes); every
other user by RBAC (:mod:`minikube_py.api.rbac`).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from minikube_py.model import errors
from minikube_py.model.rbac import (
    AUTHENTICATED,
    MASTERS,
    SERVICE_ACCOUNT_PREFIX,
    Decision,
    UserInfo,
    service_account_groups,
)
from minikube_py.model.requestinfo import RequestInfo, request_info
from minikube_py.pki import NODE_CREDENTIALS_PATH

#: /cacerts serves the CA certificate to joining agents, which check it against their token's hash
PUBLIC_PATHS = frozenset({"/version", "/version/", "/healthz", "/livez", "/readyz", "/cacerts"})

_NODE_WRITABLE = (
    re.compile(r"^/api/v1/nodes(/[^/]+(/status)?)?$"),
    re.compile(r"^/apis/coordination\.k8s\.io/v1/namespaces/kube-node-lease/leases(/[^/]+)?$"),
    re.compile(r"^/api/v1/namespaces/[^/]+/events(/[^/]+)?$"),
    re.compile(r"^/api/v1/namespaces/[^/]+/pods/[^/]+(/status)?$"),
    # tokens for the pods' projected volumes: only for its own pods' accounts (api/tokens.py checks)
    re.compile(r"^/api/v1/namespaces/[^/]+/serviceaccounts/[^/]+/token$"),
)
#: what a node may delete beyond the above: the PersistentVolumes whose local-path directories it
#: removed (it deletes with the volume's uid as precondition, after the PV controller released it)
_NODE_DELETABLE = re.compile(r"^/api/v1/persistentvolumes/[^/]+$")
#: a node's own objects: the only Node and Lease its certificate may write
_OWN_NODE = re.compile(r"^/api/v1/nodes/(?P<name>[^/]+)(/status)?$")
_OWN_LEASE = re.compile(r"^/apis/coordination\.k8s\.io/v1/namespaces/kube-node-lease/leases/(?P<name>[^/]+)$")
NODE_USER_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"


#: shells and tunnels into pods, and proxies to backends: never for node credentials, whatever the method
_STREAMS = re.compile(r"/pods/[^/]+/(exec|portforward|attach)$|/(pods|services|nodes)/[^/]+/proxy(/|$)")


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
    if NODES_GROUP in groups and name.startswith(NODE_USER_PREFIX):
        return User(name, admin=False, node=name.removeprefix(NODE_USER_PREFIX), groups=groups)
    return User(name, admin=False, groups=groups)


def impersonate(user: User, headers: Mapping[str, str], getall: Callable[[str], list[str]],
                rbac: Callable[[UserInfo, RequestInfo], Decision]) -> User:
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
        namespace, account = name[len(SERVICE_ACCOUNT_PREFIX):].split(":")
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
    return User(name, admin=False, groups=all_groups, uid=uid or "")


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(("/healthz/", "/livez/", "/readyz/"))


def authorize(user: User | None, method: str, path: str, query: Mapping[str, str],
              rbac: Callable[[UserInfo, RequestInfo], Decision]) -> None:
    """Raise 401/403 unless ``user`` may call ``method`` on ``path``: masters at once, nodes and the
    join token by the node policy, everyone else by ``rbac``."""
    if is_public(path):
        return
    if user is None:
        raise errors.unauthorized()
    if user.admin:
        return
    if not user.node and user != NODE_BOOTSTRAP:
        info = request_info(method, path, query)
        if not rbac(user.info, info).allowed:
            raise errors.forbidden_by_policy(user.name, info)
        return
    _node_policy(user, method, path)


def _node_policy(user: User, method: str, path: str) -> None:
    if _STREAMS.search(path):
        raise errors.forbidden_request(user.name, "create", path)
    if method in ("GET", "HEAD"):
        return
    if path == NODE_CREDENTIALS_PATH:
        if user == NODE_BOOTSTRAP:
            return
        raise errors.forbidden_request(user.name, method.lower(), path)
    if user.node:
        own = _OWN_NODE.match(path) or _OWN_LEASE.match(path)
        if own is not None and own["name"] != user.node:
            raise errors.forbidden_request(user.name, method.lower(), path,
                                           f"a node may only modify its own objects, not {own['name']}")
    if any(p.match(path) for p in _NODE_WRITABLE):
        return
    if method == "DELETE" and _NODE_DELETABLE.match(path):
        return
    raise errors.forbidden_request(user.name, method.lower(), path)
