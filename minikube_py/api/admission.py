"""The namespace's admission plugins that read other objects: LimitRange (defaults and bounds for
new pods) and ResourceQuota (what every new or growing object is charged).

They run as steps of the kind's strategy (:meth:`~minikube_py.api.strategies.base.Strategy.admission`),
after the object is valid, and answer as kube-apiserver's plugins do: 403 Forbidden with the
plugin's message. A quota charge is a store write, ``status.used`` raised by what the object adds,
conditional on the quota's revision and committed in one transaction with the object: two creates
racing for the last unit of a quota cannot both commit, and the loser is admitted again against the
quota as the winner left it (so it is refused with Kubernetes' message, or fits after all).
"""

from __future__ import annotations

from datetime import UTC, datetime

from minikube_py.model import errors, limitranges, quota
from minikube_py.model.kinds import ResourceType, by_plural
from minikube_py.store.base import Obj, Op, Store, Update, revision_of

RESOURCE_QUOTAS = by_plural("", "v1", "resourcequotas")
LIMIT_RANGES = by_plural("", "v1", "limitranges")


async def _in_namespace(store: Store, rt: ResourceType | None, namespace: str) -> list[Obj]:
    """The objects of ``rt`` in ``namespace``. Most namespaces have no quota or limit range, and every
    create asks for both: the store's key count (two bisections of its cache) answers that case
    without listing and decoding anything."""
    assert rt is not None
    prefix = rt.prefix(namespace)
    if not store.count(prefix):
        return []
    return (await store.list(prefix)).items


async def charge_quota(rt: ResourceType, obj: Obj, old: Obj | None, store: Store) -> list[Op]:
    """The quota writes that go with ``obj``'s; 403 when it would exceed a quota of its namespace.
    An update that adds no usage (a pod's status, a label) reads no quota."""
    namespace = obj["metadata"].get("namespace") or ""
    now = datetime.now(UTC)
    if old is not None and not quota.added_usage(rt, obj, old, now):
        return []
    quotas = await _in_namespace(store, RESOURCE_QUOTAS, namespace)
    if not quotas:
        return []
    try:
        charges = quota.charge(quotas, rt, obj, old, now)
    except quota.QuotaRefused as refused:
        raise errors.forbidden_object(rt, obj["metadata"].get("name", ""), str(refused)) from None
    assert RESOURCE_QUOTAS is not None
    return [
        Update(RESOURCE_QUOTAS.key(namespace, c.quota["metadata"]["name"]), c.quota, revision_of(c.quota))
        for c in charges
    ]


async def limit_ranges(namespace: str, store: Store) -> list[Obj]:
    """The LimitRanges of ``namespace`` (usually none)."""
    return await _in_namespace(store, LIMIT_RANGES, namespace)


def check_limits(rt: ResourceType, pod: Obj, ranges: list[Obj]) -> None:
    """LimitRanger's validation: 403 with Kubernetes' message for a pod that breaks a bound."""
    problems = limitranges.violations(ranges, pod)
    if problems:
        raise errors.forbidden_object(rt, pod["metadata"].get("name", ""), limitranges.refusal(problems))
