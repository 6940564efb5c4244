"""Registry writes against a concurrent writer: a patch is retried on the newer object unless it
pinned the resourceVersion it was made against (then the answer is 409, as from kube-apiserver), and
a write to an object deleted meanwhile is a 404, not a server error.

Controllers write objects all the time (a pod's scheduling condition, a Deployment's status) and
delete them (a ReplicaSet scaling down), so a ``kubectl patch`` or ``annotate`` racing one of them
must not fail with a conflict it never asked for.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import cast

import pytest

from minikube_py.api.allocators import ServiceAllocator
from minikube_py.api.registry import Registry
from minikube_py.model import errors
from minikube_py.model.kinds import by_plural
from minikube_py.store import open_store
from minikube_py.store.base import Create, Delete, Obj, Op, Store, Update, revision_of

CONFIGMAPS = by_plural("", "v1", "configmaps")
KEY = CONFIGMAPS.key("ns", "cm")
MERGE = "application/merge-patch+json"


class RacingStore:
    """A store where another writer acts on ``KEY`` just before the next commit, so the commit the
    registry prepared is made against a version that is no longer current."""

    def __init__(self, store: Store, other_writer: Callable[[Store], Awaitable[None]]) -> None:
        self.store = store
        self.other_writer: Callable[[Store], Awaitable[None]] | None = other_writer

    async def get(self, key: str) -> Obj:
        return await self.store.get(key)

    async def commit(self, ops: Sequence[Op]) -> list[Obj]:
        if self.other_writer is not None:
            writer, self.other_writer = self.other_writer, None
            await writer(self.store)
        return await self.store.commit(ops)


async def annotate(store: Store) -> None:
    current = await store.get(KEY)
    current["metadata"]["annotations"] = {"written-by": "a controller"}
    await store.commit([Update(KEY, current, revision_of(current))])


async def delete(store: Store) -> None:
    await store.commit([Delete(KEY)])


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    await opened.start()
    await opened.commit(
        [
            Create(
                KEY,
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "data": {"k": "1"},
                    "metadata": {
                        "name": "cm",
                        "namespace": "ns",
                        "uid": "u-1",
                        "creationTimestamp": "2026-01-01T00:00:00Z",
                    },
                },
            )
        ]
    )
    yield opened
    await opened.close()


def racing(store: Store, other_writer: Callable[[Store], Awaitable[None]]) -> Registry:
    allocator = ServiceAllocator(store, "10.96.0.0/12", (30000, 32767))
    return Registry(cast(Store, RacingStore(store, other_writer)), allocator)


def merge(body: Obj) -> bytes:
    return json.dumps(body).encode()


async def test_patch_without_resource_version_is_retried_on_the_newer_object(store: Store) -> None:
    patched, created = await racing(store, annotate).patch(CONFIGMAPS, "ns", "cm", MERGE, merge({"data": {"k": "2"}}))
    assert not created
    assert patched["data"] == {"k": "2"}
    assert patched["metadata"]["annotations"] == {"written-by": "a controller"}  # the other write is kept


async def test_patch_pinning_its_resource_version_conflicts(store: Store) -> None:
    read = await store.get(KEY)
    body = {"metadata": {"resourceVersion": read["metadata"]["resourceVersion"]}, "data": {"k": "2"}}
    with pytest.raises(errors.StatusError) as conflict:
        await racing(store, annotate).patch(CONFIGMAPS, "ns", "cm", MERGE, merge(body))
    assert conflict.value.code == 409
    assert (await store.get(KEY))["data"] == {"k": "1"}


async def test_patch_of_an_object_deleted_meanwhile_is_404(store: Store) -> None:
    with pytest.raises(errors.StatusError) as gone:
        await racing(store, delete).patch(CONFIGMAPS, "ns", "cm", MERGE, merge({"data": {"k": "2"}}))
    assert gone.value.code == 404


async def test_update_of_an_object_deleted_meanwhile_is_404(store: Store) -> None:
    read = await store.get(KEY)
    with pytest.raises(errors.StatusError) as gone:
        await racing(store, delete).update(CONFIGMAPS, "ns", "cm", {**read, "data": {"k": "2"}})
    assert gone.value.code == 404
