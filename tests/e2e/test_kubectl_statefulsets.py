"""StatefulSets and DaemonSets with the real kubectl and Docker: rollout status, history and undo read
from ControllerRevisions, and pods that come back under their own names.

One server with its embedded agent (node ``pykube-e2e-sts``, its own pod network) serves the module;
each test has its own namespace; the node's containers are removed at the end.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator

import pytest
from agent_helpers import Obj, start_agent_server, wait_for
from kubectl_helpers import Kubectl

from minikube_py.testing import BUSYBOX_IMAGE, RunningServer, ensure_docker, remove_node_containers

NODE = "pykube-e2e-sts"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    ensure_docker()
    remove_node_containers(NODE)
    running = start_agent_server(tmp_path_factory.mktemp("sts") / "data", NODE, "--proxy-mode", "none",
                                 cluster_cidr="10.237.0.0/16")
    yield running
    running.stop()
    remove_node_containers(NODE)


@pytest.fixture
def k(cluster: RunningServer, request: pytest.FixtureRequest) -> Iterator[Kubectl]:
    name = "s-" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:40].strip("-") + f"-{os.urandom(2).hex()}"
    cluster.kubectl("create", "namespace", name)
    yield Kubectl(cluster, name)
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def template(app: str, script: str = "exec sleep 3600") -> Obj:
    return {"metadata": {"labels": {"app": app}},
            "spec": {"terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "main", "image": BUSYBOX_IMAGE, "command": ["sh", "-c", script],
                                     "env": [{"name": "VERSION", "value": "1"}]}]}}


def statefulset(name: str, replicas: int = 3) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "serviceName": name, "selector": {"matchLabels": {"app": name}},
                     "template": template(name)}}


def versions(k: Kubectl, app: str) -> dict[str, str]:
    """VERSION of each live pod of ``app`` by pod name."""
    pods = k.json("get", "pods", "-l", f"app={app}")["items"]
    return {p["metadata"]["name"]: next(e["value"] for e in p["spec"]["containers"][0]["env"] if e["name"] == "VERSION")
            for p in pods if not p["metadata"].get("deletionTimestamp")}


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

    k.run("set", "env", "statefulset/web", "VERSION=2")
    k.run("rollout", "status", "statefulset/web", "--timeout=120s")
    assert versions(k, "web") == {"web-0": "2", "web-1": "2", "web-2": "2"}
    assert history_revisions(k, "statefulset/web") == ["1", "2"]
    assert "VERSION:\t1" in k.out("rollout", "history", "statefulset/web", "--revision=1")

    assert "rolled back" in k.out("rollout", "undo", "statefulset/web")
    k.run("rollout", "status", "statefulset/web", "--timeout=120s")
    wait_for(lambda: versions(k, "web") == {"web-0": "1", "web-1": "1", "web-2": "1"}, "every pod back on VERSION=1",
             timeout=120)
    assert history_revisions(k, "statefulset/web") == ["2", "3"]
    sts = k.json("get", "statefulset", "web")
    assert sts["status"]["currentRevision"] == sts["status"]["updateRevision"]

    # a deleted pod comes back under its own name (and hostname)
    old_uid = k.json("get", "pod", "web-1")["metadata"]["uid"]
    k.run("delete", "pod", "web-1")
    wait_for(lambda: (p := k.json("get", "pods", "-l", "app=web")["items"]) and any(
        x["metadata"]["name"] == "web-1" and x["metadata"]["uid"] != old_uid and x["status"].get("phase") == "Running"
        for x in p), "web-1 back", timeout=120)
    k.run("rollout", "status", "statefulset/web", "--timeout=120s")
    assert k.out("exec", "web-1", "--", "hostname").strip() == "web-1"


def test_daemonset_rollout_history_and_undo(k: Kubectl) -> None:
    ds = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
          "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": template("agent")}}
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
