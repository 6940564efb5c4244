"""The OpenAPI v3 documents of the built-in kinds: what ``kubectl explain`` and kubectl's
validation read (the kubectl e2e tests run ``kubectl explain`` itself)."""

from __future__ import annotations

from typing import Any

import pytest

from minikube_py.api import openapi
from minikube_py.model.kinds import GROUP_VERSIONS, OTHER_VERSIONS, RESOURCES, UNSTORED


def _refs(schema: Any) -> list[str]:
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        found = [ref] if isinstance(ref, str) else []
        return found + [r for value in schema.values() for r in _refs(value)]
    if isinstance(schema, list):
        return [r for item in schema for r in _refs(item)]
    return []


@pytest.mark.parametrize(("group", "version"), GROUP_VERSIONS)
def test_every_served_built_in_group_version_has_a_document_whose_references_resolve(group: str, version: str) -> None:
    doc = openapi.document(group, version)
    assert doc is not None
    schemas = doc["components"]["schemas"]
    for ref in _refs(doc):
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


def test_every_built_in_kind_has_its_schema_and_a_patch_path_without_strategic_merge() -> None:
    for rt in (*RESOURCES, *OTHER_VERSIONS):
        doc = openapi.document(rt.group, rt.version)
        assert doc is not None
        gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
        kind_schemas = [
            s for s in doc["components"]["schemas"].values() if gvk in s.get("x-kubernetes-group-version-kind", [])
        ]
        assert len(kind_schemas) == 1, rt.kind
        assert {"apiVersion", "kind", "metadata"} <= set(kind_schemas[0]["properties"])
        patches = [
            p["patch"]
            for p in doc["paths"].values()
            if p.get("patch", {}).get("x-kubernetes-group-version-kind") == gvk
        ]
        assert len(patches) == 1, rt.kind
        assert {p["name"] for p in patches[0]["parameters"]} >= {"fieldValidation", "fieldManager"}
        # kubectl would compute client-side apply patches from these schemas, which have no merge keys
        assert "application/strategic-merge-patch+json" not in patches[0]["requestBody"]["content"]


def test_the_kinds_never_stored_are_described_with_their_one_operation() -> None:
    """kubectl explain finds a kind through an operation on it: a review's or a Binding's POST, a
    ComponentStatus's GET; none of them may be patched."""
    index = openapi.root({})["paths"]
    assert {"apis/authentication.k8s.io/v1", "apis/authorization.k8s.io/v1"} <= set(index)
    for rt in UNSTORED:
        doc = openapi.document(rt.group, rt.version)
        assert doc is not None
        gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
        assert [s for s in doc["components"]["schemas"].values() if gvk in s.get("x-kubernetes-group-version-kind", [])]
        operations = [
            (path, verb)
            for path, ops in doc["paths"].items()
            for verb, op in ops.items()
            if op["x-kubernetes-group-version-kind"] == gvk
        ]
        assert [verb for _, verb in operations] == (["post"] if rt.verbs == ("create",) else ["get"]), rt.kind
    tokens = openapi.document("authentication.k8s.io", "v1")
    assert tokens is not None and "/apis/authentication.k8s.io/v1/tokenreviews" in tokens["paths"]
    core = openapi.document("", "v1")
    assert core is not None
    assert "/api/v1/namespaces/{namespace}/bindings" in core["paths"]
    assert "/api/v1/componentstatuses/{name}" in core["paths"]


def test_the_core_group_is_indexed_under_api_and_the_url_names_the_content() -> None:
    index = openapi.root({})["paths"]
    assert index["api/v1"]["serverRelativeURL"].startswith("/openapi/v3/api/v1?hash=")
    assert index["apis/apps/v1"]["serverRelativeURL"].startswith("/openapi/v3/apis/apps/v1?hash=")
    assert openapi.root({}) == {"paths": index}
    assert "/api/v1/namespaces/{namespace}/pods/{name}" in openapi.document("", "v1")["paths"]  # type: ignore[index]
    assert "/api/v1/nodes/{name}" in openapi.document("", "v1")["paths"]  # type: ignore[index]


def test_fields_carry_kubernetes_types_descriptions_and_required_marks() -> None:
    schemas = openapi.document("apps", "v1")["components"]["schemas"]  # type: ignore[index]
    deployment = next(
        s
        for s in schemas.values()
        if {"group": "apps", "version": "v1", "kind": "Deployment"} in s.get("x-kubernetes-group-version-kind", [])
    )
    assert deployment["description"].startswith("Deployment enables declarative updates")
    port = schemas["io.k8s.api.v1.ContainerPort"]
    assert port["required"] == ["containerPort"] and port["properties"]["containerPort"]["type"] == "integer"
    surge = schemas["io.k8s.api.v1.RollingUpdateDeployment"]["properties"]["maxSurge"]
    assert surge["allOf"] == [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString"}]
    assert schemas["io.k8s.api.v1.ObjectMeta"]["properties"]["creationTimestamp"]["format"] == "date-time"
