// The Kubernetes API as the page uses it: same origin, the session cookie, and the CSRF header on writes.
import { whileNetworkBlinks } from "./app.js";

let csrf = { header: "X-Pykube-Csrf", token: "" };

export class ApiError extends Error {
  constructor(code, status) {
    super(status?.message || `HTTP ${code}`);
    this.code = code;
    this.status = status;
  }
}

/** Who the session is (and its CSRF value); null when the browser has no session. */
export async function loadSession() {
  const response = await fetchRetrying("/dashboard/api/session", { method: "GET", credentials: "same-origin" });
  if (response.status === 401) return null;
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  const session = await response.json();
  csrf = { header: session.csrfHeader, token: session.csrfToken };
  return session;
}

function headers(extra = {}, method = "GET") {
  const all = { Accept: "application/json", ...extra };
  if (!["GET", "HEAD"].includes(method)) all[csrf.header] = csrf.token;
  return all;
}

/** One request; resolves to the decoded JSON answer, rejects with ApiError carrying the Status. */
export async function api(method, path, { body, contentType = "application/json", accept } = {}) {
  const init = { method, credentials: "same-origin", headers: headers(accept ? { Accept: accept } : {}, method) };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    init.headers["Content-Type"] = contentType;
  }
  const response = await fetchRetrying(path, init);
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { message: text }; }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export const get = (path, options) => api("GET", path, options);

/** fetch, tried again for reads that fail to reach the server (a TypeError: Chromium aborts requests in
 *  flight when the host's network interfaces change, as they do when containers start); a write is
 *  never repeated, since it may have arrived. */
function fetchRetrying(path, init) {
  return init.method === "GET" ? whileNetworkBlinks(() => fetch(path, init)) : fetch(path, init);
}

export async function logout() {
  await api("POST", "/dashboard/api/logout");
}

/** A list as a Table with only the cells (the overview's counts): far smaller than the objects. */
export async function tableRows(path) {
  const table = await get(path, { accept: "application/json;as=Table;v=v1;g=meta.k8s.io" });
  return table.rows || [];
}

/**
 * Keep `onChange(Map uid → object)` current for a collection: one LIST, then a WATCH from its
 * resourceVersion (no polling); a watch that ends or drops is resumed from the last version seen, and
 * one the server no longer has history for (410 Gone) or that fails otherwise starts over with a new
 * LIST. Returns a stop function.
 */
export function watchCollection(path, onChange, onError = () => {}) {
  const items = new Map();
  const controller = new AbortController();
  let stopped = false;
  const sep = path.includes("?") ? "&" : "?";

  let version = null; // the last resourceVersion seen; null: LIST first

  async function run() {
    while (!stopped) {
      try {
        if (version === null) {
          const list = await get(path);
          items.clear();
          for (const obj of list.items || []) items.set(obj.metadata.uid, obj);
          version = list.metadata.resourceVersion;
          onChange(items);
        }
        await follow(`${path}${sep}watch=1&allowWatchBookmarks=true&resourceVersion=${version}`);
      } catch (error) {
        if (stopped || error.name === "AbortError") return;
        if (error.code === 410) { version = null; continue; }
        // a TypeError: the connection dropped (the network blinked); the watch resumes where it was
        if (!(error instanceof TypeError)) {
          onError(error);
          version = null;
        }
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  async function follow(url) {
    const response = await fetch(url, { credentials: "same-origin", signal: controller.signal, headers: headers() });
    if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
    for await (const line of lines(response.body, controller.signal)) {
      const event = JSON.parse(line);
      if (event.type === "ERROR") throw new ApiError(event.object?.code || 500, event.object);
      const obj = event.object;
      version = obj.metadata.resourceVersion;
      if (event.type === "BOOKMARK") continue;
      if (event.type === "DELETED") items.delete(obj.metadata.uid);
      else items.set(obj.metadata.uid, obj);
      onChange(items);
    }
  }

  run();
  return () => { stopped = true; controller.abort(); };
}

/** The lines of a streamed body, as they arrive. */
export async function* lines(body, signal) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 1);
        if (line.trim()) yield line;
      }
    }
  } finally {
    if (signal?.aborted) reader.cancel().catch(() => {});
  }
  if (buffer.trim()) yield buffer;
}

/** Stream a text body (a followed log) into `onText` until it ends or `signal` aborts. */
export async function streamText(path, onText, signal) {
  const response = await fetch(path, { credentials: "same-origin", signal, headers: headers({ Accept: "*/*" }) });
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    onText(decoder.decode(value, { stream: true }));
  }
}

/** The API path of a collection or object. `kind` has group, version, plural, namespaced. */
export function resourcePath(kind, namespace, name = "") {
  const base = kind.group ? `/apis/${kind.group}/${kind.version}` : `/api/${kind.version}`;
  const ns = kind.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : "";
  return `${base}${ns}/${kind.plural}${name ? `/${encodeURIComponent(name)}` : ""}`;
}
