"""StatefulSets and DaemonSets with the real kubectl and Docker: rollout status, history and undo read
from ControllerRevisions, pods that come back under their own names, and a busybox "database" whose
replicas keep their data on their own claims across pod deletion, scaling and a server restart.

One server with its embedded agent (node ``pykube-e2e-sts``, its own pod network, proxy mode none so
that nothing outside this module's Docker objects is touched) serves the module; each test has its
own namespace; the node's containers are removed at the end. The restart test runs a server of its own.
"""

from __future__ import annotations

import json
from pathlib import Path

from agent_helpers import Obj, cluster_fixtures, start_agent_server, wait_for
from kubectl_helpers import Kubectl
from support import BUSYBOX_IMAGE

from minikube_py.testing import remove_node_containers

NODE = "pykube-e2e-sts"


cluster, k = cluster_fixtures(NODE, "--proxy-mode", "none", cluster_cidr="10.237.0.0/16", namespace_prefix="s")


def template(app: str, script: str = "exec sleep 3600") -> Obj:
    return {
        "metadata": {"labels": {"app": app}},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "main",
                    "image": BUSYBOX_IMAGE,
                    "command": ["sh", "-c", script],
                    "env": [{"name": "VERSION", "value": "1"}],
                }
            ],
        },
    }


def statefulset(name: str, replicas: int = 3) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "template": template(name),
        },
    }


def versions(k: Kubectl, app: str) -> dict[str, str]:
    """VERSION of each live pod of ``app`` by pod name."""
    pods = k.json("get", "pods", "-l", f"app={app}")["items"]
    return {
        p["metadata"]["name"]: next(e["value"] for e in p["spec"]["containers"][0]["env"] if e["name"] == "VERSION")
        for p in pods
        if not p["metadata"].get("deletionTimestamp")
    }


def history_revisions(k: Kubectl, resource: str) -> list[str]:
    out = k.out("rollout", "history", resource)
    return [line.split()[0] for line in out.splitlines()[2:] if line.strip()]


def test_statefulset_rollout_status_history_and_undo(k: Kubectl) -> None:
    k.apply(statefulset("web"))
    out = k.out("rollout", "status", "statefulset/web", "--timeout=120s")
    assert "partitioned roll out complete: 3 new pods have been updated" in out
    assert versions(k, "web") == {"web-0": "1", "web-1": "1", "web-2": "1"}
    hostname = k.out("exec", "web-1", "--", "hostname").strip()
    assert hostname == "web-1"
    ip = k.json("get", "pod", "web-1")["status"]["podIP"]
    hosts = [line.split() for line in k.out("exec", "web-1", "--", "cat", "/etc/hosts").splitlines()]
    assert [ip, f"web-1.web.{k.namespace}.svc.cluster.local", "web-1"] in hosts  # its FQDN, as the kubelet writes it

    k.run("set", "env", "statefulset/web", "VERSION=2")
    k.run("rollout", "status", "statefulset/web", "--timeout=120s")
    assert versions(k, "web") == {"web-0": "2", "web-1": "2", "web-2": "2"}
    assert history_revisions(k, "statefulset/web") == ["1", "2"]
    assert "VERSION:\t1" in k.out("rollout", "history", "statefulset/web", "--revision=1")

    assert "rolled back" in k.out("rollout", "undo", "statefulset/web")
    k.run("rollout", "status", "statefulset/web", "--timeout=120s")
    wait_for(
        lambda: versions(k, "web") == {"web-0": "1", "web-1": "1", "web-2": "1"},
        "every pod back on VERSION=1",
        timeout=120,
    )
    assert history_revisions(k, "statefulset/web") == ["2", "3"]
    sts = k.json("get", "statefulset", "web")
    assert sts["status"]["currentRevision"] == sts["status"]["updateRevision"]

    # a deleted pod comes back under its own name (and hostname)
    old_uid = k.json("get", "pod", "web-1")["metadata"]["uid"]
    k.run("delete", "pod", "web-1")
    wait_for(
        lambda: (
            (p := k.json("get", "pods", "-l", "app=web")["items"])
            and any(
                x["metadata"]["name"] == "web-1"
                and x["metadata"]["uid"] != old_uid
                and x["status"].get("phase") == "Running"
                for x in p
            )
        ),
        "web-1 back",
        timeout=120,
    )
    k.run("rollout", "status", "statefulset/web", "--timeout=120s")
    assert k.out("exec", "web-1", "--", "hostname").strip() == "web-1"


def test_daemonset_rollout_history_and_undo(k: Kubectl) -> None:
    ds = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": template("agent")},
    }
    k.apply(ds)
    k.run("rollout", "status", "daemonset/agent", "--timeout=120s")
    k.run("set", "env", "daemonset/agent", "VERSION=2")
    k.run("rollout", "status", "daemonset/agent", "--timeout=120s")
    assert set(versions(k, "agent").values()) == {"2"}
    assert history_revisions(k, "daemonset/agent") == ["1", "2"]
    k.run("rollout", "undo", "daemonset/agent", "--to-revision=1")
    k.run("rollout", "status", "daemonset/agent", "--timeout=120s")
    wait_for(lambda: set(versions(k, "agent").values()) == {"1"}, "the daemon pod back on VERSION=1", timeout=120)
    assert history_revisions(k, "daemonset/agent") == ["2", "3"]
    revisions = k.json("get", "controllerrevisions", "-l", "app=agent")["items"]
    assert {r["metadata"]["ownerReferences"][0]["name"] for r in revisions} == {"agent"}
    assert json.dumps(revisions[0]["data"]).count("$patch") == 1


def database(replicas: int) -> Obj:
    """A StatefulSet ``db`` whose every start appends ``<hostname> start`` to /data/log on its claim."""
    sts = statefulset("db", replicas)
    sts["spec"]["template"] = template("db", 'echo "$(hostname) start" >> /data/log && exec sleep 3600')
    sts["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    sts["spec"]["volumeClaimTemplates"] = [
        {
            "metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "64Mi"}}},
        }
    ]
    return sts


def log_of(k: Kubectl, pod: str) -> list[str]:
    return k.out("exec", pod, "--", "cat", "/data/log").splitlines()


def replaced(k: Kubectl, pod: str) -> None:
    """Delete ``pod`` and wait until the set has it running again under the same name."""
    uid = k.json("get", "pod", pod)["metadata"]["uid"]
    k.run("delete", "pod", pod)
    wait_for(
        lambda: any(
            p["metadata"]["name"] == pod and p["metadata"]["uid"] != uid
            for p in k.json("get", "pods", "-l", "app=db")["items"]
        ),
        f"{pod} back",
        timeout=120,
    )
    k.run("rollout", "status", "statefulset/db", "--timeout=120s")


def test_each_replica_keeps_its_claim_across_deletion_scaling_and_a_restart(tmp_path: Path) -> None:
    node = "pykube-e2e-sts-db"
    remove_node_containers(node)
    first = start_agent_server(tmp_path / "data", node, "--proxy-mode", "none", cluster_cidr="10.238.0.0/16")
    first.node_network = False
    try:
        port = int(first.url.rsplit(":", 1)[1])
        k = Kubectl(first, "default")
        k.apply(database(3))
        k.run("rollout", "status", "statefulset/db", "--timeout=180s")
        claims = {c["metadata"]["name"]: c["metadata"]["uid"] for c in k.json("get", "pvc")["items"]}
        assert sorted(claims) == ["data-db-0", "data-db-1", "data-db-2"]
        assert all(c["status"]["phase"] == "Bound" for c in k.json("get", "pvc")["items"])
        assert [log_of(k, f"db-{n}") for n in range(3)] == [[f"db-{n} start"] for n in range(3)]

        replaced(k, "db-1")  # the new db-1 sees the old one's line
        assert log_of(k, "db-1") == ["db-1 start"] * 2

        k.run("scale", "statefulset/db", "--replicas=1")
        wait_for(
            lambda: [p["metadata"]["name"] for p in k.json("get", "pods", "-l", "app=db")["items"]] == ["db-0"],
            "only db-0 left",
            timeout=120,
        )
        assert {c["metadata"]["name"]: c["metadata"]["uid"] for c in k.json("get", "pvc")["items"]} == claims
        k.run("scale", "statefulset/db", "--replicas=3")
        k.run("rollout", "status", "statefulset/db", "--timeout=180s")
        assert [log_of(k, f"db-{n}") for n in range(3)] == [["db-0 start"], ["db-1 start"] * 3, ["db-2 start"] * 2]
        assert {c["metadata"]["name"]: c["metadata"]["uid"] for c in k.json("get", "pvc")["items"]} == claims

        assert first.stop() == 0
        second = start_agent_server(
            tmp_path / "data", node, "--proxy-mode", "none", port=port, cluster_cidr="10.238.0.0/16"
        )
        second.node_network = False
        try:
            k = Kubectl(second, "default")
            k.run("rollout", "status", "statefulset/db", "--timeout=180s")
            replaced(k, "db-2")
            replaced(k, "db-0")
            assert [log_of(k, f"db-{n}") for n in range(3)] == [
                ["db-0 start"] * 2,
                ["db-1 start"] * 3,
                ["db-2 start"] * 3,
            ]
        finally:
            second.stop()
    finally:
        remove_node_containers(node)
