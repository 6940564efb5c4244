"""``/api/v1beta1``: the 2014 API, served by converting to and from the v1 objects in the store.

Every request is turned into the v1 request it means and runs through the same registry as v1
(metadata, validation, admission, allocation), so nothing here decides what is allowed; errors come
back as v1 ``Status`` objects. Only the addressing is v1beta1's own (:func:`parse_path`):

- ``/api/v1beta1/<plural>[/<name>]`` with the namespace as ``?namespace=``; an object request or a
  create without one uses the object's ``namespace`` field, else ``default``; a list or watch
  without one covers every namespace, as v1beta1 did;
- ``/api/v1beta1/namespaces/<ns>/<plural>[/<name>]``, the form v1beta3 introduced, for clients that
  build paths the newer way;
- ``/api/v1beta1/watch/<plural>[/<name>]`` (and ``?watch=true``) for watches;
- selectors as ``labels=`` and ``fields=`` (v1beta1's names; its field labels such as
  ``DesiredState.Host`` are translated) or ``labelSelector=`` and ``fieldSelector=``.

``/api/v1beta1`` itself lists the four resources as an ``APIResourceList``, but ``/api``'s
versions stay ``["v1"]``. Tried with kubectl v1.32: client-go asks a core version other than ``v1``
for its resources at ``/apis/v1beta1`` (only ``v1`` is looked up under ``/api``), so listing it made
every kubectl command print "couldn't get resource list for v1beta1" and ``kubectl api-resources``
fail; answering there too would add ``minions`` and ``replicationControllers`` to
``api-resources`` and ``v1beta1`` to ``api-versions``, which today's Kubernetes does not show.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import MultiDict

from minikube_py.api import body, watch
from minikube_py.api.discovery import api_resource, api_resource_list
from minikube_py.api.handlers import (
    dry_run,
    field_manager,
    json_response,
    parse_selectors,
    read_optional,
    read_raw,
    selection,
)
from minikube_py.api.registry import DeleteOptions, ListOptions, Registry
from minikube_py.model import errors, v1beta1
from minikube_py.model.selectors import FieldSelector, LabelSelector, parse_field_selector
from minikube_py.store.base import Obj

PREFIX = f"/api/{v1beta1.VERSION}"


@dataclass(frozen=True)
class LegacyTarget:
    resource: v1beta1.LegacyResource
    namespace: str | None  # None: not given (every namespace for a list, the default for an object)
    name: str | None
    watch: bool


def parse_path(segments: list[str], query: Any) -> LegacyTarget:
    """Resolve the segments after ``/api/v1beta1`` (404 for anything v1beta1 did not serve)."""
    rest = list(segments)
    watching = bool(rest) and rest[0] == "watch"
    if watching:
        rest = rest[1:]
    namespace = query.get("namespace") or None
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] in v1beta1.RESOURCES:
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 2 or rest[0] not in v1beta1.RESOURCES or (len(rest) == 2 and not rest[1]):
        raise errors.unknown_resource(f"{PREFIX}/" + "/".join(segments))
    resource = v1beta1.RESOURCES[rest[0]]
    if not resource.rt.namespaced:
        namespace = None
    return LegacyTarget(
        resource,
        namespace,
        rest[1] if len(rest) == 2 else None,
        watching or query.get("watch", "").lower() in ("true", "1"),
    )


def resource_list() -> Obj:
    """What ``GET /api/v1beta1`` answers: the four collections, with v1beta1's names and kinds."""
    verbs = ["create", "delete", "get", "list", "update", "watch"]
    return api_resource_list(
        v1beta1.VERSION, [api_resource(r.plural, r.kind, r.rt.namespaced, verbs) for r in v1beta1.RESOURCES.values()]
    )


class LegacyHandlers:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def dispatch(self, request: web.Request, tail: str) -> web.StreamResponse:
        segments = [s for s in tail.split("/") if s]
        if not segments:
            if request.method != "GET":
                raise errors.method_not_allowed(request.method, PREFIX)
            return json_response(resource_list())
        target = parse_path(segments, request.query)
        if target.name is None:
            return await self._collection(request, target)
        return await self._object(request, target)

    async def _collection(self, request: web.Request, t: LegacyTarget) -> web.StreamResponse:
        rt, q = t.resource.rt, request.query
        if request.method == "GET":
            if t.watch:
                return await self._watch(request, t)
            labels, field_sel = _selectors(t, q)
            page = await self.registry.list(rt, t.namespace, ListOptions(labels, field_sel))
            return json_response(v1beta1.list_from_v1(t.resource, page.items, page.revision, request.path_qs))
        if request.method == "POST":
            obj = _to_v1(t, await _read_manifest(request), None)
            created = await self.registry.create(
                rt, t.namespace, obj, dry_run=dry_run(q), manager=field_manager(request, "CreateOptions")
            )
            return json_response(t.resource.from_v1(created), 201)
        raise errors.method_not_allowed(request.method, t.resource.plural)

    async def _object(self, request: web.Request, t: LegacyTarget) -> web.StreamResponse:
        assert t.name is not None
        rt, q = t.resource.rt, request.query
        namespace = (t.namespace or v1beta1.DEFAULT_NAMESPACE) if rt.namespaced else None
        if request.method == "GET":
            if t.watch:
                return await self._watch(request, t)
            return json_response(t.resource.from_v1(await self.registry.get(rt, namespace, t.name)))
        if request.method == "PUT":
            given = await _read_manifest(request)
            live = await self.registry.get(rt, namespace, t.name)
            obj = _to_v1(t, given, live)
            updated = await self.registry.update(
                rt, namespace, t.name, obj, dry_run=dry_run(q), manager=field_manager(request, "UpdateOptions")
            )
            return json_response(t.resource.from_v1(updated))
        if request.method == "DELETE":
            options = DeleteOptions.parse(await read_optional(request), dict(q))
            deleted = await self.registry.delete(rt, namespace, t.name, options)
            return json_response(t.resource.from_v1(deleted))
        raise errors.method_not_allowed(request.method, f"{t.resource.plural}/{t.name}")

    async def _watch(self, request: web.Request, t: LegacyTarget) -> web.StreamResponse:
        q = request.query
        labels, field_sel = _selectors(t, q)
        name = t.name
        if name is not None:
            field_sel = parse_field_selector(f"metadata.name={name}")
        namespace = (t.namespace or v1beta1.DEFAULT_NAMESPACE) if name and t.resource.rt.namespaced else t.namespace
        from_v1 = t.resource.from_v1
        raw_timeout = q.get("timeoutSeconds", "")
        timeout = float(raw_timeout) if raw_timeout.isdigit() else watch.DEFAULT_TIMEOUT
        request_ = watch.WatchRequest(
            t.resource.rt,
            namespace,
            name,
            selection(t.resource.rt, labels, field_sel),
            q.get("resourceVersion"),
            timeout,
            False,
            lambda obj, _first: from_v1(obj),
        )
        return await watch.serve(request, self.registry, request_)


def _selectors(t: LegacyTarget, q: Any) -> tuple[LabelSelector | None, FieldSelector | None]:
    """``labels=`` and ``fields=`` (v1beta1's parameters, its field labels translated) or
    ``labelSelector=`` and ``fieldSelector=`` (v1's)."""
    translated = MultiDict(q)
    if q.get("labels") and not q.get("labelSelector"):
        translated["labelSelector"] = q["labels"]
    if q.get("fields") and not q.get("fieldSelector"):
        try:
            legacy = parse_field_selector(q["fields"])
        except ValueError as exc:
            raise errors.bad_request(str(exc)) from None
        translated["fieldSelector"] = str(v1beta1.field_selector_to_v1(t.resource.kind, legacy))
    return parse_selectors(t.resource.rt, translated)


async def _read_manifest(request: web.Request) -> Obj:
    """The body as an object. ``kubectl create --raw -f`` sends a file's bytes with no Content-Type,
    and 2014 manifests were YAML as often as JSON, so such a body not starting with ``{`` is read
    as YAML (JSON otherwise, as for v1)."""
    raw = await read_raw(request)
    content_type = request.headers.get("Content-Type")
    if not body.media_type(content_type) and not raw.lstrip().startswith(b"{"):
        content_type = "application/yaml"
    value = body.decode(raw, content_type)
    if not isinstance(value, dict):
        raise errors.bad_request("the body of the request must be an object")
    return value


def _to_v1(t: LegacyTarget, given: Obj, live: Obj | None) -> Obj:
    """The v1 object a v1beta1 body means. Its ``kind`` and ``apiVersion`` may be left out
    (the path says them) but not contradict the path, as Kubernetes' decoder refused."""
    api_version, kind = given.get("apiVersion"), given.get("kind")
    if api_version not in (None, "", v1beta1.VERSION):
        raise errors.bad_request(
            f"the API version in the data ({api_version}) does not match the expected API version ({v1beta1.VERSION})"
        )
    if kind not in (None, "", t.resource.kind):
        raise errors.bad_request(
            f"the kind in the data ({kind}) does not match the expected kind "
            f"({t.resource.kind}) of {PREFIX}/{t.resource.plural}"
        )
    return t.resource.to_v1(given, live)
