"""Which FlowSchema, and so which priority level, a request belongs to: kube-apiserver's API Priority
and Fairness classification (``apiserver/pkg/util/flowcontrol``), pure.

The schemas are tried in matching order (lowest ``matchingPrecedence`` first, then by name), those
whose priority level is missing left out; the first whose subjects name the requester and whose
rules match the request wins. Its distinguisher splits the level's traffic into flows, by user or
by namespace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from minikube_py.model.lenient import as_dict, as_list
from minikube_py.model.rbac import SERVICE_ACCOUNT_PREFIX, UserInfo
from minikube_py.model.requestinfo import RequestInfo

Obj = dict[str, Any]


@dataclass(frozen=True)
class Classification:
    """Where a request goes: its schema and priority level (names and uids, the uids for the
    ``X-Kubernetes-PF-*`` response headers), its flow within the level, and whether the level is
    exempt from limits."""

    schema: str
    schema_uid: str
    level: str
    level_uid: str
    flow: str
    exempt: bool


def _listed(value: str, allowed: list[Any], every: str = "*") -> bool:
    return every in allowed or value in allowed


def _subject_matches(subject: Obj, user: UserInfo) -> bool:
    kind = subject.get("kind")
    if kind == "User":
        name = as_dict(subject.get("user")).get("name")
        return name in ("*", user.name)
    if kind == "Group":
        name = as_dict(subject.get("group")).get("name")
        return name == "*" or name in user.groups
    if kind == "ServiceAccount":
        account = as_dict(subject.get("serviceAccount"))
        namespace, name = account.get("namespace"), account.get("name")
        if not user.name.startswith(SERVICE_ACCOUNT_PREFIX):
            return False
        their_namespace, _, their_name = user.name.removeprefix(SERVICE_ACCOUNT_PREFIX).partition(":")
        return namespace == their_namespace and name in ("*", their_name)
    return False


def _url_matches(path: str, patterns: list[Any]) -> bool:
    for pattern in patterns:
        if not isinstance(pattern, str):
            continue
        if pattern == "*" or pattern == path or (pattern.endswith("*") and path.startswith(pattern[:-1])):
            return True
    return False


@dataclass(frozen=True)
class _Rule:
    """One ``PolicyRulesWithSubjects``, with a note whether it matches every request (the
    ``exempt`` and ``catch-all`` schemas' rules), so those need no request attributes."""

    subjects: tuple[Obj, ...]
    resource_rules: tuple[Obj, ...]
    non_resource_rules: tuple[Obj, ...]
    everything: bool

    @classmethod
    def of(cls, rule: Obj) -> _Rule:
        resource = tuple(as_dict(r) for r in as_list(rule.get("resourceRules")))
        non_resource = tuple(as_dict(r) for r in as_list(rule.get("nonResourceRules")))
        everything = any(
            r.get("verbs") == ["*"]
            and r.get("apiGroups") == ["*"]
            and r.get("resources") == ["*"]
            and r.get("clusterScope") is True
            and r.get("namespaces") == ["*"]
            for r in resource
        ) and any(r.get("verbs") == ["*"] and r.get("nonResourceURLs") == ["*"] for r in non_resource)
        return cls(tuple(as_dict(s) for s in as_list(rule.get("subjects"))), resource, non_resource, everything)

    def matches(self, user: UserInfo, info: Callable[[], RequestInfo]) -> bool:
        if not any(_subject_matches(s, user) for s in self.subjects):
            return False
        if self.everything:
            return True
        request = info()
        if request.resource_request:
            return any(_resource_rule_matches(r, request) for r in self.resource_rules)
        return any(
            _listed(request.verb, as_list(r.get("verbs")))
            and _url_matches(request.path, as_list(r.get("nonResourceURLs")))
            for r in self.non_resource_rules
        )


def _resource_rule_matches(rule: Obj, request: RequestInfo) -> bool:
    if not _listed(request.verb, as_list(rule.get("verbs"))):
        return False
    if not _listed(request.resource_with_subresource, as_list(rule.get("resources"))):
        return False
    if not _listed(request.api_group, as_list(rule.get("apiGroups"))):
        return False
    if not request.namespace:
        return rule.get("clusterScope") is True
    return _listed(request.namespace, as_list(rule.get("namespaces")))


@dataclass(frozen=True)
class _Schema:
    name: str
    uid: str
    level: Obj
    method: str
    rules: tuple[_Rule, ...]


class Classifier:
    """The schemas of a configuration in matching order, each with its level; made again whenever a
    schema or level changes (they are few and change rarely; requests are many)."""

    def __init__(self, schemas: Iterable[Obj], levels: Mapping[str, Obj]) -> None:
        ordered = sorted(
            schemas,
            key=lambda s: (
                as_dict(s.get("spec")).get("matchingPrecedence", 0),
                as_dict(s.get("metadata")).get("name", ""),
            ),
        )
        self._schemas: list[_Schema] = []
        for schema in ordered:
            spec = as_dict(schema.get("spec"))
            level = levels.get(as_dict(spec.get("priorityLevelConfiguration")).get("name", ""))
            if level is None:
                continue  # dangling: kube-apiserver leaves it out
            md = as_dict(schema.get("metadata"))
            method = as_dict(spec.get("distinguisherMethod")).get("type", "")
            rules = tuple(_Rule.of(as_dict(r)) for r in as_list(spec.get("rules")))
            self._schemas.append(_Schema(md.get("name", ""), md.get("uid", ""), level, str(method), rules))

    def classify(self, user: UserInfo, info: Callable[[], RequestInfo]) -> Classification | None:
        """The first matching schema's classification (None when none matches: a configuration
        without its mandatory ``catch-all``). ``info`` gives the request's attributes, asked only
        when a rule needs them."""
        for schema in self._schemas:
            if not any(rule.matches(user, info) for rule in schema.rules):
                continue
            if schema.method == "ByUser":
                flow = user.name
            elif schema.method == "ByNamespace":
                flow = info().namespace
            else:
                flow = ""
            level_md = as_dict(schema.level.get("metadata"))
            return Classification(
                schema.name,
                schema.uid,
                level_md.get("name", ""),
                level_md.get("uid", ""),
                flow,
                as_dict(schema.level.get("spec")).get("type") == "Exempt",
            )
        return None
