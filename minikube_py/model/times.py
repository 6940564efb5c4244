"""Kubernetes' timestamps as text, in one place: ``metav1.Time`` (seconds) and ``metav1.MicroTime``
written and parsed, and ages as kubectl shows them (``duration.HumanDuration``).

A leaf module (it imports nothing of pykube) so that every layer, the model's own modules included,
can use it without an import cycle.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def rfc3339(when: datetime | None = None) -> str:
    """``2024-01-01T00:00:00Z``: UTC with second precision, as ``metav1.Time`` serialises; now when
    ``when`` is None. A naive ``when`` is taken as UTC already."""
    when = when or datetime.now(UTC)
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    # isoformat takes half of strftime's time (every write stamps one or two times), and writes the
    # year with four digits as Go does
    return when.isoformat(timespec="seconds") + "Z"


def rfc3339_micro(when: datetime | None = None) -> str:
    """``metav1.MicroTime`` (a Lease's renewTime, an event's eventTime): microseconds."""
    when = when or datetime.now(UTC)
    return (when.astimezone(UTC) if when.tzinfo else when).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rfc3339_nano(when: datetime) -> str:
    """Go's ``RFC3339Nano`` (an EndpointSlice's last-change-trigger-time): the fraction only as long as
    it needs to be, trailing zeros dropped (``...:05Z``, ``...:05.25Z``)."""
    when = when.astimezone(UTC) if when.tzinfo else when
    fraction = f".{when.microsecond:06d}".rstrip("0") if when.microsecond else ""
    return f"{rfc3339(when)[:-1]}{fraction}Z"


def parse_time(value: str | None) -> datetime | None:
    """An RFC 3339 ``Time``/``MicroTime`` as an aware datetime (None when unset)."""
    return instant(value) if value else None


def instant(value: str) -> datetime:
    """A time that must be there (a lease's renewal, a token's expiry, a log's ``sinceTime``) as an
    aware datetime; ValueError when it is empty or not RFC 3339, for the caller to refuse or skip."""
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def human_duration(delta: timedelta) -> str:
    """Kubernetes' ``duration.HumanDuration``: precise when recent, coarser as it grows.

    Two seconds of clock skew into the future still read as ``0s``; more is ``<invalid>``.
    """
    seconds = int(delta.total_seconds())  # truncates toward zero, as Go's int(d.Seconds())
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        return _with_rest(minutes, "m", seconds % 60, "s")
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return _with_rest(hours, "h", minutes % 60, "m")
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        return _with_rest(days, "d", hours % 24, "h")
    if hours < 24 * 365 * 2:
        return f"{days}d"
    years = days // 365
    if hours < 24 * 365 * 8:
        return _with_rest(years, "y", days % 365, "d")
    return f"{years}y"


def _with_rest(count: int, unit: str, rest: int, rest_unit: str) -> str:
    """A count in a unit with the remainder in the next smaller one, which Go leaves out when it is 0."""
    return f"{count}{unit}{rest}{rest_unit}" if rest else f"{count}{unit}"


def since(timestamp: str | None, now: datetime) -> str:
    """Age of an RFC 3339 timestamp as kubectl shows it; ``<unknown>`` when it is unset."""
    moment = parse_time(timestamp)
    return "<unknown>" if moment is None else human_duration(now - moment)


def parse_go_duration(text: str) -> float:
    """Seconds in a Go duration (``90s``, ``1h30m``, ``15.002s``: ``time.ParseDuration``'s units);
    ValueError, with Go's message, for anything else."""
    rest, total = text, 0.0
    while rest:
        match = _DURATION_PART.match(rest)
        if match is None:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        rest = rest[match.end() :]
    if rest or not text:
        raise ValueError(f'failed to parse duration {text}: time: invalid duration "{text}"')
    return total
