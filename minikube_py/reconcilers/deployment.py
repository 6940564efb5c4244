"""The Deployment controller: one ReplicaSet per pod template, rolled from old to new.

Each pass over a Deployment claims its ReplicaSets (adopting matching orphans, releasing ones that
no longer match), finds the new one (same template, ignoring the hash label), then takes one step:
a resize only while paused or when ``spec.replicas`` changed, otherwise one step of the
RollingUpdate or Recreate strategy; finally it writes the status and the revision annotation in
one ``/status`` update, which (as in Kubernetes) does not bump the generation. The decisions come
from :mod:`minikube_py.model.rollout`; the pass itself only reads caches and writes their results.

What this controller wrote is remembered until its watches show it (:class:`Written`, over the
controllers' :class:`~minikube_py.reconcilers.base.OwnWrites`), so a pass that runs before the caches
catch up still sees its own writes and never repeats a step — the role client-go's expectations and
mutation cache play.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from minikube_py.client.errors import AlreadyExistsError, ConflictError, NotFoundError
from minikube_py.client.informer import Informer, object_key
from minikube_py.client.rest import ApiClient, Obj, resource_path
from minikube_py.model import rollout as ro
from minikube_py.model.podtemplate import controller_key, controller_of, controller_ref
from minikube_py.model.selectors import LabelSelector, label_selector_from_spec
from minikube_py.reconcilers.base import Controller, OwnWrites, index_discard

log = logging.getLogger(__name__)

API_VERSION = "apps/v1"
FINISHED_PHASES = ("Succeeded", "Failed")


class Written:
    """An informer's cache overlaid with the objects this controller wrote (:class:`OwnWrites`: each
    is shown until the informer holds that version or a newer one), with its keys indexed by
    namespace, so a pass looks at its own namespace's objects, not at every one in the cluster."""

    def __init__(self, informer: Informer) -> None:
        self._writes = OwnWrites(informer)  # (its handler runs first: a deletion has dropped the write)
        self._by_ns: dict[str, set[str]] = defaultdict(set)
        informer.add_handler(self._on_change)

    def note(self, obj: Obj) -> Obj:
        self._by_ns[obj["metadata"]["namespace"]].add(object_key(obj))
        return self._writes.wrote(object_key(obj), obj)

    def _on_change(self, old: Obj | None, new: Obj | None) -> None:
        obj = new or old or {}
        key, namespace = object_key(obj), obj["metadata"]["namespace"]
        if new is not None:
            self._by_ns[namespace].add(key)
        elif self._writes.get(key) is None:
            index_discard(self._by_ns, namespace, key)

    def get(self, key: str) -> Obj | None:
        return self._writes.get(key)

    def in_namespace(self, namespace: str) -> list[Obj]:
        return [obj for key in self._by_ns.get(namespace, ()) if (obj := self.get(key)) is not None]


@dataclass
class _Pass:
    """One reconciliation's working state: the Deployment as read, its ReplicaSets as they become
    after each write, and the status and annotations to write at the end."""

    deployment: Obj
    rollout: ro.Rollout
    replica_sets: dict[str, Obj]
    status: Obj
    annotations: dict[str, str]
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def name(self) -> str:
        return str(self.deployment["metadata"]["name"])

    @property
    def namespace(self) -> str:
        return str(self.deployment["metadata"]["namespace"])

    def view(self, name: str) -> ro.ReplicaSetView:
        return ro.ReplicaSetView.of(self.replica_sets[name])

    def views(self, *, without: str | None = None) -> list[ro.ReplicaSetView]:
        return [ro.ReplicaSetView.of(rs) for name, rs in self.replica_sets.items() if name != without]


class DeploymentController(Controller):
    name = "deployment"
    event_source = "deployment-controller"
    workers = 4

    def __init__(self, client: ApiClient) -> None:
        super().__init__(client)
        deployments = self.informer(resource_path(API_VERSION, "deployments"))
        replica_sets = self.informer(resource_path(API_VERSION, "replicasets"))
        self.pods = self.informer("/api/v1/pods", self._on_pod)
        self.deployments, self.replica_sets = Written(deployments), Written(replica_sets)
        deployments.add_handler(self.enqueue)
        replica_sets.add_handler(self._on_replica_set)
        #: ReplicaSet uid -> keys of the pods it controls (a Recreate rollout waits for them to go)
        self._pods_of: dict[str, set[str]] = defaultdict(set)

    # ------------------------------------------------------------------------------ triggers

    def _on_replica_set(self, old: Obj | None, new: Obj | None) -> None:
        for rs in (old, new):
            if rs is None:
                continue
            ref = controller_of(rs)
            if ref is not None:
                if ref.get("kind") == "Deployment":
                    self.queue.add(f"{rs['metadata']['namespace']}/{ref['name']}")
            elif rs is new:  # an orphan: whoever in its namespace selects it may adopt it
                for d in self.deployments.in_namespace(rs["metadata"]["namespace"]):
                    if _selector(d).matches(rs["metadata"].get("labels")):
                        self.queue.add(object_key(d))

    def _on_pod(self, old: Obj | None, new: Obj | None) -> None:
        """A Recreate rollout waits until the old pods are gone: their disappearance (or end)
        is its cue."""
        pod = new or old
        if pod is None:
            return
        key = object_key(pod)
        old_owner, new_owner = _replica_set_uid(old), _replica_set_uid(new)
        if old_owner and old_owner != new_owner:
            index_discard(self._pods_of, old_owner, key)
        if new_owner:
            self._pods_of[new_owner].add(key)
        if new is not None and (new.get("status") or {}).get("phase") not in FINISHED_PHASES:
            return
        rs_key = controller_key(pod, "ReplicaSet")
        deployment_key = controller_key(self.replica_sets.get(rs_key), "Deployment") if rs_key else None
        if deployment_key is not None:
            self.queue.add(deployment_key)

    # ------------------------------------------------------------------------------ reconciling

    async def reconcile(self, key: object) -> None:
        try:
            await self._reconcile(str(key))
        except ConflictError as exc:
            # Someone (the ReplicaSet controller, mostly, writing status) changed an object after
            # the cache copy this pass decided on; its watch event is on the way and brings the
            # Deployment back with fresh data, so there is nothing to retry now.
            log.debug("deployment %s: %s; waiting for the watch to catch up", key, exc)

    async def _reconcile(self, key: str) -> None:
        d = self.deployments.get(key)
        if d is None or d["metadata"].get("deletionTimestamp"):
            return  # the garbage collector removes the ReplicaSets along with it
        d = {**d, "apiVersion": API_VERSION, "kind": "Deployment"}
        selector = _selector(d)
        if selector.empty or selector.nothing:
            return  # validation forbids it; selecting everything would adopt foreign ReplicaSets
        owned = await self._claim(d, selector)
        p = _Pass(
            d,
            ro.Rollout.of(d),
            {rs["metadata"]["name"]: rs for rs in owned},
            copy.deepcopy(d.get("status") or {}),
            dict(d["metadata"].get("annotations") or {}),
        )
        ro.pause_condition(d, p.status, p.now)
        new = _find_new(d, owned)
        spec = d.get("spec") or {}
        if spec.get("paused") or ro.is_scaling_event(p.rollout, p.views()):
            if new is not None:
                await self._sync_revision(p, new)
            plan = ro.scaling_plan(p.rollout, p.view(new) if new else None, p.views(without=new), _status_replicas(d))
            await self._apply(p, plan)
            if spec.get("paused"):
                await self._clean_history(p, new)
            status = ro.replica_status(d, p.rollout, p.views(), p.view(new) if new else None, p.status, p.now)
        else:
            status = await self._roll(p, new)
        await self._write_status(p, status)
        recheck = ro.recheck_after(d, status, p.now)
        if recheck is not None:
            self.queue.add_after(key, recheck)

    async def _roll(self, p: _Pass, new_name: str | None) -> Obj:
        """One rollout step; the ReplicaSet of a changed template is created as the strategy
        allows (at once for RollingUpdate, after the old pods are gone for Recreate)."""
        r = p.rollout
        if new_name is not None:
            await self._sync_revision(p, new_name)
            new = p.view(new_name)
        else:
            new = ro.ReplicaSetView(f"{p.name}-{_hash(p)}", 0, exists=False)
        old = p.views(without=new.name)
        if r.recreate:
            plan = ro.recreate_step(r, new, old, self._old_pods_running(p, new_name))
            if not new.exists and new.name in plan:
                new_name = await self._create_new(p, plan.pop(new.name))
        else:
            if not new.exists:
                new_name = await self._create_new(p, ro.new_replica_count(r, [new, *old], new))
                if new_name is None:
                    return p.status  # a hash collision: the status write brings the next pass
                new = p.view(new_name)
            plan = ro.rolling_step(r, new, old)
        await self._apply(p, plan)
        if not plan and ro.complete(p.deployment, p.deployment.get("status") or {}):
            await self._clean_history(p, new_name)
        return ro.rollout_status(p.deployment, r, p.views(), p.view(new_name) if new_name else None, p.status, p.now)

    async def _claim(self, d: Obj, selector: LabelSelector) -> list[Obj]:
        """The Deployment's ReplicaSets: those it controls and its selector matches, plus matching
        orphans it adopts; ones it controls that stopped matching are released."""
        md = d["metadata"]
        owned = []
        for rs in self.replica_sets.in_namespace(md["namespace"]):
            rs_md = rs["metadata"]
            ref = controller_of(rs)
            matches = selector.matches(rs_md.get("labels"))
            refs = rs_md.get("ownerReferences") or []
            if ref is None and matches and not rs_md.get("deletionTimestamp"):
                owned.append(await self._owners(rs, [*refs, controller_ref(d)]))
            elif ref is not None and ref.get("uid") == md["uid"]:
                if matches:
                    owned.append(rs)
                elif not rs_md.get("deletionTimestamp"):
                    await self._owners(rs, [r for r in refs if r.get("uid") != md["uid"]])
        return owned

    async def _owners(self, rs: Obj, refs: list[Obj]) -> Obj:
        md = rs["metadata"]
        return self.replica_sets.note(
            await self.client.patch(
                _rs_path(md["namespace"], md["name"]),
                {"metadata": {"ownerReferences": refs or None, "resourceVersion": md["resourceVersion"]}},
            )
        )

    async def _sync_revision(self, p: _Pass, new_name: str) -> None:
        """Give the new ReplicaSet the Deployment's annotations and the next revision (a
        ReplicaSet rolled back to gets a new number), and the Deployment that revision."""
        rs = p.replica_sets[new_name]
        md = rs["metadata"]
        current = md.get("annotations") or {}
        revision = ro.max_revision(p.views(without=new_name)) + 1
        wanted = ro.new_replica_set_annotations(p.deployment["metadata"].get("annotations") or {}, current, revision)
        min_ready = (p.deployment.get("spec") or {}).get("minReadySeconds") or 0
        if wanted != current or ((rs.get("spec") or {}).get("minReadySeconds") or 0) != min_ready:
            changed = {k: v for k, v in wanted.items() if current.get(k) != v}
            rs = self.replica_sets.note(
                await self.client.patch(
                    _rs_path(md["namespace"], md["name"]),
                    {
                        "metadata": {"annotations": changed, "resourceVersion": md["resourceVersion"]},
                        "spec": {"minReadySeconds": min_ready},
                    },
                )
            )
            p.replica_sets[new_name] = rs
        if ro.REVISION in wanted:
            p.annotations[ro.REVISION] = wanted[ro.REVISION]
        if ro.progress_deadline(p.deployment) is not None and ro.get_condition(p.status, "Progressing") is None:
            ro.set_condition(
                p.status,
                ro.condition("Progressing", "True", ro.FOUND_NEW_RS, f'Found new replica set "{new_name}"', p.now),
            )

    async def _create_new(self, p: _Pass, replicas: int) -> str | None:
        """Create the ReplicaSet of the Deployment's template; None after a hash collision with a
        ReplicaSet that is not ours (collisionCount goes up, so the next name differs)."""
        d = p.deployment
        template = copy.deepcopy(d["spec"]["template"])
        pod_hash = _hash(p)
        template.setdefault("metadata", {})["labels"] = {
            **(template["metadata"].get("labels") or {}),
            ro.HASH_LABEL: pod_hash,
        }
        selector = copy.deepcopy(d["spec"]["selector"])
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), ro.HASH_LABEL: pod_hash}
        revision = ro.max_revision(p.views()) + 1
        annotations = {
            **ro.new_replica_set_annotations(d["metadata"].get("annotations") or {}, {}, revision),
            **p.rollout.replica_annotations(),
        }
        name = f"{p.name}-{pod_hash}"
        rs = {
            "apiVersion": API_VERSION,
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": p.namespace,
                "labels": template["metadata"]["labels"],
                "annotations": annotations,
                "ownerReferences": [controller_ref(d)],
            },
            "spec": {
                "replicas": replicas,
                "minReadySeconds": d["spec"].get("minReadySeconds") or 0,
                "selector": selector,
                "template": template,
            },
        }
        try:
            created = await self.client.create(_rs_path(p.namespace), rs)
        except AlreadyExistsError:
            live = await self.client.get(_rs_path(p.namespace, name))
            ref = controller_of(live)
            if (
                ref is None
                or ref.get("uid") != d["metadata"]["uid"]
                or not ro.equal_ignore_hash(live["spec"]["template"], d["spec"]["template"])
            ):
                p.status["collisionCount"] = int(p.status.get("collisionCount") or 0) + 1
                log.info("deployment %s/%s: hash collision with %s", p.namespace, p.name, name)
                return None
            p.replica_sets[name] = self.replica_sets.note(live)
            return name
        p.replica_sets[name] = self.replica_sets.note(created)
        if replicas > 0:
            await self.events.record(
                d, "Normal", "ScalingReplicaSet", f"Scaled up replica set {name} from 0 to {replicas}"
            )
        p.annotations[ro.REVISION] = str(revision)
        if ro.progress_deadline(d) is not None:
            ro.set_condition(
                p.status,
                ro.condition("Progressing", "True", ro.NEW_RS_CREATED, f'Created new replica set "{name}"', p.now),
            )
        return name

    async def _apply(self, p: _Pass, plan: ro.Plan) -> None:
        """Scale the ReplicaSets as planned, stamping each with the size it was scaled for."""
        stamp = p.rollout.replica_annotations()
        for name, target in plan.items():
            rs = p.replica_sets[name]
            md = rs["metadata"]
            before = int((rs.get("spec") or {}).get("replicas", 1))
            annotations = md.get("annotations") or {}
            if before == target and all(annotations.get(k) == v for k, v in stamp.items()):
                continue
            p.replica_sets[name] = self.replica_sets.note(
                await self.client.patch(
                    _rs_path(p.namespace, name),
                    {
                        "metadata": {"annotations": stamp, "resourceVersion": md["resourceVersion"]},
                        "spec": {"replicas": target},
                    },
                )
            )
            if before != target:
                direction = "up" if target > before else "down"
                await self.events.record(
                    p.deployment,
                    "Normal",
                    "ScalingReplicaSet",
                    f"Scaled {direction} replica set {name} from {before} to {target}",
                )

    async def _clean_history(self, p: _Pass, new_name: str | None) -> None:
        limit = (p.deployment.get("spec") or {}).get("revisionHistoryLimit")
        for name in ro.history_to_delete(p.views(without=new_name), limit):
            with contextlib.suppress(NotFoundError):
                await self.client.delete(_rs_path(p.namespace, name))
            del p.replica_sets[name]

    def _old_pods_running(self, p: _Pass, new_name: str | None) -> bool:
        old = [rs for name, rs in p.replica_sets.items() if name != new_name]
        if any(int((rs.get("status") or {}).get("replicas") or 0) > 0 for rs in old):
            return True
        for rs in old:
            uid = rs["metadata"]["uid"]
            for key in self._pods_of.get(uid, ()):
                pod = self.pods.get(key)
                if (
                    pod is not None
                    and (controller_of(pod) or {}).get("uid") == uid
                    and (pod.get("status") or {}).get("phase") not in FINISHED_PHASES
                ):
                    return True
        return False

    async def _write_status(self, p: _Pass, status: Obj) -> None:
        d = p.deployment
        if status == (d.get("status") or {}) and p.annotations == (d["metadata"].get("annotations") or {}):
            return
        body = {**d, "metadata": {**d["metadata"], "annotations": p.annotations or None}, "status": status}
        md = d["metadata"]
        with contextlib.suppress(NotFoundError):
            self.deployments.note(
                await self.client.replace(
                    resource_path(API_VERSION, "deployments", md["namespace"], md["name"], "status"), body
                )
            )


def _replica_set_uid(pod: Obj | None) -> str | None:
    """The uid of the ReplicaSet controlling the pod, if a ReplicaSet does."""
    ref = controller_of(pod, "ReplicaSet")
    return None if ref is None else str(ref.get("uid") or "") or None


def _selector(d: Obj) -> LabelSelector:
    try:
        return label_selector_from_spec((d.get("spec") or {}).get("selector"))
    except ValueError:
        return LabelSelector(nothing=True)


def _find_new(d: Obj, owned: list[Obj]) -> str | None:
    """The oldest ReplicaSet with the Deployment's template (there is normally one)."""
    template = (d.get("spec") or {}).get("template") or {}
    for rs in sorted(owned, key=lambda rs: (rs["metadata"].get("creationTimestamp") or "", rs["metadata"]["name"])):
        if ro.equal_ignore_hash((rs.get("spec") or {}).get("template") or {}, template):
            return str(rs["metadata"]["name"])
    return None


def _hash(p: _Pass) -> str:
    return ro.template_hash(p.deployment["spec"].get("template") or {}, p.status.get("collisionCount"))


def _status_replicas(d: Obj) -> int:
    return int((d.get("status") or {}).get("replicas") or 0)


def _rs_path(namespace: str, name: str | None = None) -> str:
    return resource_path(API_VERSION, "replicasets", namespace, name)
