"""``meta.k8s.io/v1 Table`` responses: what kube-apiserver answers to ``Accept: ...;as=Table``.

kubectl asks for Tables on every ``get`` and prints the cells verbatim, so all human formatting
(ages, statuses, port lists) happens here on the server. Each row carries the object too, as
``includeObject`` asks: kubectl needs the metadata for ``-A``, ``--show-labels`` and ``-L``, and
the whole object for ``--sort-by``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from minikube_py.api.tables.base import NAME, Column, Printer, age, obj_name
from minikube_py.model.errors import bad_request
from minikube_py.model.kinds import ResourceType

TABLE_API_VERSION = "meta.k8s.io/v1"
INCLUDE_OBJECT = ("None", "Metadata", "Object")

#: kinds without a printer get the columns of a CustomResourceDefinition without printer columns
DEFAULT = Printer(
    (
        NAME,
        Column(
            "Age", "CreationTimestamp is a timestamp representing the server time when this object was created.", "date"
        ),
    ),
    lambda obj, now: [obj_name(obj), age(obj, now)],
)


def printer_for(rt: ResourceType) -> Printer:
    """The printer of ``rt``'s strategy (:data:`DEFAULT` for a kind without one)."""
    # imported here: the strategies are made of this package's printers
    from minikube_py.api.strategies import strategy_for

    return strategy_for(rt).printer


def column_definitions(rt: ResourceType) -> list[dict[str, Any]]:
    """The ``columnDefinitions`` of ``rt``'s tables (watch streams send them once)."""
    return [column.definition() for column in printer_for(rt).columns]


def _row_object(rt: ResourceType, obj: dict[str, Any], include_object: str) -> dict[str, Any] | None:
    if include_object == "Object":
        # kubectl (--sort-by) decodes the row object by its kind: without one it prints "NAME AGE"
        if "kind" in obj and "apiVersion" in obj:
            return obj
        return {"apiVersion": rt.api_version, "kind": rt.kind, **obj}
    if include_object == "Metadata":
        return {"kind": "PartialObjectMetadata", "apiVersion": TABLE_API_VERSION, "metadata": obj.get("metadata") or {}}
    return None


def _check_include_object(include_object: str) -> str:
    """The ``includeObject`` value, ``Metadata`` when empty; a 400 for anything unknown."""
    if not include_object:
        return "Metadata"
    if include_object not in INCLUDE_OBJECT:
        raise bad_request(f'unrecognized includeObject value: "{include_object}"')
    return include_object


def table_row(
    rt: ResourceType,
    obj: dict[str, Any],
    *,
    include_object: str = "Metadata",
    now: datetime | None = None,
    printer: Printer | None = None,
) -> dict[str, Any]:
    """One ``TableRow``: the cells, the row conditions if any, and the object as asked. The kind's
    printer (``printer``, for a resource that has no strategy) reads the stored version's fields
    (kube-apiserver prints the internal object), so a version served by conversion prints alike."""
    printer = printer or printer_for(rt)
    printed = obj if rt.conversion is None else rt.conversion.to_stored(obj)
    row: dict[str, Any] = {"cells": printer.cells(printed, now or datetime.now(UTC))}
    conditions = printer.conditions(printed) if printer.conditions else []
    if conditions:
        row["conditions"] = conditions
    included = _row_object(rt, obj, _check_include_object(include_object))
    if included is not None:
        row["object"] = included
    return row


def render_table(
    rt: ResourceType,
    objects: list[dict[str, Any]],
    *,
    include_object: str = "Metadata",
    now: datetime | None = None,
    list_meta: dict[str, Any] | None = None,
    printer: Printer | None = None,
) -> dict[str, Any]:
    """A whole Table for a list (or a single ``get``); ``list_meta`` carries resourceVersion/continue.
    ``printer`` prints a resource that is computed rather than stored, which has no strategy.

    All rows share one ``now`` so that ages in one answer are consistent.
    """
    include_object = _check_include_object(include_object)
    now = now or datetime.now(UTC)
    printer = printer or printer_for(rt)
    if printer.order is not None:
        objects = sorted(objects, key=printer.order)
    return {
        "kind": "Table",
        "apiVersion": TABLE_API_VERSION,
        "metadata": list_meta or {},
        "columnDefinitions": [column.definition() for column in printer.columns],
        "rows": [table_row(rt, obj, include_object=include_object, now=now, printer=printer) for obj in objects],
    }
