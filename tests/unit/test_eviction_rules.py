"""Node-pressure eviction's pure rules: the threshold's syntax, the pressure's hysteresis, the
kubelet's ranking of pods under memory pressure, its message, and the condition taints."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

import pytest

from minikube_py.model import eviction
from minikube_py.model.nodelifecycle import lifecycle_taints

Obj = dict[str, Any]
GI = 1 << 30


def test_thresholds_in_the_kubelets_syntax() -> None:
    assert eviction.parse_thresholds("memory.available<100Mi") == {"memory.available": eviction.Threshold("100Mi")}
    assert eviction.parse_thresholds(" memory.available<5% ,nodefs.available<2Gi") == {
        "memory.available": eviction.Threshold(percentage=Fraction(1, 20)),
        "nodefs.available": eviction.Threshold("2Gi"),
    }
    assert eviction.parse_thresholds("") == {}
    assert set(eviction.parse_thresholds(eviction.DEFAULT_THRESHOLD)) == {
        "memory.available",
        "nodefs.available",
        "imagefs.available",
    }
    assert eviction.Threshold(percentage=Fraction(1, 4)).bytes(4 * GI) == GI
    assert eviction.Threshold(percentage=Fraction(1, 4)).spelled(4 * GI) == "1Gi"
    assert eviction.Threshold(quantity="1G").bytes(4 * GI) == 10**9


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("memory.available>1Gi", "expected signal<quantity"),
        ("nodefs.inodesFree<5%", "unsupported eviction signal 'nodefs.inodesFree'"),
        ("memory.available<0", "the quantity must be positive"),
        ("memory.available<150%", "a percentage must be in (0%, 100%]"),
        ("memory.available<lots", "'lots' is neither a quantity nor a percentage"),
    ],
)
def test_thresholds_the_kubelet_refuses(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        eviction.parse_thresholds(text)


def test_pressure_holds_for_the_transition_period() -> None:
    pressure = eviction.Pressure(transition=30.0)
    assert not pressure.observe(False, 0.0)
    assert pressure.observe(True, 10.0)
    assert pressure.observe(False, 39.0)  # back above, but not for long enough
    assert not pressure.observe(False, 40.0)
    assert eviction.Pressure(transition=0.0).observe(True, 5.0)


def pod(name: str, request: str | None = None, priority: int = 0) -> Obj:
    resources = {"requests": {"memory": request}} if request else {}
    return {
        "metadata": {"name": name, "namespace": "d"},
        "spec": {"priority": priority, "containers": [{"name": "app", "resources": resources}]},
    }


def use(obj: Obj, used: int) -> eviction.PodUse:
    return eviction.PodUse(obj, {"app": used}, int(obj["spec"]["priority"]))


def test_pods_beyond_their_requests_go_first_then_low_priority_then_the_largest_excess() -> None:
    within = use(pod("within", "2Gi"), GI)  # uses less than it asked for
    small = use(pod("small"), GI // 4)
    big = use(pod("big"), GI)
    important = use(pod("important", priority=1000), 2 * GI)
    burst = use(pod("burst", "512Mi"), GI)  # 512Mi beyond its request
    ranked = [p.pod["metadata"]["name"] for p in eviction.rank([within, small, important, burst, big])]
    assert ranked == ["big", "burst", "small", "important", "within"]
    assert not eviction.evictable(pod("node-critical", priority=2_000_001_000))
    assert eviction.evictable(pod("high", priority=1_000_000_000))


def test_the_message_names_the_threshold_and_the_greedy_containers() -> None:
    victim = eviction.PodUse(
        {"spec": {"containers": [{"name": "app"}, {"name": "side", "resources": {"requests": {"memory": "1Gi"}}}]}},
        {"app": 2560 << 20, "side": 512 << 20},
    )
    text = eviction.message(victim, eviction.Threshold(quantity="1Gi").spelled(4 * GI), eviction.kibibytes(GI // 2))
    assert text == (
        "The node was low on resource: memory. Threshold quantity: 1Gi, available: 524288Ki. "
        "Container app was using 2560Mi, request is 0, has larger consumption of memory. "
    )


def node(*conditions: tuple[str, str], taints: list[Obj] | None = None) -> Obj:
    return {
        "metadata": {"name": "n"},
        "spec": {"taints": taints or []},
        "status": {"conditions": [{"type": t, "status": s} for t, s in conditions]},
    }


def test_pressure_conditions_taint_the_node_no_schedule_while_they_hold() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    mine = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    pressed = node(("Ready", "True"), ("MemoryPressure", "True"), ("DiskPressure", "False"), taints=[mine])
    taints = lifecycle_taints(pressed, now)
    assert taints == [mine, {"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule"}]
    assert lifecycle_taints({**pressed, "spec": {"taints": taints}}, now) is None  # already so
    relieved = node(("Ready", "True"), ("MemoryPressure", "False"), taints=taints)
    assert lifecycle_taints(relieved, now) == [mine]
    assert lifecycle_taints(node(("Ready", "True"), ("MemoryPressure", "False")), now) is None


def test_under_pressure_new_best_effort_pods_are_refused_unless_they_tolerate_it() -> None:
    memory = ("MemoryPressure",)
    best_effort = {**pod("be"), "status": {"qosClass": "BestEffort"}}
    assert eviction.refusal(best_effort, memory) == "The node had condition: [MemoryPressure]. "
    assert eviction.refusal(best_effort, ()) is None
    burstable = {**pod("b", "1Gi"), "status": {"qosClass": "Burstable"}}
    assert eviction.refusal(burstable, memory) is None
    tolerant = {**best_effort, "spec": {**best_effort["spec"], "tolerations": [{"operator": "Exists"}]}}
    assert eviction.refusal(tolerant, memory) is None
    critical = {**pod("c", priority=2_000_000_000), "status": {"qosClass": "BestEffort"}}
    assert eviction.refusal(critical, memory) is None
    # under disk pressure every new pod is refused, whatever its class or tolerations, but a critical one
    both = ("MemoryPressure", "DiskPressure")
    for refused in (burstable, tolerant):
        assert eviction.refusal(refused, ("DiskPressure",)) == "The node had condition: [DiskPressure]. "
        assert eviction.refusal(refused, both) == "The node had condition: [MemoryPressure DiskPressure]. "
    assert eviction.refusal(critical, both) is None


def test_under_disk_pressure_the_pod_writing_most_beyond_its_request_goes_with_the_kubelets_message() -> None:
    def writer(name: str, written: int, volumes: int = 0, request: str | None = None) -> eviction.PodUse:
        resources = {"requests": {"ephemeral-storage": request}} if request else {}
        obj = {"metadata": {"name": name}, "spec": {"containers": [{"name": "app", "resources": resources}]}}
        return eviction.PodUse(obj, {"app": written}, 0, "ephemeral-storage", volumes)

    logs = writer("logs", 8 << 20)
    scratch = writer("scratch", 1 << 20, volumes=20 << 20)  # its emptyDir counts too
    asked = writer("asked", 30 << 20, request="40Mi")  # within its request
    ranked = eviction.rank([asked, logs, scratch])
    assert [p.pod["metadata"]["name"] for p in ranked] == ["scratch", "logs", "asked"]
    tenth = eviction.Threshold(percentage=Fraction(1, 10))
    assert eviction.disk_message(logs, tenth, 64 << 20, 5 << 20) == (
        "The node was low on resource: ephemeral-storage. Threshold quantity: 6710886, available: 5Mi. "
        "Container app was using 8Mi, request is 0, has larger consumption of ephemeral-storage. "
    )
    # the kubelet holds 10% as a float32: of 100 GB that is 149 bytes more than a tenth
    assert "Threshold quantity: 10000000149," in eviction.disk_message(logs, tenth, 100_000_000_000, 0)
