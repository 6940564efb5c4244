// CPU and memory of nodes and pods over the last minutes, from the server's own history path
// (/pykube/metrics/v1/..., what metrics.k8s.io's scrapes leave behind): the pages show a column with a
// sparkline and the newest figure, and nothing at all when the path answers 404 (a server without it).
import { ApiError, get } from "./api.js";
import { el, formatBytes, formatCpu, sparkline } from "./util.js";

const HISTORY = "/pykube/metrics/v1";
const history = new Map(); // "node/NAME" or "pod/NS/NAME" → [{time (ms), cpu (cores), memory (bytes)}], oldest first

/** Samples so far of one node or pod, oldest first. */
function samples(key) {
  return history.get(key) || [];
}

/** A Go duration as the history path writes it ("15s", "10m0s", "1h2m3s") in seconds. */
function seconds(duration) {
  let total = 0;
  for (const [, value, unit] of String(duration).matchAll(/([\d.]+)(h|m|s)/g)) {
    total += Number(value) * { h: 3600, m: 60, s: 1 }[unit];
  }
  return total;
}

/** Add an answer's samples to what is kept (only those newer than the newest known), dropping those
 *  older than the period the server keeps; true when any node or pod has a sample. */
function merge(answer, which, periodMs) {
  const cutoff = Date.now() - periodMs;
  let any = false;
  for (const item of answer.items || []) {
    const md = item.metadata;
    const key = which === "nodes" ? `node/${md.name}` : `pod/${md.namespace}/${md.name}`;
    const list = history.get(key) || [];
    const newest = list.length ? list[list.length - 1].time : -Infinity;
    for (const s of item.samples || []) {
      const time = Date.parse(s.timestamp);
      if (time > newest) list.push({ time, cpu: s.cpuNanoCores / 1e9, memory: s.memoryBytes });
    }
    while (list.length && list[0].time < cutoff) list.shift();
    history.set(key, list);
    any ||= list.length > 0;
  }
  return any;
}

/**
 * Read the history of `which` ("nodes", or "pods" in the page's namespace) now, and what is new every
 * sampling interval while the page lasts, calling `onSample()` after each answer once there is a sample.
 * A 404 (no history path on this server) stops it, and nothing is shown; another failure is tried again
 * at the next interval.
 */
export function followMetrics(ctx, which, onSample) {
  const scope = which === "pods" && ctx.namespace ? `/namespaces/${encodeURIComponent(ctx.namespace)}` : "";
  const path = `${HISTORY}${scope}/${which}`;
  let intervalMs = 15000;
  let since = ""; // after the first answer, only the newest samples are asked for
  let timer = null;
  let stopped = false;
  ctx.onStop(() => { stopped = true; clearTimeout(timer); });

  async function poll() {
    try {
      const answer = await get(`${path}${since}`);
      intervalMs = (seconds(answer.interval) || 15) * 1000;
      // twice the interval: a sample that landed just before the last answer is not missed
      since = `?sinceSeconds=${Math.ceil((2 * intervalMs) / 1000)}`;
      if (!stopped && merge(answer, which, (seconds(answer.period) || 600) * 1000)) onSample();
    } catch (error) {
      if (error instanceof ApiError && error.code === 404) return;
    }
    if (!stopped) timer = setTimeout(poll, intervalMs);
  }
  poll();
}

/** A table column of the use of `field` ("cpu" or "memory") by the row's node or pod (`keyOf(row)`,
 *  "node/NAME" or "pod/NS/NAME"): a sparkline and the newest figure, sorted by that figure. */
export function usageColumn(title, keyOf, field, { opt = false, width = 90 } = {}) {
  return { title, opt, value: (row) => samples(keyOf(row)).at(-1)?.[field] ?? "", render: (row) => usageCell(keyOf(row), field, width) };
}

/** The cell of one node's or pod's use of `field`: empty before its first sample. */
function usageCell(key, field, width = 90) {
  const list = samples(key);
  if (!list.length) return "";
  const format = field === "cpu" ? formatCpu : formatBytes;
  const values = list.map((s) => s[field]);
  const spark = sparkline(values, width);
  spark.dataset.points = String(values.length);
  const low = format(Math.min(...values));
  const high = format(Math.max(...values));
  spark.setAttribute("aria-label", `${field === "cpu" ? "CPU" : "Memory"} over ${values.length} samples, ${low} to ${high}`);
  return el("span", { class: `usage ${field}` }, spark, " ", el("span", { class: "figure" }, format(values[values.length - 1])));
}
