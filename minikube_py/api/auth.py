"""Bearer-token authentication and the small authorization policy pykube needs.

Two credentials exist: the admin token written into the admin kubeconfig, and the node join
token that agents present. The join token may read everything and write only what a node writes
(its Node, its Lease, events, pod status, pod deletion), so a leaked join token cannot rewrite
workloads. Health and version endpoints are public, as kube-apiserver's are.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from typing import Any

from minikube_py.model import errors
from minikube_py.pki import NODE_CREDENTIALS_PATH

#: /cacerts serves the CA certificate to joining agents, which check it against their token's hash
PUBLIC_PATHS = frozenset({"/version", "/version/", "/healthz", "/livez", "/readyz", "/cacerts"})

_NODE_WRITABLE = (
    re.compile(r"^/api/v1/nodes(/[^/]+(/status)?)?$"),
    re.compile(r"^/apis/coordination\.k8s\.io/v1/namespaces/kube-node-lease/leases(/[^/]+)?$"),
    re.compile(r"^/api/v1/namespaces/[^/]+/events(/[^/]+)?$"),
    re.compile(r"^/api/v1/namespaces/[^/]+/pods/[^/]+(/status)?$"),
)
#: a node's own objects: the only Node and Lease its certificate may write
_OWN_NODE = re.compile(r"^/api/v1/nodes/(?P<name>[^/]+)(/status)?$")
_OWN_LEASE = re.compile(r"^/apis/coordination\.k8s\.io/v1/namespaces/kube-node-lease/leases/(?P<name>[^/]+)$")
NODE_USER_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"


#: shells and tunnels into pods: never for node credentials, whatever the method
_STREAMS = re.compile(r"/pods/[^/]+/(exec|portforward|attach|proxy)$")


@dataclass(frozen=True)
class User:
    name: str
    admin: bool
    node: str = ""  # set for a node's certificate: it may write only that node's objects


ADMIN = User("admin", admin=True)
NODE_BOOTSTRAP = User("system:node-bootstrap", admin=False)


class Authenticator:
    def __init__(self, admin_token: str, node_token: str) -> None:
        self._tokens = ((admin_token, ADMIN), (node_token, NODE_BOOTSTRAP))

    def authenticate(self, authorization: str | None, peercert: dict[str, Any] | None = None) -> User | None:
        """A bearer token, or else a client certificate the TLS layer verified against the cluster CA:
        its CN is the user and its O values the groups, as in Kubernetes."""
        if not authorization or not authorization.startswith("Bearer "):
            return _certificate_user(peercert) if peercert else None
        presented = authorization[len("Bearer "):].strip().encode()
        for token, user in self._tokens:
            if hmac.compare_digest(presented, token.encode()):
                return user
        return None


def _certificate_user(peercert: dict[str, Any]) -> User | None:
    subject = [(k, v) for rdn in peercert.get("subject", ()) for k, v in rdn]
    name = next((v for k, v in subject if k == "commonName"), "")
    groups = {v for k, v in subject if k == "organizationName"}
    if "system:masters" in groups:
        return User(name or "admin", admin=True)
    if NODES_GROUP in groups and name.startswith(NODE_USER_PREFIX):
        return User(name, admin=False, node=name.removeprefix(NODE_USER_PREFIX))
    return None


def authorize(user: User | None, method: str, path: str) -> None:
    """Raise 401/403 unless ``user`` may call ``method`` on ``path``."""
    if path in PUBLIC_PATHS or path.startswith(("/healthz/", "/livez/", "/readyz/")):
        return
    if user is None:
        raise errors.unauthorized()
    if user.admin:
        return
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
    raise errors.forbidden_request(user.name, method.lower(), path)
