"""The ``scale``, ``binding`` and ``eviction`` subresources, as views and edits of their parent object.

Scale is an ``autoscaling/v1`` projection of a workload's replica count; Binding is how the
scheduler assigns a pod to a node; Eviction deletes a pod unless a PodDisruptionBudget forbids it.
All write through the registry so they obey the same concurrency and validation rules as any other
write.
"""

from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, datetime
from typing import Any

from minikube_py.api import shape
from minikube_py.api.patch.managed import FieldManager
from minikube_py.api.registry import DeleteOptions, Registry
from minikube_py.api.strategies import SCALE, strategy_for
from minikube_py.model import errors
from minikube_py.model.disruption import DISRUPTION_BUDGET_CAUSE, Free, Refusal, decide_eviction, selects
from minikube_py.model.kinds import ResourceType, by_plural
from minikube_py.model.times import rfc3339
from minikube_py.store.base import Obj


def scale_of(rt: ResourceType, obj: Obj) -> Obj:
    md = obj["metadata"]
    spec_replicas, status_replicas, selector_text = strategy_for(rt).scale_view(obj)
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in md},
        "spec": {"replicas": spec_replicas},
        "status": {"replicas": status_replicas, "selector": selector_text},
    }


def _check_scale(scale: Any) -> None:
    """400 for a Scale (as sent, or as a patch left it) whose replicas cannot be read."""
    if not isinstance(scale, dict) or not isinstance(scale.get("metadata") or {}, dict):
        raise errors.bad_request("the body of the request must be a Scale object")
    shape.check_object(scale, "Scale", shape.SCALE)


async def update_scale(
    registry: Registry,
    rt: ResourceType,
    namespace: str | None,
    name: str,
    scale: Obj,
    *,
    dry_run: bool,
    manager: FieldManager | None = None,
) -> Obj:
    """PUT of a Scale: a resourceVersion in it guards the parent object, as in Kubernetes."""
    _check_scale(scale)
    replicas = (scale.get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise errors.StatusError(
            422,
            "Invalid",
            f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: '
            f"{replicas!r}: must be greater than or equal to 0",
            {
                "name": name,
                "kind": "Scale",
                "group": "autoscaling",
                "causes": [
                    {
                        "reason": "FieldValueInvalid",
                        "field": "spec.replicas",
                        "message": "must be greater than or equal to 0",
                    }
                ],
            },
        )
    parent = await registry.get(rt, namespace, name)
    new = copy.deepcopy(parent)
    strategy_for(rt).set_replicas(new, replicas)
    rv = (scale.get("metadata") or {}).get("resourceVersion")
    new["metadata"]["resourceVersion"] = rv or parent["metadata"]["resourceVersion"]
    if not rv:
        new["metadata"].pop("resourceVersion")
    return scale_of(
        rt, await registry.update(rt, namespace, name, new, dry_run=dry_run, subresource="scale", manager=manager)
    )


async def patch_scale(
    registry: Registry,
    rt: ResourceType,
    namespace: str | None,
    name: str,
    content_type: str,
    body: bytes,
    *,
    dry_run: bool,
    manager: FieldManager | None = None,
) -> Obj:
    current = scale_of(rt, await registry.get(rt, namespace, name))
    patched = SCALE.patch(content_type, current, body)
    _check_scale(patched)
    if (patched.get("metadata") or {}).get("resourceVersion") == current["metadata"]["resourceVersion"]:
        patched["metadata"].pop("resourceVersion")  # the patch did not ask for a precondition
    return await update_scale(registry, rt, namespace, name, patched, dry_run=dry_run, manager=manager)


async def bind(registry: Registry, pods: ResourceType, namespace: str | None, name: str, binding: Obj) -> Obj:
    """Assign a pod to a node once; binding an already bound pod is a 409, so two schedulers racing
    cannot both win."""
    if not isinstance(binding, dict):
        raise errors.bad_request("the body of the request must be a Binding object")
    shape.check_object(binding, "Binding", shape.BINDING_REQUEST)
    target = binding.get("target") or {}
    node = target.get("name")
    if not node:
        raise errors.StatusError(
            422,
            "Invalid",
            f'Binding "{name}" is invalid: target.name: Required value',
            {
                "name": name,
                "kind": "Binding",
                "causes": [{"reason": "FieldValueRequired", "field": "target.name", "message": "Required value"}],
            },
        )
    for _attempt in range(5):
        pod = await registry.get(pods, namespace, name)
        _check_bindable(pods, pod, binding, name)
        pod["spec"]["nodeName"] = node
        conditions = [c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") != "PodScheduled"]
        now = rfc3339()
        conditions.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now})
        pod.setdefault("status", {})["conditions"] = conditions
        if await registry.write_if_unchanged(pods, namespace, pod):
            return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
    raise errors.stale_write(pods, name)


def _check_bindable(pods: ResourceType, pod: Obj, binding: Obj, name: str) -> None:
    if pod["metadata"].get("deletionTimestamp"):
        raise errors.conflict(pods, name, "pod is being deleted, cannot be assigned to a host")
    if (pod.get("spec") or {}).get("nodeName"):
        raise errors.conflict(pods, name, f'pod {name} is already assigned to node "{pod["spec"]["nodeName"]}"')
    uid = (binding.get("metadata") or {}).get("uid")
    if uid and uid != pod["metadata"].get("uid"):
        raise errors.conflict(pods, name, "Precondition failed: UID in precondition does not match")


_BUDGETS = by_plural("policy", "v1", "poddisruptionbudgets")
_EVICTION_VERSIONS = ("policy/v1", "policy/v1beta1")
_SUCCESS = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


async def evict(registry: Registry, pods: ResourceType, namespace: str | None, name: str, eviction: Obj) -> Obj:
    """POST ``pods/<name>/eviction``: delete the pod gracefully (with the Eviction's deleteOptions)
    once its PodDisruptionBudget, if any, has a disruption to spend, which is spent first.

    The budget is spent by a status write conditional on the revision the decision read, so of two
    evictions racing for a budget's last disruption one writes and the other, reading the budget
    again, is refused with 429 as kube-apiserver does."""
    _check_eviction(eviction, name)
    options = DeleteOptions.parse(eviction.get("deleteOptions"), {})
    assert _BUDGETS is not None
    contended: tuple[ResourceType, str] = (pods, name)  # what kept changing, for the final 409
    for _attempt in range(_EVICTION_RETRIES):
        pod = await registry.get(pods, namespace, name)
        budgets = [b for b in (await registry.list(_BUDGETS, namespace)).items if selects(b, pod)]
        decision = decide_eviction(pod, budgets, datetime.now(UTC))
        if isinstance(decision, Refusal):
            raise _refusal(decision)
        delete_options = options
        if isinstance(decision, Free):
            if decision.if_unchanged and not options.preconditions:
                # let go because it is unhealthy: only as read, not once it turned Ready
                delete_options = dataclasses.replace(
                    options, preconditions={"resourceVersion": pod["metadata"]["resourceVersion"]}
                )
        elif not options.dry_run:
            try:
                await registry.update(
                    _BUDGETS, namespace, decision.budget["metadata"]["name"], decision.budget, subresource="status"
                )
            except errors.StatusError as exc:
                if exc.code == 409:
                    contended = (_BUDGETS, decision.budget["metadata"]["name"])
                    continue  # another eviction spent from the budget first: decide again
                raise
        try:
            await registry.delete(pods, namespace, name, delete_options)
        except errors.StatusError as exc:
            if exc.code == 409 and delete_options is not options:
                continue  # the unhealthy pod changed: decide again
            raise
        return dict(_SUCCESS)
    raise errors.stale_write(*contended)


#: attempts of an eviction whose budget or pod keeps changing under it (kube-apiserver's EvictionsRetry)
_EVICTION_RETRIES = 10


def _check_eviction(eviction: Obj, name: str) -> None:
    if not isinstance(eviction, dict):
        raise errors.bad_request("the body of the request must be an Eviction object")
    shape.check_object(eviction, "Eviction", shape.EVICTION)
    if eviction.get("kind") not in (None, "Eviction") or eviction.get("apiVersion") not in (None, *_EVICTION_VERSIONS):
        raise errors.bad_request(f"not a Eviction object: {eviction.get('apiVersion')}, Kind={eviction.get('kind')}")
    if (eviction.get("metadata") or {}).get("name") != name:
        raise errors.bad_request("name in URL does not match name in Eviction object")


def _refusal(refusal: Refusal) -> errors.StatusError:
    if refusal.code == 429:
        return errors.StatusError(
            429,
            "TooManyRequests",
            refusal.message,
            {"causes": [{"reason": DISRUPTION_BUDGET_CAUSE, "message": refusal.cause}]},
        )
    if refusal.code == 500:
        message = f"Internal error occurred: {refusal.message}"
        return errors.StatusError(500, "InternalError", message, {"causes": [{"message": refusal.message}]})
    return errors.StatusError(refusal.code, "Forbidden", refusal.message)
