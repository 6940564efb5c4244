"""A kind's strategy: what the API server does differently for one kind, as kube-apiserver's
``pkg/registry/<group>/<resource>/strategy.go``.

The registry, the handlers, the patch engine and the table printer know no kind: they ask the kind's
strategy how to check, prepare, default and validate a write, what the write must reserve with it
(admission), whether a deletion waits, which fields a selector may name, how lists merge and how rows
print. :class:`Strategy` is also the generic answer: a kind with no special rule gets its behaviour,
and a kind that differs overrides the hook where it differs.

The rules that are pure functions of an object (defaults, validation, selectable fields, generation)
are the kind's :class:`~minikube_py.model.kindrules.KindRules`, found by the same kind name, because
model code needs them too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar

from minikube_py.api import podsecurity
from minikube_py.api.admission import charge_quota
from minikube_py.api.allocators import ServiceAllocator
from minikube_py.api.patch import merge_config, patch_object
from minikube_py.api.patch.fieldsets import Structure
from minikube_py.api.patch.mergekeys import Rules
from minikube_py.api.shape import Fields, check_object
from minikube_py.api.tables.base import Printer
from minikube_py.api.tables.table import DEFAULT
from minikube_py.model.errors import FieldError
from minikube_py.model.kindrules import KindRules, rules_of
from minikube_py.model.kinds import ResourceType
from minikube_py.model.rbac import UserInfo
from minikube_py.model.requestinfo import RequestInfo
from minikube_py.model.schema import unknown_fields
from minikube_py.model.selectors import FieldSelector, label_selector_from_spec
from minikube_py.store.base import Obj, Op, Store


@dataclass(frozen=True)
class Allocators:
    """What admission reads and reserves from, handed to every strategy's :meth:`Strategy.admit`:
    the store (a namespace's quotas and limit ranges), the allocator of ClusterIPs and NodePorts,
    and the authorizer, for the admission plugins that ask whether the writer may do more than
    the write itself (approve or sign for a signer); None until the API server runs, whose own
    bootstrap writes need none."""

    store: Store
    services: ServiceAllocator
    authorize: Callable[[UserInfo, RequestInfo], bool] | None = None


@dataclass(frozen=True, eq=False)
class Strategy:
    """One kind's rules for the API server; every hook's body here is the generic rule.

    ``printer`` gives the kind's table columns (kube-apiserver's), ``merge_rules`` and ``atomic_maps``
    its strategic-merge and field-ownership structure (None: no Go type to read them from, so patches
    merge as JSON merge patches), ``shape`` the JSON types of its top-level fields."""

    kind: str
    printer: Printer = DEFAULT
    merge_rules: Rules | None = None
    atomic_maps: frozenset[str] = frozenset()
    shape: Fields = field(default_factory=dict)

    #: admission reserves values in the store (addresses, ports) that a concurrent create may take
    #: first: a create that lost such a race is retried, not refused
    reserves: ClassVar[bool] = False
    #: a terminating object is removed once its finalizers are gone *and* its grace period is over
    graceful: ClassVar[bool] = False

    @property
    def rules(self) -> KindRules:
        """The kind's pure rules, which model code finds by the same name."""
        return rules_of(self.kind)

    @cached_property
    def structure(self) -> Structure:
        """How objects of the kind divide into field paths, for ``managedFields``."""
        return Structure(self.merge_rules or {}, self.atomic_maps)

    # ------------------------------------------------------------------------------ objects

    def check_shape(self, obj: Obj) -> None:
        """400 for a field of the wrong JSON type, as Go's typed decoding would answer."""
        check_object(obj, self.kind, self.shape)

    def drop_unknown(self, obj: Obj) -> list[str]:
        """Remove the fields the kind does not have from ``obj``; their paths, for the warnings."""
        return unknown_fields(self.kind, obj)

    def read(self, obj: Obj) -> Obj:
        """A stored object as the API answers it (custom resources are defaulted on read)."""
        return obj

    def scale_view(self, obj: Obj) -> tuple[int, int, str]:
        """The ``scale`` subresource's spec replicas, status replicas and selector of ``obj``."""
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        return spec.get("replicas", 0), status.get("replicas", 0), self.scale_selector(spec.get("selector") or {})

    def set_replicas(self, obj: Obj, replicas: int) -> None:
        """Write the replica count a ``scale`` update asks for."""
        obj.setdefault("spec", {})["replicas"] = replicas

    def field_set(self, obj: Obj) -> dict[str, str]:
        return self.rules.field_set(obj)

    def unsupported_fields(self, selector: FieldSelector) -> list[str]:
        return self.rules.unsupported_fields(selector)

    def edits_status_only(self, subresource: str | None) -> bool:
        """Whether a write through ``subresource`` changes the status alone (and metadata other than
        labels and owners): everything else is the stored object's again."""
        return subresource == "status"

    def for_subresource(self, subresource: str | None) -> Strategy:
        """The strategy of a write through ``subresource``: the kind's own, unless that subresource
        edits the object by rules of its own (a pod's ``ephemeralcontainers``)."""
        return self

    def patch(self, content_type: str, obj: Obj, body: bytes) -> Obj:
        """``obj`` with a PATCH body applied, as a new object."""
        return patch_object(content_type, obj, body, self.merge_rules)

    def merge_applied(self, obj: Obj, config: Obj) -> Obj:
        """``obj`` with a server-side apply configuration merged in, as a new object."""
        return merge_config(obj, config, self.merge_rules)

    def scale_selector(self, selector: Obj) -> str:
        """The selector as the ``scale`` subresource's ``status.selector`` spells it."""
        return str(label_selector_from_spec(selector))

    # ------------------------------------------------------------------------------ writes

    def reset_status(self, obj: Obj) -> None:
        """The status a new object of a kind with a status subresource starts with: status is the
        system's to write, so whatever the client sent is replaced."""
        obj["status"] = {}

    def prepare_for_create(self, obj: Obj) -> None:
        """Normalise a new object before defaulting (after its metadata is stamped)."""

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        """Normalise an update before defaulting, knowing the stored object."""

    def default(self, obj: Obj) -> None:
        self.rules.defaults(obj)

    def validate(self, obj: Obj, old: Obj | None = None) -> list[FieldError]:
        return self.rules.validate(obj, old)

    async def mutate(self, obj: Obj, old: Obj | None, allocators: Allocators) -> None:
        """The kind's built-in mutating admission (kube-apiserver's mutating plugins: what the object
        takes from the cluster's other objects, such as a namespace's LimitRange defaults or the
        default class), on the defaulted object once its managed fields are recorded, before the
        mutating webhooks see it and before it is validated; may raise a refusal. ``old`` is None on
        create."""

    def mutated(self, obj: Obj) -> None:
        """What a new object derives from itself once every mutating admission is done (a pod's QoS
        class, as kube-apiserver's PrepareForCreate works it out after admission)."""

    async def admit(self, obj: Obj, old: Obj | None, allocators: Allocators) -> tuple[list[Op], list[FieldError]]:
        """The kind's validating admission, once the object is valid: what it reserves from the cluster
        (the store writes that go in one commit with it), or the causes that refuse it. ``old`` is
        None on create."""
        return [], []

    async def admission(
        self,
        rt: ResourceType,
        obj: Obj,
        old: Obj | None,
        allocators: Allocators,
        webhooks: Callable[[], Awaitable[None]] | None = None,
    ) -> tuple[list[Op], list[FieldError]]:
        """The whole admission of a write, in kube-apiserver's order: the kind's own steps
        (:meth:`admit`: defaults from the cluster, reservations), PodSecurity (for pods and pod
        templates), the validating ``webhooks``, then ResourceQuota, which every namespaced kind
        passes last and which charges the quota in the same commit. The store writes that go with
        the object, or the causes that refuse it (PodSecurity, a webhook and a quota raise theirs)."""
        ops, problems = await self.admit(obj, old, allocators)
        if problems:
            return ops, problems
        if rt.namespaced:
            await podsecurity.admit(rt, obj, old, allocators.store)
        if webhooks is not None:
            await webhooks()
        if not rt.namespaced:
            return ops, []
        return [*ops, *await charge_quota(rt, obj, old, allocators.store)], []

    def release(self, obj: Obj) -> list[Op]:
        """The store writes that free what ``obj`` reserved, in one commit with its deletion."""
        return []

    # ------------------------------------------------------------------------------ deletion

    def check_delete(self, name: str) -> None:
        """Refuse (raise) the deletion of an object the cluster cannot do without."""

    def begin_deletion(self, obj: Obj) -> None:
        """Mark an object that starts to wait for its deletion (on the copy that will be stored)."""

    def finalizing(self, obj: Obj) -> bool:
        """Whether the kind's own finalization, beyond ``metadata.finalizers``, still holds the
        object back from deletion."""
        return False

    async def grace_period(self, obj: Obj, requested: int | None, store: Store) -> int:
        """Seconds a deleted object waits before it goes (``requested``: the client's
        ``gracePeriodSeconds``); only a graceful kind waits at all."""
        return 0
