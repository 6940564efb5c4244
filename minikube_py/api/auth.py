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

from minikube_py.model import errors

#: /cacerts serves the CA certificate to joining agents, which check it against their token's hash
PUBLIC_PATHS = frozenset({"/version", "/version/", "/healthz", "/livez", "/readyz", "/cacerts"})

_NODE_WRITABLE = (
    re.compile(r"^/api/v1/nodes(/[^/]+(/status)?)?$"),
    re.compile(r"^/apis/coordination\.k8s\.io/v1/namespaces/kube-node-lease/leases(/[^/]+)?$"),
    re.compile(r"^/api/v1/namespaces/[^/]+/events(/[^/]+)?$"),
    re.compile(r"^/api/v1/namespaces/[^/]+/pods/[^/]+(/status)?$"),
)


#: shells and tunnels into pods: never for node credentials, whatever the method
_STREAMS = re.compile(r"/pods/[^/]+/(exec|portforward|attach|proxy)$")


@dataclass(frozen=True)
class User:
    name: str
    admin: bool


ADMIN = User("admin", admin=True)
NODE_BOOTSTRAP = User("system:node-bootstrap", admin=False)


class Authenticator:
    def __init__(self, admin_token: str, node_token: str) -> None:
        self._tokens = ((admin_token, ADMIN), (node_token, NODE_BOOTSTRAP))

    def authenticate(self, authorization: str | None) -> User | None:
        if not authorization or not authorization.startswith("Bearer "):
            return None
        presented = authorization[len("Bearer "):].strip().encode()
        for token, user in self._tokens:
            if hmac.compare_digest(presented, token.encode()):
                return user
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
    if any(p.match(path) for p in _NODE_WRITABLE):
        return
    raise errors.forbidden_request(user.name, method.lower(), path)
