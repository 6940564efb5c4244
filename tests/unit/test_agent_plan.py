"""The pod worker's decisions (agent/plan.py) from observed containers, without a runtime: restart
policies, CrashLoopBackOff, init containers in order, restarts on a changed spec, a dead sandbox or a
failed liveness probe, ephemeral containers started once, graceful deletion, sidecars (init containers with restartPolicy Always)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from minikube_py.agent.containers import spec_hash
from minikube_py.agent.plan import (
    Action,
    CreateSandbox,
    KillContainer,
    PodPlan,
    ReleasePod,
    RemoveContainer,
    RestartBackoff,
    StartContainer,
    StartProbing,
    Stop,
    StopContainers,
    WaitBackOff,
    by_container_name,
    plan_pod,
)
from minikube_py.agent.runtime.base import (
    LABEL_ATTEMPT,
    LABEL_CONTAINER_NAME,
    LABEL_SPEC_HASH,
    SANDBOX_NAME,
    ContainerState,
)

Obj = dict[str, Any]
T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = 5000.0  # the monotonic clock back-off counts in


def make_pod(*containers: str | Obj, init: tuple[str, ...] = (), policy: str = "Always", **spec: Any) -> Obj:
    def spec_of(c: str | Obj) -> Obj:
        return {"name": c, "image": f"registry.local/{c}:1"} if isinstance(c, str) else c

    return {
        "metadata": {"name": "p", "namespace": "default", "uid": "uid-1"},
        "spec": {
            "restartPolicy": policy,
            "initContainers": [spec_of(c) for c in init],
            "containers": [spec_of(c) for c in containers or ("c",)],
            **spec,
        },
    }


def box(
    pod: Obj,
    name: str,
    status: str = "running",
    *,
    code: int | None = None,
    attempt: int = 0,
    ran: float = 1.0,
    error: str = "",
) -> ContainerState:
    """Attempt ``attempt`` of container ``name`` as the runtime reports it, made from the pod's spec."""
    spec = pod["spec"]
    everything = spec["initContainers"] + spec["containers"] + spec.get("ephemeralContainers", [])
    definition = next(c for c in everything if c["name"] == name)
    started = None if status == "created" and not error else T0
    return ContainerState(
        id=f"{name}-{attempt}",
        name=f"k8s_{name}_{attempt}",
        labels={LABEL_CONTAINER_NAME: name, LABEL_ATTEMPT: str(attempt), LABEL_SPEC_HASH: spec_hash(definition)},
        image=definition["image"],
        image_id="sha256:x",
        status=status,  # type: ignore[arg-type]
        exit_code=code,
        started_at=started,
        finished_at=T0 + timedelta(seconds=ran) if status == "exited" else None,
        error=error,
    )


def sandbox(status: str = "running", sandbox_id: str = "pause") -> ContainerState:
    return ContainerState(
        id=sandbox_id,
        name="k8s_POD",
        labels={LABEL_CONTAINER_NAME: SANDBOX_NAME, LABEL_ATTEMPT: "0"},
        image="pause",
        image_id="sha256:p",
        status=status,
        ip="10.244.0.7",
    )  # type: ignore[arg-type]


def plan(
    pod: Obj,
    *states: ContainerState,
    probes: dict[str, str | None] | None = None,
    backoff: dict[str, RestartBackoff] | None = None,
    now: float = NOW,
    **kw: Any,
) -> PodPlan:
    """plan_pod over these states; by default every running container has a prober that holds."""
    if probes is None:
        probes = {s.id: None for s in states if s.running}
    kw.setdefault("started", {s.id for s in states if s.running})
    return plan_pod(pod, by_container_name(states), probes=probes, backoff=backoff or {}, now=now, **kw)


def only_start(step: PodPlan) -> StartContainer:
    [start] = step.actions
    assert isinstance(start, StartContainer)
    return start


def starts(actions: list[Action]) -> list[tuple[str, str, int]]:
    """(container, kind, attempt) of each action, all of which must be starts."""
    assert all(isinstance(a, StartContainer) for a in actions), actions
    return [(a.name, a.kind, a.attempt) for a in actions if isinstance(a, StartContainer)]


def waits(actions: list[Action]) -> list[str]:
    """The back-off messages of the actions, all of which must be back-off waits."""
    assert all(isinstance(a, WaitBackOff) for a in actions), actions
    return [a.message for a in actions if isinstance(a, WaitBackOff)]


# ------------------------------------------------------------------------------ start-up


def test_a_new_pod_gets_a_sandbox_then_its_containers_at_attempt_zero() -> None:
    pod = make_pod("a", "b")
    step = plan(pod)
    assert step.actions[0] == CreateSandbox()
    assert starts(step.actions[1:]) == [("a", "app", 0), ("b", "app", 0)]
    assert not step.done


def test_a_pod_running_as_specified_needs_nothing() -> None:
    pod = make_pod("a")
    assert plan(pod, sandbox(), box(pod, "a")).actions == []


def test_an_attempt_created_but_never_started_is_replaced_by_the_same_attempt() -> None:
    pod = make_pod("c")
    start = only_start(plan(pod, sandbox(), box(pod, "c", "created", attempt=2)))
    assert (start.attempt, start.replaces, start.backoff) == (2, "c-2", None)


def test_only_one_previous_attempt_is_kept() -> None:
    pod = make_pod("c")
    states = [
        box(pod, "c", attempt=3),
        box(pod, "c", "exited", code=1, attempt=2),
        box(pod, "c", "exited", code=1, attempt=1),
        box(pod, "c", "exited", code=1, attempt=0),
    ]
    assert plan(pod, sandbox(), *states).actions == [RemoveContainer("c-1"), RemoveContainer("c-0")]


def test_containers_are_grouped_by_name_newest_attempt_first() -> None:
    pod = make_pod("c")
    grouped = by_container_name([box(pod, "c", "exited", attempt=0), sandbox(), box(pod, "c", attempt=1)])
    assert {name: [s.id for s in states] for name, states in grouped.items()} == {
        "c": ["c-1", "c-0"],
        SANDBOX_NAME: ["pause"],
    }


# ------------------------------------------------------------------------------ restart policies


@pytest.mark.parametrize(
    ("policy", "code", "restarted"),
    [
        ("Always", 0, True),
        ("Always", 1, True),
        ("OnFailure", 0, False),
        ("OnFailure", 2, True),
        ("Never", 0, False),
        ("Never", 1, False),
    ],
)
def test_restart_policy_decides_whether_an_exited_container_starts_again(
    policy: str, code: int, restarted: bool
) -> None:
    pod = make_pod("c", policy=policy)
    step = plan(pod, sandbox(), box(pod, "c", "exited", code=code, attempt=4))
    if restarted:
        assert only_start(step).attempt == 5
    else:
        assert step.actions == []


def test_a_start_the_engine_refused_counts_as_a_failure() -> None:
    pod = make_pod("c", policy="OnFailure")
    start = only_start(plan(pod, sandbox(), box(pod, "c", "created", attempt=0, error="exec: not found")))
    assert (start.attempt, start.replaces) == (1, None)
    assert start.backoff == RestartBackoff(10.0, NOW + 10.0)


def test_a_finished_pod_is_never_driven_again() -> None:
    pod = make_pod("c", policy="Never")
    done = box(pod, "c", "exited", code=0)
    assert plan(pod, sandbox("exited"), done, reported_phase="Succeeded").actions == []
    # a worker new after an agent restart goes by the phase the pod object carries
    pod["status"] = {"phase": "Failed"}
    assert plan(pod, sandbox("exited"), done).actions == []
    # ... unless nothing of the pod exists on this node yet
    assert isinstance(plan(pod).actions[0], CreateSandbox)


# ------------------------------------------------------------------------------ back-off


def test_the_first_restart_is_immediate_and_the_next_waits_ten_seconds() -> None:
    pod = make_pod("c")
    start = only_start(plan(pod, sandbox(), box(pod, "c", "exited", code=2, attempt=0)))
    assert (start.attempt, start.backoff) == (1, RestartBackoff(10.0, NOW + 10.0))
    crashed = box(pod, "c", "exited", code=2, attempt=1)
    step = plan(pod, sandbox(), crashed, backoff={"c": start.backoff}, now=NOW + 4)
    assert step.actions == [
        WaitBackOff(
            "c",
            NOW + 10.0,
            "back-off 10s restarting failed container=c pod=p_default(uid-1)",
            "Back-off restarting failed container c in pod p_default(uid-1)",
        )
    ]
    later = only_start(plan(pod, sandbox(), crashed, backoff={"c": start.backoff}, now=NOW + 10))
    assert (later.attempt, later.backoff) == (2, RestartBackoff(20.0, NOW + 30.0))


def test_back_off_doubles_up_to_five_minutes() -> None:
    pod = make_pod("c")
    backoff: dict[str, RestartBackoff] = {}
    now, delays = NOW, []
    for attempt in range(9):
        start = only_start(
            plan(pod, sandbox(), box(pod, "c", "exited", code=1, attempt=attempt), backoff=backoff, now=now)
        )
        assert start.attempt == attempt + 1 and start.backoff is not None
        backoff["c"] = start.backoff
        delays.append(start.backoff.delay)
        early = plan(
            pod,
            sandbox(),
            box(pod, "c", "exited", code=1, attempt=attempt + 1),
            backoff=backoff,
            now=start.backoff.not_before - 0.5,
        )
        assert waits(early.actions) == [
            f"back-off {start.backoff.delay:.0f}s restarting failed container=c pod=p_default(uid-1)"
        ]
        now = start.backoff.not_before
    assert delays == [10, 20, 40, 80, 160, 300, 300, 300, 300]


def test_back_off_resets_after_ten_minutes_of_running() -> None:
    pod = make_pod("c")
    backoff = {"c": RestartBackoff(160.0, NOW + 100.0)}
    short = plan(pod, sandbox(), box(pod, "c", "exited", code=1, attempt=6, ran=599.0), backoff=backoff)
    assert waits(short.actions) == ["back-off 160s restarting failed container=c pod=p_default(uid-1)"]
    start = only_start(plan(pod, sandbox(), box(pod, "c", "exited", code=1, attempt=6, ran=600.0), backoff=backoff))
    assert (start.attempt, start.backoff) == (7, RestartBackoff(10.0, NOW + 10.0))


def test_back_off_is_kept_per_container() -> None:
    pod = make_pod("a", "b")
    step = plan(
        pod,
        sandbox(),
        box(pod, "a", "exited", code=1),
        box(pod, "b", "exited", code=1),
        backoff={"a": RestartBackoff(10.0, NOW + 5)},
    )
    assert waits(step.actions[:1]) == ["back-off 10s restarting failed container=a pod=p_default(uid-1)"]
    assert starts(step.actions[1:]) == [("b", "app", 1)]


# ------------------------------------------------------------------------------ init containers


def test_init_containers_run_one_at_a_time_in_order_before_the_app() -> None:
    pod = make_pod("app", init=("first", "second"))
    assert starts(plan(pod, sandbox()).actions) == [("first", "init", 0)]
    assert plan(pod, sandbox(), box(pod, "first")).actions == []  # still running: wait for it
    done = box(pod, "first", "exited", code=0)
    assert starts(plan(pod, sandbox(), done).actions) == [("second", "init", 0)]
    step = plan(pod, sandbox(), done, box(pod, "second", "exited", code=0))
    assert starts(step.actions) == [("app", "app", 0)]


def test_a_new_pod_starts_its_first_init_container_in_the_new_sandbox() -> None:
    pod = make_pod("app", init=("setup",))
    step = plan(pod)
    assert step.actions[0] == CreateSandbox()
    assert starts(step.actions[1:]) == [("setup", "init", 0)]


@pytest.mark.parametrize("policy", ["OnFailure", "Always"])
def test_a_failed_init_container_is_retried_with_back_off_and_blocks_the_app(policy: str) -> None:
    pod = make_pod("app", init=("setup",), policy=policy)
    failed = box(pod, "setup", "exited", code=1, attempt=0)
    start = only_start(plan(pod, sandbox(), failed))
    assert (start.name, start.kind, start.attempt, start.backoff) == ("setup", "init", 1, RestartBackoff(10, NOW + 10))
    waiting = plan(pod, sandbox(), box(pod, "setup", "exited", code=1, attempt=1), backoff={"setup": start.backoff})
    assert waits(waiting.actions) == ["back-off 10s restarting failed container=setup pod=p_default(uid-1)"]


def test_a_failed_init_container_under_never_stops_the_pod_for_good() -> None:
    pod = make_pod("app", init=("setup", "later"), policy="Never")
    assert plan(pod, sandbox(), box(pod, "setup", "exited", code=1)).actions == []


def test_a_succeeded_init_container_is_not_run_again_under_always() -> None:
    pod = make_pod("app", init=("setup",))
    step = plan(pod, sandbox(), box(pod, "setup", "exited", code=0), box(pod, "app", "exited", code=0))
    assert starts(step.actions) == [("app", "app", 1)]


# ------------------------------------------------------------------------------ restarts of running containers


def test_a_changed_container_definition_kills_it_then_restarts_it() -> None:
    old = make_pod("c", terminationGracePeriodSeconds=7)
    running = box(old, "c", attempt=1)
    new = make_pod({"name": "c", "image": "registry.local/c:2"}, terminationGracePeriodSeconds=7)
    assert plan(new, sandbox(), running).actions == [
        KillContainer("c-1", 7.0, "Container c definition changed, will be restarted")
    ]
    stopped = box(old, "c", "exited", code=0, attempt=1)
    start = only_start(plan(new, sandbox(), stopped))
    assert (start.attempt, start.container["image"]) == (2, "registry.local/c:2")


@pytest.mark.parametrize(
    ("failure", "probe"), [("Liveness probe failed: exit 1", "liveness"), ("Startup probe failed: timeout", "startup")]
)
def test_a_failed_liveness_or_startup_probe_kills_the_container(failure: str, probe: str) -> None:
    pod = make_pod("c")
    step = plan(pod, sandbox(), box(pod, "c"), probes={"c-0": failure})
    assert step.actions == [KillContainer("c-0", 30.0, f"Container c failed {probe} probe, will be restarted")]
    # once the kill is seen, the restart follows the policy and the back-off as any other exit
    assert only_start(plan(pod, sandbox(), box(pod, "c", "exited", code=137))).attempt == 1


def test_a_running_container_without_a_prober_gets_one() -> None:
    pod = make_pod("c")
    assert plan(pod, sandbox(), box(pod, "c", attempt=3), probes={}).actions == [
        StartProbing(pod["spec"]["containers"][0], "c-3")
    ]


# ------------------------------------------------------------------------------ sandbox death


def test_a_dead_sandbox_takes_every_container_down_and_is_made_anew() -> None:
    pod = make_pod("a", "b", "c")
    # a's liveness probe failed too: it is killed once, with the sandbox, not a second time for the probe
    step = plan(
        pod,
        sandbox("exited"),
        box(pod, "a"),
        box(pod, "b"),
        box(pod, "c", "exited", code=1),
        probes={"a-0": "Liveness probe failed: x", "b-0": None},
    )
    assert step.actions[:4] == [
        KillContainer("a-0", 0.0),
        KillContainer("b-0", 0.0),
        RemoveContainer("pause"),
        CreateSandbox(),
    ]
    # what already ended starts in the new sandbox at once; the killed ones when they are seen down
    assert starts(step.actions[4:]) == [("c", "app", 1)]
    after = plan(
        pod,
        sandbox(sandbox_id="pause2"),
        box(pod, "a", "exited", code=137),
        box(pod, "b", "exited", code=137),
        box(pod, "c", attempt=1),
    )
    assert starts(after.actions) == [("a", "app", 1), ("b", "app", 1)]


def test_a_dead_sandbox_under_never_is_recreated_but_nothing_restarts() -> None:
    pod = make_pod("c", policy="Never")
    step = plan(pod, sandbox("exited"), box(pod, "c"))
    assert step.actions == [KillContainer("c-0", 0.0), RemoveContainer("pause"), CreateSandbox()]


# ------------------------------------------------------------------------------ deletion


def deleting(pod: Obj, **metadata: Any) -> Obj:
    pod["metadata"].update(deletionTimestamp="2026-01-01T00:00:00Z", **metadata)
    return pod


def test_graceful_deletion_runs_pre_stop_hooks_stops_everything_and_releases_the_pod() -> None:
    hooked = {
        "name": "web",
        "image": "registry.local/web:1",
        "lifecycle": {"preStop": {"exec": {"command": ["nginx", "-s", "quit"]}}},
    }
    pod = deleting(
        make_pod(hooked, "side", init=("setup",), terminationGracePeriodSeconds=30), deletionGracePeriodSeconds=5
    )
    states = [
        sandbox(),
        box(pod, "setup", "exited", code=0),
        box(pod, "web", attempt=1),
        box(pod, "web", "exited", code=1, attempt=0),
        box(pod, "side"),
    ]
    step = plan(pod, *states, reported_phase="Running")
    assert step.done
    assert step.actions[0] == StopContainers(
        (Stop("web-1", "web", {"exec": {"command": ["nginx", "-s", "quit"]}}), Stop("side-0", "side")),
        5.0,
        announce=True,
    )
    assert set(step.actions[1:-1]) == {RemoveContainer(s.id) for s in states}
    assert step.actions[-1] == ReleasePod(delete_object=True)


def test_deletion_with_no_grace_skips_the_pre_stop_hook() -> None:
    hooked = {"name": "web", "image": "i", "lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}}}
    pod = deleting(make_pod(hooked), deletionGracePeriodSeconds=0)
    assert plan(pod, sandbox(), box(pod, "web")).actions[0] == StopContainers(
        (Stop("web-0", "web"),), 0.0, announce=True
    )


def test_a_pod_gone_from_the_api_is_cleaned_up_quietly_and_not_deleted_again() -> None:
    pod = make_pod("c", terminationGracePeriodSeconds=3)
    step = plan(pod, sandbox(), box(pod, "c"), gone=True)
    assert step.done
    assert step.actions == [
        StopContainers((Stop("c-0", "c"),), 3.0, announce=False),
        RemoveContainer("pause"),
        RemoveContainer("c-0"),
        ReleasePod(delete_object=False),
    ]


def test_deletion_wins_over_a_finished_phase() -> None:
    pod = deleting(make_pod("c", policy="Never"))
    step = plan(pod, sandbox("exited"), box(pod, "c", "exited", code=0), reported_phase="Succeeded")
    assert step.done and step.actions == [
        StopContainers((), 30.0, announce=True),
        RemoveContainer("pause"),
        RemoveContainer("c-0"),
        ReleasePod(delete_object=True),
    ]


# ------------------------------------------------------------------------------ ephemeral containers


def debugging(pod: Obj, *names: str, target: str | None = None) -> Obj:
    """``pod`` with ephemeral containers added, as kubectl debug adds them."""
    extra = {"targetContainerName": target} if target else {}
    pod["spec"]["ephemeralContainers"] = [{"name": n, "image": "registry.local/debug:1", **extra} for n in names]
    return pod


def test_a_new_ephemeral_container_starts_once_in_the_running_pod_with_its_target() -> None:
    pod = debugging(make_pod("app"), "dbg", target="app")
    step = plan(pod, sandbox(), box(pod, "app"))
    start = only_start(step)
    assert (start.name, start.kind, start.attempt, start.target, start.replaces) == (
        "dbg",
        "ephemeral",
        0,
        "app-0",
        None,
    )


def test_an_ephemeral_container_without_a_target_shares_no_process_namespace() -> None:
    pod = debugging(make_pod("app"), "dbg")
    assert only_start(plan(pod, sandbox(), box(pod, "app"))).target is None


@pytest.mark.parametrize("code", [0, 1, 137])
def test_an_ended_ephemeral_container_is_never_started_again(code: int) -> None:
    pod = debugging(make_pod("app", policy="Always"), "dbg")
    assert plan(pod, sandbox(), box(pod, "app"), box(pod, "dbg", "exited", code=code)).actions == []


def test_a_start_the_engine_refused_is_not_retried_for_an_ephemeral_container() -> None:
    pod = debugging(make_pod("app"), "dbg", target="app")
    refused = box(pod, "dbg", "created", code=128, error="cannot join PID namespace")
    assert plan(pod, sandbox(), box(pod, "app"), refused).actions == []


def test_a_running_ephemeral_container_gets_no_prober_and_is_left_alone() -> None:
    pod = debugging(make_pod("app"), "dbg")
    assert plan(pod, sandbox(), box(pod, "app"), box(pod, "dbg"), probes={"app-0": None}).actions == []


def test_an_ephemeral_container_created_but_never_started_is_started_anew() -> None:
    pod = debugging(make_pod("app"), "dbg")
    start = only_start(plan(pod, sandbox(), box(pod, "app"), box(pod, "dbg", "created")))
    assert (start.kind, start.attempt, start.replaces) == ("ephemeral", 0, "dbg-0")


def test_an_ephemeral_container_waits_for_its_target_to_exist() -> None:
    pod = debugging(make_pod("app", init=("setup",)), "dbg", target="app")
    step = plan(pod, sandbox(), box(pod, "setup"))
    assert step.actions == []  # the init container runs; the target is not created yet


def test_an_ephemeral_container_may_start_before_initialization_ends() -> None:
    pod = debugging(make_pod("app", init=("setup",)), "dbg", target="setup")
    assert starts(plan(pod, sandbox(), box(pod, "setup")).actions) == [("dbg", "ephemeral", 0)]


def test_a_dead_sandbox_takes_ephemeral_containers_down_and_they_stay_down() -> None:
    pod = debugging(make_pod("app"), "dbg")
    step = plan(pod, sandbox("exited"), box(pod, "app"), box(pod, "dbg"))
    assert KillContainer("dbg-0", 0.0) in step.actions
    assert [a.name for a in step.actions if isinstance(a, StartContainer)] == []  # killed this pass: next pass
    after = plan(pod, sandbox("exited"), box(pod, "app", "exited", code=137), box(pod, "dbg", "exited", code=137))
    assert "dbg" not in [a.name for a in after.actions if isinstance(a, StartContainer)]


def test_deletion_stops_and_removes_ephemeral_containers_with_the_pod() -> None:
    pod = deleting(debugging(make_pod("app"), "dbg"), deletionGracePeriodSeconds=2)
    states = [sandbox(), box(pod, "app"), box(pod, "dbg")]
    step = plan(pod, *states)
    assert step.actions[0] == StopContainers((Stop("app-0", "app"), Stop("dbg-0", "dbg")), 2.0, announce=True)
    assert set(step.actions[1:-1]) == {RemoveContainer(s.id) for s in states}


# ------------------------------------------------------------------------------ sidecars


def sidecar(name: str, **more: Any) -> Obj:
    return {"name": name, "image": f"registry.local/{name}:1", "restartPolicy": "Always", **more}


def test_a_sidecar_starts_in_its_turn_and_the_next_init_container_waits_until_it_started() -> None:
    pod = make_pod("app", init=(sidecar("proxy"), "migrate"))  # type: ignore[arg-type]
    assert starts(plan(pod, sandbox()).actions) == [("proxy", "sidecar", 0)]
    proxy = box(pod, "proxy")
    assert plan(pod, sandbox(), proxy, started=set()).actions == []  # its startup probe has not passed
    assert starts(plan(pod, sandbox(), proxy).actions) == [("migrate", "init", 0)]
    done = box(pod, "migrate", "exited", code=0)
    assert starts(plan(pod, sandbox(), proxy, done).actions) == [("app", "app", 0)]
    assert plan(pod, sandbox(), proxy, done, box(pod, "app")).actions == []


@pytest.mark.parametrize("policy", ["Always", "OnFailure", "Never"])
def test_a_sidecar_that_ends_is_restarted_whatever_the_pod_policy(policy: str) -> None:
    pod = make_pod("app", init=(sidecar("proxy"),), policy=policy)  # type: ignore[arg-type]
    step = plan(pod, sandbox(), box(pod, "proxy", "exited", code=0), box(pod, "app"))
    assert starts(step.actions) == [("proxy", "sidecar", 1)]


def test_a_sidecar_restarting_after_initialization_holds_back_no_app_container() -> None:
    pod = make_pod("app", init=(sidecar("proxy"), "migrate"))  # type: ignore[arg-type]
    ended = box(pod, "proxy", "exited", code=1, attempt=1)
    states = [sandbox(), ended, box(pod, "migrate", "exited", code=0), box(pod, "app", "exited", code=2)]
    step = plan(pod, *states, backoff={"proxy": RestartBackoff(10, NOW + 10), "app": RestartBackoff()})
    assert waits(step.actions[:1]) == ["back-off 10s restarting failed container=proxy pod=p_default(uid-1)"]
    assert starts(step.actions[1:]) == [("app", "app", 1)]  # and the init container is not run again


def test_a_sidecar_gets_probed_and_restarted_on_a_failed_liveness_probe() -> None:
    pod = make_pod("app", init=(sidecar("proxy", terminationGracePeriodSeconds=3),), terminationGracePeriodSeconds=4)  # type: ignore[arg-type]
    proxy, app = box(pod, "proxy"), box(pod, "app")
    assert plan(pod, sandbox(), proxy, app, probes={"app-0": None}) == PodPlan(
        [StartProbing(pod["spec"]["initContainers"][0], "proxy-0")]
    )
    failed = plan(pod, sandbox(), proxy, app, probes={"proxy-0": "Liveness probe failed: no", "app-0": None})
    assert failed.actions == [KillContainer("proxy-0", 4.0, "Container proxy failed liveness probe, will be restarted")]


@pytest.mark.parametrize(("policy", "code"), [("Never", 1), ("OnFailure", 0)])
def test_sidecars_are_stopped_last_first_once_the_app_containers_are_done(policy: str, code: int) -> None:
    pod = make_pod("app", init=(sidecar("logs"), sidecar("proxy")), policy=policy, terminationGracePeriodSeconds=9)  # type: ignore[arg-type]
    states = [sandbox(), box(pod, "logs"), box(pod, "proxy"), box(pod, "app", "exited", code=code)]
    assert plan(pod, *states).actions == [
        KillContainer("proxy-0", 9.0, "Stopping container proxy"),
        KillContainer("logs-0", 9.0, "Stopping container logs"),
    ]
    # once they are down nothing starts again: the pod completes
    after = [sandbox(), box(pod, "logs", "exited", code=137), box(pod, "proxy", "exited", code=137), states[-1]]
    assert plan(pod, *after).actions == []


def test_an_init_container_failing_for_good_stops_the_sidecars() -> None:
    pod = make_pod("app", init=(sidecar("proxy"), "migrate"), policy="Never")  # type: ignore[arg-type]
    step = plan(pod, sandbox(), box(pod, "proxy"), box(pod, "migrate", "exited", code=1))
    assert step.actions == [KillContainer("proxy-0", 30.0, "Stopping container proxy")]


def test_deletion_stops_the_app_containers_then_the_sidecars_last_first() -> None:
    hooked = sidecar("proxy", lifecycle={"preStop": {"exec": {"command": ["drain"]}}})
    pod = deleting(make_pod("app", init=(sidecar("logs"), hooked)), deletionGracePeriodSeconds=20)  # type: ignore[arg-type]
    step = plan(pod, sandbox(), box(pod, "logs"), box(pod, "proxy"), box(pod, "app"), reported_phase="Running")
    assert step.actions[0] == StopContainers(
        (Stop("app-0", "app"),),
        20.0,
        announce=True,
        sidecars=(Stop("proxy-0", "proxy", {"exec": {"command": ["drain"]}}), Stop("logs-0", "logs")),
    )


def test_any_pre_stop_handler_is_planned_for_the_worker_to_run() -> None:
    sleeper = {"name": "web", "image": "i", "lifecycle": {"preStop": {"sleep": {"seconds": 5}}}}
    pod = deleting(make_pod(sleeper), deletionGracePeriodSeconds=10)
    step = plan(pod, sandbox(), box(pod, "web"), reported_phase="Running")
    assert step.actions[0] == StopContainers((Stop("web-0", "web", {"sleep": {"seconds": 5}}),), 10.0, announce=True)


# ------------------------------------------------------------------------------ the kubelet ends the pod


def test_a_pod_the_kubelet_ends_has_what_runs_stopped_and_nothing_started_again() -> None:
    """Past its active deadline, or evicted: the containers stop within the given grace (preStop
    hooks run), a crashed one is not restarted, and nothing is removed: their logs stay."""
    hook = {"exec": {"command": ["drain"]}}
    pod = make_pod({"name": "web", "image": "registry.local/web:1", "lifecycle": {"preStop": hook}}, "crashed")
    running, crashed = box(pod, "web"), box(pod, "crashed", "exited", code=1)
    step = plan(pod, sandbox(), running, crashed, ending=30.0)
    web = pod["spec"]["containers"][0]
    assert step.actions == [StopContainers((Stop("web-0", "web", hook, web),), 30.0, announce=True)]
    assert not step.done
    # an eviction kills at once: no grace, so no hook
    assert plan(pod, sandbox(), running, ending=0.0).actions == [
        StopContainers((Stop("web-0", "web", None, web),), 0.0, announce=True)
    ]
    # once nothing runs there is nothing to do; a finished pod stays as it is
    assert plan(pod, sandbox(), box(pod, "web", "exited", code=137), ending=30.0).actions == []
    assert plan(pod, sandbox(), running, ending=30.0, reported_phase="Failed").actions == []
