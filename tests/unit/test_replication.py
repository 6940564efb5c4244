"""The replica controller's decisions: what counts, what is claimed, what goes first, how fast, and
when a sync may act again."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from minikube_py.model.replication import (
    REPLICA_FAILURE,
    claim_pods,
    deletion_order,
    fully_labeled,
    is_active,
    is_available,
    newly_adoptable,
    next_available_in,
    pods_to_delete,
    replica_diff,
    replica_status,
    slow_start_batches,
)
from minikube_py.model.selectors import label_selector_from_spec

Obj = dict[str, Any]
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def ts(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(
    name: str,
    *,
    node: str = "",
    phase: str = "Running",
    ready: bool | None = None,
    ready_ago: float = 100,
    created_ago: float = 200,
    restarts: int = 0,
    labels: dict[str, str] | None = None,
    owner: str | None = None,
    deleting: bool = False,
) -> Obj:
    md: Obj = {
        "name": name,
        "namespace": "ns",
        "uid": f"uid-{name}",
        "creationTimestamp": ts(created_ago),
        "labels": {"app": "web"} if labels is None else labels,
        "resourceVersion": "1",
    }
    if owner is not None:
        md["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "ReplicationController", "name": "rc", "uid": owner, "controller": True}
        ]
    if deleting:
        md["deletionTimestamp"] = ts(0)
    is_ready = phase == "Running" if ready is None else ready
    status: Obj = {
        "phase": phase,
        "conditions": [
            {"type": "Ready", "status": "True" if is_ready else "False", "lastTransitionTime": ts(ready_ago)}
        ],
        "containerStatuses": [{"name": "c", "restartCount": restarts}],
    }
    return {"metadata": md, "spec": {"nodeName": node} if node else {}, "status": status}


def names(pods: list[Obj]) -> list[str]:
    return [p["metadata"]["name"] for p in pods]


# ------------------------------------------------------------------------------ pod facts


def test_finished_and_terminating_pods_are_not_active() -> None:
    assert is_active(pod("a"))
    assert is_active(pod("a", phase="Pending"))
    assert not is_active(pod("a", phase="Succeeded"))
    assert not is_active(pod("a", phase="Failed"))
    assert not is_active(pod("a", deleting=True))


def test_available_after_min_ready_seconds() -> None:
    fresh = pod("a", ready_ago=3)
    assert is_available(fresh, 0, NOW)
    assert not is_available(fresh, 10, NOW)
    assert is_available(pod("a", ready_ago=11), 10, NOW)
    assert not is_available(pod("a", ready=False), 0, NOW)
    unknown_since = pod("a")
    del unknown_since["status"]["conditions"][0]["lastTransitionTime"]
    assert is_available(unknown_since, 0, NOW) and not is_available(unknown_since, 5, NOW)


def test_next_available_in_is_the_earliest_wait() -> None:
    pods = [pod("a", ready_ago=3), pod("b", ready_ago=8), pod("c", ready_ago=60), pod("d", ready=False)]
    assert next_available_in(pods, 10, NOW) == pytest.approx(2.0)
    assert next_available_in(pods, 0, NOW) is None
    assert next_available_in([pod("c", ready_ago=60)], 10, NOW) is None


# ------------------------------------------------------------------------------ claiming


SELECTOR = label_selector_from_spec({"matchLabels": {"app": "web"}})


def test_claim_adopts_matching_orphans_and_releases_mismatched_children() -> None:
    pods = [
        pod("mine", owner="me"),
        pod("orphan"),
        pod("stray", owner="me", labels={"app": "db"}),
        pod("other-orphan", labels={"app": "db"}),
        pod("theirs", owner="someone-else"),
    ]
    claim = claim_pods("me", SELECTOR, pods, owner_deleting=False)
    assert names(claim.owned) == ["mine"]
    assert names(claim.adopt) == ["orphan"]
    assert names(claim.release) == ["stray"]


def test_claim_leaves_pods_being_deleted_alone() -> None:
    pods = [
        pod("orphan", deleting=True),
        pod("stray", owner="me", labels={}, deleting=True),
        pod("mine", owner="me", deleting=True),
    ]
    claim = claim_pods("me", SELECTOR, pods, owner_deleting=False)
    assert names(claim.owned) == ["mine"] and not claim.adopt and not claim.release


def test_owner_being_deleted_neither_adopts_nor_releases() -> None:
    pods = [pod("mine", owner="me"), pod("orphan"), pod("stray", owner="me", labels={})]
    claim = claim_pods("me", SELECTOR, pods, owner_deleting=True)
    assert names(claim.owned) == ["mine"] and not claim.adopt and not claim.release


def test_absent_selector_claims_nothing() -> None:
    claim = claim_pods("me", label_selector_from_spec(None), [pod("orphan")], owner_deleting=False)
    assert not claim.adopt


def test_an_orphan_wakes_its_adopters_when_it_comes_is_released_or_is_relabelled() -> None:
    orphan = pod("orphan")
    assert newly_adoptable(None, orphan)
    assert newly_adoptable(pod("orphan", owner="me"), orphan)  # released
    assert newly_adoptable(pod("orphan", labels={"app": "db"}), orphan)
    assert not newly_adoptable(pod("orphan", phase="Pending"), orphan)  # a status update of an orphan
    assert not newly_adoptable(None, pod("mine", owner="me"))


# ------------------------------------------------------------------------------ scaling


@pytest.mark.parametrize(
    ("active", "replicas", "diff"), [(3, 3, 0), (0, 5, 5), (7, 2, -5), (0, 1200, 500), (1200, 0, -500), (499, 0, -499)]
)
def test_replica_diff_is_capped_by_the_burst(active: int, replicas: int, diff: int) -> None:
    assert replica_diff(active, replicas) == diff


@pytest.mark.parametrize(
    ("count", "batches"),
    [
        (0, []),
        (1, [1]),
        (2, [1, 1]),
        (3, [1, 2]),
        (7, [1, 2, 4]),
        (10, [1, 2, 4, 3]),
        (500, [1, 2, 4, 8, 16, 32, 64, 128, 245]),
    ],
)
def test_slow_start_batches_double(count: int, batches: list[int]) -> None:
    assert slow_start_batches(count) == batches
    assert sum(slow_start_batches(count)) == count


def test_slow_start_initial_batch() -> None:
    assert slow_start_batches(10, initial=4) == [4, 6]


def test_deletion_order_follows_activity() -> None:
    """Each pod differs from the next in exactly the criterion that decides between them."""
    ordered = [
        pod("unscheduled", phase="Pending"),
        pod("pending", node="n1", phase="Pending"),
        pod("unknown", node="n2", phase="Unknown", ready=False),
        pod("not-ready", node="n3", ready=False),
        pod("ready-recently", node="n4", ready_ago=5),
        pod("restarted", node="n5", ready_ago=50, restarts=3),
        pod("new", node="n6", ready_ago=50, created_ago=60),
        pod("old", node="n7", ready_ago=50, created_ago=600),
    ]
    shuffled = ordered[:]
    random.Random(7).shuffle(shuffled)
    assert names(deletion_order(shuffled)) == names(ordered)


def test_deletion_prefers_pods_doubled_up_on_a_node() -> None:
    pods = [
        pod("alone", node="n1", created_ago=10),
        pod("shared-a", node="n2", created_ago=500),
        pod("shared-b", node="n2", created_ago=400),
    ]
    assert names(pods_to_delete(pods, 1)) == ["shared-b"]


def test_deletion_order_is_total() -> None:
    """Twins are ordered by name, so two controllers looking at the same pods agree."""
    a, b = pod("b-twin"), pod("a-twin")
    assert names(deletion_order([a, b])) == names(deletion_order([b, a])) == ["a-twin", "b-twin"]


def test_pods_to_delete_all_when_count_covers_them() -> None:
    pods = [pod("a"), pod("b")]
    assert names(pods_to_delete(pods, 5)) == ["a", "b"]


# ------------------------------------------------------------------------------ status


def owner(**spec: Any) -> Obj:
    return {
        "metadata": {"name": "rc", "namespace": "ns", "uid": "me", "generation": 4},
        "spec": {"replicas": 3, "template": {"metadata": {"labels": {"app": "web", "tier": "fe"}}}, **spec},
        "status": {},
    }


def test_status_counts() -> None:
    active = [
        pod("a", labels={"app": "web", "tier": "fe"}, ready_ago=2),
        pod("b", labels={"app": "web", "tier": "fe"}, ready_ago=60),
        pod("c", labels={"app": "web"}, ready=False),
    ]
    status = replica_status(owner(minReadySeconds=10), active, NOW, None)
    assert status == {
        "replicas": 3,
        "fullyLabeledReplicas": 2,
        "readyReplicas": 2,
        "availableReplicas": 1,
        "observedGeneration": 4,
    }


def test_status_leaves_zero_counts_out() -> None:
    assert replica_status(owner(), [], NOW, None) == {"replicas": 0, "observedGeneration": 4}


def test_replica_failure_condition_set_kept_and_cleared() -> None:
    rc = owner()
    failed = replica_status(rc, [], NOW, ("FailedCreate", "pods is forbidden: quota"))
    condition = failed["conditions"][0]
    assert condition == {
        "type": REPLICA_FAILURE,
        "status": "True",
        "reason": "FailedCreate",
        "message": "pods is forbidden: quota",
        "lastTransitionTime": "2024-05-01T12:00:00Z",
    }
    rc["status"] = failed
    again = replica_status(rc, [], NOW + timedelta(seconds=30), ("FailedCreate", "another message"))
    assert again["conditions"] == [condition]  # first failure kept, as Kubernetes does
    rc["status"] = again
    assert "conditions" not in replica_status(rc, [], NOW, None)


def test_other_conditions_survive() -> None:
    rc = owner()
    rc["status"] = {"conditions": [{"type": "Custom", "status": "True"}]}
    assert replica_status(rc, [], NOW, None)["conditions"] == [{"type": "Custom", "status": "True"}]


def test_fully_labeled_needs_every_template_label() -> None:
    assert fully_labeled(pod("a", labels={"app": "web", "x": "y"}), {"app": "web"})
    assert not fully_labeled(pod("a", labels={"app": "web"}), {"app": "web", "tier": "fe"})
    assert not fully_labeled(pod("a", labels={"app": "db"}), {"app": "web"})
