"""PriorityClass (scheduling.k8s.io/v1) and the Priority admission plugin's pure rules.

A PriorityClass maps a name to the integer priority pods of that class get. The Priority admission
plugin resolves a new pod's ``spec.priorityClassName`` (or the cluster's global default class) to
``spec.priority`` and ``spec.preemptionPolicy``, and refuses a pod that names an unknown class or sets
a priority of its own that differs; the scheduler then orders and preempts by that number. Names
starting with ``system-`` are reserved for the two classes every cluster has (Kubernetes allows them in
every namespace since 1.17), and user classes stay at or below one billion, so no user pod outranks
them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from minikube_py.model.errors import FieldError, forbidden, invalid_value, not_supported, required

Obj = dict[str, Any]
Errors = list[FieldError]

#: ``HighestUserDefinablePriority``: the largest value a class not of the system may have
HIGHEST_USER_PRIORITY = 1_000_000_000
SYSTEM_PREFIX = "system-"
CLUSTER_CRITICAL = "system-cluster-critical"
NODE_CRITICAL = "system-node-critical"
PREEMPT_LOWER, PREEMPT_NEVER = "PreemptLowerPriority", "Never"
PREEMPTION_POLICIES = (PREEMPT_LOWER, PREEMPT_NEVER)
#: a pod's priority when it names no class and no class is the global default
DEFAULT_PRIORITY = 0

#: the built-in classes, created in every cluster at start and never deleted
SYSTEM_CLASSES: tuple[Obj, ...] = (
    {
        "metadata": {"name": NODE_CRITICAL},
        "value": 2_000_001_000,
        "description": "Used for system critical pods that must not be moved from their current node.",
    },
    {
        "metadata": {"name": CLUSTER_CRITICAL},
        "value": 2_000_000_000,
        "description": "Used for system critical pods that must run in the cluster, but can be moved to "
        "another node if necessary.",
    },
)
_SYSTEM_VALUES = {c["metadata"]["name"]: c["value"] for c in SYSTEM_CLASSES}


def default_priority_class(obj: Obj) -> None:
    """``SetDefaults_PriorityClass``: a class that says nothing preempts lower priorities."""
    if obj.get("preemptionPolicy") is None:
        obj["preemptionPolicy"] = PREEMPT_LOWER


def _system_class_error(name: str, value: Any, global_default: Any) -> str | None:
    """Why a ``system-`` class is not one of the built-in ones, as ``IsKnownSystemPriorityClass`` words it."""
    if name not in _SYSTEM_VALUES:
        return f"{name} is not a known system priority class"
    if value != _SYSTEM_VALUES[name]:
        return f"value of {name} PriorityClass must be {_SYSTEM_VALUES[name]}"
    if global_default:
        return f"globalDefault of {name} PriorityClass must be false"
    return None


def validate_priority_class(obj: Obj) -> Errors:
    """``ValidatePriorityClass``: a ``system-`` name must be a built-in class exactly; any other class
    stays at or below :data:`HIGHEST_USER_PRIORITY`; the preemption policy is a known one."""
    name = str((obj.get("metadata") or {}).get("name") or "")
    value = obj.get("value", 0)
    errs: Errors = []
    if name.startswith(SYSTEM_PREFIX):
        why = _system_class_error(name, value, obj.get("globalDefault"))
        if why is not None:
            errs.append(
                forbidden(
                    "metadata.name",
                    f"priority class names with '{SYSTEM_PREFIX}' prefix are reserved for system use only. "
                    f"error: {why}",
                )
            )
    elif isinstance(value, int) and value > HIGHEST_USER_PRIORITY:
        errs.append(forbidden("value", f"maximum allowed value of a user defined priority is {HIGHEST_USER_PRIORITY}"))
    policy = obj.get("preemptionPolicy")
    if policy is not None:
        errs.extend(validate_preemption_policy(policy, "preemptionPolicy"))
    return errs


def validate_preemption_policy(policy: Any, where: str) -> Errors:
    if policy == "":
        return [required(where)]
    if policy not in PREEMPTION_POLICIES:
        return [not_supported(where, policy, list(PREEMPTION_POLICIES))]
    return []


def validate_priority_class_update(new: Obj, old: Obj) -> Errors:
    """A class's value and preemption policy are what its pods were admitted with: both fixed."""
    errs: Errors = []
    if new.get("value", 0) != old.get("value", 0):
        errs.append(forbidden("value", "may not be changed in an update."))
    if new.get("preemptionPolicy") != old.get("preemptionPolicy"):
        errs.append(invalid_value("preemptionPolicy", new.get("preemptionPolicy"), "field is immutable"))
    return errs


def is_system_class(name: str) -> bool:
    return name in _SYSTEM_VALUES


def global_default(classes: Iterable[Obj]) -> Obj | None:
    """The class pods without a class name get: the one marked ``globalDefault`` (of several, which
    admission prevents but a race may leave, the lowest value, as Kubernetes picks)."""
    marked = [c for c in classes if c.get("globalDefault") is True]
    return min(marked, key=lambda c: c.get("value", 0), default=None)


def second_default(obj: Obj, classes: Iterable[Obj]) -> str | None:
    """Admission of a class write: the message refusing a second global default, or None."""
    if obj.get("globalDefault") is not True:
        return None
    current = global_default(c for c in classes if c["metadata"]["name"] != obj["metadata"]["name"])
    if current is None:
        return None
    return f"PriorityClass {current['metadata']['name']} is already marked as default. Only one default can exist"


@dataclass(frozen=True)
class Resolved:
    """What the Priority admission gives a new pod: its class name, priority and preemption policy."""

    class_name: str
    priority: int
    preemption_policy: str


def resolve(spec: Obj, named: Obj | None, default: Obj | None) -> Resolved | str:
    """The Priority admission of a new pod's ``spec``: ``named`` is the class its
    ``priorityClassName`` names (None when it names one that does not exist), ``default`` the global
    default class. Answers what to set, or the reason to refuse the pod (403)."""
    class_name = spec.get("priorityClassName") or ""
    if class_name:
        if named is None:
            return f"no PriorityClass with name {class_name} was found"
        chosen: Obj | None = named
    else:
        chosen = default
        class_name = "" if default is None else default["metadata"]["name"]
    priority = DEFAULT_PRIORITY if chosen is None else int(chosen.get("value", 0))
    policy = PREEMPT_LOWER if chosen is None else chosen.get("preemptionPolicy") or PREEMPT_LOWER
    own = spec.get("priority")
    if own is not None and own != priority:
        return (
            f"the integer value of priority ({own}) must not be provided in pod spec; "
            f"priority admission controller computed {priority} from the given PriorityClass name"
        )
    own_policy = spec.get("preemptionPolicy")
    if own_policy is not None and own_policy != policy:
        return (
            f"the string value of PreemptionPolicy ({own_policy}) must not be provided in pod spec; "
            f"priority admission controller computed {policy} from the given PriorityClass name"
        )
    return Resolved(class_name, priority, policy)


def apply(spec: Obj, resolved: Resolved) -> None:
    """Write an admitted pod's priority fields."""
    if resolved.class_name:
        spec["priorityClassName"] = resolved.class_name
    spec["priority"] = resolved.priority
    spec["preemptionPolicy"] = resolved.preemption_policy


def keep_on_update(spec: Obj, old_spec: Obj) -> None:
    """An update that leaves out the priority admission set at create keeps it (the fields are
    immutable; Kubernetes' plugin copies them over so such an update is not refused for them)."""
    for name in ("priority", "preemptionPolicy"):
        if spec.get(name) is None and old_spec.get(name) is not None:
            spec[name] = old_spec[name]
