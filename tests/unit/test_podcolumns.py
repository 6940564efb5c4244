"""The READY / STATUS / RESTARTS rules of ``kubectl get pods`` and Kubernetes' HumanDuration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from minikube_py.model.podcolumns import pod_ready_count, pod_restarts, pod_status_reason, summarize_pod
from minikube_py.model.times import human_duration, parse_time, since

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(
    containers: int = 1,
    *,
    phase: str = "Running",
    statuses: list[dict[str, Any]] | None = None,
    init: list[dict[str, Any]] | None = None,
    init_statuses: list[dict[str, Any]] | None = None,
    conditions: list[dict[str, Any]] | None = None,
    deleting: bool = False,
    reason: str | None = None,
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "metadata": {"name": "web", "namespace": "default", "creationTimestamp": ago(minutes=10)},
        "spec": {"containers": [{"name": f"c{i}", "image": "nginx"} for i in range(containers)]},
        "status": {"phase": phase},
    }
    if init is not None:
        obj["spec"]["initContainers"] = init
    if statuses is not None:
        obj["status"]["containerStatuses"] = statuses
    if init_statuses is not None:
        obj["status"]["initContainerStatuses"] = init_statuses
    if conditions is not None:
        obj["status"]["conditions"] = conditions
    if reason is not None:
        obj["status"]["reason"] = reason
    if deleting:
        obj["metadata"]["deletionTimestamp"] = ago(seconds=3)
    return obj


def running(name: str = "c0", ready: bool = True, restarts: int = 0) -> dict[str, Any]:
    return {
        "name": name,
        "ready": ready,
        "restartCount": restarts,
        "started": True,
        "state": {"running": {"startedAt": ago(minutes=9)}},
    }


def waiting(reason: str, name: str = "c0", restarts: int = 0, last_finished: str | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {
        "name": name,
        "ready": False,
        "restartCount": restarts,
        "state": {"waiting": {"reason": reason}},
    }
    if last_finished:
        status["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": last_finished}}
    return status


def terminated(name: str = "c0", exit_code: int = 0, reason: str | None = None, signal: int = 0) -> dict[str, Any]:
    state: dict[str, Any] = {"exitCode": exit_code, "finishedAt": ago(minutes=1)}
    if reason:
        state["reason"] = reason
    if signal:
        state["signal"] = signal
    return {"name": name, "ready": False, "restartCount": 0, "state": {"terminated": state}}


def test_pending_unscheduled_pod_shows_its_phase() -> None:
    unscheduled = pod(
        phase="Pending", conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]
    )
    assert pod_status_reason(unscheduled) == "Pending"
    assert pod_ready_count(unscheduled) == (0, 1)
    assert pod_restarts(unscheduled, NOW) == "0"


def test_scheduling_gated_pod() -> None:
    gated = pod(phase="Pending", conditions=[{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}])
    assert pod_status_reason(gated) == "SchedulingGated"


@pytest.mark.parametrize(
    "reason", ["ContainerCreating", "ErrImagePull", "ImagePullBackOff", "CreateContainerConfigError"]
)
def test_waiting_reason_becomes_status(reason: str) -> None:
    creating = pod(phase="Pending", statuses=[waiting(reason)])
    assert pod_status_reason(creating) == reason
    assert pod_ready_count(creating) == (0, 1)


def test_running_ready_pod() -> None:
    web = pod(2, statuses=[running("c0"), running("c1")], conditions=[{"type": "Ready", "status": "True"}])
    assert summarize_pod(web).reason == "Running"
    assert pod_ready_count(web) == (2, 2)
    assert pod_restarts(web, NOW) == "0"


def test_running_but_not_ready_container_is_not_counted() -> None:
    web = pod(statuses=[running(ready=False)])
    assert pod_status_reason(web) == "Running"
    assert pod_ready_count(web) == (0, 1)


def test_crash_loop_shows_restarts_with_last_restart_age() -> None:
    crashing = pod(statuses=[waiting("CrashLoopBackOff", restarts=3, last_finished=ago(minutes=5))])
    assert pod_status_reason(crashing) == "CrashLoopBackOff"
    assert pod_ready_count(crashing) == (0, 1)
    assert pod_restarts(crashing, NOW) == "3 (5m ago)"


def test_restarts_without_termination_record_are_a_bare_count() -> None:
    assert pod_restarts(pod(statuses=[running(restarts=2)]), NOW) == "2"


def test_restarts_sum_over_containers_and_take_latest_finish() -> None:
    first = waiting("CrashLoopBackOff", "c0", restarts=2, last_finished=ago(minutes=30))
    second = waiting("CrashLoopBackOff", "c1", restarts=1, last_finished=ago(seconds=42))
    assert pod_restarts(pod(2, statuses=[first, second]), NOW) == "3 (42s ago)"


def test_completed_and_error_pods() -> None:
    done = pod(phase="Succeeded", statuses=[terminated(reason="Completed")])
    failed = pod(phase="Failed", statuses=[terminated(exit_code=1, reason="Error")])
    assert pod_status_reason(done) == "Completed"
    assert pod_status_reason(failed) == "Error"
    assert pod_ready_count(done) == (0, 1)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (terminated(exit_code=137, signal=9), "Signal:9"),
        (terminated(exit_code=1), "ExitCode:1"),
        (terminated(exit_code=137, reason="OOMKilled"), "OOMKilled"),
    ],
)
def test_terminated_without_reason_shows_signal_or_exit_code(state: dict[str, Any], expected: str) -> None:
    assert pod_status_reason(pod(phase="Failed", statuses=[state])) == expected


def test_first_container_state_wins() -> None:
    mixed = pod(2, statuses=[waiting("ImagePullBackOff", "c0"), waiting("CrashLoopBackOff", "c1")])
    assert pod_status_reason(mixed) == "ImagePullBackOff"


def test_completed_container_next_to_running_one() -> None:
    statuses = [terminated("c0", reason="Completed"), running("c1")]
    assert pod_status_reason(pod(2, statuses=statuses, conditions=[{"type": "Ready", "status": "True"}])) == "Running"
    assert pod_status_reason(pod(2, statuses=statuses, conditions=[{"type": "Ready", "status": "False"}])) == "NotReady"


INIT = [{"name": "migrate", "image": "busybox"}, {"name": "seed", "image": "busybox"}]


def test_init_progress_counts_finished_init_containers() -> None:
    first_running = pod(
        phase="Pending",
        init=INIT,
        statuses=[waiting("PodInitializing")],
        init_statuses=[
            {"name": "migrate", "restartCount": 0, "state": {"running": {}}},
            {"name": "seed", "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}},
        ],
    )
    assert pod_status_reason(first_running) == "Init:0/2"
    assert pod_ready_count(first_running) == (0, 1)
    second = pod(
        phase="Pending",
        init=INIT,
        init_statuses=[terminated("migrate"), {"name": "seed", "restartCount": 0, "state": {"running": {}}}],
    )
    assert pod_status_reason(second) == "Init:1/2"


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (terminated("migrate", exit_code=1, reason="Error"), "Init:Error"),
        (terminated("migrate", exit_code=2), "Init:ExitCode:2"),
        (terminated("migrate", exit_code=137, signal=9), "Init:Signal:9"),
        (waiting("CrashLoopBackOff", "migrate", restarts=4, last_finished=ago(minutes=2)), "Init:CrashLoopBackOff"),
    ],
)
def test_failing_init_container(state: dict[str, Any], expected: str) -> None:
    failing = pod(phase="Pending", init=INIT, init_statuses=[state])
    assert pod_status_reason(failing) == expected


def test_init_restarts_are_reported_while_initialising() -> None:
    crashing = pod(
        phase="Pending",
        init=INIT,
        init_statuses=[waiting("CrashLoopBackOff", "migrate", restarts=4, last_finished=ago(minutes=2))],
    )
    assert pod_restarts(crashing, NOW) == "4 (2m ago)"


def test_started_sidecar_counts_as_ready_container() -> None:
    sidecar_pod = pod(
        init=[{"name": "proxy", "image": "envoy", "restartPolicy": "Always"}],
        init_statuses=[running("proxy", restarts=1)],
        statuses=[running("c0")],
        conditions=[{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
    )
    assert pod_status_reason(sidecar_pod) == "Running"
    assert pod_ready_count(sidecar_pod) == (2, 2)
    assert pod_restarts(sidecar_pod, NOW) == "1"


def test_deleted_pod_is_terminating_unless_finished() -> None:
    assert pod_status_reason(pod(statuses=[running()], deleting=True)) == "Terminating"
    finished = pod(phase="Succeeded", statuses=[terminated(reason="Completed")], deleting=True)
    assert pod_status_reason(finished) == "Completed"


def test_deleted_pod_on_lost_node_is_unknown() -> None:
    lost = pod(statuses=[running()], deleting=True, reason="NodeLost")
    assert pod_status_reason(lost) == "Unknown"


def test_pod_reason_overrides_phase() -> None:
    assert pod_status_reason(pod(phase="Failed", reason="Evicted")) == "Evicted"


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (-3, "<invalid>"),
        (-1.5, "0s"),
        (0, "0s"),
        (5, "5s"),
        (119, "119s"),
        (120, "2m"),
        (182, "3m2s"),
        (599, "9m59s"),
        (600, "10m"),
        (179 * 60 + 59, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 5 * 60, "3h5m"),
        (8 * 3600 - 60, "7h59m"),
        (8 * 3600, "8h"),
        (47 * 3600, "47h"),
        (48 * 3600, "2d"),
        (51 * 3600, "2d3h"),
        (8 * 86400 - 3600, "7d23h"),
        (8 * 86400, "8d"),
        (729 * 86400, "729d"),
        (730 * 86400, "2y"),
        (731 * 86400, "2y1d"),
        (8 * 365 * 86400, "8y"),
        (3653 * 86400, "10y"),
    ],
)
def test_human_duration_boundaries(seconds: float, expected: str) -> None:
    assert human_duration(timedelta(seconds=seconds)) == expected


def test_since_parses_rfc3339_and_micro_time() -> None:
    assert since(ago(minutes=3, seconds=2), NOW) == "3m2s"
    assert since("2026-01-01T11:59:54.123456Z", NOW) == "5s"
    assert since("2026-01-01T13:00:00+02:00", NOW) == "60m"  # 11:00Z
    assert since(None, NOW) == "<unknown>"
    assert parse_time("") is None
