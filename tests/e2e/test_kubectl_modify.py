"""Commands that change live objects: label, annotate, patch (three types), scale, edit; and describe."""

from __future__ import annotations

import json

import pytest
from kubectl_helpers import (
    MANUAL_SCHEDULER,
    NO_KUBELET_TAINT,
    Kubectl,
    configmap,
    deployment,
    node,
    pod,
    replicaset,
    replicationcontroller,
    row,
    service,
    to_yaml,
    wait_until_rolled_out,
)

from minikube_py.testing import RunningServer

pytestmark = pytest.mark.kubectl


# ------------------------------------------------------------------------------------------ label / annotate


def test_label_add_overwrite_remove(k: Kubectl) -> None:
    k.apply(pod("lp", {"tier": "web"}))
    assert k.lines("label", "pod", "lp", "team=a") == ["pod/lp labeled"]
    assert k.obj("pod", "lp")["metadata"]["labels"] == {"tier": "web", "team": "a"}
    done = k.fails("label", "pod", "lp", "team=b")
    assert "'team' already has a value (a), and --overwrite is false" in done.stderr
    assert k.obj("pod", "lp")["metadata"]["labels"]["team"] == "a"
    k.run("label", "pod", "lp", "team=b", "--overwrite")
    assert k.obj("pod", "lp")["metadata"]["labels"]["team"] == "b"
    assert k.lines("label", "pod", "lp", "team-") == ["pod/lp unlabeled"]
    assert k.obj("pod", "lp")["metadata"]["labels"] == {"tier": "web"}


def test_label_by_selector(k: Kubectl) -> None:
    k.apply(configmap("x1", {"g": "1"}), configmap("x2", {"g": "1"}), configmap("x3", {"g": "2"}))
    k.run("label", "configmaps", "-l", "g=1", "picked=yes")
    assert k.names("configmaps", "-l", "picked=yes") == ["x1", "x2"]


def test_label_invalid_value_is_rejected(k: Kubectl) -> None:
    k.apply(configmap("bad-label"))
    done = k.fails("label", "configmap", "bad-label", "k=-bad-")
    assert "Invalid" in done.stderr or "invalid label value" in done.stderr
    assert "labels" not in k.obj("configmap", "bad-label")["metadata"]


def test_annotate_add_overwrite_remove(k: Kubectl) -> None:
    k.apply(deployment("ad"))
    assert k.lines("annotate", "deployment", "ad", "note=first") == ["deployment.apps/ad annotated"]
    assert k.obj("deployment", "ad")["metadata"]["annotations"]["note"] == "first"
    assert "--overwrite is false" in k.fails("annotate", "deployment", "ad", "note=second").stderr
    k.run("annotate", "deployment", "ad", "note=second", "--overwrite")
    assert k.obj("deployment", "ad")["metadata"]["annotations"]["note"] == "second"
    k.run("annotate", "deployment", "ad", "note-")
    assert "note" not in (k.obj("deployment", "ad")["metadata"].get("annotations") or {})


def test_label_does_not_bump_generation(k: Kubectl) -> None:
    k.apply(deployment("gen"))
    k.run("label", "deployment", "gen", "x=y")
    assert k.obj("deployment", "gen")["metadata"]["generation"] == 1


# ------------------------------------------------------------------------------------------ patch


def test_patch_strategic_merges_containers_by_name(k: Kubectl) -> None:
    k.apply(deployment("sp"))
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "busybox:1.36"}]}}}}
    assert k.lines("patch", "deployment", "sp", "-p", json.dumps(patch)) == ["deployment.apps/sp patched"]
    containers = k.obj("deployment", "sp")["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("sidecar", "busybox:1.36"), ("main", "nginx:1.27")] or [
        (c["name"], c["image"]) for c in containers
    ] == [("main", "nginx:1.27"), ("sidecar", "busybox:1.36")]
    assert k.obj("deployment", "sp")["metadata"]["generation"] == 2


def test_patch_strategic_delete_directive(k: Kubectl) -> None:
    k.apply(deployment("sd"))
    k.run(
        "patch",
        "deployment",
        "sd",
        "-p",
        json.dumps({"spec": {"template": {"spec": {"containers": [{"name": "extra", "image": "busybox:1.36"}]}}}}),
    )
    k.run(
        "patch",
        "deployment",
        "sd",
        "-p",
        json.dumps({"spec": {"template": {"spec": {"containers": [{"name": "extra", "$patch": "delete"}]}}}}),
    )
    containers = k.obj("deployment", "sd")["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["main"]


def test_patch_merge_replaces_lists(k: Kubectl) -> None:
    k.apply(deployment("mp"))
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "only", "image": "redis:7"}]}}}}
    k.run("patch", "deployment", "mp", "--type=merge", "-p", json.dumps(patch))
    containers = k.obj("deployment", "mp")["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("only", "redis:7")]


def test_patch_merge_null_removes_key(k: Kubectl) -> None:
    k.apply(configmap("mn", a="1", b="2"))
    k.run("patch", "configmap", "mn", "--type=merge", "-p", '{"data":{"a":null}}')
    assert k.obj("configmap", "mn")["data"] == {"b": "2"}


def test_patch_json(k: Kubectl) -> None:
    k.apply(deployment("jp", replicas=1))
    ops = [
        {"op": "replace", "path": "/spec/replicas", "value": 5},
        {"op": "add", "path": "/metadata/labels", "value": {"via": "json-patch"}},
    ]
    assert k.lines("patch", "deployment", "jp", "--type=json", "-p", json.dumps(ops)) == ["deployment.apps/jp patched"]
    live = k.obj("deployment", "jp")
    assert live["spec"]["replicas"] == 5
    assert live["metadata"]["labels"] == {"via": "json-patch"}


def test_patch_json_failed_test_op_changes_nothing(k: Kubectl) -> None:
    k.apply(configmap("jt", a="1"))
    rv = k.obj("configmap", "jt")["metadata"]["resourceVersion"]
    ops = [{"op": "test", "path": "/data/a", "value": "2"}, {"op": "replace", "path": "/data/a", "value": "3"}]
    k.fails("patch", "configmap", "jt", "--type=json", "-p", json.dumps(ops))
    live = k.obj("configmap", "jt")
    assert live["data"] == {"a": "1"} and live["metadata"]["resourceVersion"] == rv


def test_patch_without_change_reports_no_change(k: Kubectl) -> None:
    k.apply(configmap("nc", a="1"))
    assert k.lines("patch", "configmap", "nc", "--type=merge", "-p", '{"data":{"a":"1"}}') == [
        "configmap/nc patched (no change)"
    ]


def test_patch_missing_object_is_not_found(k: Kubectl) -> None:
    done = k.fails("patch", "configmap", "ghost", "-p", '{"data":{"a":"1"}}')
    assert done.stderr.strip() == 'Error from server (NotFound): configmaps "ghost" not found'


def test_patch_node_taints_replace_list(server: RunningServer, namespace: str) -> None:
    name = f"taint-{namespace[-4:]}"
    server.kubectl("apply", "-f", "-", input=to_yaml(node(name)))
    try:
        server.kubectl("taint", "nodes", name, "a=1:NoSchedule")
        server.kubectl("taint", "nodes", name, "b=2:NoExecute")
        server.kubectl("taint", "nodes", name, "a:NoSchedule-")
        taints = json.loads(server.kubectl("get", "node", name, "-o", "json").stdout)["spec"]["taints"]
        # kubectl puts the taints it adds before those it keeps
        assert [(t["key"], t["effect"]) for t in taints] == [
            ("b", "NoExecute"),
            (NO_KUBELET_TAINT["key"], "NoSchedule"),
        ]
        server.kubectl("cordon", name)
        assert json.loads(server.kubectl("get", "node", name, "-o", "json").stdout)["spec"]["unschedulable"] is True
    finally:
        server.kubectl("delete", "node", name)


# ------------------------------------------------------------------------------------------ scale


@pytest.mark.parametrize(
    ("resource", "manifest", "printed"),
    [
        ("deployment", deployment, "deployment.apps/sc scaled"),
        ("replicaset", replicaset, "replicaset.apps/sc scaled"),
        ("replicationcontroller", replicationcontroller, "replicationcontroller/sc scaled"),
    ],
)
def test_scale(k: Kubectl, resource: str, manifest: object, printed: str) -> None:
    k.apply(manifest("sc"))  # type: ignore[operator]
    assert k.lines("scale", resource, "sc", "--replicas=3") == [printed]
    assert k.obj(resource, "sc")["spec"]["replicas"] == 3
    assert k.lines("scale", resource, "sc", "--replicas=5", "--current-replicas=3") == [printed]
    assert k.obj(resource, "sc")["spec"]["replicas"] == 5


def test_scale_current_replicas_mismatch(k: Kubectl) -> None:
    k.apply(deployment("mm", replicas=2))
    done = k.fails("scale", "deployment", "mm", "--replicas=4", "--current-replicas=3")
    assert done.stderr.strip() == "error: Expected replicas to be 3, was 2"
    assert k.obj("deployment", "mm")["spec"]["replicas"] == 2


def test_scale_stale_resource_version_is_refused(k: Kubectl) -> None:
    k.apply(deployment("st", replicas=0))
    wait_until_rolled_out(k, "st")  # the controller has written its last status: only the label moves the version
    stale = k.obj("deployment", "st")["metadata"]["resourceVersion"]
    k.run("label", "deployment", "st", "bump=1")
    fresh = k.obj("deployment", "st")["metadata"]["resourceVersion"]
    done = k.fails("scale", "deployment", "st", "--replicas=4", f"--resource-version={stale}")
    assert done.stderr.strip() == f"error: Expected resource version to be {stale}, was {fresh}"
    assert k.obj("deployment", "st")["spec"]["replicas"] == 0


def test_scale_reads_through_subresource(k: Kubectl, server: RunningServer) -> None:
    k.apply(deployment("sub", replicas=2))
    status, scale = server.request("GET", f"/apis/apps/v1/namespaces/{k.namespace}/deployments/sub/scale")
    assert status == 200
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"] == {"replicas": 2}
    assert scale["status"]["selector"] == "app=sub"


# ------------------------------------------------------------------------------------------ edit


def test_edit_with_scripted_editor(k: Kubectl) -> None:
    k.apply(deployment("ed", replicas=1))
    done = k.run("edit", "deployment", "ed", env={"EDITOR": "sed -i s/replicas:\\ 1/replicas:\\ 2/"})
    assert done.stdout.strip() == "deployment.apps/ed edited"
    assert k.obj("deployment", "ed")["spec"]["replicas"] == 2


def test_edit_without_change_is_cancelled(k: Kubectl) -> None:
    k.apply(configmap("same"))
    rv = k.obj("configmap", "same")["metadata"]["resourceVersion"]
    done = k.run("edit", "configmap", "same", env={"EDITOR": "true"})
    assert "Edit cancelled, no changes made." in done.stderr
    assert k.obj("configmap", "same")["metadata"]["resourceVersion"] == rv


def test_edit_invalid_change_is_reported(k: Kubectl) -> None:
    k.apply(pod("edpod"))
    done = k.run("edit", "pod", "edpod", check=False, env={"EDITOR": "sed -i s/image:\\ nginx:1.27/image:\\ \\'\\'/"})
    assert done.returncode == 1
    assert 'pods "edpod" is invalid' in done.stderr
    assert k.obj("pod", "edpod")["spec"]["containers"][0]["image"] == "nginx:1.27"


# ------------------------------------------------------------------------------------------ describe


def test_describe_pod(k: Kubectl) -> None:
    k.apply(pod("dp", {"tier": "web"}))
    out = k.out("describe", "pod", "dp")
    fields = _describe_fields(out)
    assert fields["Name"] == "dp"
    assert fields["Namespace"] == k.namespace
    assert fields["Labels"] == "tier=web"
    assert fields["Status"] == "Pending"
    assert "Image:" in out and "nginx:1.27" in out
    assert fields["QoS Class"] == "BestEffort"


def test_describe_service(k: Kubectl) -> None:
    k.apply(service("ds"))
    fields = _describe_fields(k.out("describe", "svc", "ds"))
    assert fields["Name"] == "ds"
    assert fields["Type"] == "ClusterIP"
    assert fields["IP"].startswith("10.")
    assert fields["Port"] == "<unset>  80/TCP"
    assert fields["Selector"] == "app=ds"


def test_describe_deployment(k: Kubectl) -> None:
    k.apply(deployment("dd", replicas=2))
    out = k.out("describe", "deployment", "dd")
    fields = _describe_fields(out)
    assert fields["Name"] == "dd"
    assert fields["Selector"] == "app=dd"
    assert fields["Replicas"].startswith("2 desired")
    assert fields["StrategyType"] == "RollingUpdate"


def test_describe_node(server: RunningServer, namespace: str) -> None:
    name = f"desc-{namespace[-4:]}"
    server.kubectl("apply", "-f", "-", input=to_yaml(node(name)))
    try:
        out = server.kubectl("describe", "node", name).stdout
        fields = _describe_fields(out)
        assert fields["Name"] == name
        assert "Ready" in out and "KubeletReady" in out
        assert "InternalIP:" in out and "10.0.0.10" in out
    finally:
        server.kubectl("delete", "node", name)


def test_describe_namespace(k: Kubectl, server: RunningServer) -> None:
    fields = _describe_fields(server.kubectl("describe", "namespace", k.namespace).stdout)
    assert fields["Name"] == k.namespace
    assert fields["Status"] == "Active"


def test_describe_shows_events(k: Kubectl) -> None:
    k.apply(pod("evp"))
    uid = k.obj("pod", "evp")["metadata"]["uid"]
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "evp.1"},
        "involvedObject": {"kind": "Pod", "namespace": k.namespace, "name": "evp", "uid": uid, "apiVersion": "v1"},
        "reason": "Scheduled",
        "message": "Successfully assigned to nowhere",
        "type": "Normal",
        "source": {"component": "default-scheduler"},
        "count": 1,
        "firstTimestamp": "2026-01-01T00:00:00Z",
        "lastTimestamp": "2026-01-01T00:00:00Z",
    }
    k.apply(event, verb="create")
    out = k.out("describe", "pod", "evp")
    events = out[out.index("Events:") :]
    assert "Scheduled" in events and "default-scheduler" in events and "Successfully assigned to nowhere" in events


def _describe_fields(out: str) -> dict[str, str]:
    """Top-level ``Key:  value`` lines of describe output."""
    result: dict[str, str] = {}
    for line in out.splitlines():
        if line and not line[0].isspace() and ":" in line:
            key, _, value = line.partition(":")
            result.setdefault(key, value.strip())
    return result


def test_patch_and_get_status_subresource(k: Kubectl) -> None:
    """On a pod left to a scheduler nobody runs: no controller or kubelet writes its status, so what
    the test reads back is what it wrote (a workload's controller would rewrite its status at once)."""
    k.apply(pod("stat", schedulerName=MANUAL_SCHEDULER))
    generation = k.obj("pod", "stat")["metadata"]["generation"]
    running = {
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {
                    "name": "main",
                    "ready": True,
                    "restartCount": 2,
                    "image": "nginx:1.27",
                    "imageID": "",
                    "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
                }
            ],
        }
    }
    k.run("patch", "pod", "stat", "--subresource=status", "--type=merge", "-p", json.dumps(running))
    live = k.obj("pod", "stat")
    assert live["status"]["phase"] == "Running" and live["status"]["containerStatuses"][0]["ready"] is True
    assert live["metadata"]["generation"] == generation
    out = k.out("get", "pod", "stat", "--subresource=status")
    assert row(out, "stat")[1:4] == ["1/1", "Running", "2"]
    # status sent to the main resource is ignored
    k.run("patch", "pod", "stat", "--type=merge", "-p", '{"status":{"phase":"Failed"}}')
    assert k.obj("pod", "stat")["status"]["phase"] == "Running"
