"""``kubectl apply --server-side`` with real field ownership: pruning, conflicts, forcing, co-ownership,
``managedFields`` in output, and the move from client-side apply."""

from __future__ import annotations

import pytest
from kubectl_helpers import Kubectl, configmap, deployment, to_yaml

pytestmark = pytest.mark.kubectl

SSA = ["--server-side"]
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def managers(k: Kubectl, resource: str, name: str) -> dict[tuple[str, str], dict]:
    live = k.json("get", resource, name, "--show-managed-fields")
    return {(e["manager"], e["operation"]): e for e in live["metadata"]["managedFields"]}


def test_apply_creates_with_an_apply_entry(k: Kubectl) -> None:
    assert k.apply(configmap("ssa-new", a="1"), extra=SSA) == ["configmap/ssa-new serverside-applied"]
    entry = managers(k, "configmap", "ssa-new")[("kubectl", "Apply")]
    assert entry["fieldsType"] == "FieldsV1" and entry["apiVersion"] == "v1" and entry["time"].endswith("Z")
    assert entry["fieldsV1"] == {"f:data": {"f:a": {}}}


def test_reapply_without_a_field_removes_it(k: Kubectl) -> None:
    k.apply(configmap("ssa-drop", a="1", b="2"), extra=SSA)
    assert k.apply(configmap("ssa-drop", a="1"), extra=SSA) == ["configmap/ssa-drop serverside-applied"]
    assert k.obj("configmap", "ssa-drop")["data"] == {"a": "1"}


def test_dropped_replicas_fall_back_to_the_default(k: Kubectl) -> None:
    k.apply(deployment("ssa-rep", replicas=3), extra=SSA)
    manifest = deployment("ssa-rep")
    del manifest["spec"]["replicas"]
    k.apply(manifest, extra=SSA)
    assert k.obj("deployment", "ssa-rep")["spec"]["replicas"] == 1


def test_conflict_with_scale_then_force(k: Kubectl) -> None:
    k.apply(deployment("ssa-scale", replicas=1), extra=SSA)
    k.run("scale", "deployment", "ssa-scale", "--replicas=3")
    failed = k.fails("apply", "--server-side", "-f", "-", input=to_yaml(deployment("ssa-scale", replicas=5)))
    assert "Apply failed with 1 conflict: conflict with" in failed.stderr
    assert ".spec.replicas" in failed.stderr and "--force-conflicts" in failed.stderr
    assert k.obj("deployment", "ssa-scale")["spec"]["replicas"] == 3
    assert k.apply(deployment("ssa-scale", replicas=5), extra=[*SSA, "--force-conflicts"]) == [
        "deployment.apps/ssa-scale serverside-applied"
    ]
    assert k.obj("deployment", "ssa-scale")["spec"]["replicas"] == 5
    owners = managers(k, "deployment", "ssa-scale")
    assert "f:replicas" in owners[("kubectl", "Apply")]["fieldsV1"]["f:spec"]
    scalers = [e for (_, op), e in owners.items() if op == "Update" and e.get("subresource") == "scale"]
    assert all("f:replicas" not in e["fieldsV1"].get("f:spec", {}) for e in scalers)


def test_same_value_is_shared_not_a_conflict(k: Kubectl) -> None:
    k.apply(deployment("ssa-share", replicas=1), extra=SSA)
    k.run("scale", "deployment", "ssa-share", "--replicas=2")
    assert k.apply(deployment("ssa-share", replicas=2), extra=SSA) == ["deployment.apps/ssa-share serverside-applied"]
    assert k.obj("deployment", "ssa-share")["spec"]["replicas"] == 2


def test_two_managers_keep_their_own_fields(k: Kubectl) -> None:
    k.apply(configmap("ssa-two", a="1"), extra=[*SSA, "--field-manager=alpha"])
    k.apply(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa-two"}, "data": {"b": "2"}},
        extra=[*SSA, "--field-manager=beta"],
    )
    assert k.obj("configmap", "ssa-two")["data"] == {"a": "1", "b": "2"}
    k.apply(configmap("ssa-two", a="1", c="3"), extra=[*SSA, "--field-manager=alpha"])
    assert k.obj("configmap", "ssa-two")["data"] == {"a": "1", "b": "2", "c": "3"}
    owners = managers(k, "configmap", "ssa-two")
    assert owners[("alpha", "Apply")]["fieldsV1"] == {"f:data": {"f:a": {}, "f:c": {}}}
    assert owners[("beta", "Apply")]["fieldsV1"] == {"f:data": {"f:b": {}}}
    failed = k.fails(
        "apply", "--server-side", "--field-manager=alpha", "-f", "-", input=to_yaml(configmap("ssa-two", b="other"))
    )
    assert 'conflict with "beta": .data.b' in failed.stderr


def test_get_shows_managed_fields_only_when_asked(k: Kubectl) -> None:
    k.apply(configmap("ssa-show", a="1"), extra=SSA)
    k.run("label", "configmap", "ssa-show", "team=x")
    shown = k.out("get", "configmap", "ssa-show", "-o", "yaml", "--show-managed-fields")
    assert "managedFields:" in shown and "manager: kubectl" in shown and "operation: Apply" in shown
    assert "manager: kubectl-label" in shown and "f:team: {}" in shown
    assert "managedFields" not in k.out("get", "configmap", "ssa-show", "-o", "yaml")


def test_server_side_after_client_side_apply_takes_over(k: Kubectl) -> None:
    k.apply(configmap("ssa-mig", a="1", b="2"))
    assert k.apply(configmap("ssa-mig", a="2", b="2"), extra=SSA) == ["configmap/ssa-mig serverside-applied"]
    live = k.json("get", "configmap", "ssa-mig", "--show-managed-fields")
    assert live["data"] == {"a": "2", "b": "2"}
    assert '"a":"2"' in live["metadata"]["annotations"][LAST_APPLIED]
    owners = {(e["manager"], e["operation"]) for e in live["metadata"]["managedFields"]}
    assert ("kubectl", "Apply") in owners and ("kubectl-last-applied", "Apply") in owners
    assert ("kubectl-client-side-apply", "Update") not in owners  # migrated into kubectl's Apply entry
    k.apply(configmap("ssa-mig", a="2"), extra=SSA)
    assert k.obj("configmap", "ssa-mig")["data"] == {"a": "2"}


# ------------------------------------------------------------------------------------------ raw API


def _cm(k: Kubectl, name: str = "") -> str:
    return f"/api/v1/namespaces/{k.namespace}/configmaps" + (f"/{name}" if name else "")


def _apply(k: Kubectl, name: str, data: dict[str, str], query: str) -> tuple[int, dict]:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}
    return k.server.request("PATCH", f"{_cm(k, name)}?{query}", body, content_type="application/apply-patch+yaml")


def test_conflict_is_a_409_status_with_causes(k: Kubectl) -> None:
    assert _apply(k, "raw-c", {"a": "1"}, "fieldManager=one")[0] == 201
    status, body = _apply(k, "raw-c", {"a": "2"}, "fieldManager=two")
    assert status == 409 and body["reason"] == "Conflict"
    assert body["message"] == 'Apply failed with 1 conflict: conflict with "one": .data.a'
    assert body["details"]["causes"] == [
        {"reason": "FieldManagerConflict", "message": 'conflict with "one"', "field": ".data.a"}
    ]
    status, body = _apply(k, "raw-c", {"a": "2"}, "fieldManager=two&force=true")
    assert status == 200 and body["data"] == {"a": "2"}
    assert [e["manager"] for e in body["metadata"]["managedFields"]] == ["two"]


def test_patch_options_are_validated_as_kubernetes_does(k: Kubectl) -> None:
    k.server.request("POST", _cm(k), configmap("raw-o"))
    status, body = _apply(k, "raw-o", {"k": "v"}, "")
    assert (status, body["reason"]) == (422, "Invalid")
    assert (
        body["message"] == 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required '
        "for apply patch"
    )
    status, body = k.server.request(
        "PATCH", f"{_cm(k, 'raw-o')}?force=true", {"data": {"k": "w"}}, content_type="application/merge-patch+json"
    )
    assert (status, body["reason"]) == (422, "Invalid")
    assert "force: Forbidden: may not be specified for non-apply patch" in body["message"]
    assert k.obj("configmap", "raw-o")["data"] == {"k": "v"}


def test_writers_are_recorded_and_clients_cannot_forge_entries(k: Kubectl) -> None:
    status, created = k.server.request("POST", f"{_cm(k)}?fieldManager=maker", configmap("raw-m", {"x": "y"}))
    assert status == 201
    assert [(e["manager"], e["operation"]) for e in created["metadata"]["managedFields"]] == [("maker", "Update")]
    forged = {**created, "data": {"k": "v2"}}
    forged["metadata"] = {**created["metadata"], "managedFields": [{"manager": "evil", "operation": "Bogus"}]}
    status, updated = k.server.request("PUT", f"{_cm(k, 'raw-m')}?fieldManager=editor", forged)
    assert status == 200
    entries = {e["manager"]: e for e in updated["metadata"]["managedFields"]}
    assert set(entries) == {"maker", "editor"} and entries["editor"]["fieldsV1"] == {"f:data": {"f:k": {}}}
    assert "f:data" not in entries["maker"]["fieldsV1"]
    status, reset = k.server.request(
        "PATCH", _cm(k, "raw-m"), {"metadata": {"managedFields": []}}, content_type="application/merge-patch+json"
    )
    assert status == 200 and "managedFields" not in reset["metadata"]
