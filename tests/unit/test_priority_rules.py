"""PriorityClass rules and the Priority admission of pods, as pure functions."""

from __future__ import annotations

from typing import Any

import pytest

from minikube_py.model import priority
from minikube_py.model.errors import FieldError
from minikube_py.model.kindrules import rules_of
from minikube_py.model.validation import validate_pod_spec

Obj = dict[str, Any]
RULES = rules_of("PriorityClass")


def klass(name: str, value: int = 1000, **fields: Any) -> Obj:
    obj: Obj = {"metadata": {"name": name}, "value": value, **fields}
    RULES.defaults(obj)
    return obj


def causes(errors: list[FieldError]) -> list[tuple[str, str, str]]:
    return [(e.field, e.reason, e.message) for e in errors]


def test_a_class_defaults_to_preempting_lower_priorities() -> None:
    assert klass("high")["preemptionPolicy"] == "PreemptLowerPriority"
    assert klass("polite", preemptionPolicy="Never")["preemptionPolicy"] == "Never"


def test_user_classes_stay_at_or_below_one_billion() -> None:
    assert RULES.validate(klass("top", 1_000_000_000)) == []
    assert RULES.validate(klass("low", -5)) == []
    assert causes(RULES.validate(klass("over", 1_000_000_001))) == [
        ("value", "FieldValueForbidden", "Forbidden: maximum allowed value of a user defined priority is 1000000000")
    ]


@pytest.mark.parametrize(
    ("obj", "why"),
    [
        (klass("system-mine", 10), "system-mine is not a known system priority class"),
        (klass("system-node-critical", 10), "value of system-node-critical PriorityClass must be 2000001000"),
        (
            klass("system-cluster-critical", 2_000_000_000, globalDefault=True),
            "globalDefault of system-cluster-critical PriorityClass must be false",
        ),
    ],
)
def test_the_system_prefix_is_reserved(obj: Obj, why: str) -> None:
    assert causes(RULES.validate(obj)) == [
        (
            "metadata.name",
            "FieldValueForbidden",
            f"Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: {why}",
        )
    ]


def test_the_built_in_classes_are_valid() -> None:
    for obj in priority.SYSTEM_CLASSES:
        defaulted = RULES.defaulted(obj)
        assert RULES.validate(defaulted) == []
        assert defaulted["preemptionPolicy"] == "PreemptLowerPriority"
    assert [c["metadata"]["name"] for c in priority.SYSTEM_CLASSES] == [
        "system-node-critical",
        "system-cluster-critical",
    ]


def test_preemption_policy_must_be_known() -> None:
    assert causes(RULES.validate(klass("x", preemptionPolicy="Sometimes"))) == [
        (
            "preemptionPolicy",
            "FieldValueNotSupported",
            'Unsupported value: "Sometimes": supported values: "PreemptLowerPriority", "Never"',
        )
    ]
    assert causes(RULES.validate(klass("x", preemptionPolicy=""))) == [
        ("preemptionPolicy", "FieldValueRequired", "Required value")
    ]


def test_value_and_preemption_policy_are_immutable() -> None:
    old = klass("high", 1000)
    assert RULES.validate({**old, "description": "now described", "globalDefault": True}, old) == []
    assert causes(RULES.validate({**old, "value": 2000, "preemptionPolicy": "Never"}, old)) == [
        ("value", "FieldValueForbidden", "Forbidden: may not be changed in an update."),
        ("preemptionPolicy", "FieldValueInvalid", 'Invalid value: "Never": field is immutable'),
    ]


def test_one_global_default_at_most() -> None:
    default = klass("default", 10, globalDefault=True)
    assert priority.second_default(klass("other", 20, globalDefault=True), [default]) == (
        "PriorityClass default is already marked as default. Only one default can exist"
    )
    assert priority.second_default(klass("other", 20), [default]) is None
    assert priority.second_default(default, [default]) is None  # updating the default itself
    assert priority.second_default(klass("first", globalDefault=True), [klass("plain")]) is None


def test_of_several_global_defaults_the_lowest_value_wins() -> None:
    classes = [klass("a", 30, globalDefault=True), klass("b", 20, globalDefault=True), klass("c", 10)]
    default = priority.global_default(classes)
    assert default is not None and default["metadata"]["name"] == "b"
    assert priority.global_default([klass("c", 10)]) is None


# ------------------------------------------------------------------------------ admission


def test_a_pod_gets_its_class_value_and_policy() -> None:
    named = klass("polite", 500, preemptionPolicy="Never")
    resolved = priority.resolve({"priorityClassName": "polite"}, named, None)
    assert resolved == priority.Resolved("polite", 500, "Never")
    spec: Obj = {"priorityClassName": "polite"}
    assert isinstance(resolved, priority.Resolved)
    priority.apply(spec, resolved)
    assert spec == {"priorityClassName": "polite", "priority": 500, "preemptionPolicy": "Never"}


def test_a_pod_without_a_class_gets_the_global_default_or_zero() -> None:
    default = klass("everyone", 7, globalDefault=True)
    assert priority.resolve({}, None, default) == priority.Resolved("everyone", 7, "PreemptLowerPriority")
    assert priority.resolve({}, None, None) == priority.Resolved("", 0, "PreemptLowerPriority")
    spec: Obj = {}
    resolved = priority.resolve(spec, None, None)
    assert isinstance(resolved, priority.Resolved)
    priority.apply(spec, resolved)
    assert spec == {"priority": 0, "preemptionPolicy": "PreemptLowerPriority"}


def test_an_unknown_class_is_refused() -> None:
    assert priority.resolve({"priorityClassName": "gold"}, None, None) == "no PriorityClass with name gold was found"


def test_a_priority_of_its_own_must_agree_with_the_class() -> None:
    named = klass("high", 1000)
    assert priority.resolve({"priorityClassName": "high", "priority": 1000}, named, None) == priority.Resolved(
        "high", 1000, "PreemptLowerPriority"
    )
    assert priority.resolve({"priorityClassName": "high", "priority": 5}, named, None) == (
        "the integer value of priority (5) must not be provided in pod spec; priority admission controller "
        "computed 1000 from the given PriorityClass name"
    )
    assert priority.resolve({"priority": 5}, None, None) == (
        "the integer value of priority (5) must not be provided in pod spec; priority admission controller "
        "computed 0 from the given PriorityClass name"
    )
    assert priority.resolve({"priorityClassName": "high", "preemptionPolicy": "Never"}, named, None) == (
        "the string value of PreemptionPolicy (Never) must not be provided in pod spec; priority admission "
        "controller computed PreemptLowerPriority from the given PriorityClass name"
    )


def test_an_update_keeps_what_admission_set() -> None:
    spec: Obj = {"containers": []}
    priority.keep_on_update(spec, {"priority": 1000, "preemptionPolicy": "Never"})
    assert spec == {"containers": [], "priority": 1000, "preemptionPolicy": "Never"}


def test_a_pod_spec_names_a_class_and_policy_properly() -> None:
    container = {"name": "c", "image": "x", "imagePullPolicy": "IfNotPresent", "terminationMessagePolicy": "File"}
    spec = {"containers": [container], "restartPolicy": "Always", "dnsPolicy": "ClusterFirst"}
    assert validate_pod_spec({**spec, "priorityClassName": "high", "preemptionPolicy": "Never"}, "spec") == []
    assert causes(validate_pod_spec({**spec, "priorityClassName": "High!", "preemptionPolicy": "Maybe"}, "spec")) == [
        (
            "spec.priorityClassName",
            "FieldValueInvalid",
            'Invalid value: "High!": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric '
            "characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
            "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        ),
        (
            "spec.preemptionPolicy",
            "FieldValueNotSupported",
            'Unsupported value: "Maybe": supported values: "PreemptLowerPriority", "Never"',
        ),
    ]
