"""The generic object registry: Kubernetes' create/update/patch/delete semantics over the store.

This is where the API's rules live, independent of HTTP: metadata, optimistic concurrency, graceful
deletion and finalizers, and the order in which a write is checked, prepared, defaulted, validated
and admitted. The registry names no kind: whatever a kind does differently (its defaults, validation,
status on create, admission's reservations, whether deletion waits) it asks the kind's strategy
(:mod:`minikube_py.api.strategies`), as kube-apiserver's generic store does. The HTTP handlers only
parse requests and render answers, so bootstrap code and subresources reuse the same rules.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from minikube_py.api import noderestriction, shape
from minikube_py.api.allocators import ServiceAllocator
from minikube_py.api.limits import check_depth, check_stored
from minikube_py.api.patch import is_apply, managed, parse_applied
from minikube_py.api.patch.fieldsets import FieldSet, Structure, applied_fields, remove_fields
from minikube_py.api.patch.managed import FieldManager, Writer
from minikube_py.api.strategies import Allocators, Strategy, strategy_for
from minikube_py.api.webhooks import REQUEST_USER, WebhookDispatcher
from minikube_py.model import errors, meta
from minikube_py.model.jsoncopy import json_copy
from minikube_py.model.kinds import ResourceType, all_types, by_plural, stored_version
from minikube_py.model.rbac import UserInfo
from minikube_py.model.requestinfo import RequestInfo
from minikube_py.model.schema import FieldValidation
from minikube_py.model.selectors import FieldSelector, LabelSelector
from minikube_py.model.times import rfc3339
from minikube_py.model.webhooks import Attributes, Reinvocation
from minikube_py.store.base import (
    Create,
    Delete,
    KeyExists,
    KeyNotFound,
    Obj,
    Op,
    RevisionMismatch,
    Store,
    Update,
    revision_of,
)
from minikube_py.store.plan import decode_all, typed_head

log = logging.getLogger(__name__)

#: attempts for writes that retry on a concurrent change the caller did not ask to guard against
_RETRIES = 8
#: attempts for a create whose quota charge keeps losing to concurrent creates in its namespace
_CONTENDED_RETRIES = 100
_NAMESPACES = by_plural("", "v1", "namespaces")


def check_dry_run(values: list[str], options: str) -> None:
    """422 for a ``dryRun`` other than ``All``, as kube-apiserver's options validation: a misspelt dry
    run (a query's or a DELETE body's) must not be taken for a real write, as it was while only
    ``All`` was looked for."""
    if any(value != "All" for value in values):
        raise errors.invalid_options(
            options,
            errors.FieldError(
                "dryRun",
                "FieldValueNotSupported",
                f'Unsupported value: {errors.go_value(values)}: supported values: "All"',
            ),
        )


@dataclass
class DeleteOptions:
    grace_period_seconds: int | None = None
    propagation_policy: str | None = None  # Background | Foreground | Orphan
    preconditions: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False

    @classmethod
    def parse(cls, body: Obj | None, query: dict[str, str]) -> DeleteOptions:
        body = body or {}
        shape.check_object(body, "DeleteOptions", shape.DELETE_OPTIONS)
        grace = body.get("gracePeriodSeconds", query.get("gracePeriodSeconds"))
        policy = body.get("propagationPolicy", query.get("propagationPolicy"))
        if body.get("orphanDependents") is True or query.get("orphanDependents") == "true":
            policy = "Orphan"
        if policy not in (None, "Background", "Foreground", "Orphan"):
            raise errors.bad_request(
                f'propagationPolicy: Unsupported value: "{policy}": supported values: '
                '"Foreground", "Background", "Orphan"'
            )
        try:
            grace_int = int(grace) if grace is not None else None
        except ValueError as exc:
            raise errors.bad_request(f"gracePeriodSeconds: invalid value {grace!r}") from exc
        dry = body.get("dryRun") or ([query["dryRun"]] if "dryRun" in query else [])
        check_dry_run(dry, "DeleteOptions")
        return cls(grace_int, policy, dict(body.get("preconditions") or {}), "All" in dry)


@dataclass(frozen=True)
class _Ownership:
    """How a write changes ``managedFields``: who writes, and for an apply what it declared."""

    writer: Writer
    applied: FieldSet | None = None
    config: Obj | None = None

    def record(self, structure: Structure, old: Obj, new: Obj, base: list[managed.Entry], now: str) -> None:
        if self.applied is None:
            entries = managed.record_update(base, old, new, self.writer, structure, now)
        else:
            entries = managed.record_apply(base, old, new, self.applied, self.writer, structure, now)
        md = new["metadata"]
        if entries:
            md["managedFields"] = managed.encode(entries)
        else:
            md.pop("managedFields", None)
        annotation = managed.last_applied_update(old, self.config, self.writer) if self.config else None
        if annotation is not None:
            md.setdefault("annotations", {})[managed.LAST_APPLIED] = annotation


def _without_status(rt: ResourceType, obj: Obj) -> Obj:
    """A new object as its creator's managed fields see it: a kind's status is the system's (the
    create reset it), never the creator's, as kube-apiserver's reset-fields strategies say. The view
    shares ``metadata`` with ``obj``, where the record is written."""
    if not rt.has_status or "status" not in obj:
        return obj
    return {k: v for k, v in obj.items() if k != "status"}


def _updating(rt: ResourceType, manager: FieldManager | None, subresource: str | None) -> _Ownership | None:
    """Ownership of an Update write; None (untracked) for the server's own writes, which name no manager."""
    if manager is None:
        return None
    return _Ownership(Writer(manager, managed.UPDATE, rt.api_version, subresource or ""))


@dataclass(frozen=True, slots=True)
class ListOptions:
    """Which objects a LIST reads, as its query names them (``metav1.ListOptions``): selectors, and
    a page of at most ``limit`` objects after the one ``continue_token`` names."""

    labels: LabelSelector | None = None
    field_selector: FieldSelector | None = None
    limit: int | None = None
    continue_token: str | None = None


#: every object, in one page
EVERYTHING = ListOptions()


@dataclass(frozen=True)
class ListPage:
    items: list[Obj]
    revision: int
    continue_token: str | None


@dataclass(frozen=True)
class JsonListPage:
    """A page whose objects are JSON texts, ready to be joined into a List's ``items``."""

    texts: list[str]
    revision: int
    continue_token: str | None


@dataclass(frozen=True)
class _Selection:
    texts: list[str]
    #: the decoded objects, when matching selectors needed them
    objs: list[Obj] | None
    revision: int
    continue_token: str | None


class Registry:
    def __init__(self, store: Store, allocator: ServiceAllocator, now: Callable[[], datetime] | None = None) -> None:
        self.store = store
        self.allocator = allocator
        self._admission = Allocators(store, allocator)
        self._now = now or (lambda: datetime.now(UTC))
        #: dynamic admission, once the API server runs (the server's bootstrap writes come before it)
        self.webhooks: WebhookDispatcher | None = None

    def use_authorizer(self, authorize: Callable[[UserInfo, RequestInfo], bool]) -> None:
        """Hand admission the API server's authorizer, once it runs (see :class:`Allocators`)."""
        self._admission = replace(self._admission, authorize=authorize)

    # ----------------------------------------------------------------------------------- reads

    async def get(self, rt: ResourceType, namespace: str | None, name: str) -> Obj:
        try:
            return _typed(rt, await self.store.get(rt.key(namespace, name)))
        except KeyNotFound:
            raise errors.not_found(rt, name) from None

    async def get_json(self, rt: ResourceType, namespace: str | None, name: str) -> str:
        """As :meth:`get`, the JSON text the API answers (the stored one when it names ``rt``'s type)."""
        try:
            text = await self.store.get_text(rt.key(namespace, name))
        except KeyNotFound:
            raise errors.not_found(rt, name) from None
        return self._as_served(rt, [text], None)[0]

    async def list(self, rt: ResourceType, namespace: str | None, options: ListOptions = EVERYTHING) -> ListPage:
        """A page of matching objects."""
        found = await self._select(rt, namespace, options)
        objs = found.objs if found.objs is not None else await decode_all(found.texts)
        return ListPage([_typed(rt, obj) for obj in objs], found.revision, found.continue_token)

    async def list_json(
        self, rt: ResourceType, namespace: str | None, options: ListOptions = EVERYTHING
    ) -> JsonListPage:
        """A page of matching objects as the JSON texts the API answers: a stored text that already
        names ``rt``'s version and kind is passed on as it is (most are: see ``encode``), which spares a
        LIST decoding and encoding every object again."""
        found = await self._select(rt, namespace, options)
        return JsonListPage(self._as_served(rt, found.texts, found.objs), found.revision, found.continue_token)

    @staticmethod
    def _as_served(rt: ResourceType, texts: list[str], objs: list[Obj] | None) -> list[str]:
        """Stored ``texts`` as the API answers them: as they are when they begin with ``rt``'s version
        and kind (a built-in kind written since the store put the type first), otherwise decoded
        (unless ``objs`` has them already), typed and encoded again."""
        head = typed_head(rt.api_version, rt.kind) if rt.custom is None else None
        if head is not None and all(text.startswith(head) for text in texts):
            return texts
        decoded: list[Obj | None] = list(objs) if objs is not None else [None] * len(texts)
        return [
            text
            if head is not None and text.startswith(head)
            else orjson.dumps(_typed(rt, obj if obj is not None else orjson.loads(text))).decode()
            for text, obj in zip(texts, decoded, strict=True)
        ]

    async def _select(self, rt: ResourceType, namespace: str | None, options: ListOptions) -> _Selection:
        """The stored texts of a page of matching objects (and the objects, when selectors had to decode
        them). Selectors filter after reading, so a page is filled by reading further until ``limit``
        objects matched or the keys run out."""
        labels, field_selector, limit = options.labels, options.field_selector, options.limit
        strategy = strategy_for(rt)
        prefix = rt.prefix(namespace)
        start_after = _decode_continue(options.continue_token, prefix) if options.continue_token else None
        filtering = labels is not None or field_selector is not None
        texts: list[str] = []
        objs: list[Obj] = []
        revision = 0
        hints = field_selector.text_hints() if field_selector is not None else ()
        while True:
            want = None if limit is None else max(limit - len(texts), 1) * (4 if filtering else 1)
            page = await self.store.list_texts(prefix, start_after=start_after, limit=want, must_contain=hints)
            revision = revision or page.revision
            decoded = await decode_all(page.texts) if filtering else None
            for i, text in enumerate(page.texts):
                if decoded is not None:
                    if not _matches(strategy, decoded[i], labels, field_selector):
                        continue
                    objs.append(decoded[i])
                texts.append(text)
                if limit is not None and len(texts) >= limit:
                    more = i < len(page.texts) - 1 or page.next_key is not None
                    last = (decoded[i] if decoded is not None else orjson.loads(text))["metadata"]
                    token = _encode_continue(rt.key(last.get("namespace"), last["name"]), revision) if more else None
                    return _Selection(texts, objs if filtering else None, revision, token)
            if page.next_key is None:
                return _Selection(texts, objs if filtering else None, revision, None)
            start_after = page.next_key

    # ----------------------------------------------------------------------------------- writes

    async def create(
        self,
        rt: ResourceType,
        namespace: str | None,
        obj: Obj,
        *,
        dry_run: bool = False,
        manager: FieldManager | None = None,
    ) -> Obj:
        """POST semantics. ``manager`` names who writes, for ``managedFields``; the server's own writes
        pass none and are not recorded."""
        ownership = _updating(rt, manager, None)  # recorded at the version the client wrote
        if rt.conversion is not None:
            stored = await self._create(stored_version(rt), namespace, _to_stored(rt, obj), dry_run, ownership)
            return _typed(rt, stored)
        return await self._create(rt, namespace, obj, dry_run, ownership)

    async def _create(
        self, rt: ResourceType, namespace: str | None, obj: Obj, dry_run: bool, ownership: _Ownership | None
    ) -> Obj:
        strategy = strategy_for(rt)
        obj = json_copy(obj)
        _check_type(rt, strategy, obj)
        md = obj.setdefault("metadata", {})
        if rt.namespaced:
            if md.get("namespace") and namespace and md["namespace"] != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            namespace = namespace or md.get("namespace") or "default"
        else:
            namespace = None
        generated = not md.get("name") and bool(md.get("generateName"))
        # A generated name or a reservation admission made can lose a race, and the create is then
        # prepared and admitted again from the client's object; otherwise the attempt prepares ``obj``
        # itself, saving a deep copy per create. A quota charge can lose a race too (any namespaced
        # kind): that create is prepared again as the lost attempt left it, which changes nothing
        # but its uid and timestamp when the kind reserves nothing, and charged again.
        retriable = generated or strategy.reserves
        collisions = contended = 0
        while collisions < _RETRIES:
            if generated:
                md["name"] = meta.generate_name(md["generateName"])
            candidate = json_copy(obj) if retriable else obj
            ops = await self._prepare_create(rt, strategy, namespace, candidate, ownership, dry_run)
            check_stored(candidate)
            if dry_run:
                # nothing is written, but the answer is the one the write would get: a name in use is 409
                await self._refuse_existing(rt, namespace, candidate["metadata"]["name"])
                return candidate
            try:
                written = await self.store.commit(
                    [Create(rt.key(namespace, candidate["metadata"]["name"]), candidate), *ops]
                )
            except KeyExists as exc:
                if generated and exc.key.startswith("/" + (rt.group or "core") + "/"):
                    collisions += 1
                    continue
                if exc.key.startswith("/internal/"):
                    collisions += 1
                    continue  # lost a race for a reservation (an address, a port): admit again
                raise errors.already_exists(rt, candidate["metadata"]["name"]) from None
            except RevisionMismatch as exc:
                # a quota was charged by a concurrent write since admission read it: one write wins
                # each round, so this gives way only to a crowd, as kube-apiserver's quota retries do
                contended += 1
                if contended >= _CONTENDED_RETRIES:
                    raise _stale_key(exc.key) from None
                continue
            return _typed(rt, written[0])
        raise errors.StatusError(500, "InternalError", "Internal error occurred: could not allocate a unique name")

    async def _prepare_create(
        self,
        rt: ResourceType,
        strategy: Strategy,
        namespace: str | None,
        obj: Obj,
        ownership: _Ownership | None,
        dry_run: bool,
    ) -> list[Op]:
        md = obj["metadata"]
        md.pop("managedFields", None)  # a client cannot choose who owns what
        if not md.get("name"):
            raise errors.invalid(
                rt, "", [errors.FieldError("metadata.name", "FieldValueRequired", "name or generateName is required")]
            )
        with _malformed_is_bad_request(rt, md["name"]):
            meta.prepare_for_create(obj, namespace=namespace)
            if rt.has_status:
                strategy.reset_status(obj)  # status is the system's to write
            strategy.prepare_for_create(obj)
            strategy.default(obj)
        if ownership is not None:  # as kube-apiserver: the writer's fields, before any admission adds its own
            ownership.record(strategy.structure, {}, _without_status(rt, obj), [], _rfc3339(self._now()))
        await strategy.mutate(obj, None, self._admission)
        attrs = _attributes("CREATE", rt, None, namespace, md["name"], obj, None, dry_run)
        obj = await self._mutated(rt, obj, attrs, lambda again: strategy.mutate(again, None, self._admission))
        md = obj["metadata"]
        with _malformed_is_bad_request(rt, md["name"]):
            strategy.mutated(obj)
            problems = strategy.validate(obj)
        if problems:
            raise errors.invalid(rt, md["name"], problems)
        if rt.namespaced:
            await self._check_namespace_open(namespace or "")
        noderestriction.admit(rt, obj, None)
        ops, problems = await strategy.admission(rt, obj, None, self._admission, self._validating(attrs, obj))
        if problems:
            await self._refuse_existing(rt, namespace, md["name"])
            raise errors.invalid(rt, md["name"], problems)
        return ops

    async def _mutated(
        self, rt: ResourceType, obj: Obj, attrs: Attributes, builtin: Callable[[Obj], Awaitable[None]]
    ) -> Obj:
        """``obj`` as the mutating webhooks leave it: the same dict, changed in place, so that a create's
        caller holds what is written; a patch that breaks the object's shape is the webhook's 400, and
        what a webhook adds is defaulted before the next one sees it (an injected container gets its
        pull policy). When a webhook
        changed it, the ``builtin`` mutating plugins run again, then the webhooks due again
        (kube-apiserver's reinvocation)."""
        webhooks = self.webhooks
        if webhooks is None:
            return obj
        strategy = strategy_for(rt)

        def settle(patched: Obj) -> None:
            _check_type(rt, strategy, patched)
            with _malformed_is_bad_request(rt, attrs.name):
                strategy.default(patched)

        reinvocation = Reinvocation()
        for _ in range(2):
            mutated = await webhooks.mutate(attrs, reinvocation, settle)
            if mutated is not None and mutated is not obj:
                obj.clear()
                obj.update(mutated)
            if reinvocation.again or not reinvocation.wanted:
                break
            reinvocation.again = True
            await builtin(obj)
        return obj

    def _validating(self, attrs: Attributes, obj: Obj) -> Callable[[], Awaitable[None]] | None:
        """The validating webhooks' step of a create or update of ``obj`` (None: no dispatcher)."""
        webhooks = self.webhooks
        if webhooks is None:
            return None
        return lambda: webhooks.validate(replace(attrs, object=obj))

    async def _refuse_existing(self, rt: ResourceType, namespace: str | None, name: str) -> None:
        """Creating an object that exists is AlreadyExists, not a conflict with what it reserved itself."""
        try:
            await self.store.get(rt.key(namespace, name))
        except KeyNotFound:
            return
        raise errors.already_exists(rt, name)

    async def _check_namespace_open(self, namespace: str) -> None:
        """404 unless the namespace exists, 403 while it terminates. Every create of a namespaced
        object asks: the stored text of a namespace that names no deletionTimestamp answers without
        decoding it."""
        assert _NAMESPACES is not None
        try:
            text = await self.store.get_text(_NAMESPACES.key(None, namespace))
        except KeyNotFound:
            raise errors.not_found(_NAMESPACES, namespace) from None
        if '"deletionTimestamp"' in text and orjson.loads(text)["metadata"].get("deletionTimestamp"):
            raise errors.namespace_terminating(namespace)

    async def update(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        obj: Obj,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        manager: FieldManager | None = None,
    ) -> Obj:
        """PUT semantics: a resourceVersion in the body is a precondition; without one the write is
        unconditional (retried on concurrent changes, as kube-apiserver does)."""
        ownership = _updating(rt, manager, subresource)  # recorded at the version the client wrote
        if rt.conversion is not None:
            stored = await self._update(
                stored_version(rt), namespace, name, _to_stored(rt, obj), subresource, dry_run, ownership
            )
            return _typed(rt, stored)
        return await self._update(rt, namespace, name, obj, subresource, dry_run, ownership)

    async def _update(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        obj: Obj,
        subresource: str | None,
        dry_run: bool,
        ownership: _Ownership | None,
    ) -> Obj:
        strategy = strategy_for(rt).for_subresource(subresource)
        obj = json_copy(obj)
        _check_type(rt, strategy, obj)
        md = obj.setdefault("metadata", {})
        if md.get("name") and md["name"] != name:
            raise errors.bad_request(
                f"the name of the object ({md['name']}) does not match the name on the URL ({name})"
            )
        if rt.namespaced and md.get("namespace") and md["namespace"] != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        md["name"] = name
        wanted_rv = int(md["resourceVersion"]) if str(md.get("resourceVersion") or "").isdigit() else None
        if md.get("resourceVersion") and wanted_rv is None:
            raise errors.bad_request(f"invalid resourceVersion {md['resourceVersion']!r}")
        for _attempt in range(_RETRIES):
            old = await self.get(rt, namespace, name)
            if wanted_rv is not None and wanted_rv != revision_of(old):
                raise errors.stale_write(rt, name)
            try:
                return await self._write_update(
                    rt, strategy, namespace, old, json_copy(obj), subresource, dry_run, ownership
                )
            except KeyNotFound:
                continue  # deleted since it was read: the next read answers 404
            except RevisionMismatch as exc:
                if wanted_rv is not None and exc.key == rt.key(namespace, name):
                    raise errors.stale_write(rt, name) from None
                # another object written with this one (a quota it is charged to) changed: admit again
        raise errors.stale_write(rt, name)

    async def patch(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        content_type: str,
        body: bytes,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        manager: FieldManager | None = None,
        validation: FieldValidation | None = None,
    ) -> tuple[Obj, bool]:
        """Apply a patch to the live object; returns (object, created). Server-side apply creates
        the object when absent; other patch types answer 404. ``validation`` drops the unknown
        fields of the patched object (or refuses them), as decoding it would in kube-apiserver."""
        strategy = strategy_for(rt).for_subresource(subresource)
        config = parse_applied(body) if is_apply(content_type) else None
        if rt.conversion is not None:
            return await self._patch_converted(
                rt, namespace, name, content_type, body, config, subresource, dry_run, manager
            )
        if config is None:
            ownership = _updating(rt, manager, subresource)
        else:
            writer = Writer(manager or FieldManager(), managed.APPLY, rt.api_version, subresource or "")
            ownership = _Ownership(writer, _applied_set(rt, strategy, config, subresource), config)
        for _attempt in range(_RETRIES):
            try:
                old = await self.get(rt, namespace, name)
            except errors.StatusError as exc:
                if exc.code == 404 and config is not None and subresource is None:
                    applied = _applied_object(strategy, config, name)
                    if validation is not None:
                        validation.report(rt.kind, rt.api_version, strategy.drop_unknown(applied))
                    return await self._create(rt, namespace, applied, dry_run, ownership), True
                raise
            if config is None:
                patched = strategy.patch(content_type, old, body)
            else:
                patched = self._merge_applied(strategy, old, config, ownership)
            check_depth(patched, "the patched object")  # before anything walks it recursively
            _check_type(rt, strategy, patched)
            if validation is not None:
                validation.report(rt.kind, rt.api_version, strategy.drop_unknown(patched))
            # a resourceVersion the patch itself sets is a precondition; one merely kept from the live
            # object is not, so a concurrent write is retried on the new object and the check below
            # then refuses only patches that pinned the version they were made against
            patched_rv = str(patched.get("metadata", {}).get("resourceVersion") or "")
            if patched_rv and patched_rv != old["metadata"]["resourceVersion"]:
                raise errors.stale_write(rt, name)
            try:
                written = await self._write_update(
                    rt, strategy, namespace, old, patched, subresource, dry_run, ownership
                )
            except (RevisionMismatch, KeyNotFound):
                continue  # changed or deleted since it was read: read again (a 404 then, or apply creates it)
            return written, False
        raise errors.stale_write(rt, name)

    async def _patch_converted(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        content_type: str,
        body: bytes,
        config: Obj | None,
        subresource: str | None,
        dry_run: bool,
        manager: FieldManager | None,
    ) -> tuple[Obj, bool]:
        """A patch at a version that converts: applied to the object as that version shows it, then
        written as an update of the stored version conditional on what was patched, retried when
        another write came in between. A server-side apply is merged the same way (its fields are
        recorded as an update's: ownership is tracked at the stored version only)."""
        strategy = strategy_for(rt)
        for _attempt in range(_RETRIES):
            try:
                old = await self.get(rt, namespace, name)
            except errors.StatusError as exc:
                if exc.code == 404 and config is not None and subresource is None:
                    applied = _applied_object(strategy, config, name)
                    return await self.create(rt, namespace, applied, dry_run=dry_run, manager=manager), True
                raise
            patched = strategy.patch(content_type, old, body) if config is None else strategy.merge_applied(old, config)
            check_depth(patched, "the patched object")
            _check_envelope(patched)  # the update that writes it checks the rest, at the stored version
            revision = old["metadata"]["resourceVersion"]
            patched_rv = str((patched.get("metadata") or {}).get("resourceVersion") or "")
            if patched_rv and patched_rv != revision:
                raise errors.stale_write(rt, name)
            patched.setdefault("metadata", {})["resourceVersion"] = revision
            try:
                written = await self.update(
                    rt, namespace, name, patched, subresource=subresource, dry_run=dry_run, manager=manager
                )
            except errors.StatusError as exc:
                if exc.code == 409 and exc.reason == "Conflict":
                    continue  # changed since it was read: patch what is there now
                raise
            return written, False
        raise errors.stale_write(rt, name)

    @staticmethod
    def _merge_applied(strategy: Strategy, live: Obj, config: Obj, ownership: _Ownership) -> Obj:
        """The live object with an applied configuration merged in, less the fields the applier
        dropped from its configuration that nobody else owns."""
        assert ownership.applied is not None
        merged = strategy.merge_applied(live, config)
        entries = managed.decode(live["metadata"].get("managedFields")) or []
        remove_fields(merged, managed.prune_for_apply(entries, ownership.applied, ownership.writer), strategy.structure)
        return merged

    async def _write_update(
        self,
        rt: ResourceType,
        strategy: Strategy,
        namespace: str | None,
        old: Obj,
        new: Obj,
        subresource: str | None,
        dry_run: bool,
        ownership: _Ownership | None = None,
    ) -> Obj:
        name = old["metadata"]["name"]
        md = new.setdefault("metadata", {})
        if not isinstance(md, dict):
            raise errors.bad_request("metadata must be an object")
        stored_fields = old["metadata"].get("managedFields")
        base = managed.base_entries(md.get("managedFields"), stored_fields, from_subresource=subresource is not None)
        if stored_fields is None:
            md.pop("managedFields", None)
        else:
            md["managedFields"] = stored_fields
        with _malformed_is_bad_request(rt, name):
            meta.prepare_for_update(
                new, old, status_only=strategy.edits_status_only(subresource), has_status=rt.has_status
            )
            strategy.prepare_for_update(new, old)
            strategy.default(new)
        if ownership is not None:  # as kube-apiserver: the writer's fields, before any admission adds its own
            ownership.record(strategy.structure, old, new, base, _rfc3339(self._now()))
        await strategy.mutate(new, old, self._admission)
        attrs = _attributes("UPDATE", rt, subresource, namespace, name, new, old, dry_run)
        new = await self._mutated(rt, new, attrs, lambda again: strategy.mutate(again, old, self._admission))
        with _malformed_is_bad_request(rt, name):
            problems = strategy.validate(new, old)
        if problems:
            raise errors.invalid(rt, name, problems)
        noderestriction.admit(rt, new, old, subresource)
        ops, problems = await strategy.admission(rt, new, old, self._admission, self._validating(attrs, new))
        if problems:
            raise errors.invalid(rt, name, problems)
        check_stored(new)
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        if _same(new, old):
            return old
        if dry_run:
            return new
        key = rt.key(namespace, name)
        if _deletion_due(strategy, new):
            # the last finalizer is gone: the deletion that waited for it completes now
            await self.store.commit([Delete(key, revision_of(old)), *strategy.release(old)])
            return _typed(rt, new)
        written = await self.store.commit([Update(key, new, revision_of(old)), *ops])
        return _typed(rt, written[0])

    async def write_if_unchanged(self, rt: ResourceType, namespace: str | None, obj: Obj) -> bool:
        """Write ``obj`` as is if nobody changed it since it was read; for system writes (binding)
        that touch fields ordinary updates may not change. False when it lost a race."""
        try:
            await self.store.commit([Update(rt.key(namespace, obj["metadata"]["name"]), obj, revision_of(obj))])
        except (RevisionMismatch, KeyNotFound):
            return False
        return True

    async def delete(self, rt: ResourceType, namespace: str | None, name: str, options: DeleteOptions) -> Obj:
        """Remove an object, or start its graceful deletion when finalizers or a grace period make it
        wait; returns the deleted (or now terminating) object."""
        if rt.conversion is not None:  # a terminating object is written back: as stored, not converted
            return _typed(rt, await self.delete(stored_version(rt), namespace, name, options))
        strategy = strategy_for(rt)
        strategy.check_delete(name)
        for _attempt in range(_RETRIES):
            old = await self.get(rt, namespace, name)
            _check_preconditions(rt, old, options.preconditions)
            if self.webhooks is not None:
                attrs = _attributes("DELETE", rt, None, namespace, name, None, old, options.dry_run)
                await self.webhooks.mutate(attrs)  # a mutating webhook may refuse a deletion too
                await self.webhooks.validate(attrs)
            pending = await self._pending_deletion(strategy, old, options)
            if options.dry_run:
                return pending or old
            key = rt.key(namespace, name)
            try:
                if pending is not None:
                    if _same(pending, old):
                        return old
                    return _typed(rt, (await self.store.commit([Update(key, pending, revision_of(old))]))[0])
                ops = strategy.release(old)
                return _typed(rt, (await self.store.commit([Delete(key, revision_of(old)), *ops]))[0])
            except (RevisionMismatch, KeyNotFound):
                continue
        raise errors.conflict(rt, name, "the object keeps changing; try again")

    async def _pending_deletion(self, strategy: Strategy, old: Obj, options: DeleteOptions) -> Obj | None:
        """The object as it waits for deletion, or None when it can go at once."""
        new = json_copy(old)
        md = new["metadata"]
        finalizers = list(md.get("finalizers") or [])
        wanted = {"Orphan": "orphan", "Foreground": "foregroundDeletion"}.get(options.propagation_policy or "")
        if wanted and wanted not in finalizers:
            finalizers.append(wanted)
        if finalizers:
            md["finalizers"] = finalizers
        strategy.begin_deletion(new)
        grace = await strategy.grace_period(old, options.grace_period_seconds, self.store)
        if not _blocked(strategy, new) and not grace:
            return None
        if not md.get("deletionTimestamp") or grace < md.get("deletionGracePeriodSeconds", 0):
            md["deletionTimestamp"] = _rfc3339(self._now() + timedelta(seconds=grace))
            md["deletionGracePeriodSeconds"] = grace
        return new


# ----------------------------------------------------------------------------------- helpers


def _applied_set(rt: ResourceType, strategy: Strategy, config: Obj, subresource: str | None) -> FieldSet:
    """What an apply claims. Status belongs to the status subresource: an apply there claims only
    status, an apply to the main resource of a kind with a status subresource claims none of it."""
    claimed = applied_fields(config, strategy.structure)
    status = FieldSet({"f:status": {}})
    if subresource == "status":
        return claimed.difference(claimed.without_subtrees(status))
    return claimed.without_subtrees(status) if rt.has_status else claimed


def _attributes(
    operation: str,
    rt: ResourceType,
    subresource: str | None,
    namespace: str | None,
    name: str,
    obj: Obj | None,
    old: Obj | None,
    dry_run: bool,
) -> Attributes:
    """A write as admission webhooks are told of it, with the requesting user (none for the
    server's own writes)."""
    options_kind = {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions", "DELETE": "DeleteOptions"}[operation]
    for sent in (obj, old):
        if sent is not None:
            sent.setdefault("apiVersion", rt.api_version)
            sent.setdefault("kind", rt.kind)
    return Attributes(
        operation=operation,
        group=rt.group,
        version=rt.version,
        resource=rt.plural,
        kind=rt.kind,
        subresource=subresource or "",
        namespaced=rt.namespaced,
        namespace=namespace or "",
        name=name,
        object=obj,
        old=old,
        dry_run=dry_run,
        user=REQUEST_USER.get(),
        options={"apiVersion": "meta.k8s.io/v1", "kind": options_kind},
    )


def _blocked(strategy: Strategy, obj: Obj) -> bool:
    """Whether finalizers (``metadata.finalizers``, or the kind's own) still hold the object back
    from deletion."""
    return bool(obj["metadata"].get("finalizers")) or strategy.finalizing(obj)


def _deletion_due(strategy: Strategy, obj: Obj) -> bool:
    """A terminating object whose finalizers are all gone is removed; an object of a graceful kind
    only once its grace period is over too (a node's agent may still be stopping it)."""
    md = obj["metadata"]
    if not md.get("deletionTimestamp") or _blocked(strategy, obj):
        return False
    return not strategy.graceful or not md.get("deletionGracePeriodSeconds")


def _stale_key(key: str) -> errors.StatusError:
    """409 for an object written alongside the request's (``/core/resourcequotas/ns/q``) that kept
    changing under it."""
    _, group, plural, *rest = key.split("/")
    rt = next((r for r in all_types() if (r.group or "core") == group and r.plural == plural), None)
    if rt is None:
        return errors.StatusError(409, "Conflict", f"Operation cannot be fulfilled on {key}: it keeps changing")
    return errors.stale_write(rt, rest[-1])


def _typed(rt: ResourceType, obj: Obj) -> Obj:
    """An object as the API answers it for ``rt``: of its version (a custom resource served in
    several versions is stored once, converted by ``None``: its apiVersion rewritten; a built-in
    kind's other version by its conversion, into a new object), and defaulted on read when it is a
    custom resource."""
    if rt.conversion is not None:
        return rt.conversion.from_stored(obj)
    if rt.custom is not None:
        obj = strategy_for(rt).read(obj)
    obj["apiVersion"] = rt.api_version
    obj["kind"] = rt.kind
    return obj


@contextmanager
def _malformed_is_bad_request(rt: ResourceType, name: str) -> Iterator[None]:
    """A value of the wrong JSON type deeper than :mod:`shape` checks surfaces in defaulting or
    validation as an AttributeError or TypeError; it is the client's malformed body (400, as a
    decoding error in kube-apiserver), not a server failure."""
    try:
        yield
    except (AttributeError, TypeError) as exc:
        log.info("malformed %s %r: %s", rt.kind, name, exc, exc_info=True)
        raise errors.bad_request(f'{rt.kind} "{name}" is malformed: a field has the wrong type ({exc})') from None


def _check_envelope(obj: Any) -> None:
    """An object at all, with an object for metadata: what every reading of it assumes."""
    if not isinstance(obj, dict):
        raise errors.bad_request("the body of the request must be a JSON object")
    if not isinstance(obj.get("metadata", {}), dict):
        raise errors.bad_request("metadata must be an object")


def _check_type(rt: ResourceType, strategy: Strategy, obj: Any) -> None:
    _check_envelope(obj)
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if api_version and api_version != rt.api_version:
        raise errors.bad_request(
            f"the API version in the data ({api_version}) does not match the expected API version ({rt.api_version})"
        )
    if kind and kind != rt.kind:
        raise errors.bad_request(f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})")
    strategy.check_shape(obj)
    if rt.custom is None:
        # Go decodes a null struct as the zero struct, an absent one: "spec": null is no spec, which
        # the strategies' admission steps may then create (a custom resource keeps its null)
        for key in ("spec", "status"):
            if key in obj and obj[key] is None:
                del obj[key]
    _typed(rt, obj)


def _applied_object(strategy: Strategy, config: Obj, name: str) -> Obj:
    """What a server-side apply of ``config`` creates where ``name`` does not exist yet: named by the
    URL, which a name in the configuration must match (400 otherwise, as kube-apiserver answers)."""
    applied = strategy.merge_applied({}, config)
    applied.setdefault("metadata", {}).setdefault("name", name)
    if applied["metadata"]["name"] != name:
        raise errors.bad_request(
            f"the name of the object ({applied['metadata']['name']}) does not match the name on the URL ({name})"
        )
    return applied


def _to_stored(rt: ResourceType, obj: Any) -> Obj:
    """A request's object at a version that converts, checked as that version and converted to the
    stored one, which the write then goes through as any other."""
    obj = json_copy(obj)
    _check_type(rt, strategy_for(rt), obj)
    obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
    assert rt.conversion is not None
    return rt.conversion.to_stored(obj)


def _matches(strategy: Strategy, obj: Obj, labels: LabelSelector | None, field_selector: FieldSelector | None) -> bool:
    if labels is not None and not labels.matches(obj.get("metadata", {}).get("labels")):
        return False
    return field_selector is None or field_selector.matches(strategy.field_set(obj))


def _check_preconditions(rt: ResourceType, obj: Obj, preconditions: dict[str, str]) -> None:
    md = obj["metadata"]
    uid, rv = preconditions.get("uid"), preconditions.get("resourceVersion")
    if uid and uid != md.get("uid"):
        raise errors.conflict(
            rt, md["name"], f"Precondition failed: UID in precondition: {uid}, UID in object meta: {md.get('uid')}"
        )
    if rv and rv != md.get("resourceVersion"):
        raise errors.conflict(
            rt,
            md["name"],
            f"Precondition failed: ResourceVersion in precondition: {rv}, "
            f"ResourceVersion in object meta: {md.get('resourceVersion')}",
        )


def _same(a: Obj, b: Obj) -> bool:
    return orjson.dumps(a, option=orjson.OPT_SORT_KEYS) == orjson.dumps(b, option=orjson.OPT_SORT_KEYS)


def _rfc3339(when: datetime) -> str:
    return rfc3339(when)


def _encode_continue(last_key: str, revision: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"k": last_key, "rv": revision})).decode().rstrip("=")


def _decode_continue(token: str, prefix: str) -> str:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        key = data["k"]
    except (ValueError, KeyError, TypeError) as exc:
        raise errors.bad_request(f"invalid continue token: {exc}") from None
    if not isinstance(key, str) or not key.startswith(prefix):
        raise errors.bad_request("continue token does not belong to this listing")
    return key
