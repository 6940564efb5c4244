"""Services hold a ClusterIP and NodePorts, reserved in the store in one commit with the Service and
freed in one commit with its deletion; the Endpoints and EndpointSlices that back them."""

from __future__ import annotations

from minikube_py.api import shape
from minikube_py.api.allocators import drop_type_dependent_fields, held_by, release
from minikube_py.api.patch import mergekeys
from minikube_py.api.strategies.base import Allocators, Strategy
from minikube_py.api.tables import network as printers
from minikube_py.model.errors import FieldError
from minikube_py.store.base import Obj, Op


class ServiceStrategy(Strategy):
    reserves = True

    def reset_status(self, obj: Obj) -> None:
        obj["status"] = {"loadBalancer": {}}

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        drop_type_dependent_fields(new, old)

    async def admit(self, obj: Obj, old: Obj | None, allocators: Allocators) -> tuple[list[Op], list[FieldError]]:
        """Allocate the ClusterIP and NodePorts the Service lacks, check those it asks for, and reserve
        them with the write (releasing what an update gave up)."""
        return await allocators.services.assign(obj, old)

    def release(self, obj: Obj) -> list[Op]:
        return release(held_by(obj))


SERVICE = ServiceStrategy(
    "Service",
    printer=printers.SERVICE,
    merge_rules=mergekeys.SERVICE,
    atomic_maps=mergekeys.SERVICE_ATOMIC,
    shape=shape.SERVICE,
)
ENDPOINTS = Strategy(
    "Endpoints", printer=printers.ENDPOINTS, merge_rules=mergekeys.METADATA_ONLY, shape=shape.ENDPOINTS
)
ENDPOINT_SLICE = Strategy(
    "EndpointSlice", printer=printers.ENDPOINT_SLICE, merge_rules=mergekeys.METADATA_ONLY, shape=shape.ENDPOINT_SLICE
)
