"""The CSI kinds of storage.k8s.io/v1 (model/csi.py): kube-apiserver's defaults, validation and
update rules, the CSINode an agent makes for its node, and the kinds' table rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from minikube_py.api.tables import storage as printers
from minikube_py.model import csi
from minikube_py.model.kindrules import rules_of

Obj = dict[str, Any]
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def messages(errors: list[Any]) -> list[str]:
    return [e.render() for e in errors]


def driver(**spec: Any) -> Obj:
    obj = {"metadata": {"name": "hostpath.csi.k8s.io"}, "spec": spec}
    csi.default_csi_driver(obj)
    return obj


def test_a_driver_that_says_nothing_gets_kube_apiservers_defaults() -> None:
    assert driver()["spec"] == {
        "attachRequired": True,
        "podInfoOnMount": False,
        "storageCapacity": False,
        "fsGroupPolicy": "ReadWriteOnceWithFSType",
        "requiresRepublish": False,
        "seLinuxMount": False,
        "volumeLifecycleModes": ["Persistent"],
    }
    said = driver(attachRequired=False, volumeLifecycleModes=["Ephemeral"], fsGroupPolicy="File")["spec"]
    assert (said["attachRequired"], said["volumeLifecycleModes"], said["fsGroupPolicy"]) == (
        False,
        ["Ephemeral"],
        "File",
    )


def test_driver_validation_in_kube_apiservers_words() -> None:
    bad = driver(
        fsGroupPolicy="Sometimes",
        volumeLifecycleModes=["Persistent", "Forever"],
        tokenRequests=[
            {"audience": "vault", "expirationSeconds": 60},
            {"audience": "vault"},
            {"expirationSeconds": 1 << 33},
        ],
    )
    assert messages(csi.validate_csi_driver(bad)) == [
        'spec.fsGroupPolicy: Unsupported value: "Sometimes": supported values: "File", "None", "ReadWriteOnceWithFSType"',
        'spec.volumeLifecycleModes[1]: Unsupported value: "Forever": supported values: "Persistent", "Ephemeral"',
        "spec.tokenRequests[0].expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes",
        'spec.tokenRequests[1].audience: Duplicate value: "vault"',
        "spec.tokenRequests[2].expirationSeconds: Invalid value: 8589934592: may not specify a duration larger than "
        "2^32 seconds",
    ]
    assert (
        csi.validate_csi_driver(driver(tokenRequests=[{"audience": "a"}, {"audience": "b", "expirationSeconds": 600}]))
        == []
    )


def test_attaching_and_lifecycle_modes_are_fixed_the_rest_may_change() -> None:
    old = driver()
    assert csi.validate_csi_driver_update(driver(podInfoOnMount=True, fsGroupPolicy="None"), old) == []
    assert messages(csi.validate_csi_driver_update(driver(attachRequired=False), old)) == [
        "spec.attachedRequired: Invalid value: false: field is immutable"
    ]
    assert messages(csi.validate_csi_driver_update(driver(volumeLifecycleModes=["Ephemeral"]), old)) == [
        'spec.volumeLifecycleModes: Invalid value: []string{"Ephemeral"}: field is immutable'
    ]


def test_the_agents_csi_node_is_named_for_and_owned_by_its_node() -> None:
    made = csi.csi_node({"metadata": {"name": "n1", "uid": "u-1", "labels": {"a": "b"}}})
    assert made == {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "CSINode",
        "metadata": {
            "name": "n1",
            "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": "n1", "uid": "u-1"}],
        },
        "spec": {"drivers": []},
    }
    assert csi.validate_csi_node(made) == []


def csi_node(*drivers: Obj) -> Obj:
    return {"metadata": {"name": "n1"}, "spec": {"drivers": list(drivers)}}


def test_csi_node_drivers_are_named_once_with_an_id_and_valid_topology() -> None:
    good = {"name": "Hostpath.CSI.k8s.io", "nodeID": "n1", "topologyKeys": ["topology.hostpath/node"]}
    assert csi.validate_csi_node(csi_node(good, {**good, "name": "b", "allocatable": {"count": 3}})) == []
    problems = messages(
        csi.validate_csi_node(
            csi_node(
                good,
                {**good, "nodeID": "x" * 257},
                {"name": "d" * 64, "nodeID": ""},
                {"name": "c", "nodeID": "n1", "topologyKeys": ["zone", "zone", "", "bad key"]},
                {"name": "e", "nodeID": "n1", "allocatable": {"count": -1}},
            )
        )
    )
    assert problems[0] == 'spec.drivers[1].name: Duplicate value: "Hostpath.CSI.k8s.io"'
    assert problems[1] == f'spec.drivers[1].nodeID: Invalid value: "{"x" * 257}": must be 256 characters or less'
    assert problems[2] == "spec.drivers[2].name: Too long: may not be more than 63 bytes"
    assert problems[3] == "spec.drivers[2].nodeID: Required value"
    assert problems[4:6] == ['spec.drivers[3]: Duplicate value: "zone"', "spec.drivers[3]: Required value"]
    assert problems[6].startswith('spec.drivers[3]: Invalid value: "bad key": name part must consist of')
    assert problems[7] == "spec.drivers[4].allocatable.count: Invalid value: -1: must be greater than or equal to 0"
    assert len(problems) == 8


def test_a_registered_drivers_entry_does_not_change_but_drivers_come_and_go() -> None:
    entry = {"name": "a", "nodeID": "n1"}
    old = csi_node(entry)
    assert csi.validate_csi_node_update(csi_node(entry, {"name": "b", "nodeID": "n1"}), old) == []
    assert csi.validate_csi_node_update(csi_node(), old) == []
    [problem] = csi.validate_csi_node_update(csi_node({"name": "a", "nodeID": "n2"}), old)
    assert (problem.field, problem.message.endswith("field is immutable")) == ("CSINodeDriver", True)


def attachment(source: Obj, **spec: Any) -> Obj:
    return {
        "metadata": {"name": "va"},
        "spec": {"attacher": "hostpath.csi.k8s.io", "nodeName": "n1", "source": source, **spec},
    }


def test_an_attachment_names_exactly_one_source_an_attacher_and_a_node() -> None:
    assert csi.validate_volume_attachment(attachment({"persistentVolumeName": "pv-1"})) == []
    assert csi.validate_volume_attachment(attachment({"inlineVolumeSpec": {"csi": {"driver": "d"}}})) == []
    cases = {
        "none": (
            attachment({}),
            "spec.source: Required value: must specify exactly one of inlineVolumeSpec and persistentVolumeName",
        ),
        "both": (
            attachment({"persistentVolumeName": "pv", "inlineVolumeSpec": {}}),
            "spec.source: Forbidden: must specify exactly one of inlineVolumeSpec and persistentVolumeName",
        ),
        "empty": (
            attachment({"persistentVolumeName": ""}),
            "spec.source.persistentVolumeName: Required value: must specify non empty persistentVolumeName",
        ),
        "attacher": (attachment({"persistentVolumeName": "pv"}, attacher=""), "spec.attacher: Required value"),
    }
    for case, (obj, message) in cases.items():
        assert messages(csi.validate_volume_attachment(obj)) == [message], case
    [node] = messages(csi.validate_volume_attachment(attachment({"persistentVolumeName": "pv"}, nodeName="")))
    assert node.startswith('spec.nodeName: Invalid value: "": a lowercase RFC 1123 subdomain')
    long = attachment({"persistentVolumeName": "pv"})
    long["status"] = {"attachError": {"message": "x" * 1025}}
    assert messages(csi.validate_volume_attachment(long)) == [
        "status.attachError.message: Too long: may not be more than 1024 bytes"
    ]


def test_an_attachments_spec_never_changes() -> None:
    old = attachment({"persistentVolumeName": "pv"})
    assert csi.validate_volume_attachment_update({**old, "status": {"attached": True}}, old) == []
    [problem] = csi.validate_volume_attachment_update(attachment({"persistentVolumeName": "pv"}, nodeName="n2"), old)
    assert (problem.field, problem.message.endswith("field is immutable")) == ("spec", True)


def capacity(**fields: Any) -> Obj:
    return {"metadata": {"name": "c", "namespace": "kube-system"}, "storageClassName": "fast", **fields}


def test_storage_capacity_rules() -> None:
    assert csi.validate_storage_capacity(capacity(capacity="10Gi", maximumVolumeSize="-1")) == []
    assert messages(csi.validate_storage_capacity(capacity(capacity="-1Gi"))) == [
        'capacity: Invalid value: "-1Gi": must be greater than or equal to 0'
    ]
    bad = messages(
        csi.validate_storage_capacity(capacity(storageClassName="", nodeTopology={"matchLabels": {"a": "b c"}}))
    )
    assert bad[0].startswith('storageClassName: Invalid value: "": a lowercase RFC 1123 subdomain')
    assert bad[1].startswith('nodeTopology.matchLabels: Invalid value: "b c"')
    old = capacity(nodeTopology={"matchLabels": {"zone": "a"}})
    assert csi.validate_storage_capacity_update({**old, "capacity": "1Gi"}, old) == []
    assert [p.field for p in csi.validate_storage_capacity_update(capacity(storageClassName="slow"), old)] == [
        "nodeTopology",
        "storageClassName",
    ]


@pytest.mark.parametrize(
    ("kind", "namespaced", "generation"),
    [
        ("CSIDriver", False, True),
        ("CSINode", False, False),
        ("VolumeAttachment", False, False),
        ("CSIStorageCapacity", True, False),
    ],
)
def test_the_kinds_rules_scope_and_generation(kind: str, namespaced: bool, generation: bool) -> None:
    rules = rules_of(kind)
    assert (rules.namespaced, rules.tracks_generation) == (namespaced, generation)


def test_table_rows() -> None:
    md = {"name": "x", "creationTimestamp": "2026-12-07T11:00:00Z"}
    spec = {**driver()["spec"], "tokenRequests": [{"audience": "a"}, {"audience": "b"}]}
    assert printers.CSI_DRIVER.cells({"metadata": md, "spec": spec}, NOW) == [
        "x",
        True,
        False,
        False,
        "a,b",
        False,
        "Persistent",
        "60m",
    ]
    assert printers.CSI_DRIVER.cells({"metadata": md, "spec": {}}, NOW)[1:7] == [
        True,
        False,
        False,
        "<unset>",
        False,
        "<none>",
    ]
    assert printers.CSI_NODE.cells({"metadata": md, "spec": {"drivers": [{}, {}]}}, NOW) == ["x", 2, "60m"]
    va = attachment({"persistentVolumeName": "pv-1"})
    assert printers.VOLUME_ATTACHMENT.cells({**va, "metadata": md, "status": {"attached": True}}, NOW) == [
        "x",
        "hostpath.csi.k8s.io",
        "pv-1",
        "n1",
        True,
        "60m",
    ]
    assert printers.STORAGE_CAPACITY.cells({"metadata": md}, NOW) == ["x", "2026-12-07T11:00:00Z"]
