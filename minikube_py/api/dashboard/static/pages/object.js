// Any object: its YAML (view, and edit applied with server-side apply) and the events about it.
import { api, get } from "../api.js";
import { liveTable } from "../table.js";
import { age, el, notify } from "../util.js";
import { dump } from "../vendor/js-yaml.mjs";

const FIELD_MANAGER = "pykube-dashboard";

/** The object's path from a hash route ("apis/apps/v1/namespaces/x/deployments/y"). */
export async function objectPage(ctx, path) {
  const apiPath = `/${path}`;
  const obj = await get(apiPath);
  ctx.main.append(el("h1", {}, `${obj.kind} `, el("span", { class: "muted" }, obj.metadata.namespace ? `${obj.metadata.namespace}/` : ""), obj.metadata.name));
  ctx.main.append(yamlPanel(apiPath, obj));
  ctx.main.append(el("h2", {}, "Events"), eventsTable(obj));
}

/** The YAML without managedFields; Edit turns it into a text area and Apply sends
 *  it as an apply patch owned by the dashboard, forcing conflicts as `kubectl apply --server-side --force-conflicts`. */
export function yamlPanel(apiPath, obj) {
  const box = el("section", { class: "yaml-panel" });
  // kubectl's order: apiVersion, kind, metadata, then the rest as the server sent it
  const { apiVersion, kind, metadata, ...rest } = structuredClone(obj);
  delete metadata.managedFields;
  const shown = { apiVersion, kind, metadata, ...rest };
  const view = el("pre", { class: "yaml", id: "yaml-view" }, dump(shown, { noRefs: true, lineWidth: 120 }));
  const edit = el("button", { type: "button", id: "yaml-edit" }, "Edit");
  box.append(el("div", { class: "row" }, edit), view);
  edit.addEventListener("click", () => {
    // the fields this edit means to own: no status, and no resourceVersion, which a controller's status
    // update changes every few seconds (an apply is merged by field ownership, not by version)
    const editable = structuredClone(shown);
    delete editable.status;
    delete editable.metadata.resourceVersion;
    const text = el("textarea", { class: "yaml", id: "yaml-text", spellcheck: "false" }, dump(editable, { noRefs: true, lineWidth: 120 }));
    const apply = el("button", { type: "button", class: "primary", id: "yaml-apply" }, "Apply");
    const cancel = el("button", { type: "button" }, "Cancel");
    const error = el("p", { class: "bad", id: "yaml-error" });
    box.replaceChildren(el("div", { class: "row" }, apply, cancel), error, text);
    cancel.addEventListener("click", () => box.replaceWith(yamlPanel(apiPath, obj)));
    apply.addEventListener("click", async () => {
      error.textContent = "";
      try {
        const applied = await api("PATCH", `${apiPath}?fieldManager=${FIELD_MANAGER}&force=true`,
          { body: text.value, contentType: "application/apply-patch+yaml" });
        notify(`${applied.kind} ${applied.metadata.name} applied`);
        box.replaceWith(yamlPanel(apiPath, applied));
      } catch (failure) {
        error.textContent = failure.message;
      }
    });
  });
  return box;
}

/** The events whose involvedObject is `obj`, newest first. */
export function eventsTable(obj) {
  const md = obj.metadata;
  const table = liveTable({
    key: (e) => e.metadata.uid,
    empty: "No events.",
    id: "events-table",
    columns: [
      { title: "Last seen", value: (e) => -Date.parse(e.lastTimestamp || e.eventTime || e.metadata.creationTimestamp), render: (e) => age(e.lastTimestamp || e.eventTime || e.metadata.creationTimestamp) },
      { title: "Type", value: (e) => e.type, render: (e) => el("span", { class: e.type === "Warning" ? "bad" : "" }, e.type) },
      { title: "Reason", value: (e) => e.reason },
      { title: "Message", value: (e) => e.message },
      { title: "Count", value: (e) => e.count || 1, opt: true },
    ],
  });
  const scope = md.namespace ? `/api/v1/namespaces/${encodeURIComponent(md.namespace)}` : "/api/v1";
  const selector = `involvedObject.name=${md.name},involvedObject.kind=${obj.kind}`;
  get(`${scope}/events?fieldSelector=${encodeURIComponent(selector)}`)
    .then((list) => table.update(list.items))
    .catch((error) => notify(`events: ${error.message}`, true));
  return table.element;
}
