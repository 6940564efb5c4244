"""What a request asks to do, in RBAC's terms: kube-apiserver's RequestInfo.

Authorization, audit and the forbidden message all need the same reading of a request (verb,
API group, resource, subresource, namespace, name), so it is derived here, once, from the method,
the path and the query, without the kind table: a path for a resource pykube does not serve is
still a resource request RBAC can answer for (the handler then says 404).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

#: the segments under a namespace's own path that are its subresources, not resources in it
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})

_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "GET": "get", "HEAD": "get", "DELETE": "delete"}


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """One request's attributes. A non-resource request (``/healthz``, ``/api``, ``/version``) has
    only ``path`` and the lower-cased HTTP method as its verb."""

    verb: str
    path: str
    resource_request: bool = False
    api_group: str = ""
    api_version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""

    @property
    def resource_with_subresource(self) -> str:
        """``pods`` or ``pods/log``, as RBAC rules and messages spell it."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


def request_info(method: str, path: str, query: Mapping[str, str] | None = None) -> RequestInfo:
    """The attributes of ``method path?query``, as kube-apiserver's RequestInfoFactory reads them."""
    query = query or {}
    parts = [p for p in path.strip("/").split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 2:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return RequestInfo(method.lower(), path)
    if not rest:  # /api/v1, /apis/apps/v1: discovery
        return RequestInfo(method.lower(), path)
    verb = _VERBS.get(method.upper(), method.lower())
    if rest[0] == "watch":  # the deprecated /watch/ prefix
        verb, rest = "watch", rest[1:]
    namespace = ""
    if rest and rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0] if rest else ""
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if not name:
        if verb == "get":
            verb = "watch" if query.get("watch", "").lower() in ("true", "1") else "list"
            name = _name_from_field_selector(query.get("fieldSelector", ""))
        elif verb == "delete":
            verb = "deletecollection"
    return RequestInfo(verb, path, True, group, version, namespace, resource, subresource, name)


def _name_from_field_selector(selector: str) -> str:
    """A list or watch of one object by ``metadata.name=x`` is authorized for that name, as in
    Kubernetes, so a rule with resourceNames can allow it."""
    for term in selector.split(","):
        key, sep, value = term.partition("=")
        if sep and key.strip() == "metadata.name":
            return value.lstrip("=").strip()
    return ""
