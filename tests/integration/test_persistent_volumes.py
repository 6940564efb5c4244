"""Persistent volumes against a real server with the real kubectl: static binding and reclaim, the
default local-path class, WaitForFirstConsumer provisioning through the scheduler on fake nodes,
scheduling held back by missing or unbound claims, and a joined fake-runtime agent that makes a
local-path directory for a pod and removes it once the claim is deleted."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_nodes import in_process_cluster

from minikube_py.testing import ServerEndpoint, eventually

Obj = dict[str, Any]
NS = "default"
NODES = ["stor-n1", "stor-n2"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerEndpoint]:
    with in_process_cluster(tmp_path_factory.mktemp("storage") / "data", NODES) as (running, _):
        yield running


def apply(server: ServerEndpoint, *objs: Obj) -> None:
    server.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objs)}))


def get(server: ServerEndpoint, path: str) -> Obj | None:
    code, body = server.request("GET", path)
    return body if code == 200 else None


def claim(server: ServerEndpoint, name: str) -> Obj | None:
    return get(server, f"/api/v1/namespaces/{NS}/persistentvolumeclaims/{name}")


def volume(server: ServerEndpoint, name: str) -> Obj | None:
    return get(server, f"/api/v1/persistentvolumes/{name}")


def phase(obj: Obj | None) -> str | None:
    return ((obj or {}).get("status") or {}).get("phase")


def pv(name: str, size: str = "1Gi", klass: str = "manual", **spec: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": klass,
            "hostPath": {"path": f"/srv/{name}"},
            **spec,
        },
    }


def pvc(name: str, size: str = "500Mi", klass: str | None = None, **spec: Any) -> Obj:
    body: Obj = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}, **spec}
    if klass is not None:
        body["storageClassName"] = klass
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name}, "spec": body}


def pod(name: str, claim_name: str, **spec: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "pykube.local/busybox:1.35",
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                }
            ],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim_name}}],
            **spec,
        },
    }


def events_of(server: ServerEndpoint, name: str) -> list[tuple[str, str]]:
    body = get(server, f"/api/v1/namespaces/{NS}/events?fieldSelector=involvedObject.name={name}") or {}
    return [(e.get("reason", ""), e.get("message", "")) for e in body.get("items") or []]


def rows(out: str) -> dict[str, list[str]]:
    lines = out.strip().splitlines()
    return {line.split()[0]: line.split() for line in lines[1:]}


def test_the_default_class_is_local_path(server: ServerEndpoint) -> None:
    out = server.kubectl("get", "sc").stdout
    assert out.splitlines()[0].split() == [
        "NAME",
        "PROVISIONER",
        "RECLAIMPOLICY",
        "VOLUMEBINDINGMODE",
        "ALLOWVOLUMEEXPANSION",
        "AGE",
    ]
    assert out.splitlines()[1].split()[:6] == [
        "local-path",
        "(default)",
        "pykube.io/local-path",
        "Delete",
        "WaitForFirstConsumer",
        "false",
    ]


def test_a_static_volume_binds_and_is_retained_after_its_claim(server: ServerEndpoint) -> None:
    apply(server, pv("static-small", "1Gi"), pv("static-big", "5Gi"), pvc("static-claim", klass="manual"))
    bound = eventually(lambda: (c := claim(server, "static-claim")) and phase(c) == "Bound" and c, "claim Bound")
    assert bound["spec"]["volumeName"] == "static-small"  # the smallest that fits
    assert bound["status"]["capacity"] == {"storage": "1Gi"}
    assert bound["metadata"]["annotations"]["pv.kubernetes.io/bind-completed"] == "yes"
    eventually(lambda: phase(volume(server, "static-small")) == "Bound", "volume Bound")
    assert phase(volume(server, "static-big")) == "Available"
    pvs = rows(server.kubectl("get", "pv").stdout)
    assert pvs["static-small"][1:8] == ["1Gi", "RWO", "Retain", "Bound", "default/static-claim", "manual", "<unset>"]
    assert pvs["static-big"][1:7] == ["5Gi", "RWO", "Retain", "Available", "manual", "<unset>"]
    claims = rows(server.kubectl("get", "pvc").stdout)
    assert claims["static-claim"][1:7] == ["Bound", "static-small", "1Gi", "RWO", "manual", "<unset>"]
    server.kubectl("delete", "pvc", "static-claim")
    eventually(lambda: phase(volume(server, "static-small")) == "Released", "volume Released")
    assert rows(server.kubectl("get", "pv").stdout)["static-small"][4:6] == ["Released", "default/static-claim"]
    # a new claim does not get the released volume: its data belongs to the old one
    apply(server, pvc("static-again", klass="manual", resources={"requests": {"storage": "2Gi"}}))
    eventually(
        lambda: (claim(server, "static-again") or {}).get("spec", {}).get("volumeName") == "static-big",
        "the other volume bound",
    )


def test_a_claim_pre_bound_to_a_volume_and_a_volume_pre_bound_to_a_claim(server: ServerEndpoint) -> None:
    apply(
        server,
        pv("pre-v", klass="", claimRef={"namespace": NS, "name": "pre-c"}),
        pv("other-v", klass=""),
        pvc("pre-c", klass=""),
        pvc("named-c", klass="", volumeName="other-v"),
    )
    eventually(lambda: (claim(server, "pre-c") or {}).get("spec", {}).get("volumeName") == "pre-v", "pre-bound PV")
    eventually(lambda: phase(claim(server, "named-c")) == "Bound", "named volume")
    assert volume(server, "other-v")["spec"]["claimRef"]["name"] == "named-c"  # type: ignore[index]


def test_invalid_objects_are_refused_with_causes(server: ServerEndpoint) -> None:
    done = server.kubectl("apply", "-f", "-", check=False, input=json.dumps(pvc("bad-claim", size="0")))
    assert done.returncode != 0
    assert (
        'The PersistentVolumeClaim "bad-claim" is invalid: spec.resources[storage]: Invalid value: "0": must be '
        "greater than zero" in done.stderr
    )
    done = server.kubectl("apply", "-f", "-", check=False, input=json.dumps(pv("bad-pv", hostPath=None)))
    assert "spec: Required value: must specify a volume type" in done.stderr


def test_a_claim_without_class_waits_for_its_pod_then_is_provisioned_on_its_node(server: ServerEndpoint) -> None:
    apply(server, pvc("wffc"))
    made = claim(server, "wffc")
    assert made is not None and made["spec"]["storageClassName"] == "local-path"  # the default class
    eventually(
        lambda: (
            ("WaitForFirstConsumer", "waiting for first consumer to be created before binding")
            in events_of(server, "wffc")
        ),
        "the WaitForFirstConsumer event",
    )
    assert phase(claim(server, "wffc")) == "Pending"
    apply(server, pod("wffc-1", "wffc"))
    bound = eventually(lambda: (c := claim(server, "wffc")) and phase(c) == "Bound" and c, "claim Bound")
    running = eventually(
        lambda: (p := get(server, f"/api/v1/namespaces/{NS}/pods/wffc-1")) and p["spec"].get("nodeName") and p,
        "pod scheduled",
    )
    node = running["spec"]["nodeName"]
    assert bound["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] == node
    uid = bound["metadata"]["uid"]
    made_pv = volume(server, f"pvc-{uid}")
    assert made_pv is not None and bound["spec"]["volumeName"] == f"pvc-{uid}"
    root = get(server, f"/api/v1/nodes/{node}")["metadata"]["annotations"]["pykube.io/local-path-root"]
    assert made_pv["spec"]["hostPath"] == {"path": f"{root}/pvc-{uid}_{NS}_wffc", "type": "DirectoryOrCreate"}
    assert made_pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
    assert made_pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == [
        node
    ]
    # later pods of the claim always go to the volume's node
    server.kubectl("delete", "pod", "wffc-1", "--wait=false")
    for n in range(2, 5):
        apply(server, pod(f"wffc-{n}", "wffc"))
        placed = eventually(
            lambda n=n: (get(server, f"/api/v1/namespaces/{NS}/pods/wffc-{n}") or {}).get("spec", {}).get("nodeName"),
            "pod scheduled",
        )
        assert placed == node
    # a pod pinned elsewhere cannot reach the volume
    other = next(n for n in NODES if n != node)
    apply(server, pod("wffc-away", "wffc", nodeSelector={"kubernetes.io/hostname": other}))
    condition = eventually(
        lambda: next(
            (
                c
                for c in (get(server, f"/api/v1/namespaces/{NS}/pods/wffc-away") or {})
                .get("status", {})
                .get("conditions")
                or []
                if c["type"] == "PodScheduled"
            ),
            None,
        ),
        "unschedulable",
    )
    assert condition["message"] == (
        "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
        "1 node(s) had volume node affinity conflict. preemption: 0/2 nodes are available: "
        "2 Preemption is not helpful for scheduling."
    )


def scheduled_condition(server: ServerEndpoint, name: str) -> Obj | None:
    found = get(server, f"/api/v1/namespaces/{NS}/pods/{name}") or {}
    return next((c for c in found.get("status", {}).get("conditions") or [] if c["type"] == "PodScheduled"), None)


def test_pods_wait_for_missing_and_unbound_immediate_claims(server: ServerEndpoint) -> None:
    apply(server, pod("needs-missing", "missing"))
    condition = eventually(lambda: scheduled_condition(server, "needs-missing"), "unschedulable")
    assert condition["reason"] == "Unschedulable"
    assert condition["message"] == (
        '0/2 nodes are available: persistentvolumeclaim "missing" not found. preemption: '
        "0/2 nodes are available: 2 Preemption is not helpful for scheduling."
    )
    apply(
        server,
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": "now"},
            "provisioner": "example.com/none",
        },
        pvc("missing", klass="now"),
    )
    eventually(
        lambda: (
            "pod has unbound immediate PersistentVolumeClaims"
            in (scheduled_condition(server, "needs-missing") or {}).get("message", "")
        ),
        "unbound immediate",
    )
    assert any(reason == "ExternalProvisioning" for reason, _ in events_of(server, "missing"))
    apply(server, pv("for-missing", klass="now"))
    eventually(
        lambda: (get(server, f"/api/v1/namespaces/{NS}/pods/needs-missing") or {}).get("spec", {}).get("nodeName"),
        "scheduled once the claim is bound",
    )


def test_a_bound_claim_whose_volume_is_deleted_is_lost(server: ServerEndpoint) -> None:
    apply(server, pv("doomed", klass="lost"), pvc("orphan", klass="lost"))
    eventually(lambda: phase(claim(server, "orphan")) == "Bound", "bound")
    server.kubectl("delete", "pv", "doomed", "--wait=false")
    # kubernetes.io/pv-protection holds a bound volume back
    eventually(lambda: rows(server.kubectl("get", "pv", "doomed").stdout)["doomed"][4] == "Terminating", "Terminating")
    assert phase(claim(server, "orphan")) == "Bound"
    assert volume(server, "doomed")["metadata"]["finalizers"] == ["kubernetes.io/pv-protection"]  # type: ignore[index]
    server.kubectl("patch", "pv", "doomed", "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
    eventually(lambda: phase(claim(server, "orphan")) == "Lost", "Lost")
    assert rows(server.kubectl("get", "pvc", "orphan").stdout)["orphan"][1:3] == ["Lost", "doomed"]


def test_a_joined_agent_makes_the_local_path_directory_and_removes_it_with_the_claim(
    server: ServerEndpoint, tmp_path: Path
) -> None:
    token = (server.data_dir / "node-token").read_text().strip()
    data_dir = tmp_path / "agent"
    agent = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "minikube_py.cli.main",
            "agent",
            "--join",
            server.url,
            "--token",
            token,
            "--runtime",
            "fake",
            "--node-name",
            "stor-agent",
            "--node-ip",
            "127.0.0.1",
            "--kubelet-port",
            "0",
            "--data-dir",
            str(data_dir),
        ]
    )
    try:
        eventually(
            lambda: (
                (get(server, "/api/v1/nodes/stor-agent") or {})
                .get("metadata", {})
                .get("annotations", {})
                .get("pykube.io/local-path-root")
            ),
            "the agent's node",
        )
        node = get(server, "/api/v1/nodes/stor-agent")
        assert node is not None
        assert node["metadata"]["annotations"]["pykube.io/local-path-root"] == str(data_dir.absolute() / "storage")
        apply(
            server,
            pvc("on-agent"),
            {
                **pod("agent-pod", "on-agent"),
                "spec": {
                    **pod("agent-pod", "on-agent")["spec"],
                    "nodeName": "stor-agent",
                    "terminationGracePeriodSeconds": 0,
                },
            },
        )
        # a pod bound by name skips the scheduler, so the claim is told its node as the scheduler would
        server.kubectl("annotate", "pvc", "on-agent", "volume.kubernetes.io/selected-node=stor-agent")
        bound = eventually(lambda: (c := claim(server, "on-agent")) and phase(c) == "Bound" and c, "bound")
        directory = data_dir / "storage" / f"pvc-{bound['metadata']['uid']}_{NS}_on-agent"
        eventually(lambda: phase(get(server, f"/api/v1/namespaces/{NS}/pods/agent-pod")) == "Running", "Running")
        assert directory.is_dir()
        server.kubectl("delete", "pod", "agent-pod")
        server.kubectl("delete", "pvc", "on-agent")
        eventually(lambda: volume(server, bound["spec"]["volumeName"]) is None, "the volume deleted")
        assert not directory.exists()
    finally:
        agent.terminate()
        assert agent.wait(timeout=20) == 0
        server.kubectl("delete", "node", "stor-agent")  # no later pod is to be placed on a stopped node


def test_a_claim_in_use_is_kept_until_its_pod_is_gone(server: ServerEndpoint) -> None:
    apply(server, pv("kept-v", klass="kept"), pvc("kept", klass="kept"), pod("kept-user", "kept"))
    eventually(
        lambda: (
            (get(server, f"/api/v1/namespaces/{NS}/pods/kept-user") or {}).get("status", {}).get("phase") == "Running"
        ),
        "the pod running",
    )
    assert claim(server, "kept")["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]  # type: ignore[index]
    server.kubectl("delete", "pvc", "kept", "--wait=false")
    eventually(lambda: rows(server.kubectl("get", "pvc", "kept").stdout)["kept"][1] == "Terminating", "Terminating")
    assert phase(volume(server, "kept-v")) == "Bound"
    server.kubectl("delete", "pod", "kept-user")
    eventually(lambda: claim(server, "kept") is None, "the claim gone with its pod")
    eventually(lambda: phase(volume(server, "kept-v")) == "Released", "the volume Released")


def test_a_bound_claim_grows_only_when_its_class_allows_expansion(server: ServerEndpoint) -> None:
    apply(server, pv("fixed-v", klass="fixed"), pvc("fixed", klass="fixed"))
    eventually(lambda: phase(claim(server, "fixed")) == "Bound", "bound")
    done = server.kubectl(
        "patch", "pvc", "fixed", "-p", '{"spec":{"resources":{"requests":{"storage":"600Mi"}}}}', check=False
    )
    assert done.returncode != 0
    assert (
        'persistentvolumeclaims "fixed" is forbidden: only dynamically provisioned pvc can be resized and the '
        "storageclass that provisions the pvc must support resize"
    ) in done.stderr
    apply(
        server,
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": "growing"},
            "provisioner": "pykube.io/local-path",
            "volumeBindingMode": "WaitForFirstConsumer",
            "allowVolumeExpansion": True,
        },
        pvc("grows", klass="growing"),
        pod("grows-user", "grows"),
    )
    bound = eventually(lambda: (c := claim(server, "grows")) and phase(c) == "Bound" and c, "bound")
    server.kubectl("patch", "pvc", "grows", "-p", '{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}')
    eventually(
        lambda: (claim(server, "grows") or {}).get("status", {}).get("capacity") == {"storage": "2Gi"},
        "the claim's capacity grown",
    )
    assert volume(server, bound["spec"]["volumeName"])["spec"]["capacity"] == {"storage": "2Gi"}  # type: ignore[index]


def test_a_static_local_volume_draws_its_first_consumer_to_its_node(server: ServerEndpoint) -> None:
    apply(
        server,
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": "local-disks"},
            "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": "WaitForFirstConsumer",
        },
        pv(
            "disk-on-n2",
            klass="local-disks",
            hostPath=None,
            local={"path": "/mnt/disk"},
            nodeAffinity={
                "required": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": "kubernetes.io/hostname", "operator": "In", "values": ["stor-n2"]}
                            ]
                        }
                    ]
                }
            },
        ),
        pvc("local-claim", klass="local-disks"),
    )
    eventually(lambda: phase(volume(server, "disk-on-n2")) == "Available", "Available")
    assert phase(claim(server, "local-claim")) == "Pending"  # waits for its first consumer
    apply(server, pod("local-user", "local-claim"))
    placed = eventually(
        lambda: (get(server, f"/api/v1/namespaces/{NS}/pods/local-user") or {}).get("spec", {}).get("nodeName"),
        "scheduled",
    )
    assert placed == "stor-n2"
    eventually(
        lambda: (claim(server, "local-claim") or {}).get("spec", {}).get("volumeName") == "disk-on-n2",
        "bound to the local volume",
    )
    # a second claim of the class finds no volume anywhere: its pod cannot be placed
    apply(server, pvc("no-disk", klass="local-disks"), pod("no-disk-user", "no-disk"))
    condition = eventually(lambda: scheduled_condition(server, "no-disk-user"), "unschedulable")
    assert "2 node(s) did not find available persistent volumes to bind" in condition["message"]
