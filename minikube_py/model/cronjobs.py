"""CronJob decisions as pure functions: cron schedules, and what one sync of a CronJob does, following
Kubernetes' CronJob controller (``pkg/controller/cronjob``, 1.32).

Schedules are the standard five-field cron syntax Kubernetes accepts (robfig/cron's
``ParseStandard``): minute, hour, day of month, month, day of week, each a ``*``, a number, a name
(``jan``..``dec``, ``sun``..``sat``), a range ``a-b``, a step ``*/n`` or ``a-b/n`` or ``a/n``, or a
comma list of these; or a descriptor (``@yearly``, ``@annually``, ``@monthly``, ``@weekly``,
``@daily``, ``@midnight``, ``@hourly``, ``@every <duration>``). As in cron, a day matches when both
day fields match, except that when neither of them is ``*`` either one matching is enough.

Times are found in the CronJob's ``spec.timeZone`` (an IANA zone through :mod:`zoneinfo`), else in
UTC: Kubernetes uses the controller manager's zone, and pykube's controller runs in UTC. Around a
daylight-saving change a wall-clock time that does not exist is skipped, and one that happens twice
runs twice, as in Kubernetes (whose cron library steps hours and minutes by elapsed time).

:func:`plan_cronjob` decides one sync. Only the most recent missed schedule ever starts a Job, as in
Kubernetes: a controller that was down for a weekend does not start every hourly run it missed, and
more than 100 missed schedules also warn (``TooManyMissedTimes``), because so many usually mean a
clock gone wrong. ``startingDeadlineSeconds`` bounds how late a run may start.
"""

from __future__ import annotations

import calendar
import copy
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from minikube_py.model.conditions import set_or_omit
from minikube_py.model.jobs import COMPLETE, FAILED, find_condition, is_finished
from minikube_py.model.podtemplate import owned_object
from minikube_py.model.times import parse_go_duration, parse_time, rfc3339

Obj = dict[str, Any]

#: the annotation that tells a Job which scheduled time it runs for (RFC 3339 in the CronJob's zone)
SCHEDULED_TIMESTAMP_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"
#: more missed schedules than this warn and suggest ``startingDeadlineSeconds``
MANY_MISSED = 100
#: the requeue lands this long after a schedule time, so the sync surely sees the time as passed
NEXT_SCHEDULE_DELTA = 0.1
CONCURRENCY_POLICIES = ("Allow", "Forbid", "Replace")

_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
#: a schedule with no time in this many years has none at all (robfig/cron gives up after five too)
_SEARCH_YEARS = 5


class ScheduleError(ValueError):
    """A schedule that does not parse; the message is robfig/cron's, which Kubernetes shows."""


# ------------------------------------------------------------------------------ schedules


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    #: the index of the first name (months count from 1, days from 0)
    first: int = 0


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12, _MONTHS, 1),
    _Field("day of week", 0, 6, _DAYS, 0),
)


def _number(text: str) -> int:
    if not re.fullmatch(r"-?\d+", text):
        raise ScheduleError(f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": invalid syntax')
    value = int(text)
    if value < 0:
        raise ScheduleError(f"negative number ({value}) not allowed: {text}")
    return value


def _number_or_name(text: str, spec: _Field) -> int:
    if spec.names and text.lower() in spec.names:
        return spec.names.index(text.lower()) + spec.first
    return _number(text)


def _range(expr: str, spec: _Field) -> tuple[frozenset[int], bool]:
    """The values one comma-separated part allows, and whether it is a bare ``*`` (or ``?``)."""
    range_and_step = expr.split("/")
    low_high = range_and_step[0].split("-")
    star = low_high[0] in ("*", "?")
    if star:
        start, end = spec.low, spec.high
    else:
        start = _number_or_name(low_high[0], spec)
        if len(low_high) == 1:
            end = start
        elif len(low_high) == 2:
            end = _number_or_name(low_high[1], spec)
        else:
            raise ScheduleError(f"too many hyphens: {expr}")
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _number(range_and_step[1])
        if len(low_high) == 1:  # "a/n" means "a-max/n"
            end = spec.high
        if step > 1:
            star = False
    else:
        raise ScheduleError(f"too many slashes: {expr}")
    if start < spec.low:
        raise ScheduleError(f"beginning of range ({start}) below minimum ({spec.low}): {expr}")
    if end > spec.high:
        raise ScheduleError(f"end of range ({end}) above maximum ({spec.high}): {expr}")
    if start > end:
        raise ScheduleError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise ScheduleError(f"step of range should be a positive number: {expr}")
    return frozenset(range(start, end + 1, step)), star


def _field(text: str, spec: _Field) -> tuple[frozenset[int], bool]:
    values: set[int] = set()
    star = False
    for part in text.split(","):
        allowed, is_star = _range(part, spec)
        values |= allowed
        star = star or is_star
    return frozenset(values), star


def _go_duration(text: str) -> float:
    """Seconds in a Go duration (``90s``, ``1h30m``), as ``@every`` takes it."""
    try:
        return parse_go_duration(text)
    except ValueError as exc:
        raise ScheduleError(str(exc)) from None


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule in a time zone. ``every`` is set for ``@every`` schedules (a fixed delay in
    whole seconds), the five value sets otherwise."""

    zone: ZoneInfo | None
    minutes: frozenset[int] = frozenset()
    hours: frozenset[int] = frozenset()
    days: frozenset[int] = frozenset()
    months: frozenset[int] = frozenset()
    weekdays: frozenset[int] = frozenset()
    #: whether day of month or day of week is ``*``: then both must match, else either
    day_star: bool = True
    every: int | None = None

    def _day_matches(self, moment: datetime) -> bool:
        dom = moment.day in self.days
        dow = (moment.weekday() + 1) % 7 in self.weekdays  # cron counts Sunday as 0
        return (dom and dow) if self.day_star else (dom or dow)

    def next(self, after: datetime) -> datetime | None:
        """The first schedule time strictly after ``after`` (an aware datetime), in UTC; None if
        the schedule has none within five years (``0 0 30 2 *``).

        As robfig/cron's ``SpecSchedule.Next``: months and days step by the calendar, hours and
        minutes by elapsed time, so around daylight saving a skipped wall-clock hour never matches
        and a repeated one matches on both passes."""
        after = after.astimezone(UTC)
        if self.every is not None:
            return after.replace(microsecond=0) + timedelta(seconds=self.every)
        zone = self.zone or UTC
        moment = _elapsed(after.replace(second=0, microsecond=0), timedelta(minutes=1), zone)
        limit = moment.year + _SEARCH_YEARS
        while moment.year <= limit:
            if moment.month not in self.months:
                year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
                moment = _midnight(datetime(year, month, 1), zone)
                continue
            if not self._day_matches(moment):
                moment = _midnight(datetime(moment.year, moment.month, moment.day) + timedelta(days=1), zone)
                continue
            if moment.hour not in self.hours:
                moment = _elapsed(moment.replace(minute=0), timedelta(hours=1), zone)
                continue
            if moment.minute not in self.minutes:
                moment = _elapsed(moment, timedelta(minutes=1), zone)
                continue
            return moment.astimezone(UTC)
        return None


def _elapsed(moment: datetime, step: timedelta, zone: ZoneInfo | Any) -> datetime:
    """``moment`` plus ``step`` of elapsed time, in ``zone`` (aware arithmetic in Python is
    wall-clock arithmetic, which would step over a repeated hour)."""
    return (moment.astimezone(UTC) + step).astimezone(zone)


def _midnight(day: datetime, zone: ZoneInfo | Any) -> datetime:
    """The start of a (naive) calendar day in ``zone``: the first instant whose wall clock shows
    that day, even where midnight itself falls into a daylight-saving gap."""
    start = day.replace(tzinfo=zone).astimezone(UTC).astimezone(zone)
    if start.date() < day.date():  # a gap made the naive midnight earlier: step past it
        start = _elapsed(start, timedelta(hours=1), zone)
    return start


def parse_schedule(schedule: str, time_zone: str | None = None) -> Schedule:
    """Parse ``schedule`` in ``time_zone`` (UTC when None); raises :class:`ScheduleError` with the
    message Kubernetes gives, or :class:`ZoneInfoNotFoundError` for an unknown zone."""
    zone = load_zone(time_zone) if time_zone is not None else None
    text = schedule.strip()
    if not text:
        raise ScheduleError("empty spec string")
    if text.startswith("@"):
        if text.startswith("@every "):
            seconds = _go_duration(text[len("@every ") :].strip())
            return Schedule(zone, every=max(1, int(seconds)))
        if text not in _DESCRIPTORS:
            raise ScheduleError(f"unrecognized descriptor: {text}")
        text = _DESCRIPTORS[text]
    fields = text.split()
    if len(fields) != 5:
        raise ScheduleError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    (minutes, _), (hours, _), (days, dom_star), (months, _), (weekdays, dow_star) = (
        _field(part, spec) for part, spec in zip(fields, _FIELDS, strict=True)
    )
    return Schedule(zone, minutes, hours, days, months, weekdays, day_star=dom_star or dow_star)


def load_zone(name: str) -> ZoneInfo:
    """An IANA time zone; "Local" and relative paths are refused, as Kubernetes refuses them."""
    if (
        not name
        or name.lower() == "local"
        or any(part in (".", "..") or part.startswith("-") for part in name.split("/"))
    ):
        raise ZoneInfoNotFoundError(f"unknown time zone {name}")
    try:
        return ZoneInfo(name)
    except (ValueError, OSError) as exc:
        raise ZoneInfoNotFoundError(f"unknown time zone {name}") from exc


def schedule_error(schedule: str) -> str | None:
    """Why ``schedule`` does not parse (None when it does); the zone is validated separately."""
    try:
        parse_schedule(schedule)
    except ScheduleError as exc:
        return str(exc)
    return None


# ------------------------------------------------------------------------------ missed schedules


def _earliest(cronjob: Obj) -> datetime:
    """The time schedules are counted from: the last scheduled run, else the CronJob's creation."""
    status = cronjob.get("status") or {}
    md = cronjob.get("metadata") or {}
    return (
        parse_time(status.get("lastScheduleTime"))
        or parse_time(md.get("creationTimestamp"))
        or datetime.fromtimestamp(0, UTC)
    )


@dataclass(frozen=True)
class _Recent:
    earliest: datetime
    #: the latest schedule time not after now, if any came since ``earliest``
    latest: datetime | None
    missed: int
    #: the schedule has no usable interval (no second time, or two in the same second)
    invalid: bool = False


def _most_recent(cronjob: Obj, schedule: Schedule, now: datetime, with_deadline: bool) -> _Recent:
    """Kubernetes' ``mostRecentScheduleTime``: it estimates the missed count from the first
    interval rather than walking every missed time, so a wildly wrong clock costs nothing."""
    earliest = _earliest(cronjob)
    deadline = (cronjob.get("spec") or {}).get("startingDeadlineSeconds")
    if with_deadline and deadline is not None:
        earliest = max(earliest, now - timedelta(seconds=int(deadline)))
    first = schedule.next(earliest)
    if first is None:
        return _Recent(earliest, None, 0, invalid=True)
    if now < first:
        return _Recent(earliest, None, 0)
    second = schedule.next(first)
    if second is None:
        return _Recent(earliest, first, 1)
    if now < second:
        return _Recent(earliest, first, 1)
    interval = round((second - first).total_seconds())
    if interval < 1:
        return _Recent(earliest, None, 0, invalid=True)
    missed = int((now - first).total_seconds()) // interval + 1
    latest: datetime | None = None
    moment = schedule.next(first + timedelta(seconds=(missed - 2) * interval))
    while moment is not None and moment <= now:
        latest = moment
        moment = schedule.next(moment)
    return _Recent(earliest, latest, missed)


def next_schedule_delay(cronjob: Obj, schedule: Schedule, now: datetime) -> float | None:
    """Seconds until the sync after the next schedule time (Kubernetes' ``nextScheduleTimeDuration``);
    None when the schedule has no next time."""
    recent = _most_recent(cronjob, schedule, now, with_deadline=False)
    if recent.invalid:
        base = now
    elif recent.latest is None:
        base = recent.earliest if recent.missed == 0 else now
    else:
        base = recent.latest
    upcoming = schedule.next(base)
    if upcoming is None:
        return None
    return (upcoming - now).total_seconds() + NEXT_SCHEDULE_DELTA


# ------------------------------------------------------------------------------ jobs


def job_name(cronjob: Obj, scheduled: datetime) -> str:
    """``<cronjob>-<minutes since the epoch>``: one name per scheduled time, so a retried sync can
    never start the same run twice (the create answers AlreadyExists)."""
    return f"{cronjob['metadata']['name']}-{calendar.timegm(scheduled.utctimetuple()) // 60}"


def job_for(cronjob: Obj, scheduled: datetime) -> Obj:
    """The Job a CronJob starts for ``scheduled``: its template's labels, annotations and spec, the
    scheduled time as an annotation, and the CronJob as its controller."""
    template = (cronjob.get("spec") or {}).get("jobTemplate") or {}
    tmpl_md = template.get("metadata") or {}
    zone_name = (cronjob.get("spec") or {}).get("timeZone")
    zone = load_zone(zone_name) if zone_name else UTC
    local = scheduled.astimezone(zone)
    # Go's RFC 3339 layout writes a zero offset as "Z", whatever the zone
    stamp = rfc3339(local) if local.utcoffset() == timedelta(0) else local.isoformat(timespec="seconds")
    metadata = {
        "name": job_name(cronjob, scheduled),
        "labels": dict(tmpl_md.get("labels") or {}),
        "annotations": {**(tmpl_md.get("annotations") or {}), SCHEDULED_TIMESTAMP_ANNOTATION: stamp},
    }
    return owned_object(cronjob, "batch/v1", "Job", metadata, spec=copy.deepcopy(template.get("spec") or {}))


def job_ref(job: Obj) -> Obj:
    """The ObjectReference ``status.active`` keeps for a running Job."""
    md = job["metadata"]
    return {
        "kind": "Job",
        "namespace": md.get("namespace"),
        "name": md["name"],
        "uid": md.get("uid"),
        "apiVersion": "batch/v1",
        "resourceVersion": md.get("resourceVersion"),
    }


def _succeeded(job: Obj) -> bool:
    cond = find_condition(job, COMPLETE)
    return cond is not None and cond.get("status") == "True"


def _finished_type(job: Obj) -> str:
    return COMPLETE if _succeeded(job) else FAILED


def _start_order(job: Obj) -> tuple[int, datetime, str]:
    """Kubernetes' ``byJobStartTime``: jobs not started yet go last, ties by name."""
    started = parse_time((job.get("status") or {}).get("startTime"))
    return (
        (0, started, job["metadata"]["name"])
        if started
        else (1, datetime.min.replace(tzinfo=UTC), job["metadata"]["name"])
    )


# ------------------------------------------------------------------------------ the sync


@dataclass
class CronJobStep:
    """What one sync of a CronJob decided. The controller deletes ``delete`` (each Job's reference
    is already gone from ``status.active``), creates ``create``, adds its reference to
    ``status.active`` and sets ``lastScheduleTime`` to ``scheduled`` once the create succeeded,
    writes the status, records the events and comes back after ``requeue_after`` seconds."""

    status: Obj
    create: Obj | None = None
    scheduled: datetime | None = None
    delete: list[Obj] = field(default_factory=list)
    events: list[tuple[str, str, str]] = field(default_factory=list)
    requeue_after: float | None = None


def _drop_active(status: Obj, uid: str) -> None:
    set_or_omit(status, "active", [ref for ref in status.get("active") or [] if ref.get("uid") != uid])


def plan_cronjob(cronjob: Obj, jobs: list[Obj], now: datetime) -> CronJobStep:
    """Decide one sync of ``cronjob`` at ``now``. ``jobs`` are the Jobs it controls (a reference in
    ``status.active`` to a Job missing here counts as gone, so the caller makes sure of the Jobs
    its cache has not seen yet)."""
    status = dict(cronjob.get("status") or {})
    if status.get("active"):
        status["active"] = list(status["active"])
    step = CronJobStep(status=status)
    active_uids = {ref.get("uid") for ref in status.get("active") or []}
    for job in jobs:
        md = job["metadata"]
        if md.get("uid") not in active_uids and not is_finished(job):
            step.events.append(
                ("Warning", "UnexpectedJob", f"Saw a job that the controller did not create or forgot: {md['name']}")
            )
        elif md.get("uid") in active_uids and is_finished(job):
            _drop_active(status, md["uid"])
            step.events.append(
                ("Normal", "SawCompletedJob", f"Saw completed job: {md['name']}, condition: {_finished_type(job)}")
            )
        if _succeeded(job):
            completed = parse_time((job.get("status") or {}).get("completionTime"))
            last = parse_time(status.get("lastSuccessfulTime"))
            if completed is not None and (last is None or completed > last):
                status["lastSuccessfulTime"] = rfc3339(completed)
    present = {job["metadata"].get("uid") for job in jobs}
    for ref in list(status.get("active") or []):
        if ref.get("uid") not in present:
            _drop_active(status, ref.get("uid", ""))
            step.events.append(("Normal", "MissingJob", f"Active job went missing: {ref.get('name')}"))
    if not (cronjob.get("metadata") or {}).get("deletionTimestamp"):  # going: nothing new starts
        _schedule(cronjob, jobs, now, step)
    _history(cronjob, jobs, step)
    return step


def _schedule(cronjob: Obj, jobs: list[Obj], now: datetime, step: CronJobStep) -> None:
    spec = cronjob.get("spec") or {}
    status = step.status
    zone = spec.get("timeZone")
    if zone is not None:
        try:
            load_zone(zone)
        except ZoneInfoNotFoundError as exc:
            step.events.append(("Warning", "UnknownTimeZone", f"invalid timeZone: {zone!r}: {exc}"))
            return
    if spec.get("suspend"):
        return  # an update that resumes it brings the key back
    try:
        schedule = parse_schedule(str(spec.get("schedule") or ""), zone)
    except ScheduleError as exc:
        step.events.append(
            ("Warning", "UnparseableSchedule", f"unparseable schedule: {spec.get('schedule')!r} : {exc}")
        )
        return
    recent = _most_recent(cronjob, schedule, now, with_deadline=True)
    if recent.invalid:
        step.events.append(
            (
                "Warning",
                "InvalidSchedule",
                f"invalid schedule: {spec.get('schedule')} : "
                "time difference between two schedules is less than 1 second",
            )
        )
        return
    scheduled = recent.latest
    if scheduled is not None and recent.missed > MANY_MISSED:
        step.events.append(
            (
                "Warning",
                "TooManyMissedTimes",
                "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew",
            )
        )

    def requeue() -> None:
        step.requeue_after = next_schedule_delay({**cronjob, "status": status}, schedule, now)

    if scheduled is None:
        requeue()
        return
    deadline = spec.get("startingDeadlineSeconds")
    if deadline is not None and scheduled + timedelta(seconds=int(deadline)) < now:
        step.events.append(
            (
                "Warning",
                "MissSchedule",
                "Missed scheduled time to start a job: " + scheduled.strftime("%a, %d %b %Y %H:%M:%S +0000"),
            )
        )
        requeue()
        return
    name = job_name(cronjob, scheduled)
    if (
        any(ref.get("name") == name for ref in status.get("active") or [])
        or parse_time(status.get("lastScheduleTime")) == scheduled
    ):
        requeue()
        return
    policy = spec.get("concurrencyPolicy") or "Allow"
    if policy == "Forbid" and status.get("active"):
        step.events.append(
            (
                "Normal",
                "JobAlreadyActive",
                "Not starting job because prior execution is running and concurrency policy is Forbid",
            )
        )
        requeue()
        return
    if policy == "Replace":
        by_uid = {job["metadata"].get("uid"): job for job in jobs}
        for ref in list(status.get("active") or []):
            job = by_uid.get(ref.get("uid"))
            if job is not None:
                step.delete.append(job)
            _drop_active(status, ref.get("uid", ""))
    step.create = job_for(cronjob, scheduled)
    step.scheduled = scheduled
    step.requeue_after = next_schedule_delay(
        {**cronjob, "status": {**status, "lastScheduleTime": rfc3339(scheduled)}}, schedule, now
    )


def _history(cronjob: Obj, jobs: list[Obj], step: CronJobStep) -> None:
    """Delete the oldest finished Jobs beyond ``successfulJobsHistoryLimit`` and
    ``failedJobsHistoryLimit``, each kind counted apart."""
    spec = cronjob.get("spec") or {}
    deleting = {job["metadata"].get("uid") for job in step.delete}
    finished = [job for job in jobs if is_finished(job) and job["metadata"].get("uid") not in deleting]
    for limit_field, succeeded in (("successfulJobsHistoryLimit", True), ("failedJobsHistoryLimit", False)):
        limit = spec.get(limit_field)
        if limit is None:
            continue
        kept = sorted((job for job in finished if _succeeded(job) == succeeded), key=_start_order)
        for job in kept[: max(len(kept) - int(limit), 0)]:
            step.delete.append(job)
            _drop_active(step.status, job["metadata"].get("uid", ""))
