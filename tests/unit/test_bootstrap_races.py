"""Servers starting at the same moment on one datastore each write the bootstrap objects: a server
whose peer wrote one between its read and its write reads it again instead of failing to start."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from minikube_py.api.allocators import ServiceAllocator
from minikube_py.api.bootstrap import CLUSTER_CONFIG, ClusterNetwork, ensure_bootstrap_objects
from minikube_py.api.registry import Registry
from minikube_py.model.kinds import by_plural
from minikube_py.store.base import Create, Obj, Op, Store, Update, revision_of

CONFIGMAPS = by_plural("", "v1", "configmaps")
KEY = CONFIGMAPS.key("kube-system", CLUSTER_CONFIG)
NETWORK = ClusterNetwork("10.42.0.0/16", "10.43.0.0/16", "10.43.0.10", "cluster.local")


class PeerStartingAtOnce:
    """The store as this server sees it, while a peer server writes ``KEY`` just before this
    server's commit that touches it (once)."""

    def __init__(self, store: Store, peer_update: bool) -> None:
        self.store = store
        self.peer_update = peer_update
        self.raced = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def commit(self, ops: Sequence[Op]) -> list[Obj]:
        if not self.raced and any(op.key == KEY for op in ops):
            self.raced = True
            peer = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "data": {"clusterCIDR": "written by the peer"},
                "metadata": {
                    "name": CLUSTER_CONFIG,
                    "namespace": "kube-system",
                    "uid": "peer",
                    "creationTimestamp": "2026-01-01T00:00:00Z",
                },
            }
            if self.peer_update:
                current = await self.store.get(KEY)
                await self.store.commit([Update(KEY, {**current, "data": peer["data"]}, revision_of(current))])
            else:
                await self.store.commit([Create(KEY, peer)])
        return await self.store.commit(ops)


async def start(store: Store, racing: PeerStartingAtOnce | None = None, network: ClusterNetwork = NETWORK) -> None:
    allocator = ServiceAllocator(store, network.service_cidr, (30000, 32767))
    await ensure_bootstrap_objects(
        Registry(cast(Store, racing or store), allocator), address="192.0.2.1", port=6443, network=network
    )


async def test_a_peer_creating_the_cluster_settings_first(store: Store) -> None:
    racing = PeerStartingAtOnce(store, peer_update=False)
    await start(store, racing)
    assert racing.raced
    assert (await store.get(KEY))["data"]["clusterCIDR"] == NETWORK.cluster_cidr


async def test_a_peer_updating_the_cluster_settings_meanwhile(store: Store) -> None:
    await start(store)
    changed = ClusterNetwork("10.52.0.0/16", NETWORK.service_cidr, NETWORK.dns_ip, NETWORK.domain)
    racing = PeerStartingAtOnce(store, peer_update=True)
    await start(store, racing, changed)  # restarted with another cluster CIDR: the settings are updated
    assert racing.raced
    assert (await store.get(KEY))["data"]["clusterCIDR"] == changed.cluster_cidr
