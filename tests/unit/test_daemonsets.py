from datetime import UTC, datetime, timedelta
from typing import Any

from minikube_py.model.daemonsets import (
    REVISION_LABEL,
    daemon_template,
    pin_to_node,
    placement,
    plan_daemonset,
    revision_hash,
    revisions_in_use,
    target_node,
)

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
Obj = dict[str, Any]


def ts(seconds_ago: float = 0) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def ds(image: str = "v1", *, max_unavailable: int | str = 1, max_surge: int | str = 0, **pod_spec: Any) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "d", "namespace": "ns", "uid": "ds-uid", "generation": 2},
        "spec": {
            "selector": {"matchLabels": {"app": "d"}},
            "updateStrategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": max_unavailable, "maxSurge": max_surge},
            },
            "template": {
                "metadata": {"labels": {"app": "d"}},
                "spec": {"containers": [{"name": "c", "image": image}], **pod_spec},
            },
        },
    }


def node(
    name: str,
    *,
    ready: bool = True,
    labels: dict[str, str] | None = None,
    taints: list[Obj] | None = None,
    unschedulable: bool = False,
) -> Obj:
    return {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"taints": taints or [], "unschedulable": unschedulable},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def pod(
    name: str,
    on: str,
    daemonset: Obj,
    *,
    ready: bool = True,
    bound: bool = True,
    stale: bool = False,
    phase: str = "Running",
    deleting: bool = False,
) -> Obj:
    spec: Obj = {}
    if bound:
        spec["nodeName"] = on
    else:
        pin_to_node(spec, on)
    md: Obj = {
        "name": name,
        "namespace": "ns",
        "uid": f"uid-{name}",
        "creationTimestamp": ts(60),
        "labels": {"app": "d", REVISION_LABEL: "old" if stale else revision_hash(daemonset)},
    }
    if deleting:
        md["deletionTimestamp"] = ts()
    return {
        "metadata": md,
        "spec": spec,
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": ts(30)}],
        },
    }


def names(pods: list[Obj]) -> list[str]:
    return sorted(p["metadata"]["name"] for p in pods)


def test_one_pod_per_ready_node() -> None:
    d = ds()
    step = plan_daemonset(d, [node("n1"), node("n2"), node("down", ready=False)], [pod("a", "n1", d)], NOW)
    assert step.create == ["n2"]
    assert step.status["desiredNumberScheduled"] == 2
    assert step.status["currentNumberScheduled"] == 1
    assert step.status["numberReady"] == 1 and step.status["numberAvailable"] == 1
    assert step.status["updatedNumberScheduled"] == 1 and step.status["numberUnavailable"] == 1
    assert step.status["observedGeneration"] == 2


def test_node_selector_and_affinity_choose_nodes() -> None:
    d = ds(nodeSelector={"disk": "ssd"})
    step = plan_daemonset(d, [node("n1", labels={"disk": "ssd"}), node("n2")], [pod("b", "n2", d)], NOW)
    assert step.create == ["n1"]
    assert names(step.delete) == ["b"]
    assert step.status["numberMisscheduled"] == 1
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]
            }
        }
    }
    d = ds(affinity=affinity)
    assert plan_daemonset(d, [node("n1", labels={"zone": "a"}), node("n2", labels={"zone": "b"})], [], NOW).create == [
        "n1"
    ]


def test_taints_need_tolerations_but_defaults_cover_cordon_and_pressure() -> None:
    template = daemon_template(ds())
    gpu = node("n1", taints=[{"key": "gpu", "value": "yes", "effect": "NoSchedule"}])
    assert not placement(template, gpu).should_run
    assert placement(template, gpu).should_continue  # NoSchedule never evicts a running pod
    evicting = node("n1", taints=[{"key": "gpu", "effect": "NoExecute"}])
    assert not placement(template, evicting).should_continue
    assert placement(template, node("n1", unschedulable=True)).should_run
    pressure = node("n1", taints=[{"key": "node.kubernetes.io/disk-pressure", "effect": "NoSchedule"}])
    assert placement(template, pressure).should_run
    tolerant = daemon_template(ds(tolerations=[{"key": "gpu", "operator": "Exists"}]))
    assert placement(tolerant, evicting).should_run


def test_default_tolerations_are_added_once() -> None:
    template = daemon_template(
        ds(
            hostNetwork=True,
            tolerations=[
                {
                    "key": "node.kubernetes.io/unreachable",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 5,
                }
            ],
        )
    )
    keys = [(t["key"], t["effect"]) for t in template["spec"]["tolerations"]]
    assert len(keys) == len(set(keys)) == 7
    assert template["spec"]["tolerations"][0]["tolerationSeconds"] == 5


def test_pinning_keeps_label_terms_and_target_node_reads_it_back() -> None:
    spec: Obj = {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]
                }
            }
        }
    }
    pin_to_node(spec, "n7")
    term = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
    assert term["matchExpressions"][0]["key"] == "zone"
    assert term["matchFields"] == [{"key": "metadata.name", "operator": "In", "values": ["n7"]}]
    assert target_node({"spec": spec}) == "n7"
    assert target_node({"spec": {"nodeName": "n3"}}) == "n3"


def test_unbound_pod_counts_for_its_node() -> None:
    d = ds()
    step = plan_daemonset(d, [node("n1")], [pod("a", "n1", d, bound=False, ready=False, phase="Pending")], NOW)
    assert step.create == [] and step.status["currentNumberScheduled"] == 1


def test_pods_of_vanished_nodes_duplicates_and_failed_pods_are_deleted() -> None:
    d = ds()
    pods = [pod("gone", "n9", d), pod("first", "n1", d), pod("second", "n1", d), pod("broken", "n2", d, phase="Failed")]
    pods[2]["metadata"]["creationTimestamp"] = ts(10)
    step = plan_daemonset(d, [node("n1"), node("n2")], pods, NOW)
    assert names(step.delete) == ["broken", "gone", "second"]
    assert step.create == []  # n2's replacement waits until the failed pod is gone


def test_terminating_pod_blocks_a_new_one_on_its_node() -> None:
    d = ds()
    step = plan_daemonset(d, [node("n1")], [pod("old", "n1", d, deleting=True)], NOW)
    assert step.create == []


def test_rolling_update_respects_max_unavailable() -> None:
    d = ds("v2", max_unavailable=1)
    pods = [pod(f"p{i}", f"n{i}", d, stale=True) for i in range(3)]
    nodes = [node(f"n{i}") for i in range(3)]
    step = plan_daemonset(d, nodes, pods, NOW)
    assert len(step.delete) == 1 and step.status.get("updatedNumberScheduled", 0) == 0
    # one node is replaced and its new pod not yet ready: nothing more may go
    pods[0] = pod("new0", "n0", d, ready=False)
    step = plan_daemonset(d, nodes, pods, NOW)
    assert step.delete == [] and step.create == []
    assert step.status["updatedNumberScheduled"] == 1 and step.status["numberUnavailable"] == 1


def test_rolling_update_replaces_unavailable_old_pods_first_and_freely() -> None:
    d = ds("v2", max_unavailable=1)
    pods = [pod("sick", "n0", d, stale=True, ready=False), pod("fine", "n1", d, stale=True)]
    step = plan_daemonset(d, [node("n0"), node("n1")], pods, NOW)
    assert names(step.delete) == ["sick"]


def test_rolling_update_with_surge_starts_new_pods_first() -> None:
    d = ds("v2", max_unavailable=0, max_surge=1)
    nodes = [node("n0"), node("n1")]
    step = plan_daemonset(d, nodes, [pod("o0", "n0", d, stale=True), pod("o1", "n1", d, stale=True)], NOW)
    assert step.create == ["n0"] and step.delete == []
    pods = [pod("o0", "n0", d, stale=True), pod("n0new", "n0", d), pod("o1", "n1", d, stale=True)]
    step = plan_daemonset(d, nodes, pods, NOW)
    assert names(step.delete) == ["o0"] and step.create == []


def test_min_ready_seconds_delays_availability() -> None:
    d = ds()
    d["spec"]["minReadySeconds"] = 40  # the pod became ready 30 s ago
    step = plan_daemonset(d, [node("n1")], [pod("a", "n1", d)], NOW)
    assert "numberAvailable" not in step.status and step.status["numberReady"] == 1
    assert step.requeue_after is not None and 9 <= step.requeue_after <= 10


def test_nothing_moves_while_expectations_are_pending() -> None:
    d = ds()
    step = plan_daemonset(d, [node("n1"), node("n2")], [], NOW, expectations_met=False)
    assert step.create == [] and step.status["desiredNumberScheduled"] == 2


def test_the_revisions_in_use_are_named_after_the_pods_hashes() -> None:
    d = ds()
    pods = [pod("a", "n1", d), pod("b", "n2", d, stale=True), {"metadata": {"name": "c", "labels": {}}}]
    assert revisions_in_use(d, pods) == {f"d-{revision_hash(d)}", "d-old"}
