"""RBAC as kube-apiserver decides it: rules, bindings, the subject index, escalation and aggregation.

Everything here is a pure function of RBAC objects (rbac.authorization.k8s.io/v1 Role, ClusterRole,
RoleBinding, ClusterRoleBinding) and a request's :class:`~minikube_py.model.requestinfo.RequestInfo`,
so the decisions are unit-tested in milliseconds. :class:`Policy` keeps the objects indexed by
subject: a request looks up only the bindings that name its user or one of its groups, never a scan
of every binding, and the roles they refer to by name.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from minikube_py.model.errors import FieldError, invalid_value, not_supported, required
from minikube_py.model.requestinfo import RequestInfo
from minikube_py.model.selectors import dns1123_subdomain_errors, label_selector_from_spec

GROUP = "rbac.authorization.k8s.io"
MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
#: a node's user is system:node:<name> in the group system:nodes
NODE_USER_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"
SERVICE_ACCOUNTS_GROUP = "system:serviceaccounts"

Obj = dict[str, Any]


@dataclass(frozen=True, slots=True)
class UserInfo:
    """An authenticated identity: its name, groups and (for ServiceAccounts) uid."""

    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def service_account_user(namespace: str, name: str) -> str:
    return f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}"


def service_account_groups(namespace: str) -> tuple[str, ...]:
    return (SERVICE_ACCOUNTS_GROUP, f"{SERVICE_ACCOUNTS_GROUP}:{namespace}", AUTHENTICATED)


# ------------------------------------------------------------------------------ rules


@dataclass(frozen=True, slots=True)
class Rule:
    """One PolicyRule, with its lists as sets for matching."""

    verbs: frozenset[str]
    api_groups: frozenset[str] = frozenset()
    resources: frozenset[str] = frozenset()
    resource_names: frozenset[str] = frozenset()
    non_resource_urls: tuple[str, ...] = ()

    @classmethod
    def parse(cls, rule: Mapping[str, Any]) -> Rule:
        return cls(
            frozenset(rule.get("verbs") or ()),
            frozenset(rule.get("apiGroups") or ()),
            frozenset(rule.get("resources") or ()),
            frozenset(rule.get("resourceNames") or ()),
            tuple(rule.get("nonResourceURLs") or ()),
        )

    def to_api(self) -> Obj:
        """The PolicyRule as the API shows it (lists sorted, empty ones left out)."""
        out: Obj = {"verbs": sorted(self.verbs)}
        for key, values in (
            ("apiGroups", self.api_groups),
            ("resources", self.resources),
            ("resourceNames", self.resource_names),
            ("nonResourceURLs", self.non_resource_urls),
        ):
            if values:
                out[key] = sorted(values)
        return out

    def allows(self, info: RequestInfo) -> bool:
        if not ("*" in self.verbs or info.verb in self.verbs):
            return False
        if not info.resource_request:
            return any(_url_matches(pattern, info.path) for pattern in self.non_resource_urls)
        return (
            ("*" in self.api_groups or info.api_group in self.api_groups)
            and _resource_matches(self.resources, info.resource, info.subresource)
            and (not self.resource_names or info.name in self.resource_names)
        )


def _url_matches(pattern: str, path: str) -> bool:
    if pattern == "*" or pattern == path:
        return True
    return pattern.endswith("*") and path.startswith(pattern[:-1])


def _resource_matches(resources: frozenset[str], resource: str, subresource: str) -> bool:
    if "*" in resources:
        return True
    if not subresource:
        return resource in resources
    return f"{resource}/{subresource}" in resources or f"*/{subresource}" in resources


def parse_rules(rules: Iterable[Mapping[str, Any]] | None) -> tuple[Rule, ...]:
    return tuple(Rule.parse(r) for r in rules or () if isinstance(r, Mapping))


def allows(info: RequestInfo, rules: Iterable[Rule]) -> bool:
    """Whether any of ``rules`` allows the request."""
    return any(rule.allows(info) for rule in rules)


# ------------------------------------------------------------------------------ subjects and bindings


def subject_key(subject: Mapping[str, Any], binding_namespace: str) -> tuple[str, str] | None:
    """The index key a binding's subject is found by: a ServiceAccount is its user name; a
    ServiceAccount subject without a namespace means the binding's (RoleBindings only)."""
    kind, name = subject.get("kind"), subject.get("name") or ""
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return ("User", service_account_user(namespace, name)) if namespace else None
    if kind in ("User", "Group"):
        return kind, name
    return None


def user_keys(user: UserInfo) -> Iterator[tuple[str, str]]:
    yield "User", user.name
    for group in user.groups:
        yield "Group", group


@dataclass(frozen=True, slots=True)
class Binding:
    namespace: str  # "" for a ClusterRoleBinding
    name: str
    role_kind: str  # Role or ClusterRole
    role_name: str
    subjects: tuple[tuple[str, str], ...]


def parse_binding(obj: Obj) -> Binding:
    md = obj.get("metadata") or {}
    namespace = md.get("namespace") or ""
    ref = obj.get("roleRef") or {}
    keys = (subject_key(s, namespace) for s in obj.get("subjects") or () if isinstance(s, Mapping))
    return Binding(
        namespace, md.get("name", ""), ref.get("kind", ""), ref.get("name", ""), tuple(k for k in keys if k is not None)
    )


class Policy:
    """Every Role, ClusterRole and binding, with bindings indexed by the subjects they name.

    :meth:`put` and :meth:`remove` keep it current from a watch; :meth:`rules_for` costs one
    dictionary look-up per user name and group plus the bindings found."""

    def __init__(self) -> None:
        self._roles: dict[tuple[str, str], tuple[Rule, ...]] = {}  # (namespace, name), "" for ClusterRoles
        self._bindings: dict[tuple[str, str], Binding] = {}
        self._by_subject: dict[tuple[str, str], set[tuple[str, str]]] = {}

    def put(self, kind: str, obj: Obj) -> None:
        md = obj.get("metadata") or {}
        key = (md.get("namespace") or "", md.get("name", ""))
        if kind in ("Role", "ClusterRole"):
            self._roles[key] = parse_rules(obj.get("rules"))
            return
        self.remove(kind, *key)
        binding = parse_binding(obj)
        self._bindings[key] = binding
        for subject in binding.subjects:
            self._by_subject.setdefault(subject, set()).add(key)

    def remove(self, kind: str, namespace: str, name: str) -> None:
        key = (namespace, name)
        if kind in ("Role", "ClusterRole"):
            self._roles.pop(key, None)
            return
        old = self._bindings.pop(key, None)
        for subject in old.subjects if old is not None else ():
            keys = self._by_subject.get(subject)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_subject[subject]

    def bindings_for(self, user: UserInfo, namespace: str) -> Iterator[Binding]:
        """The ClusterRoleBindings naming ``user`` and, with a namespace, its RoleBindings there."""
        seen: set[tuple[str, str]] = set()
        for subject in user_keys(user):
            for key in self._by_subject.get(subject, ()):
                if key[0] in ("", namespace) and key not in seen:
                    seen.add(key)
                    yield self._bindings[key]

    def rules_for(self, user: UserInfo, namespace: str) -> Iterator[Rule]:
        """The rules ``user`` holds in ``namespace`` ("" for the cluster scope)."""
        for binding in self.bindings_for(user, namespace):
            yield from self.granted_by(binding)

    def granted_by(self, binding: Binding) -> tuple[Rule, ...]:
        """The rules of the role a binding refers to (none while that role does not exist)."""
        namespace = binding.namespace if binding.role_kind == "Role" else ""
        return self._roles.get((namespace, binding.role_name), ())

    def role_rules(self, kind: str, namespace: str, name: str) -> tuple[Rule, ...] | None:
        """A role's rules (None when it does not exist)."""
        return self._roles.get((namespace if kind == "Role" else "", name))


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str = ""


def authorize(user: UserInfo, info: RequestInfo, policy: Policy) -> Decision:
    """RBAC's answer for ``user`` doing ``info``: ``system:masters`` may do anything, as the
    bootstrap ``cluster-admin`` binding grants it; everyone else what a binding grants them."""
    if MASTERS in user.groups:
        return Decision(True, "system:masters")
    for binding in policy.bindings_for(user, info.namespace):
        if allows(info, policy.granted_by(binding)):
            kind = "RoleBinding" if binding.namespace else "ClusterRoleBinding"
            return Decision(
                True, f'RBAC: allowed by {kind} "{binding.name}" of {binding.role_kind} "{binding.role_name}"'
            )
    return Decision(False)


# ------------------------------------------------------------------------------ escalation


def uncovered(owner: Iterable[Rule], requested: Iterable[Rule]) -> list[Rule]:
    """The parts of ``requested`` that no rule of ``owner`` grants: a user may only grant what they
    hold (kube-apiserver's escalation check breaks each rule into single-verb, single-resource pieces
    the same way). Empty when ``owner`` covers all of ``requested``."""
    owned = list(owner)
    missing = []
    for piece in (p for rule in requested for p in _pieces(rule)):
        if not any(_covers(o, piece) for o in owned):
            missing.append(piece)
    return missing


def _pieces(rule: Rule) -> Iterator[Rule]:
    for verb in rule.verbs:
        if rule.non_resource_urls:
            for url in rule.non_resource_urls:
                yield Rule(frozenset({verb}), non_resource_urls=(url,))
            continue
        for group in rule.api_groups:
            for resource in rule.resources:
                names = rule.resource_names or {""}
                for name in names:
                    yield Rule(
                        frozenset({verb}),
                        frozenset({group}),
                        frozenset({resource}),
                        frozenset({name}) if name else frozenset(),
                    )


def _covers(owner: Rule, piece: Rule) -> bool:
    if not ("*" in owner.verbs or piece.verbs <= owner.verbs):
        return False
    if piece.non_resource_urls:
        return any(_url_covers(o, piece.non_resource_urls[0]) for o in owner.non_resource_urls)
    if not ("*" in owner.api_groups or piece.api_groups <= owner.api_groups):
        return False
    (resource,) = piece.resources
    base, _, sub = resource.partition("/")
    if not (
        "*" in owner.resources
        or resource in owner.resources
        or (sub and (f"*/{sub}" in owner.resources or f"{base}/*" in owner.resources))
    ):
        return False
    return not owner.resource_names or (bool(piece.resource_names) and piece.resource_names <= owner.resource_names)


def _url_covers(owner: str, url: str) -> bool:
    if owner == url or owner == "*":
        return True
    return owner.endswith("*") and url.startswith(owner[:-1])


# ------------------------------------------------------------------------------ aggregation


def aggregated_rules(role: Obj, cluster_roles: Iterable[Obj]) -> list[Obj] | None:
    """The rules a ClusterRole with an ``aggregationRule`` gets: those of every other ClusterRole
    matching one of its selectors, without duplicates, in name order (None: not an aggregated role)."""
    aggregation = role.get("aggregationRule")
    selectors = aggregation.get("clusterRoleSelectors") if isinstance(aggregation, dict) else None
    if not selectors or not isinstance(selectors, list):
        return None
    parsed = [label_selector_from_spec(s) for s in selectors if isinstance(s, Mapping)]
    own = (role.get("metadata") or {}).get("name")
    rules: list[Obj] = []
    for other in sorted(cluster_roles, key=lambda r: (r.get("metadata") or {}).get("name", "")):
        md = other.get("metadata") or {}
        if md.get("name") == own or not any(s.matches(md.get("labels") or {}) for s in parsed):
            continue
        for rule in other.get("rules") or ():
            if rule not in rules:
                rules.append(rule)
    return rules


# ------------------------------------------------------------------------------ validation


def path_segment_name_errors(name: str) -> list[str]:
    """RBAC objects may have any name that is one URL path segment (``system:basic-user``), as
    Kubernetes' ValidatePathSegmentName allows."""
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in name]


_RULE_LISTS = ("verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs")


def _rule_errors(rules: Any, path: str, *, namespaced: bool) -> list[FieldError]:
    if rules is None:
        return []
    if not isinstance(rules, list):
        return [invalid_value(path, rules, "must be a list")]
    errs: list[FieldError] = []
    for i, rule in enumerate(rules):
        at = f"{path}[{i}]"
        if not isinstance(rule, dict):
            errs.append(invalid_value(at, rule, "must be an object"))
            continue
        wrong = [
            k
            for k in _RULE_LISTS
            if rule.get(k) is not None
            and (not isinstance(rule[k], list) or not all(isinstance(v, str) for v in rule[k]))
        ]
        if wrong:
            errs += [invalid_value(f"{at}.{k}", rule[k], "must be a list of strings") for k in wrong]
            continue
        if not rule.get("verbs"):
            errs.append(required(f"{at}.verbs"))
        urls = rule.get("nonResourceURLs")
        if urls:
            if namespaced:
                errs.append(
                    invalid_value(f"{at}.nonResourceURLs", urls, "namespaced rules cannot apply to non-resource URLs")
                )
            if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
                errs.append(
                    invalid_value(
                        f"{at}.nonResourceURLs",
                        urls,
                        "rules cannot apply to both regular resources and non-resource URLs",
                    )
                )
            continue
        if not rule.get("resources"):
            errs.append(required(f"{at}.resources"))
        if rule.get("apiGroups") is None:
            errs.append(required(f"{at}.apiGroups"))
    return errs


def validate_role(obj: Obj) -> list[FieldError]:
    return _rule_errors(obj.get("rules"), "rules", namespaced=True)


def validate_cluster_role(obj: Obj) -> list[FieldError]:
    errs = _rule_errors(obj.get("rules"), "rules", namespaced=False)
    aggregation = obj.get("aggregationRule")
    if aggregation is None:
        return errs
    selectors = aggregation.get("clusterRoleSelectors") if isinstance(aggregation, dict) else aggregation
    if not isinstance(selectors, list) or not all(isinstance(s, dict) for s in selectors):
        errs.append(
            invalid_value("aggregationRule.clusterRoleSelectors", selectors, "must be a list of label selectors")
        )
    return errs


def _binding_errors(obj: Obj, *, namespaced: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    ref = obj.get("roleRef")
    if not isinstance(ref, dict):
        ref = {}
    kinds = ["Role", "ClusterRole"] if namespaced else ["ClusterRole"]
    if ref.get("apiGroup") != GROUP:
        errs.append(not_supported("roleRef.apiGroup", ref.get("apiGroup", ""), [GROUP]))
    if ref.get("kind") not in kinds:
        errs.append(not_supported("roleRef.kind", ref.get("kind", ""), kinds))
    if not ref.get("name"):
        errs.append(required("roleRef.name"))
    subjects = obj.get("subjects") or []
    if not isinstance(subjects, list):
        return [*errs, invalid_value("subjects", subjects, "must be a list")]
    for i, subject in enumerate(subjects):
        at = f"subjects[{i}]"
        if not isinstance(subject, dict):
            errs.append(invalid_value(at, subject, "must be an object"))
            continue
        kind, name = subject.get("kind"), subject.get("name")
        if not name:
            errs.append(required(f"{at}.name"))
        if kind == "ServiceAccount":
            if subject.get("apiGroup"):
                errs.append(not_supported(f"{at}.apiGroup", subject["apiGroup"], [""]))
            if not namespaced and not subject.get("namespace"):
                errs.append(required(f"{at}.namespace"))
            for message in dns1123_subdomain_errors(name) if name else ():
                errs.append(invalid_value(f"{at}.name", name, message))
        elif kind in ("User", "Group"):
            if subject.get("apiGroup") != GROUP:
                errs.append(not_supported(f"{at}.apiGroup", subject.get("apiGroup", ""), [GROUP]))
        else:
            errs.append(not_supported(f"{at}.kind", kind or "", ["ServiceAccount", "User", "Group"]))
    return errs


def validate_role_binding(obj: Obj) -> list[FieldError]:
    return _binding_errors(obj, namespaced=True)


def validate_cluster_role_binding(obj: Obj) -> list[FieldError]:
    return _binding_errors(obj, namespaced=False)


def validate_role_ref_unchanged(new: Obj, old: Obj) -> list[FieldError]:
    """A binding's roleRef is immutable: changing the role means a new binding, as in Kubernetes."""
    if new.get("roleRef") != old.get("roleRef"):
        return [invalid_value("roleRef", new.get("roleRef"), "cannot change roleRef")]
    return []
