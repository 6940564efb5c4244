// The kinds whose lists the pages read through resourcePath(), with where they live in the API.

export const KINDS = {
  Service: { group: "", version: "v1", plural: "services", namespaced: true },
  Endpoints: { group: "", version: "v1", plural: "endpoints", namespaced: true },
  ReplicationController: { group: "", version: "v1", plural: "replicationcontrollers", namespaced: true },
  Deployment: { group: "apps", version: "v1", plural: "deployments", namespaced: true },
  ReplicaSet: { group: "apps", version: "v1", plural: "replicasets", namespaced: true },
  DaemonSet: { group: "apps", version: "v1", plural: "daemonsets", namespaced: true },
  StatefulSet: { group: "apps", version: "v1", plural: "statefulsets", namespaced: true },
  ControllerRevision: { group: "apps", version: "v1", plural: "controllerrevisions", namespaced: true },
  Job: { group: "batch", version: "v1", plural: "jobs", namespaced: true },
};

/** The workloads page's sections: how each kind counts ready pods, and what it can do (`history`: a
 *  rollout history with undo). */
export const WORKLOADS = [
  { kind: "Deployment", ready: (o) => [o.status?.readyReplicas || 0, o.spec?.replicas ?? 1], scale: true, restart: true, history: true },
  { kind: "ReplicaSet", ready: (o) => [o.status?.readyReplicas || 0, o.spec?.replicas ?? 1], scale: true },
  { kind: "ReplicationController", ready: (o) => [o.status?.readyReplicas || 0, o.spec?.replicas ?? 1], scale: true },
  { kind: "DaemonSet", ready: (o) => [o.status?.numberReady || 0, o.status?.desiredNumberScheduled || 0], restart: true, history: true },
  { kind: "StatefulSet", ready: (o) => [o.status?.readyReplicas || 0, o.spec?.replicas ?? 1], scale: true, restart: true, history: true },
  { kind: "Job", ready: (o) => [o.status?.succeeded || 0, o.spec?.completions ?? 1] },
];

