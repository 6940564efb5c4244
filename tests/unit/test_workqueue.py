import asyncio

from minikube_py.client.informer import object_key
from minikube_py.reconcilers.base import WorkQueue


def test_object_key() -> None:
    assert object_key({"metadata": {"name": "a", "namespace": "ns"}}) == "ns/a"
    assert object_key({"metadata": {"name": "node1"}}) == "node1"


async def test_keys_are_deduplicated_while_queued() -> None:
    q = WorkQueue()
    q.add("a")
    q.add("a")
    q.add("b")
    assert len(q) == 2
    assert await q.get() == "a"
    assert await q.get() == "b"


async def test_key_added_while_active_is_requeued_once_done() -> None:
    q = WorkQueue()
    q.add("a")
    key = await q.get()
    q.add("a")
    q.add("a")
    assert len(q) == 0  # never handed to a second worker while the first holds it
    q.done(key)
    assert len(q) == 1
    assert await q.get() == "a"


async def test_retry_backs_off_exponentially_and_forget_resets() -> None:
    q = WorkQueue(base_delay=0.01, max_delay=1.0)
    loop = asyncio.get_running_loop()
    q.retry("a")
    first = q._timers["a"].when() - loop.time()
    await asyncio.wait_for(q.get(), 1)
    q.done("a")
    q.retry("a")
    second = q._timers["a"].when() - loop.time()
    assert first <= 0.011 and 0.015 < second <= 0.021
    await asyncio.wait_for(q.get(), 1)
    q.done("a")
    q.forget("a")
    q.retry("a")
    assert q._timers["a"].when() - loop.time() <= 0.011
