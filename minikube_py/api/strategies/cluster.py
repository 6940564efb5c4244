"""Nodes, the Leases they (and elected leaders) renew, and Events."""

from __future__ import annotations

from minikube_py.api import shape
from minikube_py.api.patch import mergekeys
from minikube_py.api.strategies.base import Strategy
from minikube_py.api.tables import core as printers
from minikube_py.store.base import Obj


class NodeStrategy(Strategy):
    def reset_status(self, obj: Obj) -> None:
        """Kept: an agent registers its node with the node's status (addresses, capacity, conditions)."""


NODE = NodeStrategy("Node", printer=printers.NODE, merge_rules=mergekeys.NODE)
LEASE = Strategy("Lease", printer=printers.LEASE, merge_rules=mergekeys.METADATA_ONLY)
EVENT = Strategy("Event", printer=printers.EVENT, merge_rules=mergekeys.METADATA_ONLY, shape=shape.EVENT)
