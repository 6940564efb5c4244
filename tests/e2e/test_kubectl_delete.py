"""``kubectl delete`` by name, selector, file, --all, forced and with cascade policies; ``kubectl wait``."""

from __future__ import annotations

import json
import time

import pytest
from kubectl_helpers import MANUAL_SCHEDULER, Kubectl, configmap, deployment, eventually, node, pod, replicaset, to_yaml

from minikube_py.testing import RunningServer

pytestmark = pytest.mark.kubectl


def test_delete_by_name(k: Kubectl) -> None:
    k.apply(configmap("gone"), configmap("stays"))
    assert k.lines("delete", "configmap", "gone") == ['configmap "gone" deleted']
    assert not k.exists("configmap", "gone")
    assert k.exists("configmap", "stays")


def test_delete_missing_is_not_found(k: Kubectl) -> None:
    done = k.fails("delete", "pod", "nope")
    assert done.stderr.strip() == 'Error from server (NotFound): pods "nope" not found'
    assert k.run("delete", "pod", "nope", "--ignore-not-found").returncode == 0


def test_delete_by_label(k: Kubectl) -> None:
    k.apply(configmap("a", {"x": "1"}), configmap("b", {"x": "1"}), configmap("c", {"x": "2"}))
    assert sorted(k.lines("delete", "configmaps", "-l", "x=1")) == ['configmap "a" deleted', 'configmap "b" deleted']
    assert k.names("configmaps") == ["c", "kube-root-ca.crt"]


def test_delete_from_file(k: Kubectl) -> None:
    manifests = to_yaml(configmap("f1"), deployment("f2"))
    k.run("create", "-f", "-", input=manifests)
    assert k.lines("delete", "-f", "-", input=manifests) == ['configmap "f1" deleted', 'deployment.apps "f2" deleted']
    assert not k.exists("configmap", "f1") and not k.exists("deployment", "f2")


def test_delete_all(k: Kubectl) -> None:
    k.apply(pod("p1"), pod("p2"), configmap("keep"))
    assert sorted(k.lines("delete", "pods", "--all")) == ['pod "p1" deleted', 'pod "p2" deleted']
    assert k.names("pods") == []
    assert k.names("configmaps") == ["keep", "kube-root-ca.crt"]


def test_force_delete(k: Kubectl) -> None:
    k.apply(pod("forced"))
    done = k.run("delete", "pod", "forced", "--grace-period=0", "--force")
    assert done.stdout.strip() == 'pod "forced" force deleted'
    assert "Immediate deletion does not wait" in done.stderr
    assert not k.exists("pod", "forced")


def test_delete_bound_pod_waits_for_grace_period(k: Kubectl, server: RunningServer) -> None:
    """A pod on a live node is only marked (deletionTimestamp) until its grace period ends or it is forced."""
    node_name = f"node-{k.namespace[-4:]}"
    server.kubectl("apply", "-f", "-", input=to_yaml(node(node_name)))
    try:
        k.apply(pod("bound", schedulerName=MANUAL_SCHEDULER))
        status, _ = server.request(
            "POST",
            f"/api/v1/namespaces/{k.namespace}/pods/bound/binding",
            {
                "apiVersion": "v1",
                "kind": "Binding",
                "metadata": {"name": "bound"},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node_name},
            },
        )
        assert status == 201
        assert k.obj("pod", "bound")["spec"]["nodeName"] == node_name
        k.run("delete", "pod", "bound", "--wait=false")
        live = k.obj("pod", "bound")
        assert live["metadata"]["deletionTimestamp"]
        assert live["metadata"]["deletionGracePeriodSeconds"] == 30
        assert k.lines("get", "pods")[1].split()[2] == "Terminating"
        k.run("delete", "pod", "bound", "--grace-period=0", "--force")
        assert not k.exists("pod", "bound")
    finally:
        server.kubectl("delete", "node", node_name, "--ignore-not-found")


def test_cascade_orphan_keeps_dependents(k: Kubectl) -> None:
    owner_uid = _owned_pair(k, "orphan-owner", "orphan-dep")
    assert k.lines("delete", "replicaset", "orphan-owner", "--cascade=orphan") == [
        'replicaset.apps "orphan-owner" deleted'
    ]
    assert not k.exists("replicaset", "orphan-owner")
    eventually(lambda: _owner_refs(k, "orphan-dep") == [], "the orphan keeps its ownerReference")
    assert k.obj("configmap", "orphan-dep")["metadata"]["name"] == "orphan-dep"
    assert owner_uid


def test_cascade_background_deletes_dependents(k: Kubectl) -> None:
    _owned_pair(k, "bg-owner", "bg-dep")
    k.run("delete", "replicaset", "bg-owner")
    eventually(lambda: not k.exists("configmap", "bg-dep"), "the dependent was not garbage-collected")


def test_cascade_foreground_deletes_dependents_first(k: Kubectl) -> None:
    _owned_pair(k, "fg-owner", "fg-dep")
    assert k.lines("delete", "replicaset", "fg-owner", "--cascade=foreground", "--timeout=30s") == [
        'replicaset.apps "fg-owner" deleted'
    ]
    assert not k.exists("replicaset", "fg-owner")
    assert not k.exists("configmap", "fg-dep")


def test_wait_for_delete(k: Kubectl) -> None:
    k.apply(configmap("doomed"))
    waiter = k.popen("wait", "--for=delete", "configmap/doomed", "--timeout=30s")
    time.sleep(2)  # let kubectl find the object before it goes
    k.run("delete", "configmap", "doomed", "--wait=false")
    out, err = waiter.communicate(timeout=30)
    assert waiter.returncode == 0, err
    assert out.strip() == "configmap/doomed condition met"


def test_wait_for_jsonpath(k: Kubectl) -> None:
    k.apply(configmap("flag", state="off"))
    waiter = k.popen("wait", "--for=jsonpath={.data.state}=on", "configmap/flag", "--timeout=30s")
    time.sleep(2)
    k.run("patch", "configmap", "flag", "--type=merge", "-p", '{"data":{"state":"on"}}')
    out, err = waiter.communicate(timeout=30)
    assert waiter.returncode == 0, err
    assert out.strip() == "configmap/flag condition met"


def test_wait_times_out(k: Kubectl) -> None:
    k.apply(configmap("never", state="off"))
    done = k.fails("wait", "--for=jsonpath={.data.state}=on", "configmap/never", "--timeout=2s")
    assert done.stderr.strip() == "error: timed out waiting for the condition on configmaps/never"


def test_wait_for_condition_already_met(k: Kubectl) -> None:
    """Pods are Pending without an agent: waiting for that phase returns at once."""
    k.apply(pod("pending"))
    out = k.out("wait", "--for=jsonpath={.status.phase}=Pending", "pod/pending", "--timeout=10s")
    assert out.strip() == "pod/pending condition met"


# ------------------------------------------------------------------------------------------ helpers


def _owned_pair(k: Kubectl, owner: str, dependent: str) -> str:
    """A ReplicaSet and a ConfigMap it owns (controller reference), so the GC has something to act on."""
    k.apply(replicaset(owner, replicas=0))
    uid = k.obj("replicaset", owner)["metadata"]["uid"]
    cm = configmap(dependent)
    cm["metadata"]["ownerReferences"] = [
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "name": owner,
            "uid": uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    k.apply(cm)
    return str(uid)


def _owner_refs(k: Kubectl, name: str) -> list[object]:
    return list(k.obj("configmap", name)["metadata"].get("ownerReferences") or [])


def test_delete_namespace_removes_its_contents(server: RunningServer) -> None:
    name = f"doomed-{int(time.time() * 1000) % 100000}"
    server.kubectl("create", "namespace", name)
    doomed = Kubectl(server, name)
    doomed.apply(configmap("c1"), pod("p1"), deployment("d1"))
    deleted = server.kubectl("delete", "namespace", name, "--timeout=90s", timeout=120)
    assert deleted.stdout.strip() == f'namespace "{name}" deleted'
    done = server.kubectl("get", "namespace", name, check=False)
    assert done.stderr.strip() == f'Error from server (NotFound): namespaces "{name}" not found'
    leftovers = json.loads(server.kubectl("get", "configmaps,pods,deployments", "-A", "-o", "json").stdout)
    assert [i for i in leftovers["items"] if i["metadata"]["namespace"] == name] == []
