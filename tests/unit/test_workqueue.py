import asyncio

import pytest
from prometheus_client import REGISTRY

from minikube_py.client.informer import object_key
from minikube_py.reconcilers.base import TokenBucket, WorkQueue


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


async def test_an_ordered_queue_hands_out_the_lowest_rank_first_and_equals_in_order() -> None:
    ranks = {"low": 0, "high": -100, "also-high": -100, "lowest": 5}
    q = WorkQueue(order=lambda key: ranks[str(key)])
    for key in ("low", "lowest", "high", "also-high"):
        q.add(key)
    assert [await q.get() for _ in range(4)] == ["high", "also-high", "low", "lowest"]
    for key in ("high", "also-high", "low"):
        q.done(key)
    q.add("lowest")  # active: queued again once done, at its rank
    q.add("low")
    q.done("lowest")
    assert len(q) == 2
    assert [await q.get() for _ in range(2)] == ["low", "lowest"]


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


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_lets_a_burst_through_then_spaces_reservations_at_its_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=10, burst=3, clock=clock)
    assert [bucket.reserve() for _ in range(3)] == [0, 0, 0]
    assert [round(bucket.reserve(), 3) for _ in range(3)] == [0.1, 0.2, 0.3]  # promised one after another
    clock.now += 0.3  # the three promised tokens have come and gone
    assert bucket.reserve() == pytest.approx(0.1)
    clock.now += 60  # a long quiet spell refills the bucket, never beyond its burst
    assert [bucket.reserve() for _ in range(3)] == [0, 0, 0]
    assert bucket.reserve() == pytest.approx(0.1)


async def test_retries_of_many_failing_keys_are_bounded_overall() -> None:
    """Every key failing at once: the first ``burst`` retries follow their own back-off, the rest are
    spread at the bucket's rate, each after the longer of the two delays."""
    clock = Clock()
    q = WorkQueue(base_delay=0.01, max_delay=1.0, retry_qps=10, retry_burst=5, clock=clock)
    loop = asyncio.get_running_loop()
    for n in range(20):
        q.retry(n)
    delays = [q._timers[n].when() - loop.time() for n in range(20)]
    for timer in q._timers.values():
        timer.cancel()
    assert all(d <= 0.011 for d in delays[:5])  # the burst: the per-key back-off alone
    assert [round(d, 1) for d in delays[5:]] == [round(0.1 * k, 1) for k in range(1, 16)]
    assert max(delays) == pytest.approx(1.5, abs=0.01)  # 15 beyond the burst at 10/s


async def test_a_long_back_off_still_takes_a_token() -> None:
    clock = Clock()
    q = WorkQueue(base_delay=0.01, max_delay=60.0, retry_qps=10, retry_burst=1, clock=clock)
    loop = asyncio.get_running_loop()
    q._failures["slow"] = 10  # back-off 10.24 s
    q.retry("slow")
    q.retry("fast")  # its own back-off is 10 ms, but the bucket's only token went to "slow"
    assert q._timers["slow"].when() - loop.time() == pytest.approx(10.24, abs=0.01)
    assert q._timers["fast"].when() - loop.time() == pytest.approx(0.1, abs=0.01)
    for timer in q._timers.values():
        timer.cancel()


def sample(metric: str, queue: str) -> float:
    value = REGISTRY.get_sample_value(metric, {"name": queue})
    return 0.0 if value is None else value


async def test_a_named_queue_reports_client_go_metrics() -> None:
    """Adds count each time a key becomes pending (a key added while waiting or twice while worked on
    is one add), retries each retry; the depth is what waits; a key's wait and work are timed."""
    name = "test-metrics-queue"
    q = WorkQueue(name=name)
    q.add("a")
    q.add("a")
    q.add("b")
    assert sample("workqueue_adds_total", name) == 2
    assert sample("workqueue_depth", name) == 2
    key = await q.get()
    q.add(key)
    q.add(key)  # pending again once done: one more add
    assert sample("workqueue_adds_total", name) == 3
    q.done(key)
    assert sample("workqueue_depth", name) == 2
    q.retry("c")
    q._timers["c"].cancel()
    assert sample("workqueue_retries_total", name) == 1
    assert sample("workqueue_queue_duration_seconds_count", name) == 1
    assert sample("workqueue_work_duration_seconds_count", name) == 1


async def test_an_unnamed_queue_reports_nothing() -> None:
    before = {m.name for m in REGISTRY.collect() for s in m.samples if s.labels.get("name") == ""}
    q = WorkQueue()
    q.add("a")
    q.done(await q.get())
    after = {m.name for m in REGISTRY.collect() for s in m.samples if s.labels.get("name") == ""}
    assert after == before == set()
