// A Deployment's, DaemonSet's or StatefulSet's rollout history, kept current by a watch, with undo to
// any earlier revision (`kubectl rollout history` and `kubectl rollout undo --to-revision`).
import { get, resourcePath } from "../api.js";
import { KINDS } from "../kinds.js";
import { followHistory, undo } from "../rollout.js";
import { liveTable } from "../table.js";
import { age, el, notify } from "../util.js";

export async function historyPage(ctx, kindName, namespace, name) {
  const kind = KINDS[kindName];
  const path = resourcePath(kind, namespace, name);
  const owner = await get(path);
  ctx.main.append(el("h1", {}, `${kindName} `, el("span", { class: "muted" }, `${namespace}/`),
    el("a", { href: `#/object${path}` }, name), " · rollout history"));
  let history = [];

  async function undoTo(revision) {
    try {
      await undo(await get(path), history, revision.number);
      notify(`${kindName} ${name} rolled back to revision ${revision.number}`);
    } catch (error) {
      notify(`undo failed: ${error.message}`, true);
    }
  }

  const table = liveTable({
    key: (r) => String(r.number),
    empty: "No revisions yet.",
    id: "history-table",
    columns: [
      { title: "Revision", value: (r) => r.number },
      { title: "Change cause", value: (r) => r.changeCause || "<none>" },
      { title: "Images", value: (r) => r.images.join(", ") },
      { title: "Age", value: (r) => r.created, render: (r) => age(r.created), opt: true },
      { title: "", value: (r) => (r.current ? "current" : ""), render: (r) => (r.current
        ? el("span", { class: "ok" }, "current")
        : el("button", { type: "button", class: "undo", onclick: () => undoTo(r) }, `Undo to ${r.number}`)) },
    ],
  });
  ctx.main.append(table.element);
  let drawn = "";
  ctx.onStop(followHistory(owner, (next) => {
    history = next;
    // the watch also brings every status change of the ReplicaSets (a crash-looping pod's, each few
    // seconds): redrawing for those would replace the Undo buttons under the user's pointer
    const shown = JSON.stringify(next.map((r) => [r.number, r.changeCause, r.images, r.created, r.current]));
    if (shown !== drawn) table.update(next);
    drawn = shown;
  }, (error) => notify(`history: ${error.message}`, true)));
}
