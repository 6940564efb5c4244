from datetime import UTC, datetime, timedelta
from typing import Any

from minikube_py.model.jobs import (
    TRACKING_FINALIZER,
    counts_as_failed,
    failure_backoff,
    find_condition,
    finished_at,
    plan_job,
    settle_job,
)

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
Obj = dict[str, Any]


def ts(seconds_ago: float = 0) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def job(completions: int | None = 3, parallelism: int = 2, status: Obj | None = None, **spec: Any) -> Obj:
    body: Obj = {
        "parallelism": parallelism,
        "backoffLimit": 6,
        "podReplacementPolicy": "TerminatingOrFailed",
        "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c"}]}},
        **spec,
    }
    if completions is not None:
        body["completions"] = completions
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j", "namespace": "ns", "uid": "job-uid"},
        "spec": body,
        "status": status or {},
    }


def pod(
    uid: str,
    phase: str = "Running",
    *,
    ready: bool = True,
    finalizer: bool = True,
    deleting: bool = False,
    node: str | None = "n1",
    finished_ago: float = 0,
    created_ago: float = 0,
    restarts: int = 0,
) -> Obj:
    md: Obj = {"name": f"p-{uid}", "namespace": "ns", "uid": uid, "creationTimestamp": ts(created_ago)}
    if finalizer:
        md["finalizers"] = [TRACKING_FINALIZER]
    if deleting:
        md["deletionTimestamp"] = ts()
    status: Obj = {
        "phase": phase,
        "conditions": [
            {
                "type": "Ready",
                "status": "True" if ready and phase == "Running" else "False",
                "lastTransitionTime": ts(finished_ago),
            }
        ],
        "containerStatuses": [{"name": "c", "restartCount": restarts}],
    }
    if phase in ("Succeeded", "Failed"):
        status["containerStatuses"][0]["state"] = {"terminated": {"finishedAt": ts(finished_ago)}}
    return {"metadata": md, "spec": {"nodeName": node} if node else {}, "status": status}


def test_new_job_starts_parallelism_pods_and_sets_start_time() -> None:
    step = plan_job(job(), [], NOW)
    assert step.create == 2
    assert step.status["startTime"] == ts()
    assert step.status["active"] == 2
    assert step.status["ready"] == 0
    assert step.status["uncountedTerminatedPods"] == {}


def test_active_never_exceeds_remaining_completions() -> None:
    j = job(completions=3, parallelism=2, status={"succeeded": 2, "startTime": ts(5)})
    step = plan_job(j, [], NOW)
    assert step.create == 1


def test_no_creation_while_expectations_are_pending() -> None:
    step = plan_job(job(), [], NOW, expectations_met=False)
    assert step.create == 0 and not step.delete


def test_succeeded_pod_goes_to_uncounted_then_to_the_counter() -> None:
    pods = [pod("a", "Succeeded"), pod("b")]
    step = plan_job(job(completions=2, status={"startTime": ts(5)}), pods, NOW)
    assert step.status["uncountedTerminatedPods"] == {"succeeded": ["a"]}
    assert [p["metadata"]["uid"] for p in step.release] == ["a"]
    assert step.create == 0  # one left to run, and it is running
    status = step.status
    finished = settle_job(status, {"b"}, step.final, step.terminating, NOW)
    assert status["succeeded"] == 1
    assert status["uncountedTerminatedPods"] == {}
    assert not finished


def test_released_pod_is_not_counted_twice() -> None:
    # the finalizer was removed and counted, but the cache still shows it
    j = job(completions=3, status={"startTime": ts(5), "succeeded": 1, "uncountedTerminatedPods": {}})
    step = plan_job(j, [pod("a", "Succeeded")], NOW, released=frozenset({"a"}))
    assert step.status["uncountedTerminatedPods"] == {}
    assert step.create == 2


def test_completion_goes_through_success_criteria_met_to_complete() -> None:
    j = job(completions=2, status={"startTime": ts(5), "succeeded": 1})
    step = plan_job(j, [pod("a", "Succeeded", finalizer=False), pod("b", "Succeeded")], NOW)
    cond = find_condition({"status": step.status}, "SuccessCriteriaMet")
    assert cond is not None and cond["reason"] == "CompletionsReached"
    assert step.final is not None and step.final["type"] == "Complete"
    assert settle_job(step.status, set(), step.final, step.terminating, NOW)
    complete = find_condition({"status": step.status}, "Complete")
    assert complete is not None and complete["status"] == "True"
    assert complete["message"] == "Reached expected number of succeeded pods"
    assert step.status["succeeded"] == 2 and step.status["completionTime"] == ts()
    assert finished_at({"status": step.status}) == NOW


def test_backoff_limit_exceeded_fails_and_deletes_active_pods() -> None:
    j = job(completions=5, parallelism=3, backoffLimit=1, status={"startTime": ts(5)})
    pods = [pod("a", "Failed"), pod("b", "Failed"), pod("c")]
    step = plan_job(j, pods, NOW)
    target = find_condition({"status": step.status}, "FailureTarget")
    assert target is not None and target["reason"] == "BackoffLimitExceeded"
    assert [p["metadata"]["uid"] for p in step.delete] == ["c"]
    assert step.create == 0
    assert sorted(step.status["uncountedTerminatedPods"]["failed"]) == ["a", "b", "c"]
    # the deleted pod is still terminating: Failed waits for it
    assert not settle_job(step.status, set(), step.final, step.terminating, NOW)
    assert step.status["failed"] == 3
    later = plan_job(
        {**j, "status": step.status}, [pod("a", "Failed", finalizer=False), pod("b", "Failed", finalizer=False)], NOW
    )
    assert settle_job(later.status, set(), later.final, later.terminating, NOW)
    failed = find_condition({"status": later.status}, "Failed")
    assert failed is not None and failed["reason"] == "BackoffLimitExceeded"
    assert failed["message"] == "Job has reached the specified backoff limit"


def test_on_failure_restarts_count_toward_the_backoff_limit() -> None:
    j = job(completions=1, parallelism=1, backoffLimit=2, status={"startTime": ts(5)})
    j["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    assert plan_job(j, [pod("a", restarts=1)], NOW).final is None
    step = plan_job(j, [pod("a", restarts=2)], NOW)
    assert step.final is not None and step.final["reason"] == "BackoffLimitExceeded"


def test_active_deadline() -> None:
    j = job(activeDeadlineSeconds=10, status={"startTime": ts(4)})
    step = plan_job(j, [pod("a"), pod("b")], NOW)
    assert step.final is None and step.requeue_after == 6
    j["status"]["startTime"] = ts(11)
    step = plan_job(j, [pod("a"), pod("b")], NOW)
    assert step.final is not None and step.final["reason"] == "DeadlineExceeded"
    assert len(step.delete) == 2


def test_failed_pod_is_replaced_after_back_off() -> None:
    j = job(completions=1, parallelism=1, status={"startTime": ts(30)})
    step = plan_job(j, [pod("a", "Failed", finished_ago=3)], NOW)
    assert step.create == 0 and step.requeue_after == 7
    assert step.status["uncountedTerminatedPods"] == {"failed": ["a"]}
    later = plan_job(j, [pod("a", "Failed", finished_ago=11)], NOW)
    assert later.create == 1


def test_back_off_doubles_per_failure_and_resets_on_success() -> None:
    j = job()
    two = [pod("a", "Failed", finished_ago=30), pod("b", "Failed", finished_ago=5)]
    assert failure_backoff(j, two, NOW) == 15  # 20 s after the second failure
    reset = [
        pod("a", "Failed", finished_ago=30),
        pod("s", "Succeeded", finished_ago=20),
        pod("b", "Failed", finished_ago=5),
    ]
    assert failure_backoff(j, reset, NOW) == 5


def test_deleted_running_pod_counts_as_failed_unless_only_failed_pods_are_replaced() -> None:
    j = job()
    assert counts_as_failed(pod("a", deleting=True), j)
    j["spec"]["podReplacementPolicy"] = "Failed"
    assert not counts_as_failed(pod("a", deleting=True), j)


def test_terminating_pods_are_waited_for_with_replacement_policy_failed() -> None:
    j = job(completions=2, parallelism=2, podReplacementPolicy="Failed", status={"startTime": ts(5)})
    step = plan_job(j, [pod("a", deleting=True), pod("b")], NOW)
    assert step.create == 0
    assert step.status["terminating"] == 1


def test_suspend_deletes_active_pods_and_resume_restarts_the_clock() -> None:
    j = job(suspend=True, status={"startTime": ts(100)})
    step = plan_job(j, [pod("a"), pod("b")], NOW)
    assert len(step.delete) == 2 and step.create == 0
    assert ("Normal", "Suspended", "Job suspended") in step.events
    assert find_condition({"status": step.status}, "Suspended")["status"] == "True"  # type: ignore[index]
    resumed = plan_job(job(suspend=False, status=step.status), [], NOW)
    assert resumed.create == 2
    assert ("Normal", "Resumed", "Job resumed") in resumed.events
    assert resumed.status["startTime"] == ts()


def test_created_suspended_job_has_no_start_time() -> None:
    step = plan_job(job(suspend=True), [], NOW)
    assert "startTime" not in step.status and step.create == 0


def test_scale_down_removes_cheapest_pods_first() -> None:
    j = job(completions=10, parallelism=1, status={"startTime": ts(5)})
    pods = [pod("ready-old", created_ago=50), pod("pending", "Pending", node=None), pod("ready-new", created_ago=5)]
    step = plan_job(j, pods, NOW)
    assert [p["metadata"]["uid"] for p in step.delete] == ["pending", "ready-new"]


def test_work_queue_job_completes_after_first_success_and_running_pods_end() -> None:
    j = job(completions=None, parallelism=2, status={"startTime": ts(5)})
    step = plan_job(j, [pod("a", "Succeeded"), pod("b")], NOW)
    assert step.create == 0 and step.final is None
    done = plan_job(j, [pod("a", "Succeeded"), pod("b", "Succeeded")], NOW)
    assert done.final is not None and done.final["type"] == "Complete"
