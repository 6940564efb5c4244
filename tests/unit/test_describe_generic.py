"""kubectl's generic describer's spellings: field names as words (fatih/camelcase's split and
kubectl's acronyms) and values as Go's ``%v`` prints decoded JSON."""

from __future__ import annotations

import pytest

from minikube_py.kubectl.describegeneric import camel_split, go_value, smart_label


@pytest.mark.parametrize(
    ("field", "label"),
    [
        ("groupPriorityMinimum", "Group Priority Minimum"),
        ("apiVersion", "API Version"),
        ("APIVersion", "API Version"),
        ("podIP", "Pod IP"),
        ("uid", "UID"),
        ("URLPath", "URL Path"),
        ("dash-name", "Dash - Name"),
        ("v1beta1", "v1beta1"),
        ("with_underscore", "with_underscore"),
        ("metadata", "Metadata"),
    ],
)
def test_field_names_as_words(field: str, label: str) -> None:
    assert smart_label(field) == label


def test_camel_case_split_hands_an_upper_run_s_last_letter_on() -> None:
    assert camel_split("PDFLoader") == ["PDF", "Loader"]
    assert camel_split("GL11Version") == ["GL", "11", "Version"]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "<nil>"),
        (True, "true"),
        (3, "3"),
        (100.0, "100"),
        (100.5, "100.5"),
        (123456.5, "123456.5"),
        (1234567.5, "1.2345675e+06"),
        (1e21, "1e+21"),
        (1.5e-07, "1.5e-07"),
        (-0.00012, "-0.00012"),
        (0.0001, "0.0001"),
        (0.0, "0"),
        ("text", "text"),
    ],
)
def test_values_as_go_prints_them(value: object, shown: str) -> None:
    assert go_value(value) == shown
