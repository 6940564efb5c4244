"""The CronJob controller against a real server, fake nodes and the real kubectl.

One every-minute CronJob carries the whole story, so the suite waits for one minute boundary only;
the concurrency policies, missed schedules and deadlines are the pure planner's, tested at explicit
times in tests/unit/test_cronjobs.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fake_nodes import in_process_cluster

from minikube_py.agent.runtime.fake import RUN_SECONDS
from minikube_py.model.cronjobs import SCHEDULED_TIMESTAMP_ANNOTATION
from minikube_py.testing import ServerEndpoint, eventually

Obj = dict[str, Any]
NS = "default"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerEndpoint]:
    with in_process_cluster(tmp_path_factory.mktemp("cronjob") / "data", ["n1"]) as (running, _):
        yield running


def get(server: ServerEndpoint, path: str) -> Obj | None:
    code, body = server.request("GET", path)
    return body if code == 200 else None


def cronjob(server: ServerEndpoint, name: str) -> Obj:
    found = get(server, f"/apis/batch/v1/namespaces/{NS}/cronjobs/{name}")
    assert found is not None
    return found


def jobs_of(server: ServerEndpoint, uid: str) -> list[Obj]:
    found = get(server, f"/apis/batch/v1/namespaces/{NS}/jobs")
    assert found is not None
    return [j for j in found["items"] if any(r.get("uid") == uid for r in j["metadata"].get("ownerReferences") or [])]


def complete(job: Obj | None) -> bool:
    return any(
        c["type"] == "Complete" and c["status"] == "True"
        for c in ((job or {}).get("status") or {}).get("conditions") or []
    )


def parse(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def test_every_minute_runs_on_the_minute_and_keeps_its_history(server: ServerEndpoint) -> None:
    manifest = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "tick"},
        "spec": {
            "schedule": "* * * * *",
            "successfulJobsHistoryLimit": 1,
            "jobTemplate": {
                "metadata": {"labels": {"team": "a"}},
                "spec": {
                    "template": {
                        "metadata": {"annotations": {RUN_SECONDS: "1"}},
                        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]},
                    }
                },
            },
        },
    }
    created = server.kubectl("-n", NS, "create", "-f", "-", input=json.dumps(manifest))
    assert created.stdout.strip() == "cronjob.batch/tick created"
    cj = cronjob(server, "tick")
    assert (cj["spec"]["concurrencyPolicy"], cj["spec"]["suspend"], cj["spec"]["failedJobsHistoryLimit"]) == (
        "Allow",
        False,
        1,
    )
    uid = cj["metadata"]["uid"]
    boundary = (datetime.now(UTC) + timedelta(minutes=1)).replace(second=0, microsecond=0)

    # a manual run from the template, as kubectl makes it: GET the CronJob, POST a Job it owns
    made = server.kubectl("-n", NS, "create", "job", "by-hand", "--from=cronjob/tick")
    assert made.stdout.strip() == "job.batch/by-hand created"
    by_hand = get(server, f"/apis/batch/v1/namespaces/{NS}/jobs/by-hand")
    assert by_hand is not None
    assert by_hand["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert by_hand["metadata"]["labels"]["team"] == "a"
    assert [(r["kind"], r["name"], r["uid"]) for r in by_hand["metadata"]["ownerReferences"]] == [
        ("CronJob", "tick", uid)
    ]
    eventually(lambda: complete(get(server, f"/apis/batch/v1/namespaces/{NS}/jobs/by-hand")), what="by-hand done")

    table = server.kubectl("-n", NS, "get", "cj").stdout.splitlines()
    read_by = datetime.now(UTC)
    assert table[0].split() == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE", "AGE"]
    assert table[1].split()[:8] == ["tick", "*", "*", "*", "*", "*", "<none>", "False"]
    if read_by < boundary:  # the manual run is done and the scheduled one not due: nothing is active
        assert table[1].split()[8] == "0", table  # (a slow host may have reached the minute by now)

    # the scheduled run: named by its minute, started on it
    name = f"tick-{int(boundary.timestamp()) // 60}"
    wait = (boundary - datetime.now(UTC)).total_seconds() + 20
    job = eventually(lambda: get(server, f"/apis/batch/v1/namespaces/{NS}/jobs/{name}"), what=name, timeout=wait)
    started = parse(job["metadata"]["creationTimestamp"])
    assert boundary <= started < boundary + timedelta(seconds=5), (boundary, started)
    md = job["metadata"]
    assert md["annotations"][SCHEDULED_TIMESTAMP_ANNOTATION] == boundary.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert md["labels"]["team"] == "a"
    assert [(r["kind"], r["name"], r["uid"], r.get("controller")) for r in md["ownerReferences"]] == [
        ("CronJob", "tick", uid, True)
    ]

    # then the status shows it, and once it finished, only the newest success stays (limit 1)
    def scheduled() -> Obj | None:
        found = cronjob(server, "tick")
        return found if (found.get("status") or {}).get("lastScheduleTime") else None

    cj = eventually(scheduled, what="lastScheduleTime")
    assert parse(cj["status"]["lastScheduleTime"]) == boundary
    eventually(lambda: complete(get(server, f"/apis/batch/v1/namespaces/{NS}/jobs/{name}")), what=f"{name} done")
    server.request(
        "PATCH",
        f"/apis/batch/v1/namespaces/{NS}/cronjobs/tick",
        {"spec": {"suspend": True}},
        content_type="application/merge-patch+json",
    )

    def settled() -> Obj | None:
        status = cronjob(server, "tick").get("status") or {}
        left = jobs_of(server, uid)
        return status if not status.get("active") and len(left) == 1 and status.get("lastSuccessfulTime") else None

    status = eventually(settled, what="history limit applied and active list empty")
    assert [j["metadata"]["name"] for j in jobs_of(server, uid)] == [name]
    assert parse(status["lastSuccessfulTime"]) >= boundary
    reasons = {
        e["reason"]
        for e in server.request("GET", f"/api/v1/namespaces/{NS}/events?fieldSelector=involvedObject.name%3Dtick")[1][
            "items"
        ]
    }
    assert {"SuccessfulCreate", "SawCompletedJob", "SuccessfulDelete"} <= reasons

    table = server.kubectl("-n", NS, "get", "cronjobs").stdout.splitlines()
    assert table[1].split()[6:9] == ["<none>", "True", "0"]
    assert table[1].split()[9] != "<none>"
