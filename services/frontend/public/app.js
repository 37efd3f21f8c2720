// The page: submit tasks, watch them flow. Polls /api/stats and /api/tasks every 1.5 s.
"use strict";

const config = window.TASK_PLATFORM || {};
const API = (config.apiBase || "").replace(/\/$/, "");
const POLL_MS = 1500;
const PAGE = 25;

const $ = (id) => document.getElementById(id);
const state = { cursor: null, cursors: [], filter: "" };

async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(API + path, options);
  } catch (e) {
    throw Object.assign(new Error("The API cannot be reached. Is the stack running?"), { unreachable: true });
  }
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (_) { body = null; }
  if (!response.ok) {
    const err = body && body.error;
    const message = err ? (err.field ? `${err.field}: ${err.message}` : err.message) : `HTTP ${response.status}`;
    throw Object.assign(new Error(message), { status: response.status });
  }
  return body;
}

function showConnection(error) {
  const banner = $("connection");
  if (error && error.unreachable) {
    banner.textContent = error.message;
    banner.hidden = false;
  } else if (error && error.status === 503) {
    banner.textContent = "The queue or the task store is unavailable; retrying.";
    banner.hidden = false;
  } else {
    banner.hidden = true;
  }
}

function formMessage(text, kind) {
  const p = $("form-message");
  p.textContent = text;
  p.className = "message " + (kind || "");
}

function readForm() {
  const count = Number($("count").value);
  const fail = Number($("fail_percent").value);
  if (!Number.isInteger(count) || count < 1 || count > 1000) {
    return { error: "Number of tasks must be a whole number from 1 to 1000.", field: "count" };
  }
  if (!Number.isInteger(fail) || fail < 0 || fail > 100) {
    return { error: "Fail % must be a whole number from 0 to 100.", field: "fail_percent" };
  }
  return { body: { kind: $("kind").value, intensity: $("intensity").value, count, fail_percent: fail } };
}

async function submit(event) {
  event.preventDefault();
  const input = readForm();
  for (const id of ["count", "fail_percent"]) $(id).removeAttribute("aria-invalid");
  if (input.error) {
    $(input.field).setAttribute("aria-invalid", "true");
    $(input.field).focus();
    formMessage(input.error, "error");
    return;
  }
  $("submit").disabled = true;
  try {
    const result = await api("/api/tasks", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(input.body),
    });
    const rejected = result.rejected.length ? `, ${result.rejected.length} rejected` : "";
    formMessage(`${result.tasks.length} task(s) queued${rejected}.`, "ok");
    showConnection(null);
    refresh();
  } catch (e) {
    formMessage(e.message, "error");
    showConnection(e);
  } finally {
    $("submit").disabled = false;
  }
}

async function deleteAll() {
  if (!window.confirm("Delete every task from the list?")) return;
  try {
    const result = await api("/api/tasks", { method: "DELETE" });
    formMessage(`${result.deleted} task(s) deleted.`, "ok");
    state.cursor = null; state.cursors = [];
    refresh();
  } catch (e) { formMessage(e.message, "error"); showConnection(e); }
}

async function redrive() {
  try {
    const result = await api("/api/dead-letters/redrive", { method: "POST" });
    formMessage(`${result.tasks} dead-lettered task(s) sent back to the queue.`, "ok");
    refresh();
  } catch (e) { formMessage(e.message, "error"); showConnection(e); }
}

function renderStats(stats) {
  const values = Object.assign({}, stats.tasks, stats.queue, {
    throughput: stats.throughput.completed_per_second.toFixed(2) + "/s",
  });
  for (const dd of document.querySelectorAll("[data-stat]")) {
    const v = values[dd.dataset.stat];
    dd.textContent = v === undefined || v === null ? "-" : String(v);
  }
  renderChart(stats.history);
}

function renderChart(history) {
  const svg = $("chart");
  const points = [];
  for (let i = 1; i < history.length; i++) {
    const a = history[i - 1], b = history[i];
    const seconds = (Date.parse(b.at) - Date.parse(a.at)) / 1000;
    if (seconds <= 0) continue;
    const done = (b.succeeded + b.dead_lettered) - (a.succeeded + a.dead_lettered);
    points.push({ t: Date.parse(b.at), rate: Math.max(0, done / seconds) });
  }
  if (points.length === 0) { svg.innerHTML = ""; return; }
  const now = Date.now(), span = 15 * 60 * 1000;
  const max = Math.max(1, ...points.map((p) => p.rate));
  const xy = points.map((p) => `${(600 * (1 - (now - p.t) / span)).toFixed(1)},${(115 - 105 * p.rate / max).toFixed(1)}`);
  svg.innerHTML = `<polyline fill="none" stroke="#0b57d0" stroke-width="2" points="${xy.join(" ")}"/>` +
    `<text x="4" y="14" font-size="11" fill="#4a5360">${max.toFixed(1)}/s</text>`;
}

function traceCell(task) {
  if (!task.trace_id) return "";
  const xrayId = `1-${task.trace_id.slice(0, 8)}-${task.trace_id.slice(8)}`;
  if (config.xrayRegion) {
    const a = document.createElement("a");
    a.href = `https://${config.xrayRegion}.console.aws.amazon.com/cloudwatch/home?region=${config.xrayRegion}#xray:traces/${xrayId}`;
    a.textContent = xrayId;
    a.target = "_blank"; a.rel = "noopener";
    return a;
  }
  const code = document.createElement("code");
  code.textContent = xrayId;
  return code;
}

function renderTasks(page) {
  const rows = $("task-rows");
  rows.replaceChildren(...page.tasks.map((t) => {
    const tr = document.createElement("tr");
    tr.dataset.status = t.status;
    const cells = [
      (() => { const s = document.createElement("span"); s.className = `badge ${t.status}`; s.textContent = t.status.replace("_", " "); return s; })(),
      t.kind, t.intensity, String(t.fail_percent), String(t.attempts),
      t.duration_ms === null ? "" : `${t.duration_ms} ms`,
      new Date(t.created_at).toLocaleTimeString(),
      traceCell(t),
    ];
    for (const c of cells) {
      const td = document.createElement("td");
      if (typeof c === "string") td.textContent = c; else td.append(c);
      tr.append(td);
    }
    return tr;
  }));
  state.next = page.next_cursor || null;
  $("older").disabled = !state.next;
  $("newest").disabled = state.cursor === null;
}

async function refresh() {
  try {
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (state.filter) query.set("status", state.filter);
    if (state.cursor) query.set("cursor", state.cursor);
    const [stats, page] = await Promise.all([api("/api/stats"), api(`/api/tasks?${query}`)]);
    renderStats(stats);
    renderTasks(page);
    showConnection(null);
  } catch (e) {
    showConnection(e);
  }
}

function init() {
  $("submit-form").addEventListener("submit", submit);
  $("delete-all").addEventListener("click", deleteAll);
  $("redrive").addEventListener("click", redrive);
  $("status-filter").addEventListener("change", (e) => { state.filter = e.target.value; state.cursor = null; refresh(); });
  $("older").addEventListener("click", () => { if (state.next) { state.cursors.push(state.cursor); state.cursor = state.next; refresh(); } });
  $("newest").addEventListener("click", () => { state.cursor = null; state.cursors = []; refresh(); });
  refresh();
  setInterval(refresh, POLL_MS);
}

init();
