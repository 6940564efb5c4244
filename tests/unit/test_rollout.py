"""The Deployment controller's pure rules: template hash, rollout steps, scaling, revisions, status."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from minikube_py.model import rollout as ro
from minikube_py.model.rollout import ReplicaSetView as RS
from minikube_py.model.rollout import Rollout

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)

TEMPLATE = {
    "metadata": {"labels": {"app": "web"}},
    "spec": {"containers": [{"name": "web", "image": "nginx:1.25", "resources": {}}]},
}


def deployment(
    replicas: int = 3, *, generation: int = 1, status: dict | None = None, strategy: dict | None = None, **spec: object
) -> dict:
    return {
        "metadata": {"name": "web", "namespace": "default", "generation": generation},
        "spec": {
            "replicas": replicas,
            "strategy": strategy or {"type": "RollingUpdate"},
            "progressDeadlineSeconds": 600,
            "template": TEMPLATE,
            **spec,
        },
        "status": status or {},
    }


# ------------------------------------------------------------------------------ hash


def test_hash_is_stable_and_uses_the_safe_alphabet() -> None:
    value = ro.template_hash(TEMPLATE)
    assert value == ro.template_hash({"spec": TEMPLATE["spec"], "metadata": TEMPLATE["metadata"]})
    assert value == "59bd5955b7"  # pinned: a changed hash would orphan every running ReplicaSet
    assert set(value) <= set(ro.SAFE_ALPHABET)


def test_hash_ignores_its_own_label_and_empty_fields() -> None:
    hashed = {
        "metadata": {"labels": {"app": "web", ro.HASH_LABEL: "abc"}, "creationTimestamp": None},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}], "volumes": []},
    }
    assert ro.template_hash(hashed) == ro.template_hash(TEMPLATE)
    assert ro.equal_ignore_hash(hashed, TEMPLATE)


def test_hash_changes_with_the_template_and_the_collision_count() -> None:
    other = {**TEMPLATE, "spec": {"containers": [{"name": "web", "image": "nginx:1.26"}]}}
    assert ro.template_hash(other) != ro.template_hash(TEMPLATE)
    assert not ro.equal_ignore_hash(other, TEMPLATE)
    assert len({ro.template_hash(TEMPLATE), ro.template_hash(TEMPLATE, 0), ro.template_hash(TEMPLATE, 1)}) == 3


def test_safe_encode_maps_digits_like_kubernetes() -> None:
    assert ro.safe_encode("0123456789") == "456789bcdf"


# ------------------------------------------------------------------------------ fenceposts


@pytest.mark.parametrize(
    ("value", "total", "up", "expected"),
    [
        (3, 10, True, 3),
        ("25%", 10, True, 3),
        ("25%", 10, False, 2),
        ("25%", 1, False, 0),
        ("100%", 4, True, 4),
        (None, 10, True, 0),
    ],
)
def test_scaled_value(value: int | str | None, total: int, up: bool, expected: int) -> None:
    assert ro.scaled_value(value, total, up) == expected


def test_scaled_value_rejects_a_bare_string() -> None:
    with pytest.raises(ValueError, match="not a percentage"):
        ro.scaled_value("3", 10, True)


def test_rollout_resolves_surge_up_and_unavailable_down() -> None:
    assert Rollout.of(deployment(10)) == Rollout(10, max_surge=3, max_unavailable=2)
    d = deployment(4, strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "10%"}})
    assert Rollout.of(d) == Rollout(4, max_surge=0, max_unavailable=1)  # both zero: one may be unavailable
    d = deployment(2, strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 5}})
    assert Rollout.of(d).max_unavailable == 2  # never more than replicas
    assert Rollout.of(deployment(0)).max_unavailable == 0
    assert Rollout.of(deployment(3, strategy={"type": "Recreate"})) == Rollout(3, recreate=True)
    assert Rollout(5, max_surge=2).replica_annotations() == {ro.DESIRED_REPLICAS: "5", ro.MAX_REPLICAS: "7"}


# ------------------------------------------------------------------------------ rolling update


def test_a_first_rollout_creates_every_replica_at_once() -> None:
    new = RS("web-new", 0, exists=False)
    assert ro.new_replica_count(Rollout(5, max_surge=1, max_unavailable=1), [new], new) == 5


def test_new_replica_set_grows_only_up_to_the_surge() -> None:
    r = Rollout(4, max_surge=1, max_unavailable=0)
    assert ro.rolling_step(r, RS("new", 0, created="2"), [RS("old", 4, 4, 4, created="1")]) == {"new": 1}
    # At the ceiling already: nothing grows, and nothing old may go while the new pod is not available.
    assert ro.rolling_step(r, RS("new", 1, 0, created="2"), [RS("old", 4, 4, 4, created="1")]) == {}
    # Once it is available, one old pod may go.
    assert ro.rolling_step(r, RS("new", 1, 1, created="2"), [RS("old", 4, 4, 4, created="1")]) == {"old": 3}


def test_max_surge_zero_scales_old_down_first() -> None:
    r = Rollout(4, max_surge=0, max_unavailable=1)
    assert ro.rolling_step(r, RS("new", 0, created="2"), [RS("old", 4, 4, 4, created="1")]) == {"old": 3}
    assert ro.rolling_step(r, RS("new", 0, created="2"), [RS("old", 3, 3, 3, created="1")]) == {"new": 1}


def test_new_replica_set_above_replicas_shrinks() -> None:
    assert ro.rolling_step(Rollout(2, max_surge=1), RS("new", 5, 5), []) == {"new": 2}


def test_replicas_zero_scales_everything_away() -> None:
    r = Rollout.of(deployment(0))
    assert ro.rolling_step(r, RS("new", 0), [RS("old", 3, 3, 3)]) == {"old": 0}


def test_unavailable_old_pods_go_first_and_cost_no_availability() -> None:
    r = Rollout(4, max_surge=1, max_unavailable=0)
    old = [RS("a", 2, 0, created="1"), RS("b", 3, 3, created="2")]
    # 5 pods, 4 must stay available, the new one is not available: budget 5 - 4 - 0 = 1 ... spent on "a".
    assert ro.rolling_step(r, RS("new", 0, created="3"), old) == {"a": 1}


def test_stale_availability_of_a_shrunk_replica_set_is_not_trusted() -> None:
    r = Rollout(4, max_surge=0, max_unavailable=1)
    new = RS("new", 1, 1, created="3")
    # "a" was just scaled to 1 but still reports 3 available: only 1 of those will remain, so only
    # one more pod may go, not three.
    old = [RS("a", 1, 3, created="1"), RS("b", 2, 2, created="2")]
    assert ro.rolling_step(r, new, old) == {"a": 0}


@pytest.mark.parametrize(
    ("replicas", "surge", "unavailable"), [(3, 1, 0), (3, 0, 1), (10, 3, 2), (5, 2, 2), (1, 1, 0), (4, 4, 0), (6, 0, 6)]
)
def test_a_simulated_rollout_completes_within_its_fences(replicas: int, surge: int, unavailable: int) -> None:
    """Drive rolling_step to the end, with new pods becoming available only on the next tick, and
    check at every point that neither the surge nor the availability floor is crossed."""
    r = Rollout(replicas, max_surge=surge, max_unavailable=unavailable)
    sets = {"old": RS("old", replicas, replicas, created="1"), "new": RS("new", 0, created="2")}
    for _ in range(100):
        plan = ro.rolling_step(r, sets["new"], [sets["old"]])
        if not plan:
            if all(rs.available == rs.replicas for rs in sets.values()):
                break
            sets = {k: replace(rs, available=rs.replicas) for k, rs in sets.items()}  # pods became ready
            continue
        for name, size in plan.items():
            rs = sets[name]
            sets[name] = replace(rs, replicas=size, available=min(rs.available, size))
        assert sum(rs.replicas for rs in sets.values()) <= replicas + surge
        assert sum(rs.available for rs in sets.values()) >= replicas - unavailable
    assert sets["new"].replicas == replicas and sets["old"].replicas == 0


# ------------------------------------------------------------------------------ recreate


def test_recreate_scales_old_down_then_waits_then_scales_new_up() -> None:
    r = Rollout(3, recreate=True)
    new = RS("new", 0, exists=False)
    assert ro.recreate_step(r, new, [RS("old", 3, 3, 3), RS("older", 0)], old_pods_running=True) == {"old": 0}
    assert ro.recreate_step(r, new, [RS("old", 0, 0, 1)], old_pods_running=True) == {}
    assert ro.recreate_step(r, new, [RS("old", 0)], old_pods_running=False) == {"new": 3}
    assert ro.recreate_step(r, RS("new", 3), [RS("old", 0)], old_pods_running=False) == {}
    assert ro.recreate_step(Rollout(0, recreate=True), new, [], old_pods_running=False) == {"new": 0}


# ------------------------------------------------------------------------------ scaling


def test_scaling_event_is_a_replicas_change_since_the_last_sizing() -> None:
    sized = RS("a", 3, desired_annotation=3)
    assert not ro.is_scaling_event(Rollout(3), [sized, RS("b", 0, desired_annotation=1)])
    assert ro.is_scaling_event(Rollout(5), [sized])
    assert not ro.is_scaling_event(Rollout(5), [RS("a", 3)])  # never sized by a deployment


def test_single_active_replica_set_takes_the_new_size() -> None:
    assert ro.scaling_plan(Rollout(5), RS("new", 3), [RS("old", 0)], 3) == {"new": 5}
    assert ro.scaling_plan(Rollout(5), None, [RS("old1", 0, created="1"), RS("old2", 0, created="2")], 0) == {"old2": 5}


def test_scaling_mid_rollout_is_proportional() -> None:
    """Kubernetes' documented example: 10 replicas, maxSurge 3, a rollout at old 8 / new 5, scaled to 15."""
    r = Rollout(15, max_surge=3, max_unavailable=2)
    new = RS("new", 5, 0, created="2", max_annotation=13, desired_annotation=10)
    old = RS("old", 8, 8, created="1", max_annotation=13, desired_annotation=10)
    assert ro.scaling_plan(r, new, [old], 13) == {"old": 11, "new": 7}


def test_scaling_down_mid_rollout_never_goes_negative_and_hits_the_total() -> None:
    r = Rollout(2, max_surge=1, max_unavailable=0)
    new = RS("new", 3, 1, created="2", max_annotation=11)
    old = RS("old", 8, 8, created="1", max_annotation=11)
    plan = ro.scaling_plan(r, new, [old], 11)
    assert sum(plan.values()) == 3 and all(v >= 0 for v in plan.values())


def test_saturated_new_replica_set_retires_the_old_ones() -> None:
    r = Rollout(3, max_surge=1)
    assert ro.scaling_plan(r, RS("new", 3, 3, desired_annotation=3), [RS("old", 1, 1)], 4) == {"old": 0}


# ------------------------------------------------------------------------------ history and revisions


def test_history_keeps_the_limit_and_only_deletes_empty_settled_sets() -> None:
    old = [RS(f"r{i}", 0, revision=i, created=str(i)) for i in range(1, 6)]
    old[1] = replace(old[1], actual=1)  # r2 still has a pod
    assert ro.history_to_delete(old, 2) == ["r1", "r3"]
    assert ro.history_to_delete(old, None) == []
    assert ro.history_to_delete(old, 10) == []


def test_new_replica_set_annotations() -> None:
    deploy = {
        "kubectl.kubernetes.io/last-applied-configuration": "{}",
        ro.CHANGE_CAUSE: "kubectl set image",
        ro.REVISION: "4",
    }
    fresh = ro.new_replica_set_annotations(deploy, {}, 1)
    assert fresh == {ro.CHANGE_CAUSE: "kubectl set image", ro.REVISION: "1"}
    # Rolled back to: the next revision, the earlier ones kept as history.
    back = ro.new_replica_set_annotations({}, {ro.REVISION: "1", ro.REVISION_HISTORY: "0"}, 3)
    assert back == {ro.REVISION: "3", ro.REVISION_HISTORY: "0,1"}
    assert ro.new_replica_set_annotations({}, {ro.REVISION: "5"}, 3) == {ro.REVISION: "5"}
    assert ro.max_revision([RS("a", 0, revision=2), RS("b", 0, revision=7)]) == 7


# ------------------------------------------------------------------------------ status and conditions


def test_status_counts_and_available_condition() -> None:
    d = deployment(3, generation=4)
    rss = [RS("new", 3, 2, 3, 2), RS("old", 1, 1, 1, 1)]
    status = ro.replica_status(d, Rollout.of(d), rss, rss[0], {}, NOW)
    assert {k: v for k, v in status.items() if k != "conditions"} == {
        "observedGeneration": 4,
        "replicas": 4,
        "updatedReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
        "unavailableReplicas": 1,
    }
    assert status["conditions"] == [
        {
            "type": "Available",
            "status": "True",
            "lastUpdateTime": "2024-05-01T12:00:00Z",
            "lastTransitionTime": "2024-05-01T12:00:00Z",
            "reason": ro.MIN_AVAILABLE,
            "message": "Deployment has minimum availability.",
        }
    ]
    low = ro.replica_status(d, Rollout.of(d), [RS("new", 3, 1, 3, 1)], None, {}, NOW)
    assert ro.get_condition(low, "Available")["reason"] == ro.MIN_UNAVAILABLE
    assert "updatedReplicas" not in low  # zero counts are omitted, as Kubernetes' JSON does


def test_set_condition_keeps_the_transition_time_of_the_same_status() -> None:
    status: dict = {}
    ro.set_condition(status, ro.condition("Progressing", "True", ro.NEW_RS_CREATED, "m", NOW))
    later = NOW + timedelta(seconds=30)
    ro.set_condition(status, ro.condition("Progressing", "True", ro.NEW_RS_CREATED, "other", later))
    assert status["conditions"][0]["message"] == "m"  # same status and reason: no change
    ro.set_condition(status, ro.condition("Progressing", "True", ro.RS_UPDATED, "x", later))
    cond = status["conditions"][0]
    assert (cond["reason"], cond["lastTransitionTime"], cond["lastUpdateTime"]) == (
        ro.RS_UPDATED,
        "2024-05-01T12:00:00Z",
        "2024-05-01T12:00:30Z",
    )
    ro.remove_condition(status, "Progressing")
    assert status == {}


def _progressing(reason: str, at: datetime, status: str = "True") -> dict:
    return {"conditions": [ro.condition("Progressing", status, reason, "m", at)]}


def test_rollout_status_complete() -> None:
    d = deployment(2)
    new = RS("web-abc", 2, 2, 2, 2)
    status = ro.rollout_status(d, Rollout.of(d), [new], new, _progressing(ro.RS_UPDATED, NOW), NOW)
    cond = ro.get_condition(status, "Progressing")
    assert (cond["status"], cond["reason"], cond["message"]) == (
        "True",
        ro.NEW_RS_AVAILABLE,
        'ReplicaSet "web-abc" has successfully progressed.',
    )
    assert ro.complete(d, status)
    assert ro.recheck_after(d, status, NOW) is None


def test_rollout_status_progress_refreshes_the_update_time() -> None:
    d = deployment(3)
    new = RS("web-abc", 3, 1, 2, 1)
    previous = {"updatedReplicas": 1, **_progressing(ro.NEW_RS_CREATED, NOW - timedelta(seconds=100))}
    status = ro.rollout_status(d, Rollout.of(d), [new], new, previous, NOW)
    cond = ro.get_condition(status, "Progressing")
    assert (cond["reason"], cond["message"], cond["lastUpdateTime"], cond["lastTransitionTime"]) == (
        ro.RS_UPDATED,
        'ReplicaSet "web-abc" is progressing.',
        "2024-05-01T12:00:00Z",
        "2024-05-01T11:58:20Z",
    )


def test_rollout_status_times_out_without_progress() -> None:
    d = deployment(3, progressDeadlineSeconds=10)
    new = RS("web-abc", 3, 0, 3, 0)
    previous = {"replicas": 3, "updatedReplicas": 3, **_progressing(ro.NEW_RS_CREATED, NOW - timedelta(seconds=5))}
    still = ro.rollout_status(d, Rollout.of(d), [new], new, previous, NOW)
    assert ro.get_condition(still, "Progressing")["reason"] == ro.NEW_RS_CREATED
    assert ro.recheck_after(d, still, NOW) == 6.0
    late = NOW + timedelta(seconds=11)
    status = ro.rollout_status(d, Rollout.of(d), [new], new, previous, late)
    cond = ro.get_condition(status, "Progressing")
    assert (cond["status"], cond["reason"], cond["message"]) == (
        "False",
        ro.TIMED_OUT,
        'ReplicaSet "web-abc" has timed out progressing.',
    )
    assert ro.recheck_after(d, status, late) is None


def test_no_deadline_means_no_progressing_condition() -> None:
    d = deployment(1, progressDeadlineSeconds=ro.NO_DEADLINE)
    new = RS("web-abc", 1, 1, 1, 1)
    status = ro.rollout_status(d, Rollout.of(d), [new], new, _progressing(ro.RS_UPDATED, NOW), NOW)
    assert ro.get_condition(status, "Progressing") is None


def test_pause_and_resume_conditions() -> None:
    status: dict = _progressing(ro.RS_UPDATED, NOW)
    ro.pause_condition(deployment(paused=True), status, NOW)
    cond = ro.get_condition(status, "Progressing")
    assert (cond["status"], cond["reason"], cond["message"]) == ("Unknown", ro.PAUSED, "Deployment is paused")
    ro.pause_condition(deployment(), status, NOW)
    cond = ro.get_condition(status, "Progressing")
    assert (cond["reason"], cond["message"]) == (ro.RESUMED, "Deployment is resumed")
    timed_out = _progressing(ro.TIMED_OUT, NOW, "False")
    ro.pause_condition(deployment(paused=True), timed_out, NOW)
    assert ro.get_condition(timed_out, "Progressing")["reason"] == ro.TIMED_OUT
