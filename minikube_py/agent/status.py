"""Pod status from what the runtime reports: container states, phase and conditions, kubelet's rules.

Pure functions: the pod worker gathers the observations (containers per name, probe results, the
reasons it is waiting for) into :class:`Observed` and writes whatever :func:`pod_status` returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from minikube_py.agent.runtime.base import LABEL_ATTEMPT, ContainerState
from minikube_py.model.times import rfc3339 as _rfc3339

Obj = dict[str, Any]


def rfc3339(moment: datetime | None) -> str | None:
    return _rfc3339(moment) if moment is not None else None


def should_restart(policy: str, exit_code: int | None) -> bool:
    """Whether a container that ended with ``exit_code`` is started again under the pod's restartPolicy."""
    if policy == "Always":
        return True
    if policy == "OnFailure":
        return exit_code != 0
    return False


def terminated(state: ContainerState) -> Obj:
    code = state.exit_code if state.exit_code is not None else 128
    if state.oom_killed:
        reason = "OOMKilled"
    elif state.error:
        reason = "StartError"
    else:
        reason = "Completed" if code == 0 else "Error"
    result: Obj = {
        "exitCode": code,
        "reason": reason,
        "startedAt": rfc3339(state.started_at),
        "finishedAt": rfc3339(state.finished_at),
        "containerID": f"docker://{state.id}",
    }
    if state.error:
        result["message"] = state.error
    return {key: v for key, v in result.items() if v is not None}


@dataclass
class ContainerView:
    """Everything known about one container name of the pod."""

    name: str
    image: str
    current: ContainerState | None = None  # the newest attempt
    previous: ContainerState | None = None  # the attempt before it
    waiting: tuple[str, str] | None = None  # (reason, message) the worker is blocked on
    ready: bool = False
    started: bool = False
    #: an init container with restartPolicy Always, which runs beside the app containers
    sidecar: bool = False

    @property
    def restart_count(self) -> int:
        if self.current is None:
            return 0
        return int(self.current.labels.get(LABEL_ATTEMPT, "0"))


def container_status(view: ContainerView) -> Obj:
    status: Obj = {
        "name": view.name,
        "image": view.image,
        "imageID": "",
        "ready": False,
        "restartCount": view.restart_count,
        "started": False,
        "state": {},
        "lastState": {},
    }
    current = view.current
    if current is not None:
        status["containerID"] = f"docker://{current.id}"
        status["imageID"] = f"docker://{current.image_id}" if current.image_id else ""
    if view.waiting is not None:
        reason, message = view.waiting
        status["state"] = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        if current is not None and not current.running and current.status != "created":
            status["lastState"] = {"terminated": terminated(current)}
        elif view.previous is not None:
            status["lastState"] = {"terminated": terminated(view.previous)}
        return status
    if current is None or (current.status == "created" and not current.error):
        status["state"] = {"waiting": {"reason": "ContainerCreating"}}
    elif current.running:
        status["state"] = {"running": {"startedAt": rfc3339(current.started_at)}}
        status["ready"] = view.ready
        status["started"] = view.started
    else:
        status["state"] = {"terminated": terminated(current)}
    if view.previous is not None:
        status["lastState"] = {"terminated": terminated(view.previous)}
    return status


@dataclass(frozen=True)
class Ending:
    """The kubelet's own end of a pod: the ``reason`` and ``message`` of its Failed status, how long
    its containers get to stop, and whether it is a disruption (an eviction: the pod gets the
    ``DisruptionTarget`` condition, which Jobs' pod failure policies and budgets read)."""

    reason: str
    message: str
    grace: float
    disruption: bool = False


@dataclass
class Observed:
    policy: str
    init: list[ContainerView]
    app: list[ContainerView]
    pod_ip: str = ""
    host_ip: str = ""
    start_time: str | None = None
    failed_init: bool = False  # an init container failed and the policy does not restart it
    transitions: dict[str, str] = field(default_factory=dict)  # condition type → lastTransitionTime
    #: the ephemeral containers (kubectl debug): reported, but they count for neither phase nor readiness
    ephemeral: list[ContainerView] = field(default_factory=list)
    #: the kubelet ended the pod (its active deadline, an eviction): it failed, whatever its containers did
    ending: Ending | None = None


def _init_done(view: ContainerView) -> bool:
    """An init container has done its part: a sidecar has started (and runs on), any other ended well."""
    if view.current is None:
        return False
    if view.sidecar:
        return view.current.running and view.started
    return not view.current.running and view.current.exit_code == 0 and view.current.status != "created"


def _initialized(observed: Observed) -> bool:
    """Every init container did its part, or the app containers were created already (a sidecar that
    restarts later does not take the pod back to initializing, as in the kubelet)."""
    return any(v.current is not None for v in observed.app) or all(_init_done(v) for v in observed.init)


def _running(view: ContainerView) -> bool:
    return view.current is not None and view.current.running


def phase(observed: Observed) -> str:
    """The kubelet's ``getPhase``: the app containers decide it; a running sidecar keeps the pod
    Running, an ended one counts for nothing (it is restarted, or was stopped when the pod's work ended)."""
    if observed.failed_init or observed.ending is not None:
        return "Failed"
    if not _initialized(observed):
        return "Pending"
    running = sum(1 for v in observed.app if _running(v)) + sum(1 for v in observed.init if v.sidecar and _running(v))
    finished = [
        v for v in observed.app if v.current is not None and not v.current.running and v.current.status != "created"
    ]
    if running:
        return "Running"
    if observed.app and len(finished) == len(observed.app):
        if observed.policy == "Always":
            return "Running"
        codes = [v.current.exit_code for v in finished if v.current is not None]
        if all(c == 0 for c in codes):
            return "Succeeded"
        if observed.policy == "Never" or all(c != 0 for c in codes):
            return "Failed"
        return "Running"
    if finished and observed.policy == "Always":
        return "Running"
    return "Pending"


def pod_status(observed: Observed, now: str) -> Obj:
    """The status to write. Conditions keep their lastTransitionTime while their status holds."""
    current_phase = phase(observed)
    initialized = _initialized(observed)
    # a sidecar's readiness counts for the pod's, as the kubelet counts restartable init containers
    serving = [*(v for v in observed.init if v.sidecar), *observed.app]
    unready = [v.name for v in serving if not (_running(v) and v.ready)]
    terminal = current_phase in ("Succeeded", "Failed")
    conditions = []
    for kind, ok, reason, message in (
        ("PodScheduled", True, "", ""),
        (
            "Initialized",
            initialized or terminal,
            "" if initialized else "ContainersNotInitialized",
            ""
            if initialized
            else "containers with incomplete status: ["
            + " ".join(v.name for v in observed.init if not _init_done(v))
            + "]",
        ),
        (
            "ContainersReady",
            not unready and not terminal,
            "PodCompleted" if terminal else "ContainersNotReady",
            "" if terminal else f"containers with unready status: [{' '.join(unready)}]",
        ),
        (
            "Ready",
            not unready and not terminal,
            "PodCompleted" if terminal else "ContainersNotReady",
            "" if terminal else f"containers with unready status: [{' '.join(unready)}]",
        ),
    ):
        status = "True" if ok else "False"
        key = f"{kind}={status}"
        since = observed.transitions.setdefault(key, now)
        for other in ("True", "False"):
            if other != status:
                observed.transitions.pop(f"{kind}={other}", None)
        condition = {"type": kind, "status": status, "lastProbeTime": None, "lastTransitionTime": since}
        if not ok and reason:
            condition["reason"] = reason
            if message:
                condition["message"] = message
        conditions.append(condition)
    status: Obj = {
        "phase": current_phase,
        "conditions": conditions,
        "hostIP": observed.host_ip,
        "hostIPs": [{"ip": observed.host_ip}] if observed.host_ip else [],
        "startTime": observed.start_time,
        "containerStatuses": [container_status(v) for v in observed.app],
    }
    if observed.pod_ip:
        status["podIP"] = observed.pod_ip
        status["podIPs"] = [{"ip": observed.pod_ip}]
    if observed.init:
        status["initContainerStatuses"] = [container_status(v) for v in observed.init]
    if observed.ephemeral:
        status["ephemeralContainerStatuses"] = [container_status(v) for v in observed.ephemeral]
    ending = observed.ending
    if ending is not None:
        status["reason"], status["message"] = ending.reason, ending.message
        if ending.disruption:
            since = observed.transitions.setdefault("DisruptionTarget=True", now)
            conditions.append(
                {
                    "type": "DisruptionTarget",
                    "status": "True",
                    "lastProbeTime": None,
                    "lastTransitionTime": since,
                    "reason": "TerminationByKubelet",
                    "message": ending.message,
                }
            )
    return status
