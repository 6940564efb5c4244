// Services with their endpoints and NodePorts; a NodePort opens on the node this page came from.
import { get, resourcePath } from "../api.js";
import { KINDS } from "../kinds.js";
import { liveTable } from "../table.js";
import { age, el, namespaceColumn } from "../util.js";

function ports(service) {
  return (service.spec?.ports || []).map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ""}/${p.protocol || "TCP"}`).join(", ");
}

function addresses(endpoints) {
  const found = [];
  for (const subset of endpoints?.subsets || []) {
    for (const address of subset.addresses || []) {
      for (const port of subset.ports || [{}]) found.push(port.port ? `${address.ip}:${port.port}` : address.ip);
    }
  }
  return found;
}

export async function servicesPage(ctx) {
  const ns = ctx.namespace;
  ctx.main.append(el("h1", {}, "Services", ns ? el("span", { class: "muted" }, ` · ${ns}`) : ""));
  const [services, endpoints] = await Promise.all([get(resourcePath(KINDS.Service, ns)), get(resourcePath(KINDS.Endpoints, ns))]);
  const byName = new Map(endpoints.items.map((e) => [`${e.metadata.namespace}/${e.metadata.name}`, e]));
  const endpointsOf = (s) => addresses(byName.get(`${s.metadata.namespace}/${s.metadata.name}`));
  const table = liveTable({
    key: (s) => `${s.metadata.namespace}/${s.metadata.name}`,
    empty: "No services.",
    id: "services-table",
    columns: [
      { title: "Name", value: (s) => s.metadata.name, render: (s) => el("a", { href: `#/object${resourcePath(KINDS.Service, s.metadata.namespace, s.metadata.name)}` }, s.metadata.name) },
      ...namespaceColumn(ns),
      { title: "Type", value: (s) => s.spec?.type || "ClusterIP" },
      { title: "Cluster IP", value: (s) => s.spec?.clusterIP || "", opt: true },
      { title: "Ports", value: ports },
      { title: "Endpoints", value: (s) => endpointsOf(s).join(", "), render: (s) => {
        const list = endpointsOf(s);
        return list.length ? el("span", { title: list.join("\n") }, list.length > 3 ? `${list.slice(0, 3).join(", ")} +${list.length - 3}` : list.join(", ")) : el("span", { class: "warn" }, "none");
      } },
      { title: "Open", value: () => "", render: (s) => el("span", {}, (s.spec?.ports || []).filter((p) => p.nodePort).map((p) =>
        el("a", { href: `http://${location.hostname}:${p.nodePort}/`, target: "_blank", rel: "noopener" }, `:${p.nodePort} `))) },
      { title: "Age", value: (s) => s.metadata.creationTimestamp, render: (s) => age(s.metadata.creationTimestamp), opt: true },
    ],
  });
  ctx.main.append(table.element);
  table.update(services.items);
}
