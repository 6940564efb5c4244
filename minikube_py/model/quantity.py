"""Kubernetes resource quantities (``100m``, ``128Mi``, ``1e3``) as exact fractions.

A quantity is kept as a :class:`~fractions.Fraction` so that comparisons such as requests <= limits
are exact; Kubernetes itself never loses precision either (it rounds *up* to one nano-unit, which
:func:`parse_quantity` mirrors). :func:`format_quantity` renders the canonical form kube-apiserver
stores and prints: ``1000`` becomes ``1k``, ``0.1`` becomes ``100m`` and ``1.5Gi`` becomes ``1536Mi``,
keeping the family (decimal SI, binary SI, exponent) the input was written in.
"""

from __future__ import annotations

import math
import re
from enum import Enum
from fractions import Fraction

#: Kubernetes' own wording for a malformed quantity (``resource.ErrFormatWrong``)
FORMAT_ERROR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"

_NANO = Fraction(1, 10**9)
_NUMBER = re.compile(r"^([+-]?)(\d+\.?\d*|\.\d+)(.*)$")
_EXPONENT = re.compile(r"^[eE]([+-]?\d+)$")
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_BY_EXP = {exp: suffix for suffix, exp in _DECIMAL.items()}
_BINARY_BY_EXP = {exp: suffix for suffix, exp in _BINARY.items()}


class Format(Enum):
    DECIMAL_SI = "DecimalSI"
    BINARY_SI = "BinarySI"
    DECIMAL_EXPONENT = "DecimalExponent"


def parse_quantity_format(s: str | int | float) -> tuple[Fraction, Format]:
    """The value and the notation it was written in (the notation decides canonical output)."""
    if isinstance(s, bool):
        raise ValueError(FORMAT_ERROR)
    if isinstance(s, int):
        return Fraction(s), Format.DECIMAL_SI
    if isinstance(s, float):
        if not math.isfinite(s):
            raise ValueError(FORMAT_ERROR)
        return _round_up_nano(Fraction(repr(s))), Format.DECIMAL_SI
    match = _NUMBER.match(s) if isinstance(s, str) else None
    if not match:
        raise ValueError(FORMAT_ERROR)
    sign, digits, suffix = match.groups()
    number = Fraction(digits)
    if suffix in _BINARY:
        value, fmt = number * 1024 ** _BINARY[suffix], Format.BINARY_SI
    elif suffix in _DECIMAL:
        value, fmt = number * Fraction(10) ** _DECIMAL[suffix], Format.DECIMAL_SI
    elif exp := _EXPONENT.match(suffix):
        value, fmt = number * Fraction(10) ** int(exp.group(1)), Format.DECIMAL_EXPONENT
    else:
        raise ValueError(FORMAT_ERROR)
    return _round_up_nano(-value if sign == "-" else value), fmt


def parse_quantity(s: str | int | float) -> Fraction:
    """The exact value of a quantity; ValueError (with Kubernetes' message) when it is malformed."""
    return parse_quantity_format(s)[0]


def milli_value(q: str | int | float | Fraction) -> int:
    """``ceil(q * 1000)``, as Kubernetes' ``MilliValue`` (CPU is usually handled in millicores)."""
    return math.ceil(_value(q) * 1000)


def value(q: str | int | float | Fraction) -> int:
    """``ceil(q)``, as Kubernetes' ``Value`` (bytes of memory, counts)."""
    return math.ceil(_value(q))


def format_quantity(q: str | int | float | Fraction, fmt: Format | None = None) -> str:
    """The canonical spelling of a quantity. A string keeps its own notation unless ``fmt`` is
    given; numbers default to decimal SI. Binary SI falls back to decimal for values below 1024
    or with a fraction, exactly where Kubernetes does, so no precision is ever lost."""
    if isinstance(q, str):
        amount, parsed_fmt = parse_quantity_format(q)
        fmt = fmt or parsed_fmt
    else:
        amount = _value(q)
        fmt = fmt or Format.DECIMAL_SI
    if amount == 0:
        return "0"
    if fmt is Format.BINARY_SI and abs(amount) >= 1024 and amount.denominator == 1:
        return _binary(int(amount))
    mantissa, exponent = _canonical_decimal(amount)
    if fmt is Format.DECIMAL_EXPONENT:
        return f"{mantissa}e{exponent}" if exponent else str(mantissa)
    return f"{mantissa}{_DECIMAL_BY_EXP[exponent]}"


def _value(q: str | int | float | Fraction) -> Fraction:
    return q if isinstance(q, Fraction) else parse_quantity(q)


def _round_up_nano(v: Fraction) -> Fraction:
    """Kubernetes keeps nine decimal places and rounds any finer remainder away from zero."""
    scaled = v / _NANO
    if scaled.denominator == 1:
        return v
    whole = math.ceil(scaled) if v > 0 else math.floor(scaled)
    return whole * _NANO


def _canonical_decimal(amount: Fraction) -> tuple[int, int]:
    """An integer mantissa and an exponent that is a multiple of 3 (within -9..18), with the
    mantissa as short as possible: 1500 -> (1500, 0), 1000 -> (1, 3), 0.1 -> (100, -3)."""
    exponent = -9
    mantissa = amount / _NANO  # integral after _round_up_nano
    while exponent < 18 and mantissa % 1000 == 0:
        mantissa /= 1000
        exponent += 3
    return int(mantissa), exponent


def _binary(amount: int) -> str:
    exponent = 0
    while exponent < 6 and amount % 1024 == 0:
        amount //= 1024
        exponent += 1
    return f"{amount}{_BINARY_BY_EXP.get(exponent, '')}"
