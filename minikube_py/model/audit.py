"""Audit policy (Kubernetes' ``audit.k8s.io/v1`` ``Policy``) and the decision of what to record.

A policy is a list of rules tried in order; the first that matches a request gives its level:
``None`` (not recorded), ``Metadata`` (who did what to which object, and the answer's code),
``Request`` (also the request's body) or ``RequestResponse`` (also the response's body). A rule
matches when every attribute it names matches: ``users``, ``userGroups``, ``verbs``, ``resources``
(API group, resources with ``resource/subresource`` and ``*`` forms, resourceNames) and
``namespaces`` (resource requests only), ``nonResourceURLs`` (other requests only; a trailing ``*``
is a prefix). ``omitStages`` of the policy and of the matching rule add up. No matching rule: None.

Whatever a rule says, the bodies of Secrets, of TokenRequests and TokenReviews (tokens), of node
credentials and of the dashboard's login API are never recorded: they are recorded at Metadata.

Pure: the API server's :mod:`minikube_py.api.audit` applies the decision and writes the events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from minikube_py.model.requestinfo import RequestInfo

API_VERSION = "audit.k8s.io/v1"
LEVELS = ("None", "Metadata", "Request", "RequestResponse")
STAGES = ("RequestReceived", "ResponseStarted", "ResponseComplete", "Panic")
NONE, METADATA, REQUEST, REQUEST_RESPONSE = LEVELS

#: resources and subresources whose bodies carry credentials: never recorded beyond Metadata
_SECRET_RESOURCES = frozenset({"secrets", "tokenreviews"})
_SECRET_SUBRESOURCES = frozenset({"token"})
#: non-resource paths whose bodies carry credentials (node certificates and keys, login codes)
_SECRET_PATHS = ("/pykube/v1/node-credentials", "/dashboard/api/")


class PolicyError(ValueError):
    """A policy file that is not a valid ``audit.k8s.io/v1`` Policy."""


@dataclass(frozen=True, slots=True)
class GroupResources:
    group: str
    resources: frozenset[str]
    names: frozenset[str]

    def matches(self, info: RequestInfo) -> bool:
        if self.group != info.api_group:
            return False
        if self.names and info.name not in self.names:
            return False
        if not self.resources:
            return True
        resource, sub = info.resource, info.subresource
        if not sub:
            return resource in self.resources or "*" in self.resources
        return bool({f"{resource}/{sub}", f"*/{sub}", f"{resource}/*", "*"} & self.resources)


@dataclass(frozen=True, slots=True)
class Rule:
    level: str
    users: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    verbs: frozenset[str] = frozenset()
    resources: tuple[GroupResources, ...] = ()
    namespaces: frozenset[str] = frozenset()
    urls: tuple[str, ...] = ()
    omit_stages: frozenset[str] = frozenset()

    def matches(self, user: str, groups: Sequence[str], info: RequestInfo) -> bool:
        if self.users and user not in self.users:
            return False
        if self.groups and not self.groups.intersection(groups):
            return False
        if self.verbs and info.verb not in self.verbs:
            return False
        if self.resources or self.namespaces:
            if not info.resource_request:
                return False
            if self.namespaces and info.namespace not in self.namespaces:
                return False
            if self.resources and not any(gr.matches(info) for gr in self.resources):
                return False
        if self.urls:
            if info.resource_request:
                return False
            return any(info.path == url or (url.endswith("*") and info.path.startswith(url[:-1])) for url in self.urls)
        return True


@dataclass(frozen=True, slots=True)
class Policy:
    rules: tuple[Rule, ...]
    omit_stages: frozenset[str] = frozenset()

    def decide(self, user: str, groups: Sequence[str], info: RequestInfo) -> tuple[str, frozenset[str]]:
        """The level of a request of ``user`` and the stages not to record."""
        for rule in self.rules:
            if rule.matches(user, groups, info):
                level = rule.level
                if level in (REQUEST, REQUEST_RESPONSE) and carries_credentials(info):
                    level = METADATA
                return level, self.omit_stages | rule.omit_stages
        return NONE, self.omit_stages


#: with --audit-log-path and no policy file: everything at Metadata, without RequestReceived (each
#: request is then one line, and a watch two: ResponseStarted and ResponseComplete)
DEFAULT_POLICY = Policy((Rule(METADATA),), frozenset({"RequestReceived"}))


def carries_credentials(info: RequestInfo) -> bool:
    if info.resource_request:
        return info.resource in _SECRET_RESOURCES or info.subresource in _SECRET_SUBRESOURCES
    return info.path.startswith(_SECRET_PATHS)


def parse_policy(doc: Any) -> Policy:
    """A Policy from its decoded YAML or JSON; raises :class:`PolicyError` saying which field is wrong."""
    if not isinstance(doc, Mapping):
        raise PolicyError("an audit policy must be a mapping (kind: Policy)")
    if doc.get("kind") != "Policy" or doc.get("apiVersion") not in (API_VERSION, "audit.k8s.io/v1beta1"):
        raise PolicyError(f"an audit policy must have kind Policy and apiVersion {API_VERSION}")
    rules = doc.get("rules")
    if not isinstance(rules, list) or not rules:
        raise PolicyError("rules: an audit policy needs at least one rule")
    return Policy(
        tuple(_rule(rule, f"rules[{i}]") for i, rule in enumerate(rules)), _stages(doc.get("omitStages"), "omitStages")
    )


def _rule(raw: Any, where: str) -> Rule:
    if not isinstance(raw, Mapping):
        raise PolicyError(f"{where}: must be a mapping")
    level = raw.get("level")
    if level not in LEVELS:
        raise PolicyError(f"{where}.level: must be one of {', '.join(LEVELS)}, got {level!r}")
    urls = tuple(_strings(raw.get("nonResourceURLs"), f"{where}.nonResourceURLs"))
    resources = tuple(
        _group_resources(gr, f"{where}.resources[{i}]")
        for i, gr in enumerate(_list(raw.get("resources"), f"{where}.resources"))
    )
    namespaces = frozenset(_strings(raw.get("namespaces"), f"{where}.namespaces"))
    if urls and (resources or namespaces):
        raise PolicyError(f"{where}: nonResourceURLs cannot be combined with resources or namespaces")
    return Rule(
        level,
        frozenset(_strings(raw.get("users"), f"{where}.users")),
        frozenset(_strings(raw.get("userGroups"), f"{where}.userGroups")),
        frozenset(_strings(raw.get("verbs"), f"{where}.verbs")),
        resources,
        namespaces,
        urls,
        _stages(raw.get("omitStages"), f"{where}.omitStages"),
    )


def _group_resources(raw: Any, where: str) -> GroupResources:
    if not isinstance(raw, Mapping):
        raise PolicyError(f"{where}: must be a mapping")
    group = raw.get("group") or ""
    if not isinstance(group, str):
        raise PolicyError(f"{where}.group: must be a string")
    return GroupResources(
        group,
        frozenset(_strings(raw.get("resources"), f"{where}.resources")),
        frozenset(_strings(raw.get("resourceNames"), f"{where}.resourceNames")),
    )


def _stages(raw: Any, where: str) -> frozenset[str]:
    stages = _strings(raw, where)
    for stage in stages:
        if stage not in STAGES:
            raise PolicyError(f"{where}: unknown stage {stage!r} (one of {', '.join(STAGES)})")
    return frozenset(stages)


def _list(raw: Any, where: str) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise PolicyError(f"{where}: must be a list")
    return raw


def _strings(raw: Any, where: str) -> list[str]:
    items = _list(raw, where)
    if not all(isinstance(item, str) for item in items):
        raise PolicyError(f"{where}: must be a list of strings")
    return items
