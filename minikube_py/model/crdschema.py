"""Structural OpenAPI v3 schemas of CustomResourceDefinitions: pruning, defaulting and validation.

kube-apiserver handles a custom object in this order, and so does :func:`admit`: unknown fields are
pruned (unless ``x-kubernetes-preserve-unknown-fields``), nulls of fields that are not ``nullable``
are dropped, defaults are applied, and only then is the object validated against the schema. Stored
objects are defaulted again when read, so a default added to a CRD later shows on old objects.

Messages are kube-apiserver's (``spec.replicas: Invalid value: "string": spec.replicas in body must
be of type integer: "string"``), because users and tests match on them. The CEL rules
(``x-kubernetes-validations``) are :mod:`minikube_py.model.crdrules`' business.
"""

from __future__ import annotations

import copy
import re
from functools import lru_cache
from typing import Any

from minikube_py.model import errors
from minikube_py.model.errors import FieldError

Schema = dict[str, Any]

TYPES = ("object", "array", "string", "integer", "number", "boolean")
PRESERVE = "x-kubernetes-preserve-unknown-fields"
INT_OR_STRING = "x-kubernetes-int-or-string"
EMBEDDED = "x-kubernetes-embedded-resource"
#: the top-level fields every object has whatever its schema says (metadata is ObjectMeta's)
_ROOT_FIELDS = ("apiVersion", "kind", "metadata")


def json_type(value: Any) -> str:
    """The JSON type of a decoded value, as kube-apiserver names it in its messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


# ------------------------------------------------------------------------------------- pruning


def prune(schema: Schema, obj: dict[str, Any]) -> list[str]:
    """Drop the fields of ``obj`` its schema does not declare (and non-nullable nulls); returns the
    dropped paths as kube-apiserver names them (``spec.foo``, ``spec.items[0].bar``)."""
    found: list[str] = []
    _prune_object(schema, obj, "", found, root=True)
    return found


def _prune_object(schema: Schema, obj: dict[str, Any], prefix: str, found: list[str], *, root: bool = False) -> None:
    properties: dict[str, Schema] = schema.get("properties") or {}
    additional = schema.get("additionalProperties")
    preserve = bool(schema.get(PRESERVE)) or additional is True
    for name in list(obj):
        path = f"{prefix}.{name}" if prefix else name
        if root and name in _ROOT_FIELDS:
            continue
        sub = properties.get(name)
        if sub is None and isinstance(additional, dict):
            sub = additional
        if sub is None:
            if not preserve:
                del obj[name]
                found.append(path)
            continue
        value = obj[name]
        if value is None and not sub.get("nullable"):
            del obj[name]
            continue
        _prune_value(sub, value, path, found)


def _prune_value(schema: Schema, value: Any, path: str, found: list[str]) -> None:
    if isinstance(value, dict):
        if schema.get("type") == "object" or schema.get(PRESERVE) or "properties" in schema:
            _prune_object(schema, value, path, found, root=bool(schema.get(EMBEDDED)))
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                _prune_value(items, item, f"{path}[{i}]", found)


# ------------------------------------------------------------------------------------- defaulting


def has_defaults(schema: Schema) -> bool:
    """Whether any node of the schema has a ``default`` (reads of objects need defaulting at all)."""
    if "default" in schema:
        return True
    subs = [*(schema.get("properties") or {}).values(), schema.get("items"), schema.get("additionalProperties")]
    return any(isinstance(sub, dict) and has_defaults(sub) for sub in subs)


def apply_defaults(schema: Schema, value: Any) -> None:
    """Fill in the ``default`` of every absent property, at every depth, in place."""
    if isinstance(value, dict):
        properties: dict[str, Schema] = schema.get("properties") or {}
        for name, sub in properties.items():
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
        for name, item in value.items():
            sub = properties.get(name)
            if sub is None and isinstance(schema.get("additionalProperties"), dict):
                sub = schema["additionalProperties"]
            if sub is not None:
                apply_defaults(sub, item)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            apply_defaults(schema["items"], item)


# ------------------------------------------------------------------------------------- validation


def validate(schema: Schema, obj: dict[str, Any]) -> list[FieldError]:
    """The schema's complaints about a (pruned, defaulted) object, metadata aside."""
    problems: list[FieldError] = []
    properties: dict[str, Schema] = schema.get("properties") or {}
    for name in schema.get("required") or ():
        if name not in _ROOT_FIELDS and name not in obj:
            problems.append(errors.required(name))
    for name, value in obj.items():
        if name in _ROOT_FIELDS:
            continue
        sub = properties.get(name)
        if sub is None and isinstance(schema.get("additionalProperties"), dict):
            sub = schema["additionalProperties"]
        if sub is not None:
            _validate(sub, value, name, problems)
    return problems


def _type_error(path: str, value: Any, wanted: str) -> FieldError:
    kind = json_type(value)
    return errors.invalid_value(path, kind, f'{path} in body must be of type {wanted}: "{kind}"')


def _validate(schema: Schema, value: Any, path: str, problems: list[FieldError]) -> None:
    if value is None:
        if not schema.get("nullable"):
            wanted = schema.get("type")
            if wanted:
                problems.append(_type_error(path, value, wanted))
        return
    if schema.get(INT_OR_STRING):
        if not isinstance(value, (int, str)) or isinstance(value, bool):
            problems.append(_type_error(path, value, "integer-or-string"))
            return
    elif not _type_ok(schema.get("type"), value):
        problems.append(_type_error(path, value, schema["type"]))
        return
    before = len(problems)
    _check_enum(schema, value, path, problems)
    if isinstance(value, str):
        _check_string(schema, value, path, problems)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        _check_number(schema, value, path, problems)
    elif isinstance(value, list):
        _check_array(schema, value, path, problems)
    elif isinstance(value, dict):
        _check_object(schema, value, path, problems)
    for sub in schema.get("allOf") or ():
        _validate(sub, value, path, problems)
    if len(problems) == before:
        _check_combinators(schema, value, path, problems)


def _type_ok(wanted: str | None, value: Any) -> bool:
    if not wanted:
        return True
    actual = json_type(value)
    if wanted == "number":
        return actual in ("integer", "number")
    if wanted == "integer" and actual == "number":
        return float(value).is_integer()
    return actual == wanted


def _check_enum(schema: Schema, value: Any, path: str, problems: list[FieldError]) -> None:
    allowed = schema.get("enum")
    if allowed is not None and value not in allowed:
        problems.append(errors.not_supported(path, value, [str(a) for a in allowed]))


def _check_string(schema: Schema, value: str, path: str, problems: list[FieldError]) -> None:
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        problems.append(
            FieldError(path, "FieldValueTooLong", f"Too long: may not be more than {schema['maxLength']} bytes")
        )
    if "minLength" in schema and len(value) < schema["minLength"]:
        problems.append(
            errors.invalid_value(path, value, f"{path} in body should be at least {schema['minLength']} chars long")
        )
    pattern = schema.get("pattern")
    if pattern is not None and _compiled(pattern).search(value) is None:
        problems.append(errors.invalid_value(path, value, f"{path} in body should match '{pattern}'"))


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _check_number(schema: Schema, value: float, path: str, problems: list[FieldError]) -> None:
    if "minimum" in schema:
        low = schema["minimum"]
        if schema.get("exclusiveMinimum") and value <= low:
            problems.append(errors.invalid_value(path, value, f"{path} in body should be greater than {low}"))
        elif value < low:
            problems.append(
                errors.invalid_value(path, value, f"{path} in body should be greater than or equal to {low}")
            )
    if "maximum" in schema:
        high = schema["maximum"]
        if schema.get("exclusiveMaximum") and value >= high:
            problems.append(errors.invalid_value(path, value, f"{path} in body should be less than {high}"))
        elif value > high:
            problems.append(errors.invalid_value(path, value, f"{path} in body should be less than or equal to {high}"))
    multiple = schema.get("multipleOf")
    if multiple and (value / multiple) % 1:
        problems.append(errors.invalid_value(path, value, f"{path} in body should be a multiple of {multiple}"))


def _check_size(
    schema: Schema, size: int, path: str, problems: list[FieldError], *, most: str, least: str, noun: str
) -> None:
    """The bounds on a list's items or an object's properties (``most``/``least`` name the schema's
    keywords), in the API server's words; its "too many" says items for both."""
    if most in schema and size > schema[most]:
        problems.append(
            FieldError(path, "FieldValueTooMany", f"Too many: {size}: must have at most {schema[most]} items")
        )
    if least in schema and size < schema[least]:
        problems.append(errors.invalid_value(path, size, f"{path} in body should have at least {schema[least]} {noun}"))


def _check_array(schema: Schema, value: list[Any], path: str, problems: list[FieldError]) -> None:
    _check_size(schema, len(value), path, problems, most="maxItems", least="minItems", noun="items")
    if schema.get("uniqueItems") or schema.get("x-kubernetes-list-type") == "set":
        seen: list[Any] = []
        for i, item in enumerate(value):
            if item in seen:
                problems.append(errors.duplicate(f"{path}[{i}]", item))
            seen.append(item)
    items = schema.get("items")
    if isinstance(items, dict):
        for i, item in enumerate(value):
            _validate(items, item, f"{path}[{i}]", problems)


def _check_object(schema: Schema, value: dict[str, Any], path: str, problems: list[FieldError]) -> None:
    properties: dict[str, Schema] = schema.get("properties") or {}
    for name in schema.get("required") or ():
        if name not in value:
            problems.append(errors.required(f"{path}.{name}"))
    _check_size(schema, len(value), path, problems, most="maxProperties", least="minProperties", noun="properties")
    additional = schema.get("additionalProperties")
    for name, item in value.items():
        sub = properties.get(name)
        if sub is None and isinstance(additional, dict):
            sub = additional
        if sub is not None:
            _validate(sub, item, f"{path}.{name}", problems)


def _check_combinators(schema: Schema, value: Any, path: str, problems: list[FieldError]) -> None:
    """``anyOf``/``oneOf``/``not``: value validations only (structural schemas allow no types there)."""

    def passes(sub: Schema) -> bool:
        found: list[FieldError] = []
        _validate(sub, value, path, found)
        return not found

    any_of = schema.get("anyOf")
    if any_of and not any(passes(sub) for sub in any_of):
        problems.append(
            errors.invalid_value(path, _shown(value), f"{path} in body must match at least one schema in anyOf")
        )
    one_of = schema.get("oneOf")
    if one_of and sum(passes(sub) for sub in one_of) != 1:
        problems.append(
            errors.invalid_value(path, _shown(value), f"{path} in body must match exactly one schema in oneOf")
        )
    negated = schema.get("not")
    if isinstance(negated, dict) and passes(negated):
        problems.append(errors.invalid_value(path, _shown(value), f"{path} in body should not match the schema in not"))


def _shown(value: Any) -> Any:
    return value if isinstance(value, (str, int, float)) else json_type(value)


# ------------------------------------------------------------------------------------- structure


def structural_problems(schema: Any, path: str) -> list[FieldError]:
    """Why a CRD's ``openAPIV3Schema`` is not structural (kube-apiserver refuses such CRDs): every
    node has a known ``type`` unless it preserves unknown fields or is int-or-string, and the root
    is an object."""
    problems: list[FieldError] = []
    if not isinstance(schema, dict):
        return [errors.required(path)]
    if schema.get("type") != "object":
        problems.append(errors.invalid_value(f"{path}.type", schema.get("type", ""), "must be object at the root"))
    _structure(schema, path, problems)
    return problems


def _structure(schema: Schema, path: str, problems: list[FieldError]) -> None:
    wanted = schema.get("type")
    if wanted is None and not schema.get(PRESERVE) and not schema.get(INT_OR_STRING):
        problems.append(errors.required(f"{path}.type"))
    elif wanted is not None and wanted not in TYPES:
        problems.append(errors.not_supported(f"{path}.type", wanted, list(TYPES)))
    for name, sub in (schema.get("properties") or {}).items():
        if isinstance(sub, dict):
            _structure(sub, f"{path}.properties[{name}]", problems)
    for key in ("items", "additionalProperties"):
        sub = schema.get(key)
        if isinstance(sub, dict):
            _structure(sub, f"{path}.{key}", problems)
    if wanted == "array" and not isinstance(schema.get("items"), dict):
        problems.append(errors.required(f"{path}.items"))
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        try:
            re.compile(pattern)
        except re.error as exc:
            problems.append(
                errors.invalid_value(f"{path}.pattern", pattern, f"must be a valid regular expression: {exc}")
            )
