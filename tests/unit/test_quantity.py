from fractions import Fraction

import pytest

from minikube_py.model.quantity import (
    FORMAT_ERROR,
    Format,
    format_quantity,
    milli_value,
    parse_quantity,
    parse_quantity_format,
    value,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100m", Fraction(1, 10)),
        ("1", Fraction(1)),
        ("1.5", Fraction(3, 2)),
        ("128Mi", Fraction(128 * 1024**2)),
        ("1G", Fraction(10**9)),
        ("1e3", Fraction(1000)),
        ("1E-3", Fraction(1, 1000)),
        ("2Ki", Fraction(2048)),
        ("0.5Gi", Fraction(512 * 1024**2)),
        (".5", Fraction(1, 2)),
        ("5.", Fraction(5)),
        ("+3k", Fraction(3000)),
        ("-100m", Fraction(-1, 10)),
        ("10n", Fraction(1, 10**8)),
        ("1u", Fraction(1, 10**6)),
        ("1Ei", Fraction(1024**6)),
        (2, Fraction(2)),
        (0.25, Fraction(1, 4)),
    ],
)
def test_parse_values(text: str | int | float, expected: Fraction) -> None:
    assert parse_quantity(text) == expected


@pytest.mark.parametrize("bad", ["", "abc", "1Z", "1.2.3", "Mi", "1 Mi", " 1", "1e", "1e1.5", "1KiB", "--1", True])
def test_parse_rejects_malformed(bad: object) -> None:
    with pytest.raises(ValueError, match="quantities must match the regular expression") as exc:
        parse_quantity(bad)  # type: ignore[arg-type]
    assert str(exc.value) == FORMAT_ERROR


def test_sub_nano_precision_rounds_up() -> None:
    assert parse_quantity("0.1n") == Fraction(1, 10**9)
    assert parse_quantity("-0.1n") == Fraction(-1, 10**9)


def test_format_of_notation_is_remembered() -> None:
    assert parse_quantity_format("1Gi")[1] is Format.BINARY_SI
    assert parse_quantity_format("1G")[1] is Format.DECIMAL_SI
    assert parse_quantity_format("1e9")[1] is Format.DECIMAL_EXPONENT


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("1000", "1k"),
        ("1500", "1500"),
        ("0.1", "100m"),
        ("1000m", "1"),
        ("1.5", "1500m"),
        ("1e3", "1e3"),
        ("1500e0", "1500"),
        ("1k", "1k"),
        ("1.5Gi", "1536Mi"),
        ("1024Ki", "1Mi"),
        ("100Ki", "100Ki"),
        ("0.5Ki", "512"),
        ("1.5Ki", "1536"),
        ("0", "0"),
        ("0Mi", "0"),
        ("-1.5", "-1500m"),
        ("12e6", "12e6"),
        ("12000e3", "12e6"),
        ("5n", "5n"),
    ],
)
def test_format_canonical(text: str, canonical: str) -> None:
    assert format_quantity(text) == canonical


def test_format_numbers_and_explicit_format() -> None:
    assert format_quantity(Fraction(3, 2)) == "1500m"
    assert format_quantity(2048) == "2048"
    assert format_quantity(2048, Format.BINARY_SI) == "2Ki"


def test_milli_value_and_value_round_up() -> None:
    assert milli_value("100m") == 100
    assert milli_value("1.5") == 1500
    assert milli_value("1n") == 1
    assert milli_value(Fraction(1, 3)) == 334
    assert value("1Mi") == 1048576
    assert value("1500m") == 2
