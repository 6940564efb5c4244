"""What a pod worker does next, decided from what it sees: the kubelet's ``computePodActions``, pure.

The worker observes (the pod object, its containers as the runtime reports them, its probes' verdicts,
its restart back-off), calls :func:`plan_pod` and carries the actions out in order; only that last step
touches the runtime or the API. So every rule of the pod loop (sandbox (re)creation, init containers in
order, restart policies, CrashLoopBackOff, restarts on a changed spec or a failed liveness probe,
graceful deletion, ephemeral containers started once and never again) is checked by unit tests in
milliseconds, without a runtime or a server.

What can only be known by trying (an image that will not pull, a Secret the env needs, an engine that
refuses a command) is not planned: the worker meets it while carrying a ``StartContainer`` out and
reports it as the container's waiting reason.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from minikube_py.agent.containers import spec_hash
from minikube_py.agent.runtime.base import (
    LABEL_ATTEMPT,
    LABEL_CONTAINER_NAME,
    LABEL_SPEC_HASH,
    SANDBOX_NAME,
    ContainerState,
)
from minikube_py.agent.status import should_restart

Obj = dict[str, Any]

#: restart back-off, as kubelet: the first restart at once, then waits of 10 s doubling up to 5 min
BACKOFF_START = 10.0
BACKOFF_MAX = 300.0
#: a container that ran this long before it ended has its restart back-off reset, as kubelet
BACKOFF_RESET_AFTER = 600.0
#: previous attempts kept per container name: one, for `kubectl logs --previous` and lastState
KEEP_PREVIOUS = 1
#: seconds a container is given to stop when the pod does not say (terminationGracePeriodSeconds)
DEFAULT_GRACE = 30


# ------------------------------------------------------------------------------ observations


def attempt_of(state: ContainerState) -> int:
    """The attempt number a container was created with: its container's restart count."""
    return int(state.labels.get(LABEL_ATTEMPT, "0"))


def ended(state: ContainerState) -> bool:
    """The attempt is over: it exited, or the engine could not start it (which counts as a failure)."""
    return not state.running and (state.status != "created" or bool(state.error))


def ran_for(state: ContainerState) -> float:
    """Seconds an ended attempt ran (0 when the engine did not say): what resets the back-off."""
    if state.started_at and state.finished_at:
        return (state.finished_at - state.started_at).total_seconds()
    return 0.0


def by_container_name(found: Iterable[ContainerState]) -> dict[str, list[ContainerState]]:
    """A pod's containers grouped by the spec's container name (:data:`SANDBOX_NAME` for the sandbox),
    newest attempt first: the shape :func:`plan_pod` and the status read."""
    grouped: dict[str, list[ContainerState]] = {}
    for state in found:
        grouped.setdefault(state.labels.get(LABEL_CONTAINER_NAME, ""), []).append(state)
    for states in grouped.values():
        states.sort(key=attempt_of, reverse=True)
    return grouped


# ------------------------------------------------------------------------------ back-off


@dataclass(frozen=True)
class RestartBackoff:
    """One container's restart back-off: the last wait imposed and the monotonic time it ends."""

    delay: float = 0.0
    not_before: float = 0.0


NO_BACKOFF = RestartBackoff()


def backoff_in_force(entry: RestartBackoff | None, ran: float) -> RestartBackoff:
    """The back-off that holds for a container whose last attempt ran ``ran`` seconds: none after a
    long enough run, so a container that crashes once a day is not kept waiting 5 minutes."""
    if entry is None or ran >= BACKOFF_RESET_AFTER:
        return NO_BACKOFF
    return entry


def backoff_after_restart(entry: RestartBackoff, now: float) -> RestartBackoff:
    """The back-off to record when a container is restarted at ``now``: the next restart waits 10 s,
    then twice the previous wait, at most 5 min."""
    delay = BACKOFF_START if entry.delay == 0 else min(entry.delay * 2, BACKOFF_MAX)
    return RestartBackoff(delay, now + delay)


# ------------------------------------------------------------------------------ actions


@dataclass(frozen=True)
class CreateSandbox:
    """Set up the pod's volumes, then create, start and configure its pause container. The actions
    after it need its network namespace: when it fails they are skipped until the next pass."""


@dataclass(frozen=True)
class KillContainer:
    """Stop a running container within ``grace`` seconds; ``message`` is the Killing event's text
    (None: no event, the container only goes down with its sandbox)."""

    id: str
    grace: float
    message: str | None = None


@dataclass(frozen=True)
class RemoveContainer:
    id: str


@dataclass(frozen=True)
class StartProbing:
    """Probe a running container that has no prober yet (one adopted after an agent restart)."""

    container: Obj
    id: str


@dataclass(frozen=True)
class WaitBackOff:
    """The container stays down until ``until`` (monotonic): its waiting reason is CrashLoopBackOff
    with ``message``, ``event`` the BackOff event's text, and the worker looks again then."""

    name: str
    until: float
    message: str
    event: str


@dataclass(frozen=True)
class StartContainer:
    """Create and start attempt ``attempt`` of a container. ``replaces`` is an attempt created but
    never started (its agent died in between), removed first; ``backoff`` is the container's back-off
    from now on, recorded before trying (a start that fails counts as a failure too). ``target``: the
    runtime id of the container whose process namespace an ephemeral container joins
    (``targetContainerName``)."""

    container: Obj
    kind: Literal["init", "sidecar", "app", "ephemeral"]
    attempt: int
    replaces: str | None = None
    backoff: RestartBackoff | None = None
    target: str | None = None

    @property
    def name(self) -> str:
        return str(self.container["name"])


@dataclass(frozen=True)
class Stop:
    """One container of a deleted pod: its preStop handler (None: no hook to run), then a stop.
    ``container`` is its spec, which a handler may need (a named port)."""

    id: str
    name: str
    pre_stop: Obj | None = field(default=None, hash=False)
    container: Obj = field(default_factory=dict, hash=False, compare=False, repr=False)


@dataclass(frozen=True)
class StopContainers:
    """Stop the running containers of a pod that ends (deleted, or ended by the kubelet) within one ``grace`` period: ``stops`` at once,
    then ``sidecars`` one by one (in the reverse of their order in the spec: they outlive the
    containers they serve, as the kubelet ends them); the probers stop first. ``announce``: a
    Killing event for each (not once the pod object is gone)."""

    stops: tuple[Stop, ...]
    grace: float
    announce: bool
    sidecars: tuple[Stop, ...] = ()


@dataclass(frozen=True)
class ReleasePod:
    """Free what the pod held on the node (volumes, image pull back-off) and, unless the object is
    already gone, delete it with grace 0: the API server keeps it until its node says it is stopped."""

    delete_object: bool


Action = (
    CreateSandbox
    | KillContainer
    | RemoveContainer
    | StartProbing
    | WaitBackOff
    | StartContainer
    | StopContainers
    | ReleasePod
)


@dataclass
class PodPlan:
    """The actions of one pass, in order. ``done``: after them the worker has nothing left to do (the
    pod was deleted and everything of it is removed)."""

    actions: list[Action] = field(default_factory=list)
    done: bool = False


# ------------------------------------------------------------------------------ the plan


def is_sidecar(container: Obj) -> bool:
    """A sidecar: an init container with ``restartPolicy: Always``, which starts in its turn among the
    init containers but runs beside the app containers for the pod's whole life."""
    return container.get("restartPolicy") == "Always"


def plan_pod(
    pod: Obj,
    containers: Mapping[str, Sequence[ContainerState]],
    *,
    probes: Mapping[str, str | None],
    backoff: Mapping[str, RestartBackoff],
    now: float,
    gone: bool = False,
    reported_phase: str | None = None,
    started: Collection[str] = (),
    ending: float | None = None,
) -> PodPlan:
    """Decide one pass of a pod's worker.

    ``containers`` is :func:`by_container_name` of what the runtime reports for the pod; ``probes``
    maps the id of each container that has a prober to its liveness (or startup) failure, None while
    it holds, and ``started`` holds the ids of those whose startup probe passed (or that have none);
    ``backoff`` is the restart back-off per container name, ``now`` the monotonic clock it counts in.
    ``gone``: the pod object no longer exists. ``reported_phase`` is the phase of the status this
    worker last wrote (None before its first write).

    Sidecars (:func:`is_sidecar`) start in their turn among the init containers, and the next init
    container waits until the sidecar has started (its startup probe passed); they are restarted
    whenever they end, whatever the pod's restart policy, and probed as app containers are. Once the
    app containers ended for good (a Job's pod), the sidecars are stopped, last first, so the pod
    can complete; its phase is its app containers'.

    ``ending``: the kubelet itself ends the pod (its active deadline passed, or it is evicted), which
    then fails: what runs is stopped within that many seconds (preStop hooks first) and nothing starts
    again; the stopped containers stay, for their logs, until the pod is deleted."""
    if gone or pod["metadata"].get("deletionTimestamp"):
        return PodPlan(_deletion(pod, containers, gone), done=True)
    if _finished(pod, containers, reported_phase):
        return PodPlan()
    if ending is not None:
        stops = _stop_running(pod, containers, ending, announce=True)
        return PodPlan([stops] if stops.stops or stops.sidecars else [])
    spec = pod.get("spec") or {}
    policy = spec.get("restartPolicy", "Always")
    actions: list[Action] = []
    doomed: set[str] = set()  # killed in this pass: nothing more is decided for them until they are seen down
    sandbox = _newest(containers, SANDBOX_NAME)
    if sandbox is None or not sandbox.running:
        if sandbox is not None:  # its network namespace went with it: every container must start over
            for name, states in containers.items():
                if name != SANDBOX_NAME and states and states[0].running:
                    actions.append(KillContainer(states[0].id, 0.0))
                    doomed.add(states[0].id)
            actions.append(RemoveContainer(sandbox.id))
        actions.append(CreateSandbox())
    for container in spec.get("ephemeralContainers") or []:  # they may start before initialization ends
        actions += _ephemeral(container, containers)
    apps = spec.get("containers") or []
    # the kubelet's test of a finished initialization: an app container was created once
    initialized = any(containers.get(c["name"]) for c in apps)
    # a Job's pod whose app containers are done: nothing more starts, its sidecars go
    done = _apps_done(apps, containers, policy)
    if done:
        actions += _stop_sidecars(pod, containers, doomed)
    for container in [] if done else spec.get("initContainers") or []:
        current = _newest(containers, container["name"])
        if is_sidecar(container):
            actions += _app(pod, container, current, "Always", probes, backoff, now, doomed, kind="sidecar")
            if initialized or (current is not None and current.running and current.id in started):
                continue
            return PodPlan(actions)  # the next init container waits for this sidecar to have started
        if initialized or (current is not None and ended(current) and current.exit_code == 0):
            continue
        # one init container at a time, each to success; Always restarts a failed one as OnFailure does
        if current is None or (
            not current.running and should_restart("OnFailure" if policy == "Always" else policy, current.exit_code)
        ):
            actions += _start(pod, container, "init", current, backoff, now)
        elif ended(current):  # failed for good: the pod fails, and its sidecars go
            actions += _stop_sidecars(pod, containers, doomed)
        return PodPlan(actions)
    for container in [] if done else apps:
        actions += _app(pod, container, _newest(containers, container["name"]), policy, probes, backoff, now, doomed)
    for states in containers.values():
        actions += [RemoveContainer(old.id) for old in states[1 + KEEP_PREVIOUS :]]
    return PodPlan(actions)


def _newest(containers: Mapping[str, Sequence[ContainerState]], name: str) -> ContainerState | None:
    states = containers.get(name)
    return states[0] if states else None


def _apps_done(apps: Sequence[Obj], containers: Mapping[str, Sequence[ContainerState]], policy: str) -> bool:
    """Every app container ended and none is restarted under the pod's policy: the pod's work is over."""
    if policy == "Always" or not apps:
        return False
    newest = [_newest(containers, c["name"]) for c in apps]
    return all(s is not None and ended(s) and not should_restart(policy, s.exit_code) for s in newest)


def _stop_sidecars(pod: Obj, containers: Mapping[str, Sequence[ContainerState]], doomed: set[str]) -> list[Action]:
    """Stop the running sidecars, the last one of the spec first, within the pod's grace period."""
    sidecars = [c for c in (pod.get("spec") or {}).get("initContainers") or [] if is_sidecar(c)]
    actions: list[Action] = []
    for container in reversed(sidecars):
        current = _newest(containers, container["name"])
        if current is not None and current.running and current.id not in doomed:
            actions.append(KillContainer(current.id, _grace(pod), f"Stopping container {container['name']}"))
            doomed.add(current.id)
    return actions


def _finished(pod: Obj, containers: Mapping[str, Sequence[ContainerState]], reported_phase: str | None) -> bool:
    """A pod that reached Succeeded/Failed is never driven again: by this worker's own last report,
    or, for a worker new after an agent restart, by the phase the pod object already carries."""
    if reported_phase is not None:
        phase = reported_phase
    elif containers:
        phase = (pod.get("status") or {}).get("phase")
    else:
        return False
    return phase in ("Succeeded", "Failed")


def _grace(pod: Obj) -> float:
    return float((pod.get("spec") or {}).get("terminationGracePeriodSeconds", DEFAULT_GRACE))


def _app(
    pod: Obj,
    container: Obj,
    current: ContainerState | None,
    policy: str,
    probes: Mapping[str, str | None],
    backoff: Mapping[str, RestartBackoff],
    now: float,
    doomed: set[str],
    *,
    kind: Literal["app", "sidecar"] = "app",
) -> list[Action]:
    """An app container (or a sidecar, which is kept running as one): restarted when its spec
    changed or its liveness probe failed, started again when it ended and the policy says so."""
    name = container["name"]
    if current is not None and current.running:
        if current.id in doomed:
            return []
        if current.labels.get(LABEL_SPEC_HASH) != spec_hash(container):
            return [KillContainer(current.id, _grace(pod), f"Container {name} definition changed, will be restarted")]
        if current.id not in probes:
            return [StartProbing(container, current.id)]
        failure = probes[current.id]
        if failure:  # "Liveness probe failed: ..." or "Startup probe failed: ..."
            probe = failure.split()[0].lower()
            return [KillContainer(current.id, _grace(pod), f"Container {name} failed {probe} probe, will be restarted")]
        return []
    if current is not None and ended(current) and not should_restart(policy, current.exit_code):
        return []
    return _start(pod, container, kind, current, backoff, now)


def _ephemeral(container: Obj, containers: Mapping[str, Sequence[ContainerState]]) -> list[Action]:
    """An ephemeral container runs once: started when it has never been, never restarted whatever its
    end (nor after its sandbox is recreated). With a ``targetContainerName`` it waits for that
    container to exist, to join its process namespace."""
    current = _newest(containers, container["name"])
    if current is not None and (ended(current) or current.running):
        return []
    target_name = container.get("targetContainerName")
    target = _newest(containers, target_name) if target_name else None
    if target_name and target is None:
        return []
    return [
        StartContainer(
            container,
            "ephemeral",
            0,
            replaces=None if current is None else current.id,
            target=None if target is None else target.id,
        )
    ]


def _start(
    pod: Obj,
    container: Obj,
    kind: Literal["init", "sidecar", "app"],
    previous: ContainerState | None,
    backoff: Mapping[str, RestartBackoff],
    now: float,
) -> list[Action]:
    """Start a container whose previous attempt (if any) ended or never started, back-off permitting."""
    name = container["name"]
    if previous is None:
        return [StartContainer(container, kind, 0)]
    if not ended(previous):  # created by an agent that died before starting it: that attempt again
        return [StartContainer(container, kind, attempt_of(previous), replaces=previous.id)]
    entry = backoff_in_force(backoff.get(name), ran_for(previous))
    if now < entry.not_before:
        md = pod["metadata"]
        ref = f"{md['name']}_{md['namespace']}({md['uid']})"
        return [
            WaitBackOff(
                name,
                entry.not_before,
                f"back-off {entry.delay:.0f}s restarting failed container={name} pod={ref}",
                f"Back-off restarting failed container {name} in pod {ref}",
            )
        ]
    return [StartContainer(container, kind, attempt_of(previous) + 1, backoff=backoff_after_restart(entry, now))]


def _deletion(pod: Obj, containers: Mapping[str, Sequence[ContainerState]], gone: bool) -> list[Action]:
    """Graceful deletion (deletionTimestamp set) or clean-up of a pod that no longer exists: stop what
    runs (preStop hooks first, all within the deletion's grace period), remove every container."""
    spec = pod.get("spec") or {}
    grace = float(
        pod["metadata"].get("deletionGracePeriodSeconds", spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE))
    )
    removals: list[Action] = [RemoveContainer(state.id) for states in containers.values() for state in states]
    return [_stop_running(pod, containers, grace, announce=not gone), *removals, ReleasePod(delete_object=not gone)]


def _stop_running(
    pod: Obj, containers: Mapping[str, Sequence[ContainerState]], grace: float, *, announce: bool
) -> StopContainers:
    """Stop every running container of the pod within ``grace`` seconds: the app containers at once,
    each after its preStop hook (none without a grace period), then the sidecars last first."""
    spec = pod.get("spec") or {}
    hooked = [*(spec.get("containers") or []), *(c for c in spec.get("initContainers") or [] if is_sidecar(c))]
    by_name = {c["name"]: c for c in hooked}
    sidecar_order = [c["name"] for c in reversed(spec.get("initContainers") or []) if is_sidecar(c)]
    stops: dict[str, Stop] = {}
    for name, states in containers.items():
        if name != SANDBOX_NAME and states and states[0].running:
            container = by_name.get(name, {})
            hook = (container.get("lifecycle") or {}).get("preStop") if grace > 0 else None
            stops[name] = Stop(states[0].id, name, hook or None, container)
    sidecars = tuple(stops.pop(name) for name in sidecar_order if name in stops)
    return StopContainers(tuple(stops.values()), grace, announce=announce, sidecars=sidecars)
