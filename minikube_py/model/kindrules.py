"""The rules of each kind that are pure functions of its objects: defaults, validation, selectable
fields and generation tracking.

The API server reaches these through the kind's strategy (:mod:`minikube_py.api.strategies`), which
adds what only a server does with an object (admission, deletion, printing, merging). They live here,
below the API layer, because model code meets objects by their ``kind`` too: metadata preparation
decides the generation by it, and :func:`~minikube_py.model.validation.validate`,
:func:`~minikube_py.model.defaults.apply_defaults` and :func:`~minikube_py.model.fields.field_set`
take a kind name. Both find a kind's rules by its name here, so a kind is declared once per layer.

Every kind of the kind table has an entry, its scope taken from the table; a kind the table does not
serve gets the generic rules (namespaced, no defaults, no checks beyond metadata).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from minikube_py.model import crds, defaults, fields, ingress, limitranges, rbac, validation
from minikube_py.model.errors import FieldError
from minikube_py.model.jsoncopy import json_copy
from minikube_py.model.kinds import RESOURCES
from minikube_py.model.selectors import FieldSelector, dns1123_label_errors, dns1123_subdomain_errors

Obj = dict[str, Any]
Errors = list[FieldError]


def _no_defaults(obj: Obj) -> None:
    """A kind whose objects have no defaults beyond what metadata preparation stamps."""


def _no_checks(obj: Obj) -> Errors:
    return []


def _no_update_checks(new: Obj, old: Obj) -> Errors:
    return []


@dataclass(frozen=True)
class KindRules:
    """One kind's pure rules. ``checks`` run on every write (create and update), ``update_checks``
    on updates only, after the metadata checks: Kubernetes lists metadata causes first."""

    kind: str
    namespaced: bool = True
    #: messages for a name that is not valid for the kind (DNS-1123 subdomain unless said otherwise)
    name_errors: Callable[[str], list[str]] = dns1123_subdomain_errors
    checks: Callable[[Obj], Errors] = _no_checks
    update_checks: Callable[[Obj, Obj], Errors] = _no_update_checks
    defaults: Callable[[Obj], None] = _no_defaults
    #: the fields a field selector may name beyond ``metadata.name`` and ``metadata.namespace``
    fields: fields.Extra = fields.no_fields
    #: whether ``metadata.generation`` counts spec changes (Kubernetes' strategy keeps it for the
    #: kinds whose controllers report ``observedGeneration``; others never show one)
    tracks_generation: bool = False
    #: whether an annotation change counts as a spec change too (its controller acts on annotations)
    generation_follows_annotations: bool = False

    def validate(self, obj: Obj, old: Obj | None = None) -> Errors:
        """Every problem with ``obj`` (a create when ``old`` is None, else an update of ``old``);
        an empty list means it may be stored."""
        md = _dict(obj.get("metadata"))
        if old is None:
            errs = validation.validate_metadata(md, namespaced=self.namespaced, name_errors=self.name_errors)
        else:
            errs = validation.validate_metadata_update(md, _dict(old.get("metadata")))
        errs += self.checks(obj)
        if old is not None:
            errs += self.update_checks(obj, old)
        return errs

    def defaulted(self, obj: Obj) -> Obj:
        """A defaulted copy, for comparisons that must not mutate their input."""
        out = json_copy(obj)
        self.defaults(out)
        return out

    def field_set(self, obj: Obj) -> dict[str, str]:
        """Every selectable field of ``obj`` with its string value."""
        return fields.object_fields(obj, namespaced=self.namespaced, extra=self.fields)

    def unsupported_fields(self, selector: FieldSelector) -> list[str]:
        """Fields named in ``selector`` that the kind does not offer; the API answers 400 for the first."""
        return fields.not_offered(self.field_set({}), selector)


def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _snake_case(kind: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", kind).lower()


def _conventional(kind: str) -> dict[str, Any]:
    """The rules the model modules hold for ``kind`` under their naming convention (the kind in
    snake case): its checks ``validation.validate_<kind>``, update checks
    ``validation.validate_<kind>_update``, defaults ``defaults.default_<kind>`` and selectable fields
    ``fields.<kind>_fields``, each where the module has one. A rule is written once, where its kind's
    other rules of that sort are, and found here by its name rather than listed again."""
    snake = _snake_case(kind)
    found = {
        "checks": getattr(validation, f"validate_{snake}", None),
        "update_checks": getattr(validation, f"validate_{snake}_update", None),
        "defaults": getattr(defaults, f"default_{snake}", None),
        "fields": getattr(fields, f"{snake}_fields", None),
    }
    return {name: rule for name, rule in found.items() if rule is not None}


_PATH_SEGMENT = {"name_errors": rbac.path_segment_name_errors}
_IMMUTABLE_DATA = {"update_checks": validation.validate_immutable_data}
_IMMUTABLE_SELECTOR = {"update_checks": validation.validate_selector_immutable}

#: what a kind has besides its conventional rules, or instead of them: rules kept in their own
#: module or shared by several kinds, names that are not DNS subdomains, and generation tracking
_DECLARED: dict[str, dict[str, Any]] = {
    "Namespace": {"name_errors": dns1123_label_errors},
    "Pod": {"tracks_generation": True},
    "Service": {"name_errors": validation.dns1035_label_errors},
    "ReplicationController": {"fields": fields.replicas_fields, "tracks_generation": True},
    "Secret": _IMMUTABLE_DATA,
    "ConfigMap": _IMMUTABLE_DATA,
    "LimitRange": {"defaults": limitranges.default_limit_range},
    "PodDisruptionBudget": {"tracks_generation": True},
    "Deployment": {**_IMMUTABLE_SELECTOR, "tracks_generation": True, "generation_follows_annotations": True},
    "ReplicaSet": {**_IMMUTABLE_SELECTOR, "fields": fields.replicas_fields, "tracks_generation": True},
    "DaemonSet": {**_IMMUTABLE_SELECTOR, "tracks_generation": True},
    "StatefulSet": {"tracks_generation": True},
    "Job": {"tracks_generation": True},
    "CronJob": {"tracks_generation": True},
    "EndpointSlice": {"tracks_generation": True},
    "Ingress": {"checks": ingress.validate_ingress, "tracks_generation": True},
    "IngressClass": {
        "checks": ingress.validate_ingress_class,
        "update_checks": ingress.validate_ingress_class_update,
        "tracks_generation": True,
    },
    "CustomResourceDefinition": {
        "checks": crds.validate,
        "update_checks": crds.validate_update,
        "defaults": crds.defaults,
    },
    "Role": {**_PATH_SEGMENT, "checks": rbac.validate_role},
    "ClusterRole": {**_PATH_SEGMENT, "checks": rbac.validate_cluster_role},
    "RoleBinding": {
        **_PATH_SEGMENT,
        "checks": rbac.validate_role_binding,
        "update_checks": rbac.validate_role_ref_unchanged,
    },
    "ClusterRoleBinding": {
        **_PATH_SEGMENT,
        "checks": rbac.validate_cluster_role_binding,
        "update_checks": rbac.validate_role_ref_unchanged,
    },
}


def _by_kind() -> dict[str, KindRules]:
    """The rules of every served kind: its conventional ones, what it declares, and the scope the
    kind table gives it."""
    return {
        rt.kind: KindRules(rt.kind, rt.namespaced, **{**_conventional(rt.kind), **_DECLARED.get(rt.kind, {})})
        for rt in RESOURCES
    }


_BY_KIND = _by_kind()


def rules_of(kind: str) -> KindRules:
    """The rules of the kind named ``kind``; the generic rules for a kind pykube does not serve."""
    return _BY_KIND.get(kind) or KindRules(kind)
