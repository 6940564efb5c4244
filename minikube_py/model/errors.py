"""Errors in Kubernetes' own ``Status`` shape.

kubectl builds its messages from ``reason``, ``message`` and ``details`` (``Error from server
(NotFound): pods "x" not found``), so every failure the API answers is a :class:`StatusError` that
renders to exactly that shape. Validation collects :class:`FieldError` causes first and raises one
``Invalid`` error with all of them, as kube-apiserver does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from minikube_py.model.kinds import ResourceType
from minikube_py.model.requestinfo import RequestInfo


@dataclass(frozen=True)
class FieldError:
    """One ``details.causes`` entry. ``reason`` is Kubernetes' cause type, e.g. FieldValueInvalid,
    FieldValueRequired, FieldValueDuplicate, FieldValueNotSupported, FieldValueForbidden."""

    field: str
    reason: str
    message: str

    def render(self) -> str:
        return f"{self.field}: {self.message}"


def required(field: str, detail: str = "") -> FieldError:
    return FieldError(field, "FieldValueRequired", f"Required value: {detail}" if detail else "Required value")


def go_value(value: Any) -> str:
    """A value as kube-apiserver renders it in ``Invalid value: ...`` messages (Go's ``%#v``-ish: ``true``,
    ``null``, ``map[string]string{...}``), one rendering for every kind's validation."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return "map[string]string{" + ", ".join(f"{json.dumps(k)}:{json.dumps(value[k])}" for k in sorted(value)) + "}"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "[]string{" + ", ".join(json.dumps(v) for v in value) + "}"
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def invalid_value(field: str, value: Any, detail: str) -> FieldError:
    return FieldError(field, "FieldValueInvalid", f"Invalid value: {go_value(value)}: {detail}")


def value_not_found(field: str, value: Any) -> FieldError:
    return FieldError(field, "FieldValueNotFound", f"Not found: {go_value(value)}")


def not_supported(field: str, value: Any, supported: list[str]) -> FieldError:
    allowed = ", ".join(f'"{s}"' for s in supported)
    return FieldError(field, "FieldValueNotSupported", f'Unsupported value: "{value}": supported values: {allowed}')


def duplicate(field: str, value: Any) -> FieldError:
    return FieldError(field, "FieldValueDuplicate", f'Duplicate value: "{value}"')


def forbidden(field: str, detail: str) -> FieldError:
    return FieldError(field, "FieldValueForbidden", f"Forbidden: {detail}")


class StatusError(Exception):
    """An API failure; ``status()`` is the body the client receives."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def invalid_options(options: str, cause: FieldError) -> StatusError:
    """422 for a request's options (``CreateOptions``, ``DeleteOptions``...: its query parameters or
    a DELETE's body), as kube-apiserver's options validation answers."""
    return StatusError(
        422,
        "Invalid",
        f'{options}.meta.k8s.io "" is invalid: {cause.render()}',
        {
            "name": "",
            "group": "meta.k8s.io",
            "kind": options,
            "causes": [{"reason": cause.reason, "message": cause.message, "field": cause.field}],
        },
    )


def _details(rt: ResourceType, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": rt.plural}
    if rt.group:
        details["group"] = rt.group
    return details


def not_found(rt: ResourceType, name: str) -> StatusError:
    return StatusError(404, "NotFound", f'{rt.qualified} "{name}" not found', _details(rt, name))


def already_exists(rt: ResourceType, name: str) -> StatusError:
    return StatusError(409, "AlreadyExists", f'{rt.qualified} "{name}" already exists', _details(rt, name))


def conflict(rt: ResourceType, name: str, why: str) -> StatusError:
    return StatusError(
        409, "Conflict", f'Operation cannot be fulfilled on {rt.qualified} "{name}": {why}', _details(rt, name)
    )


def stale_write(rt: ResourceType, name: str) -> StatusError:
    return conflict(
        rt, name, "the object has been modified; please apply your changes to the latest version and try again"
    )


def invalid(rt: ResourceType, name: str, causes: list[FieldError]) -> StatusError:
    # the kind qualified by its group, as kube-apiserver's GroupKind prints it: Deployment.apps, Pod
    return _invalid(rt, rt.kind, f"{rt.kind}.{rt.group}" if rt.group else rt.kind, name, causes)


def invalid_by_admission(rt: ResourceType, name: str, causes: list[FieldError]) -> StatusError:
    """An admission plugin's 422 (PodSecurity's, for a namespace's labels), which names the object
    by its resource: ``namespaces "x" is invalid: ...``."""
    return _invalid(rt, rt.plural, rt.qualified, name, causes)


def _invalid(rt: ResourceType, kind: str, subject: str, name: str, causes: list[FieldError]) -> StatusError:
    rendered = [c.render() for c in causes]
    listed = rendered[0] if len(rendered) == 1 else "[" + ", ".join(rendered) + "]"
    details = {
        "name": name,
        "kind": kind,
        "causes": [{"reason": c.reason, "message": c.message, "field": c.field} for c in causes],
    }
    if rt.group:
        details["group"] = rt.group
    return StatusError(422, "Invalid", f'{subject} "{name}" is invalid: {listed}', details)


def bad_request(message: str) -> StatusError:
    return StatusError(400, "BadRequest", message)


def gone(message: str) -> StatusError:
    return StatusError(410, "Expired", message)


def unauthorized() -> StatusError:
    return StatusError(401, "Unauthorized", "Unauthorized")


def forbidden_request(user: str, verb: str, resource: str, message: str = "") -> StatusError:
    text = f'{resource} is forbidden: User "{user}" cannot {verb} {resource}'
    return StatusError(403, "Forbidden", f"{text}: {message}" if message else text)


def forbidden_object(rt: ResourceType, name: str, why: str) -> StatusError:
    """An admission plugin's refusal (``pods "x" is forbidden: exceeded quota: ...``)."""
    subject = f'{rt.qualified} "{name}"' if name else rt.qualified
    return StatusError(403, "Forbidden", f"{subject} is forbidden: {why}", _details(rt, name))


def forbidden_by_policy(user: str, info: RequestInfo, reason: str = "") -> StatusError:
    """kube-apiserver's 403 for a request no authorizer allowed, word for word, e.g. ``pods is
    forbidden: User "u" cannot list resource "pods" in API group "" in the namespace "default"``."""
    if not info.resource_request:
        text = f'User "{user}" cannot {info.verb} path "{info.path}"'
    else:
        scope = f'in the namespace "{info.namespace}"' if info.namespace else "at the cluster scope"
        text = (
            f'User "{user}" cannot {info.verb} resource "{info.resource_with_subresource}" in API group '
            f'"{info.api_group}" {scope}'
        )
    if reason:
        text = f"{text}: {reason}"
    if not info.resource:
        return StatusError(403, "Forbidden", f"forbidden: {text}", {})
    qualified = f"{info.resource}.{info.api_group}" if info.api_group else info.resource
    subject = f'{qualified} "{info.name}"' if info.name else qualified
    details: dict[str, Any] = {"name": info.name, "kind": info.resource} if info.name else {"kind": info.resource}
    if info.api_group:
        details["group"] = info.api_group
    return StatusError(403, "Forbidden", f"{subject} is forbidden: {text}", details)


def namespace_terminating(namespace: str) -> StatusError:
    """kube-apiserver's NamespaceLifecycle answer to new content in a namespace being deleted."""
    return StatusError(
        403,
        "Forbidden",
        f"unable to create new content in namespace {namespace} because it is being terminated",
        {
            "name": namespace,
            "kind": "namespaces",
            "causes": [
                {
                    "reason": "NamespaceTerminating",
                    "message": f"namespace {namespace} is being terminated",
                    "field": "metadata.namespace",
                }
            ],
        },
    )


def method_not_allowed(verb: str, what: str) -> StatusError:
    return StatusError(
        405, "MethodNotAllowed", f"the server does not allow this method on the requested resource ({verb} {what})"
    )


def unsupported_media(content_type: str) -> StatusError:
    return StatusError(
        415,
        "UnsupportedMediaType",
        f'the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got "{content_type}")',
    )


def too_large(limit: int) -> StatusError:
    return StatusError(413, "RequestEntityTooLarge", f"the request body exceeds the limit of {limit} bytes")


def unknown_resource(path: str) -> StatusError:
    return StatusError(
        404,
        "NotFound",
        "the server could not find the requested resource",
        {"causes": [{"reason": "UnexpectedServerResponse", "message": f"404 page not found: {path}"}]},
    )


def unavailable(message: str) -> StatusError:
    """503: the server cannot do it now (its datastore is unreachable); the client should retry."""
    return StatusError(503, "ServiceUnavailable", message)


def internal(message: str) -> StatusError:
    return StatusError(500, "InternalError", f"Internal error occurred: {message}")
