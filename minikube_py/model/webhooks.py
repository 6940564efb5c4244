"""Dynamic admission (admissionregistration.k8s.io/v1): the rules of Mutating- and
ValidatingWebhookConfigurations, which webhook a write concerns, the AdmissionReview it is sent, and
what its answer means. Pure; :mod:`minikube_py.api.webhooks` makes the calls.

As kube-apiserver: every mutating webhook whose rules and selectors match a create, update or delete
is called in turn (configurations by name, webhooks in order), each seeing the object as the ones
before it patched it; then the object is validated; then every matching validating webhook is
called. A refusal is the webhook's Status under ``admission webhook "<name>" denied the request``; a
webhook that cannot be called, or answers nonsense, fails the write (``failurePolicy: Fail``, the
default) or is passed over (``Ignore``). Objects of these two kinds are never sent to webhooks, so
a broken webhook can always be removed.

A webhook's ``matchConditions`` (CEL, :mod:`minikube_py.model.matchconditions`) must all hold for it
to be called. ``reinvocationPolicy: IfNeeded`` is kube-apiserver's (:class:`Reinvocation`). Not
supported: a webhook's requested versions under ``matchPolicy: Equivalent`` (objects are sent at
the version they are stored in).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from minikube_py.model.errors import FieldError, duplicate, invalid_value, not_supported, required
from minikube_py.model.lenient import as_dict, as_list, dict_items
from minikube_py.model.matchconditions import match_condition_errors
from minikube_py.model.rbac import UserInfo
from minikube_py.model.selectors import stored_selector
from minikube_py.model.validation import label_selector_errors

Obj = dict[str, Any]
Errors = list[FieldError]

GROUP = "admissionregistration.k8s.io"
REVIEW_VERSION = "admission.k8s.io/v1"
OPERATIONS = ("CREATE", "UPDATE", "DELETE", "CONNECT")
_OPERATIONS = [*OPERATIONS, "*"]
_SCOPES = ["*", "Cluster", "Namespaced"]
_FAILURE_POLICIES = ["Fail", "Ignore"]
_MATCH_POLICIES = ["Equivalent", "Exact"]
_SIDE_EFFECTS = ["None", "NoneOnDryRun"]
_REINVOCATION = ["IfNeeded", "Never"]
DEFAULT_TIMEOUT = 10


# ------------------------------------------------------------------------------ the configurations


def default_configuration(obj: Obj) -> None:
    """v1's defaults: Fail, Equivalent, every scope, port 443, ten seconds, selectors matching all."""
    mutating = obj.get("kind") == "MutatingWebhookConfiguration"
    for hook in dict_items(obj.get("webhooks")):
        hook.setdefault("failurePolicy", "Fail")
        hook.setdefault("matchPolicy", "Equivalent")
        hook.setdefault("namespaceSelector", {})
        hook.setdefault("objectSelector", {})
        hook.setdefault("timeoutSeconds", DEFAULT_TIMEOUT)
        if mutating:
            hook.setdefault("reinvocationPolicy", "Never")
        for rule in dict_items(hook.get("rules")):
            rule.setdefault("scope", "*")
        service = as_dict(as_dict(hook.get("clientConfig")).get("service"))
        if service:
            service.setdefault("port", 443)


def validate_configuration(obj: Obj) -> Errors:
    """``ValidateValidatingWebhookConfiguration`` and its mutating twin, for what pykube supports."""
    errs: Errors = []
    names: set[str] = set()
    for i, hook in enumerate(as_list(obj.get("webhooks"))):
        errs += _webhook_errors(as_dict(hook), f"webhooks[{i}]", names)
    return errs


def _webhook_errors(hook: Obj, path: str, names: set[str]) -> Errors:
    errs: Errors = []
    name = hook.get("name")
    if not name:
        errs.append(required(f"{path}.name"))
    elif str(name).count(".") < 2:
        errs.append(
            invalid_value(f"{path}.name", name, "should be a domain with at least three segments separated by dots")
        )
    elif name in names:
        errs.append(duplicate(f"{path}.name", name))
    names.add(str(name))
    errs += _client_config_errors(as_dict(hook.get("clientConfig")), f"{path}.clientConfig")
    for j, rule in enumerate(as_list(hook.get("rules"))):
        errs += _rule_errors(as_dict(rule), f"{path}.rules[{j}]")
    for field_name, allowed in (
        ("failurePolicy", _FAILURE_POLICIES),
        ("matchPolicy", _MATCH_POLICIES),
        ("reinvocationPolicy", _REINVOCATION),
    ):
        if hook.get(field_name) is not None and hook[field_name] not in allowed:
            errs.append(not_supported(f"{path}.{field_name}", hook[field_name], allowed))
    effects = hook.get("sideEffects")
    if effects is None:
        errs.append(
            FieldError(
                f"{path}.sideEffects",
                "FieldValueRequired",
                f"Required value: must specify one of {', '.join(_SIDE_EFFECTS)}",
            )
        )
    elif effects not in _SIDE_EFFECTS:
        errs.append(not_supported(f"{path}.sideEffects", effects, _SIDE_EFFECTS))
    versions = as_list(hook.get("admissionReviewVersions"))
    if not versions:
        errs.append(
            FieldError(
                f"{path}.admissionReviewVersions",
                "FieldValueRequired",
                "Required value: must specify one of v1, v1beta1",
            )
        )
    elif not {"v1", "v1beta1"} & set(map(str, versions)):
        errs.append(
            invalid_value(f"{path}.admissionReviewVersions", versions, "must include at least one of v1, v1beta1")
        )
    timeout = hook.get("timeoutSeconds")
    if timeout is not None and (not isinstance(timeout, int) or not 1 <= timeout <= 30):
        errs.append(
            invalid_value(f"{path}.timeoutSeconds", timeout, "the timeout value must be between 1 and 30 seconds")
        )
    for selector in ("namespaceSelector", "objectSelector"):
        if hook.get(selector) is not None:
            errs += label_selector_errors(hook[selector], f"{path}.{selector}")
    errs += match_condition_errors(hook.get("matchConditions"), f"{path}.matchConditions")
    return errs


def _client_config_errors(config: Obj, path: str) -> Errors:
    url, service = config.get("url"), config.get("service")
    if (url is None) == (service is None):
        return [FieldError(path, "FieldValueRequired", "Required value: exactly one of url or service is required")]
    if url is not None:
        parts = urlsplit(str(url))
        if parts.scheme != "https":
            return [invalid_value(f"{path}.url", url, "'https' is the only allowed URL scheme")]
        if not parts.hostname:
            return [invalid_value(f"{path}.url", url, "host must be specified")]
        if parts.username or parts.password:
            return [invalid_value(f"{path}.url", url, "user information is not permitted in the URL")]
        if parts.fragment or parts.query:
            return [invalid_value(f"{path}.url", url, "fragments and query parameters are not permitted")]
        return []
    service = as_dict(service)
    errs: Errors = []
    for key in ("namespace", "name"):
        if not service.get(key):
            errs.append(required(f"{path}.service.{key}"))
    port = service.get("port")
    if port is not None and (not isinstance(port, int) or not 1 <= port <= 65535):
        errs.append(
            invalid_value(f"{path}.service.port", port, "port is not valid: must be between 1 and 65535, inclusive")
        )
    hook_path = service.get("path")
    if hook_path is not None and not str(hook_path).startswith("/"):
        errs.append(invalid_value(f"{path}.service.path", hook_path, "must start with a '/'"))
    return errs


def _rule_errors(rule: Obj, path: str) -> Errors:
    errs: Errors = []
    operations = as_list(rule.get("operations"))
    if not operations:
        errs.append(required(f"{path}.operations"))
    for k, op in enumerate(operations):
        if op not in _OPERATIONS:
            errs.append(not_supported(f"{path}.operations[{k}]", op, _OPERATIONS))
    for key in ("apiGroups", "apiVersions", "resources"):
        if not as_list(rule.get(key)):
            errs.append(required(f"{path}.{key}"))
    scope = rule.get("scope")
    if scope is not None and scope not in _SCOPES:
        errs.append(not_supported(f"{path}.scope", scope, _SCOPES))
    return errs


# ------------------------------------------------------------------------------ which webhooks a write meets


@dataclass(frozen=True)
class Attributes:
    """One write as admission sees it (``object`` None for a delete, ``old`` None for a create)."""

    operation: str
    group: str
    version: str
    resource: str
    kind: str
    subresource: str
    namespaced: bool
    namespace: str
    name: str
    object: Obj | None
    old: Obj | None
    dry_run: bool
    user: UserInfo | None = None
    options: Obj = field(default_factory=dict)


@dataclass(frozen=True)
class Webhook:
    """One webhook of a configuration, as stored (defaulted and valid)."""

    configuration: str
    mutating: bool
    spec: Obj

    @property
    def name(self) -> str:
        return str(self.spec.get("name", ""))

    @property
    def ignores_failure(self) -> bool:
        return self.spec.get("failurePolicy") == "Ignore"

    @property
    def timeout(self) -> float:
        timeout = self.spec.get("timeoutSeconds")
        return float(timeout) if isinstance(timeout, int) and timeout > 0 else DEFAULT_TIMEOUT


@dataclass
class Reinvocation:
    """kube-apiserver's reinvocation of one write's mutating admission. When a mutating webhook
    changes the object, the whole mutating chain runs once more: the built-in plugins (so that, say,
    a container a webhook injected gets its namespace's LimitRange defaults and the token mount), then
    the webhooks with ``reinvocationPolicy: IfNeeded`` that were called before some later change, and
    only those; in that round a webhook is not called for the first time."""

    #: IfNeeded webhooks called since the object last changed: due again if it changes later
    _called: set[tuple[str, str]] = field(default_factory=set)
    #: the webhooks the second round calls
    _due: set[tuple[str, str]] = field(default_factory=set)
    #: a webhook changed the object: the chain runs again
    wanted: bool = False
    again: bool = False
    #: the object as the webhooks last left it, to see what the built-in plugins changed since
    _last: Obj | None = None

    def start_round(self, obj: Obj | None) -> None:
        """The webhooks' turn begins (in the second round: the built-in plugins ran again)."""
        if self.again and obj != self._last:
            self._changed()

    def calls(self, hook: Webhook) -> bool:
        """Whether ``hook`` (one that concerns the write) is called in this round."""
        return not self.again or _identity(hook) in self._due

    def called(self, hook: Webhook, changed: bool) -> None:
        """``hook`` answered, having ``changed`` the object or not."""
        if changed:
            self._changed()
            self.wanted = True
        if hook.spec.get("reinvocationPolicy") == "IfNeeded":
            self._called.add(_identity(hook))

    def end_round(self, obj: Obj | None) -> None:
        self._last = obj

    def _changed(self) -> None:
        self._due |= self._called
        self._called = set()


def _identity(hook: Webhook) -> tuple[str, str]:
    return hook.configuration, hook.name


def webhooks_of(configurations: list[Obj], *, mutating: bool) -> list[Webhook]:
    """Every webhook of ``configurations``, in the order kube-apiserver calls them: by configuration
    name, then as listed."""
    ordered = sorted(configurations, key=lambda c: str(as_dict(c.get("metadata")).get("name", "")))
    return [
        Webhook(str(as_dict(c.get("metadata")).get("name", "")), mutating, hook)
        for c in ordered
        for hook in dict_items(c.get("webhooks"))
    ]


def exempt(attrs: Attributes) -> bool:
    """Writes no webhook sees: of the webhook configurations themselves, so a broken webhook can be fixed."""
    return attrs.group == GROUP


def _listed(values: list[Any], value: str) -> bool:
    return "*" in values or value in values


def _resource_matches(patterns: list[Any], resource: str, subresource: str) -> bool:
    for pattern in map(str, patterns):
        name, _, sub = pattern.partition("/")
        if (name == "*" or name == resource) and (sub == subresource or (sub == "*" and subresource)):
            return True
        if pattern == "*/*":
            return True
    return False


def rules_match(rules: Any, attrs: Attributes) -> bool:
    """Whether one of ``rules`` (a webhook's, or an admission policy's ``resourceRules``) names this
    operation on this resource and scope."""
    for rule in dict_items(rules):
        scope = rule.get("scope", "*")
        if scope == ("Namespaced" if not attrs.namespaced else "Cluster"):
            continue  # a rule of the other scope
        if (
            _listed(as_list(rule.get("operations")), attrs.operation)
            and _listed(as_list(rule.get("apiGroups")), attrs.group)
            and _listed(as_list(rule.get("apiVersions")), attrs.version)
            and _resource_matches(as_list(rule.get("resources")), attrs.resource, attrs.subresource)
        ):
            return True
    return False


def needs_namespace_labels(spec: Obj, attrs: Attributes) -> bool:
    """Whether deciding needs the labels of the write's namespace (a namespaced object, and a
    namespace selector of ``spec``, a webhook's or a policy's match, that restricts something)."""
    return attrs.namespaced and not stored_selector(spec.get("namespaceSelector", {})).empty


def selectors_match(spec: Obj, attrs: Attributes, namespace_labels: Mapping[str, str] | None) -> bool:
    """The namespace selector (a Namespace is judged by its own labels, another cluster-scoped object
    never by it) and the object selector (the new or the old object matching suffices; an absent
    one, of a create or a delete, matches nothing)."""
    namespaces = stored_selector(spec.get("namespaceSelector", {}))
    if attrs.namespaced and not namespaces.matches(namespace_labels or {}):
        return False
    is_namespace = attrs.group == "" and attrs.resource == "namespaces"
    if is_namespace and not any(namespaces.matches(_labels(o)) for o in (attrs.object, attrs.old) if o is not None):
        return False
    objects = stored_selector(spec.get("objectSelector", {}))
    return objects.empty or any(objects.matches(_labels(o)) for o in (attrs.object, attrs.old) if o is not None)


def _labels(obj: Obj | None) -> Mapping[str, str]:
    return as_dict(as_dict((obj or {}).get("metadata")).get("labels"))


# ------------------------------------------------------------------------------ the review and its answer


def review(attrs: Attributes, uid: str) -> Obj:
    """The AdmissionReview a webhook is sent for this write."""
    kind = {"group": attrs.group, "version": attrs.version, "kind": attrs.kind}
    resource = {"group": attrs.group, "version": attrs.version, "resource": attrs.resource}
    request: Obj = {
        "uid": uid,
        "kind": kind,
        "resource": resource,
        "requestKind": kind,
        "requestResource": resource,
        "operation": attrs.operation,
        "object": attrs.object,
        "oldObject": attrs.old,
        "dryRun": attrs.dry_run,
        "options": attrs.options,
    }
    if attrs.subresource:
        request["subResource"] = request["requestSubResource"] = attrs.subresource
    if attrs.name:
        request["name"] = attrs.name
    if attrs.namespace:
        request["namespace"] = attrs.namespace
    if attrs.user is not None:
        info: Obj = {"username": attrs.user.name, "groups": list(attrs.user.groups)}
        if attrs.user.uid:
            info["uid"] = attrs.user.uid
        if attrs.user.extra:
            info["extra"] = {k: list(v) for k, v in attrs.user.extra.items()}
        request["userInfo"] = info
    else:
        request["userInfo"] = {}
    return {"apiVersion": REVIEW_VERSION, "kind": "AdmissionReview", "request": request}


class InvalidResponse(ValueError):
    """A webhook's answer that is no AdmissionReview response to the request sent."""


@dataclass(frozen=True)
class Verdict:
    """What a webhook answered: allowed or not (with its Status), the JSON Patch of a mutating one,
    and warnings for the client."""

    allowed: bool
    status: Obj
    patch: list[Any] | None
    warnings: tuple[str, ...]


def verdict(hook: Webhook, body: Any, uid: str) -> Verdict:
    """The answer of ``hook`` to the review of ``uid``; :class:`InvalidResponse` when it is none."""
    if not isinstance(body, dict) or body.get("apiVersion") != REVIEW_VERSION or body.get("kind") != "AdmissionReview":
        raise InvalidResponse(f"expected webhook response of {REVIEW_VERSION}, Kind=AdmissionReview")
    response = body.get("response")
    if not isinstance(response, dict):
        raise InvalidResponse("webhook response was absent")
    if response.get("uid") != uid:
        raise InvalidResponse(f"expected response.uid={uid!r}, got {response.get('uid')!r}")
    allowed = response.get("allowed")
    if not isinstance(allowed, bool):
        raise InvalidResponse("response.allowed must be a boolean")
    warnings = tuple(str(w) for w in as_list(response.get("warnings")))
    patch = None
    if response.get("patch") is not None:
        if not hook.mutating:
            raise InvalidResponse("validating webhooks may not return patches")
        if response.get("patchType") != "JSONPatch":
            raise InvalidResponse(f"expected patchType JSONPatch, got {response.get('patchType')!r}")
        try:
            patch = json.loads(base64.b64decode(str(response["patch"]), validate=True))
        except (binascii.Error, ValueError) as exc:
            raise InvalidResponse(f"the patch is not base64-encoded JSON: {exc}") from None
        if not isinstance(patch, list):
            raise InvalidResponse("the patch is not a JSON Patch (an array of operations)")
    return Verdict(allowed, as_dict(response.get("status")), patch, warnings)


def denial(hook: Webhook, attrs: Attributes, status: Obj) -> Obj:
    """The Status a refused write answers with, as kube-apiserver words it."""
    code = status.get("code") if isinstance(status.get("code"), int) and status.get("code") else 403
    denied = f'admission webhook "{hook.name}" denied the request'
    message, reason = status.get("message"), status.get("reason")
    if message:
        denied = f"{denied}: {message}"
    elif reason:
        denied = f"{denied}: {reason}"
    else:
        denied = f"{denied} without explanation"
    name = attrs.name or "Unknown"
    group_resource = f"{attrs.resource}.{attrs.group}" if attrs.group else attrs.resource
    if code == 500:
        return {
            "code": 500,
            "reason": reason or "InternalError",
            "message": f"Internal error occurred: {denied}",
            "details": {"causes": [{"message": denied}]},
        }
    return {
        "code": code,
        "reason": reason or "Forbidden",
        "message": f'{group_resource} "{name}" is forbidden: {denied}',
        "details": {"group": attrs.group, "kind": attrs.resource, "name": name},
    }
