"""ComponentStatus objects, their selection and their table cells (kube-apiserver's rest.go and printer)."""

from __future__ import annotations

from minikube_py.api.componentstatus import datastore_check, part_check
from minikube_py.api.tables.core import COMPONENT_STATUS
from minikube_py.guard import Health
from minikube_py.model import componentstatus as cs
from minikube_py.model.selectors import parse_field_selector, parse_label_selector
from minikube_py.store.base import Unavailable


def test_a_status_has_one_healthy_condition_and_only_its_name() -> None:
    assert cs.component_status("scheduler", cs.Probe(True, "ok")) == {
        "kind": "ComponentStatus",
        "apiVersion": "v1",
        "metadata": {"name": "scheduler", "creationTimestamp": None},
        "conditions": [{"type": "Healthy", "status": "True", "message": "ok"}],
    }
    failed = cs.component_status("etcd-0", cs.Probe(False, error="error getting data: locked"))
    assert failed["conditions"] == [{"type": "Healthy", "status": "False", "error": "error getting data: locked"}]
    unknown = cs.component_status("etcd-0", cs.Probe(None))
    assert unknown["conditions"] == [{"type": "Healthy", "status": "Unknown"}]
    assert cs.component_list([failed]) == {
        "kind": "ComponentStatusList",
        "apiVersion": "v1",
        "metadata": {},
        "items": [failed],
    }


def test_cells_say_healthy_only_for_a_true_condition() -> None:
    ok = cs.component_status("scheduler", cs.Probe(True, "ok"))
    assert COMPONENT_STATUS.cells(ok, None) == ["scheduler", "Healthy", "ok", ""]  # type: ignore[arg-type]
    crashed = cs.component_status("controller-manager", cs.Probe(False, "crashed"))
    assert cs.status_cells(crashed) == ["controller-manager", "Unhealthy", "crashed", ""]
    assert cs.status_cells(cs.component_status("etcd-0", cs.Probe(None, error="timeout"))) == [
        "etcd-0",
        "Unhealthy",
        "",
        "timeout",
    ]
    assert cs.status_cells({"metadata": {"name": "x"}}) == ["x", "Unknown", "", ""]
    assert [c.name for c in COMPONENT_STATUS.columns] == ["Name", "Status", "Message", "Error"]


def test_selectors_choose_by_name_and_no_label_matches() -> None:
    items = [cs.component_status(name, cs.Probe(True, "ok")) for name in ("scheduler", "controller-manager", "etcd-0")]
    by_name = cs.selected(items, None, parse_field_selector("metadata.name=etcd-0"))
    assert [i["metadata"]["name"] for i in by_name] == ["etcd-0"]
    assert len(cs.selected(items, None, parse_field_selector("metadata.namespace="))) == 3
    assert cs.selected(items, parse_label_selector("tier=control-plane"), None) == []
    assert len(cs.selected(items, parse_label_selector("!tier"), None)) == 3


def test_only_metadata_fields_may_be_selected() -> None:
    assert cs.unknown_field_message(parse_field_selector("metadata.name=x,metadata.namespace=")) is None
    assert cs.unknown_field_message(parse_field_selector("status=x")) == (
        '"status" is not a known field selector: only "metadata.name", "metadata.namespace"'
    )


class _Store:
    """A datastore whose check fails with ``error`` (answers when None)."""

    def __init__(self, error: Exception | None) -> None:
        self.error = error

    async def check(self) -> None:
        if self.error is not None:
            raise self.error


async def test_the_datastore_check_reports_its_error_and_a_part_its_problem() -> None:
    assert await datastore_check(_Store(None))() == cs.Probe(True, "ok")  # type: ignore[arg-type]
    down = await datastore_check(_Store(Unavailable("connection refused")))()  # type: ignore[arg-type]
    assert down == cs.Probe(False, error="the datastore is unavailable: connection refused")
    health = Health()
    assert await part_check(health)() == cs.Probe(True, "ok")
    health.problem = "controller manager crashed: OSError; restarting in 4 s"
    assert await part_check(health)() == cs.Probe(False, health.problem)
