"""The node IPAM controller's bookkeeping, fed informer events by hand and writing to a fake API:
what each event costs (what it queues) and what each reconcile writes."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator
from typing import Any

import pytest

from minikube_py.model.nodeipam import CIDR_ASSIGNED, CIDR_NOT_AVAILABLE
from minikube_py.reconcilers.nodeipam import NodeIpamController

Obj = dict[str, Any]


class FakeApi:
    """Records writes; node patches come back applied (a shallow merge is all the controller needs)."""

    def __init__(self) -> None:
        self.patches: list[tuple[str, Obj]] = []
        self.created: list[Obj] = []
        self.nodes: dict[str, Obj] = {}
        self.revision = 100

    async def patch(self, path: str, body: Obj, patch_type: str = "merge") -> Obj:
        self.patches.append((path, body))
        name = path.removesuffix("/status").rsplit("/", 1)[-1]
        node = copy.deepcopy(self.nodes[name])
        node["spec"] = {**(node.get("spec") or {}), **(body.get("spec") or {})}
        if "status" in body:
            kept = [
                c
                for c in node["status"].get("conditions") or []
                if c["type"] not in {n["type"] for n in body["status"]["conditions"]}
            ]
            node["status"] = {**node["status"], "conditions": kept + body["status"]["conditions"]}
        self.revision += 1
        node["metadata"]["resourceVersion"] = str(self.revision)
        self.nodes[name] = node
        return node

    async def create(self, path: str, body: Obj) -> Obj:
        self.created.append(body)
        return body


def make_node(name: str, cidr: str = "") -> Obj:
    return {
        "metadata": {"name": name, "uid": f"uid-{name}", "resourceVersion": "1"},
        "spec": {"podCIDR": cidr} if cidr else {},
        "status": {"conditions": []},
    }


class Harness:
    """A controller on a cluster CIDR with room for two nodes."""

    def __init__(self) -> None:
        self.api = FakeApi()
        self.ctrl = NodeIpamController(self.api, "10.244.0.0/23")  # type: ignore[arg-type]

    def show(self, node: Obj) -> None:
        """The informer delivering an addition or update."""
        name = node["metadata"]["name"]
        old = self.ctrl.nodes.cache.get(name)
        self.ctrl.nodes.cache[name] = node
        self.api.nodes[name] = node
        self.ctrl._on_change(old, node)

    def delete(self, name: str) -> None:
        old = self.ctrl.nodes.cache.pop(name)
        self.api.nodes.pop(name, None)
        self.ctrl._on_change(old, None)

    async def drain(self) -> list[str]:
        """Reconcile what is queued, showing each write to the informer as its watch would."""
        done = []
        while len(self.ctrl.queue):
            key = await self.ctrl.queue.get()
            writes = len(self.api.patches)
            await self.ctrl.reconcile(key)
            self.ctrl.queue.done(key)
            done.append(str(key))
            if len(self.api.patches) > writes:
                self.show(copy.deepcopy(self.api.nodes[str(key)]))
        await asyncio.sleep(0)  # let the event recorder write
        return done


@pytest.fixture
def h() -> Iterator[Harness]:
    """A harness whose controller's event writer is stopped afterwards, as stopping its workers does."""
    harness = Harness()
    yield harness
    harness.ctrl.events.close()


def condition(node: Obj) -> Obj | None:
    return next((c for c in node["status"].get("conditions") or [] if c["type"] == "NetworkUnavailable"), None)


async def test_exhaustion_marks_the_node_once_and_heartbeats_queue_nothing(h: Harness) -> None:
    for name in ("a", "b", "c"):
        h.show(make_node(name))
    assert await h.drain() == ["a", "b", "c"]  # (c's own condition write, coming back, queues nothing)
    assert h.api.nodes["a"]["spec"]["podCIDR"] == "10.244.0.0/24"
    assert h.api.nodes["b"]["spec"]["podCIDR"] == "10.244.1.0/24"
    c = h.api.nodes["c"]
    assert not c["spec"].get("podCIDR")
    assert condition(c) is not None and (condition(c) or {})["reason"] == CIDR_NOT_AVAILABLE
    [event] = h.api.created
    assert (event["reason"], event["message"], event["involvedObject"]["kind"]) == (
        CIDR_NOT_AVAILABLE,
        "Node c status is now: CIDRNotAvailable",
        "Node",
    )
    writes = len(h.api.patches)

    for n in range(100):  # heartbeats of the waiting node and of the others
        for name in ("a", "b", "c"):
            beat = copy.deepcopy(h.ctrl.nodes.cache[name])
            beat["metadata"]["resourceVersion"] = str(1000 + n)
            h.show(beat)
    assert len(h.ctrl.queue) == 0
    assert await h.drain() == [] and len(h.api.patches) == writes and len(h.api.created) == 1


async def test_a_deletion_wakes_as_many_waiting_nodes_as_subnets_came_free_oldest_first(h: Harness) -> None:
    for name in ("a", "b", "w1", "w2", "w3"):
        h.show(make_node(name))
    await h.drain()
    assert list(h.ctrl._waiting) == ["w1", "w2", "w3"]
    a_cidr = h.api.nodes["a"]["spec"]["podCIDR"]
    h.delete("a")
    assert len(h.ctrl.queue) == 1  # only w1: one subnet came free
    assert await h.drain() == ["w1"]  # its subnet and then its condition, in one pass
    w1 = h.api.nodes["w1"]
    assert w1["spec"]["podCIDR"] == a_cidr
    assert (condition(w1) or {}).get("status") == "False" and (condition(w1) or {}).get("reason") == CIDR_ASSIGNED
    assert list(h.ctrl._waiting) == ["w2", "w3"]

    h.delete("w2")  # a waiting node that goes frees nothing and is forgotten
    assert len(h.ctrl.queue) == 0 and list(h.ctrl._waiting) == ["w3"]
    h.delete("b")
    assert await h.drain() == ["w3"]
    assert h.api.nodes["w3"]["spec"]["podCIDR"] == "10.244.1.0/24"


async def test_existing_subnets_are_occupied_before_anything_is_allocated(h: Harness) -> None:
    h.show(make_node("new"))  # listed before the node that holds the first subnet
    h.show(make_node("old", "10.244.0.0/24"))
    assert await h.drain() == ["new"]
    assert h.api.nodes["new"]["spec"]["podCIDR"] == "10.244.1.0/24"


async def test_a_woken_node_that_finds_the_subnet_taken_waits_again_without_a_storm(h: Harness) -> None:
    for name in ("a", "b", "w"):
        h.show(make_node(name))
    await h.drain()
    h.show(make_node("newcomer"))  # queued before the subnet comes free, so it is served first
    h.delete("a")
    assert await h.drain() == ["newcomer", "w"]
    assert h.api.nodes["newcomer"]["spec"]["podCIDR"] == "10.244.0.0/24"
    assert list(h.ctrl._waiting) == ["w"] and len(h.ctrl.queue) == 0
    h.delete("b")
    assert await h.drain() == ["w"]
    assert h.api.nodes["w"]["spec"]["podCIDR"] == "10.244.1.0/24"


async def test_a_failed_write_keeps_its_subnet_for_the_retry(h: Harness) -> None:
    h.show(make_node("a"))

    async def failing(path: str, body: Obj, patch_type: str = "merge") -> Obj:
        raise TimeoutError("no answer: the write may or may not have happened")

    h.api.patch = failing  # type: ignore[method-assign]
    key = await h.ctrl.queue.get()
    with pytest.raises(TimeoutError):  # (the worker retries the key after its back-off)
        await h.ctrl.reconcile(key)
    h.ctrl.queue.done(key)
    assert h.ctrl.cidrs.used == 1  # not released: another node must not get it meanwhile
    del h.api.patch  # type: ignore[attr-defined]
    h.ctrl.queue.add("a")
    await h.drain()
    assert h.api.nodes["a"]["spec"]["podCIDR"] == "10.244.0.0/24" and h.ctrl.cidrs.used == 1


async def test_stopping_the_workers_stops_the_background_event_writer(h: Harness) -> None:
    h.ctrl.events.emit(make_node("a"), "Normal", CIDR_NOT_AVAILABLE, "no subnet")
    workers = asyncio.create_task(h.ctrl.run_workers())  # waits for its informer, which never syncs here
    await asyncio.sleep(0)
    workers.cancel()
    await asyncio.gather(workers, return_exceptions=True)
    await asyncio.sleep(0)
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "event recorder" and not t.done()]
