"""Label and field selectors with Kubernetes' syntax, semantics and error messages.

Label selectors come as a query string (``?labelSelector=app=web,tier notin (db)``), parsed by
:func:`parse_label_selector` with the grammar of ``k8s.io/apimachinery/pkg/labels``, or as the
``{matchLabels, matchExpressions}`` object that workloads carry, turned into the same
:class:`LabelSelector` by :func:`label_selector_from_spec`. The error texts are Kubernetes' own, since
kubectl shows them to the user verbatim.

Field selectors (``?fieldSelector=spec.nodeName=n1,status.phase!=Failed``) only know equality and
inequality against the flat string map a kind offers (see :mod:`minikube_py.model.fields`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# ------------------------------------------------------------------------------ label syntax
# The syntax of label keys and values lives here, with the selectors that parse them; validation
# imports it for metadata.labels. A key's optional prefix is a DNS subdomain, hence those rules too.

_DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = _DNS1123_LABEL + "(\\." + _DNS1123_LABEL + ")*"
_LABEL_NAME = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE = "(" + _LABEL_NAME + ")?"
_DNS1123_LABEL_RE = re.compile(f"^{_DNS1123_LABEL}$")
_DNS1123_SUBDOMAIN_RE = re.compile(f"^{_DNS1123_SUBDOMAIN}$")
_LABEL_NAME_RE = re.compile(f"^{_LABEL_NAME}$")
_LABEL_VALUE_RE = re.compile(f"^{_LABEL_VALUE}$")


def regex_error(message: str, regex: str, *examples: str) -> str:
    """Kubernetes' ``RegexError`` wording: the rule, examples, and the regex itself."""
    shown = "".join(f"{' or ' if i else ''}'{e}', " for i, e in enumerate(examples))
    return (
        f"{message} (e.g. {shown}regex used for validation is '{regex}')"
        if examples
        else f"{message} (regex used for validation is '{regex}')"
    )


def max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


_DNS1123_LABEL_ERROR = regex_error(
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end "
    "with an alphanumeric character",
    _DNS1123_LABEL,
    "my-name",
    "123-abc",
)
_DNS1123_SUBDOMAIN_ERROR = regex_error(
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start "
    "and end with an alphanumeric character",
    _DNS1123_SUBDOMAIN,
    "example.com",
)
_LABEL_VALUE_ERROR = regex_error(
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start "
    "and end with an alphanumeric character",
    _LABEL_VALUE,
    "MyValue",
    "my_value",
    "12345",
)


def _format_errors(value: str, max_len: int, regex: re.Pattern[str], mismatch: str) -> list[str]:
    """Kubernetes' order for a string format: the length error first, then ``mismatch`` when the
    value does not match ``regex``."""
    errs = [max_len_error(max_len)] if len(value) > max_len else []
    if not regex.match(value):
        errs.append(mismatch)
    return errs


def dns1123_label_errors(value: str) -> list[str]:
    # a valid subdomain fails as a label only by its dots, and Kubernetes says just that
    dotted = _DNS1123_SUBDOMAIN_RE.match(value)
    return _format_errors(value, 63, _DNS1123_LABEL_RE, "must not contain dots" if dotted else _DNS1123_LABEL_ERROR)


def dns1123_subdomain_errors(value: str) -> list[str]:
    return _format_errors(value, 253, _DNS1123_SUBDOMAIN_RE, _DNS1123_SUBDOMAIN_ERROR)


_LABEL_KEY_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
)


def label_key_errors(key: str) -> list[str]:
    """Kubernetes' ``IsQualifiedName``: ``[prefix/]name``, prefix a DNS subdomain, name <= 63."""
    parts = key.split("/")
    if len(parts) > 2:
        return [
            "a valid label key "
            + regex_error(_LABEL_KEY_MSG, _LABEL_NAME, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    errs: list[str] = []
    name = parts[-1]
    if len(parts) == 2:
        if not parts[0]:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + msg for msg in dns1123_subdomain_errors(parts[0]))
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part " + max_len_error(63))
    if not _LABEL_NAME_RE.match(name):
        errs.append("name part " + regex_error(_LABEL_KEY_MSG, _LABEL_NAME, "MyName", "my.name", "123-abc"))
    return errs


def label_value_errors(value: str) -> list[str]:
    return _format_errors(value, 63, _LABEL_VALUE_RE, _LABEL_VALUE_ERROR)


# ------------------------------------------------------------------------------ label selectors

# operators, spelled as Kubernetes' ``selection.Operator`` values
IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS = "in", "notin", "=", "==", "!="
EXISTS, DOES_NOT_EXIST, GREATER_THAN, LESS_THAN = "exists", "!", "gt", "lt"
_BINARY_OPERATORS = (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, GREATER_THAN, LESS_THAN)
_SPEC_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


@dataclass(frozen=True)
class Requirement:
    """One term of a label selector. ``values`` is sorted and free of duplicates, as the value set
    Kubernetes keeps, so that :meth:`__str__` is deterministic."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Note that ``!=`` and ``notin`` match objects that lack the label altogether."""
        present = self.key in labels
        if self.operator in (IN, EQUALS, DOUBLE_EQUALS):
            return present and labels[self.key] in self.values
        if self.operator in (NOT_IN, NOT_EQUALS):
            return not present or labels[self.key] not in self.values
        if self.operator == EXISTS:
            return present
        if self.operator == DOES_NOT_EXIST:
            return not present
        if not present:
            return False
        try:
            have, want = int(labels[self.key]), int(self.values[0])
        except ValueError:
            return False
        return have > want if self.operator == GREATER_THAN else have < want

    def __str__(self) -> str:
        if self.operator == EXISTS:
            return self.key
        if self.operator == DOES_NOT_EXIST:
            return "!" + self.key
        joined = ",".join(self.values)
        if self.operator in (IN, NOT_IN):
            return f"{self.key} {self.operator} ({joined})"
        symbol = {GREATER_THAN: ">", LESS_THAN: "<"}.get(self.operator, self.operator)
        return f"{self.key}{symbol}{joined}"


@dataclass(frozen=True)
class LabelSelector:
    """A conjunction of requirements, kept sorted by key.

    ``nothing`` marks the selector of an absent (``None``) spec, which matches no object at all;
    a present but empty spec, like an empty query string, selects everything. A workload without
    a selector therefore adopts nothing, while ``selector: {}`` would adopt every pod.
    """

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    @property
    def empty(self) -> bool:
        """Whether the selector restricts nothing (the ``nothing`` selector is not empty)."""
        return not self.nothing and not self.requirements

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.nothing:
            return False
        present = labels or {}
        return all(r.matches(present) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def _requirement(key: str, operator: str, values: list[str], path: str | None) -> Requirement:
    """Kubernetes' ``NewRequirement``: validates the key, the value count and every value, and
    reports all problems together in the ``field: Invalid value: ...`` form."""
    where = path or "<nil>"
    problems = [f'{where}: Invalid value: "{key}": {msg}' for msg in label_key_errors(key)]
    values_path = f"{path}.values" if path else "values"
    if operator in (IN, NOT_IN) and not values:
        problems.append(f"{values_path}: Invalid value: []: for 'in', 'notin' operators, values set can't be empty")
    elif operator in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS) and len(values) != 1:
        problems.append(
            f"{values_path}: Invalid value: {values!r}: exact-match compatibility requires one single value"
        )
    elif operator in (EXISTS, DOES_NOT_EXIST) and values:
        problems.append(
            f"{values_path}: Invalid value: {values!r}: values set must be empty for exists and does not exist"
        )
    elif operator in (GREATER_THAN, LESS_THAN):
        if len(values) != 1:
            problems.append(
                f"{values_path}: Invalid value: {values!r}: for 'Gt', 'Lt' operators, exactly one value is required"
            )
        for i, v in enumerate(values):
            if not _is_int(v):
                problems.append(
                    f"{values_path}[{i}]: Invalid value: \"{v}\": for 'Gt', 'Lt' operators, the value "
                    "must be an integer"
                )
    for i, v in enumerate(values):
        problems.extend(f'{values_path}[{i}][{key}]: Invalid value: "{v}": {msg}' for msg in label_value_errors(v))
    if problems:
        raise ValueError(problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]")
    return Requirement(key, operator, tuple(sorted(set(values))))


def _is_int(text: str) -> bool:
    try:
        int(text, 10)
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------------------ string syntax

_IDENTIFIER, _END, _ERROR = "identifier", "end", "error"
_SYMBOLS = {")": ")", ",": ",", "!": "!", "==": "==", "=": "=", ">": ">", "<": "<", "!=": "!=", "(": "("}
_KEYWORDS = {"in": IN, "notin": NOT_IN}
_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")


def _tokens(text: str) -> Iterator[tuple[str, str]]:
    """(kind, literal) pairs; kind is a symbol, ``in``/``notin``, identifier, error or end."""
    pos, n = 0, len(text)
    while True:
        while pos < n and text[pos] in _WHITESPACE:
            pos += 1
        if pos == n:
            yield _END, ""
            return
        if text[pos] in _SPECIAL:
            # longest run of special characters that still spells an operator
            best, end = "", pos
            while end < n and text[end] in _SPECIAL:
                end += 1
                if text[pos:end] in _SYMBOLS:
                    best = text[pos:end]
                elif best:
                    break
            if not best:
                yield _ERROR, f"error expected: keyword found '{text[pos:end]}'"
                return
            pos += len(best)
            yield _SYMBOLS[best], best
            continue
        start = pos
        while pos < n and text[pos] not in _SPECIAL and text[pos] not in _WHITESPACE:
            pos += 1
        word = text[start:pos]
        yield _KEYWORDS.get(word, _IDENTIFIER), word


def _expect(token: tuple[str, str], kinds: tuple[str, ...], expected: str) -> str:
    """The kind of ``token`` (just peeked or taken), which must be one of ``kinds``; else Kubernetes'
    parse error, which says what was ``expected`` there."""
    kind, literal = token
    if kind not in kinds:
        raise ValueError(f"found '{literal}', expected: {expected}")
    return kind


class _Parser:
    """Recursive descent over the token list, mirroring Kubernetes' parser so that the same input
    fails with the same message. ``in``/``notin`` are identifiers wherever a value is expected."""

    def __init__(self, text: str) -> None:
        self.items = list(_tokens(text))
        self.pos = 0

    def peek(self, values: bool = True) -> tuple[str, str]:
        kind, literal = self.items[self.pos]
        return (_IDENTIFIER if values and kind in (IN, NOT_IN) else kind), literal

    def take(self, values: bool = True) -> tuple[str, str]:
        item = self.peek(values)
        self.pos += 1
        return item

    def parse(self) -> list[Requirement]:
        """``requirement (',' requirement)*``, or nothing at all."""
        found: list[Requirement] = []
        if _expect(self.peek(), (_END, _IDENTIFIER, "!"), "!, identifier, or 'end of string'") == _END:
            return found
        while True:
            try:
                found.append(self.requirement())
            except ValueError as exc:
                raise ValueError(f"unable to parse requirement: {exc}") from None
            if _expect(self.take(), (_END, ","), "',' or 'end of string'") == _END:
                return found
            _expect(self.peek(), (_IDENTIFIER, "!"), "identifier after ','")

    def requirement(self) -> Requirement:
        operator = ""
        kind, key = self.take()
        if kind == "!":
            operator = DOES_NOT_EXIST
            kind, key = self.take()
        _expect((kind, key), (_IDENTIFIER,), "identifier")
        for msg in label_key_errors(key):
            raise ValueError(f'<nil>: Invalid value: "{key}": {msg}')
        if self.peek()[0] in (_END, ","):
            return _requirement(key, operator or EXISTS, [], None)
        kind, literal = self.take(values=False)
        operators = {
            IN: IN,
            NOT_IN: NOT_IN,
            "=": EQUALS,
            "==": DOUBLE_EQUALS,
            "!=": NOT_EQUALS,
            ">": GREATER_THAN,
            "<": LESS_THAN,
        }
        op = operators[_expect((kind, literal), tuple(operators), ", ".join(_BINARY_OPERATORS))]
        values = self.value_set() if op in (IN, NOT_IN) else self.exact_value()
        return _requirement(key, op, values, None)

    def value_set(self) -> list[str]:
        kind, literal = self.take()
        if kind != "(":
            raise ValueError(f"found '{literal}' expected: '('")
        kind, literal = self.peek()
        if kind == ")":
            self.take()
            return [""]
        _expect((kind, literal), (_IDENTIFIER, ","), "',', ')' or identifier")
        values = self.identifiers()
        if self.take()[0] != ")":
            raise ValueError(f"found '{literal}', expected: ')'")
        return values

    def identifiers(self) -> list[str]:
        """A possibly empty, comma-separated list where empty slots are empty-string values."""
        values: list[str] = []
        while True:
            kind, literal = self.take()
            if kind == _IDENTIFIER:
                values.append(literal)
                if _expect(self.peek(), (")", ","), "',' or ')'") == ")":
                    return values
            elif kind == ",":
                if not values:
                    values.append("")
                next_kind = self.peek()[0]
                if next_kind == ")":
                    values.append("")
                    return values
                if next_kind == ",":
                    self.take()
                    values.append("")
            else:
                raise ValueError(f"found '{literal}', expected: ',', or identifier")

    def exact_value(self) -> list[str]:
        if self.peek()[0] in (_END, ","):
            return [""]
        token = self.take()
        _expect(token, (_IDENTIFIER,), "identifier")
        return [token[1]]


def parse_label_selector(text: str) -> LabelSelector:
    """Parse ``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``, ``a notin (x)``, ``a``, ``!a``, ``a>1``,
    ``a<1``, comma-separated (the empty string selects everything). ValueError carries the message
    kube-apiserver answers with."""
    found = _Parser(text).parse()
    return LabelSelector(tuple(sorted(found, key=lambda r: r.key)))


# ------------------------------------------------------------------------------ object form


def label_selector_from_spec(spec: Mapping[str, Any] | None) -> LabelSelector:
    """A ``metav1.LabelSelector`` object as a selector.

    ``None`` matches nothing and ``{}`` matches everything, as ``LabelSelectorAsSelector`` does.
    ``matchLabels`` entries become ``key=value`` terms, ``matchExpressions`` their operator's term.
    """
    if spec is None:
        return LabelSelector(nothing=True)
    found: list[Requirement] = []
    for key, value in (spec.get("matchLabels") or {}).items():
        found.append(_requirement(key, EQUALS, [value], None))
    for expr in spec.get("matchExpressions") or []:
        operator = expr.get("operator")
        if operator not in _SPEC_OPERATORS:
            raise ValueError(f'"{operator}" is not a valid label selector operator')
        found.append(_requirement(expr.get("key", ""), _SPEC_OPERATORS[operator], list(expr.get("values") or []), None))
    return LabelSelector(tuple(sorted(found, key=lambda r: r.key)))


def stored_selector(spec: Any) -> LabelSelector:
    """A selector read from a stored (so validated) object for matching: one that still does not
    parse selects nothing rather than everything, and so does a value that is no object (an absent
    selector, as :func:`label_selector_from_spec` reads ``None``)."""
    try:
        return label_selector_from_spec(spec if isinstance(spec, dict) else None)
    except (ValueError, AttributeError):
        return LabelSelector(nothing=True)


def selector_to_string(spec: Mapping[str, Any] | None) -> str:
    """A ``{matchLabels, matchExpressions}`` selector as kubectl prints it (``FormatLabelSelector``):
    ``app=web,tier in (a,b)``; ``<none>`` when it selects nothing or everything, ``<error>`` when
    it is invalid."""
    try:
        text = str(label_selector_from_spec(spec))
    except ValueError:
        return "<error>"
    return text or "<none>"


def labels_to_string(labels: Mapping[str, str] | None) -> str:
    """A plain label map (a Service's or ReplicationController's selector) as kubectl prints it."""
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels)) if labels else "<none>"


# ------------------------------------------------------------------------------ field selectors


@dataclass(frozen=True)
class FieldSelector:
    """A conjunction of ``field=value`` / ``field!=value`` terms over a kind's selectable fields.
    ``requirements`` holds (field, "=" or "!=", value); ``==`` is folded into ``=``."""

    requirements: tuple[tuple[str, str, str], ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    @property
    def fields(self) -> list[str]:
        return [f for f, _op, _v in self.requirements]

    def matches(self, fields: Mapping[str, str]) -> bool:
        """A field the kind lacks counts as the empty string, as in Kubernetes' ``fields.Set``."""
        return all((fields.get(name, "") == want) == (op == "=") for name, op, want in self.requirements)

    def __str__(self) -> str:
        return ",".join(f"{f}{op}{escape_field_value(v)}" for f, op, v in self.requirements)

    def text_hints(self) -> tuple[str, ...]:
        """JSON string literals an object's stored text must contain to match: one per ``field=value``
        term on a field that is always stored as that very string (:data:`LITERAL_FIELDS`), for
        values JSON writes without escapes. A cheap test before decoding, never a verdict: a text
        that contains them may still not match (the value may sit in another field)."""
        return tuple(
            f'"{value}"'
            for name, op, value in self.requirements
            if op == "="
            and name in LITERAL_FIELDS
            and value
            and value.isprintable()
            and '"' not in value
            and "\\" not in value
        )


#: selectable fields whose value is the object's own JSON string at that path, or absent (and then
#: "" to a selector): ``status.phase=Running`` can only match a text containing ``"Running"``. Fields
#: a kind derives (``spec.unschedulable`` is "false" when the field is absent) must not be here.
LITERAL_FIELDS = frozenset({"metadata.name", "metadata.namespace", "spec.nodeName", "status.phase"})


def parse_field_selector(text: str) -> FieldSelector:
    """Parse ``f=v``, ``f==v``, ``f!=v`` terms joined by ``,``. In values ``\\``, ``,`` and ``=``
    are written ``\\\\``, ``\\,`` and ``\\=``; an unescaped ``,``/``=`` or a stray backslash is an
    error, with Kubernetes' message."""
    terms: list[tuple[str, str, str]] = []
    for part in sorted(_split_unescaped_commas(text)):
        if not part:
            continue
        split = _split_term(part)
        if split is None:
            raise ValueError(f"invalid selector: '{text}'; can't understand '{part}'")
        name, op, raw = split
        terms.append((name, "!=" if op == "!=" else "=", _unescape(raw)))
    return FieldSelector(tuple(terms))


def escape_field_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _split_unescaped_commas(text: str) -> list[str]:
    if not text:
        return []
    parts: list[str] = []
    start, escaped = 0, False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _split_term(term: str) -> tuple[str, str, str] | None:
    """Split at the leftmost operator; at one position ``!=`` wins over ``==`` over ``=``."""
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op) :]
    return None


def _unescape(raw: str) -> str:
    out: list[str] = []
    escaped = False
    for ch in raw:
        if escaped:
            if ch not in "\\,=":
                raise ValueError(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ",=":
            raise ValueError(f"invalid field selector: unescaped character in value: {ord(ch)}")
        else:
            out.append(ch)
    if escaped:
        raise ValueError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)
