"""The aiohttp application: middlewares (errors, auth, body limit) and the routes.

Every failure leaves here as a ``kind: Status`` body with the matching HTTP code, including the ones
aiohttp itself raises (unknown path, oversized body), because kubectl formats its messages from that
shape and prints raw text bodies badly.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Awaitable, Callable

from aiohttp import web

from minikube_py import pki
from minikube_py.api import dashboard, discovery
from minikube_py.api.auth import Authenticator, authorize
from minikube_py.api.body import MAX_BODY
from minikube_py.api.connections import inflight_middleware
from minikube_py.api.handlers import ResourceHandlers, json_response
from minikube_py.api.nodecreds import cacerts_handler, node_credentials_handler
from minikube_py.api.registry import Registry
from minikube_py.api.sessions import DashboardSessions, session_user
from minikube_py.api.streaming import StreamProxy
from minikube_py.model import errors

log = logging.getLogger(__name__)

REGISTRY = web.AppKey("registry", Registry)
READY = web.AppKey("ready", dict)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def status_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except errors.StatusError as exc:
        return json_response(exc.status(), exc.code)
    except web.HTTPRequestEntityTooLarge:
        exc2 = errors.too_large(MAX_BODY)
        return json_response(exc2.status(), exc2.code)
    except web.HTTPException as exc:
        if exc.status == 404:
            status = errors.unknown_resource(request.path)
        elif exc.status == 405:
            status = errors.method_not_allowed(request.method, request.path)
        else:
            return exc  # type: ignore[return-value]  # redirects and the like pass through
        return json_response(status.status(), status.code)
    except (ConnectionResetError, TimeoutError):
        raise
    except Exception as exc:
        log.exception("%s %s failed", request.method, request.path)
        status = errors.internal(type(exc).__name__)
        return json_response(status.status(), status.code)


def auth_middleware(authenticator: Authenticator,
                    sessions: DashboardSessions) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """A bearer token or client certificate first; a request that brings neither may be the dashboard's
    page, authenticated by its session cookie under the CSRF guard (see :mod:`minikube_py.api.sessions`).
    The dashboard's page and assets are public, as /version is."""

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if dashboard.is_public(request.path):
            return await handler(request)
        transport = request.transport
        peercert = transport.get_extra_info("peercert") if transport is not None else None
        authorization = request.headers.get("Authorization")
        user = authenticator.authenticate(authorization, peercert)
        if user is None and not authorization:
            found = session_user(sessions, request.cookies, request.headers, request.method,
                                 f"{request.scheme}://{request.host}")
            if found is not None:
                user, request[dashboard.SESSION] = found
        authorize(user, request.method, request.path)
        if user is not None:
            request[dashboard.USER] = user
        return await handler(request)

    return authenticate


def build_app(registry: Registry, authenticator: Authenticator, server_address: str, tls: pki.Pki,
              kubelet_ssl: ssl.SSLContext | None = None, *, max_readonly: int = 0,
              max_mutating: int = 0) -> web.Application:
    """Every route of the API server. ``tls`` (the cluster CA) serves joining agents the CA and signs
    their node certificates; ``kubelet_ssl`` (the API server's client identity towards agents)
    enables pods/log, exec and portforward. ``max_readonly`` and ``max_mutating`` bound the requests
    served at once (0: unbounded); they are counted after authentication, as kube-apiserver does, so
    anonymous clients cannot take the slots."""
    sessions = DashboardSessions()
    middlewares = [status_errors, auth_middleware(authenticator, sessions),
                   inflight_middleware(max_readonly, max_mutating)]
    app = web.Application(middlewares=middlewares, client_max_size=MAX_BODY)
    app[REGISTRY] = registry
    app[READY] = {"ready": False}
    resources = ResourceHandlers(registry)

    async def version(_: web.Request) -> web.Response:
        return json_response(discovery.version_info())

    async def health(request: web.Request) -> web.Response:
        if request.path.startswith("/readyz") and not app[READY]["ready"]:
            return web.Response(status=500, text="[-]bootstrap failed: not ready yet\nreadyz check failed")
        return web.Response(text="ok")

    async def api_root(_: web.Request) -> web.Response:
        return json_response(discovery.core_versions(server_address))

    async def apis_root(_: web.Request) -> web.Response:
        return json_response(discovery.group_list())

    async def group_root(request: web.Request) -> web.Response:
        found = discovery.group(request.match_info["group"])
        if found is None:
            raise errors.unknown_resource(request.path)
        return json_response(found)

    async def core(request: web.Request) -> web.StreamResponse:
        return await _serve(request, "", "v1", request.match_info["tail"])

    async def grouped(request: web.Request) -> web.StreamResponse:
        info = request.match_info
        return await _serve(request, info["group"], info["version"], info["tail"])

    async def _serve(request: web.Request, group: str, version: str, tail: str) -> web.StreamResponse:
        if not tail.strip("/"):
            listing = discovery.resource_list(group, version)
            if listing is None or request.method != "GET":
                raise errors.unknown_resource(request.path)
            return json_response(listing)
        return await resources.dispatch(request, group, version, tail)

    async def openapi_v2(_: web.Request) -> web.Response:
        return web.Response(body=b"", headers={"Content-Type": discovery.OPENAPI_V2_CONTENT_TYPE})

    r = app.router
    r.add_get("/version", version)
    r.add_get("/version/", version)  # the official Python client asks here
    for path in ("/healthz", "/livez", "/readyz"):
        r.add_get(path, health)
    r.add_get("/api", api_root)
    r.add_get("/apis", apis_root)
    r.add_get("/openapi/v2", openapi_v2)
    r.add_get("/cacerts", cacerts_handler(tls.ca_pem))
    r.add_post(pki.NODE_CREDENTIALS_PATH, node_credentials_handler(tls))
    dashboard.add_routes(app, sessions)
    if kubelet_ssl is not None:
        proxy = StreamProxy(registry, kubelet_ssl)
        pod = "/api/v1/namespaces/{ns}/pods/{name}"
        r.add_get(pod + "/log", proxy.log)
        r.add_route("*", pod + "/exec", proxy.exec)
        r.add_route("*", pod + "/portforward", proxy.port_forward)
    r.add_route("*", "/api/v1{tail:(/.*)?}", core)
    r.add_get("/apis/{group}", group_root)
    r.add_route("*", "/apis/{group}/{version}{tail:(/.*)?}", grouped)
    return app
