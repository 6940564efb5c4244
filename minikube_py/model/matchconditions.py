"""CEL match conditions (``matchConditions``), which narrow the writes a ValidatingAdmissionPolicy
checks and a webhook is called for: each a named boolean expression over the write (``object``,
``oldObject``, ``request``); all must be true. Written for policies and webhooks alike."""

from __future__ import annotations

from typing import Any

from minikube_py.model import cel
from minikube_py.model.errors import FieldError, duplicate, invalid_value, required
from minikube_py.model.lenient import as_dict, as_list, dict_items

Errors = list[FieldError]
_VARIABLES = cel.ADMISSION_VARIABLES


def expression_errors(expression: Any, path: str, *, boolean: bool) -> Errors:
    """An admission expression that does not compile (or, ``boolean``, yields no bool)."""
    if not isinstance(expression, str) or not expression.strip():
        return [required(path)]
    try:
        kind = cel.result_type(expression, _VARIABLES)
    except cel.CelError as exc:
        return [invalid_value(path, expression, f"compilation failed: {exc}")]
    if boolean and kind not in ("bool", "dyn"):
        return [invalid_value(path, expression, "must evaluate to bool")]
    return []


def match_condition_errors(conditions: Any, path: str) -> Errors:
    """``matchConditions`` of a policy or a webhook: named, unique, at most 64, boolean CEL."""
    errs: Errors = []
    items = as_list(conditions)
    if len(items) > 64:
        errs.append(FieldError(path, "FieldValueTooMany", f"Too many: {len(items)}: must have at most 64 items"))
    names: set[str] = set()
    for i, condition in enumerate(items):
        condition = as_dict(condition)
        name = condition.get("name")
        if not name:
            errs.append(required(f"{path}[{i}].name"))
        elif name in names:
            errs.append(duplicate(f"{path}[{i}].name", name))
        names.add(str(name))
        errs += expression_errors(condition.get("expression"), f"{path}[{i}].expression", boolean=True)
    return errs


def admission_size(values: dict[str, Any]) -> int:
    """What admission expressions may iterate over in ``values`` (see :func:`~minikube_py.model.cel.estimated_cost`)."""
    return 1 + sum(cel.collection_size(values.get(name)) for name in _VARIABLES if name != "request")


def conditions_hold(conditions: Any, values: dict[str, Any] | cel.Bound, size: int) -> bool:
    """Whether every match condition is true (the first false one decides) over ``values`` of
    :func:`admission_size` ``size``; an error raises :class:`~minikube_py.model.cel.CelError` naming
    the condition."""
    errors: list[str] = []
    bound = values if isinstance(values, cel.Bound) else cel.bind(values, _VARIABLES)
    for condition in dict_items(conditions):
        try:
            if cel.evaluate(str(condition.get("expression", "")), bound, _VARIABLES, size=size) is not True:
                return False
        except cel.CelError as exc:
            errors.append(f"failed to evaluate match condition {condition.get('name')!r}: {exc}")
    if errors:
        raise cel.CelError("; ".join(errors))
    return True
