"""CustomResourceDefinition validation rules (x-kubernetes-validations) in CEL: what a CRD may
declare, and what the rules say of its objects, in kube-apiserver's words."""

from __future__ import annotations

from typing import Any

import pytest

from minikube_py.model import cel, crdrules

SPEC_RULES = [
    {"rule": "self.minReplicas <= self.replicas", "message": "replicas must be at least minReplicas"},
    {
        "rule": "self.replicas <= self.maxReplicas",
        "messageExpression": "'replicas ' + string(self.replicas) + ' is above ' + string(self.maxReplicas)",
        "fieldPath": ".replicas",
    },
    {
        "rule": "!has(oldSelf.mode) || self.mode == oldSelf.mode",
        "message": "mode is immutable",
        "reason": "FieldValueForbidden",
    },
]
SCHEMA: dict[str, Any] = {
    "type": "object",
    "x-kubernetes-validations": [{"rule": "self.metadata.name.startsWith('w')", "message": "name must start with w"}],
    "properties": {
        "spec": {
            "type": "object",
            "x-kubernetes-validations": SPEC_RULES,
            "properties": {
                "replicas": {"type": "integer"},
                "minReplicas": {"type": "integer"},
                "maxReplicas": {"type": "integer"},
                "mode": {"type": "string"},
                "ratio": {"type": "number", "x-kubernetes-validations": [{"rule": "self < 1.5"}]},
                "x-tag": {"type": "string"},
                "tags": {
                    "type": "array",
                    "items": {"type": "string"},
                    "x-kubernetes-validations": [{"rule": "self.all(t, t.lowerAscii() == t)"}],
                },
                "ports": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                    "items": {
                        "type": "object",
                        "x-kubernetes-validations": [{"rule": "self.port == oldSelf.port", "message": "port is fixed"}],
                        "properties": {"name": {"type": "string"}, "port": {"type": "integer"}},
                    },
                },
            },
        }
    },
}


def widget(name: str = "w1", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"replicas": 2, "minReplicas": 1, "maxReplicas": 3, **spec},
    }


def messages(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    return [problem.render() for problem in crdrules.validate(SCHEMA, obj, old)]


def test_a_valid_object_passes_every_rule() -> None:
    assert messages(widget(mode="a", ratio=1, tags=["x"])) == []


def test_failures_use_the_message_the_expression_or_the_rule_at_their_path() -> None:
    assert messages(widget("x1", replicas=0)) == [
        '<nil>: Invalid value: "object": name must start with w',
        'spec: Invalid value: "object": replicas must be at least minReplicas',
    ]
    assert messages(widget(replicas=9)) == ['spec.replicas: Invalid value: "object": replicas 9 is above 3']
    assert messages(widget(tags=["A"])) == [
        'spec.tags: Invalid value: "array": failed rule: self.all(t, t.lowerAscii() == t)'
    ]


def test_numbers_of_number_fields_are_doubles_and_names_are_escaped() -> None:
    assert messages(widget(ratio=2)) == ['spec.ratio: Invalid value: "number": failed rule: self < 1.5']
    schema = {
        "type": "object",
        "properties": {"x-tag": {"type": "string"}},
        "x-kubernetes-validations": [{"rule": "self.x__dash__tag == 'a'"}],
    }
    assert crdrules.validate(schema, {"metadata": {}, "x-tag": "a"}, None) == []
    assert crdrules.escape("a.b/c-d__e") == "a__dot__b__slash__c__dash__d__underscores__e"
    assert crdrules.escape("namespace") == "__namespace__" and crdrules.escape("1st") is None


def test_transition_rules_run_on_updates_only_and_unchanged_values_are_ratcheted() -> None:
    old = widget(mode="a")
    assert messages(widget(mode="b")) == []  # a create has no old value
    assert messages(widget(mode="b"), old) == ["spec: Forbidden: mode is immutable"]
    # stored before a rule forbade it: changing something else is still allowed
    stale = widget("x1", mode="a")
    assert messages({**stale, "metadata": {"name": "x1", "labels": {"a": "b"}}}, stale) == [
        '<nil>: Invalid value: "object": name must start with w'
    ]
    assert messages(widget(mode="a", tags=["A"]), widget(mode="a", tags=["A"])) == []


def test_an_optional_old_self_lets_a_transition_rule_run_on_creates_too() -> None:
    rule = {"rule": "oldSelf.hasValue() ? self == oldSelf.value() : self.startsWith('v')", "optionalOldSelf": True}
    schema = {"type": "object", "properties": {"version": {"type": "string", "x-kubernetes-validations": [rule]}}}
    assert crdrules.rule_problems(schema, "s") == []
    assert [p.render() for p in crdrules.validate(schema, {"version": "x1"}, None)] == [
        'version: Invalid value: "string": failed rule: ' + rule["rule"]
    ]
    assert crdrules.validate(schema, {"version": "v1"}, None) == []
    assert len(crdrules.validate(schema, {"version": "v2"}, {"version": "v1"})) == 1


def test_items_of_map_lists_meet_their_old_selves_by_key() -> None:
    old = widget(ports=[{"name": "http", "port": 80}, {"name": "https", "port": 443}])
    moved = widget(ports=[{"name": "https", "port": 443}, {"name": "http", "port": 81}, {"name": "new", "port": 1}])
    assert messages(moved, old) == ['spec.ports[1]: Invalid value: "object": port is fixed']


def test_an_evaluation_error_is_reported_with_the_rule() -> None:
    schema = {
        "type": "object",
        "properties": {"spec": {"type": "object", "x-kubernetes-validations": [{"rule": "self.missing > 1"}]}},
    }
    (problem,) = crdrules.validate(schema, {"spec": {}}, None)
    assert (
        problem.render()
        == 'spec: Invalid value: "object": Key not found in map : "missing" evaluating rule: self.missing > 1'
    )


def test_a_rule_too_costly_for_its_value_is_refused_without_running() -> None:
    rule = "self.all(x, self.exists(y, y == x))"
    schema = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"type": "integer"}, "x-kubernetes-validations": [{"rule": rule}]}
        },
    }
    assert crdrules.validate(schema, {"items": list(range(100))}, None) == []
    (problem,) = crdrules.validate(schema, {"items": list(range(5000))}, None)
    assert "call cost exceeds limit for rule: " + rule in problem.message
    assert cel.comprehension_depth(rule) == 2 and cel.comprehension_depth("'a.all(x' == self") == 0


@pytest.mark.parametrize(
    ("rule", "field", "message"),
    [
        ({"rule": "self.x +"}, "rule", "compilation failed: ERROR: <input>:1:9: Syntax error"),
        ({"rule": "self.foo()"}, "rule", "undeclared reference to 'foo'"),
        ({"rule": "'abc'"}, "rule", "compilation failed: cel expression must evaluate to a bool"),
        ({"rule": "true", "reason": "Bogus"}, "reason", 'Unsupported value: "Bogus"'),
        ({"rule": "true", "messageExpression": "1 +"}, "messageExpression", "messageExpression compilation failed"),
        ({"rule": "true", "fieldPath": "spec"}, "fieldPath", "fieldPath must be a valid path"),
        ({"message": "x"}, "rule", "Required value"),
    ],
)
def test_a_crd_with_a_broken_rule_is_refused(rule: dict[str, Any], field: str, message: str) -> None:
    schema = {"type": "object", "properties": {"spec": {"type": "object", "x-kubernetes-validations": [rule]}}}
    (problem,) = crdrules.rule_problems(schema, "spec.versions[0].schema.openAPIV3Schema")
    assert (
        problem.field == f"spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].{field}"
    )
    assert message in problem.message


def test_the_extension_libraries_and_not_kubernetes_own() -> None:
    variables = {"self": {"a": [3, 1, 2], "s": "a1b22"}}
    assert cel.evaluate("self.s.upperAscii() == 'A1B22' && self.?missing.orValue(5) == 5", variables)
    assert cel.evaluate("self.s.split('b') == ['a1', '22'] && math.greatest(self.a) == 3", variables)
    assert cel.evaluate("base64.encode(b'x') == 'eA==' && '%s!'.format([self.s]) == 'a1b22!'", variables)
    with pytest.raises(cel.CelError, match="undeclared reference to 'isSorted'"):
        cel.compiled("self.a.isSorted()")
