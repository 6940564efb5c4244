"""NamespaceLifecycle on create: content goes only into a namespace that exists and is not being
deleted (404 and 403 as kube-apiserver answers), whatever else the namespace's metadata says."""

from __future__ import annotations

import pytest

from minikube_py.api.allocators import ServiceAllocator
from minikube_py.api.registry import Registry
from minikube_py.model.errors import StatusError
from minikube_py.model.kinds import by_plural
from minikube_py.store.base import Create, Obj, Store

CONFIGMAPS = by_plural("", "v1", "configmaps")
NAMESPACES = by_plural("", "v1", "namespaces")


def namespace(name: str, **metadata: object) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "uid": f"u-{name}", **metadata}}


@pytest.fixture
async def registry(store: Store) -> Registry:
    assert NAMESPACES is not None
    await store.commit(
        [
            Create(NAMESPACES.key(None, "open"), namespace("open", annotations={"note": "deletionTimestamp"})),
            Create(
                NAMESPACES.key(None, "closing"),
                namespace("closing", deletionTimestamp="2026-01-01T00:00:00Z", finalizers=["kubernetes"]),
            ),
        ]
    )
    return Registry(store, ServiceAllocator(store, "10.96.0.0/12", (30000, 32767)))


async def test_content_goes_into_an_open_namespace(registry: Registry) -> None:
    assert CONFIGMAPS is not None
    created = await registry.create(CONFIGMAPS, "open", {"metadata": {"name": "c"}, "data": {"k": "v"}})
    assert created["metadata"]["namespace"] == "open"


async def test_a_terminating_namespace_refuses_new_content(registry: Registry) -> None:
    assert CONFIGMAPS is not None
    with pytest.raises(StatusError) as refused:
        await registry.create(CONFIGMAPS, "closing", {"metadata": {"name": "c"}})
    assert refused.value.code == 403
    assert "because it is being terminated" in str(refused.value)


async def test_a_missing_namespace_is_not_found(registry: Registry) -> None:
    assert CONFIGMAPS is not None
    with pytest.raises(StatusError) as missing:
        await registry.create(CONFIGMAPS, "absent", {"metadata": {"name": "c"}})
    assert missing.value.code == 404
