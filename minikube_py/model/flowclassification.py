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
#: how many identities' candidate schemas are kept before the memory starts again
_REMEMBERED_USERS = 4096


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


def _names(values: Any) -> frozenset[str]:
    return frozenset(v for v in as_list(values) if isinstance(v, str))


def _listed(value: str, allowed: frozenset[str]) -> bool:
    return "*" in allowed or value in allowed


@dataclass(frozen=True)
class _Subjects:
    """A rule's subjects as sets, for a test per request that costs a few lookups."""

    users: frozenset[str]
    groups: frozenset[str]
    #: (namespace, name) of the ServiceAccounts named, ``*`` for a namespace's every account
    accounts: frozenset[tuple[str, str]]

    @classmethod
    def of(cls, subjects: list[Any]) -> _Subjects:
        users, groups, accounts = set(), set(), set()
        for subject in map(as_dict, subjects):
            kind = subject.get("kind")
            if kind == "User":
                users.add(str(as_dict(subject.get("user")).get("name", "")))
            elif kind == "Group":
                groups.add(str(as_dict(subject.get("group")).get("name", "")))
            elif kind == "ServiceAccount":
                account = as_dict(subject.get("serviceAccount"))
                accounts.add((str(account.get("namespace", "")), str(account.get("name", ""))))
        return cls(frozenset(users), frozenset(groups), frozenset(accounts))

    def match(self, user: UserInfo) -> bool:
        if "*" in self.users or user.name in self.users:
            return True
        if "*" in self.groups or not self.groups.isdisjoint(user.groups):
            return True
        if self.accounts and user.name.startswith(SERVICE_ACCOUNT_PREFIX):
            namespace, _, name = user.name.removeprefix(SERVICE_ACCOUNT_PREFIX).partition(":")
            return (namespace, "*") in self.accounts or (namespace, name) in self.accounts
        return False


@dataclass(frozen=True)
class _ResourceRule:
    verbs: frozenset[str]
    groups: frozenset[str]
    resources: frozenset[str]
    cluster: bool
    namespaces: frozenset[str]

    @classmethod
    def of(cls, rule: Obj) -> _ResourceRule:
        return cls(
            _names(rule.get("verbs")),
            _names(rule.get("apiGroups")),
            _names(rule.get("resources")),
            rule.get("clusterScope") is True,
            _names(rule.get("namespaces")),
        )

    @property
    def everything(self) -> bool:
        return (
            all(s == frozenset("*") for s in (self.verbs, self.groups, self.resources, self.namespaces))
            and self.cluster
        )

    def match(self, request: RequestInfo) -> bool:
        if not (
            _listed(request.verb, self.verbs)
            and _listed(request.resource_with_subresource, self.resources)
            and _listed(request.api_group, self.groups)
        ):
            return False
        return _listed(request.namespace, self.namespaces) if request.namespace else self.cluster


@dataclass(frozen=True)
class _NonResourceRule:
    verbs: frozenset[str]
    urls: tuple[str, ...]

    @classmethod
    def of(cls, rule: Obj) -> _NonResourceRule:
        return cls(_names(rule.get("verbs")), tuple(_names(rule.get("nonResourceURLs"))))

    def match(self, request: RequestInfo) -> bool:
        if not _listed(request.verb, self.verbs):
            return False
        path = request.path
        return any(u == "*" or u == path or (u.endswith("*") and path.startswith(u[:-1])) for u in self.urls)


@dataclass(frozen=True)
class _Rule:
    """One ``PolicyRulesWithSubjects``, with a note whether it matches every request (the
    ``exempt`` and ``catch-all`` schemas' rules), so those need no request attributes."""

    subjects: _Subjects
    resource_rules: tuple[_ResourceRule, ...]
    non_resource_rules: tuple[_NonResourceRule, ...]
    everything: bool

    @classmethod
    def of(cls, rule: Obj) -> _Rule:
        resource = tuple(_ResourceRule.of(as_dict(r)) for r in as_list(rule.get("resourceRules")))
        non_resource = tuple(_NonResourceRule.of(as_dict(r)) for r in as_list(rule.get("nonResourceRules")))
        everything = any(r.everything for r in resource) and any(
            r.verbs == frozenset("*") and r.urls == ("*",) for r in non_resource
        )
        return cls(_Subjects.of(as_list(rule.get("subjects"))), resource, non_resource, everything)

    def matches_request(self, request: RequestInfo) -> bool:
        """Whether the request is one the rule names (its subjects checked already)."""
        if request.resource_request:
            return any(r.match(request) for r in self.resource_rules)
        return any(r.match(request) for r in self.non_resource_rules)


@dataclass(frozen=True)
class _Schema:
    """A schema ready to match: its rules compiled, its level's identity at hand."""

    rules: tuple[_Rule, ...]
    method: str
    #: the classification of a request it matches, but for the flow
    found: Classification


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
        self._by_user: dict[tuple[str, tuple[str, ...]], tuple[tuple[_Schema, tuple[_Rule, ...]], ...]] = {}
        for schema in ordered:
            spec = as_dict(schema.get("spec"))
            level = levels.get(as_dict(spec.get("priorityLevelConfiguration")).get("name", ""))
            if level is None:
                continue  # dangling: kube-apiserver leaves it out
            md, level_md = as_dict(schema.get("metadata")), as_dict(level.get("metadata"))
            found = Classification(
                md.get("name", ""),
                md.get("uid", ""),
                level_md.get("name", ""),
                level_md.get("uid", ""),
                "",
                as_dict(level.get("spec")).get("type") == "Exempt",
            )
            rules = tuple(_Rule.of(as_dict(r)) for r in as_list(spec.get("rules")))
            self._schemas.append(_Schema(rules, str(as_dict(spec.get("distinguisherMethod")).get("type", "")), found))

    def _candidates(self, user: UserInfo) -> tuple[tuple[_Schema, tuple[_Rule, ...]], ...]:
        """The schemas (with their rules) whose subjects name ``user``, in matching order: worked out
        once per identity, since a cluster's requests come from few of them again and again."""
        key = (user.name, user.groups)
        found = self._by_user.get(key)
        if found is None:
            if len(self._by_user) >= _REMEMBERED_USERS:
                self._by_user.clear()
            found = self._by_user[key] = tuple(
                (schema, rules)
                for schema in self._schemas
                if (rules := tuple(r for r in schema.rules if r.subjects.match(user)))
            )
        return found

    def classify(self, user: UserInfo, info: Callable[[], RequestInfo]) -> Classification | None:
        """The first matching schema's classification (None when none matches: a configuration
        without its mandatory ``catch-all``). ``info`` gives the request's attributes, asked only
        when a rule needs them, once."""
        request: RequestInfo | None = None
        for schema, rules in self._candidates(user):
            for rule in rules:
                if rule.everything:
                    break
                if request is None:
                    request = info()
                if rule.matches_request(request):
                    break
            else:
                continue
            found = schema.found
            if schema.method == "ByUser":
                flow = user.name
            elif schema.method == "ByNamespace":
                flow = (request or info()).namespace
            else:
                return found
            return Classification(found.schema, found.schema_uid, found.level, found.level_uid, flow, found.exempt)
        return None
