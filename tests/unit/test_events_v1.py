"""events.k8s.io/v1 Events as the stored core Events and back (model/eventsv1.py)."""

from __future__ import annotations

from minikube_py.model.eventsv1 import from_core, to_core
from minikube_py.model.kinds import by_plural, stored_version

CORE = {
    "apiVersion": "v1",
    "kind": "Event",
    "metadata": {"name": "web.1", "namespace": "default"},
    "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"},
    "reason": "Started",
    "message": "Started container c",
    "type": "Normal",
    "source": {"component": "kubelet", "host": "n1"},
    "firstTimestamp": "2026-12-07T00:00:00Z",
    "lastTimestamp": "2026-12-07T00:01:00Z",
    "count": 2,
    "eventTime": None,
    "reportingComponent": "kubelet",
    "reportingInstance": "n1",
}


def test_the_newer_group_renames_and_round_trips() -> None:
    newer = from_core(CORE)
    assert newer["apiVersion"] == "events.k8s.io/v1" and newer["regarding"] == CORE["involvedObject"]
    assert (newer["note"], newer["reportingController"], newer["deprecatedCount"]) == (
        "Started container c",
        "kubelet",
        2,
    )
    assert newer["deprecatedSource"] == {"component": "kubelet", "host": "n1"} and "message" not in newer
    assert to_core(newer) == CORE
    assert CORE["apiVersion"] == "v1" and "note" not in CORE  # the argument is left alone


def test_events_k8s_io_is_stored_as_the_core_events() -> None:
    served = by_plural("events.k8s.io", "v1", "events")
    core = by_plural("", "v1", "events")
    assert served is not None and core is not None and stored_version(served) is core
    assert served.key("default", "x") == core.key("default", "x") == "/core/events/default/x"
    assert served.prefix("default") == core.prefix("default")
