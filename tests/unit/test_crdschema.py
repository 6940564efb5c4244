"""The structural schema of custom resources: pruning, defaulting and validation with
kube-apiserver's messages (minikube_py.model.crdschema), and the JSONPath its columns use."""

from __future__ import annotations

from typing import Any

from minikube_py.model import crdschema, jsonpath

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["size"],
            "properties": {
                "size": {"type": "string", "enum": ["small", "large"]},
                "replicas": {"type": "integer", "minimum": 0, "maximum": 10, "default": 1},
                "ratio": {
                    "type": "number",
                    "minimum": 0,
                    "exclusiveMinimum": True,
                    "maximum": 1,
                    "exclusiveMaximum": True,
                },
                "name": {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^[a-z]+$"},
                "tags": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "string"}},
                "port": {"x-kubernetes-int-or-string": True},
                "enabled": {"type": "boolean"},
                "note": {"type": "string", "nullable": True},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "nested": {
                    "type": "object",
                    "default": {},
                    "properties": {"mode": {"type": "string", "default": "auto"}},
                },
                "items": {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "integer"}}}},
            },
        },
        "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
    },
}


def obj(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "x.io/v1", "kind": "W", "metadata": {"name": "w", "anything": 1}, "spec": spec}


def messages(value: dict[str, Any]) -> list[str]:
    return [problem.render() for problem in crdschema.validate(SCHEMA, value)]


def test_wrong_type_has_kube_apiservers_message() -> None:
    assert messages(obj(size="small", replicas="3")) == [
        'spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"'
    ]
    assert messages(obj(size="small", enabled="yes")) == [
        'spec.enabled: Invalid value: "string": spec.enabled in body must be of type boolean: "string"'
    ]
    assert messages(obj(size="small", tags="a")) == [
        'spec.tags: Invalid value: "string": spec.tags in body must be of type array: "string"'
    ]
    assert messages({"spec": "x"}) == ['spec: Invalid value: "string": spec in body must be of type object: "string"']


def test_required_enum_pattern_and_bounds() -> None:
    assert messages(obj()) == ["spec.size: Required value"]
    assert messages(obj(size="huge")) == ['spec.size: Unsupported value: "huge": supported values: "small", "large"']
    assert messages(obj(size="small", replicas=11)) == [
        "spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10"
    ]
    assert messages(obj(size="small", replicas=-1)) == [
        "spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0"
    ]
    assert messages(obj(size="small", ratio=0)) == [
        "spec.ratio: Invalid value: 0: spec.ratio in body should be greater than 0"
    ]
    assert messages(obj(size="small", ratio=1)) == [
        "spec.ratio: Invalid value: 1: spec.ratio in body should be less than 1"
    ]
    assert messages(obj(size="small", ratio=0.5)) == []
    assert messages(obj(size="small", name="a")) == [
        'spec.name: Invalid value: "a": spec.name in body should be at least 2 chars long'
    ]
    assert messages(obj(size="small", name="abcdef")) == ["spec.name: Too long: may not be more than 5 bytes"]
    assert messages(obj(size="small", name="AB")) == [
        "spec.name: Invalid value: \"AB\": spec.name in body should match '^[a-z]+$'"
    ]
    assert messages(obj(size="small", tags=[])) == [
        "spec.tags: Invalid value: 0: spec.tags in body should have at least 1 items"
    ]
    assert messages(obj(size="small", tags=["a", "b", "c"])) == ["spec.tags: Too many: 3: must have at most 2 items"]
    assert messages(obj(size="small", tags=["a", 1])) == [
        'spec.tags[1]: Invalid value: "integer": spec.tags[1] in body must be of type string: "integer"'
    ]
    assert messages(obj(size="small", labels={"a": 1})) == [
        'spec.labels.a: Invalid value: "integer": spec.labels.a in body must be of type string: "integer"'
    ]


def test_int_or_string_nullable_and_number_types() -> None:
    assert messages(obj(size="small", port=80)) == []
    assert messages(obj(size="small", port="http")) == []
    assert messages(obj(size="small", port=True)) == [
        'spec.port: Invalid value: "boolean": spec.port in body must be of type integer-or-string: "boolean"'
    ]
    assert messages(obj(size="small", note=None)) == []
    assert messages(obj(size="small", replicas=2.0)) == []  # an integral JSON number is an integer


def test_pruning_drops_unknown_fields_at_every_depth_and_reports_their_paths() -> None:
    value = obj(
        size="small",
        bogus=1,
        free={"any": {"thing": 1}},
        items=[{"a": 1, "b": 2}],
        labels={"x": "y"},
        nested={"mode": "m", "zzz": 1},
    )
    value["top"] = True
    value["status"] = {"phase": "P", "extra": 1}
    found = crdschema.prune(SCHEMA, value)
    assert sorted(found) == ["spec.bogus", "spec.items[0].b", "spec.nested.zzz", "status.extra", "top"]
    assert value["spec"]["free"] == {"any": {"thing": 1}}
    assert value["spec"]["labels"] == {"x": "y"}
    assert value["metadata"] == {"name": "w", "anything": 1}  # metadata is ObjectMeta's, not the schema's


def test_pruning_keeps_everything_under_a_preserving_root_and_drops_non_nullable_nulls() -> None:
    preserving = {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
        "properties": {"spec": {"type": "object", "properties": {"a": {"type": "string"}}}},
    }
    value = {"spec": {"a": None, "b": 1}, "other": 2}
    assert crdschema.prune(preserving, value) == ["spec.b"]
    assert value == {"spec": {}, "other": 2}
    nullable = obj(size="small", note=None)
    crdschema.prune(SCHEMA, nullable)
    assert nullable["spec"]["note"] is None


def test_defaults_fill_absent_fields_at_every_depth() -> None:
    value = obj(size="small", items=[{}])
    crdschema.apply_defaults(SCHEMA, value)
    assert value["spec"]["replicas"] == 1
    assert value["spec"]["nested"] == {"mode": "auto"}
    present = obj(size="small", replicas=4, nested={"mode": "manual"})
    crdschema.apply_defaults(SCHEMA, present)
    assert present["spec"]["replicas"] == 4 and present["spec"]["nested"] == {"mode": "manual"}


def test_has_defaults_looks_at_every_depth() -> None:
    assert crdschema.has_defaults(SCHEMA)
    assert not crdschema.has_defaults(
        {"type": "object", "properties": {"a": {"type": "array", "items": {"type": "string"}}}}
    )
    assert crdschema.has_defaults(
        {
            "type": "object",
            "properties": {
                "a": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"b": {"type": "string", "default": "x"}}},
                }
            },
        }
    )


def test_structural_problems() -> None:
    assert crdschema.structural_problems(SCHEMA, "s") == []
    assert [
        p.render()
        for p in crdschema.structural_problems(
            {
                "type": "object",
                "properties": {"a": {"description": "no type"}, "b": {"type": "array"}, "c": {"type": "thing"}},
            },
            "s",
        )
    ] == [
        "s.properties[a].type: Required value",
        "s.properties[b].items: Required value",
        's.properties[c].type: Unsupported value: "thing": supported values: "object", "array", "string", '
        '"integer", "number", "boolean"',
    ]
    assert crdschema.structural_problems({"type": "string"}, "s")[0].field == "s.type"


def test_jsonpath_subset_of_printer_columns() -> None:
    value = {
        "spec": {"replicas": 3, "a.b": "dotted"},
        "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Synced", "status": "False"}]},
    }
    assert jsonpath.find(value, ".spec.replicas") == [3]
    assert jsonpath.find(value, "{.spec['a.b']}") == ["dotted"]
    assert jsonpath.find(value, '.status.conditions[?(@.type=="Ready")].status') == ["True"]
    assert jsonpath.find(value, ".status.conditions[*].type") == ["Ready", "Synced"]
    assert jsonpath.find(value, ".status.conditions[-1].type") == ["Synced"]
    assert jsonpath.find(value, ".status.missing") == []
    target: dict[str, Any] = {}
    jsonpath.set_path(target, ".spec.scale.replicas", 2)
    assert target == {"spec": {"scale": {"replicas": 2}}}
