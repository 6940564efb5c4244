"""What the Endpoints and EndpointSlice controllers write for a Service and its pods."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from minikube_py.model.endpoints import (
    HEADLESS_LABEL,
    LAST_CHANGE_TRIGGER_TIME,
    MANAGED_BY_LABEL,
    SERVICE_NAME_LABEL,
    SLICE_CONTROLLER,
    TriggerTimeTracker,
    endpoints_subsets,
    endpoints_to_write,
    find_port,
    in_endpoints,
    plan_slices,
    pod_relevant_state,
    selects_pods,
    service_matches,
)
from minikube_py.model.times import rfc3339_nano

Obj = dict[str, Any]


def service(ports: list[Obj] | None = None, *, selector: dict[str, str] | None = None, **spec: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "web",
            "namespace": "ns",
            "uid": "svc-uid",
            "labels": {"team": "a"},
            "creationTimestamp": "2024-05-01T12:00:00Z",
        },
        "spec": {
            "selector": {"app": "web"} if selector is None else selector,
            "ports": ports
            if ports is not None
            else [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}],
            **spec,
        },
    }


def pod(
    name: str,
    ip: str | None,
    *,
    ready: bool = True,
    node: str = "n1",
    ports: list[Obj] | None = None,
    deleting: bool = False,
    phase: str = "Running",
    ready_at: str = "2024-05-01T12:00:05Z",
    **spec: Any,
) -> Obj:
    md: Obj = {"name": name, "namespace": "ns", "uid": f"uid-{name}", "labels": {"app": "web"}}
    if deleting:
        md["deletionTimestamp"] = "2024-05-01T12:01:00Z"
    status: Obj = {
        "phase": phase,
        "conditions": [{"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": ready_at}],
    }
    if ip:
        status["podIP"] = ip
    return {
        "metadata": md,
        "status": status,
        "spec": {"nodeName": node, "containers": [{"name": "c", "ports": ports or []}], **spec},
    }


def ref(name: str) -> Obj:
    return {"kind": "Pod", "namespace": "ns", "name": name, "uid": f"uid-{name}"}


def addr(name: str, ip: str, node: str = "n1") -> Obj:
    return {"ip": ip, "nodeName": node, "targetRef": ref(name)}


# ------------------------------------------------------------------------------ which services and pods


def test_only_services_with_a_selector_are_managed() -> None:
    assert selects_pods(service())
    assert not selects_pods({"metadata": {}, "spec": {"ports": []}})  # user-managed endpoints, or `kubernetes`
    assert not selects_pods(service(type="ExternalName"))
    assert selects_pods(service(selector={}))  # empty selector: every pod, as in Kubernetes
    assert service_matches(service(selector={}), {"any": "thing"})
    assert not service_matches(service(), {"app": "db"})
    assert not service_matches(service(), None)


def test_pods_without_ip_or_finished_for_good_are_left_out() -> None:
    assert not in_endpoints(pod("a", None), include_terminating=True)
    assert not in_endpoints(pod("a", "10.0.0.1", deleting=True), include_terminating=False)
    assert in_endpoints(pod("a", "10.0.0.1", deleting=True), include_terminating=True)
    assert not in_endpoints(pod("a", "10.0.0.1", phase="Succeeded", restartPolicy="Never"), include_terminating=True)
    assert not in_endpoints(pod("a", "10.0.0.1", phase="Failed", restartPolicy="Never"), include_terminating=True)
    assert in_endpoints(pod("a", "10.0.0.1", phase="Failed", restartPolicy="OnFailure"), include_terminating=True)
    assert in_endpoints(pod("a", "10.0.0.1", phase="Failed"), include_terminating=True)  # Always restarts


def test_named_target_port_is_looked_up_per_pod_and_protocol() -> None:
    sp = {"name": "http", "port": 80, "protocol": "TCP", "targetPort": "web"}
    assert find_port(pod("a", "10.0.0.1", ports=[{"name": "web", "containerPort": 8080}]), sp) == 8080
    assert (
        find_port(pod("b", "10.0.0.2", ports=[{"name": "web", "containerPort": 9090, "protocol": "TCP"}]), sp) == 9090
    )
    assert find_port(pod("c", "10.0.0.3", ports=[{"name": "web", "containerPort": 53, "protocol": "UDP"}]), sp) is None
    assert find_port(pod("d", "10.0.0.4"), sp) is None
    assert find_port(pod("d", "10.0.0.4"), {"port": 80, "targetPort": 3000}) == 3000
    sidecar = pod(
        "e",
        "10.0.0.5",
        initContainers=[{"name": "s", "restartPolicy": "Always", "ports": [{"name": "web", "containerPort": 7070}]}],
    )
    assert find_port(sidecar, sp) == 7070


# ------------------------------------------------------------------------------ Endpoints subsets


def test_ready_and_not_ready_pods_share_one_subset() -> None:
    pods = [pod("b", "10.0.0.12"), pod("a", "10.0.0.9", node="n2"), pod("c", "10.0.0.3", ready=False)]
    assert endpoints_subsets(service(), pods) == [
        {
            "addresses": [addr("a", "10.0.0.9", "n2"), addr("b", "10.0.0.12")],  # numeric IP order
            "notReadyAddresses": [addr("c", "10.0.0.3")],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        }
    ]


def test_several_ports_offered_by_every_pod_share_one_subset() -> None:
    svc = service(
        [
            {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 8443},
            {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080, "appProtocol": "http"},
        ]
    )
    assert endpoints_subsets(svc, [pod("a", "10.0.0.1"), pod("b", "10.0.0.2")]) == [
        {
            "addresses": [addr("a", "10.0.0.1"), addr("b", "10.0.0.2")],
            "ports": [
                {"name": "http", "port": 8080, "protocol": "TCP", "appProtocol": "http"},
                {"name": "https", "port": 8443, "protocol": "TCP"},
            ],
        }
    ]


def test_named_port_with_different_numbers_splits_subsets() -> None:
    svc = service([{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "web"}])
    pods = [
        pod("a", "10.0.0.1", ports=[{"name": "web", "containerPort": 8080}]),
        pod("b", "10.0.0.2", ports=[{"name": "web", "containerPort": 9090}]),
        pod("c", "10.0.0.3", ports=[{"name": "web", "containerPort": 8080}]),
        pod("d", "10.0.0.4", ports=[{"name": "other", "containerPort": 8080}]),
    ]  # offers nothing
    assert endpoints_subsets(svc, pods) == [
        {
            "addresses": [addr("a", "10.0.0.1"), addr("c", "10.0.0.3")],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        },
        {"addresses": [addr("b", "10.0.0.2")], "ports": [{"name": "http", "port": 9090, "protocol": "TCP"}]},
    ]


def test_ports_are_grouped_by_the_addresses_offering_them() -> None:
    """RepackSubsets: a port offered by a and b, another only by a: two subsets, a in both."""
    svc = service(
        [
            {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080},
            {"name": "admin", "port": 81, "protocol": "TCP", "targetPort": "admin"},
        ]
    )
    pods = [pod("a", "10.0.0.1", ports=[{"name": "admin", "containerPort": 9000}]), pod("b", "10.0.0.2")]
    assert endpoints_subsets(svc, pods) == [
        {"addresses": [addr("a", "10.0.0.1")], "ports": [{"name": "admin", "port": 9000, "protocol": "TCP"}]},
        {
            "addresses": [addr("a", "10.0.0.1"), addr("b", "10.0.0.2")],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        },
    ]


def test_terminating_pods_leave_unless_not_ready_addresses_are_published() -> None:
    pods = [pod("a", "10.0.0.1"), pod("b", "10.0.0.2", deleting=True), pod("c", "10.0.0.3", ready=False)]
    assert endpoints_subsets(service(), pods)[0]["addresses"] == [addr("a", "10.0.0.1")]
    assert "b" not in str(endpoints_subsets(service(), pods))
    published = endpoints_subsets(service(publishNotReadyAddresses=True), pods)
    assert published == [
        {
            "addresses": [addr("a", "10.0.0.1"), addr("b", "10.0.0.2"), addr("c", "10.0.0.3")],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        }
    ]


def test_headless_service_without_ports_lists_addresses_and_hostnames() -> None:
    svc = service([], clusterIP="None")
    member = pod("a", "10.0.0.1", hostname="a", subdomain="web")
    assert endpoints_subsets(svc, [member]) == [
        {"addresses": [{"ip": "10.0.0.1", "hostname": "a", "nodeName": "n1", "targetRef": ref("a")}]}
    ]
    assert endpoints_subsets(service([]), [member]) == []  # a port-less ClusterIP service has none


def test_subsets_do_not_depend_on_pod_order() -> None:
    svc = service([{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "web"}])
    pods = [
        pod(f"p{i}", f"10.0.{i % 3}.{i}", ready=i % 4 != 0, ports=[{"name": "web", "containerPort": 8000 + i % 2}])
        for i in range(12)
    ]
    expected = endpoints_subsets(svc, pods)
    for seed in range(5):
        random.Random(seed).shuffle(pods)
        assert endpoints_subsets(svc, pods) == expected
    assert len(expected) == 2


# ------------------------------------------------------------------------------ the Endpoints object


def test_endpoints_are_written_only_when_subsets_or_labels_change() -> None:
    pods = [pod("a", "10.0.0.1")]
    first = endpoints_to_write(service(), pods, None, "2024-05-01T12:00:05Z")
    assert first is not None
    assert first["metadata"] == {
        "name": "web",
        "namespace": "ns",
        "labels": {"team": "a"},
        "annotations": {LAST_CHANGE_TRIGGER_TIME: "2024-05-01T12:00:05Z"},
    }
    stored = {**first, "metadata": {**first["metadata"], "resourceVersion": "7", "uid": "ep"}}
    assert endpoints_to_write(service(), pods, stored, "2024-05-01T12:09:00Z") is None
    changed = endpoints_to_write(service(), [pod("a", "10.0.0.1", ready=False)], stored, None)
    assert changed is not None
    assert changed["metadata"]["resourceVersion"] == "7"  # a conditional replace
    assert changed["metadata"]["annotations"] == {}  # no known trigger: the stale one goes
    assert changed["subsets"][0]["notReadyAddresses"] == [addr("a", "10.0.0.1")]
    headless = endpoints_to_write(service(clusterIP="None"), pods, stored, None)
    assert headless is not None and headless["metadata"]["labels"] == {"team": "a", HEADLESS_LABEL: ""}


def test_endpoints_of_a_service_without_pods_have_no_subsets() -> None:
    written = endpoints_to_write(service(), [], None, None)
    assert written is not None and written["subsets"] == []


# ------------------------------------------------------------------------------ EndpointSlices


def stored(slice_: Obj, name: str) -> Obj:
    return {**slice_, "metadata": {**slice_["metadata"], "name": name, "resourceVersion": "1"}}


def test_slices_carry_conditions_labels_and_owner() -> None:
    pods = [pod("a", "10.0.0.1"), pod("b", "10.0.0.2", ready=False), pod("c", "10.0.0.3", deleting=True)]
    plan = plan_slices(service(), pods, [])
    assert not plan.update and not plan.delete
    [slice_] = plan.create
    assert slice_["addressType"] == "IPv4"
    assert slice_["metadata"]["generateName"] == "web-"
    assert slice_["metadata"]["labels"] == {"team": "a", SERVICE_NAME_LABEL: "web", MANAGED_BY_LABEL: SLICE_CONTROLLER}
    assert slice_["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "name": "web",
            "uid": "svc-uid",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert slice_["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert slice_["endpoints"] == [
        {
            "addresses": ["10.0.0.1"],
            "conditions": {"ready": True, "serving": True, "terminating": False},
            "nodeName": "n1",
            "targetRef": ref("a"),
        },
        {
            "addresses": ["10.0.0.2"],
            "conditions": {"ready": False, "serving": False, "terminating": False},
            "nodeName": "n1",
            "targetRef": ref("b"),
        },
        {
            "addresses": ["10.0.0.3"],
            "conditions": {"ready": False, "serving": True, "terminating": True},
            "nodeName": "n1",
            "targetRef": ref("c"),
        },
    ]
    published = plan_slices(service(publishNotReadyAddresses=True), pods, []).create[0]
    assert [e["conditions"]["ready"] for e in published["endpoints"]] == [True, True, True]


def test_slices_split_by_port_set_and_size() -> None:
    svc = service([{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "web"}])
    pods = [
        pod(f"p{i}", f"10.0.{i // 200}.{i % 200}", ports=[{"name": "web", "containerPort": 8080 + i % 2}])
        for i in range(250)
    ]
    plan = plan_slices(svc, pods, [])
    sizes = sorted((s["ports"][0]["port"], len(s["endpoints"])) for s in plan.create)
    assert sizes == [(8080, 25), (8080, 100), (8081, 25), (8081, 100)]


def test_unchanged_slices_are_left_alone_and_changes_touch_few() -> None:
    pods = [pod(f"p{i}", f"10.0.0.{i + 1}") for i in range(150)]
    existing = [stored(s, f"web-{i}") for i, s in enumerate(plan_slices(service(), pods, []).create)]
    assert not plan_slices(service(), pods, existing)
    # one pod turns not ready: only its slice is rewritten, in place
    pods[120] = pod("p120", "10.0.0.121", ready=False)
    plan = plan_slices(service(), pods, existing)
    assert not plan.create and not plan.delete
    [updated] = plan.update
    assert updated["metadata"]["name"] == "web-1" and updated["metadata"]["resourceVersion"] == "1"
    assert [e["conditions"]["ready"] for e in updated["endpoints"] if e["targetRef"]["name"] == "p120"] == [False]
    # a new pod fills the slice with room rather than a new one
    plan = plan_slices(service(), [*pods, pod("new", "10.0.1.1")], existing)
    assert [s["metadata"]["name"] for s in plan.update] == ["web-1"] and not plan.create


def test_no_endpoints_means_one_placeholder_slice() -> None:
    plan = plan_slices(service(), [], [])
    [placeholder] = plan.create
    assert placeholder["endpoints"] == [] and placeholder["ports"] == []
    existing = [stored(placeholder, "web-x")]
    assert not plan_slices(service(), [], existing)
    replaced = plan_slices(service(), [pod("a", "10.0.0.1")], existing)
    assert [s["metadata"]["name"] for s in replaced.delete] == ["web-x"] and len(replaced.create) == 1
    # and back: the last endpoint's slice goes, a placeholder comes
    full = [stored(replaced.create[0], "web-y")]
    back = plan_slices(service(), [], full)
    assert [s["metadata"]["name"] for s in back.delete] == ["web-y"] and back.create[0]["endpoints"] == []


def test_slices_of_another_service_incarnation_are_replaced() -> None:
    old = stored(plan_slices(service(), [pod("a", "10.0.0.1")], []).create[0], "web-old")
    old["metadata"]["ownerReferences"][0]["uid"] = "previous-uid"
    plan = plan_slices(service(), [pod("a", "10.0.0.1")], [old])
    assert [s["metadata"]["name"] for s in plan.delete] == ["web-old"] and len(plan.create) == 1


# ------------------------------------------------------------------------------ change detection and trigger time


def test_status_chatter_is_not_a_relevant_change() -> None:
    a = pod("a", "10.0.0.1")
    chatter = {**a, "status": {**a["status"], "containerStatuses": [{"restartCount": 1}]}}
    assert pod_relevant_state(a) == pod_relevant_state(chatter)
    assert pod_relevant_state(a) != pod_relevant_state(pod("a", "10.0.0.1", ready=False))
    assert pod_relevant_state(a) != pod_relevant_state({**a, "metadata": {**a["metadata"], "labels": {}}})


def test_trigger_time_is_the_earliest_change_since_the_last_sync() -> None:
    tracker = TriggerTimeTracker()
    pods = [
        pod("a", "10.0.0.1", ready_at="2024-05-01T12:00:07Z"),
        pod("b", "10.0.0.2", ready_at="2024-05-01T12:00:06Z"),
    ]
    assert tracker.compute("ns/web", service(), pods) == "2024-05-01T12:00:00Z"  # the service's creation
    assert tracker.compute("ns/web", service(), pods) is None  # nothing changed since
    pods[0] = pod("a", "10.0.0.1", ready=False, ready_at="2024-05-01T12:03:00Z")
    assert tracker.compute("ns/web", service(), pods) == "2024-05-01T12:03:00Z"
    tracker.forget("ns/web")
    assert tracker.compute("ns/web", service(), pods) == "2024-05-01T12:00:00Z"


def test_trigger_time_format_is_go_rfc3339_nano() -> None:
    assert rfc3339_nano(datetime(2024, 5, 1, 12, 0, 5, tzinfo=UTC)) == "2024-05-01T12:00:05Z"
    assert rfc3339_nano(datetime(2024, 5, 1, 12, 0, 5, 250000, tzinfo=UTC)) == "2024-05-01T12:00:05.25Z"
