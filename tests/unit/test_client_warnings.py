"""Parsing the API's Warning headers as kubectl does."""

from __future__ import annotations

from minikube_py.client.warning_headers import parse_warning


def test_a_299_warning_gives_its_text_unescaped() -> None:
    assert parse_warning('299 - "v1 ComponentStatus is deprecated in v1.19+"') == (
        "v1 ComponentStatus is deprecated in v1.19+"
    )
    assert parse_warning(r'299 - "unknown field \"spec.x\" with a \\ backslash"') == (
        'unknown field "spec.x" with a \\ backslash'
    )
    assert parse_warning('299 kube-apiserver "dated" "Mon, 07 Dec 2026 10:00:00 GMT"') == "dated"


def test_other_codes_and_malformed_values_are_passed_over() -> None:
    assert parse_warning('199 - "miscellaneous"') is None
    assert parse_warning("299 - unquoted") is None
    assert parse_warning('299 - "unterminated') is None
    assert parse_warning("") is None
