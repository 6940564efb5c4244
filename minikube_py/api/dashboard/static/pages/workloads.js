// Workloads: ready counts, and scale, restart, rollout history and delete, each through the API as kubectl does it.
import { api, get, resourcePath } from "../api.js";
import { KINDS, WORKLOADS } from "../kinds.js";
import { liveTable } from "../table.js";
import { age, el, namespaceColumn, notify } from "../util.js";

/** `kubectl rollout restart`: a new pod-template annotation makes the controller roll every pod. */
function restartPatch() {
  const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  return { spec: { template: { metadata: { annotations: { "kubectl.kubernetes.io/restartedAt": now } } } } };
}

async function act(what, request, reload) {
  try {
    await request();
    notify(what);
  } catch (error) {
    notify(`${what} failed: ${error.message}`, true);
  }
  await reload();
}

export async function workloadsPage(ctx) {
  const ns = ctx.namespace;
  ctx.main.append(el("h1", {}, "Workloads", ns ? el("span", { class: "muted" }, ` · ${ns}`) : ""));
  await Promise.all(WORKLOADS.map(async (section) => {
    const kind = KINDS[section.kind];
    const box = el("section", { id: `workloads-${kind.plural}` });
    ctx.main.append(box);
    const objectPath = (o) => resourcePath(kind, o.metadata.namespace, o.metadata.name);
    const reload = async () => table.update((await get(resourcePath(kind, ns))).items);

    function actions(o) {
      const buttons = [];
      if (section.scale) {
        const replicas = el("input", { type: "number", min: "0", value: o.spec?.replicas ?? 1, class: "replicas", "aria-label": "Replicas", style: "width:4.5em" });
        buttons.push(replicas, el("button", {
          type: "button", class: "scale",
          onclick: () => act(`${section.kind} ${o.metadata.name} scaled to ${replicas.value}`,
            () => api("PATCH", `${objectPath(o)}/scale`, { body: { spec: { replicas: Number(replicas.value) } }, contentType: "application/merge-patch+json" }), reload),
        }, "Scale"));
      }
      if (section.restart) {
        buttons.push(el("button", {
          type: "button", class: "restart",
          onclick: () => act(`${section.kind} ${o.metadata.name} restarting`,
            () => api("PATCH", objectPath(o), { body: restartPatch(), contentType: "application/strategic-merge-patch+json" }), reload),
        }, "Restart"));
      }
      if (section.history) {
        const md = o.metadata;
        buttons.push(el("a", { class: "button history", href: `#/history/${section.kind}/${encodeURIComponent(md.namespace)}/${encodeURIComponent(md.name)}` }, "History"));
      }
      buttons.push(el("button", {
        type: "button", class: "danger delete",
        onclick: () => {
          if (!confirm(`Delete ${section.kind} ${o.metadata.namespace}/${o.metadata.name}?`)) return;
          act(`${section.kind} ${o.metadata.name} deleted`,
            () => api("DELETE", objectPath(o), { body: { kind: "DeleteOptions", apiVersion: "v1", propagationPolicy: "Background" } }), reload);
        },
      }, "Delete"));
      return el("div", { class: "actions" }, buttons);
    }

    const table = liveTable({
      key: (o) => `${o.metadata.namespace}/${o.metadata.name}`,
      empty: `No ${kind.plural}.`,
      id: `${kind.plural}-table`,
      columns: [
        { title: "Name", value: (o) => o.metadata.name, render: (o) => el("a", { href: `#/object${objectPath(o)}` }, o.metadata.name) },
        ...namespaceColumn(ns),
        { title: "Ready", value: (o) => section.ready(o).join("/"), render: (o) => {
          const [ready, want] = section.ready(o);
          return el("span", { class: ready >= want ? "ok" : "warn" }, `${ready}/${want}`);
        } },
        { title: "Age", value: (o) => o.metadata.creationTimestamp, render: (o) => age(o.metadata.creationTimestamp), opt: true },
        { title: "Actions", value: () => "", render: actions },
      ],
    });
    box.append(el("h2", {}, `${section.kind}s`), table.element);
    await reload();
  }));
}
