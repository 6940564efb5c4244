"""What makes many fake nodes in one process behave as separate nodes: the pod sources they share
dispatch each pod to its node only, and the fake runtime acts out the pod annotations that script a
workload (exit after a while, with a code)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from minikube_py.agent.health import DiskCheck
from minikube_py.agent.pods import PodSources
from minikube_py.agent.runtime.base import ContainerSpec, CreateError
from minikube_py.agent.runtime.fake import EXIT_CODE, RUN_SECONDS, FakeRuntime
from minikube_py.client.watching import WatchEvent
from minikube_py.config import AgentConfig, ConfigError

Obj = dict[str, Any]


def pod(name: str, node: str | None = None, rv: str = "1") -> Obj:
    return {
        "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "resourceVersion": rv},
        "spec": {"nodeName": node} if node else {},
    }


def feed(sources: PodSources, obj: Obj, event: str = "ADDED") -> None:
    sources._pods._apply(WatchEvent(event, obj))  # what the shared watch would deliver


def test_shared_pods_reach_only_their_node_and_a_binding_is_an_arrival() -> None:
    sources = PodSources(None, None)  # type: ignore[arg-type]  # never runs: fed by hand
    seen: dict[str, list[tuple[str | None, str | None]]] = {"a": [], "b": []}
    for node in seen:
        sources.pods(node).add_handler(
            lambda old, new, node=node: seen[node].append(
                ((old or {}).get("spec", {}).get("nodeName"), (new or {}).get("spec", {}).get("nodeName"))
            )
        )
    feed(sources, pod("p"))  # not bound yet: nobody's
    feed(sources, pod("p", "a", "2"), "MODIFIED")  # bound: arrives on a as an addition
    feed(sources, pod("p", "a", "3"), "MODIFIED")
    feed(sources, pod("q", "b"))
    feed(sources, pod("p", "a", "4"), "DELETED")
    assert seen == {"a": [(None, "a"), ("a", "a"), ("a", None)], "b": [(None, "b")]}
    assert [p["metadata"]["name"] for p in sources.pods("b").items()] == ["q"]
    assert sources.pods("a").items() == []


def test_a_node_started_late_sees_the_pods_already_bound_to_it() -> None:
    sources = PodSources(None, None)  # type: ignore[arg-type]
    feed(sources, pod("p", "a"))
    feed(sources, pod("q", "b"))
    sources.forget("a")
    assert [p["metadata"]["name"] for p in sources.pods("a").items()] == ["p"]


def spec(annotations: dict[str, str]) -> ContainerSpec:
    return ContainerSpec(name="c", image="app:1", labels={}, annotations=annotations)


@pytest.mark.usefixtures("virtual_time")  # scripted run times pass on the loop's clock
async def test_annotated_containers_exit_after_their_run_time_with_their_code() -> None:
    runtime = FakeRuntime()
    failing = await runtime.create_container(spec({RUN_SECONDS: "0.05", EXIT_CODE: "3"}))
    done = await runtime.create_container(spec({RUN_SECONDS: "0.05"}))
    forever = await runtime.create_container(spec({}))
    for cid in (failing, done, forever):
        await runtime.start_container(cid)
    await asyncio.sleep(0.2)
    states = {cid: await runtime.inspect(cid) for cid in (failing, done, forever)}
    assert (states[failing].status, states[failing].exit_code) == ("exited", 3)
    assert (states[done].status, states[done].exit_code) == ("exited", 0)
    assert states[forever].running


async def test_a_script_the_runtime_cannot_act_out_is_refused() -> None:
    with pytest.raises(CreateError, match="run-seconds must be a number"):
        await FakeRuntime().create_container(spec({RUN_SECONDS: "soon"}))
    with pytest.raises(CreateError, match="exit-code an integer"):
        await FakeRuntime().create_container(spec({RUN_SECONDS: "1", EXIT_CODE: "1.5"}))


@pytest.mark.usefixtures("virtual_time")  # scripted run times pass on the loop's clock
async def test_a_removed_container_does_not_exit_later() -> None:
    runtime = FakeRuntime()
    cid = await runtime.create_container(spec({RUN_SECONDS: "0.05"}))
    await runtime.start_container(cid)
    await runtime.remove_container(cid)
    await asyncio.sleep(0.1)  # the scripted exit was cancelled: nothing raises, no event follows
    actions = []
    while not runtime._events.empty():
        actions.append(runtime._events.get_nowait().action)
    assert actions == ["start", "die", "destroy"]


async def test_a_shared_disk_check_measures_once_per_period(tmp_path: Any) -> None:
    calls = []

    def paths() -> list[Any]:
        calls.append(1)
        return [(tmp_path, "nodefs.available")]

    check = DiskCheck(paths, {}, every=60)
    await asyncio.gather(*(check.problem() for _ in range(20)))
    assert len(calls) == 1


def test_several_nodes_in_one_process_are_numbered_and_fake_only() -> None:
    config = AgentConfig(node_name="hollow-%d", count=3, runtime="fake")
    assert config.node_names == ["hollow-1", "hollow-2", "hollow-3"]
    assert AgentConfig(node_name="n1").node_names == ["n1"]
    with pytest.raises(ConfigError, match="--runtime fake"):
        AgentConfig(node_name="hollow-%d", count=3)
    with pytest.raises(ConfigError, match="with %d"):
        AgentConfig(node_name="hollow", count=3, runtime="fake")
    with pytest.raises(ConfigError, match="fake_memory"):
        AgentConfig(node_name="n1", runtime="fake", fake_memory="lots")
