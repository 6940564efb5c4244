"""CronJob schedules and the pure CronJob sync (minikube_py.model.cronjobs), at explicit times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfoNotFoundError

import pytest

from minikube_py.model.cronjobs import (
    SCHEDULED_TIMESTAMP_ANNOTATION,
    ScheduleError,
    job_name,
    parse_schedule,
    plan_cronjob,
)
from minikube_py.model.defaults import default_cron_job
from minikube_py.model.validation import validate

Obj = dict[str, Any]


def at(text: str) -> datetime:
    """An aware UTC datetime from ``YYYY-MM-DD HH:MM[:SS]``."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def times(schedule: str, start: str, count: int, zone: str | None = None) -> list[str]:
    parsed = parse_schedule(schedule, zone)
    moment: datetime | None = at(start)
    found = []
    for _ in range(count):
        assert moment is not None
        moment = parsed.next(moment)
        assert moment is not None
        found.append(moment.strftime("%Y-%m-%d %H:%M:%S"))
    return found


# ------------------------------------------------------------------------------ schedules


def test_every_minute_is_strictly_after() -> None:
    assert times("* * * * *", "2026-12-06 08:59:00", 2) == ["2026-12-06 09:00:00", "2026-12-06 09:01:00"]
    assert times("* * * * *", "2026-12-06 08:59:59.9", 1) == ["2026-12-06 09:00:00"]


def test_ranges_steps_and_lists() -> None:
    assert times("*/20 * * * *", "2026-12-06 09:00:00", 3) == [
        "2026-12-06 09:20:00",
        "2026-12-06 09:40:00",
        "2026-12-06 10:00:00",
    ]
    assert times("5-15/5 1,3 * * *", "2026-12-06 00:00:00", 4) == [
        "2026-12-06 01:05:00",
        "2026-12-06 01:10:00",
        "2026-12-06 01:15:00",
        "2026-12-06 03:05:00",
    ]
    # "a/n" runs from a to the field's end
    assert times("50/5 * * * *", "2026-12-06 00:00:00", 3) == [
        "2026-12-06 00:50:00",
        "2026-12-06 00:55:00",
        "2026-12-06 01:50:00",
    ]


def test_names_of_months_and_days() -> None:
    # 2026-12-06 is a Sunday
    assert times("0 9 * * MON-fri", "2026-12-05 12:00:00", 2) == ["2026-12-07 09:00:00", "2026-12-08 09:00:00"]
    assert times("0 0 1 jan,Jul *", "2026-12-06 00:00:00", 2) == ["2027-01-01 00:00:00", "2027-07-01 00:00:00"]


def test_day_of_month_or_day_of_week_when_both_are_restricted() -> None:
    # the 13th or any Friday (cron's rule), but with a * day of week only the 13th
    assert times("0 0 13 * 5", "2026-12-06 00:00:00", 3) == [
        "2026-12-11 00:00:00",
        "2026-12-13 00:00:00",
        "2026-12-18 00:00:00",
    ]
    assert times("0 0 13 * *", "2026-12-06 00:00:00", 1) == ["2026-12-13 00:00:00"]
    # a stepped day of week is not a star: either field may match
    assert times("0 0 1 * */2", "2026-12-06 00:00:00", 2) == ["2026-12-08 00:00:00", "2026-12-10 00:00:00"]


@pytest.mark.parametrize(
    ("descriptor", "expected"),
    [
        ("@hourly", "2026-12-06 10:00:00"),
        ("@daily", "2026-12-07 00:00:00"),
        ("@midnight", "2026-12-07 00:00:00"),
        ("@weekly", "2026-12-13 00:00:00"),
        ("@monthly", "2027-01-01 00:00:00"),
        ("@yearly", "2027-01-01 00:00:00"),
        ("@annually", "2027-01-01 00:00:00"),
        ("@every 90s", "2026-12-06 09:31:30"),
        ("@every 1h30m", "2026-12-06 11:00:00"),
    ],
)
def test_descriptors(descriptor: str, expected: str) -> None:
    assert times(descriptor, "2026-12-06 09:30:00", 1) == [expected]


def test_time_zones_and_daylight_saving() -> None:
    # 09:00 in Berlin is 08:00 UTC in winter, 07:00 UTC in summer
    assert times("0 9 * * *", "2026-12-06 12:00:00", 1, "Europe/Berlin") == ["2026-12-07 08:00:00"]
    assert times("0 9 * * *", "2026-06-06 12:00:00", 1, "Europe/Berlin") == ["2026-06-07 07:00:00"]
    # New York springs forward on 2026-03-08: 02:30 does not exist that day and is skipped
    assert times("30 2 * * *", "2026-03-07 12:00:00", 2, "America/New_York") == [
        "2026-03-09 06:30:00",
        "2026-03-10 06:30:00",
    ]
    # and falls back on 2026-11-01: 01:30 happens twice (EDT, then EST) and runs on both passes,
    # as an every-minute schedule runs through both
    assert times("30 1 * * *", "2026-10-31 12:00:00", 3, "America/New_York") == [
        "2026-11-01 05:30:00",
        "2026-11-01 06:30:00",
        "2026-11-02 06:30:00",
    ]
    assert times("* * * * *", "2026-11-01 05:58:00", 3, "America/New_York") == [
        "2026-11-01 05:59:00",
        "2026-11-01 06:00:00",
        "2026-11-01 06:01:00",
    ]
    # a zone whose midnight falls into the gap (Havana springs forward at 00:00 on 2026-03-08)
    assert times("0 * * * *", "2026-03-08 04:30:00", 1, "America/Havana") == ["2026-03-08 05:00:00"]


def test_a_schedule_that_never_comes_has_no_next_time() -> None:
    assert parse_schedule("0 0 30 2 *").next(at("2026-12-06 00:00")) is None


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("", "empty spec string"),
        ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
        ("* * * * * *", "expected exactly 5 fields, found 6: [* * * * * *]"),
        ("@fortnightly", "unrecognized descriptor: @fortnightly"),
        ("60 * * * *", "end of range (60) above maximum (59): 60"),
        ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
        ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
        ("*/0 * * * *", "step of range should be a positive number: */0"),
        ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
        ("*/2/3 * * * *", "too many slashes: */2/3"),
        ("x * * * *", 'failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax'),
        ("* * * * 7", "end of range (7) above maximum (6): 7"),
        ("* * * foo *", 'failed to parse int from foo: strconv.Atoi: parsing "foo": invalid syntax'),
    ],
)
def test_bad_schedules(schedule: str, message: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(schedule)
    assert str(caught.value) == message


def test_unknown_and_local_zones_are_refused() -> None:
    for zone in ("Mars/Olympus", "Local", "../etc/passwd", ""):
        with pytest.raises(ZoneInfoNotFoundError):
            parse_schedule("* * * * *", zone)


# ------------------------------------------------------------------------------ API rules


def cron_job(
    schedule: str = "* * * * *", *, created: str = "2026-12-06 08:00:00", status: Obj | None = None, **spec: Any
) -> Obj:
    obj: Obj = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "cj", "namespace": "ns", "uid": "cj-uid", "creationTimestamp": ts(at(created))},
        "spec": {
            "schedule": schedule,
            "jobTemplate": {
                "metadata": {"labels": {"team": "a"}, "annotations": {"note": "x"}},
                "spec": {
                    "template": {
                        "spec": {"restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox"}]}
                    }
                },
            },
            **spec,
        },
        "status": status or {},
    }
    default_cron_job(obj)
    return obj


def test_defaults() -> None:
    spec = cron_job()["spec"]
    assert (
        spec["concurrencyPolicy"],
        spec["suspend"],
        spec["successfulJobsHistoryLimit"],
        spec["failedJobsHistoryLimit"],
    ) == ("Allow", False, 3, 1)
    assert spec["jobTemplate"]["spec"]["template"]["spec"]["dnsPolicy"] == "ClusterFirst"
    assert "completions" not in spec["jobTemplate"]["spec"]  # the Jobs are defaulted when they are made
    assert validate("CronJob", cron_job()) == []


def test_validation_causes() -> None:
    bad = cron_job("61 * * * *", timeZone="Nowhere/Town", concurrencyPolicy="Sometimes", startingDeadlineSeconds=-1)
    bad["spec"]["jobTemplate"]["spec"]["selector"] = {"matchLabels": {"a": "b"}}
    bad["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    fields = {(e.field, e.message) for e in validate("CronJob", bad)}
    assert ("spec.schedule", 'Invalid value: "61 * * * *": end of range (61) above maximum (59): 61') in fields
    assert ("spec.timeZone", 'Invalid value: "Nowhere/Town": unknown time zone Nowhere/Town') in fields
    assert (
        "spec.concurrencyPolicy",
        'Unsupported value: "Sometimes": supported values: "Allow", "Forbid", "Replace"',
    ) in fields
    assert ("spec.startingDeadlineSeconds", "Invalid value: -1: must be greater than or equal to 0") in fields
    assert {f for f, _ in fields} >= {
        "spec.jobTemplate.spec.selector",
        "spec.jobTemplate.spec.template.spec.restartPolicy",
    }
    assert [e.field for e in validate("CronJob", cron_job("CRON_TZ=UTC * * * * *"))] == [
        "spec.schedule",
        "spec.schedule",
    ]
    long = cron_job()
    long["metadata"]["name"] = "a" * 53
    assert [e.field for e in validate("CronJob", long)] == ["metadata.name"]
    assert validate("CronJob", cron_job("@hourly", timeZone="Asia/Tokyo")) == []


# ------------------------------------------------------------------------------ the sync


def job(
    name: str, *, uid: str | None = None, started: str | None = None, complete: str | None = None, failed: bool = False
) -> Obj:
    status: Obj = {}
    if started:
        status["startTime"] = ts(at(started))
    if complete:
        status["completionTime"] = ts(at(complete))
        status["conditions"] = [{"type": "Complete", "status": "True"}]
    elif failed:
        status["conditions"] = [{"type": "Failed", "status": "True"}]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": uid or f"uid-{name}",
            "ownerReferences": [{"kind": "CronJob", "name": "cj", "uid": "cj-uid", "controller": True}],
        },
        "status": status,
    }


def ref(job_obj: Obj) -> Obj:
    return {
        "kind": "Job",
        "namespace": "ns",
        "name": job_obj["metadata"]["name"],
        "uid": job_obj["metadata"]["uid"],
        "apiVersion": "batch/v1",
    }


def reasons(step: Any) -> list[str]:
    return [reason for _, reason, _ in step.events]


def test_creates_the_job_of_the_latest_schedule_time() -> None:
    now = at("2026-12-06 09:00:00.5")
    step = plan_cronjob(cron_job(), [], now)
    assert step.scheduled == at("2026-12-06 09:00")
    created = step.create
    assert created is not None
    minutes = int(at("2026-12-06 09:00").timestamp()) // 60
    assert created["metadata"]["name"] == f"cj-{minutes}" == job_name(cron_job(), step.scheduled)
    assert created["metadata"]["labels"] == {"team": "a"}
    assert created["metadata"]["annotations"] == {"note": "x", SCHEDULED_TIMESTAMP_ANNOTATION: "2026-12-06T09:00:00Z"}
    assert created["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "name": "cj",
            "uid": "cj-uid",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert created["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
    # back just after the next minute
    assert step.requeue_after == pytest.approx(59.5 + 0.1)
    assert step.events == [] and step.delete == []


def test_annotation_in_the_cron_jobs_zone() -> None:
    step = plan_cronjob(cron_job("0 10 * * *", timeZone="Europe/Berlin"), [], at("2026-12-06 09:00:01"))
    assert step.create is not None
    assert step.create["metadata"]["annotations"][SCHEDULED_TIMESTAMP_ANNOTATION] == "2026-12-06T10:00:00+01:00"


def test_nothing_before_the_first_schedule_time_but_a_requeue() -> None:
    step = plan_cronjob(cron_job("0 10 * * *"), [], at("2026-12-06 09:00:00"))
    assert step.create is None and step.scheduled is None
    assert step.requeue_after == pytest.approx(3600.1)


def test_a_time_already_scheduled_is_not_started_again() -> None:
    now = at("2026-12-06 09:00:30")
    running = job(f"cj-{int(at('2026-12-06 09:00').timestamp()) // 60}", started="2026-12-06 09:00:01")
    cj = cron_job(status={"active": [ref(running)], "lastScheduleTime": ts(at("2026-12-06 09:00"))})
    step = plan_cronjob(cj, [running], now)
    assert step.create is None
    assert step.requeue_after == pytest.approx(30.1)


def test_only_the_latest_of_few_missed_times_runs() -> None:
    cj = cron_job("*/10 * * * *", status={"lastScheduleTime": ts(at("2026-12-06 08:00"))})
    step = plan_cronjob(cj, [], at("2026-12-06 08:45:00"))
    assert step.scheduled == at("2026-12-06 08:40")
    assert "TooManyMissedTimes" not in reasons(step)
    assert step.requeue_after == pytest.approx(300.1)


def test_more_than_a_hundred_missed_times_warn_and_run_only_the_latest() -> None:
    cj = cron_job("* * * * *", created="2026-12-06 06:00:00")
    step = plan_cronjob(cj, [], at("2026-12-06 09:00:20"))
    assert step.scheduled == at("2026-12-06 09:00")
    assert reasons(step) == ["TooManyMissedTimes"]
    assert step.create is not None


def test_starting_deadline_bounds_how_late_a_run_starts() -> None:
    # the 09:00 run is 90 s late: within a 100 s deadline it starts, past a 60 s one it is missed
    cj = cron_job("0 * * * *", startingDeadlineSeconds=100, created="2026-12-06 08:30:00")
    assert plan_cronjob(cj, [], at("2026-12-06 09:01:30")).scheduled == at("2026-12-06 09:00")
    late = plan_cronjob(
        cron_job("0 * * * *", startingDeadlineSeconds=60, created="2026-12-06 08:30:00"), [], at("2026-12-06 09:01:30")
    )
    assert late.create is None
    assert late.requeue_after == pytest.approx(58 * 60 + 30 + 0.1)
    # the deadline also keeps the missed count small: a long outage warns of nothing
    old = cron_job("* * * * *", startingDeadlineSeconds=30, created="2026-01-01 00:00:00")
    step = plan_cronjob(old, [], at("2026-12-06 09:00:10"))
    assert step.scheduled == at("2026-12-06 09:00") and reasons(step) == []


def test_a_time_outside_the_deadline_window_is_never_started() -> None:
    # 09:00 is 59 min late: a 3500 s window starts at 09:00:40, so it is not even looked at
    cj = cron_job("0 * * * *", startingDeadlineSeconds=3500, created="2026-12-06 07:30:00")
    step = plan_cronjob(cj, [], at("2026-12-06 09:59:00"))
    assert step.create is None and step.events == []
    assert step.requeue_after == pytest.approx(60.1)  # the 10:00 run
    # 08:00 was missed while the controller was away, 09:00 is 5 s late: 09:00 runs
    caught_up = cron_job(
        "0 * * * *",
        startingDeadlineSeconds=10,
        created="2026-12-06 07:30:00",
        status={"lastScheduleTime": ts(at("2026-12-06 07:00"))},
    )
    assert plan_cronjob(caught_up, [], at("2026-12-06 09:00:05")).scheduled == at("2026-12-06 09:00")


def test_forbid_skips_a_run_while_one_is_active() -> None:
    running = job("cj-1", started="2026-12-06 08:59:00")
    cj = cron_job(
        concurrencyPolicy="Forbid", status={"active": [ref(running)], "lastScheduleTime": ts(at("2026-12-06 08:59"))}
    )
    step = plan_cronjob(cj, [running], at("2026-12-06 09:00:01"))
    assert step.create is None and step.delete == []
    assert reasons(step) == ["JobAlreadyActive"]
    assert step.status["active"] == [ref(running)]
    assert step.requeue_after == pytest.approx(59.1)
    # once it finished, the next time starts one
    done = job("cj-1", started="2026-12-06 08:59:00", complete="2026-12-06 09:00:30")
    step = plan_cronjob(cj, [done], at("2026-12-06 09:00:40"))
    assert step.scheduled == at("2026-12-06 09:00") and "active" not in step.status
    assert reasons(step) == ["SawCompletedJob"]
    assert step.status["lastSuccessfulTime"] == "2026-12-06T09:00:30Z"


def test_replace_deletes_the_running_job_and_starts_the_new_one() -> None:
    running = job("cj-1", started="2026-12-06 08:59:00")
    cj = cron_job(
        concurrencyPolicy="Replace", status={"active": [ref(running)], "lastScheduleTime": ts(at("2026-12-06 08:59"))}
    )
    step = plan_cronjob(cj, [running], at("2026-12-06 09:00:01"))
    assert step.delete == [running]
    assert step.create is not None and step.scheduled == at("2026-12-06 09:00")
    assert "active" not in step.status


def test_allow_runs_alongside() -> None:
    running = job("cj-1", started="2026-12-06 08:59:00")
    cj = cron_job(status={"active": [ref(running)], "lastScheduleTime": ts(at("2026-12-06 08:59"))})
    step = plan_cronjob(cj, [running], at("2026-12-06 09:00:01"))
    assert step.delete == [] and step.create is not None
    assert step.status["active"] == [ref(running)]


def test_suspended_starts_nothing_and_waits_for_an_update() -> None:
    step = plan_cronjob(cron_job(suspend=True), [], at("2026-12-06 09:00:01"))
    assert step.create is None and step.requeue_after is None and step.events == []


def test_status_follows_jobs_that_finish_or_vanish() -> None:
    gone, failed = job("cj-1"), job("cj-2", failed=True, started="2026-12-06 08:58:00")
    manual = job("manual", started="2026-12-06 08:59:30")
    cj = cron_job("0 0 1 1 *", status={"active": [ref(gone), ref(failed)]})
    step = plan_cronjob(cj, [failed, manual], at("2026-12-06 09:00:01"))
    assert "active" not in step.status
    assert sorted(reasons(step)) == ["MissingJob", "SawCompletedJob", "UnexpectedJob"]
    assert ("Normal", "SawCompletedJob", "Saw completed job: cj-2, condition: Failed") in step.events


def test_history_limits_delete_the_oldest_finished_jobs() -> None:
    succeeded = [
        job(f"ok-{i}", started=f"2026-12-06 08:0{i}:00", complete=f"2026-12-06 08:0{i}:30") for i in (3, 1, 4, 2)
    ]
    failed = [job(f"bad-{i}", started=f"2026-12-06 08:1{i}:00", failed=True) for i in (1, 2)]
    running = job("run", started="2026-12-06 08:20:00")
    cj = cron_job(
        "0 0 1 1 *", successfulJobsHistoryLimit=2, failedJobsHistoryLimit=1, status={"active": [ref(running)]}
    )
    step = plan_cronjob(cj, [*succeeded, *failed, running], at("2026-12-06 09:00:00"))
    assert [j["metadata"]["name"] for j in step.delete] == ["ok-1", "ok-2", "bad-1"]
    assert step.status["lastSuccessfulTime"] == "2026-12-06T08:04:30Z"
    none_kept = plan_cronjob(cron_job("0 0 1 1 *", successfulJobsHistoryLimit=0), succeeded, at("2026-12-06 09:00"))
    assert len(none_kept.delete) == 4


def test_unknown_zone_and_unparseable_schedule_warn_and_stop() -> None:
    zone = plan_cronjob(cron_job(timeZone="Gone/Away"), [], at("2026-12-06 09:00:01"))
    assert reasons(zone) == ["UnknownTimeZone"] and zone.create is None and zone.requeue_after is None
    bad = plan_cronjob(cron_job("nonsense"), [], at("2026-12-06 09:00:01"))
    assert reasons(bad) == ["UnparseableSchedule"] and bad.create is None
    never = plan_cronjob(cron_job("0 0 30 2 *"), [], at("2026-12-06 09:00:01"))
    assert reasons(never) == ["InvalidSchedule"] and never.create is None


def test_a_deleted_cron_job_only_updates_its_status() -> None:
    cj = cron_job()
    cj["metadata"]["deletionTimestamp"] = ts(at("2026-12-06 09:00"))
    step = plan_cronjob(cj, [job("old", complete="2026-12-06 08:00:00")], at("2026-12-06 09:00:01"))
    assert step.create is None and step.delete == [] and step.requeue_after is None
    assert step.status["lastSuccessfulTime"] == "2026-12-06T08:00:00Z"


def test_requeue_follows_the_schedule_not_a_poll() -> None:
    cj = cron_job("0 */6 * * *", status={"lastScheduleTime": ts(at("2026-12-06 06:00"))})
    step = plan_cronjob(cj, [], at("2026-12-06 09:00:00"))
    assert step.create is None
    assert step.requeue_after == pytest.approx(timedelta(hours=3).total_seconds() + 0.1)
