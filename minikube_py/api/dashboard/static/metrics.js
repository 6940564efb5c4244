// CPU and memory use from metrics.k8s.io when the cluster serves it: the pages show a column with a
// sparkline of the last samples, and nothing at all when the API answers 404 (no metrics yet).
import { ApiError, get } from "./api.js";
import { quantity } from "./util.js";

const SAMPLES = 30;
const PERIOD_MS = 15000;
const history = new Map(); // "node/NAME" or "pod/NS/NAME" → [{cpu, memory}]

function record(key, cpu, memory) {
  const list = history.get(key) || [];
  list.push({ cpu, memory });
  if (list.length > SAMPLES) list.shift();
  history.set(key, list);
}

/** Samples so far of one node or pod, oldest first. */
export function samples(key) {
  return history.get(key) || [];
}

/** One sample of "nodes" or "pods" (in `namespace`, or all); false when the cluster has no metrics API. */
async function sample(which, namespace) {
  const scope = which === "pods" && namespace ? `namespaces/${encodeURIComponent(namespace)}/` : "";
  try {
    const list = await get(`/apis/metrics.k8s.io/v1beta1/${scope}${which}`);
    for (const item of list.items || []) {
      const md = item.metadata;
      if (which === "nodes") {
        record(`node/${md.name}`, quantity(item.usage?.cpu), quantity(item.usage?.memory));
      } else {
        const sum = (field) => (item.containers || []).reduce((total, c) => total + (quantity(c.usage?.[field]) || 0), 0);
        record(`pod/${md.namespace}/${md.name}`, sum("cpu"), sum("memory"));
      }
    }
    return true;
  } catch (error) {
    if (error instanceof ApiError && error.code === 404) return false;
    return null; // the API is there but did not answer this time (no fresh scrape yet): ask again later
  }
}

/**
 * Sample `which` ("nodes" or "pods") now and every 15 s while the page lasts, calling `onSample()` after
 * each answer. A 404 (no metrics API in this cluster) stops it at once, and nothing is shown.
 */
export async function followMetrics(ctx, which, onSample) {
  const first = await sample(which, ctx.namespace);
  if (first === false) return;
  if (first) onSample();
  const timer = setInterval(async () => { if (await sample(which, ctx.namespace)) onSample(); }, PERIOD_MS);
  ctx.onStop(() => clearInterval(timer));
}
