// The task table: failing tasks first, each with its state, last and next run, result
// and duration sparklines, and operator buttons. A name/tag filter lives in the URL (?q=).

import { canOperate } from "./actions.js";
import { get } from "./api.js";
import { durationLine, resultStrip } from "./charts.js";
import { badge, h, tone } from "./dom.js";
import { time, setTaskZones } from "./time.js";
import { param } from "./url.js";

const TREND_POINTS = 20;
let tasks = [];
let trends = {};

export function allTasks() {
  return tasks;
}

export async function loadTasks() {
  const [page, series] = await Promise.all([
    get("/api/v1/tasks", { limit: 500 }), get("/api/v1/runs/trends", { per_task: TREND_POINTS }),
  ]);
  tasks = page.items;
  trends = series.tasks;
  setTaskZones(tasks);
  renderTasks();
  return tasks;
}

// A finished run moves its task's state and sparklines without a reload.
export function onFinished(event) {
  const task = tasks.find((t) => t.name === event.task);
  if (!task) return;
  task.last_status = event.status;
  task.last_run_at = event.finished_at;
  if (tone(event.status) === "bad") task.consecutive_failures += 1;
  else if (event.status === "succeeded") task.consecutive_failures = 0;
  const points = (trends[event.task] ||= []);
  points.push({ run_id: event.run_id, status: event.status, duration_s: event.duration_s });
  if (points.length > TREND_POINTS) points.shift();
  renderTasks();
}

function failing(t) {
  return t.consecutive_failures > 0 || tone(t.last_status) === "bad";
}

function matches(t, q) {
  const needle = q.toLowerCase();
  return !needle || t.name.toLowerCase().includes(needle) || t.tags.some((tag) => tag.toLowerCase() === needle);
}

export function renderTasks() {
  const selected = new Set([...document.querySelectorAll("#task-table tbody input:checked")].map((i) => i.value));
  const q = param("q");
  const shown = tasks.filter((t) => matches(t, q))
    .sort((a, b) => failing(b) - failing(a) || a.name.localeCompare(b.name));
  document.querySelector("#task-table tbody").replaceChildren(...shown.map((t) => row(t, selected.has(t.name))));
}

function stateCell(t) {
  const parts = [];
  if (!t.enabled) parts.push(h("span", { class: "badge neutral" }, "disabled"));
  if (t.paused) parts.push(h("span", { class: "badge warn" }, "paused"));
  if (failing(t)) parts.push(h("span", { class: "badge bad" }, `failing ×${t.consecutive_failures}`));
  if (!parts.length) parts.push(h("span", { class: "badge ok" }, "active"));
  return parts;
}

function row(t, checked) {
  const points = trends[t.name] || [];
  const locked = !canOperate();
  return h("tr", { dataset: { task: t.name, paused: String(t.paused) }, class: failing(t) ? "failing" : "" },
    h("td", {}, h("input", { type: "checkbox", value: t.name, checked, "aria-label": `select ${t.name}` })),
    h("td", {}, h("strong", {}, t.name), h("div", { class: "muted small" }, t.handler,
      t.window ? ` · window ${t.window}` : "", ` · ${t.timezone}`)),
    h("td", { class: "state" }, ...stateCell(t)),
    h("td", {}, badge(t.last_status), " ", time(t.last_run_at, t.name)),
    h("td", {}, time(t.next_fire, t.name)),
    h("td", {}, resultStrip(points)),
    h("td", {}, durationLine(points)),
    h("td", { class: "ops" },
      h("button", { type: "button", disabled: locked, dataset: { act: "run", task: t.name } }, "Run"),
      t.paused
        ? h("button", { type: "button", disabled: locked, dataset: { act: "resume", task: t.name } }, "Resume")
        : h("button", { type: "button", disabled: locked, dataset: { act: "pause", task: t.name } }, "Pause")));
}
