// Pods, kept current by one LIST and a WATCH: rows appear, change and go as the cluster does.
import { watchCollection } from "../api.js";
import { followMetrics, usageColumn } from "../metrics.js";
import { liveTable } from "../table.js";
import { age, el, namespaceColumn, notify, podStatus, statusClass } from "../util.js";

function restarts(pod) {
  return (pod.status?.containerStatuses || []).reduce((total, c) => total + (c.restartCount || 0), 0);
}

function readyCount(pod) {
  const statuses = pod.status?.containerStatuses || [];
  return `${statuses.filter((c) => c.ready).length}/${(pod.spec?.containers || []).length}`;
}

function podLink(pod) {
  const md = pod.metadata;
  return el("a", { href: `#/pods/${encodeURIComponent(md.namespace)}/${encodeURIComponent(md.name)}` }, md.name);
}

export async function podsPage(ctx) {
  const ns = ctx.namespace;
  ctx.main.append(el("h1", {}, "Pods", ns ? el("span", { class: "muted" }, ` · ${ns}`) : ""));
  const key = (p) => `pod/${p.metadata.namespace}/${p.metadata.name}`;
  const columns = [
    { title: "Name", value: (p) => p.metadata.name, render: podLink },
    ...namespaceColumn(ns),
    { title: "Ready", value: readyCount },
    { title: "Status", value: podStatus, render: (p) => el("span", { class: statusClass(podStatus(p)) }, podStatus(p)) },
    { title: "Restarts", value: restarts },
    { title: "Node", value: (p) => p.spec?.nodeName || "", opt: true },
    { title: "IP", value: (p) => p.status?.podIP || "", opt: true },
    { title: "Age", value: (p) => p.metadata.creationTimestamp, render: (p) => age(p.metadata.creationTimestamp) },
  ];
  let table = liveTable({ columns, key: (p) => `${p.metadata.namespace}/${p.metadata.name}`, empty: "No pods.", id: "pods-table",
    readyMark: "pykube:pods-ready" });
  const box = el("div", {}, table.element);
  ctx.main.append(box);
  let pods = new Map();
  const path = ns ? `/api/v1/namespaces/${encodeURIComponent(ns)}/pods` : "/api/v1/pods";
  const followUsage = () => followMetrics(ctx, "pods", () => {
    if (!box.dataset.metrics) {
      box.dataset.metrics = "1";
      const at = columns.findIndex((c) => c.title === "Node");
      table = liveTable({ columns: [...columns.slice(0, at), usageColumn("CPU", key, "cpu", { opt: true, width: 60 }), usageColumn("Memory", key, "memory", { opt: true, width: 60 }), ...columns.slice(at)],
        key: (p) => `${p.metadata.namespace}/${p.metadata.name}`, empty: "No pods.", id: "pods-table" });
      box.replaceChildren(table.element);
    }
    table.update(pods.values());
  });
  let listed = false;
  ctx.onStop(watchCollection(path, (items) => {
    pods = items;
    table.update(items.values());
    // the usage history is asked for once the rows are there: it would slow their list down
    if (!listed) followUsage();
    listed = true;
  }, (error) => notify(`pods: ${error.message}`, true)));
}
