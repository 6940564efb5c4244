"""ValidatingAdmissionPolicies, pure: which writes a binding checks, what the checks find, and what
a policy or binding may say (the integration tests run them in the server with kubectl)."""

from __future__ import annotations

from typing import Any

from minikube_py.model import admissionpolicies as vap
from minikube_py.model.matchconditions import admission_size
from minikube_py.model.webhooks import Attributes

Obj = dict[str, Any]


def attrs(name: str = "web", replicas: int = 3, operation: str = "CREATE", **labels: str) -> Attributes:
    obj = {"metadata": {"name": name, "namespace": "ns", "labels": labels}, "spec": {"replicas": replicas}}
    return Attributes(operation, "apps", "v1", "deployments", "Deployment", "", True, "ns", name, obj, None, False)


RULE = {
    "apiGroups": ["apps"],
    "apiVersions": ["v1"],
    "operations": ["CREATE"],
    "resources": ["deployments"],
    "scope": "*",
}


def test_rules_with_exclusions_and_resource_names() -> None:
    assert vap.rules_apply({"resourceRules": [RULE]}, attrs())
    assert not vap.rules_apply({"resourceRules": [RULE]}, attrs(operation="UPDATE"))
    assert not vap.rules_apply({"resourceRules": [RULE], "excludeResourceRules": [RULE]}, attrs())
    assert vap.rules_apply({"resourceRules": [{**RULE, "resourceNames": ["web"]}]}, attrs())
    assert not vap.rules_apply({"resourceRules": [{**RULE, "resourceNames": ["db"]}]}, attrs())
    assert vap.rules_apply({}, attrs())  # a binding's matchResources without rules: its selectors only


def test_bindings_of_existing_policies_in_name_order() -> None:
    policies = [{"metadata": {"name": "p"}, "spec": {}}]
    bindings = [
        {"metadata": {"name": "b2"}, "spec": {"policyName": "p"}},
        {"metadata": {"name": "b1"}, "spec": {"policyName": "p"}},
        {"metadata": {"name": "b0"}, "spec": {"policyName": "gone"}},
    ]
    assert [b.name for b in vap.bindings_of(policies, bindings)] == ["b1", "b2"]


def test_failures_carry_messages_expressions_reasons_and_errors() -> None:
    spec = {
        "variables": [{"name": "max", "expression": "2 + 3"}, {"name": "twice", "expression": "variables.max * 2"}],
        "validations": [
            {"expression": "object.spec.replicas <= variables.max"},
            {"expression": "object.spec.replicas < 0", "message": "negative only", "reason": "Forbidden"},
            {
                "expression": "object.spec.replicas <= 1",
                "messageExpression": "'too many: ' + string(object.spec.replicas)",
            },
            {"expression": "object.spec.missing == 1"},
            {"expression": "variables.twice == 10"},
        ],
        "auditAnnotations": [{"key": "size", "valueExpression": "'replicas=' + string(object.spec.replicas)"}],
    }
    values = vap.admission_values(attrs(replicas=7), None, None)
    bound, size = vap.bind(values), admission_size(values)
    found = vap.failures(spec, bound, size)
    assert [(f.index, f.reason, f.error) for f in found] == [
        (0, "Invalid", False),
        (1, "Forbidden", False),
        (2, "Invalid", False),
        (3, "Invalid", True),
    ]
    assert found[0].message == "failed expression: object.spec.replicas <= variables.max"
    assert found[1].message == "negative only" and found[2].message == "too many: 7"
    assert found[3].message.startswith("expression 'object.spec.missing == 1' resulted in error: ")
    assert vap.audit_annotations(spec, bound, size) == {"size": "replicas=7"}
    assert values["request"]["operation"] == "CREATE" and values["request"]["kind"]["kind"] == "Deployment"


def test_what_a_policy_and_a_binding_may_say() -> None:
    bad = {
        "spec": {
            "validations": [{"expression": "object.x +"}],
            "failurePolicy": "Maybe",
            "variables": [{"name": "1x", "expression": "1"}],
        }
    }
    messages = [e.render() for e in vap.validate_policy(bad)]
    assert any(
        m.startswith('spec.validations[0].expression: Invalid value: "object.x +": compilation failed')
        for m in messages
    )
    assert 'spec.failurePolicy: Unsupported value: "Maybe": supported values: "Fail", "Ignore"' in messages
    assert "spec.matchConstraints: Required value" in messages
    assert 'spec.variables[0].name: Invalid value: "1x": must be a valid CEL identifier' in messages
    empty = [
        e.render()
        for e in vap.validate_policy({"spec": {"matchConstraints": {"resourceRules": [RULE]}, "failurePolicy": "Fail"}})
    ]
    assert empty == ["spec.validations: Required value: validations or auditAnnotations must contain at least one item"]
    binding = {"spec": {"policyName": "p", "validationActions": ["Deny"], "paramRef": {"name": "x", "selector": {}}}}
    messages = [e.render() for e in vap.validate_binding(binding)]
    assert "spec.paramRef: Forbidden: one of name or selector must be specified" in messages
    assert any(m.startswith("spec.paramRef.parameterNotFoundAction: Unsupported value") for m in messages)


def test_an_expression_too_costly_for_the_object_fails_without_running() -> None:
    spec = {"validations": [{"expression": "object.spec.items.all(x, object.spec.items.exists(y, y == x))"}]}
    small = attrs()
    big = Attributes(**{**small.__dict__, "object": {"metadata": {}, "spec": {"items": list(range(5000))}}})
    values = vap.admission_values(small, None, None)
    assert vap.failures(spec, vap.bind(values), admission_size(values))[0].error  # no items: an error, not a cost
    values = vap.admission_values(big, None, None)
    (failure,) = vap.failures(spec, vap.bind(values), admission_size(values))
    assert failure.error and "operation cancelled: actual cost limit exceeded" in failure.message


def test_a_failing_variable_fails_only_the_expressions_that_use_it() -> None:
    """kube-apiserver evaluates variables lazily: one that errs does not fail checks that never read it."""
    spec = {
        "variables": [
            {"name": "broken", "expression": "object.spec.missing + 1"},
            {"name": "max", "expression": "5"},
            {"name": "derived", "expression": "variables.broken * 2"},
        ],
        "validations": [
            {"expression": "object.spec.replicas <= variables.max"},
            {"expression": "variables.derived > 0"},
            {"expression": "object.spec.replicas > 0"},
        ],
    }
    values = vap.admission_values(attrs(replicas=3), None, None)
    found = vap.failures(spec, vap.bind(values), admission_size(values))
    assert [(f.index, f.error) for f in found] == [(1, True)]
    assert "variables.broken" not in vap.with_variables(spec, "variables.max > 1")
    assert "variables.broken" in vap.with_variables(spec, "variables['derived'] > 1")  # a computed key: all bound
