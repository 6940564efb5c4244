"""``create -f`` and ``apply -f`` from JSON, YAML, multi-document files and Lists; server-side apply."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kubectl_helpers import Kubectl, client_view, configmap, deployment, pod, service, to_yaml

pytestmark = pytest.mark.kubectl

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def test_create_from_json_file(k: Kubectl, tmp_path: Path) -> None:
    path = tmp_path / "pod.json"
    path.write_text(json.dumps(pod("from-json")))
    assert k.lines("create", "-f", str(path)) == ["pod/from-json created"]
    assert k.obj("pod", "from-json")["spec"]["containers"][0]["image"] == "nginx:1.27"


def test_create_from_yaml_file(k: Kubectl, tmp_path: Path) -> None:
    path = tmp_path / "deploy.yaml"
    path.write_text(to_yaml(deployment("web", replicas=2)))
    assert k.lines("create", "-f", str(path)) == ["deployment.apps/web created"]
    live = k.obj("deployment", "web")
    assert live["spec"]["replicas"] == 2
    assert live["metadata"]["generation"] == 1


def test_create_multi_document(k: Kubectl) -> None:
    out = k.apply(configmap("one"), service("svc-one"), deployment("dep-one"), verb="create")
    assert out == ["configmap/one created", "service/svc-one created", "deployment.apps/dep-one created"]
    assert k.exists("configmap", "one") and k.exists("service", "svc-one") and k.exists("deployment", "dep-one")


def test_create_list(k: Kubectl) -> None:
    doc = {"apiVersion": "v1", "kind": "List", "items": [configmap("l-1"), configmap("l-2")]}
    assert k.lines("create", "-f", "-", input=json.dumps(doc)) == ["configmap/l-1 created", "configmap/l-2 created"]
    assert {"l-1", "l-2"} <= set(k.names("configmaps"))


def test_create_existing_is_already_exists(k: Kubectl) -> None:
    k.apply(configmap("dup"), verb="create")
    done = k.fails("create", "-f", "-", input=to_yaml(configmap("dup")))
    assert (
        'Error from server (AlreadyExists): error when creating "STDIN": configmaps "dup" already exists' in done.stderr
    )


def test_create_dry_run_server_creates_nothing(k: Kubectl) -> None:
    out = k.apply(configmap("dry"), verb="create", extra=["--dry-run=server"])
    assert out == ["configmap/dry created (server dry run)"]
    assert not k.exists("configmap", "dry")
    k.apply(configmap("dry"), verb="create")
    done = k.fails("create", "-f", "-", "--dry-run=server", input=to_yaml(configmap("dry")))
    assert (
        'Error from server (AlreadyExists): error when creating "STDIN": configmaps "dry" already exists' in done.stderr
    )


def test_apply_twice_is_unchanged(k: Kubectl, tmp_path: Path) -> None:
    path = tmp_path / "app.yaml"
    path.write_text(to_yaml(deployment("app"), service("app"), configmap("app-cfg")))
    assert k.lines("apply", "-f", str(path)) == [
        "deployment.apps/app created",
        "service/app created",
        "configmap/app-cfg created",
    ]
    objects = (("service", "app"), ("configmap", "app-cfg"))
    before = [k.obj(kind, name)["metadata"]["resourceVersion"] for kind, name in objects]
    # the Deployment's controller keeps writing its status meanwhile: compare what apply could change
    deployment_before = client_view(k.obj("deployment", "app"))
    last_applied = k.obj("deployment", "app")["metadata"]["annotations"][LAST_APPLIED]
    assert k.lines("apply", "-f", str(path)) == [
        "deployment.apps/app unchanged",
        "service/app unchanged",
        "configmap/app-cfg unchanged",
    ]
    after = [k.obj(kind, name)["metadata"]["resourceVersion"] for kind, name in objects]
    assert after == before
    live = k.obj("deployment", "app")
    assert client_view(live) == deployment_before
    assert live["metadata"]["annotations"][LAST_APPLIED] == last_applied


def test_apply_stores_last_applied_configuration(k: Kubectl) -> None:
    k.apply(configmap("la", a="1"))
    annotation = k.obj("configmap", "la")["metadata"]["annotations"][LAST_APPLIED]
    assert json.loads(annotation) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "data": {"a": "1"},
        "metadata": {"annotations": {}, "name": "la", "namespace": k.namespace},
    }


def test_apply_changed_image_is_configured(k: Kubectl) -> None:
    k.apply(deployment("img", image="nginx:1.26"))
    generation = k.obj("deployment", "img")["metadata"]["generation"]
    assert k.apply(deployment("img", image="nginx:1.27", replicas=3)) == ["deployment.apps/img configured"]
    live = k.obj("deployment", "img")
    assert live["spec"]["template"]["spec"]["containers"] == [
        {**live["spec"]["template"]["spec"]["containers"][0], "name": "main", "image": "nginx:1.27"}
    ]
    assert len(live["spec"]["template"]["spec"]["containers"]) == 1
    assert live["spec"]["replicas"] == 3
    assert live["metadata"]["generation"] == generation + 1
    assert '"nginx:1.27"' in live["metadata"]["annotations"][LAST_APPLIED]


def test_apply_removes_field_dropped_from_file(k: Kubectl) -> None:
    k.apply(configmap("drop", a="1", b="2"))
    assert k.apply(configmap("drop", a="1")) == ["configmap/drop configured"]
    assert k.obj("configmap", "drop")["data"] == {"a": "1"}


def test_apply_keeps_fields_set_by_others(k: Kubectl) -> None:
    k.apply(configmap("mixed", a="1"))
    k.run("label", "configmap", "mixed", "owner=someone")
    k.apply(configmap("mixed", a="2"))
    live = k.obj("configmap", "mixed")
    assert live["data"] == {"a": "2"}
    assert live["metadata"]["labels"] == {"owner": "someone"}


def test_apply_json_list(k: Kubectl) -> None:
    doc = {"apiVersion": "v1", "kind": "List", "items": [configmap("al-1"), pod("al-pod")]}
    assert k.lines("apply", "-f", "-", input=json.dumps(doc)) == ["configmap/al-1 created", "pod/al-pod created"]
    assert k.lines("apply", "-f", "-", input=json.dumps(doc)) == ["configmap/al-1 unchanged", "pod/al-pod unchanged"]


def test_server_side_apply_creates_then_updates(k: Kubectl) -> None:
    assert k.apply(deployment("ssa", replicas=1), extra=["--server-side"]) == ["deployment.apps/ssa serverside-applied"]
    created = k.obj("deployment", "ssa")
    assert created["spec"]["replicas"] == 1
    assert k.apply(deployment("ssa", replicas=4, image="nginx:1.28"), extra=["--server-side"]) == [
        "deployment.apps/ssa serverside-applied"
    ]
    updated = k.obj("deployment", "ssa")
    assert updated["metadata"]["uid"] == created["metadata"]["uid"]
    assert updated["spec"]["replicas"] == 4
    assert updated["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"


def test_server_side_apply_over_client_side_apply(k: Kubectl) -> None:
    k.apply(configmap("mig", a="1"))
    assert k.apply(configmap("mig", a="2"), extra=["--server-side"]) == ["configmap/mig serverside-applied"]
    assert k.obj("configmap", "mig")["data"] == {"a": "2"}


def test_apply_service_change_keeps_allocated_cluster_ip(k: Kubectl) -> None:
    k.apply(service("keep", port=80))
    ip = k.obj("service", "keep")["spec"]["clusterIP"]
    assert k.apply(service("keep", port=8080)) == ["service/keep configured"]
    live = k.obj("service", "keep")
    assert live["spec"]["clusterIP"] == ip
    assert [p["port"] for p in live["spec"]["ports"]] == [8080]
