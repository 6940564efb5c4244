"""PersistentVolumes, PersistentVolumeClaims and StorageClasses: Kubernetes' defaults, validation
causes and the cells of ``kubectl get pv,pvc,sc``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from minikube_py.api.tables import column_definitions, table_row
from minikube_py.model.kindrules import rules_of
from minikube_py.model.kinds import RESOURCES
from minikube_py.model.schema import unknown_fields

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
RT = {rt.kind: rt for rt in RESOURCES}
CREATED = (NOW - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")


def pv(name: str = "pv1", **spec: Any) -> dict[str, Any]:
    body = {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/data/pv1"}, **spec}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name, "creationTimestamp": CREATED},
        "spec": body,
    }


def pvc(name: str = "data", **spec: Any) -> dict[str, Any]:
    body = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "500Mi"}}, **spec}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": "default", "creationTimestamp": CREATED},
        "spec": body,
    }


def sc(name: str = "fast", **fields: Any) -> dict[str, Any]:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": name, "creationTimestamp": CREATED},
        "provisioner": "example.com/disk",
        **fields,
    }


def causes(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    rules = rules_of(obj["kind"])
    obj = rules.defaulted(obj)
    return [e.render() for e in rules.validate(obj, rules.defaulted(old) if old else None)]


def cells(obj: dict[str, Any]) -> list[Any]:
    return table_row(RT[obj["kind"]], obj, now=NOW)["cells"]


def headers(kind: str, wide: bool = False) -> list[str]:
    return [c["name"].upper() for c in column_definitions(RT[kind]) if wide or c["priority"] == 0]


def test_kinds_scope_short_names_and_group() -> None:
    assert (RT["PersistentVolume"].namespaced, RT["PersistentVolume"].short_names) == (False, ("pv",))
    assert (RT["PersistentVolumeClaim"].namespaced, RT["PersistentVolumeClaim"].short_names) == (True, ("pvc",))
    assert RT["StorageClass"].api_version == "storage.k8s.io/v1" and not RT["StorageClass"].namespaced
    assert RT["PersistentVolume"].has_status and RT["PersistentVolumeClaim"].has_status
    assert not RT["StorageClass"].has_status


def test_defaults_as_kubernetes() -> None:
    volume = rules_of("PersistentVolume").defaulted({**pv(), "status": {}})
    assert volume["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert volume["spec"]["volumeMode"] == "Filesystem"
    assert volume["spec"]["hostPath"] == {"path": "/data/pv1", "type": ""}
    assert volume["status"]["phase"] == "Pending"
    claim = rules_of("PersistentVolumeClaim").defaulted({**pvc(), "status": {}})
    assert claim["spec"]["volumeMode"] == "Filesystem" and claim["status"]["phase"] == "Pending"
    assert "storageClassName" not in claim["spec"]  # the default class is admission's, not defaulting's
    klass = rules_of("StorageClass").defaulted(sc())
    assert (klass["reclaimPolicy"], klass["volumeBindingMode"]) == ("Delete", "Immediate")
    kept = rules_of("StorageClass").defaulted(sc(reclaimPolicy="Retain", volumeBindingMode="WaitForFirstConsumer"))
    assert (kept["reclaimPolicy"], kept["volumeBindingMode"]) == ("Retain", "WaitForFirstConsumer")


def test_valid_objects_pass() -> None:
    assert causes(pv()) == []
    assert (
        causes(
            pv(
                local={"path": "/mnt/disk"},
                hostPath=None,
                nodeAffinity={
                    "required": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {"key": "kubernetes.io/hostname", "operator": "In", "values": ["n1"]}
                                ]
                            }
                        ]
                    }
                },
            )
        )
        == []
    )
    assert causes(pv(nfs={"server": "10.0.0.1", "path": "/exports"}, hostPath=None)) == []
    assert causes(pvc(storageClassName="fast", selector={"matchLabels": {"tier": "db"}})) == []
    assert causes(sc(volumeBindingMode="WaitForFirstConsumer")) == []


def test_persistent_volume_causes() -> None:
    bad = pv(
        accessModes=[],
        capacity={},
        persistentVolumeReclaimPolicy="Keep",
        volumeMode="Raw",
        storageClassName="Bad_Name",
        hostPath=None,
    )
    assert causes(bad) == [
        "spec.accessModes: Required value",
        "spec.capacity: Required value",
        'spec.capacity: Unsupported value: "": supported values: "storage"',
        'spec.persistentVolumeReclaimPolicy: Unsupported value: "Keep": supported values: "Delete", "Recycle", '
        '"Retain"',
        'spec.storageClassName: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case '
        "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. "
        "'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        'spec.volumeMode: Unsupported value: "Raw": supported values: "Block", "Filesystem"',
        "spec: Required value: must specify a volume type",
    ]
    assert causes(pv(accessModes=["ReadWriteSometimes"], capacity={"storage": "0"})) == [
        'spec.accessModes: Unsupported value: "ReadWriteSometimes": supported values: "ReadOnlyMany", '
        '"ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"',
        'spec.capacity[storage]: Invalid value: "0": must be greater than zero',
    ]
    assert causes(pv(local={"path": "data"}, hostPath=None)) == [
        'spec.local.path: Invalid value: "data": must be an absolute path',
        "spec.nodeAffinity: Required value: Local volume requires node affinity",
    ]
    assert causes(pv(nfs={"path": "/x"})) == ["spec.nfs: Forbidden: may not specify more than 1 volume type"]
    assert causes(pv(nodeAffinity={"required": {"nodeSelectorTerms": []}})) == [
        "spec.nodeAffinity.required.nodeSelectorTerms: Required value: must have at least one node selector term"
    ]
    assert causes(pv(accessModes=["ReadWriteOncePod", "ReadWriteOnce"])) == [
        "spec.accessModes: Forbidden: may not use ReadWriteOncePod with other access modes"
    ]


def test_persistent_volume_source_and_mode_are_immutable() -> None:
    assert causes(pv(hostPath={"path": "/elsewhere"}), pv()) == [
        "spec.persistentvolumesource: Forbidden: spec.persistentvolumesource is immutable after creation"
    ]
    moved = pv()
    moved["spec"]["claimRef"] = {"namespace": "default", "name": "data"}
    assert causes(moved, pv()) == []


def test_claim_causes() -> None:
    assert causes(pvc(accessModes=None, resources={})) == [
        "spec.accessModes: Required value: at least 1 access mode is required",
        "spec.resources[storage]: Required value",
    ]
    assert causes(pvc(resources={"requests": {"storage": "lots"}})) == [
        'spec.resources[storage]: Invalid value: "lots": quantities must match the regular expression '
        "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    ]


def test_claim_spec_is_immutable_but_the_binder_sets_volume_name_once() -> None:
    old = pvc()
    bound = pvc(volumeName="pv1")
    assert causes(bound, old) == []
    assert causes(pvc(volumeName="pv2"), bound) == [
        "spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName "
        "for bound claims"
    ]
    assert causes(pvc(accessModes=["ReadWriteMany"]), old) != []
    assert causes(pvc(storageClassName="fast"), old) == []  # a class filled in where none was named
    grown = pvc(volumeName="pv1", resources={"requests": {"storage": "1Gi"}})
    assert causes(grown, bound) != []  # not bound yet: the request is fixed
    bound_status = {**bound, "status": {"phase": "Bound", "capacity": {"storage": "500Mi"}}}
    assert causes(grown, bound_status) == []


def test_storage_class_causes() -> None:
    assert causes(sc(provisioner="", reclaimPolicy="Recycle", volumeBindingMode="Later")) == [
        "provisioner: Required value",
        'reclaimPolicy: Unsupported value: "Recycle": supported values: "Delete", "Retain"',
        'volumeBindingMode: Unsupported value: "Later": supported values: "Immediate", "WaitForFirstConsumer"',
    ]
    assert causes(sc(provisioner="other.io/x"), sc()) == [
        "provisioner: Forbidden: updates to provisioner are forbidden."
    ]
    assert causes(sc(volumeBindingMode="WaitForFirstConsumer"), sc()) == [
        'volumeBindingMode: Invalid value: "WaitForFirstConsumer": field is immutable'
    ]
    labelled = sc()
    labelled["metadata"]["labels"] = {"a": "b"}
    assert causes(labelled, sc()) == []


def test_headers_as_kubectl_shows_them() -> None:
    assert headers("PersistentVolume") == [
        "NAME",
        "CAPACITY",
        "ACCESS MODES",
        "RECLAIM POLICY",
        "STATUS",
        "CLAIM",
        "STORAGECLASS",
        "VOLUMEATTRIBUTESCLASS",
        "REASON",
        "AGE",
    ]
    assert headers("PersistentVolume", wide=True)[-1] == "VOLUMEMODE"
    assert headers("PersistentVolumeClaim") == [
        "NAME",
        "STATUS",
        "VOLUME",
        "CAPACITY",
        "ACCESS MODES",
        "STORAGECLASS",
        "VOLUMEATTRIBUTESCLASS",
        "AGE",
    ]
    assert headers("StorageClass") == [
        "NAME",
        "PROVISIONER",
        "RECLAIMPOLICY",
        "VOLUMEBINDINGMODE",
        "ALLOWVOLUMEEXPANSION",
        "AGE",
    ]


def test_persistent_volume_cells() -> None:
    volume = rules_of("PersistentVolume").defaulted(
        pv(accessModes=["ReadWriteMany", "ReadWriteOnce"], capacity={"storage": "1024Mi"}, storageClassName="manual")
    )
    volume["status"] = {"phase": "Available"}
    assert cells(volume) == [
        "pv1",
        "1Gi",
        "RWO,RWX",
        "Retain",
        "Available",
        "",
        "manual",
        "<unset>",
        "",
        "5m",
        "Filesystem",
    ]
    volume["spec"]["claimRef"] = {"namespace": "default", "name": "data", "uid": "u"}
    volume["status"] = {"phase": "Bound"}
    volume["metadata"]["deletionTimestamp"] = CREATED
    assert cells(volume)[4:6] == ["Terminating", "default/data"]


@pytest.mark.parametrize(
    ("claim", "expected"),
    [
        ({**pvc(), "status": {"phase": "Pending"}}, ["data", "Pending", "", "", "", "", "<unset>", "5m", "<unset>"]),
        (
            {
                **pvc(volumeName="pv1", storageClassName="manual", volumeMode="Filesystem"),
                "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]},
            },
            ["data", "Bound", "pv1", "1Gi", "RWO", "manual", "<unset>", "5m", "Filesystem"],
        ),
    ],
)
def test_claim_cells(claim: dict[str, Any], expected: list[Any]) -> None:
    assert cells(claim) == expected


def test_storage_class_cells_mark_the_default() -> None:
    klass = rules_of("StorageClass").defaulted(sc("local-path"))
    assert cells(klass) == ["local-path", "example.com/disk", "Delete", "Immediate", False, "5m"]
    klass["metadata"]["annotations"] = {"storageclass.kubernetes.io/is-default-class": "true"}
    klass["allowVolumeExpansion"] = True
    assert cells(klass)[0] == "local-path (default)" and cells(klass)[4] is True


def test_unknown_fields_are_dropped_as_kube_apiserver_drops_them() -> None:
    volume = pv(nfs=None, hostPath={"path": "/x"}, colour="blue")
    assert unknown_fields("PersistentVolume", volume) == ["spec.colour"]
    claim = {**pvc(), "extra": 1}
    assert unknown_fields("PersistentVolumeClaim", claim) == ["extra"]
    klass = sc(fast=True)
    assert unknown_fields("StorageClass", klass) == ["fast"]
    assert unknown_fields("StorageClass", sc(allowVolumeExpansion=True, mountOptions=["ro"])) == []
