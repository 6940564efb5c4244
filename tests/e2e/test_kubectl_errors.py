"""Server errors exactly as kubectl prints them, and that a refused write changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kubectl_helpers import Kubectl, configmap, deployment, pod, to_yaml, wait_until_scheduler_saw

from minikube_py.testing import RunningServer

pytestmark = pytest.mark.kubectl


def test_not_found_core_and_grouped(k: Kubectl) -> None:
    assert k.fails("get", "pod", "x").stderr.strip() == 'Error from server (NotFound): pods "x" not found'
    assert (
        k.fails("get", "deployment", "x").stderr.strip()
        == 'Error from server (NotFound): deployments.apps "x" not found'
    )
    assert (
        k.fails("get", "lease", "x").stderr.strip()
        == 'Error from server (NotFound): leases.coordination.k8s.io "x" not found'
    )


def test_not_found_namespace(server: RunningServer) -> None:
    done = server.kubectl("get", "pods", "-n", "no-such-ns", check=False)
    assert done.returncode == 0  # listing an absent namespace is empty, as in Kubernetes
    assert done.stderr.strip() == "No resources found in no-such-ns namespace."
    done = server.kubectl("create", "configmap", "c", "-n", "no-such-ns", check=False)
    assert done.returncode == 1
    assert done.stderr.strip() == 'error: failed to create configmap: namespaces "no-such-ns" not found'


def test_unknown_resource_type(k: Kubectl) -> None:
    # not "widgets": the CRD tests serve that name, and kubectl's discovery cache (shared by the
    # session's kubectl runs) would still list it after they delete their definition
    assert k.fails("get", "gadgets").stderr.strip() == 'error: the server doesn\'t have a resource type "gadgets"'


def test_already_exists(k: Kubectl) -> None:
    k.run("create", "configmap", "dup")
    done = k.fails("create", "configmap", "dup")
    assert done.stderr.strip() == 'error: failed to create configmap: configmaps "dup" already exists'
    k.apply(pod("dup-pod"), verb="create")
    done = k.fails("create", "-f", "-", input=to_yaml(pod("dup-pod")))
    assert (
        done.stderr.strip()
        == 'Error from server (AlreadyExists): error when creating "STDIN": pods "dup-pod" already exists'
    )


def test_invalid_pod_missing_image(k: Kubectl) -> None:
    bad = pod("x")
    del bad["spec"]["containers"][0]["image"]
    done = k.fails("create", "-f", "-", input=to_yaml(bad))
    assert done.stderr.strip() == 'The Pod "x" is invalid: spec.containers[0].image: Required value'
    assert not k.exists("pod", "x")


def test_invalid_name(k: Kubectl) -> None:
    done = k.fails("create", "-f", "-", input=to_yaml(configmap("Bad_Name")))
    assert done.stderr.startswith('The ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": ')
    assert k.names("configmaps") == ["kube-root-ca.crt"]  # what every namespace holds, nothing more


def test_invalid_several_causes_are_listed(k: Kubectl) -> None:
    bad = deployment("bad")
    bad["spec"]["replicas"] = -1
    bad["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    done = k.fails("create", "-f", "-", input=to_yaml(bad))
    assert done.stderr.startswith('The Deployment "bad" is invalid: \n* ')
    assert "spec.replicas: Invalid value: -1" in done.stderr
    assert "spec.template.metadata.labels" in done.stderr
    assert not k.exists("deployment", "bad")


def test_invalid_on_update(k: Kubectl) -> None:
    k.apply(deployment("upd", replicas=1))
    done = k.fails("patch", "deployment", "upd", "--type=merge", "-p", '{"spec":{"replicas":-3}}')
    assert done.stderr.startswith('The Deployment "upd" is invalid: spec.replicas: Invalid value: -3')
    assert k.obj("deployment", "upd")["spec"]["replicas"] == 1


def test_conflict_on_stale_replace(k: Kubectl) -> None:
    k.apply(configmap("cc", a="1"))
    stale = k.obj("configmap", "cc")
    k.run("patch", "configmap", "cc", "--type=merge", "-p", '{"data":{"a":"2"}}')
    stale["data"] = {"a": "3"}
    done = k.fails("replace", "-f", "-", input=json.dumps(stale))
    assert done.stderr.strip() == (
        'Error from server (Conflict): error when replacing "STDIN": Operation cannot be fulfilled on configmaps "cc": '
        "the object has been modified; please apply your changes to the latest version and try again"
    )
    assert k.obj("configmap", "cc")["data"] == {"a": "2"}


def test_replace_with_current_version_succeeds(k: Kubectl) -> None:
    k.apply(configmap("rc", a="1"))
    live = k.obj("configmap", "rc")
    live["data"] = {"a": "9"}
    assert k.lines("replace", "-f", "-", input=json.dumps(live)) == ["configmap/rc replaced"]
    assert k.obj("configmap", "rc")["data"] == {"a": "9"}


def test_conflict_on_stale_scale_put(k: Kubectl, server: RunningServer) -> None:
    k.apply(deployment("sp", replicas=1))
    path = f"/apis/apps/v1/namespaces/{k.namespace}/deployments/sp/scale"
    _, scale = server.request("GET", path)
    k.run("label", "deployment", "sp", "bump=1")
    scale["spec"]["replicas"] = 4
    status, body = server.request("PUT", path, scale)
    assert (status, body["reason"]) == (409, "Conflict")
    assert k.obj("deployment", "sp")["spec"]["replicas"] == 1


def test_bad_request_wrong_namespace_in_body(k: Kubectl) -> None:
    cm = configmap("elsewhere")
    cm["metadata"]["namespace"] = "kube-public"
    done = k.fails("create", "-f", "-", input=to_yaml(cm))
    assert 'the namespace from the provided object "kube-public" does not match the namespace' in done.stderr
    assert not k.exists("configmap", "elsewhere")


def test_bad_request_invalid_label_selector(k: Kubectl) -> None:
    done = k.fails("get", "pods", "-l", "a in b")
    assert done.stderr.startswith("Error from server (BadRequest): ")


def test_bad_request_invalid_field_selector(k: Kubectl) -> None:
    done = k.fails("get", "pods", "--field-selector", "spec.unknownField=x")
    assert done.stderr.startswith("Error from server (BadRequest): ")
    assert "spec.unknownField" in done.stderr


def test_bad_request_raw_garbage(server: RunningServer, namespace: str) -> None:
    status, body = server.request("POST", f"/api/v1/namespaces/{namespace}/configmaps", b"{not json")
    assert status == 400
    assert body["kind"] == "Status" and body["reason"] == "BadRequest"


@pytest.mark.parametrize("name", ["default", "kube-system", "kube-public"])
def test_system_namespaces_may_not_be_deleted(server: RunningServer, name: str) -> None:
    done = server.kubectl("delete", "namespace", name, check=False)
    assert done.returncode == 1
    assert (
        done.stderr.strip()
        == f'Error from server (Forbidden): namespaces "{name}" is forbidden: this namespace may not be deleted'
    )
    ns = json.loads(server.kubectl("get", "namespace", name, "-o", "json").stdout)
    assert "deletionTimestamp" not in ns["metadata"]
    assert ns["status"]["phase"] == "Active"


def test_request_body_over_the_limit_is_refused(k: Kubectl, tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_text("x" * (3 * 1024 * 1024 + 1))
    done = k.fails("create", "configmap", "big", f"--from-file={big}")
    assert done.stderr.startswith("error: failed to create configmap: ")
    assert "3145728" in done.stderr
    assert not k.exists("configmap", "big")


def test_stale_resource_version_on_label_conflicts(k: Kubectl) -> None:
    k.apply(configmap("lv"))
    stale = k.obj("configmap", "lv")["metadata"]["resourceVersion"]
    k.run("annotate", "configmap", "lv", "bump=1")
    done = k.fails("label", "configmap", "lv", "a=b", f"--resource-version={stale}")
    assert done.stderr.strip() == (
        'Error from server (Conflict): Operation cannot be fulfilled on configmaps "lv": the object has been '
        "modified; please apply your changes to the latest version and try again"
    )
    assert "labels" not in k.obj("configmap", "lv")["metadata"]


def test_pod_spec_is_mostly_immutable(k: Kubectl) -> None:
    k.apply(pod("imm"))
    wait_until_scheduler_saw(k, "imm")  # so its status write cannot make the replaced version stale
    live = k.obj("pod", "imm")
    live["spec"]["restartPolicy"] = "Never"
    done = k.fails("replace", "-f", "-", input=json.dumps(live))
    assert done.stderr.startswith('The Pod "imm" is invalid: spec: Forbidden: pod updates may not change fields')
    assert k.obj("pod", "imm")["spec"]["restartPolicy"] == "Always"
    live = k.obj("pod", "imm")
    live["spec"]["containers"][0]["image"] = "nginx:1.28"
    assert k.lines("replace", "-f", "-", input=json.dumps(live)) == ["pod/imm replaced"]
    assert k.obj("pod", "imm")["spec"]["containers"][0]["image"] == "nginx:1.28"
