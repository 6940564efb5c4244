"""The aiohttp application: middlewares (metrics, errors, auth, requests in flight) and the routes.

Every failure leaves here as a ``kind: Status`` body with the matching HTTP code, including the ones
aiohttp itself raises (unknown path, oversized body), because kubectl formats its messages from that
shape and prints raw text bodies badly.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any

from aiohttp import web

from minikube_py import pki
from minikube_py.api import dashboard, discovery, health, notes, openapi
from minikube_py.api.aggregator import Aggregator
from minikube_py.api.audit import AUDITED, AuditLog, audit_middleware, recording, response_started
from minikube_py.api.auth import REQUESTER, USER, Authenticator, authorize, bearer_token, impersonate
from minikube_py.api.body import MAX_BODY
from minikube_py.api.body import dumps as body_dumps
from minikube_py.api.clustertoken import cluster_token_handler
from minikube_py.api.componentstatus import ComponentStatuses, datastore_check, part_check
from minikube_py.api.connections import inflight_middleware
from minikube_py.api.customresources import CustomResourceTypes
from minikube_py.api.encryption import routes as encryption_routes
from minikube_py.api.handlers import ResourceHandlers, json_response
from minikube_py.api.instrument import ServerCollector, metrics_handler, metrics_middleware
from minikube_py.api.legacy import PREFIX as LEGACY_PREFIX
from minikube_py.api.legacy import LegacyHandlers
from minikube_py.api.metrics import HISTORY_PREFIX, ResourceMetrics, metrics_context
from minikube_py.api.metrics import resource_list as metrics_resources
from minikube_py.api.nodeauth import NodeAuthorizer
from minikube_py.api.nodecreds import cacerts_handler, node_credentials_handler
from minikube_py.api.noderestriction import ACTING_NODE
from minikube_py.api.proxy import ApiProxy
from minikube_py.api.rbac import RbacAuthorizer
from minikube_py.api.registry import Registry
from minikube_py.api.reviews import routes as review_routes
from minikube_py.api.sessions import DashboardSessions, session_user
from minikube_py.api.streaming import StreamProxy
from minikube_py.api.tokens import ServiceAccountTokens, SigningKey, review_token
from minikube_py.api.webhooks import REQUEST_USER, WebhookDispatcher
from minikube_py.guard import Health
from minikube_py.model import errors
from minikube_py.model.apiservices import PROXY_CLIENT_NAME
from minikube_py.model.audit import Policy
from minikube_py.model.kinds import GROUP_VERSIONS, UNSTORED_GROUP_VERSIONS
from minikube_py.model.metrics import GROUP as METRICS_GROUP
from minikube_py.model.metrics import VERSION as METRICS_VERSION
from minikube_py.model.rbac import UserInfo
from minikube_py.store.base import DiskFull, Unavailable

log = logging.getLogger(__name__)

REGISTRY = web.AppKey("registry", Registry)
READY = web.AppKey("ready", dict)
#: the readiness check that the bootstrap objects exist (kube-apiserver's bootstrap controller's name)
BOOTSTRAP_CHECK = "poststarthook/bootstrap-controller"
#: the resource metrics (present when the server can reach agents): ``node_samples``/``pod_samples``
METRICS = web.AppKey("metrics", ResourceMetrics)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def status_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every answer: the handler's, or the Status of what it raised; with the warnings the request
    collected on the way (see :mod:`.notes`), unless the answer's headers went out already (a
    stream's)."""
    collected = notes.collect_warnings()
    response = await _answer(request, handler)
    if collected and not response.prepared:
        notes.write_warnings(response, collected)
    return response


async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except errors.StatusError as exc:
        return json_response(exc.status(), exc.code)
    except DiskFull as exc:  # as kube-apiserver answers etcd's "mvcc: database space exceeded": a 500
        status = errors.internal(str(exc))
        return json_response(status.status(), status.code)
    except Unavailable as exc:
        status = errors.unavailable(str(exc))
        return json_response(status.status(), status.code)
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


#: the rest of a path after a route's prefix, whatever characters it holds: an object's name is any path
#: segment (an RBAC object's may hold a newline), and a bare ``.`` would stop at a newline
TAIL = "{tail:(/(?s:.*))?}"


def auth_middleware(
    authenticator: Authenticator,
    rbac: RbacAuthorizer,
    nodes: NodeAuthorizer,
    tokens: ServiceAccountTokens,
    sessions: DashboardSessions,
) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """A bearer token (the admin's, the join token, a ServiceAccount's) or client certificate first; a
    request that brings neither may be the dashboard's page, authenticated by its session cookie under
    the CSRF guard (see :mod:`minikube_py.api.sessions`). The dashboard's page and assets are public, as
    /version is; its own API (login codes, session, logout) is open to any authenticated user, since
    its answers concern only that user."""

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        # the node NodeRestriction admission restricts, deep in the registry's writes: set for every
        # request, since the requests of one keep-alive connection may share a context, not a user
        ACTING_NODE.set("")
        REQUEST_USER.set(None)
        if dashboard.is_public(request.path):
            return await handler(request)
        transport = request.transport
        peercert = transport.get_extra_info("peercert") if transport is not None else None
        header = request.headers.get("Authorization")
        user = authenticator.authenticate(header, peercert)
        token = bearer_token(header) if user is None else None
        if token is not None:
            user = await tokens.authenticate(token)
        if user is None and not header:
            found = session_user(
                sessions, request.cookies, request.headers, request.method, f"{request.scheme}://{request.host}"
            )
            if found is not None:
                user, request[dashboard.SESSION] = found
        decide = rbac.authorize if AUDITED not in request else recording(rbac.authorize, request)
        if user is not None:
            request[REQUESTER] = user
        if any(h in request.headers for h in _IMPERSONATION):
            if user is None:
                raise errors.unauthorized()
            user = impersonate(user, request.headers, lambda h: request.headers.getall(h, []), decide)
        if user is not None:  # None only on the public paths; set before authorization so a refusal is audited with it
            request[USER] = user
            ACTING_NODE.set(user.node)
            REQUEST_USER.set(user.info)
        if user is None or not dashboard.is_own_api(request.path):
            authorize(user, request.method, request.path, request.query, decide, nodes)
        return await handler(request)

    return authenticate


_IMPERSONATION = ("Impersonate-User", "Impersonate-Group", "Impersonate-Uid")


def request_user(request: web.Request) -> UserInfo:
    """Who sent ``request`` (authentication ran before any handler)."""
    return request[USER].info


#: the issuer of ServiceAccount tokens, as kube-apiserver's --service-account-issuer is usually set
DEFAULT_ISSUER = "https://kubernetes.default.svc.cluster.local"


def build_app(
    registry: Registry,
    authenticator: Authenticator,
    server_address: str,
    tls: pki.Pki,
    kubelet_ssl: ssl.SSLContext | None = None,
    *,
    front_proxy: pki.FrontProxy | None = None,
    max_readonly: int = 0,
    max_mutating: int = 0,
    issuer: str = DEFAULT_ISSUER,
    audit: tuple[Policy, AuditLog] | None = None,
    control_plane: Health | None = None,
) -> web.Application:
    """Every route of the API server. ``tls`` (the cluster CA) serves joining agents the CA and signs
    their node certificates; ``kubelet_ssl`` (the API server's client identity towards agents)
    enables pods/log, exec and portforward, nodes/proxy, and the resource metrics API. ``max_readonly`` and
    ``max_mutating`` bound the requests served at once (0: unbounded); they are counted after
    authentication, as kube-apiserver does, so anonymous clients cannot take the slots. ``audit``
    (a policy and the log it writes to) records requests (see :mod:`minikube_py.api.audit`).
    ``front_proxy`` is the identity requests of aggregated APIs are proxied with (made from the PKI
    directory when not given; see :mod:`minikube_py.api.aggregator`). ``control_plane`` is the health
    of the server's part that runs the scheduler and the controllers, which ComponentStatus reports
    (an app without one reports the datastore alone)."""
    rbac = RbacAuthorizer(registry.store)
    registry.use_authorizer(lambda user, info: rbac.authorize(user, info).allowed)
    nodes = NodeAuthorizer(registry.store)
    tokens = ServiceAccountTokens(SigningKey(tls.ca_key.parent / "service-account.key"), registry, issuer)
    sessions = DashboardSessions()
    inflight = {False: 0, True: 0}
    # the metrics middleware is outermost, so it sees the final code of every answer, errors included
    middlewares = [
        metrics_middleware(),
        status_errors,
        auth_middleware(authenticator, rbac, nodes, tokens, sessions),
        inflight_middleware(max_readonly, max_mutating, inflight),
    ]
    if audit is not None:  # outside the Status errors, to record 401s and 403s with their codes
        middlewares.insert(1, audit_middleware(*audit))
    app = web.Application(middlewares=middlewares, client_max_size=MAX_BODY)
    if audit is not None:
        policy, sink = audit
        app.on_response_prepare.append(response_started(sink, policy))

        async def run_audit_log(_: web.Application) -> AsyncIterator[None]:
            await sink.start()
            yield
            await sink.stop()

        app.cleanup_ctx.append(run_audit_log)
    app[REGISTRY] = registry
    app[READY] = {"ready": False}

    async def follow_policy(_: web.Application) -> AsyncIterator[None]:
        await rbac.start()
        await nodes.start()
        yield
        await nodes.stop()
        await rbac.stop()

    app.cleanup_ctx.append(follow_policy)
    definitions = CustomResourceTypes(registry)

    async def follow_definitions(_: web.Application) -> AsyncIterator[None]:
        await definitions.start()
        yield
        await definitions.stop()

    app.cleanup_ctx.append(follow_definitions)
    webhooks = registry.webhooks = WebhookDispatcher(registry.store)

    async def follow_webhooks(_: web.Application) -> AsyncIterator[None]:
        await webhooks.start()
        yield
        await webhooks.stop()

    app.cleanup_ctx.append(follow_webhooks)
    legacy = LegacyHandlers(registry)
    metrics = ResourceMetrics(registry, kubelet_ssl) if kubelet_ssl is not None else None
    extra_groups = ((METRICS_GROUP, METRICS_VERSION),) if metrics is not None else ()
    backends = ApiProxy(registry, kubelet_ssl)
    app.on_cleanup.append(backends.close)
    aggregator = Aggregator(
        registry,
        front_proxy or pki.front_proxy(tls.ca_key.parent, PROXY_CLIENT_NAME),
        backends,
        [*GROUP_VERSIONS, *UNSTORED_GROUP_VERSIONS, *extra_groups],
    )
    definitions.changed = aggregator.definitions_changed

    async def follow_apiservices(_: web.Application) -> AsyncIterator[None]:
        await aggregator.start()
        yield
        await aggregator.stop()

    app.cleanup_ctx.append(follow_apiservices)
    resources = ResourceHandlers(registry, rbac, request_user, tokens, definitions, aggregator)

    def served_groups() -> tuple[tuple[str, str], ...]:
        """The group versions served beside the kind table: the metrics API, the extension servers'."""
        remote = tuple((r.group, r.version) for _, versions in aggregator.remote_groups() for r in versions)
        return (*extra_groups, *remote)

    def version_priorities() -> dict[tuple[str, str], int]:
        """The extension servers' group versions' ``versionPriority``, which orders their versions."""
        return {
            (r.group, r.version): r.version_priority for _, versions in aggregator.remote_groups() for r in versions
        }

    async def version(_: web.Request) -> web.Response:
        return json_response(discovery.version_info())

    async def bootstrapped() -> str | None:
        return None if app[READY]["ready"] else "not finished"

    # /livez says the process works (so nobody restarts it for an outage of its database); /readyz
    # also that it can serve writes: not while the datastore is unreachable, so that load balancers
    # send clients to another server meanwhile (see :mod:`minikube_py.api.health`)
    ready = (
        health.PING,
        health.Check("etcd", partial(health.datastore_problem, registry.store)),
        health.Check(BOOTSTRAP_CHECK, bootstrapped),
    )
    health_routes = health.routes({"livez": (health.PING,), "healthz": (health.PING,), "readyz": ready})

    def aggregated(groups: list[tuple[str, list[dict[str, Any]]]]) -> web.Response:
        """Aggregated discovery, for the clients that prefer it (``Vary``: a cache keeps both answers)."""
        headers = {"Content-Type": discovery.AGGREGATED, "Vary": "Accept"}
        return web.Response(body=body_dumps(discovery.aggregated(groups)), headers=headers)

    async def api_root(request: web.Request) -> web.Response:
        if discovery.wants_aggregated(request.headers.get("Accept", "")):
            core_list = discovery.resource_list("", "v1")
            assert core_list is not None
            return aggregated([("", [core_list])])
        return json_response(discovery.core_versions(server_address))

    async def apis_root(request: web.Request) -> web.Response:
        listed = discovery.group_list(served_groups(), version_priorities())
        if not discovery.wants_aggregated(request.headers.get("Accept", "")):
            return json_response(listed)
        groups = []
        for entry in listed["groups"]:
            lists = [resources_of(entry["name"], v["version"]) for v in entry["versions"]]
            groups.append((entry["name"], [found for found in lists if found is not None]))
        return aggregated(groups)

    def resources_of(group: str, version: str) -> dict[str, Any] | None:
        """A group version's ``APIResourceList``: an extension server's as it last answered (None
        before it did), the metrics API's, or the kind table's."""
        if aggregator.claims(group, version) is not None:
            return aggregator.discovered(group, version)
        if (group, version) in extra_groups:
            return metrics_resources()
        return discovery.resource_list(group, version)

    async def group_root(request: web.Request) -> web.Response:
        found = discovery.group(request.match_info["group"], served_groups(), version_priorities())
        if found is None:
            raise errors.unknown_resource(request.path)
        return json_response(found)

    async def core(request: web.Request) -> web.StreamResponse:
        return await _serve(request, "", "v1", request.match_info["tail"])

    async def legacy_core(request: web.Request) -> web.StreamResponse:
        return await legacy.dispatch(request, request.match_info["tail"])

    async def grouped(request: web.Request) -> web.StreamResponse:
        info = request.match_info
        remote = aggregator.claims(info["group"], info["version"])
        if remote is not None:
            return await aggregator.serve(request, remote, request_user(request))
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
    for path, answer in health_routes:
        r.add_get(path, answer)
    r.add_get("/api", api_root)
    r.add_get("/apis", apis_root)
    r.add_get("/openapi/v2", openapi_v2)

    async def openapi_v3_root(_: web.Request) -> web.Response:
        return json_response(openapi.root(aggregator.openapi_documents()))

    async def openapi_v3(request: web.Request) -> web.Response:
        group, version = request.match_info.get("group", ""), request.match_info["version"]
        if aggregator.claims(group, version) is not None:
            found = aggregator.openapi_documents().get((group, version))
        else:
            found = openapi.document(group, version)
        if found is None:
            raise errors.unknown_resource(request.path)
        response = json_response(found)
        if request.query.get("hash"):  # the URL names this content: cacheable as kube-apiserver marks it
            response.headers["Cache-Control"] = "public, immutable"
        return response

    r.add_get("/openapi/v3", openapi_v3_root)
    r.add_get("/openapi/v3/api/{version}", openapi_v3)
    r.add_get("/openapi/v3/apis/{group}/{version}", openapi_v3)
    r.add_get("/metrics", metrics_handler(ServerCollector(registry.store, inflight)))
    r.add_get("/cacerts", cacerts_handler(tls.ca_pem))
    r.add_post(pki.NODE_CREDENTIALS_PATH, node_credentials_handler(tls, registry))
    r.add_post(pki.CLUSTER_TOKEN_PATH, cluster_token_handler(registry.store, tls, authenticator))
    r.add_post("/api/v1/namespaces/{ns}/bindings", resources.create_binding)
    components = {}
    if control_plane is not None:
        components["scheduler"] = components["controller-manager"] = part_check(control_plane)
    components["etcd-0"] = datastore_check(registry.store)
    ComponentStatuses(components).add_routes(r)
    for path, review in review_routes(rbac, request_user, partial(review_token, authenticator, tokens)):
        r.add_post(path, review)
    for method, path, handler in encryption_routes(registry.store):
        r.add_route(method, path, handler)

    async def openid_configuration(_: web.Request) -> web.Response:
        return json_response(tokens.openid_configuration(f"https://{server_address}/openid/v1/jwks"))

    async def jwks(_: web.Request) -> web.Response:
        return web.Response(body=body_dumps(tokens.jwks()), content_type="application/jwk-set+json")

    r.add_get("/.well-known/openid-configuration", openid_configuration)
    r.add_get("/openid/v1/jwks", jwks)
    dashboard.add_routes(app, sessions)
    if kubelet_ssl is not None:
        proxy = StreamProxy(registry, kubelet_ssl)
        pod = "/api/v1/namespaces/{ns}/pods/{name}"
        r.add_get(pod + "/log", proxy.log)
        r.add_route("*", pod + "/exec", proxy.exec)
        r.add_route("*", pod + "/attach", proxy.attach)
        r.add_route("*", pod + "/portforward", proxy.port_forward)
    for path, handler in (
        ("/api/v1/namespaces/{ns}/services/{name}/proxy", backends.service),
        ("/api/v1/namespaces/{ns}/pods/{name}/proxy", backends.pod),
        ("/api/v1/nodes/{name}/proxy", backends.node),
    ):
        r.add_route("*", path + TAIL, handler)
    if metrics is not None:
        app[METRICS] = metrics
        app.cleanup_ctx.append(metrics_context(metrics))

        async def metrics_api(request: web.Request) -> web.StreamResponse:
            """The metrics API, unless an APIService hands it to metrics-server."""
            remote = aggregator.claims(METRICS_GROUP, METRICS_VERSION)
            if remote is not None:
                return await aggregator.serve(request, remote, request_user(request))
            return await metrics.serve(request)

        r.add_route("*", f"/apis/{METRICS_GROUP}/{METRICS_VERSION}{TAIL}", metrics_api)
        r.add_route("*", HISTORY_PREFIX + TAIL, metrics.serve_history)
    r.add_route("*", "/api/v1" + TAIL, core)
    r.add_route("*", LEGACY_PREFIX + TAIL, legacy_core)
    r.add_get("/apis/{group}", group_root)
    r.add_route("*", "/apis/{group}/{version}" + TAIL, grouped)
    return app
