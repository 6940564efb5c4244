"""CustomResourceDefinition validation rules (``x-kubernetes-validations``): checking them when a CRD
is written, and evaluating them on every write of its objects, as kube-apiserver does.

A rule is a CEL expression (:mod:`minikube_py.model.cel`) bound to the value at the schema node that
declares it: ``self`` is that value, and a rule that names ``oldSelf`` (a transition rule) also sees
the value the object had there before the update; it runs only on updates that have one. Values
reach CEL shaped by their schema: properties under their escaped names (``x-prop`` as
``x__dash__prop``), nulls absent, ``number`` fields as doubles, and at the root only ``apiVersion``,
``kind`` and ``metadata.name``/``generateName``.

On an update, a value equal to the one it replaces is not validated again (kube-apiserver's
validation ratcheting): an object stored before a rule was added can still be changed elsewhere.
Messages are kube-apiserver's: ``spec: Invalid value: "object": <message>``, ``failed rule: <rule>``
without one, ``<nil>`` as the path of a rule at the root.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from minikube_py.model import cel, errors
from minikube_py.model.errors import FieldError

Schema = dict[str, Any]

RULES = "x-kubernetes-validations"
REASONS = ("FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid", "FieldValueRequired")
#: the path kube-apiserver prints for a rule at the root of the schema (Go's nil field path)
ROOT = "<nil>"
_ACCESSIBLE = re.compile(r"^[a-zA-Z_.\-/][a-zA-Z0-9_.\-/]*$")
_RESERVED = frozenset(
    [
        "true",
        "false",
        "null",
        "in",
        "as",
        "break",
        "const",
        "continue",
        "else",
        "for",
        "function",
        "if",
        "import",
        "let",
        "loop",
        "package",
        "namespace",
        "return",
    ]
)
#: a rule's ``fieldPath``: ``.a.b``, ``['a.b']`` and their mixes
_FIELD_PATH = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\['((?:[^'\\]|\\.)*)'\]")


@functools.lru_cache(maxsize=4096)
def escape(name: str) -> str | None:
    """A property's name as CEL reads it (None when CEL cannot reach the property)."""
    if not _ACCESSIBLE.match(name):
        return None
    if name in _RESERVED:
        return f"__{name}__"
    return (
        name.replace("__", "__underscores__").replace(".", "__dot__").replace("-", "__dash__").replace("/", "__slash__")
    )


def _field_path(text: str) -> list[str] | None:
    """The property names of a rule's relative ``fieldPath`` (None when it does not parse)."""
    names: list[str] = []
    pos = 0
    while pos < len(text):
        found = _FIELD_PATH.match(text, pos)
        if found is None:
            return None
        names.append(found.group(1) if found.group(1) is not None else found.group(2).replace("\\'", "'"))
        pos = found.end()
    return names or None


def _child(path: str, name: str) -> str:
    return name if path == ROOT else f"{path}.{name}"


# ------------------------------------------------------------------------------ checking a CRD


def rule_problems(schema: Any, path: str) -> list[FieldError]:
    """The problems with the rules of ``schema`` and its nodes (``path`` names the schema in the CRD)."""
    problems: list[FieldError] = []
    for node, node_path in _nodes(schema, path):
        for index, rule in enumerate(node.get(RULES) or ()):
            problems += _rule_problems(rule, f"{node_path}.{RULES}[{index}]")
    return problems


def _nodes(schema: Any, path: str) -> Iterator[tuple[Schema, str]]:
    if not isinstance(schema, dict):
        return
    yield schema, path
    for name, sub in (schema.get("properties") or {}).items():
        yield from _nodes(sub, f"{path}.properties[{name}]")
    for key in ("items", "additionalProperties"):
        yield from _nodes(schema.get(key), f"{path}.{key}")


def _go_rule(rule: dict[str, Any]) -> str:
    """A rule as kube-apiserver prints it in its messages (Go's ``%#v`` of the ValidationRule)."""

    def quoted(key: str) -> str:
        return errors.go_value(str(rule.get(key) or ""))

    reason = rule.get("reason")
    optional = rule.get("optionalOldSelf")
    return (
        f"apiextensions.ValidationRule{{Rule:{quoted('rule')}, Message:{quoted('message')}, "
        f"MessageExpression:{quoted('messageExpression')}, "
        f"Reason:(*apiextensions.FieldValueErrorReason)({'nil' if reason is None else errors.go_value(reason)}), "
        f"FieldPath:{quoted('fieldPath')}, OptionalOldSelf:(*bool)({'nil' if optional is None else str(optional).lower()})}}"
    )


def _rule_problems(rule: Any, path: str) -> list[FieldError]:
    if not isinstance(rule, dict):
        return [errors.invalid_value(path, rule, "must be an object")]
    text = rule.get("rule")
    if not isinstance(text, str) or not text.strip():
        return [errors.required(f"{path}.rule")]
    problems = []
    try:
        kind = cel.result_type(_expression(rule))
        if kind not in ("bool", "dyn"):
            problems.append(
                _invalid_rule(f"{path}.rule", rule, "compilation failed: cel expression must evaluate to a bool")
            )
    except cel.CelError as exc:
        problems.append(_invalid_rule(f"{path}.rule", rule, f"compilation failed: {exc}"))
    message = rule.get("message")
    if message is not None and (not isinstance(message, str) or "\n" in message or "\r" in message):
        problems.append(errors.invalid_value(f"{path}.message", message, "message must not contain line breaks"))
    expression = rule.get("messageExpression")
    if expression is not None:
        try:
            if not isinstance(expression, str) or not expression.strip():
                raise cel.CelError("must be non-empty")
            cel.compiled(expression)
        except cel.CelError as exc:
            problems.append(
                _invalid_rule(f"{path}.messageExpression", rule, f"messageExpression compilation failed: {exc}")
            )
    reason = rule.get("reason")
    if reason is not None and reason not in REASONS:
        problems.append(errors.not_supported(f"{path}.reason", reason, list(REASONS)))
    field_path = rule.get("fieldPath")
    if field_path not in (None, "") and (not isinstance(field_path, str) or _field_path(field_path) is None):
        problems.append(errors.invalid_value(f"{path}.fieldPath", field_path, "fieldPath must be a valid path"))
    return problems


def _invalid_rule(path: str, rule: dict[str, Any], detail: str) -> FieldError:
    return FieldError(path, "FieldValueInvalid", f"Invalid value: {_go_rule(rule)}: {detail}")


# ------------------------------------------------------------------------------ evaluating


@dataclass
class _Run:
    """One write's evaluation: its problems and what is left of its cost budget."""

    problems: list[FieldError] = field(default_factory=list)
    budget: int = cel.REQUEST_BUDGET
    exhausted: bool = False


def has_rules(schema: Any) -> bool:
    return any(node.get(RULES) for node, _ in _nodes(schema, ""))


def validate(schema: Schema, obj: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
    """The rules' complaints about a (pruned, defaulted, schema-valid) object; ``old`` on updates."""
    if old is not None and obj == old:
        return []  # nothing changed: everything ratcheted
    run = _Run()
    # the root is compared whole above: what its rules see of it leaves out most of its metadata
    _walk(schema, _root(obj), _root(old) if old is not None else None, old is not None, ROOT, run, ratchet=False)
    return run.problems


def _root(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as rules at the root see it: of its metadata only the name and generateName."""
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    return {**obj, "metadata": {k: metadata[k] for k in ("name", "generateName") if k in metadata}}


def _walk(schema: Schema, value: Any, old: Any, has_old: bool, path: str, run: _Run, *, ratchet: bool = True) -> None:
    if value is None or run.exhausted:
        return
    if ratchet and has_old and value == old:
        return  # unchanged: ratcheted
    if schema.get(RULES):
        _evaluate(schema, value, old, has_old, path, run)
    properties = schema.get("properties") or {}
    if isinstance(value, dict):
        old_map = old if has_old and isinstance(old, dict) else {}
        for name, sub in value.items():
            child = properties.get(name)
            if child is None and isinstance(schema.get("additionalProperties"), dict):
                child = schema["additionalProperties"]
                child_path = f"{path}[{name}]" if path != ROOT else name
            else:
                child_path = _child(path, name)
            if child is not None:
                _walk(child, sub, old_map.get(name), name in old_map, child_path, run)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        olds = _correlated_items(schema, value, old if has_old and isinstance(old, list) else None)
        for index, item in enumerate(value):
            before = olds.get(index, _ABSENT)
            _walk(
                schema["items"],
                item,
                None if before is _ABSENT else before,
                before is not _ABSENT,
                f"{path}[{index}]",
                run,
            )


_ABSENT = object()


def _correlated_items(schema: Schema, items: list[Any], olds: list[Any] | None) -> dict[int, Any]:
    """The old item each new item of a ``map`` list replaces (by its keys); other lists have none."""
    keys = schema.get("x-kubernetes-list-map-keys")
    if olds is None or schema.get("x-kubernetes-list-type") != "map" or not keys:
        return {}

    def key(item: Any) -> tuple[Any, ...] | None:
        return tuple(item.get(k) for k in keys) if isinstance(item, dict) else None

    by_key = {key(o): o for o in olds if key(o) is not None}
    return {i: by_key[key(item)] for i, item in enumerate(items) if key(item) in by_key}


def cel_value(schema: Schema, value: Any) -> Any:
    """``value`` as CEL sees it at a node of ``schema``."""
    if isinstance(value, dict):
        properties = schema.get("properties")
        if properties:
            shaped = {}
            for name, sub in value.items():
                escaped = escape(name)
                if sub is not None and escaped is not None and name in properties:
                    shaped[escaped] = cel_value(properties[name], sub)
            return shaped
        values = schema.get("additionalProperties")
        values = values if isinstance(values, dict) else {}
        return {k: cel_value(values, v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        return [cel_value(items, v) for v in value if v is not None]
    if schema.get("type") == "number" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _shaped(schema: Schema, value: Any, path: str) -> Any:
    """``value`` for CEL; at the root with the fields every object has, whatever the schema lists."""
    shaped = cel_value(schema, value)
    if path == ROOT and isinstance(value, dict) and isinstance(shaped, dict):
        shaped.update({k: value[k] for k in ("apiVersion", "kind", "metadata") if k in value})
    return shaped


def _evaluate(schema: Schema, value: Any, old: Any, has_old: bool, path: str, run: _Run) -> None:
    kind = str(schema.get("type") or "")
    shaped = _shaped(schema, value, path)
    shaped_old = _shaped(schema, old, path) if has_old else None
    size = cel.collection_size(shaped)
    old_size = cel.collection_size(shaped_old)
    bound: dict[str, Any] = {}  # the variables of each rule shape, converted to CEL values once

    def variables(names: tuple[str, ...]) -> Any:
        if names not in bound:
            values = {"self": shaped, "oldSelf": shaped_old, cel.OLD_VALUE: shaped_old, cel.HAS_OLD: has_old}
            bound[names] = cel.bind({name: values[name] for name in names})
        return bound[names]

    for rule in schema[RULES]:
        text = _expression(rule)
        transition = cel.references(str(rule.get("rule") or ""), "oldSelf")
        if transition and rule.get("optionalOldSelf") is True:
            names: tuple[str, ...] = ("self", cel.OLD_VALUE, cel.HAS_OLD)
        elif transition and not has_old:
            continue  # a transition rule runs only on an update of an existing value
        else:
            names = ("self", "oldSelf") if transition else ("self",)
        cost = cel.estimated_cost(text, size + (old_size if transition else 0))
        if cost > cel.PER_CALL_LIMIT:
            run.problems.append(
                errors.invalid_value(
                    path, kind, f"{cel.COST_EXCEEDED}: call cost exceeds limit for rule: {_shown(rule)}"
                )
            )
            continue
        run.budget -= cost
        if run.budget < 0:
            run.problems.append(
                errors.invalid_value(
                    path,
                    kind,
                    "validation failed due to running out of cost budget, no further validation rules will be run",
                )
            )
            run.exhausted = True
            return
        try:
            passed = cel.evaluate(text, variables(names))
        except cel.CelError as exc:
            run.problems.append(errors.invalid_value(path, kind, f"{exc} evaluating rule: {_shown(rule)}"))
            continue
        if passed is not True:
            run.problems.append(_failure(rule, variables(names), _at(path, rule), kind))


def _expression(rule: dict[str, Any]) -> str:
    """What runs for ``rule``: its expression, with ``oldSelf`` optional when the rule asks for it."""
    text = str(rule.get("rule") or "")
    return cel.with_optional_old_self(text) if rule.get("optionalOldSelf") is True else text


def _shown(rule: dict[str, Any]) -> str:
    return str(rule.get("message") or rule.get("rule") or "").strip()


def _at(path: str, rule: dict[str, Any]) -> str:
    """Where a failed rule points: its node, then its ``fieldPath``."""
    names = _field_path(str(rule.get("fieldPath") or "")) or []
    for name in names:
        path = _child(path, name)
    return path


def _message(rule: dict[str, Any], variables: Any) -> str:
    dynamic = cel.message(rule.get("messageExpression"), variables)
    message = dynamic or str(rule.get("message") or "").strip()
    return message or f"failed rule: {str(rule.get('rule') or '').strip()}"


def _failure(rule: dict[str, Any], variables: Any, path: str, kind: str) -> FieldError:
    message = _message(rule, variables)
    reason = rule.get("reason")
    if reason == "FieldValueForbidden":
        return errors.forbidden(path, message)
    if reason == "FieldValueRequired":
        return FieldError(path, "FieldValueRequired", f"Required value: {message}")
    if reason == "FieldValueDuplicate":
        return errors.duplicate(path, kind)
    return errors.invalid_value(path, kind, message)
