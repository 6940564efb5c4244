"""Writes minikube_py/api/openapi-builtin.json: the OpenAPI v3 schemas of the built-in kinds pykube
serves, which ``/openapi/v3`` publishes so that ``kubectl explain`` works for them.

kube-apiserver generates these documents from its Go types and their doc comments. pykube takes the
same facts (field names, types, required fields and the API's own descriptions) from the models of
the official Kubernetes Python client, which are generated from that OpenAPI document, and reshapes
them the way kube-apiserver publishes them: ``$ref`` wrapped in ``allOf`` beside a description,
nullable fields plain, int-or-string as ``IntOrString``. It runs when the served kinds change, not
at install or start, so the server carries no dependency on the client.

The client of the test extra is newer than the Kubernetes version pykube serves (1.32), and its
models are the ones that carry the types' own descriptions; the fields are therefore cut to those
the 1.32 client's models have (read from its wheel, which this script downloads), so that
``kubectl explain`` offers no field of a later release:

    .venv/bin/python scripts/openapi-schemas.py   # needs the test extra (kubernetes) and PyPI
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import kubernetes
import kubernetes.client.models as models

from minikube_py.model.kinds import GROUP_VERSIONS, OTHER_VERSIONS, RESOURCES, UNSTORED, UNSTORED_GROUP_VERSIONS

OUT = Path(__file__).resolve().parents[1] / "minikube_py" / "api" / "openapi-builtin.json"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
#: the client's class names: an optional group prefix (where two groups have a type of one name),
#: the version, then the Go type's name
_CLASS = re.compile(r"^([A-Z][a-z]+)?(V\d+(?:alpha\d+|beta\d+)?)([A-Z].*)$")
#: the generator's note that ends every class docstring, which is not the type's description
_GENERATOR_NOTE = re.compile(r"\s*Attributes:\s*openapi_types.*$", re.S)
#: the client prefixes the Event of each group with the group (CoreV1Event, EventsV1Event)
_PREFIXED = {("", "Event"): "Core", ("events.k8s.io", "Event"): "Events"}

#: the Python client release generated from Kubernetes 1.32's OpenAPI document
SERVED_RELEASE_CLIENT = "32.0.1"

Schema = dict[str, Any]


def schema_name(class_name: str) -> str:
    """``io.k8s.api.v1.PodSpec``: the last segment is the Go type's name, the one ``kubectl explain``
    prints as a field's type; the rest keeps the client's distinct names distinct."""
    found = _CLASS.match(class_name)
    if found is None:
        raise ValueError(f"unexpected model name {class_name}")
    group, version, type_name = found.groups()
    return ".".join(["io.k8s.api", *([group.lower()] if group else []), version.lower(), type_name])


def _description(text: str | None) -> str:
    return _GENERATOR_NOTE.sub("", (text or "").strip()).strip()


def _plain(prop: Schema) -> Schema:
    """The field without its null branch (pydantic writes an optional field ``anyOf: [X, null]``)."""
    options = prop.get("anyOf")
    if options is None:
        return prop
    kept = [o for o in options if o.get("type") != "null"]
    rest = {k: v for k, v in prop.items() if k not in ("anyOf", "default", "title")}
    return {**kept[0], **rest} if len(kept) == 1 else {"anyOf": kept, **rest}


def convert(prop: Schema, descriptions: dict[str, str], *, field: bool = True) -> Schema:
    """One field's schema (or, not ``field``, a list's items' or a map's values') as kube-apiserver
    publishes it. A field that refers to a type has no description of its own in the client's
    models; ``descriptions`` (by schema name) gives it the type's, so that ``kubectl explain`` lists
    it with some text rather than ``<no description>`` (a field's own view then shows it twice)."""
    prop = _plain(prop)
    out: Schema = {}
    if "description" in prop:
        out["description"] = prop["description"]
    if "$ref" in prop:
        target = schema_name(prop["$ref"].rsplit("/", 1)[1])
        if field and descriptions.get(target):
            out.setdefault("description", descriptions[target])
        return {"allOf": [{"$ref": f"#/components/schemas/{target}"}], **out}
    options = prop.get("anyOf")
    if options is not None:
        types = {o.get("type", "") for o in options}
        if types == {"integer", "string"}:
            return {"allOf": [{"$ref": f"#/components/schemas/{INT_OR_STRING}"}], **out}
        if types == {"string"}:  # bytes, which JSON carries base64-encoded
            return {"type": "string", "format": "byte", **out}
        if types == {"integer", "number"}:
            return {"type": "number", **out}
        return {"type": "object", **out}  # a free-form value (JSON, RawExtension)
    kind = prop.get("type")
    if kind == "array":
        out.update(type="array", items=convert(prop.get("items") or {}, descriptions, field=False))
    elif kind == "object" and isinstance(prop.get("additionalProperties"), dict):
        out.update(type="object", additionalProperties=convert(prop["additionalProperties"], descriptions, field=False))
    elif kind in ("string", "integer", "number", "boolean"):
        out["type"] = kind
        if prop.get("format") in ("date-time", "byte", "int32", "int64", "double"):
            out["format"] = prop["format"]
    else:
        out["type"] = "object"
    return out


def type_schema(definition: Schema, descriptions: dict[str, str]) -> Schema:
    """A model (``$defs`` entry) as a component schema."""
    out: Schema = {"type": "object"}
    if text := _description(definition.get("description")):
        out["description"] = text
    properties = definition.get("properties") or {}
    if properties:
        out["properties"] = {name: convert(prop, descriptions) for name, prop in sorted(properties.items())}
    if definition.get("required"):
        out["required"] = sorted(definition["required"])
    return out


def kind_class(group: str, version: str, kind: str) -> type:
    prefix = _PREFIXED.get((group, kind), "")
    return getattr(models, f"{prefix}{version[0].upper()}{version[1:]}{kind}")


def served_fields() -> dict[str, set[str]]:
    """The JSON field names of every model of the served release's client, by class name, read from
    the ``attribute_map`` of each model's source (the old client needs packages pykube lacks)."""
    fields: dict[str, set[str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "-d",
                tmp,
                f"kubernetes=={SERVED_RELEASE_CLIENT}",
            ],
            check=True,
        )
        (wheel,) = Path(tmp).glob("*.whl")
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.namelist():
                if not (member.startswith("kubernetes/client/models/") and member.endswith(".py")):
                    continue
                for node in ast.walk(ast.parse(archive.read(member))):
                    if isinstance(node, ast.ClassDef):
                        for item in node.body:
                            if isinstance(item, ast.Assign) and getattr(item.targets[0], "id", "") == "attribute_map":
                                fields[node.name] = set(ast.literal_eval(item.value).values())
    return fields


def _cut(definition: Schema, served: set[str] | None) -> Schema:
    """``definition`` with only the fields the served release has (all when it has no such model)."""
    if served is None:
        return definition
    properties = {k: v for k, v in (definition.get("properties") or {}).items() if k in served}
    required = [name for name in definition.get("required") or () if name in served]
    return {**definition, "properties": properties, "required": required}


def build() -> dict[str, Any]:
    """Every component schema the served built-in kinds reach (those never stored too: the reviews,
    Bindings, ComponentStatus), and the schema of each kind."""
    served = served_fields()
    definitions: dict[str, Schema] = {}
    kinds: dict[str, str] = {}
    for rt in (*RESOURCES, *OTHER_VERSIONS, *UNSTORED):
        if (rt.group, rt.version) not in (*GROUP_VERSIONS, *UNSTORED_GROUP_VERSIONS):
            continue
        cls = kind_class(rt.group, rt.version, rt.kind)
        generated = cls.model_json_schema(by_alias=True, mode="serialization")
        for class_name, definition in generated.pop("$defs", {}).items():
            definitions[schema_name(class_name)] = _cut(definition, served.get(class_name))
        name = schema_name(cls.__name__)
        definitions[name] = _cut(generated, served.get(cls.__name__))
        kinds[f"{rt.group}/{rt.version}/{rt.kind}"] = name
    descriptions = {name: _description(d.get("description")) for name, d in definitions.items()}
    converted = {name: type_schema(d, descriptions) for name, d in definitions.items()}
    # one of two types, as kube-apiserver's v3 documents give it: kubectl explain then names the
    # field's type IntOrString rather than string
    converted[INT_OR_STRING] = {"oneOf": [{"type": "integer"}, {"type": "string"}]}
    schemas: dict[str, Schema] = {}
    pending = list(kinds.values())
    while pending:  # only what the kinds reach: the cut fields' types are not served
        name = pending.pop()
        if name not in schemas:
            schemas[name] = converted[name]
            pending.extend(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(schemas[name])))
    return {"client": kubernetes.__version__, "fields": SERVED_RELEASE_CLIENT, "kinds": kinds, "schemas": schemas}


def main() -> int:
    OUT.write_text(json.dumps(build(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
