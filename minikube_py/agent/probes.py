"""Liveness, readiness and startup probes of one container, with Kubernetes' timing and thresholds.

One task per configured probe. The startup probe gates the other two; a startup or liveness probe
that fails failureThreshold times in a row marks the container for a restart (the pod worker does the
restart), readiness flips the container's ready flag. Results change only on threshold crossings, and
only those wake the pod worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from minikube_py.agent.runtime.base import Runtime, RuntimeFailure
from minikube_py.client.events import EventRecorder

log = logging.getLogger(__name__)
Obj = dict[str, Any]


class ProbeCounter:
    """Consecutive successes/failures against the probe's thresholds; ``result`` is None until the
    first threshold is crossed."""

    def __init__(self, probe: Obj, initial: bool | None = None) -> None:
        self.success_threshold = int(probe.get("successThreshold", 1))
        self.failure_threshold = int(probe.get("failureThreshold", 3))
        self.result = initial
        self._successes = self._failures = 0

    def record(self, ok: bool) -> bool:
        """Count one outcome; True if ``result`` changed."""
        before = self.result
        if ok:
            self._successes, self._failures = self._successes + 1, 0
            if self._successes >= self.success_threshold:
                self.result = True
        else:
            self._failures, self._successes = self._failures + 1, 0
            if self._failures >= self.failure_threshold:
                self.result = False
        return self.result != before


def _port(container: Obj, port: Any) -> int:
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    raise ValueError(f"port {port!r} is not a named port of the container")


_INSECURE = ssl.create_default_context()
_INSECURE.check_hostname = False
_INSECURE.verify_mode = ssl.CERT_NONE


@dataclass(frozen=True)
class ProbeTarget:
    """What every probe of one container reaches: the runtime runs exec probes in ``container_id``,
    HTTP and TCP probes dial ``pod_ip`` (unless the probe names a host) on a port the ``container``
    spec may name."""

    runtime: Runtime
    container: Obj
    container_id: str
    pod_ip: str


async def run_probe(probe: Obj, target: ProbeTarget) -> tuple[bool, str]:
    """One probe attempt: (success, message for the Unhealthy event)."""
    timeout = float(probe.get("timeoutSeconds", 1))
    try:
        if "exec" in probe:
            command = probe["exec"].get("command") or []
            try:
                result = await target.runtime.exec_run(target.container_id, command, timeout)
            except TimeoutError:
                return False, f"command {command!r} timed out"
            output = result.output.decode(errors="replace").strip()
            if result.exit_code != 0:
                return False, output or f"command {command!r} exited with {result.exit_code}"
            return True, output
        if "httpGet" in probe:
            get = probe["httpGet"]
            scheme = get.get("scheme", "HTTP").lower()
            host = get.get("host") or target.pod_ip
            url = f"{scheme}://{host}:{_port(target.container, get.get('port'))}{get.get('path', '/')}"
            headers = {h["name"]: h["value"] for h in get.get("httpHeaders") or []}
            headers.setdefault("User-Agent", "kube-probe/1.32")
            try:
                async with (
                    aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
                    session.get(
                        url, headers=headers, ssl=_INSECURE if scheme == "https" else False, allow_redirects=False
                    ) as resp,
                ):
                    if 200 <= resp.status < 400:
                        return True, ""
                    return False, f"HTTP probe failed with statuscode: {resp.status}"
            except (aiohttp.ClientError, OSError, TimeoutError) as e:
                return False, f'Get "{url}": {e or type(e).__name__}'
        if "tcpSocket" in probe:
            sock = probe["tcpSocket"]
            host = sock.get("host") or target.pod_ip
            port = _port(target.container, sock.get("port"))
            try:
                async with asyncio.timeout(timeout):
                    _, writer = await asyncio.open_connection(host, port)
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                return True, ""
            except (OSError, TimeoutError) as e:
                return False, f"dial tcp {host}:{port}: {e or 'i/o timeout'}"
        if "grpc" in probe:
            return False, "grpc probes are not supported by pykube"
    except (RuntimeFailure, ValueError) as e:
        return False, str(e)
    return True, ""


class ContainerProber:
    def __init__(
        self, target: ProbeTarget, pod: Obj, *, on_change: Callable[[], None], recorder: EventRecorder
    ) -> None:
        self._target = target
        self._pod = pod
        self._on_change = on_change
        self._recorder = recorder
        self._tasks: list[asyncio.Task[None]] = []
        self._startup_done = asyncio.Event()
        self.started = "startupProbe" not in target.container
        if self.started:
            self._startup_done.set()
        self.ready = "readinessProbe" not in target.container
        self.liveness_failure: str | None = None

    def start(self) -> None:
        target = self._target
        for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
            if kind in target.container:
                self._tasks.append(
                    asyncio.create_task(
                        self._loop(kind, target.container[kind]), name=f"probe {kind} {target.container_id[:12]}"
                    )
                )

    async def stop(self) -> None:
        """Cancel the probe tasks and wait for them. Through ``gather``, not ``suppress(CancelledError)``
        around each ``await task``: that would also swallow a cancellation of the caller arriving
        meanwhile (the agent stopping), which then ran on as if never asked to stop."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _loop(self, kind: str, probe: Obj) -> None:
        if kind != "startupProbe":
            await self._startup_done.wait()
        counter = ProbeCounter(probe)
        label = {"startupProbe": "Startup", "livenessProbe": "Liveness", "readinessProbe": "Readiness"}[kind]
        await asyncio.sleep(float(probe.get("initialDelaySeconds", 0)))
        period = float(probe.get("periodSeconds", 10))
        while self.liveness_failure is None:
            ok, message = await run_probe(probe, self._target)
            if not ok:
                self._recorder.emit(self._pod, "Warning", "Unhealthy", f"{label} probe failed: {message}")
            changed = counter.record(ok)
            if changed:
                if kind == "readinessProbe":
                    self.ready = bool(counter.result)
                elif kind == "startupProbe" and counter.result:
                    self.started = True
                    self._startup_done.set()
                    self.ready = self.ready or "readinessProbe" not in self._target.container
                    self._on_change()
                    return
                if counter.result is False and kind != "readinessProbe":
                    self.liveness_failure = f"{label} probe failed: {message}"
                self._on_change()
            await asyncio.sleep(period)
