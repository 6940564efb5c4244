"""StatefulSet decisions as pure functions, following Kubernetes' StatefulSet controller.

A StatefulSet's pods have identities: ordinal N of set ``web`` is always pod ``web-N`` (hostname
``web-N`` in subdomain ``<serviceName>``), with claims ``<template>-web-N`` made from the
``volumeClaimTemplates`` before the pod and kept when it goes, so a pod that comes back (deleted,
failed, scaled away and back) gets the same name and the same storage.

Under ``OrderedReady`` pods are created one at a time in ordinal order, each waiting for every lower
one to be Running and Ready (for ``minReadySeconds``), and removed from the highest ordinal down, one
at a time, while all others are; ``Parallel`` creates and removes without waiting. A template change rolls out
(``RollingUpdate``) from the highest ordinal down to ``partition``, one pod at a time, each replaced
pod Ready before the next goes; ``OnDelete`` only gives the new template to pods that are recreated.

Pods carry the name of their template's ControllerRevision in ``controller-revision-hash``; the
status reports the current revision (what the pods below the partition run) and the update revision
(the template now), which become equal when a rolling update completes.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from minikube_py.model.podtemplate import pod_from_template
from minikube_py.model.replication import is_available, is_ready, next_available_in

Obj = dict[str, Any]

REVISION_LABEL = "controller-revision-hash"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"

_ORDINAL_RE = re.compile(r"^(.*)-(0|[1-9][0-9]*)$")


def _spec(sts: Obj) -> Obj:
    return sts.get("spec") or {}


def replicas(sts: Obj) -> int:
    value = _spec(sts).get("replicas")
    return 1 if value is None else int(value)


def first_ordinal(sts: Obj) -> int:
    return int((_spec(sts).get("ordinals") or {}).get("start") or 0)


def pod_name(sts: Obj, ordinal: int) -> str:
    return f"{sts['metadata']['name']}-{ordinal}"


def ordinal_of(sts: Obj, pod: Obj) -> int | None:
    """The ordinal in a pod's name when the name is ``<set>-<ordinal>``, else None (not one of its
    identities: such a pod is left alone)."""
    match = _ORDINAL_RE.match(pod["metadata"]["name"])
    if match is None or match.group(1) != sts["metadata"]["name"]:
        return None
    return int(match.group(2))


def members(sts: Obj, pods: list[Obj]) -> list[Obj]:
    """The pods that may be the set's: those named as its ordinals (Kubernetes' ``isMemberOf``), so
    that a set adopts the orphans of a namesake deleted with ``--cascade=orphan`` and nothing else."""
    return [p for p in pods if ordinal_of(sts, p) is not None]


def claim_name(template_name: str, sts: Obj, ordinal: int) -> str:
    return f"{template_name}-{pod_name(sts, ordinal)}"


def _retention(sts: Obj, when: str) -> str:
    return str((_spec(sts).get("persistentVolumeClaimRetentionPolicy") or {}).get(when) or "Retain")


def _claim_templates(sts: Obj) -> list[Obj]:
    return [t for t in _spec(sts).get("volumeClaimTemplates") or [] if isinstance(t, dict)]


def claims_for(sts: Obj, ordinal: int) -> list[Obj]:
    """The claims pod ``ordinal`` uses, to create when absent: each template's spec, its labels plus
    the set's selector labels, and an owner reference to the set only when ``whenDeleted: Delete``
    (so the garbage collector removes them with it; otherwise they outlive the set, as their data)."""
    selector_labels = (_spec(sts).get("selector") or {}).get("matchLabels") or {}
    claims = []
    for template in _claim_templates(sts):
        tmd = template.get("metadata") or {}
        md: Obj = {
            "name": claim_name(tmd.get("name", ""), sts, ordinal),
            "namespace": sts["metadata"]["namespace"],
            "labels": {**(tmd.get("labels") or {}), **selector_labels},
        }
        if tmd.get("annotations"):
            md["annotations"] = dict(tmd["annotations"])
        if _retention(sts, "whenDeleted") == "Delete":
            md["ownerReferences"] = [_ref(sts, sts.get("apiVersion", "apps/v1"), "StatefulSet")]
        claims.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": md,
                "spec": copy.deepcopy(template.get("spec") or {}),
            }
        )
    return claims


def _ref(obj: Obj, api_version: str, kind: str) -> Obj:
    md = obj["metadata"]
    return {"apiVersion": api_version, "kind": kind, "name": md["name"], "uid": md["uid"]}


def claim_owners(sts: Obj, pod: Obj, claim: Obj) -> list[Obj] | None:
    """The ownerReferences a pod's claim should carry under the set's
    ``persistentVolumeClaimRetentionPolicy``, or None when it already does (Kubernetes'
    ``updateClaimOwnerRefForSetAndPod``): the set owns it under ``whenDeleted: Delete`` (the garbage
    collector removes it with the set) unless the pod is being scaled away under ``whenScaled:
    Delete``, in which case the pod alone owns it (it goes once the pod is gone). Other owners stay."""
    ordinal = ordinal_of(sts, pod)
    scaled_down = ordinal is None or not first_ordinal(sts) <= ordinal < first_ordinal(sts) + replicas(sts)
    by_pod = _retention(sts, "whenScaled") == "Delete" and scaled_down
    by_set = _retention(sts, "whenDeleted") == "Delete" and not by_pod
    mine = {sts["metadata"]["uid"], pod["metadata"]["uid"]}
    current = claim["metadata"].get("ownerReferences") or []
    wanted = [r for r in current if r.get("uid") not in mine]
    wanted += [_ref(sts, sts.get("apiVersion", "apps/v1"), "StatefulSet")] if by_set else []
    wanted += [_ref(pod, "v1", "Pod")] if by_pod else []
    if sorted(r.get("uid", "") for r in wanted) == sorted(r.get("uid", "") for r in current):
        return None
    return wanted


def claim_names(sts: Obj, ordinal: int) -> list[str]:
    return [claim_name((t.get("metadata") or {}).get("name", ""), sts, ordinal) for t in _claim_templates(sts)]


def new_pod(sts: Obj, template: Obj, revision_name: str, ordinal: int) -> Obj:
    """Pod ``ordinal`` made from ``template`` (the revision's): its fixed name and identity labels,
    hostname and subdomain, and a ``persistentVolumeClaim`` volume per claim template in place of
    any template volume of that name."""
    name = pod_name(sts, ordinal)
    pod = pod_from_template(
        sts, template, extra_labels={REVISION_LABEL: revision_name, POD_NAME_LABEL: name, POD_INDEX_LABEL: str(ordinal)}
    )
    md = pod["metadata"]
    del md["generateName"]
    md["name"] = name
    spec = pod["spec"]
    spec["hostname"] = name
    if _spec(sts).get("serviceName"):
        spec["subdomain"] = _spec(sts)["serviceName"]
    claims = dict(
        zip(
            ((t.get("metadata") or {}).get("name", "") for t in _claim_templates(sts)),
            claim_names(sts, ordinal),
            strict=True,
        )
    )
    if claims:
        volumes = [v for v in spec.get("volumes") or [] if v.get("name") not in claims]
        volumes += [{"name": volume, "persistentVolumeClaim": {"claimName": claim}} for volume, claim in claims.items()]
        spec["volumes"] = volumes
    return pod


# ------------------------------------------------------------------------------ the sync


def revision_of(pod: Obj) -> str:
    return str((pod["metadata"].get("labels") or {}).get(REVISION_LABEL, ""))


def _terminating(pod: Obj) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))


def _phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def finished(pod: Obj) -> bool:
    """A pod the kubelet will not run again (restartPolicy Always never finishes on its own, but an
    eviction or node failure can): it is deleted and recreated."""
    return _phase(pod) in ("Failed", "Succeeded")


def _healthy(pod: Obj) -> bool:
    return not _terminating(pod) and _phase(pod) == "Running" and is_ready(pod)


@dataclass
class StatefulStep:
    """One sync: ordinals to create (each with the revision it gets), pods to delete, ordinals of
    pending pods (whose claims are made again if someone deleted them: the pod cannot start
    without), the status, and when to look again."""

    create: list[tuple[int, str]] = field(default_factory=list)
    delete: list[Obj] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)
    status: Obj = field(default_factory=dict)
    requeue_after: float | None = None


def plan_statefulset(
    sts: Obj,
    pods: list[Obj],
    current_revision: str,
    update_revision: str,
    now: datetime,
    *,
    expectations_met: bool = True,
) -> StatefulStep:
    """One sync of a StatefulSet whose own pods are ``pods``, whose template's revision is
    ``update_revision`` and whose pods below the partition keep ``current_revision``.

    While ``expectations_met`` is False (earlier creates or deletes not yet in the cache) only the
    status is computed."""
    spec = _spec(sts)
    start, count = first_ordinal(sts), replicas(sts)
    monotonic = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
    strategy = spec.get("updateStrategy") or {}
    rolling = (strategy.get("type") or "RollingUpdate") == "RollingUpdate"
    partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0) if rolling else 0
    min_ready = int(spec.get("minReadySeconds") or 0)

    by_ordinal: dict[int, Obj] = {}
    for pod in pods:
        ordinal = ordinal_of(sts, pod)
        if ordinal is not None:
            by_ordinal[ordinal] = pod
    wanted = range(start, start + count)
    condemned = sorted((o for o in by_ordinal if o not in wanted), reverse=True)
    step = StatefulStep()
    step.status = _status(sts, list(by_ordinal.values()), current_revision, update_revision, min_ready, now)
    step.requeue_after = next_available_in(list(by_ordinal.values()), min_ready, now)
    if not expectations_met:
        return step

    def settled(pod: Obj) -> bool:
        """Running, Ready and available for ``minReadySeconds``: what the next step waits for."""
        return _healthy(pod) and is_available(pod, min_ready, now)

    sync = _Sync(step, by_ordinal, wanted, monotonic, settled)
    if _scale_up(sync, partition, current_revision, update_revision):
        return step
    if _scale_down(sync, condemned):
        return step
    if rolling:
        _roll(sync, max(partition, start), update_revision)
    return step


@dataclass(frozen=True)
class _Sync:
    """What the phases of one sync share: the step they add to, the pods by ordinal, the ordinals
    wanted, whether pods go one at a time (OrderedReady, ``monotonic``) and what a pod must be before
    the next one is touched (``settled``)."""

    step: StatefulStep
    by_ordinal: dict[int, Obj]
    wanted: range
    monotonic: bool
    settled: Callable[[Obj], bool]


def _scale_up(sync: _Sync, partition: int, current_revision: str, update_revision: str) -> bool:
    """Create the missing ordinals (below the partition, 0 unless rolling, at the current revision)
    and replace finished pods, lowest first; under OrderedReady stop at the first pod that has not
    settled. Returns whether the sync must wait."""
    for ordinal in sync.wanted:
        pod = sync.by_ordinal.get(ordinal)
        if pod is None:
            sync.step.create.append((ordinal, current_revision if ordinal < partition else update_revision))
        elif finished(pod) and not _terminating(pod):
            sync.step.delete.append(pod)  # comes back under the same name once it is gone
        elif _phase(pod) == "Pending" and not _terminating(pod):
            sync.step.pending.append(ordinal)
        if sync.monotonic and (pod is None or not sync.settled(pod)):
            return True
    return False


def _scale_down(sync: _Sync, condemned: list[int]) -> bool:
    """Remove pods beyond the replicas, highest ordinal first: all at once under Parallel, else one
    at a time and only while every other pod is healthy. Returns whether the sync must wait."""
    for ordinal in condemned:
        pod = sync.by_ordinal[ordinal]
        if _terminating(pod):
            if sync.monotonic:
                return True
            continue
        if sync.monotonic and any(not sync.settled(p) for o, p in sync.by_ordinal.items() if o != ordinal):
            return True
        sync.step.delete.append(pod)
        if sync.monotonic:
            return True
    return False


def _roll(sync: _Sync, lowest: int, update_revision: str) -> None:
    """Replace one outdated pod, from the highest ordinal down to ``lowest`` (the partition),
    waiting while a pod already in that range is missing or not healthy."""
    step, settled = sync.step, sync.settled
    for ordinal in reversed(sync.wanted):
        if ordinal < lowest:
            return
        pod = sync.by_ordinal.get(ordinal)
        if pod is None or pod in step.delete:
            return
        if revision_of(pod) != update_revision and not _terminating(pod):
            step.delete.append(pod)
            return
        if not settled(pod):
            return


def _status(
    sts: Obj, pods: list[Obj], current_revision: str, update_revision: str, min_ready: int, now: datetime
) -> Obj:
    """``status`` as Kubernetes counts it; once every pod runs the update revision and is ready,
    the update revision becomes the current one (a finished rolling update)."""
    status: Obj = {
        "observedGeneration": sts["metadata"].get("generation", 1),
        "replicas": len(pods),
        "readyReplicas": 0,
        "currentReplicas": 0,
        "updatedReplicas": 0,
        "availableReplicas": 0,
        "currentRevision": current_revision,
        "updateRevision": update_revision,
        "collisionCount": int((sts.get("status") or {}).get("collisionCount") or 0),
    }
    for pod in pods:
        if _healthy(pod):
            status["readyReplicas"] += 1
            if is_available(pod, min_ready, now):
                status["availableReplicas"] += 1
        if not _terminating(pod):
            status["currentReplicas"] += 1 if revision_of(pod) == current_revision else 0
            status["updatedReplicas"] += 1 if revision_of(pod) == update_revision else 0
    rolling = ((_spec(sts).get("updateStrategy") or {}).get("type") or "RollingUpdate") == "RollingUpdate"
    if rolling and status["updatedReplicas"] == status["readyReplicas"] == status["replicas"]:
        status["currentReplicas"], status["currentRevision"] = status["updatedReplicas"], update_revision
    conditions = (sts.get("status") or {}).get("conditions")
    if conditions:
        status["conditions"] = conditions
    return status
