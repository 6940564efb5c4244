"""Pods: a new pod gets its namespace's LimitRange defaults and is held to its bounds, gets its
ServiceAccount token volume, is Pending in the QoS class its resources give it, and deleting a pod
that runs on a live node waits out its grace period, for that node's agent to stop it.

Ephemeral containers (``kubectl debug``) are added through the ``ephemeralcontainers`` subresource
only, which changes nothing else of the pod: a pod is created without them and a plain update may
not touch them (its update rule forbids any other spec change)."""

from __future__ import annotations

from minikube_py.api import shape
from minikube_py.api.admission import check_limits, limit_ranges
from minikube_py.api.patch import mergekeys
from minikube_py.api.strategies.base import Allocators, Strategy
from minikube_py.api.strategies.node import runtime_class_of
from minikube_py.api.strategies.scheduling import priority_classes
from minikube_py.api.tables import core as printers
from minikube_py.model import errors, priority, runtimeclasses, validation
from minikube_py.model.defaults import default_tolerations
from minikube_py.model.errors import FieldError
from minikube_py.model.jsoncopy import json_copy
from minikube_py.model.kinds import by_plural
from minikube_py.model.limitranges import apply_defaults
from minikube_py.model.meta import generate_name
from minikube_py.model.serviceaccounts import TOKEN_VOLUME_PREFIX, mount_service_account_token
from minikube_py.store.base import KeyNotFound, Obj, Op, Store

_NODES = by_plural("", "v1", "nodes")
_PODS = by_plural("", "v1", "pods")
_SERVICE_ACCOUNTS = by_plural("", "v1", "serviceaccounts")
#: what ``terminationGracePeriodSeconds`` means when absent (the API's default)
_DEFAULT_GRACE_SECONDS = 30


class PodStrategy(Strategy):
    graceful = True

    def reset_status(self, obj: Obj) -> None:
        """Pending; the QoS class follows once admission is done (:meth:`mutated`)."""
        obj["status"] = {"phase": "Pending"}

    def for_subresource(self, subresource: str | None) -> Strategy:
        return EPHEMERAL_CONTAINERS if subresource == "ephemeralcontainers" else self

    def validate(self, obj: Obj, old: Obj | None = None) -> list[FieldError]:
        problems = super().validate(obj, old)
        return problems + validation.validate_pod_create(obj) if old is None else problems

    async def mutate(self, obj: Obj, old: Obj | None, allocators: Allocators) -> None:
        """A new pod, through kube-apiserver's mutating plugins in their order. LimitRanger: it gets
        its namespace's container defaults (a default that leaves it invalid, such as a limit below
        its request, is validation's 422 next). ServiceAccount: the account ``default`` when it names
        none. Priority: its class (or the global default one) gives it its priority.
        DefaultTolerationSeconds: it tolerates not-ready and unreachable nodes for 5 minutes.
        ServiceAccount again: its token volume, unless the pod or its account turn
        automounting off; a pod whose account does not exist (yet) is admitted with the token
        volume, and its agent waits for the account to mint the token. RuntimeClass: the class it
        names (403 when there is none) gives it its overhead, node selector and tolerations. Pod
        resources and volumes are immutable, so updates pass."""
        assert _SERVICE_ACCOUNTS is not None
        if old is not None:
            return
        md, spec = obj["metadata"], obj.get("spec") or {}
        ranges = await limit_ranges(md.get("namespace") or "", allocators.store)
        # a pod whose quantities are not quantities takes no defaults: validation refuses it next
        if ranges and not self.validate(obj):
            apply_defaults(ranges, obj)
        if not spec.get("serviceAccountName"):  # ServiceAccount: the namespace's default account
            spec["serviceAccountName"] = spec["serviceAccount"] = "default"
        await _admit_priority(obj, allocators.store)
        default_tolerations(spec)  # DefaultTolerationSeconds
        try:
            account: Obj | None = await allocators.store.get(
                _SERVICE_ACCOUNTS.key(md.get("namespace"), spec.get("serviceAccountName") or "default")
            )
        except KeyNotFound:
            account = None
        mount_service_account_token(obj, account, generate_name(TOKEN_VOLUME_PREFIX))
        name, runtime_class = await runtime_class_of(obj, allocators.store)  # RuntimeClass
        why = runtimeclasses.not_found(name) if name and runtime_class is None else None
        why = why or runtimeclasses.admit_pod(spec, runtime_class)
        if why is not None:
            raise errors.forbidden_object(_PODS, md.get("name") or "", why)

    def mutated(self, obj: Obj) -> None:
        """The QoS class of the resources admission left the pod with (LimitRange defaults, webhooks)."""
        obj.setdefault("status", {})["qosClass"] = qos_class(obj)

    async def admit(self, obj: Obj, old: Obj | None, allocators: Allocators) -> tuple[list[Op], list[FieldError]]:
        """LimitRanger's validation: a new pod that breaks a bound of its namespace's ranges is refused
        (403); RuntimeClass's: its overhead is its class's (a webhook may not change it), and only a
        class gives a pod one."""
        assert _PODS is not None
        if old is None:
            check_limits(_PODS, obj, await limit_ranges(obj["metadata"].get("namespace") or "", allocators.store))
            spec = obj.get("spec") or {}
            _, runtime_class = await runtime_class_of(obj, allocators.store)
            why = runtimeclasses.check_overhead(spec, runtime_class)
            if why is not None:
                raise errors.forbidden_object(_PODS, obj["metadata"].get("name") or "", why)
        return [], []

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        if isinstance(new.get("spec"), dict) and isinstance(old.get("spec"), dict):
            priority.keep_on_update(new["spec"], old["spec"])

    async def grace_period(self, obj: Obj, requested: int | None, store: Store) -> int:
        """A pod running on a live node gets its grace period for the agent to stop it; one that was
        never scheduled, or whose node is gone, has nothing to wait for (as Kubernetes does)."""
        spec = obj.get("spec") or {}
        node_name = spec.get("nodeName")
        phase = (obj.get("status") or {}).get("phase")
        if not node_name or phase in ("Succeeded", "Failed"):
            return 0
        assert _NODES is not None
        try:
            await store.get(_NODES.key(None, node_name))
        except KeyNotFound:
            return 0
        if requested is not None:
            return max(requested, 0)
        return int(spec.get("terminationGracePeriodSeconds", _DEFAULT_GRACE_SECONDS))


async def _admit_priority(pod: Obj, store: Store) -> None:
    """The Priority admission plugin: the pod's class (or the global default one) gives it its
    priority and preemption policy; an unknown class, or a priority of its own that differs, is
    refused (403), as kube-apiserver words it."""
    assert _PODS is not None
    spec = pod.setdefault("spec", {})
    classes = await priority_classes(store)
    name = spec.get("priorityClassName")
    named = next((c for c in classes if c["metadata"]["name"] == name), None) if name else None
    resolved = priority.resolve(spec, named, priority.global_default(classes))
    if isinstance(resolved, str):
        raise errors.forbidden_object(_PODS, pod["metadata"].get("name") or "", resolved)
    priority.apply(spec, resolved)


def qos_class(pod: Obj) -> str:
    """Kubernetes' QoS class: Guaranteed when every container's cpu and memory limits equal its
    requests, BestEffort when none sets any, Burstable otherwise."""
    containers = (pod.get("spec") or {}).get("containers") or []
    requests_or_limits = False
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        limits, requests = res.get("limits") or {}, res.get("requests") or {}
        if limits or requests:
            requests_or_limits = True
        for resource in ("cpu", "memory"):
            if resource not in limits or requests.get(resource, limits[resource]) != limits[resource]:
                guaranteed = False
    if not requests_or_limits:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


class EphemeralContainersStrategy(PodStrategy):
    """A write through ``pods/<name>/ephemeralcontainers``: of what the client sent only
    ``spec.ephemeralContainers`` is taken (with the resourceVersion it was made against), the rest
    is the stored pod, and validation allows adding ephemeral containers, never changing or
    removing one."""

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        md = new["metadata"]
        kept = {key: md[key] for key in ("resourceVersion", "uid") if key in md}
        ephemeral = (new.get("spec") or {}).get("ephemeralContainers")
        new.clear()
        new.update(json_copy(old))
        new["metadata"].update(kept)
        spec = new.setdefault("spec", {})
        if ephemeral:
            spec["ephemeralContainers"] = ephemeral
        else:
            spec.pop("ephemeralContainers", None)

    def validate(self, obj: Obj, old: Obj | None = None) -> list[FieldError]:
        assert old is not None, "the subresource only updates"
        return validation.validate_ephemeral_containers_update(obj, old)


POD = PodStrategy(
    "Pod", printer=printers.POD, merge_rules=mergekeys.POD, atomic_maps=mergekeys.POD_ATOMIC, shape=shape.POD
)
EPHEMERAL_CONTAINERS = EphemeralContainersStrategy(
    "Pod", printer=printers.POD, merge_rules=mergekeys.POD, atomic_maps=mergekeys.POD_ATOMIC, shape=shape.POD
)
