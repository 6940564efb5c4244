"""Rotating the cluster token (``pykube token rotate``, as ``k3s token rotate``).

The cluster token seals the bootstrap data in the datastore and is the secret of every join token.
Rotating it re-seals the data with the new token, so that servers started later need the new one and
the old one opens nothing; it also replaces the node secret, so that the old token joins no new node.
Servers already running keep their credentials; they learn the new node secret from the record,
where it is sealed for the servers alone (:func:`minikube_py.pki.servers_secret`), and this server
switches at once. Agents that already joined hold certificates and never present the token again.

Only a cluster admin may ask, and only with the current token too: the admin credential alone does
not suffice to take the cluster token over.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from minikube_py import pki
from minikube_py.api.auth import USER, Authenticator
from minikube_py.api.handlers import json_response
from minikube_py.model import errors
from minikube_py.store.base import RevisionMismatch, Store
from minikube_py.store.bootstrap import read_record, replace_sealed

Handler = Callable[[web.Request], Awaitable[web.Response]]


def cluster_token_handler(store: Store, tls: pki.Pki, authenticator: Authenticator) -> Handler:
    """``POST`` :data:`~minikube_py.pki.CLUSTER_TOKEN_PATH` with ``{"token": current, "newToken":
    new}`` (each a bare secret or a full ``K10...`` token): answers ``{"token": <new join token>}``."""

    async def handle(request: web.Request) -> web.Response:
        user = request[USER]
        if not user.admin:
            raise errors.forbidden_request(
                user.name, "create", pki.CLUSTER_TOKEN_PATH, "only a cluster admin may rotate the cluster token"
            )
        try:
            body = await request.json()
        except ValueError:
            raise errors.bad_request("expected a JSON body with token and newToken") from None
        current = _secret(body, "token", tls.ca_pem)
        new = _secret(body, "newToken", tls.ca_pem)
        if new == current:
            raise errors.bad_request("newToken: must differ from the current token")
        record = await read_record(store)
        if record is None:
            raise errors.internal("the datastore holds no cluster bootstrap data")
        try:
            files = await asyncio.to_thread(pki.unseal, current, record.sealed)
        except pki.WrongToken:
            raise errors.forbidden_request(
                user.name, "create", pki.CLUSTER_TOKEN_PATH, "token: not the current cluster token"
            ) from None
        files["node-secret"] = (new + "\n").encode()
        sealed = await asyncio.to_thread(pki.seal, new, files)
        servers = await asyncio.to_thread(
            pki.seal, pki.servers_secret(files["pki/ca.key"]), {"node-secret": new.encode()}
        )
        try:
            await replace_sealed(store, record, sealed, servers)
        except RevisionMismatch:
            raise errors.StatusError(
                409, "Conflict", "the cluster token was rotated meanwhile: try again with the current token"
            ) from None
        authenticator.node_token = new
        return json_response({"token": pki.join_token(tls.ca_pem, new)})

    return handle


def _secret(body: object, field: str, ca_pem: bytes) -> str:
    """The secret of a token field: a bare secret, or a full token whose CA hash must be this cluster's."""
    value = body.get(field) if isinstance(body, dict) else None
    if not isinstance(value, str) or not value.strip():
        raise errors.bad_request(f"{field}: a token is required")
    try:
        pin, secret = pki.parse_join_token(value)
    except ValueError as exc:
        raise errors.bad_request(f"{field}: {exc}") from None
    if pin is not None and pin != pki.ca_hash(ca_pem):
        raise errors.bad_request(f"{field}: the token's CA hash is not this cluster's CA")
    if not secret or any(c.isspace() for c in secret):
        raise errors.bad_request(f"{field}: the secret must be non-empty and without white space")
    return secret
