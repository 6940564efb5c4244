"""The PersistentVolume controller's decisions, as pure functions of the claims, volumes, classes and
nodes it sees (Kubernetes' ``pkg/controller/volume/persistentvolume``).

A claim is matched to the smallest Available volume of its class that offers its access modes,
volume mode and size and whose labels its selector matches; a volume pre-bound to a claim
(``claimRef``) or a claim pre-bound to a volume (``volumeName``) binds to nothing else. Binding
writes both halves: the volume's ``claimRef`` and phase Bound, then the claim's ``volumeName``,
``pv.kubernetes.io/bind-completed`` and phase Bound. A claim whose class binds
WaitForFirstConsumer waits for the scheduler to pick a node (``volume.kubernetes.io/selected-node``)
and is then matched against the volumes that node can reach, or provisioned there. A bound claim
whose volume is gone is Lost; a volume whose claim is gone is Released and reclaimed by its policy:
Retain keeps it, Delete deletes a provisioned volume (the node that holds a local-path directory
does that, :func:`local_path_to_delete`).

The controller (:mod:`minikube_py.reconcilers.persistentvolume`) carries out what these return.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from minikube_py.model import quantity, storage
from minikube_py.model.scheduling import node_selector_matches
from minikube_py.model.selectors import label_selector_from_spec

Obj = dict[str, Any]
Event = tuple[str, str, str]  # (type, reason, message)

BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"
BETA_STORAGE_PROVISIONER = "volume.beta.kubernetes.io/storage-provisioner"
HOSTNAME_LABEL = "kubernetes.io/hostname"

#: pykube's built-in provisioner: a directory on the node the claim's first pod runs on
LOCAL_PATH_PROVISIONER = "pykube.io/local-path"
#: the provisioner of classes whose volumes are all made by hand (static local volumes)
NO_PROVISIONER = "kubernetes.io/no-provisioner"
#: the annotation an agent puts on its Node: the directory under which local-path volumes live
LOCAL_PATH_ROOT_ANNOTATION = "pykube.io/local-path-root"


def _md(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _spec(obj: Obj) -> Obj:
    return obj.get("spec") or {}


def _annotations(obj: Obj) -> Mapping[str, str]:
    return _md(obj).get("annotations") or {}


def claim_key(claim: Obj) -> str:
    return f"{_md(claim).get('namespace', '')}/{_md(claim).get('name', '')}"


def claim_ref_key(volume: Obj) -> str | None:
    """``namespace/name`` of the claim a volume's ``claimRef`` names, if it names one."""
    ref = _spec(volume).get("claimRef")
    if not isinstance(ref, dict):
        return None
    return f"{ref.get('namespace', '')}/{ref.get('name', '')}"


def bound_to(volume: Obj, claim: Obj) -> bool:
    """``IsVolumeBoundToClaim``: the volume's claimRef names this claim (any uid, or its uid)."""
    ref = _spec(volume).get("claimRef")
    if not isinstance(ref, dict) or claim_ref_key(volume) != claim_key(claim):
        return False
    return not ref.get("uid") or ref.get("uid") == _md(claim).get("uid")


def _mode(spec: Obj) -> str:
    return spec.get("volumeMode") or storage.FILESYSTEM


def mismatch(volume: Obj, claim: Obj, *, check_class: bool = True) -> str | None:
    """Why ``volume`` cannot serve ``claim`` (``checkVolumeSatisfyClaim``), None when it can;
    without ``check_class`` the classes may differ (a volume pre-bound to the claim)."""
    request = storage.claim_request(claim) or Fraction(0)
    capacity = storage.volume_capacity(volume) or Fraction(0)
    if capacity < request:
        return "requested PV is too small"
    if check_class and storage.volume_class(volume) != (storage.claim_class(claim) or ""):
        return "storageClassName does not match"
    if _mode(_spec(volume)) != _mode(_spec(claim)):
        return "incompatible volumeMode"
    if not set(_spec(claim).get("accessModes") or ()) <= set(_spec(volume).get("accessModes") or ()):
        return "incompatible accessMode"
    return None


def node_allows(volume: Obj, node: Obj | None) -> bool:
    """Whether a volume's node affinity admits ``node`` (any node when it has no affinity)."""
    required = (_spec(volume).get("nodeAffinity") or {}).get("required")
    if required is None:
        return True
    if node is None:
        return False
    return node_selector_matches(required, _md(node).get("labels") or {}, _md(node).get("name", ""))


def find_volume(claim: Obj, volumes: Iterable[Obj], node: Obj | None = None, *, delayed: bool = False) -> Obj | None:
    """The volume to bind ``claim`` to (``findMatchingVolume``): one pre-bound to it if it fits,
    else the smallest Available one that satisfies it; with ``node`` (the scheduler's choice for a
    WaitForFirstConsumer claim) only volumes that node can reach. A ``delayed`` claim without a node
    binds only to a volume pre-bound to it."""
    spec = _spec(claim)
    try:
        selector = label_selector_from_spec(spec.get("selector")) if spec.get("selector") else None
    except ValueError:
        return None
    best: Obj | None = None
    best_size = Fraction(0)
    for volume in volumes:
        if _spec(volume).get("claimRef") is not None and not bound_to(volume, claim):
            continue
        if _md(volume).get("deletionTimestamp") or mismatch(volume, claim, check_class=False) is not None:
            continue
        size = storage.volume_capacity(volume) or Fraction(0)
        reachable = node is None or node_allows(volume, node)
        if bound_to(volume, claim):
            return volume if reachable else None
        if delayed and node is None:
            continue
        if (volume.get("status") or {}).get("phase") != storage.AVAILABLE:
            continue
        if selector is not None and not selector.matches(_md(volume).get("labels") or {}):
            continue
        if not reachable or mismatch(volume, claim) is not None:
            continue
        if best is None or size < best_size:
            best, best_size = volume, size
    return best


# ------------------------------------------------------------------------------ writes


def _claim_ref(claim: Obj) -> Obj:
    md = _md(claim)
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "namespace": md.get("namespace", ""),
        "name": md.get("name", ""),
        "uid": md.get("uid", ""),
        "resourceVersion": md.get("resourceVersion", ""),
    }


def bind_volume(volume: Obj, claim: Obj) -> Obj | None:
    """The volume with its ``claimRef`` naming ``claim`` (``bindVolumeToClaim``), None when it
    already does: a ref without a uid is completed and the controller marks refs it wrote itself."""
    ref = _spec(volume).get("claimRef")
    if isinstance(ref, dict) and ref.get("uid") == _md(claim).get("uid") and bound_to(volume, claim):
        return None
    out = copy.deepcopy(volume)
    if ref is None:
        out["metadata"].setdefault("annotations", {})[BOUND_BY_CONTROLLER] = "yes"
    out["spec"]["claimRef"] = _claim_ref(claim)
    return out


def bind_claim(claim: Obj, volume: Obj) -> Obj | None:
    """The claim with ``volumeName`` and the bind-completed annotation (``bindClaimToVolume``),
    None when it has both."""
    name = _md(volume).get("name", "")
    annotations = _annotations(claim)
    if _spec(claim).get("volumeName") == name and annotations.get(BIND_COMPLETED) == "yes":
        return None
    out = copy.deepcopy(claim)
    added = out["metadata"].setdefault("annotations", {})
    if _spec(claim).get("volumeName") != name:
        out["spec"]["volumeName"] = name
        added[BOUND_BY_CONTROLLER] = "yes"
    added[BIND_COMPLETED] = "yes"
    return out


def claim_status(claim: Obj, phase: str, volume: Obj | None = None) -> Obj:
    """A claim's status in ``phase``: a Bound claim shows its volume's access modes and capacity,
    a Pending or Lost one keeps what it had (conditions, resize state)."""
    status = dict(claim.get("status") or {})
    status["phase"] = phase
    if phase == storage.CLAIM_BOUND and volume is not None:
        status["accessModes"] = list(_spec(volume).get("accessModes") or [])
        status["capacity"] = dict(_spec(volume).get("capacity") or {})
    elif phase == storage.CLAIM_PENDING:
        status.pop("accessModes", None)
        status.pop("capacity", None)
    return status


def volume_status(volume: Obj, phase: str, message: str = "") -> Obj:
    status = {k: v for k, v in (volume.get("status") or {}).items() if k not in ("message", "reason")}
    status["phase"] = phase
    if message:
        status["message"] = message
    return status


# ------------------------------------------------------------------------------ claims


@dataclass
class ClaimDecision:
    """What to do for one claim. ``bind`` is the volume to bind it to; ``provision`` a new volume to
    create, pre-bound to it; ``annotate`` annotations to add to the claim; ``phase`` the claim's
    phase once the rest is done."""

    phase: str
    bind: Obj | None = None
    provision: Obj | None = None
    annotate: dict[str, str] = field(default_factory=dict)
    #: the capacity to record on the bound volume of a claim that asked for more (local-path
    #: volumes grow at once: their size is recorded, not enforced)
    grow: str | None = None
    #: the default class to give a claim made before there was one (retroactive default class)
    set_class: str | None = None
    events: list[Event] = field(default_factory=list)


def decide_claim(
    claim: Obj, volumes: Mapping[str, Obj], classes: Mapping[str, Obj], nodes: Mapping[str, Obj]
) -> ClaimDecision:
    """``syncClaim``: bind, provision, wait or declare a claim Lost. ``volumes``, ``classes`` and
    ``nodes`` are by name."""
    if _annotations(claim).get(BIND_COMPLETED):
        return _sync_bound_claim(claim, volumes)
    name = _spec(claim).get("volumeName")
    if name:
        return _sync_pre_bound_claim(claim, volumes.get(name), name)
    if storage.claim_class(claim) is None:
        default = storage.default_class(list(classes.values()))
        if default is not None:
            return ClaimDecision(storage.CLAIM_PENDING, set_class=_md(default).get("name", ""))
    klass_name = storage.claim_class(claim) or ""
    klass = classes.get(klass_name) if klass_name else None
    delayed = klass is not None and klass.get("volumeBindingMode") == storage.WAIT_FOR_FIRST_CONSUMER
    node_name = _annotations(claim).get(SELECTED_NODE)
    node = nodes.get(node_name) if node_name else None
    volume = find_volume(claim, volumes.values(), node, delayed=delayed)
    if volume is not None:
        return ClaimDecision(storage.CLAIM_BOUND, bind=volume)
    pending = ClaimDecision(storage.CLAIM_PENDING)
    if delayed and not node_name:
        pending.events.append(
            ("Normal", "WaitForFirstConsumer", "waiting for first consumer to be created before binding")
        )
    elif klass_name:
        _provision(claim, klass_name, klass, node_name, node, pending)
    else:
        pending.events.append(
            ("Normal", "FailedBinding", "no persistent volumes available for this claim and no storage class is set")
        )
    return pending


def _sync_bound_claim(claim: Obj, volumes: Mapping[str, Obj]) -> ClaimDecision:
    name = _spec(claim).get("volumeName")
    if not name:
        return ClaimDecision(
            storage.CLAIM_LOST,
            events=[
                (
                    "Warning",
                    "ClaimLost",
                    "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!",
                )
            ],
        )
    volume = volumes.get(name)
    if volume is None:
        return ClaimDecision(
            storage.CLAIM_LOST,
            events=[("Warning", "ClaimLost", "Bound claim has lost its PersistentVolume. Data on the volume is lost!")],
        )
    ref = _spec(volume).get("claimRef")
    if ref is None or (isinstance(ref, dict) and ref.get("uid") == _md(claim).get("uid") and bound_to(volume, claim)):
        decision = ClaimDecision(storage.CLAIM_BOUND, bind=volume)
        request, capacity = storage.claim_request(claim), storage.volume_capacity(volume)
        if (
            _annotations(volume).get(PROVISIONED_BY) == LOCAL_PATH_PROVISIONER
            and request is not None
            and capacity is not None
            and request > capacity
        ):
            decision.grow = quantity.format_quantity(str(_spec(claim)["resources"]["requests"]["storage"]))
        return decision
    return ClaimDecision(
        storage.CLAIM_LOST,
        events=[("Warning", "ClaimMisbound", "Two claims are bound to the same volume, this one is bound incorrectly")],
    )


def _sync_pre_bound_claim(claim: Obj, volume: Obj | None, name: str) -> ClaimDecision:
    """A claim whose user named its volume: it binds to that one or waits."""
    if volume is None:
        return ClaimDecision(storage.CLAIM_PENDING)
    if _spec(volume).get("claimRef") is None:
        why = mismatch(volume, claim)
        if why is not None:
            return ClaimDecision(
                storage.CLAIM_PENDING,
                events=[("Warning", "VolumeMismatch", f'Cannot bind to requested volume "{name}": {why}')],
            )
        return ClaimDecision(storage.CLAIM_BOUND, bind=volume)
    if bound_to(volume, claim):
        return ClaimDecision(storage.CLAIM_BOUND, bind=volume)
    return ClaimDecision(
        storage.CLAIM_PENDING,
        events=[("Warning", "FailedBinding", f'volume "{name}" already bound to a different claim.')],
    )


def _provision(
    claim: Obj, klass_name: str, klass: Obj | None, node_name: str | None, node: Obj | None, decision: ClaimDecision
) -> None:
    """Fill ``decision`` for a claim no volume satisfies but whose class may make one."""
    if klass is None:
        decision.events.append(
            ("Warning", "ProvisioningFailed", f'storageclass.storage.k8s.io "{klass_name}" not found')
        )
        return
    provisioner = str(klass.get("provisioner") or "")
    if _annotations(claim).get(STORAGE_PROVISIONER) != provisioner:
        decision.annotate = {STORAGE_PROVISIONER: provisioner, BETA_STORAGE_PROVISIONER: provisioner}
    if provisioner != LOCAL_PATH_PROVISIONER:
        decision.events.append(
            (
                "Normal",
                "ExternalProvisioning",
                "Waiting for a volume to be created either by the "
                f"external provisioner '{provisioner}' or manually by the system administrator. If "
                "volume creation is delayed, please verify that the provisioner is running and "
                "correctly registered.",
            )
        )
        return
    volume, problem = local_path_volume(claim, klass, node_name, node)
    if volume is None:
        decision.events.append(
            ("Warning", "ProvisioningFailed", f'failed to provision volume with StorageClass "{klass_name}": {problem}')
        )
        return
    decision.provision = volume
    key = claim_key(claim)
    decision.events += [
        ("Normal", "Provisioning", f'External provisioner is provisioning volume for claim "{key}"'),
        ("Normal", "ProvisioningSucceeded", f"Successfully provisioned volume {volume['metadata']['name']}"),
    ]


def local_path_dir_name(claim: Obj) -> str:
    """The directory of a claim's local-path volume under the node's root, named as k3s names it."""
    md = _md(claim)
    return f"pvc-{md.get('uid', '')}_{md.get('namespace', '')}_{md.get('name', '')}"


def local_path_volume(claim: Obj, klass: Obj, node_name: str | None, node: Obj | None) -> tuple[Obj | None, str]:
    """The PersistentVolume the local-path provisioner makes for ``claim`` on the scheduler's node:
    a directory under the root the node's agent advertises, the claim's size and modes, the class's
    policy, node affinity to that node's hostname, pre-bound to the claim. None and why not when it
    cannot (no node chosen, node unknown or without a root, a claim that is not a filesystem)."""
    if not node_name:
        return None, "configuration error, no node was specified"
    if node is None:
        return None, f'nodes "{node_name}" not found'
    root = _annotations(node).get(LOCAL_PATH_ROOT_ANNOTATION)
    if not root:
        return (
            None,
            f'node "{node_name}" does not offer local-path storage (no {LOCAL_PATH_ROOT_ANNOTATION} annotation)',
        )
    spec = _spec(claim)
    if _mode(spec) != storage.FILESYSTEM:
        return None, "only Filesystem volumes are supported"
    hostname = (_md(node).get("labels") or {}).get(HOSTNAME_LABEL) or node_name
    request = (spec.get("resources") or {}).get("requests", {}).get("storage", "0")
    volume: Obj = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": f"pvc-{_md(claim).get('uid', '')}",
            "annotations": {PROVISIONED_BY: LOCAL_PATH_PROVISIONER, SELECTED_NODE: node_name},
        },
        "spec": {
            "capacity": {"storage": quantity.format_quantity(str(request))},
            "accessModes": list(spec.get("accessModes") or []),
            "persistentVolumeReclaimPolicy": klass.get("reclaimPolicy") or storage.DELETE,
            "storageClassName": _md(klass).get("name", ""),
            "volumeMode": storage.FILESYSTEM,
            "claimRef": _claim_ref(claim),
            "hostPath": {"path": f"{root.rstrip('/')}/{local_path_dir_name(claim)}", "type": "DirectoryOrCreate"},
            "nodeAffinity": {
                "required": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": HOSTNAME_LABEL, "operator": "In", "values": [hostname]}]}
                    ]
                }
            },
        },
    }
    if klass.get("mountOptions"):
        volume["spec"]["mountOptions"] = list(klass["mountOptions"])
    return volume, ""


# ------------------------------------------------------------------------------ volumes


@dataclass
class VolumeDecision:
    """What to do for one volume: its phase (and failure message), and whether to drop its
    ``claimRef`` (``unbind``) first."""

    phase: str
    message: str = ""
    unbind: bool = False
    events: list[Event] = field(default_factory=list)


def decide_volume(volume: Obj, claim: Obj | None) -> VolumeDecision:
    """``syncVolume``: a volume without a claim is Available, one whose claim holds it is Bound,
    one whose claim is gone is Released and then reclaimed. ``claim`` is the claim its
    ``claimRef`` names, if that exists."""
    spec = _spec(volume)
    ref = spec.get("claimRef")
    if not isinstance(ref, dict) or not ref.get("uid"):
        return VolumeDecision(storage.AVAILABLE)
    if claim is not None and _md(claim).get("uid") != ref.get("uid"):
        claim = None  # deleted and made again: not the claim this volume was bound to
    phase = (volume.get("status") or {}).get("phase")
    if claim is None:
        return _reclaim(volume, phase)
    name = _md(volume).get("name")
    claim_volume = _spec(claim).get("volumeName")
    if not claim_volume:
        # bound to a claim that is not bound yet: the claim's sync finishes the job
        return VolumeDecision(storage.BOUND if phase == storage.BOUND else phase or storage.AVAILABLE)
    if claim_volume == name:
        return VolumeDecision(storage.BOUND)
    # the claim went to another volume
    if _annotations(volume).get(PROVISIONED_BY) and spec.get("persistentVolumeReclaimPolicy") == storage.DELETE:
        return _reclaim(volume, phase)
    return VolumeDecision(storage.AVAILABLE, unbind=True)


def _reclaim(volume: Obj, phase: str | None) -> VolumeDecision:
    """A volume whose claim is gone, by its reclaim policy (``reclaimVolume``)."""
    if phase == storage.FAILED:
        return VolumeDecision(storage.FAILED, (volume.get("status") or {}).get("message", ""))
    policy = _spec(volume).get("persistentVolumeReclaimPolicy")
    name = _md(volume).get("name", "")
    if policy == storage.DELETE and not _annotations(volume).get(PROVISIONED_BY):
        message = f'error getting deleter volume plugin for volume "{name}": no deletable volume plugin matched'
        return VolumeDecision(storage.FAILED, message, events=[("Warning", "VolumeFailedDelete", message)])
    if policy == storage.RECYCLE:
        message = "No recycler plugin found for the volume!"
        return VolumeDecision(storage.FAILED, message, events=[("Warning", "VolumeFailedRecycle", message)])
    # Retain keeps the volume; a provisioned Delete volume is deleted by its provisioner (for
    # local-path, the agent of the volume's node)
    return VolumeDecision(storage.RELEASED)


def local_path_to_delete(volume: Obj, node_name: str) -> str | None:
    """The directory an agent removes before deleting a local-path volume of its node whose claim
    is gone and whose policy is Delete; None for any other volume."""
    spec = _spec(volume)
    if _annotations(volume).get(PROVISIONED_BY) != LOCAL_PATH_PROVISIONER:
        return None
    if _annotations(volume).get(SELECTED_NODE) != node_name:
        return None
    if spec.get("persistentVolumeReclaimPolicy") != storage.DELETE:
        return None
    if (volume.get("status") or {}).get("phase") != storage.RELEASED:
        return None
    path = (spec.get("hostPath") or {}).get("path")
    return str(path) if path else None


# ------------------------------------------------------------------------------ scheduling


#: kube-scheduler's VolumeBinding reasons, word for word
UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"
VOLUME_NODE_CONFLICT = "node(s) had volume node affinity conflict"
NO_VOLUME_TO_BIND = "node(s) did not find available persistent volumes to bind"


def pod_claim_names(pod: Obj) -> tuple[str, ...]:
    """The claims a pod's volumes name, in order."""
    return tuple(
        str(v["persistentVolumeClaim"].get("claimName", ""))
        for v in _spec(pod).get("volumes") or []
        if isinstance(v, dict) and isinstance(v.get("persistentVolumeClaim"), dict)
    )


@dataclass
class PodVolumes:
    """A pod's claims as the scheduler sees them (the VolumeBinding plugin's PreFilter): ``error``
    keeps the pod from every node; ``bound`` are the volumes its bound claims hold, ``delayed``
    its unbound claims that wait for the pod's node."""

    error: str | None = None
    bound: list[Obj] = field(default_factory=list)
    delayed: list[Obj] = field(default_factory=list)


def pod_volumes(
    pod: Obj, claims: Mapping[str, Obj], volumes: Mapping[str, Obj], classes: Mapping[str, Obj]
) -> PodVolumes:
    """Look up each claim of ``pod`` (``claims`` by ``namespace/name``, the rest by name)."""
    namespace = _md(pod).get("namespace", "")
    found = PodVolumes()
    for name in pod_claim_names(pod):
        claim = claims.get(f"{namespace}/{name}")
        if claim is None:
            return PodVolumes(f'persistentvolumeclaim "{name}" not found')
        if _md(claim).get("deletionTimestamp"):
            return PodVolumes(f'persistentvolumeclaim "{name}" is being deleted')
        volume_name = _spec(claim).get("volumeName")
        if volume_name and (claim.get("status") or {}).get("phase") == storage.CLAIM_BOUND:
            volume = volumes.get(volume_name)
            if volume is None:
                return PodVolumes(f'persistentvolume "{volume_name}" not found')
            found.bound.append(volume)
            continue
        klass = classes.get(storage.claim_class(claim) or "")
        if volume_name or klass is None or klass.get("volumeBindingMode") != storage.WAIT_FOR_FIRST_CONSUMER:
            return PodVolumes(UNBOUND_IMMEDIATE)
        found.delayed.append(claim)
    return found


def volume_node_failure(needs: PodVolumes, node: Obj, volumes: Iterable[Obj], classes: Mapping[str, Obj]) -> str | None:
    """The VolumeBinding Filter for one node: every bound volume must admit the node, and every
    delayed claim must find a volume there or be provisionable there (for local-path: the node
    offers a storage root; a claim whose node is already chosen stays on it)."""
    if any(not node_allows(volume, node) for volume in needs.bound):
        return VOLUME_NODE_CONFLICT
    name = _md(node).get("name", "")
    candidates = list(volumes) if needs.delayed else []
    for claim in needs.delayed:
        selected = _annotations(claim).get(SELECTED_NODE)
        if selected:
            if selected != name:
                return VOLUME_NODE_CONFLICT
            continue
        if find_volume(claim, candidates, node, delayed=True) is not None:
            continue
        provisioner = (classes.get(storage.claim_class(claim) or "") or {}).get("provisioner")
        if provisioner == LOCAL_PATH_PROVISIONER and _annotations(node).get(LOCAL_PATH_ROOT_ANNOTATION):
            continue
        if provisioner not in (LOCAL_PATH_PROVISIONER, NO_PROVISIONER):
            continue  # an external provisioner is trusted to reach every node
        return NO_VOLUME_TO_BIND
    return None
