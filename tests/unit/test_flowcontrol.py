"""API Priority and Fairness objects: kube-apiserver's defaults, validation, configuration producer
decisions, Dangling condition and table cells (pkg/apis/flowcontrol, the bootstrap ensurer)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from minikube_py.api.tables.flowcontrol import FLOW_SCHEMA, PRIORITY_LEVEL
from minikube_py.model import flowcontrol as fc

Obj = dict[str, Any]
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _schema(name: str = "mine", **spec: Any) -> Obj:
    rules = [
        {
            "subjects": [{"kind": "User", "user": {"name": "alice"}}],
            "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/x"]}],
        }
    ]
    return {"metadata": {"name": name}, "spec": {"priorityLevelConfiguration": {"name": "lvl"}, "rules": rules, **spec}}


def _level(name: str = "mine", **spec: Any) -> Obj:
    return {"metadata": {"name": name}, "spec": spec}


def _messages(errors: list[Any]) -> list[str]:
    return [e.render() for e in errors]


def test_defaults_fill_precedence_shares_and_queuing() -> None:
    schema = _schema()
    fc.default_flow_schema(schema)
    assert schema["spec"]["matchingPrecedence"] == 1000
    level = _level(type="Limited", limited={"limitResponse": {"type": "Queue", "queuing": {"queues": 4}}})
    fc.default_priority_level(level)
    assert level["spec"]["limited"] == {
        "nominalConcurrencyShares": 30,
        "lendablePercent": 0,
        "limitResponse": {"type": "Queue", "queuing": {"queues": 4, "handSize": 8, "queueLengthLimit": 50}},
    }
    zero = _level(type="Limited", limited={"nominalConcurrencyShares": 0, "limitResponse": {"type": "Reject"}})
    fc.default_priority_level(zero)
    assert zero["spec"]["limited"]["nominalConcurrencyShares"] == 0  # an explicit 0 stays (allowed since 1.30)
    exempt = _level("exempt", type="Exempt", exempt={})
    fc.default_priority_level(exempt)
    assert exempt["spec"]["exempt"] == {"nominalConcurrencyShares": 0, "lendablePercent": 0}


def test_the_configuration_is_valid_as_defaulted() -> None:
    for _, name, spec in fc.FLOW_SCHEMAS:
        obj = {"metadata": {"name": name}, "spec": copy.deepcopy(spec)}
        fc.default_flow_schema(obj)
        assert fc.validate_flow_schema(obj) == [], name
    for _, name, spec in fc.PRIORITY_LEVELS:
        obj = {"metadata": {"name": name}, "spec": copy.deepcopy(spec)}
        fc.default_priority_level(obj)
        assert fc.validate_priority_level(obj) == [], name


def test_flow_schema_validation_messages() -> None:
    assert _messages(fc.validate_flow_schema(_schema(matchingPrecedence=1))) == [
        "spec.matchingPrecedence: Invalid value: 1: only the schema named 'exempt' may have matchingPrecedence 1"
    ]
    assert _messages(fc.validate_flow_schema(_schema(matchingPrecedence=10001))) == [
        "spec.matchingPrecedence: Invalid value: 10001: must not be greater than 10000"
    ]
    assert _messages(fc.validate_flow_schema(_schema(matchingPrecedence=-3))) == [
        "spec.matchingPrecedence: Invalid value: -3: must be a positive value"
    ]
    odd = _schema(distinguisherMethod={"type": "ByColor"}, priorityLevelConfiguration={})
    assert _messages(fc.validate_flow_schema(odd)) == [
        'spec.distinguisherMethod.type: Unsupported value: "ByColor": supported values: "ByNamespace", "ByUser"',
        "spec.priorityLevelConfiguration.name: Required value: must reference a priority level",
    ]
    rules = [
        {"subjects": [], "resourceRules": [{"verbs": ["*", "get"], "apiGroups": [], "resources": ["pods"]}]},
        {"subjects": [{"kind": "ServiceAccount", "serviceAccount": {"name": "x"}, "user": {"name": "u"}}]},
        {
            "subjects": [{"kind": "Robot"}],
            "nonResourceRules": [{"verbs": ["fly"], "nonResourceURLs": ["healthz", "/a/*/b"]}],
        },
        {
            "subjects": [{"kind": "Group", "group": {}}],
            "resourceRules": [{"verbs": ["get"], "apiGroups": ["*"], "resources": ["*"], "namespaces": ["Bad_NS"]}],
        },
    ]
    assert _messages(fc.validate_flow_schema(_schema(rules=rules))) == [
        "spec.rules[0].subjects: Required value: subjects must contain at least one value",
        'spec.rules[0].resourceRules[0].verbs: Invalid value: []string{"*", "get"}: if \'*\' is present, must not specify other verbs',
        "spec.rules[0].resourceRules[0].apiGroups: Required value: resource rules must supply at least one api group",
        "spec.rules[0].resourceRules[0].namespaces: Required value: resource rules that are not cluster scoped must supply at least one namespace",
        "spec.rules[1].subjects[0].user: Forbidden: user is forbidden when subject kind is not 'User'",
        "spec.rules[1].subjects[0].serviceAccount.namespace: Required value: must specify namespace for service account",
        "spec.rules[1]: Required value: at least one of resourceRules and nonResourceRules has to be non-empty",
        'spec.rules[2].subjects[0].kind: Unsupported value: "Robot": supported values: "Group", "ServiceAccount", "User"',
        'spec.rules[2].nonResourceRules[0].verbs: Unsupported value: "fly": supported values: "create", "delete", '
        '"deletecollection", "get", "list", "patch", "proxy", "update", "watch"',
        'spec.rules[2].nonResourceRules[0].nonResourceURLs[0]: Invalid value: "healthz": must start with slash',
        'spec.rules[2].nonResourceRules[0].nonResourceURLs[1]: Invalid value: "/a/*/b": wildcard can only do suffix matching',
        "spec.rules[3].subjects[0].group.name: Required value: name is required",
        "spec.rules[3].resourceRules[0].namespaces[0]: Invalid value: \"Bad_NS\": each member of this list must be '*' or "
        "a DNS-1123 label; a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
        "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
    ]


def test_priority_level_validation_messages() -> None:
    assert _messages(fc.validate_priority_level(_level(type="Exempt", exempt={}))) == [
        "spec.type: Invalid value: \"Exempt\": type must be 'Exempt' if and only if name is 'exempt'"
    ]
    assert _messages(fc.validate_priority_level(_level(type="Limited", exempt={}))) == [
        "spec.exempt: Forbidden: must be nil if the type is Limited",
        "spec.limited: Required value: must not be empty when type is Limited",
    ]
    limited = {
        "nominalConcurrencyShares": -1,
        "lendablePercent": 101,
        "borrowingLimitPercent": -5,
        "limitResponse": {"type": "Reject", "queuing": {}},
    }
    assert _messages(fc.validate_priority_level(_level(type="Limited", limited=limited))) == [
        "spec.limited.nominalConcurrencyShares: Invalid value: -1: must be a non-negative integer",
        "spec.limited.lendablePercent: Invalid value: 101: must be between 0 and 100, inclusive",
        "spec.limited.borrowingLimitPercent: Invalid value: -5: if specified, must be a non-negative integer",
        "spec.limited.limitResponse.queuing: Forbidden: must be nil if limited.limitResponse.type is not Limited",
    ]
    queuing = {"queues": 128, "handSize": 20, "queueLengthLimit": 0}
    big_hand = _level(type="Limited", limited={"limitResponse": {"type": "Queue", "queuing": queuing}})
    assert _messages(fc.validate_priority_level(big_hand)) == [
        "spec.limited.limitResponse.queuing.queueLengthLimit: Invalid value: 0: must be positive",
        "spec.limited.limitResponse.queuing.handSize: Invalid value: 20: required entropy bits of deckSize 128 and "
        "handSize 20 should not be greater than 60",
    ]
    over = _level(
        type="Limited",
        limited={"limitResponse": {"type": "Queue", "queuing": {"queues": 4, "handSize": 5, "queueLengthLimit": 1}}},
    )
    assert _messages(fc.validate_priority_level(over)) == [
        "spec.limited.limitResponse.queuing.handSize: Invalid value: 5: should not be greater than queues (4)"
    ]
    assert _messages(
        fc.validate_priority_level(_level(type="Limited", limited={"limitResponse": {"type": "Drop"}}))
    ) == ['spec.limited.limitResponse.type: Unsupported value: "Drop": supported values: "Queue", "Reject"']


def test_the_mandatory_objects_keep_their_spec() -> None:
    schema = {"metadata": {"name": "catch-all"}, "spec": copy.deepcopy(fc.FLOW_SCHEMAS[-1][2])}
    assert fc.validate_flow_schema(schema) == []
    schema["spec"]["matchingPrecedence"] = 5000
    assert _messages(fc.validate_flow_schema(schema))[-1].endswith("spec of 'catch-all' must equal the fixed value")
    exempt = {"metadata": {"name": "exempt"}, "spec": copy.deepcopy(fc.PRIORITY_LEVELS[0][2])}
    exempt["spec"]["exempt"]["nominalConcurrencyShares"] = 10  # administrators may tune the exempt level's shares
    assert fc.validate_priority_level(exempt) == []


def _stored(kind: str, name: str, spec: Obj, annotations: Obj | None = None, generation: int = 1) -> Obj:
    obj: Obj = {
        "metadata": {"name": name, "generation": generation, "annotations": annotations or {}},
        "spec": copy.deepcopy(spec),
    }
    (fc.default_flow_schema if kind == "FlowSchema" else fc.default_priority_level)(obj)
    return obj


@pytest.mark.parametrize(
    ("annotation", "generation", "restored", "written"),
    [
        ("true", 5, True, "true"),
        ("false", 1, False, None),
        ("maybe", 1, True, "true"),  # unparsable: only a spec nobody changed (generation 1) is kept current
        ("maybe", 2, False, "false"),
        (None, 2, False, "false"),
    ],
)
def test_the_producer_restores_a_suggested_object_only_while_it_may(
    annotation: str | None, generation: int, restored: bool, written: str | None
) -> None:
    _, name, spec = fc.FLOW_SCHEMAS[-2]  # global-default, suggested
    changed = _stored("FlowSchema", name, spec, {fc.AUTOUPDATE: annotation} if annotation else None, generation)
    changed["spec"]["matchingPrecedence"] = 9800
    result = fc.ensured("FlowSchema", changed, spec, mandatory=False)
    if written is None:
        assert result is None
        return
    assert result is not None and result["metadata"]["annotations"][fc.AUTOUPDATE] == written
    assert (result["spec"]["matchingPrecedence"] == 9900) is restored


def test_the_producer_always_restores_a_mandatory_object_but_the_exempt_shares() -> None:
    _, _, spec = fc.PRIORITY_LEVELS[0]
    tuned = _stored("PriorityLevelConfiguration", "exempt", spec, {fc.AUTOUPDATE: "false"})
    tuned["spec"]["exempt"]["nominalConcurrencyShares"] = 7
    result = fc.ensured("PriorityLevelConfiguration", tuned, spec, mandatory=True)
    assert result is not None and result["metadata"]["annotations"][fc.AUTOUPDATE] == "true"
    assert result["spec"]["exempt"]["nominalConcurrencyShares"] == 7
    current = _stored("PriorityLevelConfiguration", "exempt", spec, {fc.AUTOUPDATE: "true"})
    assert fc.ensured("PriorityLevelConfiguration", current, spec, mandatory=True) is None


def test_only_objects_marked_for_the_producer_are_removed() -> None:
    names = {"exempt", "catch-all"}
    assert fc.unwanted({"metadata": {"name": "old-default", "annotations": {fc.AUTOUPDATE: "true"}}}, names)
    assert not fc.unwanted({"metadata": {"name": "mine", "annotations": {fc.AUTOUPDATE: "false"}}}, names)
    assert not fc.unwanted({"metadata": {"name": "mine"}}, names)
    assert not fc.unwanted({"metadata": {"name": "exempt", "annotations": {fc.AUTOUPDATE: "true"}}}, names)


def test_dangling_says_whether_the_level_exists() -> None:
    schema = _schema()
    assert fc.dangling_condition(schema, {"lvl"}) == {
        "type": "Dangling",
        "status": "False",
        "reason": "Found",
        "message": 'This FlowSchema references the PriorityLevelConfiguration object named "lvl" and it exists',
    }
    missing = fc.dangling_condition(schema, set())
    assert (missing["status"], missing["reason"]) == ("True", "NotFound")
    assert missing["message"].endswith('named "lvl" but there is no such object')


def test_table_cells() -> None:
    schema = _schema(matchingPrecedence=500)
    schema["metadata"]["creationTimestamp"] = "2025-12-31T23:59:00Z"
    assert FLOW_SCHEMA.cells(schema, NOW) == ["mine", "lvl", 500, "<none>", "60s", "?"]
    schema["spec"]["distinguisherMethod"] = {"type": "ByUser"}
    schema["status"] = {"conditions": [fc.dangling_condition(schema, set())]}
    assert FLOW_SCHEMA.cells(schema, NOW)[3:] == ["ByUser", "60s", "True"]
    assert FLOW_SCHEMA.order is not None
    ordered = sorted(
        [_schema("b", matchingPrecedence=9), _schema("a", matchingPrecedence=9), _schema("z", matchingPrecedence=2)],
        key=FLOW_SCHEMA.order,
    )
    assert [s["metadata"]["name"] for s in ordered] == ["z", "a", "b"]
    limited = {"metadata": {"name": "l"}, "spec": copy.deepcopy(fc.PRIORITY_LEVELS[2][2])}
    assert PRIORITY_LEVEL.cells(limited, NOW) == ["l", "Limited", 30, 64, 6, 50, "<unknown>"]
    rejecting = {"metadata": {"name": "c"}, "spec": copy.deepcopy(fc.PRIORITY_LEVELS[1][2])}
    assert PRIORITY_LEVEL.cells(rejecting, NOW)[1:6] == ["Limited", 5, "<none>", "<none>", "<none>"]
    exempt = {"metadata": {"name": "exempt"}, "spec": copy.deepcopy(fc.PRIORITY_LEVELS[0][2])}
    assert PRIORITY_LEVEL.cells(exempt, NOW)[1:6] == ["Exempt", "<none>", "<none>", "<none>", "<none>"]
