"""kubectl's JSONPath dialect: templates, ranges, filters, custom columns and sort keys."""

from __future__ import annotations

import pytest

from minikube_py.kubectl.jsonpath import JSONPathError, custom_columns, evaluate, render, sort_key

DATA = {
    "items": [
        {
            "metadata": {"name": "a", "labels": {"app.kubernetes.io/name": "x"}},
            "spec": {"replicas": 10, "containers": [{"image": "i1"}, {"image": "i2"}]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Other", "status": "False"}]},
        },
        {"metadata": {"name": "b"}, "spec": {"replicas": 9, "containers": [{"image": "i3"}]}},
    ]
}


def test_paths_and_templates() -> None:
    assert render("{.items[*].metadata.name}", DATA) == "a b"
    assert render("{.items[0].spec.containers[*].image}", DATA) == "i1 i2"
    assert render("{.items[-1].metadata.name}", DATA) == "b"
    assert render("{.items[0:1].metadata.name}", DATA) == "a"
    assert render("{.items[0].metadata.labels['app.kubernetes.io/name']}", DATA) == "x"
    assert render("{.items[0].metadata.labels}", DATA) == '{"app.kubernetes.io/name":"x"}'
    assert render("{..image}", DATA) == "i1 i2 i3"
    assert render("{.items[*].missing}", DATA) == ""
    assert render("names: {.items[*].metadata.name}!", DATA) == "names: a b!"


def test_range_filters_and_literals() -> None:
    template = '{range .items[*]}{.metadata.name}{"\\t"}{.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}'
    assert render(template, DATA) == "a\tTrue\nb\t\n"
    assert render("{.items[?(@.spec.replicas>9)].metadata.name}", DATA) == "a"


def test_errors_are_command_errors() -> None:
    with pytest.raises(JSONPathError):
        render("{.items[0]", DATA)
    with pytest.raises(JSONPathError):
        render("{end}", DATA)
    with pytest.raises(JSONPathError):
        evaluate(".items[5]", DATA)


def test_custom_columns_and_sort_keys() -> None:
    text = custom_columns("NAME:.metadata.name,IMAGES:{.spec.containers[*].image},X:.nope", DATA["items"])
    assert text == "NAME   IMAGES   X\na      i1,i2    <none>\nb      i3       <none>\n"
    ordered = sorted(DATA["items"], key=lambda obj: sort_key(".spec.replicas", obj))
    assert [o["metadata"]["name"] for o in ordered] == ["b", "a"]  # numbers sort as numbers
