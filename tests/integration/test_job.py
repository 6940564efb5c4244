"""The Job controller against a real server, fake nodes and the real kubectl."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_nodes import in_process_cluster

from minikube_py.agent.runtime.fake import EXIT_CODE, RUN_SECONDS
from minikube_py.model.jobs import TRACKING_FINALIZER
from minikube_py.testing import ServerEndpoint, eventually

Obj = dict[str, Any]
NS = "default"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerEndpoint]:
    with in_process_cluster(tmp_path_factory.mktemp("job") / "data", ["n1", "n2"]) as (running, _):
        yield running


def job_manifest(
    name: str,
    *,
    completions: int | None = 1,
    parallelism: int = 1,
    backoff_limit: int = 6,
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> Obj:
    body: Obj = {
        "parallelism": parallelism,
        "backoffLimit": backoff_limit,
        **spec,
        "template": {
            "metadata": {"annotations": annotations or {}},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]},
        },
    }
    if completions is not None:
        body["completions"] = completions
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": body}


def create(server: ServerEndpoint, manifest: Obj) -> None:
    server.kubectl("-n", NS, "create", "-f", "-", input=json.dumps(manifest))


def get_job(server: ServerEndpoint, name: str) -> Obj | None:
    code, body = server.request("GET", f"/apis/batch/v1/namespaces/{NS}/jobs/{name}")
    return body if code == 200 else None


def job_pods(server: ServerEndpoint, name: str) -> list[Obj]:
    code, body = server.request("GET", f"/api/v1/namespaces/{NS}/pods?labelSelector=job-name%3D{name}")
    assert code == 200, body
    return list(body["items"])


def condition(job: Obj | None, kind: str) -> Obj | None:
    for cond in ((job or {}).get("status") or {}).get("conditions") or []:
        if cond["type"] == kind and cond["status"] == "True":
            return dict(cond)
    return None


def events_for(server: ServerEndpoint, name: str) -> list[tuple[str, str]]:
    code, body = server.request("GET", f"/api/v1/namespaces/{NS}/events?fieldSelector=involvedObject.name%3D{name}")
    assert code == 200, body
    return [(e["reason"], e["message"]) for e in body["items"]]


def active(pod: Obj) -> bool:
    return pod.get("status", {}).get("phase") not in ("Succeeded", "Failed") and not pod["metadata"].get(
        "deletionTimestamp"
    )


def test_completions_with_bounded_parallelism(server: ServerEndpoint) -> None:
    create(server, job_manifest("batch", completions=3, parallelism=2, annotations={RUN_SECONDS: "1"}))
    most, stop = 0, threading.Event()

    def sample() -> None:
        nonlocal most
        while not stop.is_set():
            most = max(most, sum(1 for p in job_pods(server, "batch") if active(p)))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        waited = server.kubectl("-n", NS, "wait", "--for=condition=complete", "job/batch", "--timeout=60s")
    finally:
        stop.set()
        sampler.join()
    assert "job.batch/batch condition met" in waited.stdout
    assert most == 2, f"at most {most} pods were active at once"
    job = get_job(server, "batch")
    assert job is not None
    status = job["status"]
    assert status["succeeded"] == 3 and status.get("failed", 0) == 0 and status.get("active", 0) == 0
    assert status["startTime"] and status["completionTime"]
    assert condition(job, "SuccessCriteriaMet") is not None
    assert status["uncountedTerminatedPods"] == {}
    table = server.kubectl("-n", NS, "get", "jobs", "batch").stdout.splitlines()
    assert table[0].split()[:3] == ["NAME", "STATUS", "COMPLETIONS"]
    assert table[1].split()[:3] == ["batch", "Complete", "3/3"]
    pods = job_pods(server, "batch")
    assert len(pods) == 3 and all(p["status"]["phase"] == "Succeeded" for p in pods)
    assert all(TRACKING_FINALIZER not in (p["metadata"].get("finalizers") or []) for p in pods)
    assert all(p["metadata"]["labels"]["controller-uid"] == job["metadata"]["uid"] for p in pods)
    reasons = [
        reason
        for reason, _ in eventually(
            lambda: (
                events_for(server, "batch") if any(r == "Completed" for r, _ in events_for(server, "batch")) else None
            ),
            what="Completed event",
        )
    ]
    assert reasons.count("SuccessfulCreate") == 3


def test_backoff_limit_fails_the_job(server: ServerEndpoint) -> None:
    create(
        server,
        job_manifest(
            "crash", completions=4, parallelism=2, backoff_limit=1, annotations={RUN_SECONDS: "0.5", EXIT_CODE: "1"}
        ),
    )
    job = eventually(lambda: (j := get_job(server, "crash")) and condition(j, "Failed") and j, what="Failed")
    failed = condition(job, "Failed")
    assert failed is not None and failed["reason"] == "BackoffLimitExceeded"
    assert job["status"]["failed"] == 2 and job["status"].get("succeeded", 0) == 0
    assert condition(job, "FailureTarget") is not None
    assert ("BackoffLimitExceeded", "Job has reached the specified backoff limit") in eventually(
        lambda: (
            events_for(server, "crash")
            if any(r == "BackoffLimitExceeded" for r, _ in events_for(server, "crash"))
            else None
        ),
        what="BackoffLimitExceeded event",
    )
    assert server.kubectl("-n", NS, "get", "jobs", "crash").stdout.splitlines()[1].split()[:3] == [
        "crash",
        "Failed",
        "0/4",
    ]


def test_failed_pod_is_replaced_after_back_off(server: ServerEndpoint) -> None:
    create(server, job_manifest("retry", backoff_limit=1, annotations={RUN_SECONDS: "0.5", EXIT_CODE: "1"}))
    job = eventually(
        lambda: (j := get_job(server, "retry")) and condition(j, "Failed") and j,
        timeout=45,
        what="Failed after one retry",
    )
    assert job["status"]["failed"] == 2
    pods = sorted(job_pods(server, "retry"), key=lambda p: p["metadata"]["creationTimestamp"])
    assert len(pods) == 2 and all(p["status"]["phase"] == "Failed" for p in pods)
    first, second = (p["metadata"]["creationTimestamp"] for p in pods)
    assert (
        time.mktime(time.strptime(second, "%Y-%m-%dT%H:%M:%SZ"))
        - time.mktime(time.strptime(first, "%Y-%m-%dT%H:%M:%SZ"))
        >= 9
    )  # the 10 s pod failure back-off


def test_active_deadline_stops_the_job(server: ServerEndpoint) -> None:
    create(server, job_manifest("slow", completions=2, parallelism=2, activeDeadlineSeconds=2))
    job = eventually(lambda: (j := get_job(server, "slow")) and condition(j, "Failed") and j, what="deadline")
    assert condition(job, "Failed")["reason"] == "DeadlineExceeded"  # type: ignore[index]
    assert job["status"]["failed"] == 2
    eventually(lambda: not job_pods(server, "slow"), what="the running pods to be deleted")


def test_ttl_after_finished_deletes_job_and_pods(server: ServerEndpoint) -> None:
    create(server, job_manifest("short", ttlSecondsAfterFinished=1, annotations={RUN_SECONDS: "0.3"}))
    eventually(lambda: condition(get_job(server, "short"), "Complete"), what="completion")
    eventually(lambda: get_job(server, "short") is None, what="the job to expire")
    eventually(lambda: not job_pods(server, "short"), what="its pods to be collected")


def test_suspend_and_resume(server: ServerEndpoint) -> None:
    create(server, job_manifest("later", suspend=True, annotations={RUN_SECONDS: "0.3"}))
    job = eventually(lambda: (j := get_job(server, "later")) and condition(j, "Suspended") and j, what="suspended")
    assert "startTime" not in job["status"]
    assert not job_pods(server, "later")
    assert server.kubectl("-n", NS, "get", "jobs", "later").stdout.splitlines()[1].split()[1] == "Suspended"
    server.kubectl("-n", NS, "patch", "job", "later", "-p", '{"spec":{"suspend":false}}')
    server.kubectl("-n", NS, "wait", "--for=condition=complete", "job/later", "--timeout=30s")
    reasons = [reason for reason, _ in events_for(server, "later")]
    assert "Suspended" in reasons and "Resumed" in reasons


def test_deleting_a_running_job_leaves_no_pod_behind(server: ServerEndpoint) -> None:
    create(server, job_manifest("gone", completions=2, parallelism=2))
    eventually(
        lambda: len([p for p in job_pods(server, "gone") if p.get("status", {}).get("phase") == "Running"]) == 2,
        what="running pods",
    )
    assert all(TRACKING_FINALIZER in p["metadata"]["finalizers"] for p in job_pods(server, "gone"))
    server.kubectl("-n", NS, "delete", "job", "gone", "--wait=false")
    eventually(lambda: not job_pods(server, "gone"), what="pods released from the finalizer and deleted")


def test_server_log_has_no_tracebacks(server: ServerEndpoint) -> None:
    assert "Traceback" not in Path(server.log_path).read_text()
