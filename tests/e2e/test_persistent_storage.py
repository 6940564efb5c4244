"""Persistent storage with the real kubectl and Docker: a busybox "database" appending to a file on
a local-path claim keeps its lines across pods, a pod on an unbound claim waits in
ContainerCreating, ``kubectl get pv,pvc,sc`` prints Kubernetes' columns, and deleting the claim
removes the volume and its directory.

One server with its embedded agent (node ``pykube-e2e-storage``, proxy mode none so that nothing
outside this module's own Docker objects is touched) serves the module.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agent_helpers import (
    busybox_pod,
    cluster_fixtures,
    create,
    events_of,
    pod_obj,
    start_agent_server,
    wait_for,
    wait_running,
)
from kubectl_helpers import Kubectl, header, row

from minikube_py.testing import RunningServer, remove_node_containers

NODE = "pykube-e2e-storage"


cluster, k = cluster_fixtures(NODE, "--proxy-mode", "none", cluster_cidr="10.213.0.0/16", namespace_prefix="s")


def claim(name: str, klass: str | None = None) -> dict[str, object]:
    spec: dict[str, object] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "64Mi"}}}
    if klass is not None:
        spec["storageClassName"] = klass
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name}, "spec": spec}


def database(name: str, claim_name: str, line: str) -> dict[str, object]:
    """A pod that appends ``line`` to /data/log on the claim, prints the file and stays up."""
    return busybox_pod(
        name,
        f"echo {line} >> /data/log && cat /data/log && sleep 3600",
        container={"volumeMounts": [{"name": "data", "mountPath": "/data"}]},
        volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": claim_name}}],
    )


def logs_once_running(k: Kubectl, name: str, lines: int) -> list[str]:
    wait_running(k, name, timeout=90)

    def printed() -> list[str] | None:
        out = k.run("logs", name).stdout.split()
        return out if len(out) >= lines else None

    return wait_for(printed, f"{name} to print {lines} lines")


def test_a_local_path_claim_keeps_its_data_across_pods_and_goes_with_the_claim(
    k: Kubectl, cluster: RunningServer
) -> None:
    create(k, claim("db"))
    out = k.run("get", "pvc", "db").stdout
    assert header(out) == [
        "NAME",
        "STATUS",
        "VOLUME",
        "CAPACITY",
        "ACCESS MODES",
        "STORAGECLASS",
        "VOLUMEATTRIBUTESCLASS",
        "AGE",
    ]
    assert row(out, "db")[1:7] == ["Pending", "", "", "", "local-path", "<unset>"]
    create(k, database("db-1", "db", "first"))
    assert logs_once_running(k, "db-1", 1) == ["first"]
    bound = json.loads(k.run("get", "pvc", "db", "-o", "json").stdout)
    volume_name, uid = bound["spec"]["volumeName"], bound["metadata"]["uid"]
    assert volume_name == f"pvc-{uid}"
    out = k.run("get", "pv,pvc,sc").stdout
    blocks = out.strip().split("\n\n")
    assert header(blocks[0]) == [
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
    assert row(blocks[0], f"persistentvolume/{volume_name}")[1:8] == [
        "64Mi",
        "RWO",
        "Delete",
        "Bound",
        f"{k.namespace}/db",
        "local-path",
        "<unset>",
    ]
    assert row(blocks[1], "persistentvolumeclaim/db")[1:7] == [
        "Bound",
        volume_name,
        "64Mi",
        "RWO",
        "local-path",
        "<unset>",
    ]
    assert header(blocks[2]) == [
        "NAME",
        "PROVISIONER",
        "RECLAIMPOLICY",
        "VOLUMEBINDINGMODE",
        "ALLOWVOLUMEEXPANSION",
        "AGE",
    ]
    assert row(blocks[2], "storageclass.storage.k8s.io/local-path (default)")[1:5] == [
        "pykube.io/local-path",
        "Delete",
        "WaitForFirstConsumer",
        "false",
    ]

    root = cluster.kubectl("get", "node", NODE, "-o", "jsonpath={.metadata.annotations.pykube\\.io/local-path-root}")
    directory = Path(root.stdout) / f"pvc-{uid}_{k.namespace}_db"
    assert (directory / "log").read_text() == "first\n"

    k.run("delete", "pod", "db-1")
    create(k, database("db-2", "db", "second"))
    assert logs_once_running(k, "db-2", 2) == ["first", "second"]

    k.run("delete", "pod", "db-2")
    k.run("delete", "pvc", "db")
    wait_for(
        lambda: cluster.kubectl("get", "pv", volume_name, check=False).returncode != 0 or None,
        "the provisioned volume to be deleted",
    )
    assert not directory.exists()


def test_a_pod_on_an_unbound_claim_waits_in_container_creating(
    k: Kubectl, cluster: RunningServer, tmp_path: Path
) -> None:
    klass = f"manual-{k.namespace[-4:]}"
    create(k, claim("late", klass))
    # bound to the node by name, the pod skips the scheduler's check and the node waits for the claim
    create(
        k,
        {
            **database("waits", "late", "hello"),
            "spec": {**database("waits", "late", "hello")["spec"], "nodeName": NODE},
        },
    )
    wait_for(lambda: "PVC is not bound" in events_of(k, "waits") or None, "the FailedMount event")
    assert (pod_obj(k, "waits")["status"].get("containerStatuses") or [{}])[0].get("state", {}).get("waiting", {}).get(
        "reason"
    ) in (None, "ContainerCreating")
    assert row(k.run("get", "pod", "waits").stdout, "waits")[2] == "ContainerCreating"
    path = tmp_path / "static"
    path.mkdir()
    create(
        k,
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": f"static-{k.namespace}"},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": klass,
                "hostPath": {"path": str(path), "type": "Directory"},
            },
        },
    )
    try:
        assert logs_once_running(k, "waits", 1) == ["hello"]
        assert (path / "log").read_text() == "hello\n"
        k.run("delete", "pod", "waits")
        k.run("delete", "pvc", "late")

        def released_table() -> str | None:
            out = cluster.kubectl("get", "pv", f"static-{k.namespace}").stdout
            return out if "Released" in out else None

        released = wait_for(released_table, "the static volume Released")
        assert row(released, f"static-{k.namespace}")[3:5] == ["Retain", "Released"]
        assert (path / "log").exists()  # Retain keeps the data
    finally:
        cluster.kubectl("delete", "pv", f"static-{k.namespace}", "--wait=false", check=False)


def test_a_claim_keeps_its_volume_and_data_across_a_server_restart(tmp_path: Path) -> None:
    """A server of its own, stopped and started again on the same data directory and port."""
    node = "pykube-e2e-storage-restart"
    remove_node_containers(node)

    def start(port: int | None = None) -> RunningServer:
        running = start_agent_server(
            tmp_path / "data", node, "--proxy-mode", "none", port=port, cluster_cidr="10.214.0.0/16"
        )
        running.node_network = False  # no service proxy ran: there are no host rules to clean up
        return running

    first = start()
    try:
        port = int(first.url.rsplit(":", 1)[1])
        k = Kubectl(first, "default")
        create(k, claim("kept"), database("kept-1", "kept", "before"))
        assert logs_once_running(k, "kept-1", 1) == ["before"]
        volume_name = json.loads(k.run("get", "pvc", "kept", "-o", "json").stdout)["spec"]["volumeName"]
        assert first.stop() == 0
        second = start(port)
        try:
            k = Kubectl(second, "default")
            k.run("delete", "pod", "kept-1")
            create(k, database("kept-2", "kept", "after"))
            assert logs_once_running(k, "kept-2", 2) == ["before", "after"]
            assert json.loads(k.run("get", "pvc", "kept", "-o", "json").stdout)["spec"]["volumeName"] == volume_name
        finally:
            second.stop()
    finally:
        remove_node_containers(node)


def test_local_storage_limits_evict_pods_that_write_too_much(k: Kubectl) -> None:
    """What pods write to the node's disk is measured against their limits: an emptyDir past its
    ``sizeLimit`` and a container whose writable layer passes its ``ephemeral-storage`` limit (the
    pod's, as it is the only container) get their pods evicted in the kubelet's words; a memory-backed emptyDir is a tmpfs of its
    ``sizeLimit``, so a write past it fails in the container instead."""
    fill = "dd if=/dev/zero of={} bs=1024 count=2048 2>&1; sync; sleep 3600"
    scratch = {"volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}]}
    create(
        k,
        busybox_pod(
            "filler",
            fill.format("/scratch/blob"),
            container=scratch,
            volumes=[{"name": "scratch", "emptyDir": {"sizeLimit": "1Mi"}}],
        ),
        busybox_pod(
            "layer", fill.format("/tmp/blob"), container={"resources": {"limits": {"ephemeral-storage": "1Mi"}}}
        ),
        busybox_pod(
            "ram",
            fill.format("/scratch/blob"),
            container=scratch,
            volumes=[{"name": "scratch", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}],
        ),
    )

    def evicted(name: str) -> dict[str, Any] | None:
        status = pod_obj(k, name)["status"]
        return status if status.get("phase") == "Failed" else None

    status = wait_for(lambda: evicted("filler"), "filler to be evicted", timeout=60)
    assert (status["reason"], status["message"]) == (
        "Evicted",
        'Usage of EmptyDir volume "scratch" exceeds the limit "1Mi". ',
    )
    status = wait_for(lambda: evicted("layer"), "layer to be evicted", timeout=60)
    assert status["message"] == "Pod ephemeral local storage usage exceeds the total limit of containers 1Mi. "
    assert "Evicted" in events_of(k, "layer")
    ram = wait_running(k, "ram")
    assert ram["status"]["phase"] == "Running"
    assert "No space left on device" in wait_for(
        lambda: (out := k.run("logs", "ram").stdout) and out, "the tmpfs to be full"
    )
    # deleted (and waited for), the pods' volumes go, the tmpfs unmounted
    k.run("delete", "pod", "filler", "layer", "ram")
