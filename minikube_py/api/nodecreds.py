"""Node credentials: a joining agent trades the join token for a client certificate of its own, and
gets the serving certificate of its kubelet endpoint.

First the agent fetches the CA certificate (``/cacerts``, unauthenticated: it cannot verify the
server yet) and accepts it only if it matches the CA hash in its token. Then it sends a certificate
request for a key that never leaves the node; the server signs it as ``system:node:<name>`` in group
``system:nodes``. From then on the agent authenticates with that certificate, and the Node authorizer
(:mod:`minikube_py.api.nodeauth`) limits it to its own objects.

The token is every joining node's, so it must not take a node that exists: as k3s does, an agent
makes a random node password at its first join and keeps it in its data directory; the server keeps
its hash in the Secret ``kube-system/<node>.node-password.pykube``. A certificate for a node name
that has a Node is issued only to the request that brings the matching password: the same agent
restarting with its data directory rejoins, another host with the token is refused (409) until the
Node is deleted.

A node's own certificate may ask again, for its own name only: a fresh client certificate, and the
serving certificate of its kubelet endpoint for its name and addresses (an agent started before
serving certificates were issued gets one at its next start). An agent that registered before node
passwords existed records its password then, proved by its certificate.
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from minikube_py import pki
from minikube_py.api.auth import NODE_BOOTSTRAP, USER, User
from minikube_py.api.handlers import json_response
from minikube_py.api.registry import Registry
from minikube_py.model import errors
from minikube_py.model.kinds import by_plural

_NODE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_NODES, _SECRETS = by_plural("", "v1", "nodes"), by_plural("", "v1", "secrets")
PASSWORD_NAMESPACE = "kube-system"
#: the smallest node password the server accepts (the agent makes 256 bits)
MIN_PASSWORD = 16
#: the addresses a serving certificate may name, at most
MAX_ADDRESSES = 16

Handler = Callable[[web.Request], Awaitable[web.Response]]


def password_secret_name(node: str) -> str:
    """The Secret that holds a node's password hash, named as k3s names its own."""
    return f"{node}.node-password.pykube"


def cacerts_handler(ca_pem: bytes) -> Handler:
    """``GET /cacerts``: the cluster CA in PEM, which the agent pins by its token's hash."""

    async def handle(_: web.Request) -> web.Response:
        return web.Response(body=ca_pem, content_type="application/x-pem-file")

    return handle


def node_credentials_handler(tls: pki.Pki, registry: Registry) -> Handler:
    """``POST`` :data:`~minikube_py.pki.NODE_CREDENTIALS_PATH`, a JSON body with ``nodeName``,
    ``nodePassword``, and ``csr`` (a client certificate request) and/or ``servingCsr`` with
    ``addresses`` (the kubelet endpoint's); answers ``certificate``, ``servingCertificate``, ``ca``."""

    async def handle(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            raise errors.bad_request("expected a JSON body with nodeName and csr") from None
        if not isinstance(body, dict):
            raise errors.bad_request("expected a JSON object with nodeName and csr")
        name, csr, password = body.get("nodeName"), body.get("csr"), body.get("nodePassword")
        serving_csr, addresses = body.get("servingCsr"), body.get("addresses", [])
        if not isinstance(name, str) or not _NODE_NAME.fullmatch(name) or len(name) > 253:
            raise errors.bad_request(f"nodeName: {name!r} is not a lower-case DNS subdomain")
        for field, value in (("csr", csr), ("servingCsr", serving_csr)):
            if value is not None and not isinstance(value, str):
                raise errors.bad_request(f"{field}: a PEM certificate request is expected")
        if csr is None and serving_csr is None:
            raise errors.bad_request("csr: a PEM certificate request is required")
        if password is not None and (not isinstance(password, str) or len(password) < MIN_PASSWORD):
            raise errors.bad_request(f"nodePassword: at least {MIN_PASSWORD} characters are required")
        hosts = _addresses(addresses)
        user = request[USER]
        await _check_claim(registry, user, name, password)
        answer: dict[str, Any] = {"ca": tls.ca_pem.decode()}
        try:
            if csr is not None:
                answer["certificate"] = pki.sign_node_csr(tls, csr.encode(), name).decode()
            if serving_csr is not None:
                answer["servingCertificate"] = pki.sign_node_csr(
                    tls, serving_csr.encode(), name, serving=hosts
                ).decode()
        except ValueError as e:
            raise errors.bad_request(f"csr: {e}") from None
        return json_response(answer)

    return handle


def _addresses(value: Any) -> list[str]:
    """The IP addresses a serving certificate is to name (DNS names other than the node's are not
    the node's to claim)."""
    if not isinstance(value, list) or len(value) > MAX_ADDRESSES:
        raise errors.bad_request(f"addresses: a list of at most {MAX_ADDRESSES} IP addresses is expected")
    try:
        return [str(ipaddress.ip_address(a)) for a in value]
    except (ValueError, TypeError):
        raise errors.bad_request(f"addresses: {value!r} are not all IP addresses") from None


async def _check_claim(registry: Registry, user: User, name: str, password: str | None) -> None:
    """403/409 unless ``user`` may have credentials for node ``name``; records the password's hash
    when the node is new, or when the node's own certificate brings a password the server does not
    hold yet (an agent from before node passwords, or one whose password file was lost)."""
    assert _NODES is not None and _SECRETS is not None
    if user != NODE_BOOTSTRAP and not user.admin:
        if user.node != name:
            raise errors.forbidden_request(
                user.name,
                "create",
                pki.NODE_CREDENTIALS_PATH,
                f"a node may only request credentials for itself, not {name!r}",
            )
        stored = await _stored_hash(registry, name)
        if password is not None and stored != pki.node_password_hash(password):  # its certificate proves it
            await _record(registry, name, password, exists=stored is not None)
        return
    if password is None:
        raise errors.bad_request("nodePassword is required to join")
    try:
        await registry.get(_NODES, None, name)
    except errors.StatusError as e:
        if e.code != 404:
            raise
        await _record(registry, name, password, exists=await _stored_hash(registry, name) is not None)
        return
    stored = await _stored_hash(registry, name)
    if stored is None or not hmac.compare_digest(stored, pki.node_password_hash(password)):
        raise errors.StatusError(
            409,
            "Conflict",
            f'node "{name}" already exists and this agent cannot prove it is that node (its node password, kept '
            f"in the data directory of the agent that registered it, does not match): to register {name} from "
            f"another host, delete the Node first (kubectl delete node {name}, after pykube cleanup --node "
            f"{name} on the host that ran it), or join under another --node-name",
            {"name": name, "kind": "nodes"},
        )


async def _stored_hash(registry: Registry, name: str) -> str | None:
    assert _SECRETS is not None
    try:
        secret = await registry.get(_SECRETS, PASSWORD_NAMESPACE, password_secret_name(name))
    except errors.StatusError as e:
        if e.code == 404:
            return None
        raise
    encoded = (secret.get("data") or {}).get("hash", "")
    return base64.b64decode(encoded).decode() if encoded else None


async def _record(registry: Registry, name: str, password: str, *, exists: bool) -> None:
    assert _SECRETS is not None
    secret_name = password_secret_name(name)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "pykube.io/node-password",
        "metadata": {
            "name": secret_name,
            "namespace": PASSWORD_NAMESPACE,
            "labels": {"app.kubernetes.io/managed-by": "pykube"},
        },
        "data": {"hash": base64.b64encode(pki.node_password_hash(password).encode()).decode()},
    }
    if exists:
        await registry.update(_SECRETS, PASSWORD_NAMESPACE, secret_name, secret)
    else:
        try:
            await registry.create(_SECRETS, PASSWORD_NAMESPACE, secret)
        except errors.StatusError as e:
            if e.code != 409:
                raise
            await registry.update(_SECRETS, PASSWORD_NAMESPACE, secret_name, secret)
