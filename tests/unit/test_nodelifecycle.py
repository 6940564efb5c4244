"""The node lifecycle controller's decisions: liveness, conditions, taints and eviction deadlines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from minikube_py.model import nodelifecycle as lc
from minikube_py.model.podcolumns import NODE_LOST

Obj = dict[str, Any]
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
DEFAULT_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
]


def node(ready: str | None = "True", taints: list[Obj] | None = None, heartbeat: str = "2024-05-01T11:00:00Z") -> Obj:
    conditions = [{"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"}]
    if ready is not None:
        conditions.append(
            {
                "type": "Ready",
                "status": ready,
                "reason": "KubeletReady",
                "lastHeartbeatTime": heartbeat,
                "lastTransitionTime": "2024-05-01T10:00:00Z",
            }
        )
    return {"metadata": {"name": "n1"}, "spec": {"taints": taints or []}, "status": {"conditions": conditions}}


def pod(tolerations: list[Obj] | None = None, *, ready: str = "True", phase: str = "Running") -> Obj:
    return {
        "metadata": {"name": "web-1", "namespace": "default", "uid": "u1"},
        "spec": {"nodeName": "n1", "tolerations": tolerations if tolerations is not None else DEFAULT_TOLERATIONS},
        "status": {"phase": phase, "conditions": [{"type": "Ready", "status": ready}]},
    }


def lease(renew: str) -> Obj:
    return {"metadata": {"name": "n1"}, "spec": {"holderIdentity": "n1", "renewTime": renew}}


# ------------------------------------------------------------------------------ liveness


def test_a_node_first_seen_gets_a_full_grace_period() -> None:
    probe = lc.observe(None, lc.heartbeat_signature(node(), lease("t1")), now=100.0)
    assert lc.silent_for(probe, 100.0) == 0.0
    assert lc.silent_for(probe, 130.0) == 30.0


def test_only_a_changed_heartbeat_resets_the_clock() -> None:
    first = lc.observe(None, lc.heartbeat_signature(node(), lease("t1")), now=100.0)
    same = lc.observe(first, lc.heartbeat_signature(node(), lease("t1")), now=150.0)
    assert same.seen_at == 100.0
    renewed = lc.observe(same, lc.heartbeat_signature(node(), lease("t2")), now=151.0)
    assert renewed.seen_at == 151.0
    posted = lc.observe(renewed, lc.heartbeat_signature(node(heartbeat="2024-05-01T11:59:00Z"), lease("t2")), 160.0)
    assert posted.seen_at == 160.0


def test_marking_unknown_keeps_the_heartbeat_so_it_is_not_mistaken_for_life() -> None:
    before = node()
    after = {**before, "status": {"conditions": lc.unknown_conditions(before, NOW)}}
    assert lc.heartbeat_signature(after, None) == lc.heartbeat_signature(before, None)


# ------------------------------------------------------------------------------ conditions


def test_kubelet_conditions_become_unknown() -> None:
    conditions = lc.unknown_conditions(node(), NOW)
    assert conditions is not None
    by_type = {c["type"]: c for c in conditions}
    assert by_type["Ready"]["status"] == "Unknown"
    assert by_type["Ready"]["reason"] == "NodeStatusUnknown"
    assert by_type["Ready"]["message"] == "Kubelet stopped posting node status."
    assert by_type["Ready"]["lastTransitionTime"] == "2024-05-01T12:00:00Z"
    assert by_type["MemoryPressure"]["status"] == "Unknown"


def test_unknown_conditions_are_not_rewritten() -> None:
    already = node("Unknown")
    already["status"]["conditions"][0]["status"] = "Unknown"
    assert lc.unknown_conditions(already, NOW) is None


def test_a_node_that_never_posted_gets_a_ready_unknown_condition() -> None:
    conditions = lc.unknown_conditions(node(ready=None), NOW)
    assert conditions is not None
    ready = next(c for c in conditions if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("Unknown", "NodeStatusNeverUpdated")


def test_marking_does_not_modify_the_cached_node() -> None:
    original = node()
    lc.unknown_conditions(original, NOW)
    assert original["status"]["conditions"][1]["status"] == "True"


# ------------------------------------------------------------------------------ taints


def test_an_unknown_node_gets_both_unreachable_taints_and_keeps_others() -> None:
    other = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    taints = lc.lifecycle_taints(node("Unknown", [other]), NOW)
    assert taints == [
        other,
        {"key": lc.UNREACHABLE_TAINT, "effect": "NoSchedule", "timeAdded": "2024-05-01T12:00:00Z"},
        {"key": lc.UNREACHABLE_TAINT, "effect": "NoExecute", "timeAdded": "2024-05-01T12:00:00Z"},
    ]


def test_present_taints_are_left_alone_and_keep_their_time() -> None:
    taints = [
        {"key": lc.UNREACHABLE_TAINT, "effect": "NoSchedule", "timeAdded": "2024-05-01T11:00:00Z"},
        {"key": lc.UNREACHABLE_TAINT, "effect": "NoExecute", "timeAdded": "2024-05-01T11:00:00Z"},
    ]
    assert lc.lifecycle_taints(node("Unknown", taints), NOW) is None
    half = lc.lifecycle_taints(node("Unknown", taints[1:]), NOW)
    assert half is not None and half[1] == taints[1]
    assert lc.tainted_since(node("Unknown", taints), lc.UNREACHABLE_TAINT) == datetime(2024, 5, 1, 11, tzinfo=UTC)


def test_a_ready_node_loses_the_unreachable_taints_only() -> None:
    other = {"key": "dedicated", "effect": "NoExecute"}
    unreachable = {"key": lc.UNREACHABLE_TAINT, "effect": "NoExecute", "timeAdded": "2024-05-01T11:00:00Z"}
    assert lc.lifecycle_taints(node("True", [other, unreachable]), NOW) == [other]
    assert lc.lifecycle_taints(node("True", [other]), NOW) is None
    assert lc.tainted_since(node("True", [other]), lc.UNREACHABLE_TAINT) is None


def test_a_not_ready_node_gets_the_not_ready_pair_instead_of_the_unreachable_one() -> None:
    unreachable = [
        {"key": lc.UNREACHABLE_TAINT, "effect": effect, "timeAdded": "2024-05-01T11:00:00Z"}
        for effect in ("NoSchedule", "NoExecute")
    ]
    assert lc.lifecycle_taints(node("False", unreachable), NOW) == [
        {"key": lc.NOT_READY_TAINT, "effect": "NoSchedule", "timeAdded": "2024-05-01T12:00:00Z"},
        {"key": lc.NOT_READY_TAINT, "effect": "NoExecute", "timeAdded": "2024-05-01T12:00:00Z"},
    ]
    tainted = node("False", lc.lifecycle_taints(node("False"), NOW))
    assert lc.lifecycle_taints(tainted, NOW) is None
    assert lc.tainted_since(tainted, lc.NOT_READY_TAINT) == NOW
    assert lc.lifecycle_taints(tainted | {"status": node("True")["status"]}, NOW) == []


def test_a_node_without_its_network_is_kept_from_new_pods() -> None:
    cut_off = node()
    cut_off["status"]["conditions"].append({"type": "NetworkUnavailable", "status": "True", "reason": "NoRouteCreated"})
    assert lc.lifecycle_taints(cut_off, NOW) == [
        {"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"}
    ]


# ------------------------------------------------------------------------------ pods


def test_ready_pods_are_marked_not_ready_once() -> None:
    patch = lc.not_ready_patch(pod(), NOW)
    assert patch == {
        "status": {"conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": "2024-05-01T12:00:00Z"}]}
    }
    assert lc.not_ready_patch(pod(ready="False"), NOW) is None
    assert lc.not_ready_patch(pod(phase="Succeeded"), NOW) is None
    assert lc.is_terminal(pod(phase="Failed"))


def test_the_default_toleration_stands_for_the_eviction_timeout() -> None:
    assert lc.eviction_delay(pod(), 6.0) == 6.0
    assert lc.eviction_due(pod(), NOW, 6.0) == NOW + timedelta(seconds=6)


def test_pods_on_a_not_ready_node_go_when_their_toleration_of_that_runs_out() -> None:
    assert lc.eviction_delay(pod(), 6.0, lc.NOT_READY_TAINT) == 6.0
    only_unreachable = [DEFAULT_TOLERATIONS[1]]
    assert lc.eviction_delay(pod(only_unreachable), 6.0, lc.NOT_READY_TAINT) == 0.0
    forever = [{"key": lc.NOT_READY_TAINT, "operator": "Exists", "effect": "NoExecute"}]
    assert lc.eviction_due(pod(forever), NOW, 6.0, lc.NOT_READY_TAINT) is None


@pytest.mark.parametrize(
    ("tolerations", "delay"),
    [
        ([{"key": lc.UNREACHABLE_TAINT, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60}], 60.0),
        ([{"key": lc.UNREACHABLE_TAINT, "operator": "Exists", "effect": "NoExecute"}], None),  # for ever
        ([{"operator": "Exists"}], None),  # tolerates every taint for ever (as DaemonSet-style pods)
        ([], 0.0),  # no toleration at all: at once
        ([{"key": "other", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}], 0.0),
        ([{"key": lc.UNREACHABLE_TAINT, "operator": "Exists", "effect": "NoSchedule"}], 0.0),  # wrong effect
        # the smallest bounded toleration wins, as Kubernetes' getMinTolerationTime
        (
            [
                {"key": lc.UNREACHABLE_TAINT, "operator": "Exists", "effect": "NoExecute"},
                {"key": lc.UNREACHABLE_TAINT, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 20},
            ],
            20.0,
        ),
        ([{"key": lc.UNREACHABLE_TAINT, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": -5}], 0.0),
    ],
)
def test_a_pods_own_toleration_decides(tolerations: list[Obj], delay: float | None) -> None:
    assert lc.eviction_delay(pod(tolerations), 300.0) == delay


def test_evicted_pods_carry_node_lost_and_are_recognised() -> None:
    condition = {
        "type": "DisruptionTarget",
        "status": "True",
        "reason": "DeletionByTaintManager",
        "message": "Taint manager: deleting due to NoExecute taint",
        "lastTransitionTime": "2024-05-01T12:00:00Z",
    }
    patch = lc.eviction_patch(pod(), NOW, lost_node="n1")
    assert patch == {
        "status": {
            "conditions": [condition],
            "reason": NODE_LOST,
            "message": "Node n1 which was running pod web-1 is unresponsive",
        }
    }
    assert lc.eviction_patch(pod(), NOW) == {"status": {"conditions": [condition]}}  # a not-ready node's pod
    evicted = pod()
    evicted["status"]["reason"] = NODE_LOST
    evicted["status"]["conditions"].append(condition)
    assert lc.eviction_patch(evicted, NOW, lost_node="n1") is None
    assert not lc.was_evicted(evicted)  # not deleted yet
    evicted["metadata"]["deletionTimestamp"] = "2024-05-01T12:00:30Z"
    assert lc.was_evicted(evicted)
    user_deleted = pod()
    user_deleted["metadata"]["deletionTimestamp"] = "2024-05-01T12:00:30Z"
    assert not lc.was_evicted(user_deleted)
