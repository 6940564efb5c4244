"""Store throughput: creates/s with 50 concurrent writers, gets/s, and the time to list 10,000 objects.

    .venv/bin/python bench/store.py [POSTGRES_URL]     (or PYKUBE_BENCH_POSTGRES_URL)

SQLite always runs (in a temporary directory); PostgreSQL too when a URL is given. The database
should be empty: the benchmark writes under a fresh prefix but its figures assume a small table.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable

from minikube_py.store import open_store
from minikube_py.store.base import Create, Obj, Store

OBJECTS = 10_000
WRITERS = 50
READERS = 50


def pod(name: str) -> Obj:
    """A pod of about 2 KB of JSON, like a real one with a few labels, env vars and a status."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": str(uuid.uuid4()),
            "labels": {"app": "bench", "tier": "backend", "pod-template-hash": "5d8f7c9b6"},
            "annotations": {"kubernetes.io/created-by": "bench"},
            "creationTimestamp": "2024-01-01T00:00:00Z",
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "bench-5d8f7c9b6", "uid": str(uuid.uuid4())}
            ],
        },
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "registry.example.com/team/app:1.2.3",
                    "args": ["--port=8080", "--log-level=info"],
                    "env": [{"name": f"VAR_{i}", "value": f"value-{i}-" + "x" * 24} for i in range(12)],
                    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 5},
                }
            ],
            "restartPolicy": "Always",
            "nodeName": "node-1",
        },
        "status": {
            "phase": "Running",
            "podIP": "10.244.1.17",
            "conditions": [
                {"type": t, "status": "True", "lastTransitionTime": "2024-01-01T00:00:05Z"}
                for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
            ],
        },
    }


async def timed(label: str, count: int, work: Callable[[], Awaitable[None]]) -> None:
    started = time.perf_counter()
    await work()
    elapsed = time.perf_counter() - started
    print(f"  {label:<34} {count / elapsed:>10,.0f}/s   ({count} in {elapsed:.2f} s)")


async def spread(total: int, workers: int, one: Callable[[int], Awaitable[None]]) -> None:
    """Run ``one(i)`` for i in range(total) on ``workers`` concurrent tasks."""

    async def worker(first: int) -> None:
        for i in range(first, total, workers):
            await one(i)

    await asyncio.gather(*(worker(w) for w in range(workers)))


async def bench(name: str, url: str) -> None:
    store: Store = open_store(url, compact_interval=None)
    await store.start()
    try:
        prefix = f"/core/pods/bench-{uuid.uuid4().hex[:8]}/"
        print(f"{name}:")
        pods = [pod(f"pod-{i:05d}") for i in range(OBJECTS)]

        async def create(i: int) -> None:
            await store.commit([Create(f"{prefix}pod-{i:05d}", pods[i])])

        async def get(i: int) -> None:
            await store.get(f"{prefix}pod-{i:05d}")

        await timed(f"creates ({WRITERS} writers)", OBJECTS, lambda: spread(OBJECTS, WRITERS, create))
        await timed(f"gets ({READERS} readers)", OBJECTS, lambda: spread(OBJECTS, READERS, get))
        started = time.perf_counter()
        listed = await store.list(prefix)
        print(f"  list of {len(listed.items):,} objects{'':<12} {time.perf_counter() - started:>10.3f} s")
    finally:
        await store.close()


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        await bench("sqlite", f"sqlite:///{tmp}/bench.db")
    postgres = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PYKUBE_BENCH_POSTGRES_URL")
    if postgres:
        await bench("postgresql", postgres)


if __name__ == "__main__":
    asyncio.run(main())
