"""Kubernetes' timestamps as text, in one place: ``metav1.Time`` (seconds) and ``metav1.MicroTime``.

A leaf module (it imports nothing of pykube) so that every layer, the model's own modules included,
can use it without an import cycle.
"""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(when: datetime | None = None) -> str:
    """``2024-01-01T00:00:00Z``: UTC with second precision, as ``metav1.Time`` serialises; now when
    ``when`` is None. A naive ``when`` is taken as UTC already."""
    when = when or datetime.now(UTC)
    return (when.astimezone(UTC) if when.tzinfo else when).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_micro(when: datetime | None = None) -> str:
    """``metav1.MicroTime`` (a Lease's renewTime, an event's eventTime): microseconds."""
    when = when or datetime.now(UTC)
    return (when.astimezone(UTC) if when.tzinfo else when).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
