"""RuntimeClasses (``node.k8s.io/v1``): which container runtime configuration runs a pod, what running
a pod that way costs beyond its containers, and on which nodes it can run.

A pod names a class (``runtimeClassName``); the RuntimeClass admission plugin then gives the pod the
class's ``overhead`` (which the scheduler and quotas add to the pod's requests) and merges the class's
``scheduling`` into the pod's node selector and tolerations, and the node's agent creates the pod's
containers with the class's ``handler``. The rules here are pure: the strategy and the agent do the
reading and the writing.
"""

from __future__ import annotations

import json
from typing import Any

from minikube_py.model import quantity
from minikube_py.model.errors import FieldError, invalid_value
from minikube_py.model.lenient import as_dict, as_list
from minikube_py.model.selectors import dns1123_label_errors
from minikube_py.model.validation import resource_list_errors, unique_tolerations, validate_labels, validate_tolerations

Obj = dict[str, Any]

#: the Forbidden reasons of the admission plugin, in kube-apiserver's words
OVERHEAD_MISMATCH = "pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead"
OVERHEAD_WITHOUT_CLASS = "pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead"


def not_found(name: str) -> str:
    """Why a pod that names a class no one defined is refused."""
    return f"pod rejected: RuntimeClass {json.dumps(str(name))} not found"


# ------------------------------------------------------------------------------ validation


def validate_runtime_class(obj: Obj) -> list[FieldError]:
    """``ValidateRuntimeClass``: a handler that is a DNS label (the runtime's configuration name),
    overhead quantities that parse and are not negative, a valid node selector, valid and distinct
    tolerations."""
    handler = obj.get("handler")
    handler = handler if isinstance(handler, str) else ""
    errs = [invalid_value("handler", handler, msg) for msg in dns1123_label_errors(handler)]
    overhead = obj.get("overhead")
    if overhead is not None:
        errs += resource_list_errors(as_dict(overhead).get("podFixed"), "overhead.podFixed")
    scheduling = obj.get("scheduling")
    if scheduling is not None:
        scheduling = as_dict(scheduling)
        errs += validate_labels(scheduling.get("nodeSelector"), "scheduling.nodeSelector")
        errs += validate_tolerations(scheduling.get("tolerations"), "scheduling.tolerations")
        errs += unique_tolerations(scheduling.get("tolerations"), "scheduling.tolerations")
    return errs


def validate_runtime_class_update(new: Obj, old: Obj) -> list[FieldError]:
    """The handler is fixed: pods already running with it would silently stand for another runtime."""
    if new.get("handler") != old.get("handler"):
        return [invalid_value("handler", new.get("handler"), "field is immutable")]
    return []


# ------------------------------------------------------------------------------ admission


def _same_quantities(a: Obj, b: Obj) -> bool:
    """Two resource lists name the same amounts (``1000m`` is ``1``), as Go's semantic equality has it."""
    if a.keys() != b.keys():
        return False
    try:
        return all(quantity.parse_quantity(a[k]) == quantity.parse_quantity(b[k]) for k in a)
    except (ValueError, TypeError):
        return a == b


def admit_pod(spec: Obj, runtime_class: Obj | None) -> str | None:
    """The plugin's mutating half on a new pod's ``spec``: the class's overhead (refused when the pod
    came with a different one) and its scheduling (refused when the pod's node selector wants another
    value for one of the class's labels). Returns the Forbidden reason, or None with ``spec`` changed."""
    if runtime_class is None:
        return None
    fixed = as_dict(as_dict(runtime_class.get("overhead")).get("podFixed"))
    if runtime_class.get("overhead") is not None:
        if spec.get("overhead") is not None and not _same_quantities(fixed, as_dict(spec["overhead"])):
            return OVERHEAD_MISMATCH
        spec["overhead"] = dict(fixed)
    scheduling = runtime_class.get("scheduling")
    if scheduling is None:
        return None
    selector = as_dict(as_dict(scheduling).get("nodeSelector"))
    if spec.get("nodeSelector") is None:
        if selector:
            spec["nodeSelector"] = dict(selector)
    else:
        pods = as_dict(spec["nodeSelector"])
        for key, value in selector.items():
            if key in pods and pods[key] != value:
                return (
                    f"conflict: runtimeClass.scheduling.nodeSelector[{key}] = {value}; "
                    f"pod.spec.nodeSelector[{key}] = {pods[key]}"
                )
            pods[key] = value
    merged = merge_tolerations(as_list(spec.get("tolerations")), as_list(as_dict(scheduling).get("tolerations")))
    if merged:
        spec["tolerations"] = merged
    return None


def check_overhead(spec: Obj, runtime_class: Obj | None) -> str | None:
    """The plugin's validating half, after the webhooks: the pod's overhead is its class's, and a pod
    without a class's overhead has none. Returns the Forbidden reason, or None."""
    if runtime_class is not None and runtime_class.get("overhead") is not None:
        fixed = as_dict(as_dict(runtime_class["overhead"]).get("podFixed"))
        if spec.get("overhead") is None or not _same_quantities(fixed, as_dict(spec["overhead"])):
            return OVERHEAD_MISMATCH
    elif spec.get("overhead") is not None:
        return OVERHEAD_WITHOUT_CLASS
    return None


def _same(a: Obj, b: Obj) -> bool:
    """Two tolerations are one (an absent field is its empty value, as in Go's structs)."""
    fields = ("key", "operator", "value", "effect")
    return all((a.get(f) or "") == (b.get(f) or "") for f in fields) and a.get("tolerationSeconds") == b.get(
        "tolerationSeconds"
    )


def _tolerates_superset(wide: Obj, narrow: Obj) -> bool:
    """Whether toleration ``wide`` tolerates every taint ``narrow`` does (Kubernetes' ``isSuperset``)."""
    if _same(wide, narrow):
        return True
    wide_key, wide_op = wide.get("key") or "", wide.get("operator") or "Equal"
    if (narrow.get("key") or "") != wide_key and (wide_key or wide_op != "Exists"):
        return False
    if wide.get("effect") and (narrow.get("effect") or "") != wide["effect"]:
        return False
    limit = wide.get("tolerationSeconds")
    if wide.get("effect") == "NoExecute" and limit is not None:
        seconds = narrow.get("tolerationSeconds")
        if not isinstance(seconds, int) or not isinstance(limit, int) or seconds > limit:
            return False
    if wide_op == "Equal":
        return narrow.get("operator") == "Equal" and (narrow.get("value") or "") == (wide.get("value") or "")
    return wide_op == "Exists"


def merge_tolerations(first: list[Any], second: list[Any]) -> list[Obj]:
    """Both lists, in order, less each toleration another one already covers (the first of two equal
    ones stays): Kubernetes' ``MergeTolerations``, so that a class's tolerations do not pile up on
    pods that already tolerate as much."""
    every = [t for t in (*first, *second) if isinstance(t, dict)]
    merged: list[Obj] = []
    for i, toleration in enumerate(every):
        if any(_tolerates_superset(kept, toleration) for kept in merged):
            continue
        if any(not _same(later, toleration) and _tolerates_superset(later, toleration) for later in every[i + 1 :]):
            continue
        merged.append(toleration)
    return merged
