"""Kubernetes' PodSecurity admission: the Pod Security Standard a namespace's
``pod-security.kubernetes.io/`` labels choose, applied to the pods created in it and to the pod
templates of its workloads (the checks are :mod:`minikube_py.model.podsecurity`'s).

- ``enforce``: a pod that breaks the level is refused, 403 Forbidden (``pods "x" is forbidden:
  violates PodSecurity "restricted:latest": ...``); so is adding an ephemeral container that breaks it.
- ``warn``: the same findings as a ``Warning`` (``would violate PodSecurity ...``), the write admitted;
  for workloads (Deployments, Jobs...) only this level is applied, since their pods meet ``enforce``
  when their controller creates them.
- ``audit``: the findings are recorded in the request's audit events, as the annotation
  ``pod-security.kubernetes.io/audit-violations`` (a pod's events also name the enforced policy, in
  ``pod-security.kubernetes.io/enforce-policy``), when the server keeps an audit log.

A pod update is looked at only when it changes more than images, deadlines and tolerations (in
practice: ephemeral containers); a workload update only when its template changes.

A namespace's PodSecurity labels must name a level and version (422 otherwise, when they change);
labelling it with a stricter ``enforce`` level warns which of its pods that level would refuse.
"""

from __future__ import annotations

import orjson

from minikube_py.api import notes
from minikube_py.model import errors
from minikube_py.model import podsecurity as ps
from minikube_py.model.kinds import ResourceType, by_plural
from minikube_py.store.base import KeyNotFound, Obj, Store

_NAMESPACES = by_plural("", "v1", "namespaces")
_PODS = by_plural("", "v1", "pods")


async def _policy(namespace: str, store: Store) -> ps.NamespacePolicy | None:
    """The namespace's policy, or None when it has no PodSecurity label (most): the stored text tells
    that without decoding it."""
    assert _NAMESPACES is not None
    try:
        text = await store.get_text(_NAMESPACES.key(None, namespace))
    except KeyNotFound:
        return None
    if ps.LABEL_PREFIX not in text:
        return None
    return ps.namespace_policy(orjson.loads(text)["metadata"].get("labels"))


async def admit(rt: ResourceType, obj: Obj, old: Obj | None, store: Store) -> None:
    """Raise 403 for a pod the namespace's ``enforce`` level refuses; add the ``warn`` level's
    warnings for a pod or a workload's template."""
    if rt.group == "" and rt.kind == "Pod":
        if old is not None and not ps.significant_update(obj, old):
            return
        policy = await _policy(obj["metadata"].get("namespace") or "", store)
        if policy is None:
            return
        decision = ps.admit_pod(policy, obj.get("metadata"), obj.get("spec"))
    else:
        template = ps.pod_template(rt.group, rt.kind, obj)
        if template is None or (old is not None and ps.pod_template(rt.group, rt.kind, old) == template):
            return
        policy = await _policy(obj["metadata"].get("namespace") or "", store)
        if policy is None:
            return
        decision = ps.admit_template(policy, template)
    notes.warn(*decision.warnings)
    for key, value in decision.audit:
        notes.annotate(key, value)
    if decision.refusal is not None:
        raise errors.forbidden_object(rt, obj["metadata"].get("name", ""), decision.refusal)


async def admit_namespace(rt: ResourceType, obj: Obj, old: Obj | None, store: Store) -> None:
    """422 for PodSecurity labels that name no level or version (when they change); the warnings of
    a stricter ``enforce`` level about the namespace's pods."""
    labels = obj["metadata"].get("labels")
    old_labels = (old or {}).get("metadata", {}).get("labels")
    if old is not None and ps.policy_labels(labels) == ps.policy_labels(old_labels):
        return
    problems = ps.label_errors(labels)
    if problems:
        raise errors.invalid_by_admission(rt, obj["metadata"].get("name", ""), problems)
    if old is None:
        return
    enforce = ps.namespace_policy(labels).enforce
    if not ps.stricter(enforce, ps.namespace_policy(old_labels).enforce):
        return
    assert _PODS is not None
    name = obj["metadata"]["name"]
    pods = (await store.list(_PODS.prefix(name))).items
    notes.warn(*ps.existing_pod_warnings(name, enforce, pods))
