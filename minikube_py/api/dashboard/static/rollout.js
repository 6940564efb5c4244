// Rollout history and undo as kubectl does them (`kubectl rollout history|undo`), read from the objects the
// controllers keep: a Deployment's ReplicaSets numbered by their revision annotation, a DaemonSet's or
// StatefulSet's ControllerRevisions numbered by their `revision` field.
import { api, resourcePath, watchCollection } from "./api.js";
import { KINDS } from "./kinds.js";

const REVISION = "deployment.kubernetes.io/revision";
const CHANGE_CAUSE = "kubernetes.io/change-cause";
const HASH_LABEL = "pod-template-hash";
// Deployment annotations about the Deployment itself: an undo keeps the Deployment's own values and
// never takes the ReplicaSet's (kubectl's list)
const DEPLOYMENT_OWN = new Set(["kubectl.kubernetes.io/last-applied-configuration", REVISION,
  "deployment.kubernetes.io/revision-history", "deployment.kubernetes.io/desired-replicas",
  "deployment.kubernetes.io/max-replicas", "deprecated.deployment.rollback.to"]);

/** The kinds with a history, and the kind of object that holds it. */
export const HISTORY_OF = { Deployment: "ReplicaSet", DaemonSet: "ControllerRevision", StatefulSet: "ControllerRevision" };

function controlledBy(obj, owner) {
  return (obj.metadata.ownerReferences || []).some((ref) => ref.controller && ref.uid === owner.metadata.uid);
}

function templateOf(holder) {
  if (holder.data) { // a ControllerRevision (list items carry no kind)
    const { $patch, ...template } = holder.data?.spec?.template || {};
    return template;
  }
  return holder.spec?.template || {};
}

/**
 * The revisions of `owner` held by `holders` (its namespace's ReplicaSets or ControllerRevisions), oldest
 * first: [{number, changeCause, images, created, holder, current}]. The newest is the current one, as
 * kubectl counts (an undo makes the restored revision the newest).
 */
export function revisions(owner, holders) {
  const list = holders.filter((h) => controlledBy(h, owner)).map((holder) => {
    const number = owner.kind === "Deployment" ? Number(holder.metadata.annotations?.[REVISION] || 0) : Number(holder.revision || 0);
    const spec = templateOf(holder).spec || {};
    return {
      number,
      changeCause: holder.metadata.annotations?.[CHANGE_CAUSE] || "",
      images: [...(spec.initContainers || []), ...(spec.containers || [])].map((c) => c.image),
      created: holder.metadata.creationTimestamp,
      holder,
      current: false,
    };
  }).filter((r) => r.number > 0).sort((a, b) => a.number - b.number);
  if (list.length) list[list.length - 1].current = true;
  return list;
}

/** The revision an undo to `number` restores (0: the one before the current, as `kubectl rollout undo`
 *  without --to-revision); throws the message kubectl gives when there is none. */
export function target(history, number = 0) {
  if (number) {
    const found = history.find((r) => r.number === number);
    if (!found) throw new Error(`unable to find specified revision ${number} in history`);
    return found;
  }
  if (history.length < 2) throw new Error("no rollout history found");
  return history[history.length - 2];
}

/** The request that rolls `owner` back to `revision`: [contentType, body]. A Deployment gets its
 *  template back from the ReplicaSet (less the pod-template-hash label) and the ReplicaSet's
 *  annotations (its change-cause) beside its own; a DaemonSet or StatefulSet gets the revision's data,
 *  which is a strategic merge patch. */
export function undoPatch(owner, revision) {
  if (owner.kind !== "Deployment") return ["application/strategic-merge-patch+json", revision.holder.data];
  const template = structuredClone(revision.holder.spec.template);
  if (template.metadata?.labels) delete template.metadata.labels[HASH_LABEL];
  const annotations = {};
  for (const [key, value] of Object.entries(owner.metadata.annotations || {})) if (DEPLOYMENT_OWN.has(key)) annotations[key] = value;
  for (const [key, value] of Object.entries(revision.holder.metadata.annotations || {})) if (!DEPLOYMENT_OWN.has(key)) annotations[key] = value;
  return ["application/json-patch+json", [
    { op: "replace", path: "/spec/template", value: template },
    { op: "add", path: "/metadata/annotations", value: annotations },
  ]];
}

/** Roll `owner` back to revision `number` (0: the previous one), refusing what kubectl refuses. */
export async function undo(owner, history, number = 0) {
  if (owner.kind === "Deployment" && owner.spec?.paused) {
    throw new Error("you cannot rollback a paused deployment; resume it first and try again");
  }
  const revision = target(history, number);
  if (revision.current) throw new Error(`skipped rollback (current template already matches revision ${revision.number})`);
  const [contentType, body] = undoPatch(owner, revision);
  const kind = KINDS[owner.kind];
  return api("PATCH", resourcePath(kind, owner.metadata.namespace, owner.metadata.name), { body, contentType });
}

/** Keep `onChange(history)` current for `owner` by watching its namespace's history objects. */
export function followHistory(owner, onChange, onError) {
  const kind = KINDS[HISTORY_OF[owner.kind]];
  return watchCollection(resourcePath(kind, owner.metadata.namespace),
    (items) => onChange(revisions(owner, [...items.values()])), onError);
}
