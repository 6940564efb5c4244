"""The Container Storage Interface kinds of ``storage.k8s.io/v1``: what a CSI driver needs from the
cluster (CSIDriver), which drivers each node runs (CSINode, made by the node's agent as the kubelet
makes it), which volume is attached to which node (VolumeAttachment, an external attacher's record),
and how much storage a driver offers where (CSIStorageCapacity, which a driver's provisioner
publishes for the scheduler).

pykube runs no CSI driver itself, but drivers deployed into it (their controller as a Deployment,
their node plugin as a DaemonSet) and the Helm charts that ship them create and read these objects,
and ``kubectl get csinodes`` is how an administrator sees what each node can mount. The rules are
kube-apiserver's (``pkg/apis/storage/validation``), pure: the strategies apply them.
"""

from __future__ import annotations

from typing import Any

from minikube_py.model import quantity
from minikube_py.model.errors import FieldError, duplicate, forbidden, invalid_value, not_supported, required
from minikube_py.model.lenient import as_dict, as_list
from minikube_py.model.selectors import dns1123_subdomain_errors, label_key_errors
from minikube_py.model.validation import label_selector_errors

Obj = dict[str, Any]
Errors = list[FieldError]

GROUP = "storage.k8s.io"
FS_GROUP_POLICIES = ("File", "None", "ReadWriteOnceWithFSType")
LIFECYCLE_MODES = ("Persistent", "Ephemeral")
#: a CSI driver's name is its plugin's name on every node: at most 63 bytes
MAX_DRIVER_NAME = 63
#: a node's id in its driver's terms; kube-apiserver allows 256 bytes (the strategy's AllowLongNodeID)
MAX_NODE_ID = 256
#: the longest message an attacher may record of an attach or detach failure
MAX_ERROR_MESSAGE = 1024
#: a token requested for a driver lives ten minutes at least and 2^32 seconds at most
MIN_TOKEN_SECONDS, MAX_TOKEN_SECONDS = 600, 1 << 32
_IMMUTABLE = "field is immutable"


def _subdomain(path: str, value: Any) -> Errors:
    """A name that must be a DNS-1123 subdomain; empty is the pattern's error, as in Kubernetes."""
    text = value if isinstance(value, str) else ""
    return [invalid_value(path, text, msg) for msg in dns1123_subdomain_errors(text)]


def _too_long(path: str, limit: int) -> FieldError:
    return FieldError(path, "FieldValueTooLong", f"Too long: may not be more than {limit} bytes")


def driver_name_errors(name: Any, path: str) -> Errors:
    """``ValidateCSIDriverName``: required, at most 63 bytes, a DNS subdomain once lower-cased (driver
    names such as ``csi.Vendor.com`` are accepted)."""
    if not name or not isinstance(name, str):
        return [required(path)]
    errs = [_too_long(path, MAX_DRIVER_NAME)] if len(name) > MAX_DRIVER_NAME else []
    return errs + [invalid_value(path, name, msg) for msg in dns1123_subdomain_errors(name.lower())]


# ------------------------------------------------------------------------------ CSIDriver


def default_csi_driver(obj: Obj) -> None:
    """``SetDefaults_CSIDriverSpec``: a driver that says nothing needs attaching, wants no pod
    information, offers persistent volumes, and lets the kubelet change a volume's group ownership
    when it is mounted read-write by one node with a filesystem type."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = obj["spec"] = {}
    for key, value in (
        ("attachRequired", True),
        ("podInfoOnMount", False),
        ("storageCapacity", False),
        ("fsGroupPolicy", "ReadWriteOnceWithFSType"),
        ("requiresRepublish", False),
        ("seLinuxMount", False),
    ):
        if spec.get(key) is None:
            spec[key] = value
    if not spec.get("volumeLifecycleModes"):
        spec["volumeLifecycleModes"] = ["Persistent"]


def validate_csi_driver(obj: Obj) -> Errors:
    """``ValidateCSIDriver``: known group policy and lifecycle modes, token requests for distinct
    audiences with lifetimes the token API grants."""
    spec = as_dict(obj.get("spec"))
    errs: Errors = []
    policy = spec.get("fsGroupPolicy")
    if policy is not None and policy not in FS_GROUP_POLICIES:
        errs.append(not_supported("spec.fsGroupPolicy", policy, list(FS_GROUP_POLICIES)))
    for i, mode in enumerate(as_list(spec.get("volumeLifecycleModes"))):
        if mode not in LIFECYCLE_MODES:
            errs.append(not_supported(f"spec.volumeLifecycleModes[{i}]", mode, list(LIFECYCLE_MODES)))
    audiences: set[str] = set()
    for i, request in enumerate(as_list(spec.get("tokenRequests"))):
        request = as_dict(request)
        path = f"spec.tokenRequests[{i}]"
        audience = str(request.get("audience") or "")
        if audience in audiences:
            errs.append(duplicate(f"{path}.audience", audience))
        audiences.add(audience)
        seconds = request.get("expirationSeconds")
        if isinstance(seconds, int) and seconds < MIN_TOKEN_SECONDS:
            errs.append(
                invalid_value(f"{path}.expirationSeconds", seconds, "may not specify a duration less than 10 minutes")
            )
        elif isinstance(seconds, int) and seconds > MAX_TOKEN_SECONDS:
            errs.append(
                invalid_value(
                    f"{path}.expirationSeconds", seconds, "may not specify a duration larger than 2^32 seconds"
                )
            )
    return errs


def validate_csi_driver_update(new: Obj, old: Obj) -> Errors:
    """Whether volumes need attaching, and which kinds of volume the driver offers, are fixed: volumes
    already mounted were set up by them. (kube-apiserver names the first ``spec.attachedRequired``.)"""
    spec, old_spec = as_dict(new.get("spec")), as_dict(old.get("spec"))
    errs: Errors = []
    if spec.get("attachRequired") != old_spec.get("attachRequired"):
        errs.append(invalid_value("spec.attachedRequired", spec.get("attachRequired"), _IMMUTABLE))
    if spec.get("volumeLifecycleModes") != old_spec.get("volumeLifecycleModes"):
        errs.append(invalid_value("spec.volumeLifecycleModes", spec.get("volumeLifecycleModes"), _IMMUTABLE))
    return errs


# ------------------------------------------------------------------------------ CSINode


def csi_node(node: Obj) -> Obj:
    """The CSINode a node's agent creates for itself, as the kubelet does: named for the node, owned by
    it (so it goes with the Node), with no drivers until a driver's node plugin registers."""
    md = node["metadata"]
    owner = {"apiVersion": "v1", "kind": "Node", "name": md["name"], "uid": md["uid"]}
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "CSINode",
        "metadata": {"name": md["name"], "ownerReferences": [owner]},
        "spec": {"drivers": []},
    }


def validate_csi_node(obj: Obj) -> Errors:
    """``ValidateCSINode``: drivers named once each, with a node id, valid distinct topology keys
    (reported at the driver, as kube-apiserver does) and a count that is not negative."""
    errs: Errors = []
    names: set[str] = set()
    for i, driver in enumerate(as_list(as_dict(obj.get("spec")).get("drivers"))):
        driver = as_dict(driver)
        path = f"spec.drivers[{i}]"
        name = driver.get("name")
        errs += driver_name_errors(name, f"{path}.name")
        if isinstance(name, str) and name:
            if name in names:
                errs.append(duplicate(f"{path}.name", name))
            names.add(name)
        node_id = driver.get("nodeID")
        if not node_id:
            errs.append(required(f"{path}.nodeID"))
        elif isinstance(node_id, str) and len(node_id) > MAX_NODE_ID:
            errs.append(invalid_value(f"{path}.nodeID", node_id, f"must be {MAX_NODE_ID} characters or less"))
        keys: set[str] = set()
        for key in as_list(driver.get("topologyKeys")):
            if not key:
                errs.append(required(path))
                continue
            text = str(key)
            if text in keys:
                errs.append(duplicate(path, text))
            keys.add(text)
            errs += [invalid_value(path, text, msg) for msg in label_key_errors(text)]
        count = as_dict(driver.get("allocatable")).get("count")
        if isinstance(count, int) and count < 0:
            errs.append(invalid_value(f"{path}.allocatable.count", count, "must be greater than or equal to 0"))
    return errs


def validate_csi_node_update(new: Obj, old: Obj) -> Errors:
    """Drivers may come and go, but a driver's entry does not change while it stays registered."""
    before = {d.get("name"): d for d in map(as_dict, as_list(as_dict(old.get("spec")).get("drivers")))}
    errs: Errors = []
    for driver in map(as_dict, as_list(as_dict(new.get("spec")).get("drivers"))):
        previous = before.get(driver.get("name"))
        if previous is not None and previous != driver:
            errs.append(invalid_value("CSINodeDriver", driver, _IMMUTABLE))
    return errs


# ------------------------------------------------------------------------------ VolumeAttachment


def validate_volume_attachment(obj: Obj) -> Errors:
    """``ValidateVolumeAttachment`` (v1): an attacher named as a driver is, exactly one source, a node
    name, and error messages of bounded length."""
    spec = as_dict(obj.get("spec"))
    errs = driver_name_errors(spec.get("attacher"), "spec.attacher")
    source = as_dict(spec.get("source"))
    volume, inline = source.get("persistentVolumeName"), source.get("inlineVolumeSpec")
    if volume is None and inline is None:
        errs.append(
            FieldError(
                "spec.source",
                "FieldValueRequired",
                "Required value: must specify exactly one of inlineVolumeSpec and persistentVolumeName",
            )
        )
    elif volume is not None and inline is not None:
        errs.append(forbidden("spec.source", "must specify exactly one of inlineVolumeSpec and persistentVolumeName"))
    elif volume is not None:
        if not volume:
            errs.append(
                FieldError(
                    "spec.source.persistentVolumeName",
                    "FieldValueRequired",
                    "Required value: must specify non empty persistentVolumeName",
                )
            )
        else:
            errs += _subdomain("spec.source.persistentVolumeName", volume)
    errs += _subdomain("spec.nodeName", spec.get("nodeName"))
    return errs + _attachment_status(as_dict(obj.get("status")))


def _attachment_status(status: Obj) -> Errors:
    errs: Errors = []
    for which in ("attachError", "detachError"):
        message = as_dict(status.get(which)).get("message")
        if isinstance(message, str) and len(message) > MAX_ERROR_MESSAGE:
            errs.append(_too_long(f"status.{which}.message", MAX_ERROR_MESSAGE))
    return errs


def validate_volume_attachment_update(new: Obj, old: Obj) -> Errors:
    """What is attached where is the object's identity: the spec never changes."""
    if as_dict(new.get("spec")) != as_dict(old.get("spec")):
        return [invalid_value("spec", new.get("spec"), _IMMUTABLE)]
    return []


# ------------------------------------------------------------------------------ CSIStorageCapacity


def validate_storage_capacity(obj: Obj) -> Errors:
    """``ValidateCSIStorageCapacity``: a storage class name, a valid topology selector, a capacity
    that is not negative (``maximumVolumeSize`` is not checked, as in Kubernetes)."""
    errs = _subdomain("storageClassName", obj.get("storageClassName"))
    topology = obj.get("nodeTopology")
    if topology is not None:
        errs += label_selector_errors(topology, "nodeTopology")
    capacity = obj.get("capacity")
    if capacity is not None:
        try:
            amount = quantity.parse_quantity(capacity)
        except (ValueError, TypeError):
            errs.append(invalid_value("capacity", capacity, quantity.FORMAT_ERROR))
        else:
            if amount < 0:
                errs.append(invalid_value("capacity", str(capacity), "must be greater than or equal to 0"))
    return errs


def validate_storage_capacity_update(new: Obj, old: Obj) -> Errors:
    """Where the storage is and of which class are fixed; how much there is changes."""
    return [
        invalid_value(field, new.get(field), _IMMUTABLE)
        for field in ("nodeTopology", "storageClassName")
        if new.get(field) != old.get(field)
    ]
