"""Timestamps as ``metav1.Time`` writes them: UTC, whole seconds, a four-digit year, ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from minikube_py.model.times import rfc3339


def test_aware_times_are_written_in_utc_without_the_fraction() -> None:
    assert rfc3339(datetime(2026, 12, 6, 16, 24, 34, 999999, tzinfo=UTC)) == "2026-12-06T16:24:34Z"
    east = timezone(timedelta(hours=5, minutes=30))
    assert rfc3339(datetime(2026, 1, 1, 3, 0, 0, tzinfo=east)) == "2025-12-31T21:30:00Z"


def test_naive_times_are_taken_as_utc_and_years_have_four_digits() -> None:
    assert rfc3339(datetime(2026, 3, 4, 5, 6, 7, 500)) == "2026-03-04T05:06:07Z"
    assert rfc3339(datetime(1, 1, 1)) == "0001-01-01T00:00:00Z"


def test_now_by_default() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    stamped = datetime.fromisoformat(rfc3339())
    assert before <= stamped <= datetime.now(UTC)
