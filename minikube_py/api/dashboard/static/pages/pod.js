// One pod: its state, logs (follow, previous, container), a terminal, its YAML and its events.
import { get, streamText } from "../api.js";
import { importRetrying } from "../app.js";
import { el, podStatus, statusClass } from "../util.js";
import { eventsTable, yamlPanel } from "./object.js";

const TABS = ["logs", "terminal", "yaml", "events"];
// the exec subprotocols the API server relays, newest first (v5 adds the close channel)
const EXEC_PROTOCOLS = ["v5.channel.k8s.io", "v4.channel.k8s.io"];
const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const STATUS = 3;
const RESIZE = 4;

export async function podPage(ctx, namespace, name, tab = "logs") {
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`;
  const pod = await get(path);
  const base = `#/pods/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`;
  const status = podStatus(pod);
  ctx.main.append(
    el("h1", {}, "Pod ", el("span", { class: "muted" }, `${namespace}/`), name, " ",
      el("span", { class: statusClass(status), id: "pod-status" }, status)),
    el("p", { class: "muted" }, `node ${pod.spec.nodeName || "—"} · IP ${pod.status?.podIP || "—"}`),
    el("div", { class: "tabs" }, TABS.map((t) => el("button", {
      type: "button", class: t === tab ? "active" : null, "data-tab": t, onclick: () => { location.hash = `${base}/${t}`; },
    }, t[0].toUpperCase() + t.slice(1)))));
  const containers = [...(pod.spec.initContainers || []), ...pod.spec.containers].map((c) => c.name);
  const defaultContainer = pod.spec.containers[0].name;
  if (tab === "logs") logsTab(ctx, path, containers, defaultContainer);
  else if (tab === "terminal") {
    // xterm.js is the biggest file the dashboard has: only the terminal loads it, and its stylesheet
    if (!document.getElementById("xterm-css")) {
      document.head.append(el("link", { id: "xterm-css", rel: "stylesheet", href: new URL("../vendor/xterm.css", import.meta.url).href }));
    }
    const [{ Terminal }, { FitAddon }] = await Promise.all(["../vendor/xterm.mjs", "../vendor/addon-fit.mjs"]
      .map((file) => importRetrying(new URL(file, import.meta.url).href)));
    terminalTab(ctx, path, pod.spec.containers.map((c) => c.name), Terminal, FitAddon);
  }
  else if (tab === "yaml") ctx.main.append(yamlPanel(path, pod));
  else ctx.main.append(eventsTable(pod));
}

function containerSelect(names, chosen) {
  return el("select", { id: "container", "aria-label": "Container" },
    names.map((n) => el("option", { value: n, selected: n === chosen }, n)));
}

function logsTab(ctx, path, containers, chosen) {
  const select = containerSelect(containers, chosen);
  const follow = el("input", { type: "checkbox", id: "log-follow", checked: true });
  const previous = el("input", { type: "checkbox", id: "log-previous" });
  const output = el("pre", { class: "log", id: "log-output" });
  ctx.main.append(el("div", { class: "row" }, select,
    el("label", {}, follow, " Follow"), el("label", {}, previous, " Previous")), output);
  let controller = null;
  ctx.onStop(() => controller?.abort());

  function load() {
    controller?.abort();
    controller = new AbortController();
    output.textContent = "";
    const query = new URLSearchParams({ container: select.value, tailLines: "1000" });
    if (follow.checked && !previous.checked) query.set("follow", "true");
    if (previous.checked) query.set("previous", "true");
    const atBottom = () => output.scrollHeight - output.scrollTop - output.clientHeight < 40;
    streamText(`${path}/log?${query}`, (text) => {
      const stick = atBottom();
      output.append(text);
      if (stick) output.scrollTop = output.scrollHeight;
    }, controller.signal).catch((error) => {
      if (error.name === "AbortError") return;
      // the connection dropped (the host's network changed): follow again from the last lines
      if (error instanceof TypeError && query.has("follow")) setTimeout(load, 1000);
      else output.append(el("span", { class: "bad" }, `\n${error.message}\n`));
    });
  }
  for (const control of [select, follow, previous]) control.addEventListener("change", load);
  load();
}

function terminalTab(ctx, path, containers, Terminal, FitAddon) {
  const select = containerSelect(containers, containers[0]);
  const command = el("input", { type: "text", id: "exec-command", value: "sh", "aria-label": "Command" });
  const connect = el("button", { type: "button", class: "primary", id: "exec-connect" }, "Connect");
  const state = el("span", { class: "muted", id: "exec-state" });
  const box = el("div", { class: "terminal-box", id: "terminal" });
  ctx.main.append(el("div", { class: "row" }, select, command, connect, state), box);
  const term = new Terminal({ convertEol: false, cursorBlink: true, fontSize: 13 });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(box);
  fit.fit();
  let socket = null;
  const encoder = new TextEncoder();
  const send = (channel, bytes) => {
    if (socket?.readyState !== WebSocket.OPEN) return;
    const frame = new Uint8Array(bytes.length + 1);
    frame[0] = channel;
    frame.set(bytes, 1);
    socket.send(frame);
  };
  const resize = () => send(RESIZE, encoder.encode(JSON.stringify({ Width: term.cols, Height: term.rows })));
  term.onData((data) => send(STDIN, encoder.encode(data)));
  term.onResize(resize);
  const onWindowResize = () => fit.fit();
  window.addEventListener("resize", onWindowResize);
  ctx.onStop(() => {
    window.removeEventListener("resize", onWindowResize);
    const last = socket;
    socket = null; // so that its close is not taken for a failed handshake
    last?.close();
    term.dispose();
  });

  // a handshake the browser cut off (the host's network changed) is tried again, a few times
  function open(attempt = 0) {
    socket?.close();
    term.reset();
    const query = new URLSearchParams({ container: select.value, stdin: "true", stdout: "true", tty: "true" });
    for (const word of command.value.trim().split(/\s+/).filter(Boolean)) query.append("command", word);
    // same origin: the browser sends the session cookie with the upgrade, and its Origin header
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}/exec?${query}`;
    const ws = new WebSocket(url, EXEC_PROTOCOLS);
    socket = ws;
    ws.binaryType = "arraybuffer";
    let opened = false;
    state.textContent = "connecting…";
    ws.onopen = () => { opened = true; state.textContent = `connected (${ws.protocol})`; resize(); term.focus(); };
    ws.onmessage = (event) => {
      const bytes = new Uint8Array(event.data);
      if (bytes[0] === STDOUT || bytes[0] === STDERR) term.write(bytes.subarray(1));
      else if (bytes[0] === STATUS) {
        const result = JSON.parse(new TextDecoder().decode(bytes.subarray(1)));
        state.textContent = result.status === "Success" ? "exited" : `ended: ${result.message || result.reason}`;
      }
    };
    ws.onclose = () => {
      if (ws !== socket) return; // a newer connection replaced this one
      if (!opened && attempt < 3) {
        setTimeout(() => { if (ws === socket) open(attempt + 1); }, 500 * (attempt + 1));
        return;
      }
      if (state.textContent.startsWith("connect")) state.textContent = opened ? "closed" : "the connection failed";
    };
  }
  connect.addEventListener("click", () => open());
  command.addEventListener("keydown", (event) => { if (event.key === "Enter") open(); });
  open();
}
