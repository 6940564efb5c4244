"""Container lifecycle hooks, as the kubelet runs them: ``postStart`` right after a container starts
(the worker waits for it; a failure kills the container, which then restarts as its pod's policy
says) and ``preStop`` before a container is stopped, within the pod's grace period.

A handler is one of ``exec`` (a command in the container), ``httpGet`` (a request to the pod, or
the host it names) or ``sleep`` (a pause, before the stop signal: time for load balancers to let
go of the pod). ``tcpSocket`` is kept by the API for old objects and does nothing, as in Kubernetes.
"""

from __future__ import annotations

import asyncio
from typing import Any

from minikube_py.agent.probes import ProbeTarget, run_probe

Obj = dict[str, Any]
#: how long a postStart exec or HTTP handler may take: the kubelet gives it no bound of its own, but
#: a command that never returns would hold its pod's worker for good
POST_START_LIMIT = 300.0


def handler_kind(handler: Obj) -> str:
    """``exec``, ``httpGet``, ``sleep`` or ``tcpSocket``: the one action a (validated) handler names."""
    return next((k for k in ("exec", "httpGet", "sleep", "tcpSocket") if k in handler), "")


async def run_hook(handler: Obj, target: ProbeTarget, within: float) -> str | None:
    """Run one lifecycle handler for ``target``'s container, for ``within`` seconds at most; None when
    it did its part, else why not (the text of the Failed*Hook event)."""
    kind = handler_kind(handler)
    if kind == "sleep":
        await asyncio.sleep(max(0.0, min(float(handler["sleep"].get("seconds") or 0), within)))
        return None
    if kind not in ("exec", "httpGet"):
        return None
    ok, message = await run_probe({**handler, "timeoutSeconds": within}, target)
    if ok:
        return None
    name = target.container.get("name", "")
    if kind == "exec":
        command = " ".join(str(part) for part in handler["exec"].get("command") or [])
        return f'Exec lifecycle hook ([{command}]) for Container "{name}" failed - error: {message}'
    path = handler["httpGet"].get("path", "")
    return f'HTTP lifecycle hook ({path}) for Container "{name}" failed - error: {message}'
