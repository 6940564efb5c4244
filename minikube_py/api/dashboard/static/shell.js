// The dashboard's shell: the session, the namespace filter and the hash routes (loaded by app.js).
import { get, loadSession, logout } from "./api.js";
import { importRetrying } from "./app.js";
import { el, notify } from "./util.js";

const main = document.getElementById("main");
const namespaceSelect = document.getElementById("namespace");
let cleanup = () => {};

const decode = decodeURIComponent;
// each page's module is loaded when the page is first shown: the overview does not load the terminal
const ROUTES = [
  [/^#\/overview$/, "./pages/overview.js", (page, ctx) => page.overviewPage(ctx)],
  [/^#\/workloads$/, "./pages/workloads.js", (page, ctx) => page.workloadsPage(ctx)],
  [/^#\/pods$/, "./pages/pods.js", (page, ctx) => page.podsPage(ctx)],
  [/^#\/services$/, "./pages/services.js", (page, ctx) => page.servicesPage(ctx)],
  [/^#\/pods\/([^/]+)\/([^/]+)(?:\/(\w+))?$/, "./pages/pod.js", (page, ctx, m) => page.podPage(ctx, decode(m[1]), decode(m[2]), m[3])],
  [/^#\/history\/(\w+)\/([^/]+)\/([^/]+)$/, "./pages/history.js", (page, ctx, m) => page.historyPage(ctx, m[1], decode(m[2]), decode(m[3]))],
  [/^#\/object\/(.+)$/, "./pages/object.js", (page, ctx, m) => page.objectPage(ctx, decode(m[1]))],
];
let shown = 0; // the current render: a page module that arrives after the user moved on is not shown

/** The namespace the lists are filtered to ("" for all), kept across reloads. */
function currentNamespace() {
  return namespaceSelect.value;
}

function render() {
  cleanup();
  cleanup = () => {};
  const hash = location.hash || "#/overview";
  const route = ROUTES.map(([pattern, module, show]) => [pattern.exec(hash), module, show]).find(([match]) => match);
  for (const link of document.querySelectorAll("#nav a")) {
    link.classList.toggle("active", hash.startsWith(`#/${link.dataset.page}`));
  }
  main.replaceChildren();
  if (!route) {
    main.append(el("p", {}, "No such page. ", el("a", { href: "#/overview" }, "Overview")));
    return;
  }
  const [match, module, show] = route;
  const stops = [];
  // each page draws into a view of its own: one that finishes loading after the user moved on draws
  // into a detached element, not over the next page
  const view = el("div");
  main.append(view);
  const ctx = { main: view, namespace: currentNamespace(), onStop: (fn) => stops.push(fn) };
  cleanup = () => stops.forEach((fn) => fn());
  const current = ++shown;
  importRetrying(module).then((page) => (current === shown ? show(page, ctx, match) : null)).catch((error) => {
    view.append(el("p", { class: "bad" }, `Could not load this page: ${error.message}`));
  });
}

/** The namespace filter's choices; the page was drawn before they came (for the namespace saved last
 *  time), and is drawn again if the chosen namespace is gone. */
async function fillNamespaces() {
  const list = await get("/api/v1/namespaces");
  const chosen = namespaceSelect.value;
  const names = list.items.map((ns) => ns.metadata.name).sort();
  namespaceSelect.replaceChildren(el("option", { value: "" }, "all namespaces"),
    ...names.map((name) => el("option", { value: name }, name)));
  namespaceSelect.value = names.includes(chosen) ? chosen : "";
  if (namespaceSelect.value !== chosen) render();
}

async function start() {
  const saved = localStorage.getItem("pykube.namespace") || "";
  if (saved) namespaceSelect.append(el("option", { value: saved }, saved));
  namespaceSelect.value = saved;
  // the page's first reads go out beside the session's check rather than after it: without a session
  // they fail with 401 into a view that is replaced by the login hint below
  render();
  const session = await loadSession().catch(() => null);
  if (!session) {
    cleanup();
    shown += 1;
    main.replaceChildren(el("h1", {}, "Not logged in"),
      el("p", {}, "Run ", el("code", {}, "pykube dashboard"), " on a machine with your kubeconfig and open the URL it prints."));
    document.querySelector("header nav").hidden = true;
    return;
  }
  document.getElementById("whoami").textContent = session.user;
  document.getElementById("logout").addEventListener("click", async () => {
    await logout().catch((error) => notify(error.message, true));
    location.replace("/dashboard/");
  });
  namespaceSelect.addEventListener("change", () => {
    localStorage.setItem("pykube.namespace", namespaceSelect.value);
    render();
  });
  window.addEventListener("hashchange", render);
  fillNamespaces().catch((error) => notify(`namespaces: ${error.message}`, true));
}

start();
