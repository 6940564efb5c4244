"""Every kind of the issue through kubectl: create from a manifest, get with its Table columns, delete."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from kubectl_helpers import (
    Kubectl,
    Obj,
    configmap,
    daemonset,
    deployment,
    header,
    job,
    node,
    pod,
    replicaset,
    replicationcontroller,
    row,
    service,
    statefulset,
    table,
    to_yaml,
    wait_for,
)

from minikube_py.testing import RunningServer

pytestmark = pytest.mark.kubectl


def _endpoints(name: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": name},
        "subsets": [{"addresses": [{"ip": "10.244.0.5"}], "ports": [{"port": 80, "protocol": "TCP"}]}],
    }


def _cronjob(name: str) -> Obj:
    template = job(name)["spec"]
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name},
        "spec": {"schedule": "0 0 1 1 *", "timeZone": "Europe/Berlin", "jobTemplate": {"spec": template}},
    }


def _secret(name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": {"a": "1", "b": "2"}}


def _event(name: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name},
        "involvedObject": {"kind": "Pod", "name": "somepod", "apiVersion": "v1"},
        "reason": "Pulled",
        "message": "image pulled",
        "type": "Normal",
        "count": 1,
        "source": {"component": "kubelet"},
        "firstTimestamp": "2026-01-01T00:00:00Z",
        "lastTimestamp": "2026-01-01T00:00:00Z",
    }


def _serviceaccount(name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}


def _controllerrevision(name: str) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {"name": name},
        "data": {"spec": {"template": {"$patch": "replace"}}},
        "revision": 4,
    }


def _lease(name: str) -> Obj:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name},
        "spec": {"holderIdentity": "me", "leaseDurationSeconds": 40},
    }


def _endpointslice(name: str) -> Obj:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "labels": {"kubernetes.io/service-name": "svc"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.244.0.7"], "conditions": {"ready": True}}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }


def _persistentvolume(name: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/srv/x"}},
    }


def _persistentvolumeclaim(name: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }


def _storageclass(name: str) -> Obj:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": name},
        "provisioner": "example.com/disk",
    }


def _ingress(name: str) -> Obj:
    backend = {"service": {"name": "web", "port": {"number": 80}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name},
        "spec": {
            "rules": [
                {"host": "a.example.com", "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}},
                {"http": {"paths": [{"path": "/b", "pathType": "Exact", "backend": backend}]}},
            ],
            "tls": [{"hosts": ["a.example.com"], "secretName": "a-cert"}],
        },
    }


def _priorityclass(name: str) -> Obj:
    return {
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": {"name": name},
        "value": 1000,
        "preemptionPolicy": "Never",
    }


def _runtimeclass(name: str) -> Obj:
    return {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": name}, "handler": "runc"}


def _podtemplate(name: str) -> Obj:
    labels = {"app": "templated", "tier": "web"}
    return {
        "apiVersion": "v1",
        "kind": "PodTemplate",
        "metadata": {"name": name},
        "template": {"metadata": {"labels": labels}, "spec": pod(name)["spec"]},
    }


def _storage(kind: str, name: str, **fields: Any) -> Obj:
    return {"apiVersion": "storage.k8s.io/v1", "kind": kind, "metadata": {"name": name}, **fields}


def _csidriver(name: str) -> Obj:
    return _storage("CSIDriver", name, spec={})


def _csinode(name: str) -> Obj:
    return _storage("CSINode", name, spec={"drivers": [{"name": "hostpath.csi.k8s.io", "nodeID": name}]})


def _volumeattachment(name: str, **spec: Any) -> Obj:
    source = {"persistentVolumeName": "pv-1"}
    return _storage(
        "VolumeAttachment", name, spec={"attacher": "hostpath.csi.k8s.io", "nodeName": "n1", "source": source, **spec}
    )


def _storagecapacity(name: str) -> Obj:
    return _storage("CSIStorageCapacity", name, storageClassName="fast", capacity="10Gi")


def _ingressclass(name: str) -> Obj:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {"name": name},
        "spec": {
            "controller": "example.com/ingress",
            "parameters": {"apiGroup": "example.com", "kind": "Params", "name": "p"},
        },
    }


def _namespace(name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


@dataclass(frozen=True)
class Kind:
    resource: str  # as typed on the command line
    printed: str  # the "<resource>/<name>" prefix kubectl prints
    manifest: Callable[[str], Obj]
    columns: list[str]
    wide: list[str]  # the extra -o wide columns
    cells: dict[str, str]  # expected cells of the new object's row, by column, once its controller acted
    namespaced: bool = True
    wide_order: tuple[str, ...] = ()  # the -o wide header when wide columns are interleaved

    @property
    def wide_header(self) -> list[str]:
        return list(self.wide_order) or self.columns + self.wide


KINDS = [
    Kind(
        "pods",
        "pod",
        pod,
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"],
        {"READY": "0/1", "STATUS": "Pending"},
    ),
    Kind(
        "services",
        "service",
        service,
        ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"],
        ["SELECTOR"],
        {"TYPE": "ClusterIP", "PORT(S)": "80/TCP"},
    ),
    Kind("endpoints", "endpoints", _endpoints, ["NAME", "ENDPOINTS", "AGE"], [], {"ENDPOINTS": "10.244.0.5:80"}),
    Kind(
        "replicationcontrollers",
        "replicationcontroller",
        replicationcontroller,
        ["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
        ["CONTAINERS", "IMAGES", "SELECTOR"],
        {"DESIRED": "1", "CURRENT": "1", "READY": "0"},
    ),
    Kind("secrets", "secret", _secret, ["NAME", "TYPE", "DATA", "AGE"], [], {"TYPE": "Opaque", "DATA": "2"}),
    Kind("configmaps", "configmap", configmap, ["NAME", "DATA", "AGE"], [], {"DATA": "1"}),
    Kind(
        "events",
        "event",
        _event,
        ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
        ["SUBOBJECT", "SOURCE", "FIRST SEEN", "COUNT", "NAME"],
        {"TYPE": "Normal", "REASON": "Pulled", "OBJECT": "pod/somepod", "MESSAGE": "image pulled"},
        wide_order=(
            "LAST SEEN",
            "TYPE",
            "REASON",
            "OBJECT",
            "SUBOBJECT",
            "SOURCE",
            "MESSAGE",
            "FIRST SEEN",
            "COUNT",
            "NAME",
        ),
    ),
    Kind("serviceaccounts", "serviceaccount", _serviceaccount, ["NAME", "SECRETS", "AGE"], [], {"SECRETS": "0"}),
    Kind(
        "deployments",
        "deployment.apps",
        deployment,
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        ["CONTAINERS", "IMAGES", "SELECTOR"],
        {"READY": "0/1", "UP-TO-DATE": "1", "AVAILABLE": "0"},
    ),
    Kind(
        "replicasets",
        "replicaset.apps",
        replicaset,
        ["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
        ["CONTAINERS", "IMAGES", "SELECTOR"],
        {"DESIRED": "1", "CURRENT": "1", "READY": "0"},
    ),
    Kind(
        "daemonsets",
        "daemonset.apps",
        daemonset,
        ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR", "AGE"],
        ["CONTAINERS", "IMAGES", "SELECTOR"],
        {"DESIRED": "0", "NODE SELECTOR": "<none>"},
    ),
    Kind(
        "statefulsets",
        "statefulset.apps",
        statefulset,
        ["NAME", "READY", "AGE"],
        ["CONTAINERS", "IMAGES"],
        {"READY": "0/1"},
    ),
    Kind(
        "controllerrevisions",
        "controllerrevision.apps",
        _controllerrevision,
        ["NAME", "CONTROLLER", "REVISION", "AGE"],
        [],
        {"CONTROLLER": "<none>", "REVISION": "4"},
    ),
    Kind(
        "jobs",
        "job.batch",
        job,
        ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"],
        ["CONTAINERS", "IMAGES", "SELECTOR"],
        {"STATUS": "Running", "COMPLETIONS": "0/1"},
    ),
    Kind(
        "cronjobs",
        "cronjob.batch",
        _cronjob,
        ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"],
        ["CONTAINERS", "IMAGES", "SELECTOR"],
        {
            "SCHEDULE": "0 0 1 1 *",
            "TIMEZONE": "Europe/Berlin",
            "SUSPEND": "False",
            "ACTIVE": "0",
            "LAST SCHEDULE": "<none>",
        },
    ),
    Kind("leases", "lease.coordination.k8s.io", _lease, ["NAME", "HOLDER", "AGE"], [], {"HOLDER": "me"}),
    Kind(
        "endpointslices",
        "endpointslice.discovery.k8s.io",
        _endpointslice,
        ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"],
        [],
        {"ADDRESSTYPE": "IPv4", "PORTS": "8080", "ENDPOINTS": "10.244.0.7"},
    ),
    Kind(
        "ingresses",
        "ingress.networking.k8s.io",
        _ingress,
        ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"],
        [],
        {"CLASS": "pykube", "HOSTS": "a.example.com,*", "ADDRESS": "", "PORTS": "80, 443"},
    ),
    Kind(
        "ingressclasses",
        "ingressclass.networking.k8s.io",
        _ingressclass,
        ["NAME", "CONTROLLER", "PARAMETERS", "AGE"],
        [],
        {"CONTROLLER": "example.com/ingress", "PARAMETERS": "Params.example.com/p"},
        namespaced=False,
    ),
    Kind(
        "priorityclasses",
        "priorityclass.scheduling.k8s.io",
        _priorityclass,
        ["NAME", "VALUE", "GLOBAL-DEFAULT", "AGE", "PREEMPTIONPOLICY"],
        [],
        {"VALUE": "1000", "GLOBAL-DEFAULT": "false", "PREEMPTIONPOLICY": "Never"},
        namespaced=False,
    ),
    Kind(
        "runtimeclasses",
        "runtimeclass.node.k8s.io",
        _runtimeclass,
        ["NAME", "HANDLER", "AGE"],
        [],
        {"HANDLER": "runc"},
        namespaced=False,
    ),
    Kind(
        "podtemplates",
        "podtemplate",
        _podtemplate,
        ["NAME", "CONTAINERS", "IMAGES", "POD LABELS"],
        [],
        {"CONTAINERS": "main", "IMAGES": "nginx:1.27", "POD LABELS": "app=templated,tier=web"},
    ),
    Kind(
        "nodes",
        "node",
        node,
        ["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
        ["INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"],
        {"STATUS": "Ready", "ROLES": "<none>", "VERSION": "v1.32.0"},
        namespaced=False,
    ),
    Kind(
        "persistentvolumes",
        "persistentvolume",
        _persistentvolume,
        [
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
        ],
        ["VOLUMEMODE"],
        {
            "CAPACITY": "1Gi",
            "ACCESS MODES": "RWO",
            "RECLAIM POLICY": "Retain",
            "STATUS": "Available",
            "CLAIM": "",
            "STORAGECLASS": "",
            "VOLUMEATTRIBUTESCLASS": "<unset>",
        },
        namespaced=False,
    ),
    Kind(
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        _persistentvolumeclaim,
        ["NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "AGE"],
        ["VOLUMEMODE"],
        {"STATUS": "Pending", "VOLUME": "", "STORAGECLASS": "local-path"},
    ),
    Kind(
        "storageclasses",
        "storageclass.storage.k8s.io",
        _storageclass,
        ["NAME", "PROVISIONER", "RECLAIMPOLICY", "VOLUMEBINDINGMODE", "ALLOWVOLUMEEXPANSION", "AGE"],
        [],
        {
            "PROVISIONER": "example.com/disk",
            "RECLAIMPOLICY": "Delete",
            "VOLUMEBINDINGMODE": "Immediate",
            "ALLOWVOLUMEEXPANSION": "false",
        },
        namespaced=False,
    ),
    Kind(
        "csidrivers",
        "csidriver.storage.k8s.io",
        _csidriver,
        [
            "NAME",
            "ATTACHREQUIRED",
            "PODINFOONMOUNT",
            "STORAGECAPACITY",
            "TOKENREQUESTS",
            "REQUIRESREPUBLISH",
            "MODES",
            "AGE",
        ],
        [],
        {
            "ATTACHREQUIRED": "true",
            "PODINFOONMOUNT": "false",
            "STORAGECAPACITY": "false",
            "TOKENREQUESTS": "<unset>",
            "REQUIRESREPUBLISH": "false",
            "MODES": "Persistent",
        },
        namespaced=False,
    ),
    Kind(
        "csinodes",
        "csinode.storage.k8s.io",
        _csinode,
        ["NAME", "DRIVERS", "AGE"],
        [],
        {"DRIVERS": "1"},
        namespaced=False,
    ),
    Kind(
        "volumeattachments",
        "volumeattachment.storage.k8s.io",
        _volumeattachment,
        ["NAME", "ATTACHER", "PV", "NODE", "ATTACHED", "AGE"],
        [],
        {"ATTACHER": "hostpath.csi.k8s.io", "PV": "pv-1", "NODE": "n1", "ATTACHED": "false"},
        namespaced=False,
    ),
    Kind("csistoragecapacities", "csistoragecapacity.storage.k8s.io", _storagecapacity, ["NAME", "CREATED AT"], [], {}),
    Kind("namespaces", "namespace", _namespace, ["NAME", "STATUS", "AGE"], [], {"STATUS": "Active"}, namespaced=False),
]


@pytest.mark.parametrize("kind", KINDS, ids=[kind.resource for kind in KINDS])
def test_create_get_delete(kind: Kind, k: Kubectl, server: RunningServer) -> None:
    name = f"obj-{k.namespace[-4:]}"
    run = k.run if kind.namespaced else server.kubectl
    assert (
        run("create", "-f", "-", input=to_yaml(kind.manifest(name))).stdout.strip() == f"{kind.printed}/{name} created"
    )
    try:

        def cells() -> dict[str, str]:
            out = run("get", kind.resource, name).stdout
            assert header(out) == kind.columns
            row_cells = dict(zip(kind.columns, _row_of(out, name, kind), strict=True))
            return {col: row_cells[col] for col in kind.cells}

        # workloads show what their controller made of them (pods created, none ready: no kubelet)
        wait_for(cells, lambda seen: seen == kind.cells, f"the {kind.resource} row never showed {kind.cells}")
        wide = run("get", kind.resource, name, "-o", "wide").stdout
        assert header(wide) == kind.wide_header
        names = run("get", kind.resource, "-o", "name").stdout.split()
        assert f"{kind.printed}/{name}" in names
    finally:
        deleted = run("delete", kind.resource, name, "--timeout=30s").stdout.strip()
    assert deleted == f'{kind.printed} "{name}" deleted'
    done = run("get", kind.resource, name, check=False)
    assert done.returncode == 1 and "(NotFound)" in done.stderr


def _row_of(out: str, name: str, kind: Kind) -> list[str]:
    """Events print their name only with -o wide; the namespace holds just that one event."""
    if "NAME" in kind.columns:
        return row(out, name, column=kind.columns.index("NAME"))
    rows = table(out)[1:]
    assert len(rows) == 1, out
    return rows[0]


def test_events_wide_name_column(k: Kubectl) -> None:
    k.apply(_event("ev-wide"), verb="create")
    out = k.out("get", "events", "-o", "wide")
    cols = header(out)
    assert row(out, "ev-wide", column=cols.index("NAME"))[cols.index("SOURCE")] == "kubelet"


def test_get_all_lists_workload_kinds(k: Kubectl) -> None:
    k.apply(
        pod("a"), service("a"), deployment("a"), replicaset("a"), daemonset("a"), job("a"), replicationcontroller("a")
    )
    names = set(k.out("get", "all", "-o", "name").split())
    assert {
        "pod/a",
        "service/a",
        "deployment.apps/a",
        "replicaset.apps/a",
        "daemonset.apps/a",
        "job.batch/a",
        "replicationcontroller/a",
    } <= names

    def controllers_of(kind: str, items: list[Obj]) -> list[str]:
        return sorted(
            f"{ref['kind']}/{ref['name']}"
            for item in items
            if item["kind"] == kind
            for ref in item["metadata"].get("ownerReferences") or []
            if ref.get("controller")
        )

    # `get all` also lists what the controllers made: the Deployment's ReplicaSet, and a pod for each
    # ReplicaSet, the ReplicationController and the Job (the DaemonSet has no node to run on)
    items = wait_for(
        lambda: k.json("get", "all")["items"],
        lambda seen: controllers_of("ReplicaSet", seen) == ["Deployment/a"] and len(controllers_of("Pod", seen)) == 4,
        "the controllers never made the ReplicaSet and four pods",
    )
    made_by_deployment = next(
        i["metadata"]["name"] for i in items if i["kind"] == "ReplicaSet" and i["metadata"].get("ownerReferences")
    )
    assert controllers_of("Pod", items) == sorted(
        ["Job/a", "ReplicaSet/a", f"ReplicaSet/{made_by_deployment}", "ReplicationController/a"]
    )


def test_short_names(k: Kubectl) -> None:
    k.apply(configmap("short"), service("short"), deployment("short"))
    for short, printed in (("cm", "configmap/short"), ("svc", "service/short"), ("deploy", "deployment.apps/short")):
        assert k.lines("get", short, "short", "-o", "name") == [printed]


def test_a_pod_template_is_validated_patched_and_counts_its_generations(k: Kubectl) -> None:
    """A PodTemplate's template is a pod template as any workload's: validated as one (every restart
    policy allowed), merged by container name, and its generation follows the template alone."""
    k.apply(_podtemplate("tpl"))
    assert k.json("get", "podtemplate", "tpl")["metadata"]["generation"] == 1
    stored = k.json("get", "podtemplate", "tpl")["template"]["spec"]
    assert (stored["restartPolicy"], stored["dnsPolicy"]) == ("Always", "ClusterFirst")  # defaulted as any pod spec
    k.run("label", "podtemplate", "tpl", "owner=me")
    assert k.json("get", "podtemplate", "tpl")["metadata"]["generation"] == 1
    patch = '{"template": {"spec": {"containers": [{"name": "main", "image": "nginx:1.28"}]}}}'
    k.run("patch", "podtemplate", "tpl", "-p", patch)
    changed = k.json("get", "podtemplate", "tpl")
    assert changed["metadata"]["generation"] == 2
    assert [(c["name"], c["image"]) for c in changed["template"]["spec"]["containers"]] == [("main", "nginx:1.28")]
    broken = _podtemplate("broken")
    broken["template"]["spec"]["containers"] = []
    broken["template"]["spec"]["restartPolicy"] = "Sometimes"
    refused = k.fails("create", "-f", "-", input=to_yaml(broken))
    assert 'The PodTemplate "broken" is invalid: ' in refused.stderr
    assert "template.spec.containers: Required value" in refused.stderr
    assert 'template.spec.restartPolicy: Unsupported value: "Sometimes"' in refused.stderr
    once = _podtemplate("once")
    once["template"]["spec"]["restartPolicy"] = "Never"
    assert k.apply(once) == ["podtemplate/once created"]


def test_csi_kinds_keep_what_is_fixed(k: Kubectl, server: RunningServer) -> None:
    """What a CSI driver's deployment meets: its CSIDriver defaulted and partly immutable, attachments whose
    status only the attacher writes, capacities in a namespace (each node's CSINode, which its agent makes:
    tests/integration/test_node_authorization.py)."""
    name = f"{k.namespace}.csi.example.com"
    server.kubectl("create", "-f", "-", input=to_yaml(_csidriver(name)))
    va = f"va-{k.namespace[-4:]}"
    try:
        created = json.loads(server.kubectl("get", "csidriver", name, "-o", "json").stdout)
        assert (created["spec"]["fsGroupPolicy"], created["metadata"]["generation"]) == ("ReadWriteOnceWithFSType", 1)
        server.kubectl("patch", "csidriver", name, "-p", '{"spec": {"podInfoOnMount": true}}')
        assert json.loads(server.kubectl("get", "csidriver", name, "-o", "json").stdout)["metadata"]["generation"] == 2
        refused = server.kubectl("patch", "csidriver", name, "-p", '{"spec": {"attachRequired": false}}', check=False)
        assert (
            f'The CSIDriver "{name}" is invalid: spec.attachedRequired: Invalid value: false: field is immutable'
            in (refused.stderr)
        )
        server.kubectl("create", "-f", "-", input=to_yaml({**_volumeattachment(va), "status": {"attached": True}}))
        assert server.kubectl("get", "volumeattachment", va, "-o", "jsonpath={.status}").stdout == '{"attached":false}'
        server.kubectl("patch", "volumeattachment", va, "--subresource=status", "-p", '{"status": {"attached": true}}')
        assert server.kubectl("get", "volumeattachment", va, "-o", "jsonpath={.status.attached}").stdout == "true"
        moved = server.kubectl("patch", "volumeattachment", va, "-p", '{"spec": {"nodeName": "n2"}}', check=False)
        assert f'The VolumeAttachment "{va}" is invalid: spec: Invalid value: ' in moved.stderr
        assert "field is immutable" in moved.stderr
        both = _volumeattachment("va-both", source={"persistentVolumeName": "pv", "inlineVolumeSpec": {}})
        refused = server.kubectl("create", "-f", "-", input=to_yaml(both), check=False)
        assert "spec.source: Forbidden: must specify exactly one of inlineVolumeSpec and persistentVolumeName" in (
            refused.stderr
        )
    finally:
        server.kubectl("delete", "csidriver", name, "--ignore-not-found")
        server.kubectl("delete", "volumeattachment", va, "--ignore-not-found")
    negative = {**_storagecapacity("low"), "capacity": "-1Gi"}
    refused = k.fails("create", "-f", "-", input=to_yaml(negative))
    assert 'capacity: Invalid value: "-1Gi": must be greater than or equal to 0' in refused.stderr
    explained = server.kubectl("explain", "csidriver.spec.fsGroupPolicy").stdout
    assert "FIELD: fsGroupPolicy <string>" in explained
