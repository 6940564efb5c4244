"""HTTP verbs on resources: parse the request, call the registry, render JSON or a Table.

Every path under ``/api/v1`` and ``/apis/<group>/<version>`` lands here; :mod:`routing` resolves it
against the kind table, so a kind added there is served without touching this module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from minikube_py.api import body, notes, routing, subresources, watch
from minikube_py.api.aggregator import API_SERVICES, Aggregator
from minikube_py.api.customresources import DEFINITIONS, CustomResourceTypes
from minikube_py.api.patch import is_apply, is_patch_type
from minikube_py.api.patch.managed import MAX_MANAGER_LENGTH, FieldManager
from minikube_py.api.rbac import RbacAuthorizer
from minikube_py.api.registry import DeleteOptions, ListOptions, Registry, check_dry_run
from minikube_py.api.strategies import strategy_for
from minikube_py.api.tables import render_table
from minikube_py.api.tokens import ServiceAccountTokens
from minikube_py.model import errors
from minikube_py.model.kinds import ResourceType, by_plural
from minikube_py.model.rbac import GROUP as RBAC_GROUP
from minikube_py.model.rbac import UserInfo
from minikube_py.model.schema import FieldValidation
from minikube_py.model.selectors import FieldSelector, LabelSelector, parse_field_selector, parse_label_selector
from minikube_py.model.webhooks import GROUP as WEBHOOKS_GROUP
from minikube_py.store.base import Obj

_PODS = by_plural("", "v1", "pods")


def json_response(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=body.dumps(obj), status=status, content_type="application/json")


def _list_meta(revision: int, continue_token: str | None) -> dict[str, str]:
    meta = {"resourceVersion": str(revision)}
    if continue_token:
        meta["continue"] = continue_token
    return meta


@dataclass(eq=False)
class ResourceHandlers:
    """``rbac`` checks that a user writing a role or binding grants no more than they hold, and
    holds the answer to such a write until the policy has it; ``user_of`` names a request's user."""

    registry: Registry
    rbac: RbacAuthorizer
    user_of: Callable[[web.Request], UserInfo]
    tokens: ServiceAccountTokens
    definitions: CustomResourceTypes
    aggregator: Aggregator

    def _check_grant(self, request: web.Request, rt: ResourceType, namespace: str | None, obj: Obj) -> None:
        if rt.group == RBAC_GROUP:
            self.rbac.check_escalation(self.user_of(request), rt, namespace, obj)

    async def _policy_holds(self, rt: ResourceType, obj: Obj, dry_run: bool) -> None:
        """Hold the answer to a write the server's own state follows (the RBAC policy, the types
        CRDs serve, the admission webhooks) until it does, so the client's next request sees its effect."""
        if dry_run:
            return
        if rt.group == RBAC_GROUP:
            await self.rbac.caught_up(obj)
        elif rt is DEFINITIONS:
            await self.definitions.caught_up(obj)
        elif rt.group == WEBHOOKS_GROUP and self.registry.webhooks is not None:
            await self.registry.webhooks.caught_up(obj)
        elif rt is API_SERVICES:
            await self.aggregator.caught_up(obj)

    async def dispatch(self, request: web.Request, group: str, version: str, tail: str) -> web.StreamResponse:
        target = request.get(routing.ROUTE)
        if target is None:  # not resolved by the metrics middleware: no served resource, or no middleware
            segments = [s for s in tail.split("/") if s] if tail else []
            try:
                target = routing.parse(group, version, segments)
            except routing.NoRoute:
                raise errors.unknown_resource(request.path) from None
        method = request.method
        if method in _WRITE_OPTIONS:
            check_dry_run(request.query.getall("dryRun", []), _WRITE_OPTIONS[method])
        if target.name is None:
            response = await self._collection(request, target, method)
        elif target.subresource is None:
            response = await self._object(request, target, method)
        else:
            response = await self._subresource(request, target, method)
        custom = target.rt.custom
        if custom is not None and custom.deprecation:
            notes.warn(custom.deprecation)
        return response

    # ------------------------------------------------------------------------------ collections

    async def _collection(self, request: web.Request, t: routing.Target, method: str) -> web.StreamResponse:
        q = request.query
        if method == "GET":
            labels, field_sel = parse_selectors(t.rt, q)
            if _flag(q, "watch"):
                return await self._watch(request, t, labels, field_sel)
            # a list is served at the current revision, which must not be older than the one asked for
            requested = watch.requested_revision(q.get("resourceVersion"))
            if requested is not None:
                await watch.wait_for_revision(self.registry, requested)
            selection = ListOptions(labels, field_sel, _int(q, "limit"), q.get("continue") or None)
            if wants_table(request):
                page = await self.registry.list(t.rt, t.namespace, selection)
                return json_response(
                    render_table(
                        t.rt,
                        page.items,
                        include_object=q.get("includeObject", "Metadata"),
                        list_meta=_list_meta(page.revision, page.continue_token),
                    )
                )
            texts = await self.registry.list_json(t.rt, t.namespace, selection)
            head = {
                "kind": t.rt.list_kind,
                "apiVersion": t.rt.api_version,
                "metadata": _list_meta(texts.revision, texts.continue_token),
            }
            # the stored texts are joined in as they are: decoding and encoding them again was most of a LIST's time
            payload = body.dumps(head)[:-1] + b',"items":[' + ",".join(texts.texts).encode() + b"]}"
            return web.Response(body=payload, content_type="application/json")
        if method == "POST":
            validation = _field_validation(q)
            obj = await read_object(request, t.rt, validation)
            self._check_grant(request, t.rt, t.namespace, obj)
            created = await self.registry.create(
                t.rt, t.namespace, obj, dry_run=dry_run(q), manager=field_manager(request, "CreateOptions")
            )
            await self._policy_holds(t.rt, created, dry_run(q))
            return self._render(request, t.rt, created, 201, validation)
        if method == "DELETE":
            labels, field_sel = parse_selectors(t.rt, q)
            options = DeleteOptions.parse(await read_optional(request), dict(q))
            page = await self.registry.list(t.rt, t.namespace, ListOptions(labels, field_sel))
            deleted = []
            for obj in page.items:
                md = obj["metadata"]
                try:
                    deleted.append(await self.registry.delete(t.rt, md.get("namespace"), md["name"], options))
                except errors.StatusError as exc:
                    if exc.code != 404:
                        raise
            return json_response(
                {
                    "kind": t.rt.list_kind,
                    "apiVersion": t.rt.api_version,
                    "metadata": {"resourceVersion": str(page.revision)},
                    "items": deleted,
                }
            )
        raise errors.method_not_allowed(method, t.rt.plural)

    async def _watch(
        self, request: web.Request, t: routing.Target, labels: LabelSelector | None, field_sel: FieldSelector | None
    ) -> web.StreamResponse:
        q = request.query
        timeout = float(_int(q, "timeoutSeconds") or watch.DEFAULT_TIMEOUT)
        name = _exact_name(field_sel)
        table = wants_table(request)
        include = q.get("includeObject", "Metadata")
        rt = t.rt
        matches = selection(rt, labels, field_sel)

        def render(obj: Obj, first: bool) -> Obj:
            rendered = render_table(
                rt,
                [obj],
                include_object=include,
                list_meta={"resourceVersion": obj["metadata"].get("resourceVersion", "")},
            )
            if not first:
                rendered["columnDefinitions"] = None
            return rendered

        request_ = watch.WatchRequest(
            rt,
            t.namespace,
            name,
            matches,
            q.get("resourceVersion"),
            timeout,
            _flag(q, "allowWatchBookmarks"),
            render if table else None,
        )
        return await watch.serve(request, self.registry, request_)

    # ------------------------------------------------------------------------------ objects

    async def _object(self, request: web.Request, t: routing.Target, method: str) -> web.StreamResponse:
        assert t.name is not None
        q = request.query
        if method == "GET":
            if _flag(q, "watch"):
                field_sel = parse_field_selector(f"metadata.name={t.name}")
                labels, _ = parse_selectors(t.rt, q)
                return await self._watch(request, t, labels, field_sel)
            if wants_table(request):
                return self._render(request, t.rt, await self.registry.get(t.rt, t.namespace, t.name))
            text = await self.registry.get_json(t.rt, t.namespace, t.name)
            return web.Response(body=text.encode(), content_type="application/json")
        if method == "PUT":
            validation = _field_validation(q)
            obj = await read_object(request, t.rt, validation)
            self._check_grant(request, t.rt, t.namespace, obj)
            updated = await self.registry.update(
                t.rt, t.namespace, t.name, obj, dry_run=dry_run(q), manager=field_manager(request, "UpdateOptions")
            )
            await self._policy_holds(t.rt, updated, dry_run(q))
            return self._render(request, t.rt, updated, 200, validation)
        if method == "PATCH":
            validation = _field_validation(q)
            content_type, raw = await _read_patch(request)
            if t.rt.group == RBAC_GROUP:  # what a patch grants is known once it is applied: try it first
                patched, _ = await self.registry.patch(
                    t.rt,
                    t.namespace,
                    t.name,
                    content_type,
                    raw,
                    dry_run=True,
                    manager=_patch_manager(request, content_type),
                    validation=_field_validation(q),
                )
                self._check_grant(request, t.rt, t.namespace, patched)
            obj, created = await self.registry.patch(
                t.rt,
                t.namespace,
                t.name,
                content_type,
                raw,
                dry_run=dry_run(q),
                manager=_patch_manager(request, content_type),
                validation=validation,
            )
            await self._policy_holds(t.rt, obj, dry_run(q))
            return self._render(request, t.rt, obj, 201 if created else 200, validation)
        if method == "DELETE":
            options = DeleteOptions.parse(await read_optional(request), dict(q))
            deleted = await self.registry.delete(t.rt, t.namespace, t.name, options)
            await self._policy_holds(t.rt, deleted, options.dry_run)
            return self._render(request, t.rt, deleted)
        raise errors.method_not_allowed(method, f"{t.rt.plural}/{t.name}")

    async def _subresource(self, request: web.Request, t: routing.Target, method: str) -> web.StreamResponse:
        assert t.name is not None and t.subresource is not None
        q = request.query
        sub, rt, name = t.subresource, t.rt, t.name
        if sub in ("status", "finalize", "ephemeralcontainers", "approval"):
            # views of the parent object: status, a pod's ephemeral containers (kubectl debug) and a
            # certificate request's decision (kubectl certificate approve)
            if method == "GET":  # kubectl get --subresource=status prints the parent's table
                return self._render(request, rt, await self.registry.get(rt, t.namespace, name))
            if method == "PUT":
                obj = await read_object(request, rt, _field_validation(q))
                if sub == "finalize":
                    obj = await self._finalize(rt, name, obj)
                    return json_response(await self.registry.update(rt, None, name, obj, dry_run=dry_run(q)))
                return json_response(
                    await self.registry.update(
                        rt,
                        t.namespace,
                        name,
                        obj,
                        subresource=sub,
                        dry_run=dry_run(q),
                        manager=field_manager(request, "UpdateOptions"),
                    )
                )
            if method == "PATCH" and sub != "finalize":
                content_type, raw = await _read_patch(request)
                obj, _ = await self.registry.patch(
                    rt,
                    t.namespace,
                    name,
                    content_type,
                    raw,
                    subresource=sub,
                    dry_run=dry_run(q),
                    manager=_patch_manager(request, content_type),
                    validation=_field_validation(q),
                )
                return json_response(obj)
        elif sub == "scale":
            if method == "GET":
                return json_response(subresources.scale_of(rt, await self.registry.get(rt, t.namespace, name)))
            if method == "PUT":
                scale = await read_object(request)
                return json_response(
                    await subresources.update_scale(
                        self.registry,
                        rt,
                        t.namespace,
                        name,
                        scale,
                        dry_run=dry_run(q),
                        manager=field_manager(request, "UpdateOptions"),
                    )
                )
            if method == "PATCH":
                content_type, raw = await _read_patch(request)
                return json_response(
                    await subresources.patch_scale(
                        self.registry,
                        rt,
                        t.namespace,
                        name,
                        content_type,
                        raw,
                        dry_run=dry_run(q),
                        manager=_patch_manager(request, content_type),
                    )
                )
        elif sub == "token" and method == "POST":
            assert t.namespace is not None
            answer = await self.tokens.request(t.namespace, name, await read_object(request), self.user_of(request))
            return json_response(answer, 201)
        elif sub == "binding" and method == "POST":
            binding = await read_object(request)
            return json_response(await subresources.bind(self.registry, rt, t.namespace, name, binding), 201)
        elif sub == "eviction" and method == "POST":
            eviction = await read_object(request)
            return json_response(await subresources.evict(self.registry, rt, t.namespace, name, eviction), 201)
        raise errors.method_not_allowed(method, f"{rt.plural}/{sub}")

    async def create_binding(self, request: web.Request) -> web.Response:
        """``POST /api/v1/namespaces/NS/bindings``, the older face of a pod's ``binding`` subresource
        that the pod is named by the Binding's own name (the Python client's ``create_namespaced_binding``,
        which custom schedulers written with it call)."""
        namespace = request.match_info["ns"]
        binding = await read_object(request)
        metadata = binding.get("metadata") if isinstance(binding.get("metadata"), dict) else {}
        name = metadata.get("name")
        if not name or not isinstance(name, str):
            raise errors.bad_request("name is required")
        if metadata.get("namespace") not in (None, "", namespace):
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        assert _PODS is not None
        return json_response(await subresources.bind(self.registry, _PODS, namespace, name, binding), 201)

    async def _finalize(self, rt: ResourceType, name: str, obj: Obj) -> Obj:
        """``namespaces/x/finalize`` may change only ``spec.finalizers``. An emptied list stays an
        empty list: dropping the key would let namespace defaulting restore ``kubernetes``."""
        live = await self.registry.get(rt, None, name)
        live.setdefault("spec", {})["finalizers"] = list((obj.get("spec") or {}).get("finalizers") or [])
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if rv:
            live["metadata"]["resourceVersion"] = rv
        return live

    def _render(
        self,
        request: web.Request,
        rt: ResourceType,
        obj: Obj,
        status: int = 200,
        validation: FieldValidation | None = None,
    ) -> web.Response:
        if wants_table(request):
            response = json_response(
                render_table(
                    rt,
                    [obj],
                    include_object=request.query.get("includeObject", "Metadata"),
                    list_meta={"resourceVersion": obj["metadata"].get("resourceVersion", "")},
                ),
                status,
            )
        else:
            response = json_response(obj, status)
        notes.warn(*(validation.warnings if validation is not None else []))
        return response


# ------------------------------------------------------------------------------ request parsing


def wants_table(request: web.Request) -> bool:
    """Whether the client asks for a ``meta.k8s.io/v1 Table`` (kubectl get does)."""
    return "as=Table" in request.headers.get("Accept", "")


def _flag(q: Any, name: str) -> bool:
    return q.get(name, "").lower() in ("true", "1")


def _int(q: Any, name: str) -> int | None:
    raw = q.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise errors.bad_request(f"{name}: invalid integer {raw!r}") from None
    if value < 0:
        raise errors.bad_request(f"{name}: must be non-negative")
    return value or None


#: the options kind each writing method's query parameters decode into
_WRITE_OPTIONS = {"POST": "CreateOptions", "PUT": "UpdateOptions", "PATCH": "PatchOptions", "DELETE": "DeleteOptions"}


def dry_run(q: Any) -> bool:
    return "All" in q.getall("dryRun", [])


def field_manager(request: web.Request, options: str, *, required: bool = False) -> FieldManager:
    """The write's manager: ``fieldManager``, else the User-Agent's product name (``kubectl`` of
    ``kubectl/v1.32.0 (linux/amd64) ...``), else ``unknown``, as kube-apiserver defaults it."""
    q = request.query
    name = q.get("fieldManager", "")
    if not name and required:
        raise errors.invalid_options(
            options,
            errors.FieldError("fieldManager", "FieldValueRequired", "Required value: is required for apply patch"),
        )
    if len(name.encode()) > MAX_MANAGER_LENGTH:
        raise errors.invalid_options(
            options,
            errors.FieldError(
                "fieldManager", "FieldValueTooLong", f"Too long: may not be more than {MAX_MANAGER_LENGTH} bytes"
            ),
        )
    if not name:
        name = request.headers.get("User-Agent", "").split("/", 1)[0].strip()[:MAX_MANAGER_LENGTH] or "unknown"
    return FieldManager(name, _flag(q, "force"))


def _patch_manager(request: web.Request, content_type: str) -> FieldManager:
    """PatchOptions: an apply must name its manager; ``force`` is for applies only (422 otherwise)."""
    apply = is_apply(content_type)
    if not apply and "force" in request.query:
        raise errors.invalid_options(
            "PatchOptions",
            errors.FieldError("force", "FieldValueForbidden", "Forbidden: may not be specified for non-apply patch"),
        )
    return field_manager(request, "PatchOptions", required=apply)


def parse_selectors(rt: ResourceType, q: Any) -> tuple[LabelSelector | None, FieldSelector | None]:
    """``labelSelector`` and ``fieldSelector`` of a request on ``rt`` (400 when malformed or unsupported)."""
    labels = field_sel = None
    try:
        if q.get("labelSelector"):
            labels = parse_label_selector(q["labelSelector"])
        if q.get("fieldSelector"):
            field_sel = parse_field_selector(q["fieldSelector"])
    except ValueError as exc:
        raise errors.bad_request(str(exc)) from None
    if field_sel is not None:
        unknown = strategy_for(rt).unsupported_fields(field_sel)
        if unknown:
            raise errors.bad_request(f"field label not supported: {unknown[0]}")
    return labels, field_sel


def selection(
    rt: ResourceType, labels: LabelSelector | None, field_sel: FieldSelector | None
) -> Callable[[Obj], bool] | None:
    """Whether a stored object of ``rt`` is among those a watch's selectors choose; None when there
    are no selectors (every object is)."""
    if labels is None and field_sel is None:
        return None
    strategy = strategy_for(rt)

    def matches(obj: Obj) -> bool:
        if labels is not None and not labels.matches(obj.get("metadata", {}).get("labels")):
            return False
        return field_sel is None or field_sel.matches(strategy.field_set(obj))

    return matches


def _exact_name(field_sel: FieldSelector | None) -> str | None:
    if field_sel is None:
        return None
    for field_name, op, value in field_sel.requirements:
        if field_name == "metadata.name" and op in ("=", "==") and value:
            return value
    return None


async def read_raw(request: web.Request) -> bytes:
    if request.content_length is not None and request.content_length > body.MAX_BODY:
        raise errors.too_large(body.MAX_BODY)
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise errors.too_large(body.MAX_BODY) from None


async def read_object(
    request: web.Request, rt: ResourceType | None = None, validation: FieldValidation | None = None
) -> Obj:
    """The body as an object; with ``validation``, less the fields ``rt``'s kind does not have (a
    version served by conversion keeps only its own fields as it converts, as Go's conversions copy
    the fields they know)."""
    value = body.decode(await read_raw(request), request.headers.get("Content-Type"))
    if not isinstance(value, dict):
        raise errors.bad_request("the body of the request must be an object")
    if rt is not None and validation is not None and rt.conversion is None:
        validation.report(rt.kind, rt.api_version, strategy_for(rt).drop_unknown(value))
    return value


def _field_validation(q: Any) -> FieldValidation:
    return FieldValidation.parse(q.get("fieldValidation"))


async def read_optional(request: web.Request) -> Obj | None:
    raw = await read_raw(request)
    if not raw.strip():
        return None
    value = body.decode(raw, request.headers.get("Content-Type"))
    return value if isinstance(value, dict) else None


async def _read_patch(request: web.Request) -> tuple[str, bytes]:
    content_type = body.media_type(request.headers.get("Content-Type"))
    if not is_patch_type(content_type):
        raise errors.unsupported_media(content_type)
    return content_type, await read_raw(request)
