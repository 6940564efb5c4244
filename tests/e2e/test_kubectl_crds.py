"""CustomResourceDefinitions with the real kubectl: a CRD serves its resource at once, with its
printer columns, schema validation, pruning, defaults, status and scale subresources and several
versions; deleting the CRD deletes its objects, and a restart serves them again."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from crd_manifests import category, short_name, widget, widget_crd
from kubectl_helpers import Kubectl
from support import postgres_url

from minikube_py.testing import RunningServer, fresh_postgres_database, start_server


@pytest.fixture
def group() -> str:
    """A group of this test's own: CRDs are cluster-scoped, and other tests share the server."""
    return f"t{os.urandom(3).hex()}.pykube.test"


@pytest.fixture
def crd(k: Kubectl, group: str) -> Iterator[str]:
    k.apply(widget_crd(group))
    yield f"widgets.{group}"
    k.run("delete", "crd", f"widgets.{group}", "--ignore-not-found")


def test_crd_is_established_and_listed(k: Kubectl, crd: str) -> None:
    got = k.obj("crd", crd)
    conditions = {c["type"]: c["status"] for c in got["status"]["conditions"]}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    assert got["status"]["storedVersions"] == ["v1"]
    assert got["status"]["acceptedNames"]["kind"] == "Widget"
    assert got["spec"]["names"]["listKind"] == "WidgetList"
    assert crd in k.out("get", "crds")
    k.run("wait", "--for", "condition=established", f"crd/{crd}", "--timeout=10s")
    resources = k.out("api-resources", "--api-group", crd.split(".", 1)[1])
    assert "widgets" in resources and short_name(crd.split(".", 1)[1]) in resources and "Widget" in resources


def test_explain_reads_the_schema_from_openapi_v3(k: Kubectl, crd: str, group: str) -> None:
    explained = k.out("explain", "widgets.spec.size", f"--api-version={group}/v1")
    assert f"GROUP:      {group}" in explained and "KIND:       Widget" in explained
    assert "How big the widget is." in explained and "small" in explained
    assert "replicas\t<integer>" in k.out("explain", "widgets.spec", f"--api-version={group}/v1")


def test_a_crd_whose_name_is_taken_is_not_established(k: Kubectl, crd: str, group: str) -> None:
    clash = widget_crd(group)
    clash["metadata"]["name"] = f"gadgets.{group}"
    clash["spec"]["names"] = {"plural": "gadgets", "singular": "gadget", "kind": "Widget"}
    k.apply(clash)
    try:
        conditions = {c["type"]: c for c in k.obj("crd", f"gadgets.{group}")["status"]["conditions"]}
        assert conditions["NamesAccepted"]["status"] == "False"
        assert conditions["NamesAccepted"]["reason"] == "KindConflict"
        assert conditions["NamesAccepted"]["message"] == '"Widget" is already in use'
        assert conditions["Established"]["status"] == "False"
        assert k.server.request("GET", f"/apis/{group}/v1/gadgets")[0] == 404
        assert k.server.request("GET", f"/apis/{group}/v1/widgets")[0] == 200
    finally:
        k.run("delete", "crd", f"gadgets.{group}")


def test_get_shows_printer_columns_and_defaults(k: Kubectl, crd: str, group: str) -> None:
    k.apply(widget(group, "w1"), widget(group, "w2", size="large", replicas=3, color="red"))
    lines = k.lines("get", crd)
    assert lines[0].split() == ["NAME", "SIZE", "REPLICAS", "PHASE", "AGE"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    # no phase yet: kubectl prints the missing cell empty, as for Kubernetes' own CRD tables
    assert rows["w1"][1:3] == ["small", "1"] and len(rows["w1"]) == 4
    assert rows["w2"][1:3] == ["large", "3"] and len(rows["w2"]) == 4
    assert k.lines("get", short_name(group), "-o", "wide")[0].split() == [
        "NAME",
        "SIZE",
        "REPLICAS",
        "PHASE",
        "COLOR",
        "AGE",
    ]
    assert k.obj(crd, "w1")["spec"] == {"size": "small", "replicas": 1, "color": "blue"}
    assert "w1" in k.out("get", category(group))
    assert f'apiserver_storage_objects{{resource="{crd}"}} 2.0' in k.server.request("GET", "/metrics")[1]
    assert k.names(crd, "--field-selector", "metadata.name=w2") == ["w2"]
    assert k.names(crd, "--field-selector", "spec.color=blue") == ["w1"]  # selectableFields
    assert "field label not supported: spec.size" in k.fails("get", crd, "--field-selector", "spec.size=small").stderr


def test_a_default_added_later_shows_on_stored_objects_and_in_watches(k: Kubectl, crd: str, group: str) -> None:
    k.apply(widget(group, "old"))
    changed = widget_crd(group)
    changed["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["mode"] = {
        "type": "string",
        "default": "auto",
    }
    k.apply(changed)
    assert k.obj(crd, "old")["spec"]["mode"] == "auto"
    status, events = k.server.request(
        "GET", f"/apis/{group}/v1/namespaces/{k.namespace}/widgets?watch=true&timeoutSeconds=1"
    )
    assert status == 200
    first = events if isinstance(events, dict) else json.loads(events.splitlines()[0])  # one event decodes whole
    assert first["type"] == "ADDED" and first["object"]["spec"]["mode"] == "auto"


def test_schema_violation_is_422_with_kubernetes_message(k: Kubectl, crd: str, group: str) -> None:
    bad = widget(group, "bad", size="small", replicas="three")
    done = k.fails("create", "-f", "-", input=json.dumps(bad))
    assert (
        'spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"' in done.stderr
    )
    done = k.fails("create", "-f", "-", input=json.dumps(widget(group, "bad", size="medium")))
    assert 'spec.size: Unsupported value: "medium": supported values: "small", "large"' in done.stderr
    done = k.fails("create", "-f", "-", input=json.dumps(widget(group, "bad", size="small", color="Red")))
    assert "spec.color in body should match '^[a-z]+$'" in done.stderr
    assert (
        "spec.size: Required value"
        in k.fails("create", "-f", "-", input=json.dumps(widget(group, "bad", replicas=1))).stderr
    )
    assert not k.exists(crd, "bad")


def test_validation_rules_refuse_objects_in_kubernetes_words(k: Kubectl, group: str) -> None:
    """x-kubernetes-validations in CEL: a rule with its message, one with a messageExpression and a
    fieldPath, and a transition rule that makes a field immutable; a broken rule refuses the CRD."""
    definition = widget_crd(group)
    spec = definition["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec["x-kubernetes-validations"] = [
        {"rule": "self.size == 'large' || self.replicas <= 3", "message": "small widgets run at most 3 replicas"},
        {
            "rule": "self.color != 'red'",
            "messageExpression": "'color ' + self.color + ' is taken'",
            "fieldPath": ".color",
        },
        {"rule": "self.size == oldSelf.size", "message": "size is immutable", "reason": "FieldValueForbidden"},
    ]
    k.apply(definition)
    try:
        k.run("wait", "--for", "condition=established", f"crd/widgets.{group}", "--timeout=10s")
        refused = k.fails("create", "-f", "-", input=json.dumps(widget(group, "w", size="small", replicas=5)))
        assert 'is invalid: spec: Invalid value: "object": small widgets run at most 3 replicas' in refused.stderr
        refused = k.fails("create", "-f", "-", input=json.dumps(widget(group, "w", size="small", color="red")))
        assert 'is invalid: spec.color: Invalid value: "object": color red is taken' in refused.stderr
        k.run("create", "-f", "-", input=json.dumps(widget(group, "w", size="small", replicas=2)))
        refused = k.fails("patch", f"widgets.{group}", "w", "--type=merge", "-p", '{"spec":{"size":"large"}}')
        assert "spec: Forbidden: size is immutable" in refused.stderr
        k.run("patch", f"widgets.{group}", "w", "--type=merge", "-p", '{"spec":{"replicas":3}}')
        assert k.obj(f"widgets.{group}", "w")["spec"]["replicas"] == 3
        spec["x-kubernetes-validations"] = [{"rule": "self.replicas >"}]
        broken = k.fails("apply", "-f", "-", input=json.dumps(definition))
        assert "x-kubernetes-validations[0].rule: Invalid value: apiextensions.ValidationRule{" in broken.stderr
        assert "compilation failed: ERROR: <input>:1:" in broken.stderr
    finally:
        k.run("delete", "crd", f"widgets.{group}", "--ignore-not-found")


def test_unknown_field_is_pruned_with_a_warning(k: Kubectl, crd: str, group: str) -> None:
    obj = widget(group, "w", size="small", bogus=1, extra={"anything": {"goes": True}})
    done = k.run("apply", "--validate=warn", "-f", "-", input=json.dumps(obj))
    assert 'unknown field "spec.bogus"' in done.stderr
    spec = k.obj(crd, "w")["spec"]
    assert "bogus" not in spec
    assert spec["extra"] == {"anything": {"goes": True}}
    strict = k.fails("create", "-f", "-", input=json.dumps(widget(group, "w2", size="small", bogus=1)))
    assert 'unknown field "spec.bogus"' in strict.stderr


def test_apply_updates_and_patch_types(k: Kubectl, crd: str, group: str) -> None:
    k.apply(widget(group, "w", size="small"))
    done = k.run("apply", "-f", "-", input=json.dumps(widget(group, "w", size="large", replicas=2)))
    assert done.stderr == ""
    assert k.obj(crd, "w")["spec"]["size"] == "large"
    k.run("patch", crd, "w", "--type=merge", "-p", '{"spec":{"color":"green"}}')
    k.run("label", crd, "w", "tier=gold")
    assert k.names(crd, "-l", "tier=gold") == ["w"]
    strategic = k.fails("patch", crd, "w", "--type=strategic", "-p", '{"spec":{"color":"red"}}')
    assert "UnsupportedMediaType" in strategic.stderr or "unknown format" in strategic.stderr
    k.run("apply", "--server-side", "-f", "-", input=json.dumps(widget(group, "w", size="large", replicas=5)))
    assert k.obj(crd, "w")["spec"]["replicas"] == 5
    k.apply(widget(group, "other"))
    collection = f"/apis/{group}/v1/namespaces/{k.namespace}/widgets"
    status, deleted = k.server.request("DELETE", collection + "?labelSelector=tier%3Dgold")
    assert status == 200 and [o["metadata"]["name"] for o in deleted["items"]] == ["w"]
    assert k.names(crd) == ["other"]


def test_status_and_scale_subresources(k: Kubectl, crd: str, group: str) -> None:
    k.apply(widget(group, "w", size="small", replicas=1))
    ns = k.namespace
    path = f"/apis/{group}/v1/namespaces/{ns}/widgets/w"
    # a main-resource write ignores status, a status write ignores spec
    obj = k.obj(crd, "w")
    obj["status"] = {"phase": "Ignored"}
    obj["spec"]["replicas"] = 2
    status, _ = k.server.request("PUT", path, obj)
    assert status == 200
    got = k.obj(crd, "w")
    assert "status" not in got and got["spec"]["replicas"] == 2 and got["metadata"]["generation"] == 2
    got["status"] = {"phase": "Ready", "replicas": 2, "selector": "app=w"}
    got["spec"]["replicas"] = 9
    status, answer = k.server.request("PUT", path + "/status", got)
    assert status == 200, answer
    got = k.obj(crd, "w")
    assert got["status"]["phase"] == "Ready" and got["spec"]["replicas"] == 2 and got["metadata"]["generation"] == 2
    assert "Ready" in k.out("get", crd, "w")
    k.run("scale", crd, "w", "--replicas=4")
    assert k.obj(crd, "w")["spec"]["replicas"] == 4
    status, scale = k.server.request("GET", path + "/scale")
    assert status == 200
    assert scale["spec"]["replicas"] == 4 and scale["status"] == {"replicas": 2, "selector": "app=w"}


def test_objects_owned_by_a_custom_object_are_collected_with_it(k: Kubectl, crd: str, group: str) -> None:
    k.apply(widget(group, "owner"))
    uid = k.obj(crd, "owner")["metadata"]["uid"]
    child = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "child",
            "ownerReferences": [{"apiVersion": f"{group}/v1", "kind": "Widget", "name": "owner", "uid": uid}],
        },
        "data": {"a": "b"},
    }
    k.apply(child)
    k.run("delete", crd, "owner")
    k.run("wait", "--for=delete", "configmap/child", "--timeout=30s")
    assert not k.exists("configmap", "child")


def test_object_count_quota_counts_custom_objects(k: Kubectl, crd: str, group: str) -> None:
    k.run("create", "quota", "widgets", f"--hard=count/{crd}=1")
    k.apply(widget(group, "w1"))
    refused = k.fails("create", "-f", "-", input=json.dumps(widget(group, "w2")))
    assert "exceeded quota: widgets" in refused.stderr and f"count/{crd}=1" in refused.stderr
    escaped = crd.replace(".", "\\.")
    k.run("wait", "quota/widgets", f"--for=jsonpath={{.status.used.count/{escaped}}}=1", "--timeout=30s")


def test_second_version_is_served_from_the_same_objects(k: Kubectl, group: str) -> None:
    definition = widget_crd(group, versions=["v1", "v1beta1"])
    definition["spec"]["versions"][1]["deprecated"] = True
    k.apply(definition)
    try:
        k.apply(widget(group, "w", version="v1beta1"))
        assert k.obj(f"widgets.v1.{group}", "w")["apiVersion"] == f"{group}/v1"
        assert k.obj(f"widgets.v1beta1.{group}", "w")["apiVersion"] == f"{group}/v1beta1"
        old = k.run("get", f"widgets.v1beta1.{group}", "w")
        assert f"Warning: {group}/v1beta1 Widget is deprecated" in old.stderr
        assert k.run("get", f"widgets.v1.{group}", "w").stderr == ""
        preferred = k.server.request("GET", f"/apis/{group}")[1]["preferredVersion"]["version"]
        assert preferred == "v1"
    finally:
        k.run("delete", "crd", f"widgets.{group}")


def test_cluster_scoped_resource(k: Kubectl, group: str) -> None:
    definition = widget_crd(group)
    definition["spec"]["scope"] = "Cluster"
    k.apply(definition)
    try:
        created = json.loads(k.out("create", "-f", "-", "-o", "json", input=json.dumps(widget(group, "global"))))
        assert "namespace" not in created["metadata"]
        assert k.names(f"widgets.{group}") == ["global"]
        assert "global" in k.server.kubectl("get", f"widgets.{group}").stdout
        status, _ = k.server.request("GET", f"/apis/{group}/v1/namespaces/default/widgets/global")
        assert status == 404
        k.run("delete", f"widgets.{group}", "global")
        assert k.names(f"widgets.{group}") == []
    finally:
        k.run("delete", "crd", f"widgets.{group}")


def test_deleting_the_crd_deletes_its_objects(k: Kubectl, group: str) -> None:
    k.apply(widget_crd(group))
    k.apply(widget(group, "w1"), widget(group, "w2"))
    k.run("delete", "crd", f"widgets.{group}", timeout=60)
    done = k.fails("get", f"widgets.{group}")
    assert "doesn't have a resource type" in done.stderr
    k.apply(widget_crd(group))
    try:
        assert k.names(f"widgets.{group}") == []
    finally:
        k.run("delete", "crd", f"widgets.{group}")


def test_deleting_a_namespace_deletes_its_custom_objects(k: Kubectl, crd: str, group: str) -> None:
    doomed = f"{k.namespace}-x"
    k.run("create", "namespace", doomed)
    k.run("-n", doomed, "create", "-f", "-", input=json.dumps(widget(group, "w")))
    k.run("delete", "namespace", doomed, timeout=60)
    assert k.names(crd, "-A") == []


def test_restart_serves_custom_objects_again(tmp_path: Path, group: str) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    try:
        k = Kubectl(server, "default")
        k.apply(widget_crd(group))
        k.apply(widget(group, "kept", size="large"))
    finally:
        server.stop()
    again: RunningServer = start_server(data)
    try:
        k = Kubectl(again, "default")
        assert k.obj(f"widgets.{group}", "kept")["spec"]["size"] == "large"
        assert "kept" in k.out("get", short_name(group))
    finally:
        again.stop()


@pytest.mark.postgres
def test_a_crd_created_through_one_server_is_served_by_another_on_the_same_store(tmp_path: Path, group: str) -> None:
    async def scenario() -> None:
        async with fresh_postgres_database(postgres_url()) as url:
            await asyncio.to_thread(_two_servers, tmp_path, url, group)

    asyncio.run(scenario())


def _two_servers(tmp_path: Path, url: str, group: str) -> None:
    a = start_server(tmp_path / "a", "--datastore", url)
    b = None
    try:
        b = start_server(tmp_path / "b", "--datastore", url, "--token", a.node_token)  # the cluster's identity
        through_a = Kubectl(a, "default")
        through_a.apply(widget_crd(group))
        through_a.apply(widget(group, "shared"))
        path = f"/apis/{group}/v1/namespaces/default/widgets/shared"
        deadline = time.monotonic() + 30  # b follows the shared history within moments; a bound, not a speed check
        while (answer := b.request("GET", path))[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert answer[0] == 200 and answer[1]["spec"]["replicas"] == 1
        bad = widget(group, "bad", size="small", replicas="x")
        status, body = b.request("POST", f"/apis/{group}/v1/namespaces/default/widgets", bad)
        assert status == 422 and "must be of type integer" in body["message"]
    finally:
        a.stop()
        if b is not None:
            b.stop()
