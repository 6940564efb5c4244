"""Ownership rules: Update and Apply entries, conflicts, forcing, pruning, the client-side apply upgrade."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from minikube_py.api.patch import managed
from minikube_py.api.patch.fieldsets import FieldSet, Structure, applied_fields, remove_fields
from minikube_py.api.patch.managed import APPLY, UPDATE, FieldManager, Writer
from minikube_py.model.errors import StatusError

CM = Structure.of("ConfigMap")
NOW, LATER = "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"


def cm(**data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data}


def writer(name: str, operation: str = APPLY, force: bool = False, subresource: str = "") -> Writer:
    return Writer(FieldManager(name, force), operation, "v1", subresource)


def data(*keys: str) -> FieldSet:
    return FieldSet({"f:data": {f"f:{k}": {} for k in keys}})


def owners(entries: list[managed.Entry]) -> dict[str, FieldSet]:
    return {e.manager: e.fields for e in entries}


def apply(
    entries: list[managed.Entry], live: dict[str, Any], config: dict[str, Any], who: Writer
) -> tuple[dict[str, Any], list[managed.Entry]]:
    """What the registry does for an apply: merge, prune, record."""
    applied = applied_fields(config, CM)
    new = copy.deepcopy(live)
    new.setdefault("data", {}).update(config.get("data", {}))
    remove_fields(new, managed.prune_for_apply(entries, applied, who), CM)
    return new, managed.record_apply(entries, live, new, applied, who, CM, LATER)


def test_update_takes_changed_fields_from_others() -> None:
    created = managed.record_update([], {}, cm(a="1", b="2"), writer("maker", UPDATE), CM, NOW)
    assert owners(created) == {"maker": data("a", "b")}
    updated = managed.record_update(
        created, cm(a="1", b="2"), cm(a="9", b="2", c="3"), writer("editor", UPDATE), CM, LATER
    )
    assert owners(updated) == {"maker": data("b"), "editor": data("a", "c")}
    assert next(e for e in updated if e.manager == "editor").time == LATER


def test_removed_fields_leave_every_owner_and_empty_entries_go() -> None:
    created = managed.record_update([], {}, cm(a="1"), writer("maker", UPDATE), CM, NOW)
    updated = managed.record_update(created, cm(a="1"), {**cm(), "data": {}}, writer("editor", UPDATE), CM, LATER)
    assert updated == []


def test_no_change_keeps_entries_as_they_were() -> None:
    created = managed.record_update([], {}, cm(a="1"), writer("maker", UPDATE), CM, NOW)
    assert managed.record_update(created, cm(a="1"), cm(a="1"), writer("other", UPDATE), CM, LATER) is created


def test_apply_conflicts_with_an_owner_of_a_different_value() -> None:
    entries = managed.record_update([], {}, cm(a="1"), writer("kubectl-edit", UPDATE), CM, NOW)
    with pytest.raises(StatusError) as caught:
        apply(entries, cm(a="1"), cm(a="2"), writer("ci"))
    err = caught.value
    assert (err.code, err.reason) == (409, "Conflict")
    assert err.message == 'Apply failed with 1 conflict: conflict with "kubectl-edit" using v1: .data.a'
    assert err.details == {
        "causes": [
            {"reason": "FieldManagerConflict", "field": ".data.a", "message": 'conflict with "kubectl-edit" using v1'}
        ]
    }


def test_several_conflicts_are_grouped_by_manager() -> None:
    entries = managed.record_update([], {}, cm(a="1", b="1"), writer("x", UPDATE), CM, NOW)
    entries += [managed.Entry("y", APPLY, "v1", NOW, data("c"))]
    with pytest.raises(StatusError) as caught:
        apply(entries, cm(a="1", b="1", c="1"), cm(a="2", b="2", c="2"), writer("ci"))
    assert caught.value.message == (
        'Apply failed with 3 conflicts: conflicts with "x" using v1:\n- .data.a\n'
        '- .data.b\nconflicts with "y":\n- .data.c'
    )


def test_forced_apply_takes_the_field_over() -> None:
    entries = managed.record_update([], {}, cm(a="1", b="1"), writer("editor", UPDATE), CM, NOW)
    new, after = apply(entries, cm(a="1", b="1"), cm(a="2"), writer("ci", force=True))
    assert new["data"] == {"a": "2", "b": "1"}
    assert owners(after) == {"editor": data("b"), "ci": data("a")}
    assert next(e for e in after if e.manager == "ci").operation == APPLY


def test_same_value_is_shared() -> None:
    entries = managed.record_update([], {}, cm(a="1"), writer("editor", UPDATE), CM, NOW)
    _, after = apply(entries, cm(a="1"), cm(a="1"), writer("ci"))
    assert owners(after) == {"editor": data("a"), "ci": data("a")}


def test_fields_dropped_from_the_configuration_are_removed_unless_owned_elsewhere() -> None:
    live, entries = apply([], {**cm(), "data": {}}, cm(a="1", b="2", c="3"), writer("ci"))
    entries = managed.record_update(entries, live, cm(a="1", b="2", c="x"), writer("editor", UPDATE), CM, NOW)
    live = cm(a="1", b="2", c="x")
    new, after = apply(entries, live, cm(a="1"), writer("ci"))
    assert new["data"] == {"a": "1", "c": "x"}
    assert owners(after) == {"ci": data("a"), "editor": data("c")}


def test_entries_round_trip_in_kubernetes_order() -> None:
    entries = [
        managed.Entry("b", UPDATE, "v1", NOW, data("x"), "status"),
        managed.Entry("a", APPLY, "v1", LATER, data("y")),
    ]
    encoded = managed.encode(entries)
    assert [e["manager"] for e in encoded] == ["a", "b"]
    assert encoded[1] == {
        "manager": "b",
        "operation": "Update",
        "apiVersion": "v1",
        "time": NOW,
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:data": {"f:x": {}}},
        "subresource": "status",
    }
    assert managed.decode(encoded) == sorted(entries, key=lambda e: e.operation)


def test_base_entries_reset_keep_or_take_well_formed_ones() -> None:
    stored = managed.encode([managed.Entry("a", APPLY, "v1", NOW, data("x"))])
    sent = managed.encode([managed.Entry("b", APPLY, "v1", NOW, data("x"))])
    assert managed.base_entries([], stored, from_subresource=False) == []
    assert managed.base_entries([{}], stored, from_subresource=False) == []
    assert [e.manager for e in managed.base_entries(None, stored, from_subresource=False)] == ["a"]
    assert [e.manager for e in managed.base_entries([{"manager": 1}], stored, from_subresource=False)] == ["a"]
    assert [
        e.manager
        for e in managed.base_entries(
            [{"manager": "z", "operation": "Apply", "fieldsV1": {"x": {}}}], stored, from_subresource=False
        )
    ] == ["a"]
    assert [e.manager for e in managed.base_entries(sent, stored, from_subresource=False)] == ["b"]
    assert [e.manager for e in managed.base_entries(sent, stored, from_subresource=True)] == ["a"]


def test_kubectl_takes_over_fields_client_side_apply_set_as_last_applied() -> None:
    last = json.dumps(cm(a="1", b="2"))
    live = cm(a="1", b="2")
    live["metadata"]["annotations"] = {managed.LAST_APPLIED: last}
    entries = managed.record_update([], {}, live, writer("kubectl-client-side-apply", UPDATE), CM, NOW)
    _, after = apply(entries, live, cm(a="9"), writer("kubectl"))
    assert owners(after)["kubectl"] == data("a")
    with pytest.raises(StatusError):  # another manager gets no such pass
        apply(entries, live, cm(a="9"), writer("ci"))
    live["data"]["a"] = "changed-since"  # no longer what the annotation says: a real conflict
    with pytest.raises(StatusError, match="conflict"):
        apply(entries, live, cm(a="9"), writer("kubectl"))


def test_kubectl_apply_rewrites_an_existing_last_applied_annotation() -> None:
    live = cm(a="1")
    assert managed.last_applied_update(live, cm(a="2"), writer("kubectl")) is None
    live["metadata"]["annotations"] = {managed.LAST_APPLIED: "{}"}
    value = managed.last_applied_update(live, cm(a="2"), writer("kubectl"))
    assert value is not None and json.loads(value) == cm(a="2")
    assert managed.last_applied_update(live, cm(a="2"), writer("other")) is None
