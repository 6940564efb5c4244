"""``/openapi/v3`` for the custom resources: their CRDs' schemas, for ``kubectl explain``.

kube-apiserver publishes one OpenAPI v3 document per group/version; kubectl reads the root, then
the document of the group/version it needs. pykube publishes the documents of the group/versions
CustomResourceDefinitions serve (the built-in kinds have no schemas here: kubectl then falls back,
as documented in the protocol notes, to its own Go types and to ``/openapi/v2``, which is empty). A
document's URL carries a hash of its content, so kubectl's cache never serves a stale schema.

Each path lists the patch types a custom resource accepts (no strategic merge: kubectl then computes
client-side apply patches as JSON merge patches) and the ``fieldValidation`` parameter, so kubectl
leaves unknown-field checks to the server.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from minikube_py.api.strategies.custom import CUSTOM_PATCH_TYPES
from minikube_py.model.kinds import ResourceType, custom_types

_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_META_SCHEMA = {
    "description": "ObjectMeta is metadata that all persisted resources must have, which includes all objects "
    "users must create.",
    "type": "object",
    "properties": {
        name: {"type": "string"}
        for name in ("name", "namespace", "generateName", "uid", "resourceVersion", "creationTimestamp")
    }
    | {
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}


def _group_versions() -> dict[tuple[str, str], list[ResourceType]]:
    served: dict[tuple[str, str], list[ResourceType]] = {}
    for rt in custom_types():
        served.setdefault((rt.group, rt.version), []).append(rt)
    return served


def document(group: str, version: str) -> dict[str, Any] | None:
    """The OpenAPI v3 document of one custom group/version (None when no CRD serves it)."""
    types = _group_versions().get((group, version))
    if not types:
        return None
    schemas: dict[str, Any] = {_OBJECT_META: _META_SCHEMA}
    paths: dict[str, Any] = {}
    for rt in types:
        assert rt.custom is not None
        name = schema_name(rt)
        gvk = [{"group": rt.group, "version": rt.version, "kind": rt.kind}]
        schema = dict(rt.custom.schema)
        properties = dict(schema.get("properties") or {})
        properties["apiVersion"] = {
            "type": "string",
            "description": "APIVersion defines the versioned schema of this representation of an object.",
        }
        properties["kind"] = {
            "type": "string",
            "description": "Kind is a string value representing the REST resource this object represents.",
        }
        properties["metadata"] = {
            "allOf": [{"$ref": f"#/components/schemas/{_OBJECT_META}"}],
            "description": "Standard object's metadata.",
        }
        schemas[name] = {**schema, "properties": properties, "x-kubernetes-group-version-kind": gvk}
        body = {
            "content": {media: {"schema": {"$ref": f"#/components/schemas/{name}"}} for media in CUSTOM_PATCH_TYPES}
        }
        scope = f"/apis/{group}/{version}/namespaces/{{namespace}}" if rt.namespaced else f"/apis/{group}/{version}"
        paths[f"{scope}/{rt.plural}/{{name}}"] = {
            "patch": {
                "x-kubernetes-group-version-kind": gvk[0],
                "parameters": [
                    {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
                    {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
                ],
                "requestBody": body,
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
                    }
                },
            }
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes CRD Swagger", "version": "v0.1.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def schema_name(rt: ResourceType) -> str:
    """``com.example.stable.v1.CronTab``: the group reversed, as kube-apiserver names CRD schemas."""
    return ".".join([*reversed(rt.group.split(".")), rt.version, rt.kind])


def root() -> dict[str, Any]:
    """The index of the documents, each URL with its content's hash."""
    paths = {}
    for group, version in _group_versions():
        doc = document(group, version)
        digest = hashlib.sha512(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)).hexdigest()[:128].upper()
        paths[f"apis/{group}/{version}"] = {"serverRelativeURL": f"/openapi/v3/apis/{group}/{version}?hash={digest}"}
    return {"paths": paths}
