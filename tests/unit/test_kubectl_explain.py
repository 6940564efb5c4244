"""The layout of ``pykube kubectl explain`` (the e2e tests compare it with kubectl's own output)."""

from __future__ import annotations

import pytest

from minikube_py.kubectl.explain import FieldNotFound, explain, wrap

REF = "#/components/schemas/"
SCHEMAS = {
    "k.v1.Widget": {
        "description": "Widget is a thing made of parts.",
        "type": "object",
        "required": ["spec"],
        "properties": {
            "spec": {"allOf": [{"$ref": f"{REF}k.v1.WidgetSpec"}], "description": "What the widget should be."},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    },
    "k.v1.WidgetSpec": {
        "description": "WidgetSpec is the widget's desired state.",
        "type": "object",
        "properties": {
            "parts": {"type": "array", "items": {"allOf": [{"$ref": f"{REF}k.v1.Part"}]}, "description": "Parts."},
            "size": {"allOf": [{"$ref": f"{REF}io.IntOrString"}], "description": "How big."},
        },
    },
    "k.v1.Part": {
        "description": "A Part of a widget.",
        "type": "object",
        "properties": {"child": {"allOf": [{"$ref": f"{REF}k.v1.Part"}]}, "name": {"type": "string"}},
    },
    "io.IntOrString": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
}
GVK = ("example.com", "v1", "Widget")


def test_wrap_breaks_before_the_word_that_passes_the_limit_and_keeps_long_words_whole() -> None:
    assert wrap("aaa bbb ccc", 7) == "aaa bbb\nccc"
    assert wrap("aaa https://a.very/long/address end", 10) == "aaa\nhttps://a.very/long/address\nend"
    assert wrap("one\n\ntwo", 10) == "one\n\ntwo"


def test_a_kind_lists_its_fields_with_types_required_marks_and_descriptions() -> None:
    out = explain(SCHEMAS, "k.v1.Widget", GVK, [], recursive=False)
    assert out == (
        "GROUP:      example.com\nKIND:       Widget\nVERSION:    v1\n\n"
        "DESCRIPTION:\n    Widget is a thing made of parts.\n    \n"
        "FIELDS:\n"
        "  labels\t<map[string]string>\n    <no description>\n\n"
        "  spec\t<WidgetSpec> -required-\n    What the widget should be.\n\n"
        "\n"
    )


def test_a_field_is_described_by_itself_then_by_its_type_through_lists() -> None:
    out = explain(SCHEMAS, "k.v1.Widget", GVK, ["spec", "parts"], recursive=False)
    assert "FIELD: parts <[]Part>\n\n\nDESCRIPTION:\n    Parts.\n    A Part of a widget.\n    \n" in out
    assert "  name\t<string>\n" in out
    size = explain(SCHEMAS, "k.v1.Widget", GVK, ["spec", "size"], recursive=False)
    assert "FIELD: size <IntOrString>" in size and size.endswith("    How big.\n    \n\n")


def test_recursive_lists_nested_fields_once_per_type_on_the_path() -> None:
    out = explain(SCHEMAS, "k.v1.Widget", GVK, [], recursive=True)
    assert out.endswith(
        "FIELDS:\n  labels\t<map[string]string>\n  spec\t<WidgetSpec> -required-\n"
        "    parts\t<[]Part>\n      child\t<Part>\n      name\t<string>\n    size\t<IntOrString>\n\n"
    )


def test_a_missing_field_is_an_error_that_carries_the_heading() -> None:
    with pytest.raises(FieldNotFound) as caught:
        explain(SCHEMAS, "k.v1.Widget", GVK, ["spec", "colour"], recursive=False)
    assert str(caught.value) == 'field "colour" does not exist'
    assert caught.value.heading == "GROUP:      example.com\nKIND:       Widget\nVERSION:    v1\n\n"
    with pytest.raises(FieldNotFound):
        explain(SCHEMAS, "k.v1.Widget", GVK, ["labels", "x"], recursive=False)  # maps are not walked into
