"""``describe`` for the kinds kubectl has no describer of its own for (custom resources, APIServices,
CRDs, Leases, ControllerRevisions, admission configurations...): kubectl's generic describer, which
prints the object's fields as a tree, keys sorted, names turned into words (``groupPriorityMinimum``
as ``Group Priority Minimum``), values as Go's ``%v`` prints what JSON decoded into."""

from __future__ import annotations

import decimal
from datetime import datetime
from typing import Any

from minikube_py.kubectl.describe import Text, events_section

Obj = dict[str, Any]

#: what the generic describer leaves out of the tree: printed above it, or apply's bookkeeping
_SKIPPED = frozenset(
    {".metadata.managedFields", ".metadata.name", ".metadata.namespace", ".metadata.labels", ".metadata.annotations"}
)
#: words kubectl upper-cases whole
_ACRONYMS = frozenset({"API", "URL", "UID", "OSB", "GUID"})


def describe_generic(obj: Obj, events: list[Obj], now: datetime) -> str:
    w = Text.headed(obj["metadata"])
    _content(w, 0, obj, "")
    events_section(w, events, now)
    return w.render()


def _content(w: Text, level: int, content: Obj, prefix: str) -> None:
    for key in sorted(content):
        value, path = content[key], f"{prefix}.{key}"
        if path in _SKIPPED:
            continue
        if isinstance(value, dict):
            w.line(level, f"{smart_label(key)}:")
            _content(w, level + 1, value, path)
        elif isinstance(value, list):
            w.line(level, f"{smart_label(key)}:")
            for child in value:
                if isinstance(child, dict):
                    _content(w, level + 1, child, path)
                else:
                    w.line(level + 1, go_value(child))
        else:
            w.line(level, f"{smart_label(key)}:\t{go_value(value)}")


def smart_label(field: str) -> str:
    """A field's name as words: camel case split, each word capitalised, the usual acronyms upper
    case; a name with anything but letters and ``-`` stays as it is."""
    if any(not (c.isalpha() or c == "-") for c in field):
        return field
    words = []
    for part in camel_split(field):
        if part == "_":
            continue
        words.append(part.upper() if part.upper() in _ACRONYMS else part[:1].upper() + part[1:])
    return " ".join(words)


def camel_split(text: str) -> list[str]:
    """Runs of lower case, upper case, digits and other characters, an upper-case run giving its last
    letter to a following lower-case run (``APIVersion``: ``API``, ``Version``)."""
    runs: list[list[str]] = []
    last = 0
    for char in text:
        kind = 1 if char.islower() else 2 if char.isupper() else 3 if char.isdigit() else 4
        if runs and kind == last:
            runs[-1].append(char)
        else:
            runs.append([char])
        last = kind
    for i in range(len(runs) - 1):
        if runs[i] and runs[i][0].isupper() and runs[i + 1][0].islower():
            runs[i + 1].insert(0, runs[i].pop())
    return ["".join(run) for run in runs if run]


def go_value(value: Any) -> str:
    """``fmt``'s ``%v`` of a decoded JSON value: ``<nil>``, ``true``, integers as they are, other
    numbers in ``%g``'s shortest form (an exponent below 1e-4 and from 1e+06), strings as they are."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    return str(value)


def _go_float(value: float) -> str:
    sign, digits, exponent = decimal.Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    shown = "".join(map(str, digits)) or "0"
    point = len(shown) + exponent  # digits before the decimal point
    minus = "-" if sign else ""
    power = point - 1
    if power < -4 or power >= 6:
        mantissa = shown[0] + ("." + shown[1:] if len(shown) > 1 else "")
        return f"{minus}{mantissa}e{'-' if power < 0 else '+'}{abs(power):02d}"
    if point <= 0:
        return f"{minus}0.{'0' * -point}{shown}"
    if point >= len(shown):
        return minus + shown + "0" * (point - len(shown))
    return f"{minus}{shown[:point]}.{shown[point:]}"
