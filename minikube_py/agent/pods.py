"""The kubelet's pod loop: one worker per pod drives the runtime toward the pod's spec.

Each pass is level-triggered: look at the pod's containers (found by labels, so an agent restart adopts
what is running), let :func:`~minikube_py.agent.plan.plan_pod` decide what to create, start, kill or
remove, carry that out (runtime calls, events), and write the status back only when it changed. Passes
run on pod updates, runtime events of the pod's containers, probe transitions, back-off deadlines,
Secret/ConfigMap changes, and a periodic resync.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from minikube_py.agent.containers import app_spec, resolv_conf, sandbox_spec
from minikube_py.agent.context import NodeContext
from minikube_py.agent.env import ConfigError, expand_command, resolve_env
from minikube_py.agent.hooks import POST_START_LIMIT, run_hook
from minikube_py.agent.images import ImageError, ImageManager
from minikube_py.agent.localpath import LocalPathCleaner
from minikube_py.agent.network import PodNetwork
from minikube_py.agent.plan import (
    DEFAULT_GRACE,
    Action,
    CreateSandbox,
    KillContainer,
    ReleasePod,
    RemoveContainer,
    RestartBackoff,
    StartContainer,
    StartProbing,
    Stop,
    StopContainers,
    WaitBackOff,
    by_container_name,
    is_sidecar,
    plan_pod,
)
from minikube_py.agent.probes import ContainerProber, ProbeTarget
from minikube_py.agent.runtime.base import (
    LABEL_CONTAINER_KIND,
    LABEL_GRACE,
    LABEL_NODE,
    LABEL_POD_UID,
    LABEL_RUNTIME_HANDLER,
    LABEL_SANDBOX_IPC,
    SANDBOX_NAME,
    ContainerState,
    CreateError,
    ImageNotPresent,
    Runtime,
    RuntimeFailure,
)
from minikube_py.agent.security import SYSCTL_FORBIDDEN, forbidden_sysctl
from minikube_py.agent.status import ContainerView, Ending, Observed, pod_status
from minikube_py.agent.tokens import TokenManager
from minikube_py.agent.volumes import VolumeError, VolumeManager, claim_sources
from minikube_py.client.errors import ApiError, ConflictError, NotFoundError
from minikube_py.client.events import EventRecorder
from minikube_py.client.informer import Handler, Handlers, Informer, object_key
from minikube_py.client.referenced import ReferencedObjects
from minikube_py.client.rest import ApiClient, resource_path
from minikube_py.metrics import POD_START_DURATION
from minikube_py.model import eviction, nodeadmission
from minikube_py.model.scheduling import PodInfo, pod_info
from minikube_py.model.times import parse_time, rfc3339
from minikube_py.model.volumebinding import claim_ref_key, pod_claim_names

log = logging.getLogger(__name__)
Obj = dict[str, Any]

RESYNC_SECONDS = 10.0
TERMINAL = frozenset({"Succeeded", "Failed"})
#: the kubelet's reasons and message for the pods it ends itself
DEADLINE_EXCEEDED, EVICTED = "DeadlineExceeded", "Evicted"
DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"
#: how often a pod waiting for the node's pod network looks again (and repeats its event, counted)
NETWORK_RETRY_SECONDS = 5.0


def _now() -> str:
    return rfc3339()


def _phase_of(pod: Obj) -> str | None:
    return (pod.get("status") or {}).get("phase")


class NodePods:
    """The pods bound to one node, as :class:`PodSources` sees them: a cache by key and the handlers
    called with (old, new) when one of them is added, changed or deleted."""

    def __init__(self, synced: asyncio.Event) -> None:
        self.cache: dict[str, Obj] = {}
        self.synced = synced
        self.handlers: list[Handler] = []

    def items(self) -> list[Obj]:
        return list(self.cache.values())

    def add_handler(self, handler: Handler) -> None:
        self.handlers.append(handler)

    def changed(self, old: Obj | None, new: Obj | None) -> None:
        if new is None:
            self.cache.pop(object_key(old or {}), None)
        else:
            self.cache[object_key(new)] = new
        for handler in self.handlers:
            try:
                handler(old, new)
            except Exception:
                log.exception("pod handler failed")


class PodSources:
    """Where pod workers learn the API's state: the pods bound to their node, and the Secrets,
    ConfigMaps, Services, claims and volumes those use. A node watches its own pods (``node``: a field selector on
    spec.nodeName, as kubelet does), and each Secret and ConfigMap they use by a watch of that object
    (:mod:`minikube_py.client.referenced`: the Node authorizer lets a node read those only); the fake nodes of one process
    (:mod:`.fleet`) share one source with ``node=None``, one watch of every bound pod dispatched by
    spec.nodeName and one of each other collection or object, since a thousand nodes with four watches
    each would cost the server four thousand."""

    def __init__(self, client: ApiClient, node: str | None) -> None:
        self._pods = Informer(
            client, "/api/v1/pods", field_selector=f"spec.nodeName={node}" if node is not None else "spec.nodeName!="
        )
        self.secrets = ReferencedObjects(client, "secrets", lambda pod: VolumeManager.referenced(pod)[0])
        self.configmaps = ReferencedObjects(client, "configmaps", lambda pod: VolumeManager.referenced(pod)[1])
        self.services = Informer(client, "/api/v1/services")
        #: the RuntimeClasses, whose handlers a node's sandboxes are created with (kubelet's informer)
        self.runtime_classes = Informer(client, "/apis/node.k8s.io/v1/runtimeclasses")
        self.claims = ReferencedObjects(client, "persistentvolumeclaims", _claims_of)
        self.persistent_volumes = Informer(client, "/api/v1/persistentvolumes")
        self._nodes: dict[str, NodePods] = {}
        # the pods' Secrets, ConfigMaps and claims are watched before any worker hears of the pod
        self._pods.add_handler(self.secrets.referrer_changed)
        self._pods.add_handler(self.configmaps.referrer_changed)
        self._pods.add_handler(self.claims.referrer_changed)
        self._pods.add_handler(self._dispatch)

    def pods(self, node: str) -> NodePods:
        found = self._nodes.get(node)
        if found is None:
            found = self._nodes[node] = NodePods(self._pods.synced)
            for pod in self._pods.items():  # a node (re)started after the first listing
                if (pod.get("spec") or {}).get("nodeName") == node:
                    found.changed(None, pod)
        return found

    async def synced(self) -> None:
        """Return once every collection has been listed."""
        await asyncio.gather(*(i.synced.wait() for i in (self._pods, *self._read)))

    @property
    def _read(self) -> tuple[Informer, ...]:
        """The collections pod workers read from (beside the Secrets, ConfigMaps and claims of their pods)."""
        return self.services, self.persistent_volumes, self.runtime_classes

    async def run(self) -> None:
        """The watches, until cancelled: pods once the caches their workers read from are filled."""
        try:
            async with asyncio.TaskGroup() as tasks:
                for informer in self._read:
                    tasks.create_task(informer.run(), name=f"agent informer {informer.path}")
                await asyncio.gather(*(informer.synced.wait() for informer in self._read))
                tasks.create_task(self._pods.run(), name="agent pod informer")
        finally:
            for referenced in (self.secrets, self.configmaps, self.claims):
                referenced.close()

    async def references_synced(self, pod: Obj) -> None:
        """Until the Secrets, ConfigMaps and claims ``pod`` uses have been fetched (see
        :mod:`minikube_py.client.referenced`)."""
        await asyncio.gather(*(r.wait_synced(pod) for r in (self.secrets, self.configmaps, self.claims)))

    def _dispatch(self, old: Obj | None, new: Obj | None) -> None:
        """A pod's node never changes once bound: a binding is the pod's arrival on its node."""
        was = ((old or {}).get("spec") or {}).get("nodeName")
        now = ((new or {}).get("spec") or {}).get("nodeName") if new is not None else None
        if new is not None and now:
            target = self._nodes.get(now)
            if target is not None:
                target.changed(old if was == now else None, new)
        elif new is None and was:
            target = self._nodes.get(was)
            if target is not None:
                target.changed(old, None)

    def forget(self, node: str) -> None:
        """A stopped node's view: it is built afresh when the node starts again."""
        self._nodes.pop(node, None)


def _claims_of(pod: Obj) -> set[tuple[str, str]]:
    return {(pod["metadata"]["namespace"], name) for name in pod_claim_names(pod)}


@dataclass(eq=False)
class PodServices:
    """What every worker shares: the runtime, the API, the caches of Secrets, ConfigMaps, Services,
    claims and volumes its node's :class:`PodSources` keeps."""

    client: ApiClient
    runtime: Runtime
    node: NodeContext
    recorder: EventRecorder
    sources: PodSources
    #: None: the network is there already (tests that drive workers alone)
    network: PodNetwork | None = None
    #: the node's pressure conditions now (MemoryPressure from its eviction manager's last look,
    #: DiskPressure from its disk check), under which it refuses new pods
    pressures: Callable[[], Sequence[str]] = field(default=lambda: ())
    #: the Node object as last read (None before the agent has one), for the kubelet's admission
    node_object: Callable[[], Obj | None] = field(default=lambda: None)
    #: what the scheduler would count of each pod the node admitted that is still running or about to
    admitted: Callable[[], Iterable[PodInfo]] = field(default=lambda: ())
    #: told the id of each image a pod's container is created from (the node's image collector)
    image_used: Callable[[str], None] = field(default=lambda _image_id: None)
    volumes: VolumeManager = field(init=False)
    images: ImageManager = field(init=False)
    tokens: TokenManager = field(init=False)

    def __post_init__(self) -> None:
        self.volumes = VolumeManager(self.node.data_dir / "pods")
        self.images = ImageManager(self.runtime, self.recorder, self.image_used)
        self.tokens = TokenManager(self.client)

    def secret(self, namespace: str, name: str) -> Obj | None:
        return self.sources.secrets.get(f"{namespace}/{name}")

    def configmap(self, namespace: str, name: str) -> Obj | None:
        return self.sources.configmaps.get(f"{namespace}/{name}")

    def claim(self, namespace: str, name: str) -> Obj | None:
        return self.sources.claims.get(f"{namespace}/{name}")

    def runtime_handler(self, pod: Obj) -> str:
        """The handler of the RuntimeClass ``pod`` names ("" for none: the engine's default); a class
        this node has not heard of fails the sandbox as kubelet's RuntimeClass manager words it."""
        name = (pod.get("spec") or {}).get("runtimeClassName")
        if not name:
            return ""
        found = self.sources.runtime_classes.get(name)
        if found is None:
            raise CreateError(f'runtimeclass.node.k8s.io "{name}" not found')
        return str(found.get("handler") or "")

    def admission_refusal(self, pod: PodInfo) -> tuple[str, str] | None:
        """(reason, message) when the pod does not fit beside the pods the node admitted (see
        :mod:`minikube_py.model.nodeadmission`); None when it does, or the node is not known yet."""
        node = self.node_object()
        return None if node is None else nodeadmission.refusal(pod, node, self.admitted())

    def claim_sources(self, pod: Obj) -> dict[str, Obj]:
        """The directories of the pod's claim volumes (VolumeError while one is not ready)."""
        return claim_sources(pod, self.claim, self.sources.persistent_volumes.get)


class PodWorker:
    def __init__(self, pod: Obj, services: PodServices) -> None:
        self.pod = pod
        self.uid: str = pod["metadata"]["uid"]
        self.gone = False
        self._s = services
        self._wake = asyncio.Event()
        self._wake.set()
        self._backoff: dict[str, RestartBackoff] = {}  # container name → its restart back-off
        self._waiting: dict[str, tuple[str, str]] = {}
        self._probers: dict[str, ContainerProber] = {}  # container id → prober
        self._last_status: Obj | None = None
        self._transitions: dict[str, str] = {}
        self._start_time: str | None = (pod.get("status") or {}).get("startTime")
        #: when this worker first saw the pod, until it is reported running (kubelet_pod_start_duration_seconds);
        #: None for a pod that had already started (adopted after a restart of the agent)
        started = (pod.get("status") or {}).get("phase") in ("Running", "Succeeded", "Failed")
        self._first_seen: float | None = None if started else time.monotonic()
        self._next_deadline: float | None = None
        self.refresh_volumes = False
        #: the kubelet ended the pod itself (its active deadline, an eviction): it stops and fails
        self._ending: Ending | None = None

    def update(self, pod: Obj) -> None:
        self.pod = pod
        self.wake()

    @property
    def admitted(self) -> bool:
        """The node took the pod (its first pass passed admission, or it had started before)."""
        return self._start_time is not None

    @functools.cached_property
    def requests(self) -> PodInfo:
        """The pod as admission counts it (its requests, ports, affinity), worked out once: none of
        that changes in a pod's life."""
        return pod_info(self.pod)

    def wake(self) -> None:
        self._wake.set()

    @property
    def _path(self) -> str:
        md = self.pod["metadata"]
        return resource_path("v1", "pods", md["namespace"], md["name"])

    async def run(self) -> None:
        """Sync until the pod is gone and cleaned up; failures are retried, never fatal."""
        failures = 0
        while True:
            timeout = RESYNC_SECONDS
            if self._next_deadline is not None:
                timeout = max(0.05, min(timeout, self._next_deadline - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            self._wake.clear()
            try:
                if await self.sync():
                    return
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                log.warning("pod %s: sync failed: %r", object_key(self.pod), exc, exc_info=failures == 1)
                await asyncio.sleep(min(0.5 * 2**failures, 10.0))
                self._wake.set()

    async def stop_probers(self) -> None:
        for prober in self._probers.values():
            await prober.stop()
        self._probers.clear()

    # --- the kubelet's own end of a pod ------------------------------------------------------------------

    def _past_deadline(self, pod: Obj) -> Ending | None:
        """The pod's active deadline: running ``activeDeadlineSeconds`` since its start, it fails
        (DeadlineExceeded) and its containers stop within its grace period; until then the worker
        wakes at the deadline (which an update may bring closer)."""
        spec = pod.get("spec") or {}
        seconds, started = spec.get("activeDeadlineSeconds"), parse_time(self._start_time)
        if not isinstance(seconds, int) or isinstance(seconds, bool) or started is None:
            return None
        left = seconds - (datetime.now(UTC) - started).total_seconds()
        if left > 0:
            self._wake_at(time.monotonic() + left)
            return None
        grace = float(spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE))
        return Ending(DEADLINE_EXCEEDED, DEADLINE_MESSAGE, grace)

    @property
    def active(self) -> bool:
        """The pod is this node's to run: neither ended nor on its way out."""
        return not self.gone and self._ending is None and TERMINAL.isdisjoint({self._reported, _phase_of(self.pod)})

    @property
    def stopping(self) -> bool:
        """The kubelet ended the pod and has not reported it failed yet."""
        return self._ending is not None and self._reported != "Failed"

    @property
    def _reported(self) -> str | None:
        return None if self._last_status is None else self._last_status.get("phase")

    def evict(self, message: str) -> None:
        """The node's eviction manager ends the pod: it fails (Evicted) and its containers are killed
        at once, as for a hard eviction threshold."""
        if self._ending is not None:
            return
        self._ending = Ending(EVICTED, message, 0.0, disruption=True)
        self._s.recorder.emit(self.pod, "Warning", EVICTED, message)
        self.wake()

    # --- one pass -----------------------------------------------------------------------------------

    async def _observe(self) -> dict[str, list[ContainerState]]:
        return by_container_name(
            await self._s.runtime.list_containers({LABEL_POD_UID: self.uid, LABEL_NODE: self._s.node.name})
        )

    async def sync(self) -> bool:
        """One pass; True when the worker is finished (the pod is gone and its containers removed)."""
        self._next_deadline = None
        by_name = await self._observe()
        pod = self.pod  # one version of the pod for the whole pass: update() may swap it at any await
        reported = self._reported
        if self._ending is None and not self.gone and TERMINAL.isdisjoint({reported, _phase_of(pod)}):
            self._ending = self._past_deadline(pod)
            if self._ending is not None:
                self._s.recorder.emit(pod, "Normal", self._ending.reason, self._ending.message)
        plan = plan_pod(
            pod,
            by_name,
            probes={cid: p.liveness_failure for cid, p in self._probers.items()},
            started={cid for cid, p in self._probers.items() if p.started},
            backoff=self._backoff,
            now=time.monotonic(),
            gone=self.gone,
            reported_phase=reported,
            ending=None if self._ending is None else self._ending.grace,
        )
        if plan.done:
            await self._carry_out(pod, plan.actions, None)
            return True
        rejection, reason = forbidden_sysctl(pod), SYSCTL_FORBIDDEN
        if rejection is None and self._start_time is None:  # the eviction manager admits a new pod once
            rejection, reason = eviction.refusal(pod, self._s.pressures()), EVICTED
        if rejection is None and self._start_time is None and not by_name:
            reason, rejection = self._s.admission_refusal(self.requests) or (reason, None)
        if rejection is not None and not by_name:  # (a deleted pod's plan is done, above)
            await self._reject(pod, reason, rejection)
            return False
        spec = pod.get("spec") or {}
        if self._start_time is None:
            self._start_time = _now()
        if await self._renew_tokens(pod):
            self.refresh_volumes = True
        if self.refresh_volumes:
            self.refresh_volumes = False
            self._s.volumes.refresh(pod, secret=self._s.secret, configmap=self._s.configmap, token=self._s.tokens.get)
        if plan.actions:
            sandbox = (by_name.get(SANDBOX_NAME) or [None])[0]
            await self._carry_out(pod, plan.actions, sandbox)
            by_name = await self._observe()
        await self._write_status(by_name, spec, spec.get("restartPolicy", "Always"))
        return False

    async def _carry_out(self, pod: Obj, actions: list[Action], sandbox: ContainerState | None) -> None:
        """The plan's actions in order; ``sandbox`` is the pod's running sandbox, or the one the plan
        creates first (when that fails, the actions needing it wait for the next pass)."""
        runtime = self._s.runtime
        for action in actions:
            match action:
                case CreateSandbox():
                    sandbox = await self._start_sandbox(pod)
                    if sandbox is None:
                        return
                case KillContainer():
                    await self._kill(pod, action)
                case RemoveContainer():
                    await runtime.remove_container(action.id)
                case StartProbing():
                    assert sandbox is not None
                    self._start_prober(pod, action.container, action.id, sandbox.ip or self._s.node.ip)
                case WaitBackOff():
                    self._waiting[action.name] = ("CrashLoopBackOff", action.message)
                    self._s.recorder.emit(pod, "Warning", "BackOff", action.event)
                    self._wake_at(action.until)
                case StartContainer():
                    assert sandbox is not None
                    if action.backoff is not None:
                        self._backoff[action.name] = action.backoff
                    if action.replaces is not None:
                        await runtime.remove_container(action.replaces)
                    await self._create_and_start(pod, action, sandbox)
                case StopContainers():
                    await self.stop_probers()
                    deadline = time.monotonic() + action.grace
                    await asyncio.gather(*(self._stop_one(pod, stop, action, deadline) for stop in action.stops))
                    for stop in action.sidecars:
                        await self._stop_one(pod, stop, action, deadline)
                case ReleasePod():
                    self._s.volumes.teardown(self.uid)
                    self._s.tokens.forget(self.uid)
                    self._s.images.forget(self.uid)
                    if action.delete_object and not self.gone:  # gone may have turned true meanwhile
                        with contextlib.suppress(NotFoundError, ConflictError):
                            await self._s.client.delete(self._path, grace_period_seconds=0, uid=self.uid)

    async def _kill(self, pod: Obj, action: KillContainer) -> None:
        if action.message is not None:
            self._s.recorder.emit(pod, "Normal", "Killing", action.message)
        prober = self._probers.pop(action.id, None)
        if prober is not None:
            await prober.stop()
        await self._s.runtime.stop_container(action.id, action.grace)
        self.wake()

    async def _start_sandbox(self, pod: Obj) -> ContainerState | None:
        runtime = self._s.runtime
        network = self._s.network
        if network is not None and not network.ready.is_set() and not (pod.get("spec") or {}).get("hostNetwork"):
            # the worker is woken when the network comes up; until then it says why it waits
            if network.problem is not None:
                self._s.recorder.emit(
                    pod, "Warning", "FailedCreatePodSandBox", f"Failed to create pod sandbox: {network.problem}"
                )
            self._retry_in(NETWORK_RETRY_SECONDS)
            return None
        try:
            await self._s.tokens.ensure(pod)
        except ApiError as e:
            self._s.recorder.emit(
                pod, "Warning", "FailedMount", f"MountVolume.SetUp failed: failed to fetch token: {e}"
            )
            self._retry_in(2.0)
            return None
        try:
            self._s.volumes.setup(
                pod,
                secret=self._s.secret,
                configmap=self._s.configmap,
                claims=self._s.claim_sources(pod),
                token=self._s.tokens.get,
            )
        except VolumeError as e:
            self._s.recorder.emit(pod, "Warning", "FailedMount", e.message)
            self._retry_in(2.0)
            return None
        try:
            sandbox_id = await runtime.create_container(sandbox_spec(pod, self._s.node, self._s.runtime_handler(pod)))
            await runtime.start_container(sandbox_id)
            resolv = resolv_conf(pod, self._s.node)
            if resolv is not None and not (pod.get("spec") or {}).get("hostNetwork"):
                await runtime.write_resolv_conf(sandbox_id, resolv)
        except RuntimeFailure as e:
            self._s.recorder.emit(
                pod, "Warning", "FailedCreatePodSandBox", f"Failed to create pod sandbox: {e.message}"
            )
            self._retry_in(2.0)
            return None
        return await runtime.inspect(sandbox_id)

    async def _renew_tokens(self, pod: Obj) -> bool:
        """Renew the pod's tokens that are due or missing (a pod adopted after a restart; True if any
        was), and wake for the next one due. A failed renewal is retried at the next pass; the old
        token stays in the volume until it expires."""
        tokens = self._s.tokens
        if not tokens.wants(pod):
            return False
        try:
            renewed = await tokens.ensure(pod)
        except ApiError as e:
            log.warning("pod %s: renewing its service account token failed: %s", object_key(pod), e)
            renewed = False
        due = tokens.next_renewal(pod)
        if due is not None:
            self._wake_at(time.monotonic() + due)
        return renewed

    def _wake_at(self, deadline: float) -> None:
        self._next_deadline = deadline if self._next_deadline is None else min(self._next_deadline, deadline)

    def _retry_in(self, seconds: float) -> None:
        self._wake_at(time.monotonic() + seconds)

    async def _create_and_start(self, pod: Obj, action: StartContainer, sandbox: ContainerState) -> None:
        container, name = action.container, action.name
        pod_ip = sandbox.ip or self._s.node.ip
        s = self._s
        pull_secrets = [
            sec
            for ref in (pod.get("spec") or {}).get("imagePullSecrets") or []
            if (sec := s.secret(pod["metadata"]["namespace"], ref.get("name", ""))) is not None
        ]
        try:
            await s.images.ensure(pod, container, pull_secrets)
        except ImageError as e:
            self._waiting[name] = (e.reason, e.message)
            self._retry_in(1.0 if e.reason == "ErrImagePull" else 5.0)
            return
        try:
            mounts = s.volumes.mounts(pod, container, s.claim_sources(pod))
        except VolumeError as e:
            s.recorder.emit(pod, "Warning", "FailedMount", e.message)
            self._retry_in(2.0)
            return
        try:
            env = resolve_env(
                pod,
                container,
                secret=s.secret,
                configmap=s.configmap,
                services=s.sources.services.items(),
                node=s.node,
                pod_ip=pod_ip,
            )
            command, args = expand_command(container, env)
            image_user = await s.runtime.image_user(container["image"])
            runtime_spec = app_spec(
                pod,
                container,
                kind=action.kind,
                attempt=action.attempt,
                sandbox_id=sandbox.id,
                sandbox_ipc=sandbox.labels.get(LABEL_SANDBOX_IPC, ""),
                runtime_handler=sandbox.labels.get(LABEL_RUNTIME_HANDLER, ""),
                env=env,
                mounts=mounts,
                node=s.node,
                command=command,
                args=args,
                target=action.target,
                image_user=image_user,
            )
        except ConfigError as e:
            self._not_created(pod, name, "CreateContainerConfigError", e.message)
            return
        except ImageNotPresent as e:  # removed from the engine since it was ensured
            self._not_created(pod, name, "CreateContainerError", e.message)
            return
        try:
            container_id = await s.runtime.create_container(runtime_spec)
        except (CreateError, ImageNotPresent) as e:
            self._not_created(pod, name, "CreateContainerError", e.message)
            return
        self._waiting.pop(name, None)
        s.recorder.emit(pod, "Normal", "Created", f"Created container {name}")
        try:
            await s.runtime.start_container(container_id)
        except CreateError as e:
            s.recorder.emit(pod, "Warning", "Failed", f"Error: {e.message}")
            self.wake()
            return
        s.recorder.emit(pod, "Normal", "Started", f"Started container {name}")
        post_start = (container.get("lifecycle") or {}).get("postStart")
        if post_start:
            target = ProbeTarget(s.runtime, container, container_id, pod_ip)
            if await run_hook(post_start, target, POST_START_LIMIT) is not None:
                # the container goes, and comes back as its restart policy says; the event does not
                # repeat the handler's output, which may hold secrets (the kubelet's rule)
                s.recorder.emit(pod, "Warning", "FailedPostStartHook", "PostStartHook failed")
                grace = float((pod.get("spec") or {}).get("terminationGracePeriodSeconds", DEFAULT_GRACE))
                await self._kill(pod, KillContainer(container_id, grace, "FailedPostStartHook"))
                return
        if action.kind in ("app", "sidecar"):
            self._start_prober(pod, container, container_id, pod_ip)

    def _not_created(self, pod: Obj, name: str, reason: str, message: str) -> None:
        """The container could not be created: it waits with ``reason``, and the worker tries again."""
        self._waiting[name] = (reason, message)
        self._s.recorder.emit(pod, "Warning", "Failed", f"Error: {message}")
        self._retry_in(2.0)

    def _start_prober(self, pod: Obj, container: Obj, container_id: str, pod_ip: str) -> None:
        prober = ContainerProber(
            ProbeTarget(self._s.runtime, container, container_id, pod_ip),
            pod,
            on_change=self.wake,
            recorder=self._s.recorder,
        )
        self._probers[container_id] = prober
        prober.start()

    # --- status -------------------------------------------------------------------------------------

    def _view(self, container: Obj, states: list[ContainerState]) -> ContainerView:
        current = states[0] if states else None
        view = ContainerView(
            container["name"],
            container.get("image", ""),
            current,
            states[1] if len(states) > 1 else None,
            sidecar=is_sidecar(container),
        )
        waiting = self._waiting.get(container["name"])
        if waiting is not None and (current is None or not current.running):
            view.waiting = waiting
        if current is not None and current.running:
            prober = self._probers.get(current.id)
            view.ready = prober.ready if prober is not None else False
            view.started = prober.started if prober is not None else True
            self._waiting.pop(container["name"], None)
        elif current is not None and current.status == "created" and current.error:
            view.waiting = ("RunContainerError", current.error)
        return view

    async def _write_status(self, by_name: dict[str, list[ContainerState]], spec: Obj, policy: str) -> None:
        sandbox = (by_name.get(SANDBOX_NAME) or [None])[0]
        init = [self._view(c, by_name.get(c["name"], [])) for c in spec.get("initContainers") or []]
        app = [self._view(c, by_name.get(c["name"], [])) for c in spec.get("containers") or []]
        ephemeral = [self._view(c, by_name.get(c["name"], [])) for c in spec.get("ephemeralContainers") or []]
        failed_init = any(
            v.current is not None
            and not v.sidecar
            and not v.current.running
            and v.current.status != "created"
            and v.current.exit_code not in (0, None)
            and policy == "Never"
            for v in init
        )
        pod_ip = ""
        if sandbox is not None and sandbox.running:
            pod_ip = self._s.node.ip if spec.get("hostNetwork") else sandbox.ip
        observed = Observed(
            policy,
            init,
            app,
            pod_ip=pod_ip,
            host_ip=self._s.node.ip,
            start_time=self._start_time,
            failed_init=failed_init,
            transitions=self._transitions,
            ephemeral=ephemeral,
            ending=self._ending,
        )
        status = pod_status(observed, _now())
        if status["phase"] in ("Succeeded", "Failed") and sandbox is not None and sandbox.running:
            await self._s.runtime.stop_container(sandbox.id, 0)  # nothing will run in it again
        if status == self._last_status:
            return
        if await self._patch_status(status) and self._first_seen is not None and status["phase"] == "Running":
            POD_START_DURATION.observe(time.monotonic() - self._first_seen)
            self._first_seen = None

    async def _reject(self, pod: Obj, reason: str, message: str) -> None:
        """The kubelet's refusal to run a pod at all (its admission): the pod fails with ``reason`` and
        nothing of it is started."""
        status = {"phase": "Failed", "reason": reason, "message": f"Pod was rejected: {message}"}
        if status != self._last_status and await self._patch_status(status):
            self._s.recorder.emit(pod, "Warning", reason, message)

    async def _patch_status(self, status: Obj) -> bool:
        """Write the pod's status; False when the pod is gone (the worker then cleans up)."""
        try:
            await self._s.client.patch(f"{self._path}/status", {"status": status}, "merge")
        except NotFoundError:
            self.gone = True
            self.wake()
            return False
        self._last_status = status
        return True

    # --- deletion -----------------------------------------------------------------------------------

    def _pod_ip(self, pod: Obj) -> str:
        """Where an HTTP preStop hook without a host goes: the pod's address (the node's on its network)."""
        return str((pod.get("status") or {}).get("podIP") or self._s.node.ip)

    async def _stop_one(self, pod: Obj, stop: Stop, action: StopContainers, deadline: float) -> None:
        """Stop one container by ``deadline`` (monotonic), its preStop hook first."""
        if stop.pre_stop is not None:
            target = ProbeTarget(self._s.runtime, stop.container, stop.id, self._pod_ip(pod))
            failure = await run_hook(stop.pre_stop, target, max(0.0, deadline - time.monotonic()))
            if failure is not None:
                self._s.recorder.emit(pod, "Warning", "FailedPreStopHook", failure)
        if action.announce and not self.gone:  # gone may have turned true during the hook (a force delete)
            self._s.recorder.emit(pod, "Normal", "Killing", f"Stopping container {stop.name}")
        await self._s.runtime.stop_container(stop.id, max(0.0, deadline - time.monotonic()))


class PodManager:
    """Watches the pods bound to this node and keeps one worker per pod."""

    def __init__(
        self,
        client: ApiClient,
        runtime: Runtime,
        node: NodeContext,
        *,
        recorder: EventRecorder,
        network: PodNetwork | None = None,
        sources: PodSources | None = None,
        pressures: Callable[[], Sequence[str]] = lambda: (),
        node_object: Callable[[], Obj | None] = lambda: None,
        image_used: Callable[[str], None] = lambda _image_id: None,
    ) -> None:
        """``sources``: shared with other nodes and run by their owner; by default the manager watches
        its own node's pods. ``pressures``: the node's pressure conditions now, under which it refuses
        new pods. ``node_object``: the Node as the agent last read it, for admission. ``image_used``:
        told each image a container is created from."""
        self._client = client
        self._runtime = runtime
        self._node = node
        self._own_sources = sources is None
        self._sources = src = sources if sources is not None else PodSources(client, node.name)
        self.pods = src.pods(node.name)
        self._services = PodServices(
            client,
            runtime,
            node,
            recorder,
            src,
            network,
            pressures=pressures,
            node_object=node_object,
            image_used=image_used,
            admitted=lambda: (w.requests for w in self.workers.values() if w.admitted and w.active),
        )
        self.volumes = self._services.volumes
        self.local_paths = LocalPathCleaner(client, node, recorder)
        self.workers: dict[str, PodWorker] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        #: this manager's handlers on the (maybe shared) informers, removed again by :meth:`close`
        self._source_handlers: tuple[tuple[Handlers, Handler], ...] = (
            (src.secrets, lambda old, new: self._on_source(old or new, "secret")),
            (src.configmaps, lambda old, new: self._on_source(old or new, "configmap")),
            (src.claims, lambda old, new: self._wake_claim_users(object_key(new or old))),
            (src.persistent_volumes, lambda old, new: self._wake_claim_users(claim_ref_key(new or old))),
            (src.persistent_volumes, self.local_paths.on_volume),
        )
        for informer, handler in self._source_handlers:
            informer.add_handler(handler)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            if self._own_sources:
                tasks.create_task(self._sources.run(), name="agent informers")
            tasks.create_task(self._runtime_events(), name="agent runtime events")
            await self.pods.synced.wait()  # the pods are listed after every other collection
            tasks.create_task(self.local_paths.run(), name="agent local-path cleaner")
            for pod in self.pods.items():  # listed before this manager's handler was there
                self._on_pod(None, pod)
            self.pods.add_handler(self._on_pod)
            tasks.create_task(self._collect_orphans(), name="agent orphan collector")

    async def close(self) -> None:
        """After :meth:`run` (and a :meth:`drain`): the workers stop, their containers run on for the
        next start to adopt, and a stopped node writes nothing more (a node of a fleet may be stopped
        while the process goes on)."""
        for informer, handler in self._source_handlers:
            informer.remove_handler(handler)
        if not self._own_sources:
            self._sources.forget(self._node.name)
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def drain(self, within: float) -> None:
        """Stop every pod of this node as if its object were gone (preStop hooks, grace periods), remove
        its containers and volumes, and wait for that up to ``within`` seconds: ``--drain-on-stop``,
        for users who want no container to outlive the agent. The pod objects are left alone (the
        cluster may outlive this node's process), so a next start creates their containers afresh."""
        tasks = list(self._tasks.values())
        log.warning("draining node %s: stopping %d pods", self._node.name, len(tasks))
        for worker in self.workers.values():
            worker.gone = True
            worker.wake()
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=within)
        if pending:
            log.error("draining node %s: %d pods did not stop within %g s", self._node.name, len(pending), within)
        else:
            log.warning("drained node %s", self._node.name)

    def wake_all(self) -> None:
        for worker in self.workers.values():
            worker.wake()

    def _on_pod(self, old: Obj | None, new: Obj | None) -> None:
        if new is None:
            assert old is not None
            worker = self.workers.get(old["metadata"]["uid"])
            if worker is not None:
                worker.gone = True
                worker.wake()
            return
        uid = new["metadata"]["uid"]
        worker = self.workers.get(uid)
        if worker is not None:
            worker.update(new)
            return
        worker = self.workers[uid] = PodWorker(new, self._services)
        self._tasks[uid] = asyncio.create_task(self._run_worker(worker), name=f"pod {object_key(new)}")

    async def _run_worker(self, worker: PodWorker) -> None:
        try:
            await self._sources.references_synced(worker.pod)
            await worker.run()
        finally:
            await worker.stop_probers()
            self.workers.pop(worker.uid, None)
            self._tasks.pop(worker.uid, None)

    def _wake_claim_users(self, claim: str | None) -> None:
        """A claim (``namespace/name``) changed, or the volume bound to it: the pods mounting it look
        again (one waiting for it to be bound goes on)."""
        if claim is None:
            return
        namespace, _, name = claim.partition("/")
        for worker in self.workers.values():
            if worker.pod["metadata"].get("namespace") == namespace and name in pod_claim_names(worker.pod):
                worker.wake()

    def _on_source(self, obj: Obj, kind: str) -> None:
        key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        for worker in self.workers.values():
            secrets, configmaps = VolumeManager.referenced(worker.pod)
            if key in (secrets if kind == "secret" else configmaps):
                worker.refresh_volumes = True
                worker.wake()

    async def _runtime_events(self) -> None:
        async for event in self._runtime.events():
            if event.labels.get(LABEL_NODE) != self._node.name:
                continue
            worker = self.workers.get(event.labels.get(LABEL_POD_UID, ""))
            if worker is not None:
                worker.wake()

    async def _collect_orphans(self) -> None:
        """Containers and volumes of pods that no longer exist (deleted while the agent was down, or
        force-deleted) are stopped with their grace period and removed."""
        while True:
            try:
                known = {p["metadata"]["uid"] for p in self.pods.items()} | set(self.workers)
                found = await self._runtime.list_containers({LABEL_NODE: self._node.name})
                orphans: dict[str, list[ContainerState]] = {}
                for state in found:
                    uid = state.labels.get(LABEL_POD_UID, "")
                    if uid not in known:
                        orphans.setdefault(uid, []).append(state)
                for uid, states in orphans.items():
                    for state in sorted(states, key=lambda st: st.labels.get(LABEL_CONTAINER_KIND) == "sandbox"):
                        if state.running:
                            await self._runtime.stop_container(state.id, float(state.labels.get(LABEL_GRACE, "30")))
                        await self._runtime.remove_container(state.id)
                    self._services.volumes.teardown(uid)
                for uid in self._services.volumes.existing_pod_uids() - known - set(orphans):
                    self._services.volumes.teardown(uid)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the engine or the API away (the node's conditions say so): next round
                log.warning("orphan collection failed: %s", e)
            await asyncio.sleep(30.0)
