"""Printers for PersistentVolumes, PersistentVolumeClaims and StorageClasses: the columns and cells
of kube-apiserver's ``printPersistentVolume``, ``printPersistentVolumeClaim`` and
``printStorageClass``, which ``kubectl get pv,pvc,sc`` shows; and for the CSI kinds (CSIDriver,
CSINode, VolumeAttachment, and CSIStorageCapacity, which kube-apiserver serves with its default table)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minikube_py.api.tables.base import AGE, NAME, Column, Printer, age, obj_name, wide
from minikube_py.api.tables.formatting import spec_of, status_of
from minikube_py.model import quantity, storage

_UNSET = "<unset>"


def _phase(obj: dict[str, Any]) -> str:
    """The phase, or Terminating once the object is being deleted."""
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    return str(status_of(obj).get("phase") or "")


def _size(resources: Any) -> str:
    """``Quantity.String()`` of the ``storage`` entry: canonical form, ``0`` when absent."""
    raw = (resources or {}).get("storage") if isinstance(resources, dict) else None
    if raw is None:
        return "0"
    try:
        return quantity.format_quantity(raw)
    except (ValueError, TypeError):
        return str(raw)


def _persistent_volume(pv: dict[str, Any], now: datetime) -> list[Any]:
    spec = spec_of(pv)
    claim = spec.get("claimRef")
    claim_text = f"{claim.get('namespace', '')}/{claim.get('name', '')}" if isinstance(claim, dict) else ""
    return [
        obj_name(pv),
        _size(spec.get("capacity")),
        storage.access_modes_text(spec.get("accessModes")),
        spec.get("persistentVolumeReclaimPolicy") or "",
        _phase(pv),
        claim_text,
        storage.volume_class(pv),
        spec.get("volumeAttributesClassName") or _UNSET,
        status_of(pv).get("reason") or "",
        age(pv, now),
        spec.get("volumeMode") or _UNSET,
    ]


PERSISTENT_VOLUME = Printer(
    (
        NAME,
        Column(
            "Capacity",
            "capacity is the description of the persistent volume's resources and capacity. More "
            "info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#capacity",
        ),
        Column(
            "Access Modes",
            "accessModes contains all ways the volume can be mounted. More info: "
            "https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes",
        ),
        Column(
            "Reclaim Policy",
            "persistentVolumeReclaimPolicy defines what happens to a persistent volume when "
            "released from its claim. Valid options are Retain (default for manually created "
            "PersistentVolumes), Delete (default for dynamically provisioned PersistentVolumes), "
            "and Recycle (deprecated). Recycle must be supported by the volume plugin underlying "
            "this PersistentVolume. More info: https://kubernetes.io/docs/concepts/storage/"
            "persistent-volumes#reclaiming",
        ),
        Column(
            "Status",
            "phase indicates if a volume is available, bound to a claim, or released by a claim. More "
            "info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#phase",
        ),
        Column(
            "Claim",
            "claimRef is part of a bi-directional binding between PersistentVolume and "
            "PersistentVolumeClaim. Expected to be non-nil when bound. claim.VolumeName is the "
            "authoritative bind between PV and PVC. More info: https://kubernetes.io/docs/concepts/"
            "storage/persistent-volumes#binding",
        ),
        Column("StorageClass", "StorageClass of the pv"),
        Column("VolumeAttributesClass", "VolumeAttributesClass of the pv"),
        Column(
            "Reason",
            "reason is a brief CamelCase string that describes any failure and is meant for machine "
            "parsing and tidy display in the CLI.",
        ),
        AGE,
        wide(
            "VolumeMode",
            "volumeMode defines if a volume is intended to be used with a formatted filesystem or to "
            "remain in raw block state. Value of Filesystem is implied when not included in spec.",
        ),
    ),
    _persistent_volume,
)


def _persistent_volume_claim(pvc: dict[str, Any], now: datetime) -> list[Any]:
    spec, status = spec_of(pvc), status_of(pvc)
    volume = spec.get("volumeName") or ""
    capacity = _size(status.get("capacity")) if volume else ""
    modes = storage.access_modes_text(status.get("accessModes")) if volume else ""
    return [
        obj_name(pvc),
        _phase(pvc),
        volume,
        capacity,
        modes,
        storage.claim_class(pvc) or "",
        spec.get("volumeAttributesClassName") or _UNSET,
        age(pvc, now),
        spec.get("volumeMode") or _UNSET,
    ]


PERSISTENT_VOLUME_CLAIM = Printer(
    (
        NAME,
        Column("Status", "phase represents the current phase of PersistentVolumeClaim."),
        Column("Volume", "volumeName is the binding reference to the PersistentVolume backing this claim."),
        Column("Capacity", "capacity represents the actual resources of the underlying volume."),
        Column(
            "Access Modes",
            "accessModes contains the actual access modes the volume backing the PVC has. More "
            "info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes-1",
        ),
        Column("StorageClass", "StorageClass of the pvc"),
        Column("VolumeAttributesClass", "VolumeAttributesClass of the pvc"),
        AGE,
        wide(
            "VolumeMode",
            "volumeMode defines what type of volume is required by the claim. Value of Filesystem "
            "is implied when not included in claim spec.",
        ),
    ),
    _persistent_volume_claim,
)


def _storage_class(sc: dict[str, Any], now: datetime) -> list[Any]:
    name = obj_name(sc)
    if storage.is_default_class(sc):
        name += " (default)"
    return [
        name,
        sc.get("provisioner", ""),
        sc.get("reclaimPolicy") or storage.DELETE,
        sc.get("volumeBindingMode") or storage.IMMEDIATE,
        bool(sc.get("allowVolumeExpansion")),
        age(sc, now),
    ]


STORAGE_CLASS = Printer(
    (
        NAME,
        Column("Provisioner", "provisioner indicates the type of the provisioner."),
        Column(
            "ReclaimPolicy",
            "reclaimPolicy controls the reclaimPolicy for dynamically provisioned "
            "PersistentVolumes of this storage class. Defaults to Delete.",
        ),
        Column(
            "VolumeBindingMode",
            "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned "
            "and bound.  When unset, VolumeBindingImmediate is used. This field is only "
            "honored by servers that enable the VolumeScheduling feature.",
        ),
        Column("AllowVolumeExpansion", "allowVolumeExpansion shows whether the storage class allow volume expand."),
        AGE,
    ),
    _storage_class,
)


def _flag(value: Any, unset: bool) -> bool:
    """A ``*bool`` cell: its value, or what the printer shows for nil."""
    return value if isinstance(value, bool) else unset


def _csi_driver(driver: dict[str, Any], now: datetime) -> list[Any]:
    spec = spec_of(driver)
    requests = spec.get("tokenRequests")
    audiences = ",".join(str((r or {}).get("audience", "")) for r in requests) if isinstance(requests, list) else _UNSET
    modes = ",".join(str(m) for m in spec.get("volumeLifecycleModes") or ()) or "<none>"
    return [
        obj_name(driver),
        _flag(spec.get("attachRequired"), True),
        _flag(spec.get("podInfoOnMount"), False),
        _flag(spec.get("storageCapacity"), False),
        audiences,
        _flag(spec.get("requiresRepublish"), False),
        modes,
        age(driver, now),
    ]


CSI_DRIVER = Printer(
    (
        NAME,
        Column(
            "AttachRequired", "attachRequired indicates this CSI volume driver requires an attach operation.", "boolean"
        ),
        Column(
            "PodInfoOnMount", "podInfoOnMount indicates this CSI volume driver requires pod information.", "boolean"
        ),
        Column("StorageCapacity", "storageCapacity indicates that the driver publishes its capacity.", "boolean"),
        Column("TokenRequests", "tokenRequests indicates the audiences of the tokens the driver receives."),
        Column("RequiresRepublish", "requiresRepublish indicates NodePublishVolume is called periodically.", "boolean"),
        Column("Modes", "volumeLifecycleModes defines what kind of volumes this CSI volume driver supports."),
        AGE,
    ),
    _csi_driver,
)


def _csi_node(node: dict[str, Any], now: datetime) -> list[Any]:
    drivers = spec_of(node).get("drivers")
    return [obj_name(node), len(drivers) if isinstance(drivers, list) else 0, age(node, now)]


CSI_NODE = Printer(
    (NAME, Column("Drivers", "drivers indicates the number of CSI drivers registered on the node", "integer"), AGE),
    _csi_node,
)


def _volume_attachment(attachment: dict[str, Any], now: datetime) -> list[Any]:
    spec = spec_of(attachment)
    source = spec.get("source") if isinstance(spec.get("source"), dict) else {}
    return [
        obj_name(attachment),
        spec.get("attacher") or "",
        source.get("persistentVolumeName") or "",
        spec.get("nodeName") or "",
        status_of(attachment).get("attached") is True,
        age(attachment, now),
    ]


VOLUME_ATTACHMENT = Printer(
    (
        NAME,
        Column("Attacher", "attacher indicates the name of the volume driver that MUST handle this request."),
        Column("PV", "persistentVolumeName represents the name of the persistent volume to attach."),
        Column("Node", "nodeName represents the node that the volume should be attached to."),
        Column("Attached", "attached indicates the volume is successfully attached.", "boolean"),
        AGE,
    ),
    _volume_attachment,
)


#: kube-apiserver's default table (``rest.NewDefaultTableConvertor``), which it serves CSIStorageCapacities
#: with: the creation time as an RFC 3339 timestamp, not an age
STORAGE_CAPACITY = Printer(
    (NAME, Column("Created At", AGE.description, "date")),
    lambda obj, now: [obj_name(obj), (obj.get("metadata") or {}).get("creationTimestamp") or ""],
)
