"""The RBAC authorizer of the request path: the policy kept current from a store watch, the
escalation check on writes of roles and bindings, and the access reviews (``kubectl auth can-i``).

The decisions are :mod:`minikube_py.model.rbac`'s; this module feeds them. The policy is loaded
once and then follows the store's events for ``rbac.authorization.k8s.io`` (from whichever server
wrote them), so a request costs dictionary look-ups, never a store read. A role or binding
written through this server is answered only once the policy holds it, so a client that creates a
RoleBinding and then uses it is not refused by a policy a few milliseconds old.
"""

from __future__ import annotations

from collections.abc import Iterable

from minikube_py.api.follower import PrefixFollower
from minikube_py.model import errors, rbac
from minikube_py.model.bootstrappolicy import CLUSTER_ADMIN
from minikube_py.model.kinds import RESOURCES, ResourceType
from minikube_py.model.rbac import Decision, Policy, Rule, UserInfo
from minikube_py.model.requestinfo import RequestInfo
from minikube_py.store.base import Event, Obj, Store

#: seconds a role or binding write waits for the policy to hold it before it is answered anyway
CATCH_UP_TIMEOUT = 10.0

_PREFIX = f"/{rbac.GROUP}/"
_RBAC_KINDS = tuple(rt for rt in RESOURCES if rt.group == rbac.GROUP)
_KIND_BY_PLURAL = {rt.plural: rt.kind for rt in _RBAC_KINDS}
_ROLE_KINDS = {rt.kind: rt for rt in _RBAC_KINDS if rt.kind in ("Role", "ClusterRole")}
#: what a user must hold to write an aggregated ClusterRole without ``escalate``: everything
_EVERYTHING = rbac.parse_rules(CLUSTER_ADMIN["rules"])


class RbacAuthorizer:
    def __init__(self, store: Store) -> None:
        self._store = store
        self.policy = Policy()
        self._follower = PrefixFollower(
            store, _PREFIX, what="RBAC policy", load=self._load, apply=self._apply, catch_up_timeout=CATCH_UP_TIMEOUT
        )

    async def start(self) -> None:
        await self._follower.start()

    async def stop(self) -> None:
        await self._follower.stop()

    async def caught_up(self, obj: Obj) -> None:
        """Until the policy holds a role or binding this server just wrote (or deleted)."""
        await self._follower.caught_up(obj)

    async def _load(self) -> int:
        """Read every role and binding; the revision returned is the oldest of the four listings, so
        the watch from it misses nothing (replaying an event already listed changes nothing)."""
        policy = Policy()
        revisions = []
        for rt in _RBAC_KINDS:
            listing = await self._store.list(rt.prefix())
            revisions.append(listing.revision)
            for obj in listing.items:
                policy.put(rt.kind, obj)
        self.policy = policy
        return min(revisions)

    def _apply(self, event: Event) -> None:
        kind = _KIND_BY_PLURAL.get(event.key.split("/")[2], "")
        if event.type == "DELETED":
            md = event.value.get("metadata") or {}
            self.policy.remove(kind, md.get("namespace") or "", md.get("name", ""))
        else:
            self.policy.put(kind, event.value)

    # ------------------------------------------------------------------------------ decisions

    def authorize(self, user: UserInfo, info: RequestInfo) -> Decision:
        return rbac.authorize(user, info, self.policy)

    def check_escalation(self, user: UserInfo, rt: ResourceType, namespace: str | None, obj: Obj) -> None:
        """403 unless ``user`` may write this role or binding: they hold every permission it grants,
        or are allowed to ``escalate`` (roles) or ``bind`` (the referenced role), as Kubernetes checks."""
        if rbac.MASTERS in user.groups or rt.group != rbac.GROUP:
            return
        ns = namespace or ""
        name = (obj.get("metadata") or {}).get("name", "")
        if rt.kind in ("Role", "ClusterRole"):
            if self._may(user, "escalate", rt, ns, name):
                return
            aggregation = obj.get("aggregationRule")
            if rt.kind == "ClusterRole" and isinstance(aggregation, dict) and aggregation.get("clusterRoleSelectors"):
                requested: Iterable[Rule] = _EVERYTHING
            else:
                requested = rbac.parse_rules(obj.get("rules"))
            self._check_covered(user, ns, requested, rt, name)
            return
        ref = obj.get("roleRef") if isinstance(obj.get("roleRef"), dict) else {}
        role_kind, role_name = ref.get("kind", ""), ref.get("name", "")
        role_rt = _ROLE_KINDS.get(role_kind)
        if role_rt is None:
            return  # no role to grant: validation answers 422
        if self._may(user, "bind", role_rt, ns if role_kind == "Role" else "", role_name):
            return
        rules = self.policy.role_rules(role_kind, ns, role_name)
        if rules is None:
            raise errors.forbidden_object(
                rt, name, f'user "{user.name}" cannot bind to {role_kind} "{role_name}": it does not exist'
            )
        self._check_covered(user, ns, rules, rt, name)

    def _may(self, user: UserInfo, verb: str, rt: ResourceType, namespace: str, name: str) -> bool:
        info = RequestInfo(verb, "", True, rt.group, rt.version, namespace, rt.plural, "", name)
        return self.authorize(user, info).allowed

    def _check_covered(
        self, user: UserInfo, namespace: str, requested: Iterable[Rule], rt: ResourceType, name: str
    ) -> None:
        missing = rbac.uncovered(self.policy.rules_for(user, namespace), requested)
        if not missing:
            return
        groups = " ".join(f'"{g}"' for g in user.groups)
        listed = "\n".join(_describe(rule) for rule in missing)
        raise errors.forbidden_object(
            rt,
            name,
            f'user "{user.name}" (groups=[{groups}]) is attempting to grant RBAC permissions not currently held:\n{listed}',
        )


def _describe(rule: Rule) -> str:
    """A missing permission as kube-apiserver lists it: ``{APIGroups:[""], Resources:["pods"], Verbs:["list"]}``."""

    def q(values: Iterable[str]) -> str:
        return " ".join(f'"{v}"' for v in sorted(values))

    if rule.non_resource_urls:
        return f"{{NonResourceURLs:[{q(rule.non_resource_urls)}], Verbs:[{q(rule.verbs)}]}}"
    names = f", ResourceNames:[{q(rule.resource_names)}]" if rule.resource_names else ""
    return f"{{APIGroups:[{q(rule.api_groups)}], Resources:[{q(rule.resources)}]{names}, Verbs:[{q(rule.verbs)}]}}"
