"""Custom resources, and the CustomResourceDefinitions that define them.

A custom resource's strategy is made from its CRD's version (:class:`~minikube_py.model.kinds.CustomResource`)
rather than declared: unknown fields are pruned and defaults applied by the structural schema, which
then validates the object; patches merge as JSON merge patches (a strategic merge patch is refused
with 415, as kube-apiserver has no Go type to read merge keys from); printer columns come from
``additionalPrinterColumns``; the ``scale`` subresource reads and writes the CRD's paths.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from minikube_py.api import shape
from minikube_py.api.body import media_type
from minikube_py.api.patch import APPLY_PATCH, JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, mergekeys, patch_object
from minikube_py.api.strategies.base import Allocators, Strategy
from minikube_py.api.tables.base import AGE, NAME, Column, Printer, obj_name
from minikube_py.api.tables.table import DEFAULT
from minikube_py.model import crdrules, crds, crdschema, errors, fields, jsonpath
from minikube_py.model.errors import FieldError
from minikube_py.model.kindrules import KindRules
from minikube_py.model.kinds import CustomResource, ResourceType, by_plural
from minikube_py.model.schema import unknown_metadata_fields
from minikube_py.model.selectors import label_selector_from_spec
from minikube_py.model.times import since
from minikube_py.store.base import Obj, Op

#: what a PATCH of a custom resource may be (no strategic merge: no Go type to read merge keys from)
CUSTOM_PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, APPLY_PATCH)


@dataclass(frozen=True, eq=False)
class CustomStrategy(Strategy):
    """The strategy of one served version of a CRD; ``rt`` is that resource type."""

    rt: ResourceType | None = None

    @property
    def custom(self) -> CustomResource:
        assert self.rt is not None and self.rt.custom is not None
        return self.rt.custom

    @cached_property
    def rules(self) -> KindRules:  # type: ignore[override]
        """Generic rules (metadata only, ``metadata.name``/``namespace`` selectable), whatever
        built-in kind shares the custom kind's name."""
        assert self.rt is not None
        selectable = fields.field_paths(*(path.lstrip(".") for path in self.custom.selectable))
        return KindRules(self.kind, namespaced=self.rt.namespaced, fields=selectable)

    def drop_unknown(self, obj: Obj) -> list[str]:
        return [*unknown_metadata_fields(obj), *crdschema.prune(self.custom.schema, obj)]

    @cached_property
    def _defaults_anything(self) -> bool:
        return crdschema.has_defaults(self.custom.schema)

    def read(self, obj: Obj) -> Obj:
        if not self._defaults_anything:
            return obj  # nothing to fill in: no copy
        defaulted = copy.deepcopy(obj)
        crdschema.apply_defaults(self.custom.schema, defaulted)
        return defaulted

    def patch(self, content_type: str, obj: Obj, body: bytes) -> Obj:
        if media_type(content_type) == STRATEGIC_MERGE_PATCH:
            raise errors.StatusError(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types "
                f"include: {', '.join(CUSTOM_PATCH_TYPES)}",
            )
        return patch_object(content_type, obj, body, None)

    # ------------------------------------------------------------------------------ writes

    def reset_status(self, obj: Obj) -> None:
        obj.pop("status", None)

    def prepare_for_create(self, obj: Obj) -> None:
        if self.custom.terminating:
            raise errors.StatusError(
                405, "MethodNotAllowed", "create not allowed while custom resource definition is terminating"
            )
        crdschema.prune(self.custom.schema, obj)
        obj["metadata"]["generation"] = 1

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        crdschema.prune(self.custom.schema, new)
        skipped = ("metadata", "status") if self.rt is not None and self.rt.has_status else ("metadata",)
        if any(new.get(key) != old.get(key) for key in {*new, *old} if key not in (*skipped, "apiVersion", "kind")):
            new["metadata"]["generation"] = int(old["metadata"].get("generation") or 1) + 1

    def default(self, obj: Obj) -> None:
        crdschema.apply_defaults(self.custom.schema, obj)

    @cached_property
    def _has_rules(self) -> bool:
        return crdrules.has_rules(self.custom.schema)

    def validate(self, obj: Obj, old: Obj | None = None) -> list[FieldError]:
        problems = [*self.rules.validate(obj, old), *crdschema.validate(self.custom.schema, obj)]
        if self._has_rules and not problems:  # rules see only objects their schema accepts
            problems += crdrules.validate(self.custom.schema, obj, old)
        return problems

    # ------------------------------------------------------------------------------ scale

    def scale_view(self, obj: Obj) -> tuple[int, int, str]:
        paths = self.custom.scale or {}
        spec = jsonpath.get_path(obj, paths.get("specReplicasPath", ".spec.replicas"))
        status = jsonpath.get_path(obj, paths.get("statusReplicasPath", ".status.replicas"))
        selector = jsonpath.get_path(obj, paths["labelSelectorPath"]) if paths.get("labelSelectorPath") else None
        if isinstance(selector, dict):
            selector = str(label_selector_from_spec(selector))
        return _count(spec), _count(status), selector if isinstance(selector, str) else ""

    def set_replicas(self, obj: Obj, replicas: int) -> None:
        jsonpath.set_path(obj, (self.custom.scale or {}).get("specReplicasPath", ".spec.replicas"), replicas)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


# ------------------------------------------------------------------------------ printing


def custom_printer(columns: tuple[dict[str, Any], ...]) -> Printer:
    """NAME then the CRD's ``additionalPrinterColumns``; NAME and AGE when it declares none."""
    if not columns:
        return DEFAULT
    definitions = tuple(
        Column(
            str(c.get("name", "")),
            str(c.get("description", "")),
            str(c.get("type", "string")),
            str(c.get("format", "")),
            int(c.get("priority") or 0),
        )
        for c in columns
    )

    def cells(obj: Obj, now: datetime) -> list[Any]:
        return [obj_name(obj), *(_cell(obj, column, now) for column in columns)]

    return Printer((NAME, *definitions), cells)


def _cell(obj: Obj, column: dict[str, Any], now: datetime) -> Any:
    try:
        found = jsonpath.find(obj, str(column.get("jsonPath", "")))
    except jsonpath.PathError:
        return None
    if not found:
        return None
    value = found[0] if len(found) == 1 else found
    if column.get("type") == "date" and isinstance(value, str):
        return since(value, now)
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return value


_STRATEGIES: dict[tuple[str, str, str], tuple[ResourceType, CustomStrategy]] = {}


def custom_strategy(rt: ResourceType) -> CustomStrategy:
    """The strategy of a served custom resource type, made once per version of its CRD."""
    key = (rt.group, rt.version, rt.plural)
    cached = _STRATEGIES.get(key)
    if cached is not None and cached[0] is rt:
        return cached[1]
    assert rt.custom is not None
    strategy = CustomStrategy(rt.kind, printer=custom_printer(rt.custom.columns), rt=rt)
    _STRATEGIES[key] = (rt, strategy)
    return strategy


# ------------------------------------------------------------------------------ the CRDs themselves


class DefinitionStrategy(Strategy):
    """CustomResourceDefinitions: status is computed on every write from the spec and the other
    CRDs of its group (names accepted unless another holds one, established, stored versions), and
    a new CRD carries the cleanup finalizer that holds its deletion until its objects are gone."""

    def prepare_for_create(self, obj: Obj) -> None:
        finalizers = obj["metadata"].setdefault("finalizers", [])
        if crds.CLEANUP_FINALIZER not in finalizers:
            finalizers.append(crds.CLEANUP_FINALIZER)

    async def admit(self, obj: Obj, old: Obj | None, allocators: Allocators) -> tuple[list[Op], list[FieldError]]:
        assert _DEFINITIONS is not None
        listing = await allocators.store.list(_DEFINITIONS.prefix())
        obj["status"] = crds.status(obj, obj.get("status"), crds.name_conflict(obj, listing.items))
        return [], []


_DEFINITIONS = by_plural(crds.GROUP, "v1", "customresourcedefinitions")
CREATED_AT = Column("Created At", AGE.description, "date")
DEFINITION = DefinitionStrategy(
    "CustomResourceDefinition",
    merge_rules=mergekeys.CUSTOM_RESOURCE_DEFINITION,
    printer=Printer((NAME, CREATED_AT), lambda obj, now: [obj_name(obj), obj["metadata"].get("creationTimestamp")]),
    shape=shape.CUSTOM_RESOURCE_DEFINITION,
)
