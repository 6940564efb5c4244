// The overview: nodes with their state and resources, pods by phase, the latest Warning events.
import { get, tableRows } from "../api.js";
import { followMetrics, usageColumn } from "../metrics.js";
import { liveTable } from "../table.js";
import { age, el, formatBytes, namespaceColumn, quantity, statusClass } from "../util.js";

const PHASES = ["Running", "Pending", "Succeeded", "Failed", "Unknown"];

function ready(node) {
  const condition = (node.status?.conditions || []).find((c) => c.type === "Ready");
  return condition?.status === "True" ? "Ready" : "NotReady";
}

export async function overviewPage(ctx) {
  const ns = ctx.namespace;
  const scope = ns ? `/api/v1/namespaces/${encodeURIComponent(ns)}` : "/api/v1";
  ctx.main.append(el("h1", {}, "Overview", ns ? el("span", { class: "muted" }, ` · ${ns}`) : ""));

  // the counts come from Tables without objects: a row of cells per pod, not the pods themselves
  const phaseCards = el("div", { class: "cards", id: "pod-phases" });
  ctx.main.append(el("h2", {}, "Pods by phase"), phaseCards);
  const counting = Promise.all(PHASES.map(async (phase) => {
    const rows = await tableRows(`${scope}/pods?fieldSelector=status.phase%3D${phase}&includeObject=None`);
    return [phase, rows.length];
  })).then((counts) => phaseCards.replaceChildren(...counts.map(([phase, n]) =>
    el("a", { class: "card", href: "#/pods", "data-phase": phase }, el("div", { class: "n" }, n), el("div", { class: "muted" }, phase)))))
    .then(() => performance.mark("pykube:overview-ready")); // the numbers are on screen (bench/dashboard.py)

  const metricColumns = [
    usageColumn("CPU use", (n) => `node/${n.metadata.name}`, "cpu"),
    usageColumn("Memory use", (n) => `node/${n.metadata.name}`, "memory", { opt: true }),
  ];
  const baseColumns = [
    { title: "Node", value: (n) => n.metadata.name, render: (n) => el("a", { href: `#/object/api/v1/nodes/${n.metadata.name}` }, n.metadata.name) },
    { title: "Status", value: ready, render: (n) => el("span", { class: statusClass(ready(n)) }, ready(n)) },
    { title: "CPU (alloc/cap)", value: (n) => quantity(n.status?.allocatable?.cpu), render: (n) => `${n.status?.allocatable?.cpu ?? "?"} / ${n.status?.capacity?.cpu ?? "?"}` },
    { title: "Memory (alloc/cap)", value: (n) => quantity(n.status?.allocatable?.memory), render: (n) => `${formatBytes(quantity(n.status?.allocatable?.memory))} / ${formatBytes(quantity(n.status?.capacity?.memory))}`, opt: true },
    { title: "Pods (alloc)", value: (n) => quantity(n.status?.allocatable?.pods), opt: true },
    { title: "Address", value: (n) => (n.status?.addresses || []).find((a) => a.type === "InternalIP")?.address, opt: true },
    { title: "Age", value: (n) => n.metadata.creationTimestamp, render: (n) => age(n.metadata.creationTimestamp), opt: true },
  ];
  const nodesBox = el("div", { id: "nodes" });
  ctx.main.append(el("h2", {}, "Nodes"), nodesBox);
  const eventsBox = el("div", { id: "warnings" });
  ctx.main.append(el("h2", {}, "Recent warnings"), eventsBox);

  async function showNodes() {
    const nodes = (await get("/api/v1/nodes")).items;
    let nodeTable = liveTable({ columns: baseColumns, key: (n) => n.metadata.name, id: "nodes-table" });
    nodesBox.append(nodeTable.element);
    nodeTable.update(nodes);
    followMetrics(ctx, "nodes", () => {
      if (!nodesBox.dataset.metrics) {
        nodesBox.dataset.metrics = "1";
        nodeTable = liveTable({ columns: [...baseColumns.slice(0, 2), ...metricColumns, ...baseColumns.slice(2)], key: (n) => n.metadata.name, id: "nodes-table" });
        nodesBox.replaceChildren(nodeTable.element);
      }
      nodeTable.update(nodes);
    });
  }

  async function showWarnings() {
    const when = (e) => e.lastTimestamp || e.eventTime || e.metadata.creationTimestamp;
    const events = (await get(`${scope}/events?fieldSelector=type%3DWarning`)).items;
    events.sort((a, b) => Date.parse(when(b)) - Date.parse(when(a)));
    const eventTable = liveTable({
      key: (e) => e.metadata.uid,
      empty: "No warnings.",
      columns: [
        { title: "Last seen", value: (e) => -Date.parse(when(e)), render: (e) => age(when(e)) },
        { title: "Object", value: (e) => `${e.involvedObject.kind}/${e.involvedObject.name}` },
        { title: "Reason", value: (e) => e.reason },
        { title: "Message", value: (e) => e.message },
        { title: "Count", value: (e) => e.count || 1, opt: true },
        ...namespaceColumn(ns),
      ],
    });
    eventsBox.append(eventTable.element);
    eventTable.update(events.slice(0, 20));
  }

  // the three parts are asked for at once
  await Promise.all([counting, showNodes(), showWarnings()]);
}
