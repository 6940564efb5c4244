"""PodDisruptionBudget arithmetic and the eviction decision (minikube_py.model.disruption), as
Kubernetes' disruption controller and eviction subresource compute them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from minikube_py.model.disruption import (
    EVICTION_REFUSED,
    MULTIPLE_BUDGETS,
    Free,
    Refusal,
    Spend,
    budget_status,
    decide_eviction,
    expected_and_desired,
    failed_status,
    needs_scale,
    selects,
)
from minikube_py.model.times import rfc3339

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _pdb(generation: int = 1, status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    spec.setdefault("selector", {"matchLabels": {"app": "web"}})
    return {
        "metadata": {"name": "budget", "namespace": "ns", "generation": generation},
        "spec": spec,
        "status": status or {},
    }


def _pod(
    name: str, ready: bool = True, phase: str = "Running", deleting: bool = False, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    md: dict[str, Any] = {
        "name": name,
        "namespace": "ns",
        "labels": {"app": "web"} if labels is None else labels,
        "resourceVersion": "7",
    }
    if deleting:
        md["deletionTimestamp"] = rfc3339(NOW)
    return {
        "metadata": md,
        "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


@pytest.mark.parametrize(
    ("spec", "pods", "scale", "expected"),
    [
        ({"minAvailable": 2}, 3, 5, (3, 2)),  # an integer minAvailable counts the matching pods
        ({"minAvailable": "50%"}, 3, 5, (5, 3)),  # 2.5 rounds up
        ({"minAvailable": "100%"}, 2, 3, (3, 3)),
        ({"maxUnavailable": 1}, 3, 4, (4, 3)),  # maxUnavailable always takes the controllers' scale
        ({"maxUnavailable": "30%"}, 3, 4, (4, 2)),  # 1.2 unavailable rounds up to 2
        ({"maxUnavailable": 5}, 3, 3, (3, 0)),  # never below zero
        ({"maxUnavailable": "0%"}, 0, 0, (0, 0)),
        ({}, 2, 0, (2, 0)),
    ],
)
def test_expected_and_desired_pods(spec: dict[str, Any], pods: int, scale: int, expected: tuple[int, int]) -> None:
    assert expected_and_desired(_pdb(**spec), pods, scale) == expected


def test_only_percentages_and_max_unavailable_need_the_controllers_scale() -> None:
    assert not needs_scale(_pdb(minAvailable=1))
    assert needs_scale(_pdb(minAvailable="10%")) and needs_scale(_pdb(maxUnavailable=0))


def test_a_malformed_percentage_fails() -> None:
    with pytest.raises(ValueError):
        expected_and_desired(_pdb(minAvailable="half"), 1, 1)


def test_selector_in_policy_v1() -> None:
    pod = _pod("a")
    assert selects(_pdb(), pod)
    assert not selects(_pdb(selector={"matchLabels": {"app": "db"}}), pod)
    assert selects(_pdb(selector={}), pod), "an empty selector selects every pod of the namespace"
    none = _pdb()
    del none["spec"]["selector"]
    assert not selects(none, pod), "a missing selector selects nothing"
    assert not selects(_pdb(), {**pod, "metadata": {**pod["metadata"], "namespace": "other"}})


def test_status_counts_ready_pods_but_not_terminating_or_just_evicted_ones() -> None:
    pods = [_pod("a"), _pod("b"), _pod("c", ready=False), _pod("d", deleting=True), _pod("e")]
    pdb = _pdb(
        minAvailable=2, status={"disruptedPods": {"e": rfc3339(NOW - timedelta(seconds=10)), "gone": rfc3339(NOW)}}
    )
    result = budget_status(pdb, pods, 0, NOW)
    status = result.status
    assert (status["expectedPods"], status["currentHealthy"], status["desiredHealthy"]) == (5, 2, 2)
    assert status["disruptionsAllowed"] == 0
    assert status["disruptedPods"] == {"e": rfc3339(NOW - timedelta(seconds=10))}, "a pod that is gone is dropped"
    assert result.recheck == NOW - timedelta(seconds=10) + timedelta(minutes=2)
    condition = status["conditions"][0]
    assert (condition["type"], condition["status"], condition["reason"]) == (
        "DisruptionAllowed",
        "False",
        "InsufficientPods",
    )
    assert status["observedGeneration"] == 1


def test_an_eviction_not_followed_by_a_deletion_expires() -> None:
    pdb = _pdb(minAvailable=1, status={"disruptedPods": {"a": rfc3339(NOW - timedelta(minutes=3))}})
    status = budget_status(pdb, [_pod("a"), _pod("b")], 0, NOW).status
    assert "disruptedPods" not in status and status["disruptionsAllowed"] == 1


def test_allowed_disruptions_and_the_condition_transition() -> None:
    pods = [_pod("a"), _pod("b"), _pod("c")]
    first = budget_status(_pdb(maxUnavailable=1), pods, 3, NOW).status
    assert first["disruptionsAllowed"] == 1
    assert first["conditions"] == [
        {
            "type": "DisruptionAllowed",
            "status": "True",
            "reason": "SufficientPods",
            "message": "",
            "observedGeneration": 1,
            "lastTransitionTime": rfc3339(NOW),
        }
    ]
    later = NOW + timedelta(minutes=1)
    same = budget_status(_pdb(maxUnavailable=1, status=first), pods, 3, later).status
    assert same["conditions"][0]["lastTransitionTime"] == rfc3339(NOW), "no transition, no new time"


def test_no_expected_pods_allows_no_disruption() -> None:
    assert budget_status(_pdb(maxUnavailable=1), [], 0, NOW).status["disruptionsAllowed"] == 0


def test_fail_safe_status() -> None:
    status = failed_status(_pdb(status={"disruptionsAllowed": 3}), 'found no controllers for pod "a"', NOW)
    assert status["disruptionsAllowed"] == 0
    assert status["conditions"][0]["reason"] == "SyncFailed"
    assert status["conditions"][0]["message"] == 'found no controllers for pod "a"'


def _ready_budget(allowed: int, **spec: Any) -> dict[str, Any]:
    return _pdb(
        status={
            "observedGeneration": 1,
            "disruptionsAllowed": allowed,
            "currentHealthy": 3,
            "desiredHealthy": 3 - allowed,
            "expectedPods": 3,
        },
        **spec,
    )


def test_eviction_without_a_budget_is_free() -> None:
    assert decide_eviction(_pod("a"), [], NOW) == Free()


def test_eviction_spends_one_disruption_and_records_the_pod() -> None:
    decision = decide_eviction(_pod("a"), [_ready_budget(1, minAvailable=2)], NOW)
    assert isinstance(decision, Spend)
    status = decision.budget["status"]
    assert status["disruptionsAllowed"] == 0
    assert status["disruptedPods"] == {"a": rfc3339(NOW)}
    assert status["conditions"][0]["reason"] == "InsufficientPods"


def test_eviction_refused_when_no_disruption_is_allowed() -> None:
    decision = decide_eviction(_pod("a"), [_ready_budget(0, minAvailable=3)], NOW)
    assert decision == Refusal(
        429, EVICTION_REFUSED, "The disruption budget budget needs 3 healthy pods and has 3 currently"
    )


def test_eviction_waits_for_the_controller_to_see_a_new_generation() -> None:
    pdb = _ready_budget(1, minAvailable=2)
    pdb["metadata"]["generation"] = 2
    decision = decide_eviction(_pod("a"), [pdb], NOW)
    assert decision == Refusal(
        429, EVICTION_REFUSED, "The disruption budget budget is still being processed by the server."
    )


def test_eviction_with_two_budgets_is_an_internal_error() -> None:
    assert decide_eviction(_pod("a"), [_ready_budget(1), _ready_budget(1)], NOW) == Refusal(500, MULTIPLE_BUDGETS)


@pytest.mark.parametrize(
    "pod",
    [
        _pod("a", phase="Pending", ready=False),
        _pod("a", phase="Succeeded", ready=False),
        _pod("a", phase="Failed", ready=False),
        _pod("a", deleting=True),
    ],
)
def test_a_pod_that_is_not_running_is_evicted_without_its_budget(pod: dict[str, Any]) -> None:
    assert decide_eviction(pod, [_ready_budget(0)], NOW) == Free()


def test_an_unready_pod_and_the_unhealthy_pod_eviction_policy() -> None:
    unready = _pod("a", ready=False)
    healthy_budget = _ready_budget(0, minAvailable=3)  # currentHealthy 3 >= desiredHealthy 3
    assert decide_eviction(unready, [healthy_budget], NOW) == Free(if_unchanged=True)
    starved = _pdb(
        minAvailable=3,
        status={"observedGeneration": 1, "disruptionsAllowed": 0, "currentHealthy": 2, "desiredHealthy": 3},
    )
    assert isinstance(decide_eviction(unready, [starved], NOW), Refusal)
    starved["spec"]["unhealthyPodEvictionPolicy"] = "AlwaysAllow"
    assert decide_eviction(unready, [starved], NOW) == Free(if_unchanged=True)
