"""The ``scale`` and ``binding`` subresources, as views and edits of their parent object.

Scale is an ``autoscaling/v1`` projection of a workload's replica count; Binding is how the
scheduler assigns a pod to a node. Both write through the registry so they obey the same
concurrency and validation rules as any other write.
"""

from __future__ import annotations

import copy

from minikube_py.api.patch.managed import FieldManager
from minikube_py.api.registry import Registry
from minikube_py.api.strategies import SCALE, strategy_for
from minikube_py.model import errors
from minikube_py.model.kinds import ResourceType
from minikube_py.model.times import rfc3339
from minikube_py.store.base import Obj


def scale_of(rt: ResourceType, obj: Obj) -> Obj:
    md = obj["metadata"]
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    selector_text = strategy_for(rt).scale_selector(spec.get("selector") or {})
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in md},
        "spec": {"replicas": spec.get("replicas", 0)},
        "status": {"replicas": status.get("replicas", 0), "selector": selector_text},
    }


async def update_scale(
    registry: Registry, rt: ResourceType, namespace: str | None, name: str, scale: Obj, *, dry_run: bool,
    manager: FieldManager | None = None,
) -> Obj:
    """PUT of a Scale: a resourceVersion in it guards the parent object, as in Kubernetes."""
    if not isinstance(scale, dict):
        raise errors.bad_request("the body of the request must be a Scale object")
    replicas = (scale.get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise errors.StatusError(422, "Invalid", f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: '
                                 f'{replicas!r}: must be greater than or equal to 0',
                                 {"name": name, "kind": "Scale", "group": "autoscaling", "causes": [
                                     {"reason": "FieldValueInvalid", "field": "spec.replicas",
                                      "message": "must be greater than or equal to 0"}]})
    parent = await registry.get(rt, namespace, name)
    new = copy.deepcopy(parent)
    new.setdefault("spec", {})["replicas"] = replicas
    rv = (scale.get("metadata") or {}).get("resourceVersion")
    new["metadata"]["resourceVersion"] = rv or parent["metadata"]["resourceVersion"]
    if not rv:
        new["metadata"].pop("resourceVersion")
    return scale_of(rt, await registry.update(rt, namespace, name, new, dry_run=dry_run, subresource="scale",
                                              manager=manager))


async def patch_scale(
    registry: Registry, rt: ResourceType, namespace: str | None, name: str, content_type: str, body: bytes, *,
    dry_run: bool, manager: FieldManager | None = None,
) -> Obj:
    current = scale_of(rt, await registry.get(rt, namespace, name))
    patched = SCALE.patch(content_type, current, body)
    if (patched.get("metadata") or {}).get("resourceVersion") == current["metadata"]["resourceVersion"]:
        patched["metadata"].pop("resourceVersion")  # the patch did not ask for a precondition
    return await update_scale(registry, rt, namespace, name, patched, dry_run=dry_run, manager=manager)


async def bind(registry: Registry, pods: ResourceType, namespace: str | None, name: str, binding: Obj) -> Obj:
    """Assign a pod to a node once; binding an already bound pod is a 409, so two schedulers racing
    cannot both win."""
    target = (binding or {}).get("target") or {}
    node = target.get("name")
    if not node:
        raise errors.StatusError(422, "Invalid", f'Binding "{name}" is invalid: target.name: Required value',
                                 {"name": name, "kind": "Binding", "causes": [
                                     {"reason": "FieldValueRequired", "field": "target.name", "message": "Required value"}]})
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
    uid = ((binding.get("metadata") or {}).get("uid"))
    if uid and uid != pod["metadata"].get("uid"):
        raise errors.conflict(pods, name, "Precondition failed: UID in precondition does not match")
