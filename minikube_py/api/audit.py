"""The audit log (``--audit-log-path``): one JSON line per request stage, in Kubernetes'
``audit.k8s.io/v1`` ``Event`` format, as kube-apiserver's log backend writes them.

Which requests, at which level and without which stages is the policy's decision
(:mod:`minikube_py.model.audit`); with no policy file every request is recorded at Metadata. A request
gets a ``ResponseComplete`` event when its answer is ready; a long-running one (a watch, logs, exec,
port-forward, a proxy) also gets ``ResponseStarted`` when its headers go out. Every answer carries
the event's ``Audit-Id`` header, so a client's request can be found in the log.

The request path never waits for the disk: an event is serialized (a few microseconds) into a
buffer, and a background task writes what accumulated in a worker thread, in batches. Should the
buffer fill up (a disk that stalls for seconds under heavy load) new events are dropped rather than
slowing requests down or growing memory without bound; a dropped event or a failed write is counted
in ``apiserver_audit_error_total`` and logged once, never turned into a failed request.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, BinaryIO

import orjson
from aiohttp import web

from minikube_py.api import body, notes
from minikube_py.api.auth import REQUESTER, USER, User
from minikube_py.metrics import AUDIT_ERRORS, AUDIT_EVENTS
from minikube_py.model import errors
from minikube_py.model.audit import API_VERSION, METADATA, NONE, REQUEST, REQUEST_RESPONSE, Policy
from minikube_py.model.rbac import Decision, UserInfo
from minikube_py.model.requestinfo import RequestInfo, request_info

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: the authorization decision of the request, recorded by the auth middleware while auditing
DECISION = web.RequestKey("decision", Decision)

#: a batch is written at most this long after its first event (and at once when the writer is idle)
_BATCH_DELAY = 0.05
#: bytes of events waiting for the disk before new ones are dropped
_MAX_BUFFER = 32 << 20
_LONG_RUNNING_SUBRESOURCES = frozenset({"exec", "attach", "portforward", "proxy", "log"})
_MUTATING = frozenset({"create", "update", "patch"})
_ANONYMOUS = {"username": "system:anonymous", "groups": ["system:unauthenticated"]}
_PLUGIN = "log"


class AuditLog:
    """The log backend: ``path`` is a file (appended to, mode 0600) or ``-`` for standard output.
    ``max_size`` (MiB, 0: unbounded) rotates the file to ``<name>-<timestamp><ext>`` beside it,
    keeping at most ``max_backups`` of those (0: all), as kube-apiserver's --audit-log-maxsize and
    --audit-log-maxbackup."""

    def __init__(self, path: str, *, max_size: int = 0, max_backups: int = 0) -> None:
        self.path = path
        self._max_bytes = max_size << 20
        self._max_backups = max_backups
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._file: BinaryIO | None = None
        self._complained = False

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="pykube-audit-log")

    async def stop(self) -> None:
        """Write what is buffered, then close the file."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._flush()
        if self._file is not None and self.path != "-":
            self._file.close()
        self._file = None

    def emit(self, event: dict[str, Any]) -> None:
        """Queue one event; never blocks."""
        line = orjson.dumps(event) + b"\n"
        if self._buffered + len(line) > _MAX_BUFFER:
            self._failed(1, "the audit log cannot keep up (its disk is too slow); events are being dropped")
            return
        AUDIT_EVENTS.inc()
        self._buffer.append(line)
        self._buffered += len(line)
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(_BATCH_DELAY)
            await self._flush()

    async def _flush(self) -> None:
        self._wake.clear()
        lines, self._buffer, self._buffered = self._buffer, [], 0
        if not lines:
            return
        try:
            await asyncio.to_thread(self._write, lines)
        except OSError as exc:
            self._failed(len(lines), f"cannot write the audit log {self.path}: {exc}")

    def _failed(self, events: int, why: str) -> None:
        AUDIT_ERRORS.labels(_PLUGIN).inc(events)
        if not self._complained:  # once: a full disk must not flood the server's own log
            self._complained = True
            log.error("%s (counted in apiserver_audit_error_total from now on)", why)

    def _write(self, lines: list[bytes]) -> None:
        """In a worker thread: append ``lines``, then rotate if the file grew past the limit."""
        if self._file is None:
            self._file = sys.stdout.buffer if self.path == "-" else self._open()
        self._file.writelines(lines)
        self._file.flush()
        if self._max_bytes and self.path != "-" and self._file.tell() >= self._max_bytes:
            self._rotate()

    def _open(self) -> BinaryIO:
        path = Path(self.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.fdopen(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab")

    def _rotate(self) -> None:
        assert self._file is not None
        self._file.close()
        self._file = None
        path = Path(self.path)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H-%M-%S.%f")[:-3]
        path.rename(path.with_name(f"{path.stem}-{stamp}{path.suffix}"))
        if self._max_backups:
            backups = sorted(path.parent.glob(f"{path.stem}-????-??-??T??-??-??.???{path.suffix}"))
            for old in backups[: -self._max_backups]:
                old.unlink(missing_ok=True)


class Audited:
    """One request's audit state, from its arrival to its answer."""

    __slots__ = ("annotations", "id", "info", "level", "omit", "received", "response")

    level: str | None

    def __init__(self, request: web.Request) -> None:
        self.id = str(uuid.uuid4())
        self.received = time.time()
        self.info: RequestInfo = request_info(request.method, request.path, request.query)
        #: the policy's level, decided once the user is known (None: not yet)
        self.level = None
        self.omit: frozenset[str] = frozenset()
        #: the answer of a long-running request, once its headers went out
        self.response: web.StreamResponse | None = None
        #: what admission noted for the events (see :func:`.notes.annotate`)
        self.annotations: dict[str, str] = {}

    @property
    def long_running(self) -> bool:
        info = self.info
        return info.verb == "watch" or info.subresource in _LONG_RUNNING_SUBRESOURCES


#: set on every request while auditing: the request's audit state
AUDITED = web.RequestKey("audited", Audited)


def audit_middleware(policy: Policy, sink: AuditLog) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """Records every request the policy selects; runs outside the middleware that turns errors into
    Status answers, so that 401s and 403s are recorded with their codes."""

    @web.middleware
    async def audit(request: web.Request, handler: Handler) -> web.StreamResponse:
        audited = request[AUDITED] = Audited(request)
        notes.collect_annotations(audited.annotations)
        try:
            response = await handler(request)
        except BaseException:
            # a watch or stream ends by its client going away: it completed with the code it started with
            if audited.response is not None and audited.level != NONE and "ResponseComplete" not in audited.omit:
                sink.emit(await _event(request, audited, "ResponseComplete", audited.response))
            raise
        _decide(request, audited, policy)
        if audited.level != NONE and "ResponseComplete" not in audited.omit:
            sink.emit(await _event(request, audited, "ResponseComplete", response))
        return response

    return audit


def response_started(sink: AuditLog, policy: Policy) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    """The ``on_response_prepare`` hook: every answer gets its ``Audit-Id`` header, and a long-running
    request its ``ResponseStarted`` event as its headers go out."""

    async def prepare(request: web.Request, response: web.StreamResponse) -> None:
        audited = request.get(AUDITED)
        if audited is None:
            return
        response.headers["Audit-Id"] = audited.id
        if audited.long_running and audited.response is None:
            audited.response = response
            _decide(request, audited, policy)
            if audited.level != NONE and "ResponseStarted" not in audited.omit:
                sink.emit(await _event(request, audited, "ResponseStarted", response))

    return prepare


def recording(
    decide: Callable[[UserInfo, RequestInfo], Decision], request: web.Request
) -> Callable[[UserInfo, RequestInfo], Decision]:
    """``decide`` (RBAC) that also keeps its last answer on ``request``, for the event's annotations."""

    def recorded(user: UserInfo, info: RequestInfo) -> Decision:
        decision = request[DECISION] = decide(user, info)
        return decision

    return recorded


def _decide(request: web.Request, audited: Audited, policy: Policy) -> None:
    """The policy's level for the request's authenticated user (before impersonation, as
    kube-apiserver's audit filter sees it)."""
    if audited.level is not None:
        return
    requester = request.get(REQUESTER)
    name, groups = (requester.name, requester.groups) if requester else (_ANONYMOUS["username"], _ANONYMOUS["groups"])
    audited.level, audited.omit = policy.decide(name, groups, audited.info)


async def _event(request: web.Request, audited: Audited, stage: str, response: web.StreamResponse) -> dict[str, Any]:
    info = audited.info
    requester, user = request.get(REQUESTER), request.get(USER)
    event: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": API_VERSION,
        "level": audited.level,
        "auditID": audited.id,
        "stage": stage,
        "requestURI": request.raw_path,
        "verb": info.verb,
        "user": _user(requester) if requester else _ANONYMOUS,
        "sourceIPs": [request.remote] if request.remote else [],
        "userAgent": request.headers.get("User-Agent", ""),
    }
    if user is not None and requester is not None and user != requester:
        event["impersonatedUser"] = _user(user)
    body = await _request_body(request, info) if info.verb == "create" or audited.level != METADATA else None
    if info.resource_request:
        ref = {
            "resource": info.resource,
            "namespace": info.namespace,
            "name": info.name or _name(body),
            "apiGroup": info.api_group,
            "apiVersion": info.api_version,
            "subresource": info.subresource,
        }
        event["objectRef"] = {k: v for k, v in ref.items() if v}
    event["responseStatus"] = _status(response)
    if audited.level in (REQUEST, REQUEST_RESPONSE) and body is not None:
        event["requestObject"] = body
    if audited.level == REQUEST_RESPONSE and stage == "ResponseComplete" and isinstance(response, web.Response):
        answer = _json(response.body)
        if answer is not None:
            event["responseObject"] = answer
    event["requestReceivedTimestamp"] = _timestamp(audited.received)
    event["stageTimestamp"] = _timestamp(time.time())
    decision = request.get(DECISION)
    annotations = dict(audited.annotations)
    if requester is not None and response.status != 401:
        allowed = response.status != 403 if decision is None else decision.allowed
        annotations["authorization.k8s.io/decision"] = "allow" if allowed else "forbid"
        if decision is not None and decision.reason:
            annotations["authorization.k8s.io/reason"] = decision.reason
    if annotations:
        event["annotations"] = annotations
    return event


def _user(user: User) -> dict[str, Any]:
    found: dict[str, Any] = {"username": user.name, "groups": list(user.groups)}
    if user.uid:
        found["uid"] = user.uid
    if user.extra:
        found["extra"] = {key: list(values) for key, values in user.extra}
    return found


async def _request_body(request: web.Request, info: RequestInfo) -> Any:
    """The decoded body of a write, JSON, YAML or protobuf alike (None for other requests, streams and
    bodies that do not decode); the handler read it already, so this is aiohttp's cached copy."""
    if info.verb not in _MUTATING or info.subresource in _LONG_RUNNING_SUBRESOURCES or not request.body_exists:
        return None
    try:
        return body.decode(await request.read(), request.headers.get("Content-Type"))
    except errors.StatusError:
        return None


def _json(raw: Any) -> Any:
    if not isinstance(raw, bytes | bytearray) or not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def _name(body: Any) -> str:
    metadata = body.get("metadata") if isinstance(body, dict) else None
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return name if isinstance(name, str) else ""


def _status(response: web.StreamResponse) -> dict[str, Any]:
    """``responseStatus``: the code, and for a failure the Status' reason and message."""
    status: dict[str, Any] = {"metadata": {}, "code": response.status}
    if response.status >= 400 and isinstance(response, web.Response):
        body = _json(response.body)
        if isinstance(body, dict) and body.get("kind") == "Status":
            status.update({k: body[k] for k in ("status", "message", "reason") if k in body})
    return status


def _timestamp(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
