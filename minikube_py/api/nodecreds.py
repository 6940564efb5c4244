"""Node credentials: a joining agent trades the join token for a client certificate of its own.

First the agent fetches the CA certificate (``/cacerts``, unauthenticated: it cannot verify the
server yet) and accepts it only if it matches the CA hash in its token. Then it sends a certificate
request for a key that never leaves the node; the server signs it as ``system:node:<name>`` in group
``system:nodes``. From then on the agent authenticates with that certificate, and the authorizer lets
it write only its own Node and Lease (plus events and the status of pods), so one compromised node
cannot rewrite another's objects.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from aiohttp import web

from minikube_py import pki
from minikube_py.api.handlers import json_response
from minikube_py.model import errors

_NODE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


Handler = Callable[[web.Request], Awaitable[web.Response]]


def cacerts_handler(ca_pem: bytes) -> Handler:
    """``GET /cacerts``: the cluster CA in PEM, which the agent pins by its token's hash."""

    async def handle(_: web.Request) -> web.Response:
        return web.Response(body=ca_pem, content_type="application/x-pem-file")

    return handle


def node_credentials_handler(tls: pki.Pki) -> Handler:
    """``POST`` :data:`~minikube_py.pki.NODE_CREDENTIALS_PATH`: a node's CSR signed by the cluster CA."""

    async def handle(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            raise errors.bad_request("expected a JSON body with nodeName and csr") from None
        name = body.get("nodeName") if isinstance(body, dict) else None
        csr = body.get("csr") if isinstance(body, dict) else None
        if not isinstance(name, str) or not _NODE_NAME.fullmatch(name) or len(name) > 253:
            raise errors.bad_request(f"nodeName: {name!r} is not a lower-case DNS subdomain")
        if not isinstance(csr, str):
            raise errors.bad_request("csr: a PEM certificate request is required")
        try:
            certificate = pki.sign_node_csr(tls, csr.encode(), name)
        except ValueError as e:
            raise errors.bad_request(f"csr: {e}") from None
        return json_response({"certificate": certificate.decode(), "ca": tls.ca_pem.decode()})

    return handle
