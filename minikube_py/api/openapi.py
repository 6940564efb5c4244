"""``/openapi/v3``: the schemas of the served kinds, for ``kubectl explain`` and kubectl's validation.

kube-apiserver publishes one OpenAPI v3 document per group/version; kubectl reads the root, then
the document of the group/version it needs. pykube publishes one for each group/version it serves:
the built-in kinds' schemas come from ``openapi-builtin.json`` beside this module (made from the
Kubernetes API's own definitions by ``scripts/openapi-schemas.py``), the custom resources' from
their CRDs, an extension API server's from that server (read by the aggregator). A document's URL carries a hash of its content, so kubectl's cache never serves a stale
schema.

Each kind's PATCH path lists the ``fieldValidation`` parameter, so kubectl leaves unknown-field
checks to the server, and the patch types it accepts other than strategic merge: given that one,
client-side apply would compute its patches from these schemas, which carry no patch strategies
(``x-kubernetes-patch-merge-key``); without it kubectl keeps using the strategies compiled into it
for the built-in kinds, and JSON merge patches for custom resources, as with a CRD on
kube-apiserver.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from minikube_py.api.strategies.custom import CUSTOM_PATCH_TYPES
from minikube_py.model.kinds import (
    GROUP_VERSIONS,
    OTHER_VERSIONS,
    RESOURCES,
    UNSTORED,
    UNSTORED_GROUP_VERSIONS,
    ResourceType,
    custom_types,
)

Schema = dict[str, Any]

_BUILTIN_SCHEMAS = Path(__file__).with_name("openapi-builtin.json")
_REF_PREFIX = "#/components/schemas/"
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


def _gvk(rt: ResourceType) -> dict[str, str]:
    return {"group": rt.group, "version": rt.version, "kind": rt.kind}


def _collection(rt: ResourceType) -> str:
    """The path of ``rt``'s collection, in a namespace for a namespaced kind."""
    base = f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"
    scope = f"{base}/namespaces/{{namespace}}" if rt.namespaced else base
    return f"{scope}/{rt.plural}"


def _patch_path(rt: ResourceType, name: str) -> tuple[str, Schema]:
    """The PATCH operation of one kind's objects: what kubectl reads to learn that the server
    validates fields itself and which patch types it may send."""
    ref = {"$ref": f"{_REF_PREFIX}{name}"}
    operation = {
        "x-kubernetes-group-version-kind": _gvk(rt),
        "parameters": [
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
        ],
        "requestBody": {"content": {media: {"schema": ref} for media in CUSTOM_PATCH_TYPES}},
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": ref}}}},
    }
    return f"{_collection(rt)}/{{name}}", {"patch": operation}


def _read_or_create_path(rt: ResourceType, name: str) -> tuple[str, Schema]:
    """The one operation of a kind that is never stored: a review's or a Binding's POST, a
    ComponentStatus's GET (kubectl explain finds a kind's schema through an operation on it)."""
    ref = {"$ref": f"{_REF_PREFIX}{name}"}
    answer = {"200": {"description": "OK", "content": {"application/json": {"schema": ref}}}}
    if "create" in rt.verbs:
        body = {"content": {"application/json": {"schema": ref}}}
        operation = {"x-kubernetes-group-version-kind": _gvk(rt), "requestBody": body, "responses": answer}
        return _collection(rt), {"post": operation}
    return f"{_collection(rt)}/{{name}}", {"get": {"x-kubernetes-group-version-kind": _gvk(rt), "responses": answer}}


def _document(info: dict[str, str], schemas: dict[str, Schema], paths: dict[str, Schema]) -> dict[str, Any]:
    return {"openapi": "3.0.0", "info": info, "paths": paths, "components": {"schemas": schemas}}


# ------------------------------------------------------------------------------ built-in kinds


@functools.cache
def _builtin_definitions() -> dict[str, Any]:
    """The shipped schemas, read on the first request for them (600 KiB the server needs only when a
    client asks)."""
    return orjson.loads(_BUILTIN_SCHEMAS.read_bytes())


def _referenced(schema: Any) -> set[str]:
    """The names of the schemas ``schema`` refers to directly."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")  # a dict under that name is JSONSchemaProps' own ``$ref`` field
        found = {ref.removeprefix(_REF_PREFIX)} if isinstance(ref, str) else set()
        for value in schema.values():
            found |= _referenced(value)
        return found
    if isinstance(schema, list):
        return set().union(*(_referenced(item) for item in schema))
    return set()


@functools.cache
def _builtin_document(group: str, version: str) -> dict[str, Any] | None:
    """The document of a built-in group/version: its kinds' schemas and every schema they reach. The
    kinds that are never stored (reviews, Bindings, ComponentStatus) are described too, so that
    ``kubectl explain`` knows them, but have no PATCH operation: they cannot be patched."""
    types = [rt for rt in (*RESOURCES, *OTHER_VERSIONS, *UNSTORED) if (rt.group, rt.version) == (group, version)]
    if not types:
        return None
    definitions = _builtin_definitions()
    every, kinds = definitions["schemas"], definitions["kinds"]
    schemas: dict[str, Schema] = {}
    paths: dict[str, Schema] = {}
    for rt in types:
        name = kinds[f"{rt.group}/{rt.version}/{rt.kind}"]
        schemas[name] = {**every[name], "x-kubernetes-group-version-kind": [_gvk(rt)]}
        path, operation = _patch_path(rt, name) if rt not in UNSTORED else _read_or_create_path(rt, name)
        paths[path] = operation
    pending = [*schemas]
    while pending:
        for name in _referenced(every[pending.pop()]) - schemas.keys():
            schemas[name] = every[name]
            pending.append(name)
    return _document({"title": "Kubernetes", "version": "v1.32.0"}, dict(sorted(schemas.items())), paths)


@functools.cache
def _builtin_digest(group: str, version: str) -> str:
    return _digest(_builtin_document(group, version))


# ------------------------------------------------------------------------------ custom resources


def _custom_group_versions() -> dict[tuple[str, str], list[ResourceType]]:
    served: dict[tuple[str, str], list[ResourceType]] = {}
    for rt in custom_types():
        served.setdefault((rt.group, rt.version), []).append(rt)
    return served


def _custom_document(types: list[ResourceType]) -> dict[str, Any]:
    schemas: dict[str, Schema] = {_OBJECT_META: _META_SCHEMA}
    paths: dict[str, Schema] = {}
    for rt in types:
        assert rt.custom is not None
        name = schema_name(rt)
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
            "allOf": [{"$ref": f"{_REF_PREFIX}{_OBJECT_META}"}],
            "description": "Standard object's metadata.",
        }
        schemas[name] = {**schema, "properties": properties, "x-kubernetes-group-version-kind": [_gvk(rt)]}
        path, operation = _patch_path(rt, name)
        paths[path] = operation
    return _document({"title": "Kubernetes CRD Swagger", "version": "v0.1.0"}, schemas, paths)


def schema_name(rt: ResourceType) -> str:
    """``com.example.stable.v1.CronTab``: the group reversed, as kube-apiserver names CRD schemas."""
    return ".".join([*reversed(rt.group.split(".")), rt.version, rt.kind])


# ------------------------------------------------------------------------------ serving


def document(group: str, version: str) -> dict[str, Any] | None:
    """The OpenAPI v3 document of one group/version (None when nothing is served in it)."""
    if (group, version) in GROUP_VERSIONS or (group, version) in UNSTORED_GROUP_VERSIONS:
        return _builtin_document(group, version)
    types = _custom_group_versions().get((group, version))
    return _custom_document(types) if types else None


def _digest(doc: Any) -> str:
    return hashlib.sha512(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)).hexdigest()[:128].upper()


def root(aggregated: Mapping[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    """The index of the documents, each URL with its content's hash; ``aggregated``: the documents of
    the group versions extension servers answer (theirs, from the aggregator)."""
    paths = {}
    for group, version in dict.fromkeys((*GROUP_VERSIONS, *UNSTORED_GROUP_VERSIONS)):
        prefix = f"apis/{group}/{version}" if group else f"api/{version}"
        paths[prefix] = {"serverRelativeURL": f"/openapi/v3/{prefix}?hash={_builtin_digest(group, version)}"}
    for (group, version), types in _custom_group_versions().items():
        digest = _digest(_custom_document(types))
        paths[f"apis/{group}/{version}"] = {"serverRelativeURL": f"/openapi/v3/apis/{group}/{version}?hash={digest}"}
    for (group, version), doc in aggregated.items():
        paths[f"apis/{group}/{version}"] = {
            "serverRelativeURL": f"/openapi/v3/apis/{group}/{version}?hash={_digest(doc)}"
        }
    return {"paths": paths}
