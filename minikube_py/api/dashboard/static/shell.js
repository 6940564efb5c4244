// The dashboard's shell: the session, the namespace filter and the hash routes (loaded by app.js).
import { get, loadSession, logout } from "./api.js";
import { objectPage } from "./pages/object.js";
import { overviewPage } from "./pages/overview.js";
import { podPage } from "./pages/pod.js";
import { podsPage } from "./pages/pods.js";
import { servicesPage } from "./pages/services.js";
import { workloadsPage } from "./pages/workloads.js";
import { el, notify } from "./util.js";

const main = document.getElementById("main");
const namespaceSelect = document.getElementById("namespace");
let cleanup = () => {};

const ROUTES = [
  [/^#\/overview$/, () => overviewPage],
  [/^#\/workloads$/, () => workloadsPage],
  [/^#\/pods$/, () => podsPage],
  [/^#\/services$/, () => servicesPage],
  [/^#\/pods\/([^/]+)\/([^/]+)(?:\/(\w+))?$/, (m) => (ctx) => podPage(ctx, decodeURIComponent(m[1]), decodeURIComponent(m[2]), m[3])],
  [/^#\/object\/(.+)$/, (m) => (ctx) => objectPage(ctx, decodeURIComponent(m[1]))],
];

/** The namespace the lists are filtered to ("" for all), kept across reloads. */
export function currentNamespace() {
  return namespaceSelect.value;
}

function render() {
  cleanup();
  cleanup = () => {};
  const hash = location.hash || "#/overview";
  let page = null;
  for (const [pattern, make] of ROUTES) {
    const match = pattern.exec(hash);
    if (match) { page = make(match); break; }
  }
  for (const link of document.querySelectorAll("#nav a")) {
    link.classList.toggle("active", hash.startsWith(`#/${link.dataset.page}`));
  }
  main.replaceChildren();
  if (!page) {
    main.append(el("p", {}, "No such page. ", el("a", { href: "#/overview" }, "Overview")));
    return;
  }
  const stops = [];
  const ctx = { main, namespace: currentNamespace(), onStop: (fn) => stops.push(fn) };
  cleanup = () => stops.forEach((fn) => fn());
  Promise.resolve(page(ctx)).catch((error) => {
    main.append(el("p", { class: "bad" }, `Could not load this page: ${error.message}`));
  });
}

async function fillNamespaces() {
  const list = await get("/api/v1/namespaces");
  const saved = localStorage.getItem("pykube.namespace") || "";
  const names = list.items.map((ns) => ns.metadata.name).sort();
  namespaceSelect.replaceChildren(el("option", { value: "" }, "all namespaces"),
    ...names.map((name) => el("option", { value: name }, name)));
  namespaceSelect.value = names.includes(saved) ? saved : "";
}

async function start() {
  const session = await loadSession().catch(() => null);
  if (!session) {
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
  await fillNamespaces().catch((error) => notify(`namespaces: ${error.message}`, true));
  window.addEventListener("hashchange", render);
  render();
}

start();
