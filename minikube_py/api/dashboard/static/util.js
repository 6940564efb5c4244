// Small DOM and formatting helpers shared by the pages.

/** el("a", {href: "#/x", class: "c", onclick: fn}, child, "text"...): a DOM element; null children are skipped. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** "3m", "2h", "5d": kubectl's age column. */
export function age(timestamp) {
  if (!timestamp) return "";
  const seconds = Math.max(0, (Date.now() - Date.parse(timestamp)) / 1000);
  if (seconds < 120) return `${Math.floor(seconds)}s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 172800) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

let noticeTimer = null;
/** A short message in the corner (errors stay longer). */
export function notify(message, isError = false) {
  const box = document.getElementById("notice");
  box.textContent = message;
  box.className = isError ? "error" : "";
  box.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { box.hidden = true; }, isError ? 8000 : 3000);
}

const BINARY = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL = { n: 1e-9, u: 1e-6, m: 1e-3, "": 1, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };
/** A resource.Quantity ("250m", "128Mi", "1e3") as a number of base units. */
export function quantity(text) {
  if (text === undefined || text === null) return NaN;
  const match = /^([+-]?[0-9.]+(?:[eE][+-]?\d+)?)([a-zA-Z]*)$/.exec(String(text).trim());
  if (!match) return NaN;
  const factor = BINARY[match[2]] ?? DECIMAL[match[2]];
  return factor === undefined ? NaN : Number(match[1]) * factor;
}

export function formatCpu(cores) {
  if (!Number.isFinite(cores)) return "";
  return cores < 1 ? `${Math.round(cores * 1000)}m` : `${+cores.toFixed(2)}`;
}

export function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return "";
  const units = ["B", "Ki", "Mi", "Gi", "Ti"];
  let i = 0;
  while (bytes >= 1024 && i < units.length - 1) { bytes /= 1024; i += 1; }
  return `${+bytes.toFixed(bytes < 10 && i > 0 ? 1 : 0)}${units[i]}`;
}

/** An inline SVG line of the last values (the metrics pages' history). */
export function sparkline(values, width = 90, height = 20) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  if (values.length) {
    const drawn = values.length === 1 ? [values[0], values[0]] : values; // one sample: a level line
    const max = Math.max(...drawn) || 1;
    const step = width / (drawn.length - 1);
    const points = drawn.map((v, i) => `${(i * step).toFixed(1)},${(height - 1 - (v / max) * (height - 2)).toFixed(1)}`);
    const area = document.createElementNS("http://www.w3.org/2000/svg", "polygon"); // the use, filled to zero
    area.setAttribute("points", `0,${height} ${points.join(" ")} ${width},${height}`);
    const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    line.setAttribute("points", points.join(" "));
    svg.append(area, line);
  }
  return svg;
}

/** kubectl's STATUS column of a pod: Terminating, the reason a container waits or ended, else the phase. */
export function podStatus(pod) {
  if (pod.metadata.deletionTimestamp) return "Terminating";
  const status = pod.status || {};
  if (status.reason) return status.reason;
  for (const c of [...(status.initContainerStatuses || [])]) {
    const state = c.state || {};
    if (state.waiting?.reason && state.waiting.reason !== "PodInitializing") return `Init:${state.waiting.reason}`;
    if (state.terminated && state.terminated.exitCode !== 0) return `Init:${state.terminated.reason || "Error"}`;
  }
  for (const c of status.containerStatuses || []) {
    const state = c.state || {};
    if (state.waiting?.reason) return state.waiting.reason;
    if (state.terminated?.reason && status.phase !== "Succeeded") return state.terminated.reason;
  }
  if (status.phase === "Succeeded") return "Completed";
  return status.phase || "Pending";
}

export function statusClass(text) {
  if (["Running", "Completed", "Succeeded", "True", "Ready", "Bound", "Active"].includes(text)) return "ok";
  if (["Pending", "ContainerCreating", "Terminating", "PodInitializing", "Unknown"].includes(text)) return "warn";
  return "bad";
}

/** The namespace column of a list, only when the list spans namespaces (as kubectl's -A adds it). */
export function namespaceColumn(namespace) {
  return namespace ? [] : [{ title: "Namespace", value: (o) => o.metadata.namespace }];
}
