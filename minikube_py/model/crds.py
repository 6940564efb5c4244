"""CustomResourceDefinitions (``apiextensions.k8s.io/v1``): their validation, their status, and the
resource types they make the API server serve.

A CRD is valid when its name is ``<plural>.<group>``, its group a domain outside the built-in groups,
its names DNS labels (``kind`` and ``listKind`` in any case), exactly one version ``storage: true`` and
every version's schema structural. Its status is computed from its spec when written, as
kube-apiserver's naming and establishing controllers would set it moments later: the names accepted,
``NamesAccepted`` and ``Established`` True, and ``storedVersions`` growing with each storage version.
"""

from __future__ import annotations

import re
from typing import Any

from minikube_py.model import crdrules, crdschema, errors
from minikube_py.model.errors import FieldError
from minikube_py.model.kinds import RESOURCES, CustomResource, ResourceType
from minikube_py.model.lenient import as_dict
from minikube_py.model.selectors import dns1123_label_errors, dns1123_subdomain_errors
from minikube_py.model.times import rfc3339
from minikube_py.model.validation import dns1035_label_errors

Obj = dict[str, Any]

GROUP = "apiextensions.k8s.io"
#: a plain field path (``.spec.replicas``), as scale subresource paths must be
_FIELD_PATH = re.compile(r"^(\.[A-Za-z0-9_-]+)+$")
#: the finalizer that holds a deleted CRD until all its objects are gone
CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
SCOPES = ("Namespaced", "Cluster")
_BUILTIN_GROUPS = frozenset(rt.group for rt in RESOURCES) | {
    "authentication.k8s.io",
    "authorization.k8s.io",
    "metrics.k8s.io",
}


def _spec_names(obj: Obj) -> Obj:
    return as_dict(as_dict(obj.get("spec")).get("names"))


def defaults(obj: Obj) -> None:
    """kube-apiserver's defaults: ``singular`` and ``listKind`` from ``kind``, a default conversion."""
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    names = spec.get("names")
    if isinstance(names, dict) and isinstance(names.get("kind"), str):
        names.setdefault("singular", names["kind"].lower())
        names.setdefault("listKind", names["kind"] + "List")
    conversion = spec.setdefault("conversion", {})
    if isinstance(conversion, dict):
        conversion.setdefault("strategy", "None")


def validate(obj: Obj) -> list[FieldError]:
    """Every problem with a CRD's spec (metadata is checked by the generic rules)."""
    spec = as_dict(obj.get("spec"))
    problems: list[FieldError] = []
    group = spec.get("group")
    names = _spec_names(obj)
    if not isinstance(group, str) or not group:
        problems.append(errors.required("spec.group"))
    else:
        if "." not in group:
            problems.append(errors.invalid_value("spec.group", group, "should be a domain with at least one dot"))
        problems += [errors.invalid_value("spec.group", group, m) for m in dns1123_subdomain_errors(group)]
        if group in _BUILTIN_GROUPS:
            problems.append(errors.invalid_value("spec.group", group, "is served by the API server itself"))
    name = as_dict(obj.get("metadata")).get("name", "")
    if isinstance(group, str) and isinstance(names.get("plural"), str) and name != f"{names['plural']}.{group}":
        problems.append(errors.invalid_value("metadata.name", name, 'must be spec.names.plural+"."+spec.group'))
    if spec.get("scope") not in SCOPES:
        problems.append(errors.not_supported("spec.scope", spec.get("scope") or "", list(SCOPES)))
    problems += _validate_names(names, "spec.names")
    problems += _validate_versions(spec.get("versions"))
    conversion = as_dict(spec.get("conversion"))
    if conversion.get("strategy", "None") != "None":
        problems.append(errors.not_supported("spec.conversion.strategy", conversion.get("strategy"), ["None"]))
    return problems


def validate_update(new: Obj, old: Obj) -> list[FieldError]:
    """The group and scope of a CRD are fixed, and every stored version must stay in spec: a spec
    update may not drop one, and a status update may not name one spec lacks (the stored status
    then failed every later update of the CRD with the same error). A spec update keeps the stored
    status, so the new object's stored versions are the ones to check either way."""
    problems: list[FieldError] = []
    new_spec, old_spec = as_dict(new.get("spec")), as_dict(old.get("spec"))
    for key in ("group", "scope"):
        if new_spec.get(key) != old_spec.get(key):
            problems.append(errors.invalid_value(f"spec.{key}", new_spec.get(key), "field is immutable"))
    declared = {v.get("name") for v in new_spec.get("versions") or () if isinstance(v, dict)}
    for i, stored in enumerate(as_dict(new.get("status")).get("storedVersions") or ()):
        if stored not in declared:
            problems.append(errors.invalid_value(f"status.storedVersions[{i}]", stored, "must appear in spec.versions"))
    return problems


def _validate_names(names: Obj, path: str) -> list[FieldError]:
    problems: list[FieldError] = []
    for key in ("plural", "singular"):
        value = names.get(key)
        if key == "plural" and not value:
            problems.append(errors.required(f"{path}.plural"))
        elif value:
            problems += [errors.invalid_value(f"{path}.{key}", value, m) for m in dns1123_label_errors(str(value))]
    for key in ("kind", "listKind"):
        value = names.get(key)
        if key == "kind" and not value:
            problems.append(errors.required(f"{path}.kind"))
        elif value:
            problems += [
                errors.invalid_value(f"{path}.{key}", value, f"may have mixed case, but should otherwise {m}")
                for m in dns1035_label_errors(str(value).lower())
            ]
    if names.get("kind") and names.get("kind") == names.get("listKind"):
        problems.append(
            errors.invalid_value(f"{path}.listKind", names["listKind"], "kind and listKind may not be the same")
        )
    for key in ("shortNames", "categories"):
        for i, value in enumerate(names.get(key) or ()):
            problems += [errors.invalid_value(f"{path}.{key}[{i}]", value, m) for m in dns1123_label_errors(str(value))]
    return problems


def _validate_versions(versions: Any) -> list[FieldError]:
    if not isinstance(versions, list) or not versions:
        return [errors.invalid_value("spec.versions", [], "must have exactly one version marked as storage version")]
    problems: list[FieldError] = []
    seen: set[str] = set()
    storage = 0
    for i, version in enumerate(versions):
        path = f"spec.versions[{i}]"
        version = as_dict(version)
        name = version.get("name")
        if not name:
            problems.append(errors.required(f"{path}.name"))
        else:
            problems += [errors.invalid_value(f"{path}.name", name, m) for m in dns1123_label_errors(str(name))]
            if name in seen:
                problems.append(errors.duplicate(f"{path}.name", name))
            seen.add(str(name))
        storage += bool(version.get("storage"))
        schema = as_dict(version.get("schema")).get("openAPIV3Schema")
        problems += crdschema.structural_problems(schema, f"{path}.schema.openAPIV3Schema")
        problems += crdrules.rule_problems(schema, f"{path}.schema.openAPIV3Schema")
        problems += _validate_subresources(as_dict(version.get("subresources")), f"{path}.subresources")
        for j, selectable in enumerate(version.get("selectableFields") or ()):
            field_path = as_dict(selectable).get("jsonPath")
            if not field_path or not str(field_path).startswith("."):
                problems.append(
                    errors.invalid_value(
                        f"{path}.selectableFields[{j}].jsonPath",
                        field_path or "",
                        "must be a simple field path starting with '.'",
                    )
                )
        for j, column in enumerate(version.get("additionalPrinterColumns") or ()):
            column = as_dict(column)
            for key in ("name", "type", "jsonPath"):
                if not column.get(key):
                    problems.append(errors.required(f"{path}.additionalPrinterColumns[{j}].{key}"))
    if storage != 1:
        problems.append(
            errors.invalid_value(
                "spec.versions",
                [v.get("name") for v in map(as_dict, versions)],
                "must have exactly one version marked as storage version",
            )
        )
    if not any(as_dict(v).get("served") for v in versions):
        problems.append(
            errors.invalid_value(
                "spec.versions",
                [v.get("name") for v in map(as_dict, versions)],
                "must have at least one version marked as served",
            )
        )
    return problems


def _validate_subresources(subresources: Obj, path: str) -> list[FieldError]:
    scale = subresources.get("scale")
    if scale is None:
        return []
    scale = as_dict(scale)
    problems: list[FieldError] = []
    for key, under in (("specReplicasPath", ".spec."), ("statusReplicasPath", ".status."), ("labelSelectorPath", "")):
        value = scale.get(key)
        if not value:
            if key != "labelSelectorPath":
                problems.append(errors.required(f"{path}.scale.{key}"))
        elif not _FIELD_PATH.match(str(value)) or not str(value).startswith(under):
            problems.append(
                errors.invalid_value(
                    f"{path}.scale.{key}",
                    value,
                    f"should be a json path under {under.rstrip('.') or '.spec or .status'}",
                )
            )
    return problems


# ------------------------------------------------------------------------------------- status


#: the names of a CRD that must be unique in its group, with the reason a clash is reported by
_UNIQUE_NAMES = (
    ("plural", "PluralConflict"),
    ("singular", "SingularConflict"),
    ("shortNames", "ShortNamesConflict"),
    ("kind", "KindConflict"),
    ("listKind", "ListKindConflict"),
)


def name_conflict(obj: Obj, others: list[Obj]) -> tuple[str, str] | None:
    """(reason, message) when a name of ``obj`` is already accepted for another CRD of its group,
    as kube-apiserver's naming controller reports it; None when its names are free."""
    group = as_dict(obj.get("spec")).get("group")
    names = _spec_names(obj)
    for other in others:
        if as_dict(other.get("spec")).get("group") != group or other["metadata"].get("name") == obj["metadata"].get(
            "name"
        ):
            continue
        taken = as_dict(as_dict(other.get("status")).get("acceptedNames"))
        used = {str(v) for key in ("plural", "singular") if taken.get(key) for v in [taken[key]]}
        used |= {str(v) for v in taken.get("shortNames") or ()}
        kinds_used = {str(taken[key]) for key in ("kind", "listKind") if taken.get(key)}
        for key, reason in _UNIQUE_NAMES:
            wanted = names.get(key)
            for value in wanted if isinstance(wanted, list) else [wanted] if wanted else []:
                if str(value) in (kinds_used if key in ("kind", "listKind") else used):
                    return reason, f'"{value}" is already in use'
    return None


def established(obj: Obj) -> bool:
    """Whether the CRD's names were accepted, so that its resource is served."""
    conditions = as_dict(obj.get("status")).get("conditions") or ()
    return any(as_dict(c).get("type") == "Established" and as_dict(c).get("status") == "True" for c in conditions)


def status(obj: Obj, old_status: Any, conflict: tuple[str, str] | None = None) -> Obj:
    """The status a CRD has once written: its names accepted and the CRD established (unless
    ``conflict`` says a name is taken), with ``storedVersions`` keeping every version ever stored (a
    condition keeps its transition time while it holds)."""
    spec = as_dict(obj.get("spec"))
    old = as_dict(old_status)
    stored = list(old.get("storedVersions") or [])
    for version in spec.get("versions") or ():
        if isinstance(version, dict) and version.get("storage") and version.get("name") not in stored:
            stored.append(version["name"])
    old_conditions = {c.get("type"): c for c in old.get("conditions") or () if isinstance(c, dict)}
    now = rfc3339()

    def condition(kind: str, holds: bool, reason: str, message: str) -> Obj:
        state = "True" if holds else "False"
        previous = old_conditions.get(kind)
        since = previous.get("lastTransitionTime") if previous and previous.get("status") == state else now
        return {"type": kind, "status": state, "lastTransitionTime": since, "reason": reason, "message": message}

    if conflict is not None:
        return {
            "acceptedNames": as_dict(old.get("acceptedNames")) or {"plural": "", "kind": ""},
            "conditions": [
                condition("NamesAccepted", False, *conflict),
                condition("Established", False, "NotAccepted", "not all names are accepted"),
            ],
            "storedVersions": stored,
        }
    names = {key: value for key, value in _spec_names(obj).items() if value}
    return {
        "acceptedNames": names,
        "conditions": [
            condition("NamesAccepted", True, "NoConflicts", "no conflicts found"),
            condition("Established", True, "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "storedVersions": stored,
    }


def terminating(obj: Obj) -> bool:
    return bool(as_dict(obj.get("metadata")).get("deletionTimestamp"))


# ------------------------------------------------------------------------------------- serving


def _deprecation(spec: Obj, names: Obj, version: Obj) -> str:
    """The warning of a deprecated version: its own ``deprecationWarning``, else Kubernetes' default."""
    if not version.get("deprecated"):
        return ""
    return str(
        version.get("deprecationWarning")
        or f"{spec.get('group')}/{version.get('name')} {names.get('kind')} is deprecated"
    )


def resource_types(obj: Obj) -> tuple[ResourceType, ...]:
    """The resource types a stored CRD serves: one per served version once it is established (still
    while it terminates, so that its objects can be deleted and their finalizers removed)."""
    if not established(obj):
        return ()
    spec = as_dict(obj.get("spec"))
    names = _spec_names(obj)
    name = as_dict(obj.get("metadata")).get("name", "")
    types = []
    for version in spec.get("versions") or ():
        version = as_dict(version)
        if not version.get("served"):
            continue
        subresources = as_dict(version.get("subresources"))
        served_subresources = {}
        if "status" in subresources:
            served_subresources["status"] = ""
        if "scale" in subresources:
            served_subresources["scale"] = "Scale"
        scale = as_dict(subresources.get("scale")) if "scale" in subresources else None
        custom = CustomResource(
            crd=name,
            schema=as_dict(as_dict(version.get("schema")).get("openAPIV3Schema")),
            columns=tuple(as_dict(c) for c in version.get("additionalPrinterColumns") or ()),
            scale={k: str(v) for k, v in scale.items()} if scale is not None else None,
            list_kind=str(names.get("listKind") or f"{names.get('kind', '')}List"),
            terminating=terminating(obj),
            selectable=tuple(str(as_dict(f).get("jsonPath", "")) for f in version.get("selectableFields") or ()),
            deprecation=_deprecation(spec, names, version),
        )
        types.append(
            ResourceType(
                str(spec.get("group", "")),
                str(version.get("name", "")),
                str(names.get("kind", "")),
                str(names.get("plural", "")),
                str(names.get("singular") or str(names.get("kind", "")).lower()),
                spec.get("scope") == "Namespaced",
                tuple(names.get("shortNames") or ()),
                tuple(names.get("categories") or ()),
                served_subresources,
                custom=custom,
            )
        )
    return tuple(types)
