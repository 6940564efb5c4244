"""Persistent storage: PersistentVolumes and their claims, whose status the PV controller writes
through ``/status``, and the StorageClasses that provision them."""

from __future__ import annotations

from minikube_py.api import shape
from minikube_py.api.patch import mergekeys
from minikube_py.api.strategies.base import Allocators, Strategy
from minikube_py.api.tables import storage as printers
from minikube_py.model import storage
from minikube_py.model.errors import FieldError, StatusError
from minikube_py.model.kinds import by_plural
from minikube_py.model.times import rfc3339
from minikube_py.store.base import KeyNotFound, Obj, Op

_CLASSES = by_plural("storage.k8s.io", "v1", "storageclasses")
assert _CLASSES is not None


class PersistentVolumeStrategy(Strategy):
    """A new volume is Pending (the binder makes it Available); every phase change is stamped with
    ``lastPhaseTransitionTime``, as kube-apiserver does since 1.31."""

    def reset_status(self, obj: Obj) -> None:
        obj["status"] = {"phase": storage.VOLUME_PENDING, "lastPhaseTransitionTime": rfc3339()}

    def prepare_for_create(self, obj: Obj) -> None:
        """StorageObjectInUseProtection: a volume is not removed while a claim is bound to it."""
        storage.protect(obj, storage.PV_PROTECTION)

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        status, old_status = new.get("status"), old.get("status") or {}
        if not isinstance(status, dict) or status.get("phase") == old_status.get("phase"):
            return
        if status.get("lastPhaseTransitionTime") == old_status.get("lastPhaseTransitionTime"):
            status["lastPhaseTransitionTime"] = rfc3339()


class PersistentVolumeClaimStrategy(Strategy):
    def reset_status(self, obj: Obj) -> None:
        obj["status"] = {"phase": storage.CLAIM_PENDING}

    def prepare_for_create(self, obj: Obj) -> None:
        """StorageObjectInUseProtection: a claim is not removed while a pod uses it."""
        storage.protect(obj, storage.PVC_PROTECTION)

    async def mutate(self, obj: Obj, old: Obj | None, allocators: Allocators) -> None:
        """The DefaultStorageClass admission plugin: a new claim that names no class gets the
        cluster's default one (none when there is no default, as Kubernetes leaves it)."""
        if old is None and storage.claim_class(obj) is None:
            listing = await allocators.store.list(_CLASSES.prefix())
            default = storage.default_class(listing.items)
            if default is not None:
                obj.setdefault("spec", {})["storageClassName"] = default["metadata"]["name"]

    async def admit(self, obj: Obj, old: Obj | None, allocators: Allocators) -> tuple[list[Op], list[FieldError]]:
        """The PersistentVolumeClaimResize plugin: a bound claim grows only if its class allows expansion."""
        if old is not None and await _grows_without_expansion(obj, old, allocators):
            name = obj["metadata"]["name"]
            raise StatusError(
                403,
                "Forbidden",
                f'persistentvolumeclaims "{name}" is forbidden: only dynamically '
                "provisioned pvc can be resized and the storageclass that provisions the pvc must "
                "support resize",
                {"name": name, "kind": "persistentvolumeclaims"},
            )
        return [], []


async def _grows_without_expansion(claim: Obj, old: Obj, allocators: Allocators) -> bool:
    if (old.get("status") or {}).get("phase") != storage.CLAIM_BOUND:
        return False
    request, old_request = storage.claim_request(claim), storage.claim_request(old)
    if request is None or old_request is None or request <= old_request:
        return False
    name = storage.claim_class(claim)
    if not name:
        return True
    try:
        klass = await allocators.store.get(_CLASSES.key(None, name))
    except KeyNotFound:
        return True
    return klass.get("allowVolumeExpansion") is not True


PERSISTENT_VOLUME = PersistentVolumeStrategy(
    "PersistentVolume",
    printer=printers.PERSISTENT_VOLUME,
    merge_rules=mergekeys.METADATA_ONLY,
    atomic_maps=mergekeys.PERSISTENT_VOLUME_ATOMIC,
)
PERSISTENT_VOLUME_CLAIM = PersistentVolumeClaimStrategy(
    "PersistentVolumeClaim",
    printer=printers.PERSISTENT_VOLUME_CLAIM,
    merge_rules=mergekeys.PERSISTENT_VOLUME_CLAIM,
    atomic_maps=mergekeys.PERSISTENT_VOLUME_CLAIM_ATOMIC,
)
STORAGE_CLASS = Strategy(
    "StorageClass", printer=printers.STORAGE_CLASS, merge_rules=mergekeys.METADATA_ONLY, shape=shape.STORAGE_CLASS
)

CSI_DRIVER = Strategy(
    "CSIDriver", printer=printers.CSI_DRIVER, merge_rules=mergekeys.CSI_DRIVER, shape=shape.CSI_DRIVER
)
CSI_NODE = Strategy("CSINode", printer=printers.CSI_NODE, merge_rules=mergekeys.CSI_NODE, shape=shape.CSI_NODE)


class VolumeAttachmentStrategy(Strategy):
    """An attacher's record: its status is the attacher's to write, through the status subresource."""

    def reset_status(self, obj: Obj) -> None:
        """A new attachment is not attached yet: Go's ``attached`` is never omitted."""
        obj["status"] = {"attached": False}


VOLUME_ATTACHMENT = VolumeAttachmentStrategy(
    "VolumeAttachment",
    printer=printers.VOLUME_ATTACHMENT,
    merge_rules=mergekeys.METADATA_ONLY,
    shape=shape.VOLUME_ATTACHMENT,
)
STORAGE_CAPACITY = Strategy(
    "CSIStorageCapacity",
    printer=printers.STORAGE_CAPACITY,
    merge_rules=mergekeys.METADATA_ONLY,
    atomic_maps=mergekeys.STORAGE_CAPACITY_ATOMIC,
    shape=shape.STORAGE_CAPACITY,
)
