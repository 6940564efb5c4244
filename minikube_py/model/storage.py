"""Facts about persistent storage shared by its kinds' rules, printers, controllers, scheduler and agent:
the access modes, reclaim policies and binding modes, and how a claim or volume names its class.

PersistentVolumes (cluster-scoped), PersistentVolumeClaims (namespaced) and StorageClasses
(storage.k8s.io/v1) are Kubernetes' own API; the spellings here are theirs, since manifests and
``kubectl get pv,pvc,sc`` show them.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from minikube_py.model import quantity
from minikube_py.model.lenient import as_dict

Obj = dict[str, Any]

READ_WRITE_ONCE = "ReadWriteOnce"
READ_ONLY_MANY = "ReadOnlyMany"
READ_WRITE_MANY = "ReadWriteMany"
READ_WRITE_ONCE_POD = "ReadWriteOncePod"
#: every access mode with kubectl's abbreviation, in the order ``GetAccessModesAsString`` lists them
ACCESS_MODES = {READ_WRITE_ONCE: "RWO", READ_ONLY_MANY: "ROX", READ_WRITE_MANY: "RWX", READ_WRITE_ONCE_POD: "RWOP"}

RETAIN, DELETE, RECYCLE = "Retain", "Delete", "Recycle"
RECLAIM_POLICIES = (DELETE, RECYCLE, RETAIN)
#: what a StorageClass may ask of the volumes it provisions (Recycle is for static volumes only)
CLASS_RECLAIM_POLICIES = (DELETE, RETAIN)

FILESYSTEM, BLOCK = "Filesystem", "Block"
VOLUME_MODES = (BLOCK, FILESYSTEM)

IMMEDIATE, WAIT_FOR_FIRST_CONSUMER = "Immediate", "WaitForFirstConsumer"
BINDING_MODES = (IMMEDIATE, WAIT_FOR_FIRST_CONSUMER)

#: the volume sources a PersistentVolume may have; pykube's agent mounts hostPath and local
VOLUME_SOURCES = (
    "hostPath",
    "local",
    "nfs",
    "iscsi",
    "fc",
    "csi",
    "cephfs",
    "rbd",
    "glusterfs",
    "cinder",
    "flexVolume",
    "flocker",
    "azureFile",
    "azureDisk",
    "awsElasticBlockStore",
    "gcePersistentDisk",
    "vsphereVolume",
    "quobyte",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
)

# volume phases
VOLUME_PENDING, AVAILABLE, BOUND, RELEASED, FAILED = "Pending", "Available", "Bound", "Released", "Failed"
# claim phases
CLAIM_PENDING, CLAIM_BOUND, CLAIM_LOST = "Pending", "Bound", "Lost"

DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
BETA_DEFAULT_CLASS_ANNOTATION = "storageclass.beta.kubernetes.io/is-default-class"
#: the class annotation that predates ``storageClassName``; Kubernetes still honours it first
BETA_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"


def access_modes_text(modes: Any) -> str:
    """``RWO,RWX``: the modes abbreviated in kubectl's fixed order, duplicates dropped."""
    present = set(modes) if isinstance(modes, list) else set()
    return ",".join(short for mode, short in ACCESS_MODES.items() if mode in present)


def volume_class(pv: Obj) -> str:
    """A volume's class (``GetPersistentVolumeClass``): the beta annotation, else ``storageClassName``."""
    annotations = as_dict(as_dict(pv.get("metadata")).get("annotations"))
    if BETA_CLASS_ANNOTATION in annotations:
        return str(annotations[BETA_CLASS_ANNOTATION])
    return str(as_dict(pv.get("spec")).get("storageClassName") or "")


def claim_class(pvc: Obj) -> str | None:
    """A claim's class (``GetPersistentVolumeClaimClass``): the beta annotation, else
    ``storageClassName``; None when the claim names none (the default class may then apply), ""
    when it asks for no class at all."""
    annotations = as_dict(as_dict(pvc.get("metadata")).get("annotations"))
    if BETA_CLASS_ANNOTATION in annotations:
        return str(annotations[BETA_CLASS_ANNOTATION])
    value = as_dict(pvc.get("spec")).get("storageClassName")
    return None if value is None else str(value)


def is_default_class(sc: Obj) -> bool:
    """Whether a StorageClass is marked as the cluster's default (either annotation, "true")."""
    annotations = as_dict(as_dict(sc.get("metadata")).get("annotations"))
    return "true" in (annotations.get(DEFAULT_CLASS_ANNOTATION), annotations.get(BETA_DEFAULT_CLASS_ANNOTATION))


def storage_quantity(resources: Any) -> Fraction | None:
    """The ``storage`` entry of a capacity or requests map, parsed; None when absent or malformed."""
    raw = as_dict(resources).get("storage")
    if raw is None:
        return None
    try:
        return quantity.parse_quantity(raw)
    except (ValueError, TypeError):
        return None


def claim_request(pvc: Obj) -> Fraction | None:
    """The storage a claim asks for (``spec.resources.requests.storage``)."""
    return storage_quantity(as_dict(as_dict(pvc.get("spec")).get("resources")).get("requests"))


def volume_capacity(pv: Obj) -> Fraction | None:
    """The storage a volume offers (``spec.capacity.storage``)."""
    return storage_quantity(as_dict(pv.get("spec")).get("capacity"))


def default_class(classes: list[Obj]) -> Obj | None:
    """The cluster's default StorageClass: of those marked default, the newest (Kubernetes picks
    the most recently created when there are several, then the first by name)."""
    marked = [sc for sc in classes if is_default_class(sc)]
    if not marked:
        return None
    marked.sort(key=lambda sc: str(as_dict(sc.get("metadata")).get("name", "")))
    return max(marked, key=lambda sc: str(as_dict(sc.get("metadata")).get("creationTimestamp", "")))


# ------------------------------------------------------------------------------ in-use protection

#: held on every claim until no pod uses it, and on every volume until it is no longer bound
#: (Kubernetes' StorageObjectInUseProtection admission and its two protection controllers)
PVC_PROTECTION = "kubernetes.io/pvc-protection"
PV_PROTECTION = "kubernetes.io/pv-protection"


def protect(obj: Obj, finalizer: str) -> None:
    """Add ``finalizer`` to a new object's finalizers (admission, on create)."""
    md = obj.setdefault("metadata", {})
    finalizers = md.get("finalizers") if isinstance(md.get("finalizers"), list) else []
    if finalizer not in finalizers:
        md["finalizers"] = [*finalizers, finalizer]


def uses_claim(pod: Obj, claim: Obj) -> bool:
    """Whether ``pod`` still uses ``claim``: it names it in a volume and has not finished (a pod
    that is shutting down still holds its volumes until it is gone)."""
    claim_md, pod_md = as_dict(claim.get("metadata")), as_dict(pod.get("metadata"))
    if pod_md.get("namespace") != claim_md.get("namespace"):
        return False
    if as_dict(pod.get("status")).get("phase") in ("Succeeded", "Failed"):
        return False
    return any(
        as_dict(as_dict(v).get("persistentVolumeClaim")).get("claimName") == claim_md.get("name")
        for v in as_dict(pod.get("spec")).get("volumes") or []
    )


def finalizers_without(obj: Obj, finalizer: str) -> list[str] | None:
    """The object's finalizers once ``finalizer`` is dropped, when it is being deleted and holds it;
    None when there is nothing to drop."""
    md = as_dict(obj.get("metadata"))
    finalizers = md.get("finalizers") or []
    if not md.get("deletionTimestamp") or finalizer not in finalizers:
        return None
    return [f for f in finalizers if f != finalizer]
