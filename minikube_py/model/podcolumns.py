"""What ``kubectl get pods`` shows for a pod: the READY, STATUS and RESTARTS columns.

The rules follow ``printPod`` in kubernetes/kubernetes ``pkg/printers/internalversion/printers.go``:
kube-apiserver computes these strings when it renders a Table, and kubectl prints them verbatim, so
they must match character for character. The logic is pure and lives in the model layer so the API
Table printer and ``pykube kubectl`` share one implementation.

Summary of the STATUS rules, in the order they apply:

1. ``status.reason`` if set, else ``status.phase``; ``SchedulingGated`` when the PodScheduled
   condition says so.
2. Init containers, in order: the first one that has not succeeded decides
   (``Init:<reason>``, ``Init:Signal:N``, ``Init:ExitCode:N`` or ``Init:i/n``). Sidecars (init
   containers with ``restartPolicy: Always``) that have started count as done.
3. Once initialised, app containers are walked last to first, so the first container's state wins:
   a waiting reason, a terminated reason, ``Signal:N`` or ``ExitCode:N``. ``Completed`` turns back
   into ``Running``/``NotReady`` while another container still runs.
4. A deletion timestamp makes it ``Terminating`` (``Unknown`` when the node was lost), unless the
   pod already finished.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from minikube_py.model.times import human_duration, parse_time

#: status.reason the node lifecycle controller sets on pods of an unreachable node
NODE_LOST = "NodeLost"


@dataclass(frozen=True)
class PodSummary:
    """The pod facts behind the READY, STATUS and RESTARTS columns."""

    reason: str
    ready: int
    total: int
    restarts: int
    #: finish time of the most recent terminated run among the counted containers
    last_restart: datetime | None

    def restarts_text(self, now: datetime) -> str:
        """``3`` or, once a restart time is known, ``3 (5m ago)`` as kubectl 1.32 prints."""
        if self.restarts and self.last_restart is not None:
            return f"{self.restarts} ({human_duration(now - self.last_restart)} ago)"
        return str(self.restarts)


def _is_sidecar(container: dict[str, Any] | None) -> bool:
    return bool(container) and container.get("restartPolicy") == "Always"


def _has_condition(pod: dict[str, Any], kind: str) -> bool:
    return any(
        c.get("type") == kind and c.get("status") == "True" for c in pod.get("status", {}).get("conditions") or ()
    )


def _last_finished(status: dict[str, Any]) -> datetime | None:
    terminated = (status.get("lastState") or {}).get("terminated")
    return parse_time(terminated.get("finishedAt")) if terminated else None


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _terminated_reason(terminated: dict[str, Any], prefix: str = "") -> str:
    if terminated.get("reason"):
        return prefix + terminated["reason"]
    if terminated.get("signal"):
        return f"{prefix}Signal:{terminated['signal']}"
    return f"{prefix}ExitCode:{terminated.get('exitCode', 0)}"


def summarize_pod(pod: dict[str, Any]) -> PodSummary:
    """READY, STATUS and RESTARTS of a pod in one pass, since they depend on each other."""
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    phase = status.get("phase", "")
    reason = status.get("reason") or phase
    if any(
        c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated" for c in status.get("conditions") or ()
    ):
        reason = "SchedulingGated"

    init_specs = {c.get("name"): c for c in spec.get("initContainers") or ()}
    total = len(spec.get("containers") or ()) + sum(1 for c in init_specs.values() if _is_sidecar(c))
    ready = 0
    restarts = sidecar_restarts = 0
    last_restart: datetime | None = None
    last_sidecar_restart: datetime | None = None

    initializing = False
    for index, cs in enumerate(status.get("initContainerStatuses") or ()):
        sidecar = _is_sidecar(init_specs.get(cs.get("name")))
        restarts += cs.get("restartCount", 0)
        last_restart = _later(last_restart, _last_finished(cs))
        if sidecar:
            sidecar_restarts += cs.get("restartCount", 0)
            last_sidecar_restart = _later(last_sidecar_restart, _last_finished(cs))
        state = cs.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated and terminated.get("exitCode", 0) == 0:
            continue
        if sidecar and cs.get("started"):
            ready += 1 if cs.get("ready") else 0
            continue
        initializing = True
        if terminated:
            reason = _terminated_reason(terminated, "Init:")
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{index}/{len(init_specs)}"
        break

    if not initializing or _has_condition(pod, "Initialized"):
        restarts, last_restart = sidecar_restarts, last_sidecar_restart
        has_running = False
        for cs in reversed(status.get("containerStatuses") or ()):
            restarts += cs.get("restartCount", 0)
            last_restart = _later(last_restart, _last_finished(cs))
            state = cs.get("state") or {}
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if waiting and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated:
                reason = _terminated_reason(terminated)
            elif cs.get("ready") and "running" in state:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _has_condition(pod, "Ready") else "NotReady"

    deleting = bool((pod.get("metadata") or {}).get("deletionTimestamp"))
    if deleting and status.get("reason") == NODE_LOST:
        reason = "Unknown"
    elif deleting and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"
    return PodSummary(reason, ready, total, restarts, last_restart)


def pod_status_reason(pod: dict[str, Any]) -> str:
    """The STATUS column (``Running``, ``CrashLoopBackOff``, ``Init:0/2``, ``Terminating`` ...)."""
    return summarize_pod(pod).reason


def pod_ready_count(pod: dict[str, Any]) -> tuple[int, int]:
    """(ready, total) of the READY column; started sidecars count among both."""
    summary = summarize_pod(pod)
    return summary.ready, summary.total


def pod_restarts(pod: dict[str, Any], now: datetime | None = None) -> str:
    """The RESTARTS column, e.g. ``0`` or ``3 (5m ago)``."""
    return summarize_pod(pod).restarts_text(now or datetime.now(UTC))
