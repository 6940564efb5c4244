"""The StatefulSet controller's pure decisions (minikube_py.model.statefulsets): identities, claims,
ordered and parallel scaling, rolling updates with a partition, OnDelete and the status."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from minikube_py.model.statefulsets import (
    POD_INDEX_LABEL,
    POD_NAME_LABEL,
    REVISION_LABEL,
    claim_name,
    claim_owners,
    claims_for,
    members,
    new_pod,
    ordinal_of,
    plan_statefulset,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)
Obj = dict[str, Any]
OLD, NEW = "web-old", "web-new"


def sts(replicas: int = 3, *, policy: str = "OrderedReady", strategy: Obj | None = None, **spec: Any) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": "ns", "uid": "sts-uid", "generation": 4},
        "spec": {
            "replicas": replicas,
            "serviceName": "web",
            "podManagementPolicy": policy,
            "selector": {"matchLabels": {"app": "web"}},
            "updateStrategy": strategy or {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "v1"}]},
            },
            **spec,
        },
    }


def pod(
    ordinal: int,
    *,
    revision: str = NEW,
    ready: bool = True,
    phase: str = "Running",
    deleting: bool = False,
    ready_since: str = "2025-12-31T00:00:00Z",
) -> Obj:
    md: Obj = {
        "name": f"web-{ordinal}",
        "namespace": "ns",
        "uid": f"uid-{ordinal}",
        "labels": {"app": "web", REVISION_LABEL: revision},
    }
    if deleting:
        md["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {
        "metadata": md,
        "spec": {},
        "status": {
            "phase": phase,
            "conditions": [
                {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": ready_since}
            ],
        },
    }


def plan(s: Obj, pods: list[Obj], current: str = NEW, update: str = NEW) -> Any:
    return plan_statefulset(s, pods, current, update, NOW)


def deleted(step: Any) -> list[str]:
    return [p["metadata"]["name"] for p in step.delete]


# ------------------------------------------------------------------------------ identities


def test_pods_have_stable_names_labels_hostname_and_claims() -> None:
    s = sts(
        volumeClaimTemplates=[
            {
                "metadata": {"name": "data", "labels": {"tier": "db"}},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
            }
        ]
    )
    s["spec"]["template"]["spec"]["volumes"] = [{"name": "data", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}]
    p = new_pod(s, s["spec"]["template"], "web-abc", 2)
    assert p["metadata"]["name"] == "web-2" and "generateName" not in p["metadata"]
    assert p["metadata"]["labels"] == {
        "app": "web",
        REVISION_LABEL: "web-abc",
        POD_NAME_LABEL: "web-2",
        POD_INDEX_LABEL: "2",
    }
    assert (p["spec"]["hostname"], p["spec"]["subdomain"]) == ("web-2", "web")
    assert p["metadata"]["ownerReferences"][0]["uid"] == "sts-uid"
    # the claim replaces a template volume of its name
    assert p["spec"]["volumes"] == [
        {"name": "tmp", "emptyDir": {}},
        {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-2"}},
    ]
    claims = claims_for(s, 2)
    assert [c["metadata"]["name"] for c in claims] == ["data-web-2"] == [claim_name("data", s, 2)]
    assert claims[0]["metadata"]["labels"] == {"tier": "db", "app": "web"}
    assert "ownerReferences" not in claims[0]["metadata"]  # Retain: the claim outlives the set
    assert claims[0]["spec"]["resources"] == {"requests": {"storage": "1Gi"}}


def test_claim_owners_follow_the_retention_policy() -> None:
    templates = [{"metadata": {"name": "data"}, "spec": {}}]

    def owners(when_deleted: str, when_scaled: str, ordinal: int, current: list[str]) -> list[str] | None:
        s = sts(
            2,
            volumeClaimTemplates=templates,
            persistentVolumeClaimRetentionPolicy={"whenDeleted": when_deleted, "whenScaled": when_scaled},
        )
        claim = {"metadata": {"ownerReferences": [{"uid": uid} for uid in current]}}
        refs = claim_owners(s, pod(ordinal), claim)
        return None if refs is None else [r["uid"] for r in refs]

    assert owners("Retain", "Retain", 0, []) is None
    assert owners("Retain", "Retain", 0, ["sts-uid", "uid-0", "other"]) == ["other"]
    assert owners("Delete", "Retain", 0, []) == ["sts-uid"]
    assert owners("Delete", "Retain", 5, ["sts-uid"]) is None
    assert owners("Retain", "Delete", 1, ["uid-1"]) == []  # back in range: the pod lets go
    assert owners("Retain", "Delete", 5, []) == ["uid-5"]
    assert owners("Delete", "Delete", 5, ["sts-uid"]) == ["uid-5"]  # the pod alone, so it goes with the pod
    assert owners("Delete", "Delete", 1, ["uid-1"]) == ["sts-uid"]
    s = sts(
        volumeClaimTemplates=templates,
        persistentVolumeClaimRetentionPolicy={"whenDeleted": "Delete", "whenScaled": "Retain"},
    )
    assert [r["uid"] for r in claims_for(s, 0)[0]["metadata"]["ownerReferences"]] == ["sts-uid"]


def test_ordinals_come_from_names_of_this_set_only() -> None:
    s = sts()
    assert [p["metadata"]["name"] for p in members(s, [pod(1), {"metadata": {"name": "webby-1"}}])] == ["web-1"]
    assert ordinal_of(s, pod(12)) == 12
    assert ordinal_of(s, {"metadata": {"name": "web-01"}}) is None
    assert ordinal_of(s, {"metadata": {"name": "webby-1"}}) is None
    assert ordinal_of(s, {"metadata": {"name": "web-x"}}) is None


# ------------------------------------------------------------------------------ scaling


def test_ordered_ready_creates_one_at_a_time_waiting_for_ready() -> None:
    s = sts()
    assert plan(s, []).create == [(0, NEW)]
    assert plan(s, [pod(0, ready=False)]).create == []
    assert plan(s, [pod(0, phase="Pending", ready=False)]).create == []
    assert plan(s, [pod(0)]).create == [(1, NEW)]
    assert plan(s, [pod(0), pod(1)]).create == [(2, NEW)]
    done = plan(s, [pod(0), pod(1), pod(2)])
    assert (done.create, done.delete) == ([], [])


def test_a_missing_or_failed_pod_is_replaced_under_its_name_first() -> None:
    s = sts()
    assert plan(s, [pod(0), pod(2)]).create == [(1, NEW)]
    step = plan(s, [pod(0), pod(1, phase="Failed", ready=False), pod(2)])
    assert (deleted(step), step.create) == (["web-1"], [])
    # it is created again only once the old one is gone: the name is still taken meanwhile
    assert plan(s, [pod(0), pod(1, deleting=True), pod(2)]).create == []


def test_pending_pods_are_named_so_their_claims_can_be_made_again() -> None:
    step = plan(
        sts(policy="Parallel"), [pod(0), pod(1, phase="Pending", ready=False), pod(2, phase="Pending", deleting=True)]
    )
    assert step.pending == [1]


def test_ordered_steps_wait_for_min_ready_seconds() -> None:
    s = sts(minReadySeconds=30)
    fresh = pod(0, ready_since="2025-12-31T23:59:50Z")  # ready 10 s before NOW
    step = plan(s, [fresh])
    assert step.create == [] and step.requeue_after == 20
    assert step.status["readyReplicas"] == 1 and step.status["availableReplicas"] == 0
    assert plan(s, [pod(0)]).create == [(1, NEW)]
    old = [pod(0, revision=OLD), pod(1, revision=OLD), pod(2, ready_since="2025-12-31T23:59:50Z")]
    assert deleted(plan(s, old, OLD, NEW)) == []


def test_parallel_creates_and_removes_without_waiting() -> None:
    s = sts(4, policy="Parallel")
    assert plan(s, [pod(1, ready=False)]).create == [(0, NEW), (2, NEW), (3, NEW)]
    s = sts(1, policy="Parallel")
    assert deleted(plan(s, [pod(0), pod(1, ready=False), pod(2), pod(3)])) == ["web-3", "web-2", "web-1"]


def test_ordered_scale_down_from_the_highest_one_at_a_time_while_the_rest_are_healthy() -> None:
    s = sts(1)
    assert deleted(plan(s, [pod(0), pod(1), pod(2)])) == ["web-2"]
    assert deleted(plan(s, [pod(0), pod(1), pod(2, deleting=True)])) == []
    assert deleted(plan(s, [pod(0, ready=False), pod(1), pod(2)])) == []
    assert deleted(plan(s, [pod(0), pod(1)])) == ["web-1"]


def test_ordinals_start() -> None:
    s = sts(2, ordinals={"start": 5})
    assert plan(s, []).create == [(5, NEW)]
    assert deleted(plan(s, [pod(0), pod(5), pod(6)])) == ["web-0"]


def test_nothing_but_status_while_expectations_are_pending() -> None:
    step = plan_statefulset(sts(), [], NEW, NEW, NOW, expectations_met=False)
    assert (step.create, step.delete) == ([], [])
    assert step.status["replicas"] == 0


# ------------------------------------------------------------------------------ updates


def test_rolling_update_goes_from_the_highest_ordinal_one_ready_pod_at_a_time() -> None:
    s = sts()
    old = [pod(0, revision=OLD), pod(1, revision=OLD), pod(2, revision=OLD)]
    assert deleted(plan(s, old, OLD, NEW)) == ["web-2"]
    # web-2 gone: recreated from the update revision before anything else happens
    assert plan(s, old[:2], OLD, NEW).create == [(2, NEW)]
    assert deleted(plan(s, [*old[:2], pod(2, ready=False)], OLD, NEW)) == []
    assert deleted(plan(s, [*old[:2], pod(2)], OLD, NEW)) == ["web-1"]
    assert deleted(plan(s, [old[0], pod(1), pod(2)], OLD, NEW)) == ["web-0"]


def test_partition_keeps_lower_ordinals_and_their_revision() -> None:
    s = sts(strategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}})
    old = [pod(0, revision=OLD), pod(1, revision=OLD), pod(2, revision=OLD)]
    assert deleted(plan(s, old, OLD, NEW)) == ["web-2"]
    assert deleted(plan(s, [*old[:2], pod(2)], OLD, NEW)) == []
    # a lost pod below the partition comes back at the current revision, above it at the new one
    assert plan(s, [old[1], pod(2)], OLD, NEW).create == [(0, OLD)]
    assert plan(s, old[:2], OLD, NEW).create == [(2, NEW)]


def test_parallel_rolling_update_is_still_one_pod_at_a_time() -> None:
    s = sts(policy="Parallel")
    old = [pod(0, revision=OLD), pod(1, revision=OLD), pod(2, revision=OLD)]
    assert deleted(plan(s, old, OLD, NEW)) == ["web-2"]
    assert deleted(plan(s, [*old[:2], pod(2, deleting=True)], OLD, NEW)) == []


def test_on_delete_replaces_nothing_but_recreates_at_the_update_revision() -> None:
    s = sts(strategy={"type": "OnDelete"})
    old = [pod(0, revision=OLD), pod(1, revision=OLD), pod(2, revision=OLD)]
    step = plan(s, old, OLD, NEW)
    assert (step.delete, step.create) == ([], [])
    assert plan(s, [old[0], old[2]], OLD, NEW).create == [(1, NEW)]
    assert plan(s, [pod(0), pod(1), pod(2)], OLD, NEW).status["currentRevision"] == OLD


# ------------------------------------------------------------------------------ status


def test_status_counts_and_the_end_of_a_rolling_update() -> None:
    s = sts()
    status = plan(s, [pod(0, revision=OLD), pod(1), pod(2, ready=False)], OLD, NEW).status
    assert status == {
        "observedGeneration": 4,
        "replicas": 3,
        "readyReplicas": 2,
        "availableReplicas": 2,
        "currentReplicas": 1,
        "updatedReplicas": 2,
        "currentRevision": OLD,
        "updateRevision": NEW,
        "collisionCount": 0,
    }
    status = plan(s, [pod(0), pod(1), pod(2)], OLD, NEW).status
    assert (status["currentRevision"], status["currentReplicas"]) == (NEW, 3)
