"""API Priority and Fairness in the API server: every authenticated request is classified by the
cluster's FlowSchemas (see :mod:`minikube_py.model.flowclassification`), and its answer names the
schema and priority level it was given in kube-apiserver's ``X-Kubernetes-PF-FlowSchema-UID`` and
``X-Kubernetes-PF-PriorityLevel-UID`` headers, which is how an administrator tells where a client's
requests go (``kubectl get --raw ... -v=8``).

The configuration is followed from the store like the RBAC policy, whichever server wrote it.
Limits stay ``--max-requests-inflight`` and ``--max-mutating-requests-inflight``: requests are not
queued per priority level.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from aiohttp import web
from aiohttp.typedefs import Handler

from minikube_py.api.auth import USER
from minikube_py.api.follower import PrefixFollower
from minikube_py.model import flowcontrol as fc
from minikube_py.model.flowclassification import Classification, Classifier
from minikube_py.model.rbac import UNAUTHENTICATED, UserInfo
from minikube_py.model.requestinfo import request_info
from minikube_py.store.base import Event, Obj, Store

_PREFIX = f"/{fc.GROUP}/"
_KINDS = {"flowschemas": "FlowSchema", "prioritylevelconfigurations": "PriorityLevelConfiguration"}
#: who a request without credentials is (public paths: /healthz, /version, the dashboard's page)
_ANONYMOUS = UserInfo("system:anonymous", (UNAUTHENTICATED,))
CLASSIFIED = web.RequestKey("flow classification", Classification)
SCHEMA_HEADER = "X-Kubernetes-PF-FlowSchema-UID"
LEVEL_HEADER = "X-Kubernetes-PF-PriorityLevel-UID"


class FlowControl:
    """The configuration this server classifies by, kept current from the store."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._objects: dict[str, dict[str, Obj]] = {kind: {} for kind in _KINDS}
        self.classifier = Classifier((), {})
        self._follower = PrefixFollower(
            store, _PREFIX, what="priority and fairness configuration", load=self._load, apply=self._apply
        )

    async def start(self) -> None:
        await self._follower.start()

    async def stop(self) -> None:
        await self._follower.stop()

    async def _load(self) -> int:
        listing = await self._store.list(_PREFIX)
        self._objects = {kind: {} for kind in _KINDS}
        for obj in listing.items:
            self._put(obj)
        self._rebuild()
        return listing.revision

    def _apply(self, event: Event) -> None:
        if event.type == "DELETED":
            plural = event.key.split("/")[2]
            self._objects.get(plural, {}).pop(event.value.get("metadata", {}).get("name", ""), None)
        else:
            self._put(event.value)
        self._rebuild()

    def _put(self, obj: Obj) -> None:
        kind = obj.get("kind")
        plural = next((p for p, k in _KINDS.items() if k == kind), None)
        if plural is not None:
            self._objects[plural][obj.get("metadata", {}).get("name", "")] = obj

    def _rebuild(self) -> None:
        self.classifier = Classifier(
            self._objects["flowschemas"].values(), self._objects["prioritylevelconfigurations"]
        )

    def classify(self, request: web.Request) -> Classification | None:
        found = request.get(USER)
        user = found.info if found is not None else _ANONYMOUS
        return self.classifier.classify(user, partial(request_info, request.method, request.path, request.query))


def flow_middleware(flow: FlowControl) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """Classify each request that passed authentication and authorization (inside them, as
    kube-apiserver's filter runs after both)."""

    @web.middleware
    async def classify(request: web.Request, handler: Handler) -> web.StreamResponse:
        classification = flow.classify(request)
        if classification is not None:
            request[CLASSIFIED] = classification
        return await handler(request)

    return classify


async def flow_headers(request: web.Request, response: web.StreamResponse) -> None:
    """The classification's headers on the answer (``on_response_prepare``: streamed answers too)."""
    classification = request.get(CLASSIFIED)
    if classification is not None:
        response.headers[SCHEMA_HEADER] = classification.schema_uid
        response.headers[LEVEL_HEADER] = classification.level_uid
