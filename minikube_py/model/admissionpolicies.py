"""ValidatingAdmissionPolicies and their bindings (``admissionregistration.k8s.io/v1``): CEL checks of
writes that run inside the API server, without a webhook; and the CEL match conditions that
policies and webhooks share.

A policy says what to check (``validations``, over ``object``, ``oldObject``, ``request``,
``params``, ``namespaceObject`` and its own ``variables``) and of which writes
(``matchConstraints``, ``matchConditions``); a binding puts it to work, for some of those writes
(``matchResources``), with parameters (``paramRef``: objects of the policy's ``paramKind``), and
says what a failed check does (``validationActions``: Deny, Warn, Audit). Everything here is pure:
:mod:`minikube_py.api.webhooks` follows the objects, fetches parameters and namespaces, and carries
the verdicts out. The writes of these kinds and of webhook configurations are never checked, so a
broken policy can always be fixed.

Messages are kube-apiserver's: ``failed expression: <expression>`` when a validation has no message,
``ValidatingAdmissionPolicy 'p' with binding 'b' denied request: ...`` around it.

Not supported: the ``authorizer`` variable (an expression naming it does not compile), type
checking against the matched kinds' schemas (expressions are checked with dynamic types, so a
misspelt field shows when a write meets it), ``matchPolicy: Equivalent`` across versions (a rule
matches the version it names).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from minikube_py.model import cel
from minikube_py.model.errors import FieldError, duplicate, invalid_value, not_supported, required
from minikube_py.model.lenient import as_dict, as_list, dict_items
from minikube_py.model.matchconditions import expression_errors, match_condition_errors
from minikube_py.model.validation import label_selector_errors
from minikube_py.model.webhooks import Attributes, review, rules_match

Obj = dict[str, Any]
Errors = list[FieldError]

FAILURE_POLICIES = ["Fail", "Ignore"]
ACTIONS = ["Audit", "Deny", "Warn"]
REASONS = ["Forbidden", "Invalid", "RequestEntityTooLarge", "Unauthorized"]
#: the HTTP code of each reason a validation may give its refusal
REASON_CODES = {"Unauthorized": 401, "Forbidden": 403, "Invalid": 422, "RequestEntityTooLarge": 413}
PARAMETER_NOT_FOUND = ["Allow", "Deny"]
#: the audit annotation a failed check with the Audit action leaves
AUDIT_KEY = "validation.policy.admission.k8s.io/validation_failure"
_VARIABLES = cel.ADMISSION_VARIABLES
#: what a variable's name must be: a CEL identifier
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# ------------------------------------------------------------------------------ the objects


def _default_match(match: Obj) -> None:
    match.setdefault("namespaceSelector", {})
    match.setdefault("objectSelector", {})
    match.setdefault("matchPolicy", "Equivalent")
    for key in ("resourceRules", "excludeResourceRules"):
        for rule in dict_items(match.get(key)):
            rule.setdefault("scope", "*")


def default_policy(obj: Obj) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    spec.setdefault("failurePolicy", "Fail")
    if isinstance(spec.get("matchConstraints"), dict):
        _default_match(spec["matchConstraints"])


def default_binding(obj: Obj) -> None:
    spec = obj.get("spec")
    if isinstance(spec, dict) and isinstance(spec.get("matchResources"), dict):
        _default_match(spec["matchResources"])


def _match_errors(match: Obj, path: str, *, rules_required: bool) -> Errors:
    errs: Errors = []
    rules = as_list(match.get("resourceRules"))
    if rules_required and not rules:
        errs.append(required(f"{path}.resourceRules"))
    for key in ("resourceRules", "excludeResourceRules"):
        for i, rule in enumerate(as_list(match.get(key))):
            rule = as_dict(rule)
            for field_name in ("operations", "apiGroups", "apiVersions", "resources"):
                if not as_list(rule.get(field_name)):
                    errs.append(required(f"{path}.{key}[{i}].{field_name}"))
    for selector in ("namespaceSelector", "objectSelector"):
        if match.get(selector) is not None:
            errs += label_selector_errors(match[selector], f"{path}.{selector}")
    return errs


def validate_policy(obj: Obj) -> Errors:
    """``ValidateValidatingAdmissionPolicy``, for what pykube supports."""
    spec = as_dict(obj.get("spec"))
    errs: Errors = []
    validations = as_list(spec.get("validations"))
    audits = as_list(spec.get("auditAnnotations"))
    if not validations and not audits:
        errs.append(
            FieldError(
                "spec.validations",
                "FieldValueRequired",
                "Required value: validations or auditAnnotations must contain at least one item",
            )
        )
    for i, validation in enumerate(validations):
        validation = as_dict(validation)
        path = f"spec.validations[{i}]"
        errs += expression_errors(validation.get("expression"), f"{path}.expression", boolean=True)
        if validation.get("messageExpression") is not None:
            errs += expression_errors(validation["messageExpression"], f"{path}.messageExpression", boolean=False)
        message = validation.get("message")
        if isinstance(message, str) and ("\n" in message or "\r" in message):
            errs.append(invalid_value(f"{path}.message", message, "message must not contain line breaks"))
        if validation.get("reason") is not None and validation["reason"] not in REASONS:
            errs.append(not_supported(f"{path}.reason", validation["reason"], REASONS))
    for i, audit in enumerate(audits):
        audit = as_dict(audit)
        if not audit.get("key"):
            errs.append(required(f"spec.auditAnnotations[{i}].key"))
        errs += expression_errors(
            audit.get("valueExpression"), f"spec.auditAnnotations[{i}].valueExpression", boolean=False
        )
    names: set[str] = set()
    for i, variable in enumerate(as_list(spec.get("variables"))):
        variable = as_dict(variable)
        name = variable.get("name")
        if not isinstance(name, str) or not _IDENTIFIER.match(name):
            errs.append(invalid_value(f"spec.variables[{i}].name", name, "must be a valid CEL identifier"))
        elif name in names:
            errs.append(duplicate(f"spec.variables[{i}].name", name))
        names.add(str(name))
        errs += expression_errors(variable.get("expression"), f"spec.variables[{i}].expression", boolean=False)
    errs += match_condition_errors(spec.get("matchConditions"), "spec.matchConditions")
    if spec.get("failurePolicy") not in FAILURE_POLICIES:
        errs.append(not_supported("spec.failurePolicy", spec.get("failurePolicy"), FAILURE_POLICIES))
    match = spec.get("matchConstraints")
    if not isinstance(match, dict):
        errs.append(required("spec.matchConstraints"))
    else:
        errs += _match_errors(match, "spec.matchConstraints", rules_required=True)
    param_kind = spec.get("paramKind")
    if param_kind is not None:
        for key in ("apiVersion", "kind"):
            if not as_dict(param_kind).get(key):
                errs.append(required(f"spec.paramKind.{key}"))
    return errs


def validate_binding(obj: Obj) -> Errors:
    """``ValidateValidatingAdmissionPolicyBinding``, for what pykube supports."""
    spec = as_dict(obj.get("spec"))
    errs: Errors = []
    if not spec.get("policyName"):
        errs.append(required("spec.policyName"))
    actions = as_list(spec.get("validationActions"))
    if not actions:
        errs.append(required("spec.validationActions"))
    for i, action in enumerate(actions):
        if action not in ACTIONS:
            errs.append(not_supported(f"spec.validationActions[{i}]", action, ACTIONS))
        elif action in actions[:i]:
            errs.append(duplicate(f"spec.validationActions[{i}]", action))
    if "Deny" in actions and "Warn" in actions:
        errs.append(
            invalid_value(
                "spec.validationActions",
                actions,
                "must not contain both Deny and Warn (repeating the same validation failure information in the API response and headers serves no purpose)",
            )
        )
    ref = spec.get("paramRef")
    if ref is not None:
        ref = as_dict(ref)
        if bool(ref.get("name")) == (ref.get("selector") is not None):
            errs.append(
                FieldError(
                    "spec.paramRef", "FieldValueForbidden", "Forbidden: one of name or selector must be specified"
                )
            )
        for key in ("name", "namespace"):
            if ref.get(key) is not None and not isinstance(ref[key], str):
                errs.append(invalid_value(f"spec.paramRef.{key}", ref[key], "must be a string"))
        if ref.get("selector") is not None:
            errs += label_selector_errors(ref["selector"], "spec.paramRef.selector")
        if ref.get("parameterNotFoundAction") not in PARAMETER_NOT_FOUND:
            errs.append(
                not_supported(
                    "spec.paramRef.parameterNotFoundAction", ref.get("parameterNotFoundAction"), PARAMETER_NOT_FOUND
                )
            )
    if isinstance(spec.get("matchResources"), dict):
        errs += _match_errors(spec["matchResources"], "spec.matchResources", rules_required=False)
    return errs


# ------------------------------------------------------------------------------ which writes a binding checks


@dataclass(frozen=True)
class Binding:
    """A binding with its policy (both as stored)."""

    policy: Obj
    binding: Obj

    @property
    def policy_name(self) -> str:
        return str(as_dict(self.policy.get("metadata")).get("name", ""))

    @property
    def name(self) -> str:
        return str(as_dict(self.binding.get("metadata")).get("name", ""))

    @property
    def spec(self) -> Obj:
        return as_dict(self.policy.get("spec"))

    @property
    def binding_spec(self) -> Obj:
        return as_dict(self.binding.get("spec"))

    @property
    def matches(self) -> list[Obj]:
        """The policy's match constraints, and the binding's resources when it narrows them."""
        found = [as_dict(self.spec.get("matchConstraints"))]
        if isinstance(self.binding_spec.get("matchResources"), dict):
            found.append(self.binding_spec["matchResources"])
        return found

    @property
    def ignores_failure(self) -> bool:
        return self.spec.get("failurePolicy") == "Ignore"


def bindings_of(policies: list[Obj], bindings: list[Obj]) -> list[Binding]:
    """Every binding whose policy exists, in the order kube-apiserver evaluates them (by name)."""
    by_name = {str(as_dict(p.get("metadata")).get("name", "")): p for p in policies}
    ordered = sorted(bindings, key=lambda b: str(as_dict(b.get("metadata")).get("name", "")))
    return [
        Binding(by_name[name], b)
        for b in ordered
        if (name := str(as_dict(b.get("spec")).get("policyName", ""))) in by_name
    ]


def rules_apply(match: Obj, attrs: Attributes) -> bool:
    """Whether a match's resource rules name the write, its exclusions do not, and its
    ``resourceNames`` (when given) list the object."""
    if rules_match(match.get("excludeResourceRules"), attrs):
        return False
    rules = dict_items(match.get("resourceRules"))
    if not rules:
        return True  # a binding's matchResources without rules narrows by its selectors only
    named = [r for r in rules if rules_match([r], attrs)]
    return any(not as_list(r.get("resourceNames")) or attrs.name in as_list(r.get("resourceNames")) for r in named)


# ------------------------------------------------------------------------------ the checks


def bind(values: Obj) -> cel.Bound:
    """Admission values converted to CEL once, for every expression of a binding."""
    return cel.bind(values, _VARIABLES)


def admission_values(attrs: Attributes, params: Obj | None, namespace: Obj | None) -> Obj:
    """What the expressions of a policy see of a write."""
    request = dict(review(attrs, "")["request"])
    for key in ("uid", "object", "oldObject"):
        request.pop(key, None)
    return {
        "object": attrs.object,
        "oldObject": attrs.old,
        "request": request,
        "params": params,
        "namespaceObject": namespace,
        "variables": {},
    }


@dataclass(frozen=True)
class Failure:
    """A validation that did not pass (or could not run: ``error``), as its actions report it."""

    message: str
    reason: str
    index: int
    error: bool = False


#: ``variables.<name>`` in an expression's text, and ``variables[`` (a key the text may not name)
_VARIABLE_USE = re.compile(r"\bvariables\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)")
_INDEXED_VARIABLES = re.compile(r"\bvariables\s*\[")


def with_variables(spec: Obj, expression: str) -> str:
    """``expression`` with the policy's ``variables`` bound around it, each computed once in order
    and seeing the earlier ones (``cel.bind``), inside CEL: their values never become Python objects
    (see :mod:`minikube_py.model.cel` on why). Only the variables the expression reaches (itself or
    through other variables) are bound, so a variable that fails fails only the expressions that
    use it, as kube-apiserver evaluates variables lazily."""
    named = [
        (str(v.get("name")), str(v.get("expression", "")))
        for v in dict_items(spec.get("variables"))
        if _IDENTIFIER.match(str(v.get("name")))
    ]
    named = _reached(named, expression)
    for i in reversed(range(len(named))):
        earlier = [f"'{name}': variables.{name}" for name, _ in named[:i]]
        name, value = named[i]
        entries = ", ".join([*earlier, f"'{name}': ({value})"])
        expression = f"cel.bind(variables, {{{entries}}}, ({expression}))"
    return expression


def _reached(named: list[tuple[str, str]], expression: str) -> list[tuple[str, str]]:
    """The variables ``expression`` uses, directly or through others (each sees only earlier ones);
    all of them when it indexes ``variables`` by a computed key, which names none in its text."""
    if _INDEXED_VARIABLES.search(expression) or any(_INDEXED_VARIABLES.search(v) for _, v in named):
        return named
    wanted = set(_VARIABLE_USE.findall(expression))
    for name, value in reversed(named):
        if name in wanted:
            wanted |= set(_VARIABLE_USE.findall(value))
    return [(name, value) for name, value in named if name in wanted]


def failures(spec: Obj, bound: cel.Bound, size: int) -> list[Failure]:
    """The policy's validations that fail for the values ``bound`` (of :func:`admission_size` ``size``)."""
    found = []
    for index, validation in enumerate(dict_items(spec.get("validations"))):
        expression = str(validation.get("expression", ""))
        reason = str(validation.get("reason") or "Invalid")
        try:
            passed = cel.evaluate(with_variables(spec, expression), bound, _VARIABLES, size=size)
        except cel.CelError as exc:
            found.append(Failure(f"expression '{expression}' resulted in error: {exc}", reason, index, error=True))
            continue
        if passed is not True:
            found.append(Failure(_message(spec, validation, bound, size), reason, index))
    return found


def _message(spec: Obj, validation: Obj, bound: Any, size: int) -> str:
    expression = validation.get("messageExpression")
    if isinstance(expression, str):
        expression = with_variables(spec, expression) if expression else ""
    dynamic = cel.message(expression, bound, _VARIABLES, size=size)
    message = dynamic or str(validation.get("message") or "").strip()
    return message or f"failed expression: {str(validation.get('expression') or '').strip()}"


def audit_annotations(spec: Obj, bound: cel.Bound, size: int) -> dict[str, str]:
    """The policy's ``auditAnnotations`` whose value expression yields a string (``<policy>/<key>``
    is the caller's to prefix)."""
    found = {}
    for audit in dict_items(spec.get("auditAnnotations")):
        try:
            value = cel.evaluate(
                with_variables(spec, str(audit.get("valueExpression", ""))), bound, _VARIABLES, size=size
            )
        except cel.CelError:
            continue
        if isinstance(value, str) and value:
            found[str(audit.get("key"))] = value
    return found


def denial_message(binding: Binding, message: str) -> str:
    return f"ValidatingAdmissionPolicy '{binding.policy_name}' with binding '{binding.name}' denied request: {message}"


def warning_message(binding: Binding, message: str) -> str:
    return f"Validation failed for ValidatingAdmissionPolicy '{binding.policy_name}' with binding '{binding.name}': {message}"
