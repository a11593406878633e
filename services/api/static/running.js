// Runs in progress: loaded from /runs/running, then kept current by the live feed
// (run.queued adds a queued row, run.progress moves its bar, run.finished removes it).

import { get } from "./api.js";
import { fill, h } from "./dom.js";
import { time } from "./time.js";

const runs = new Map();

export async function loadRunning() {
  const data = await get("/api/v1/runs/running");
  runs.clear();
  for (const run of data.items) runs.set(run.run_id, { ...run, state: "running" });
  render();
}

export function onQueued(event) {
  if (!runs.has(event.run_id)) runs.set(event.run_id, { ...event, state: "queued", progress: null });
  render();
}

export function onProgress(event) {
  const run = runs.get(event.run_id) || { run_id: event.run_id, task: event.task };
  runs.set(event.run_id, { ...run, state: "running", progress: event });
  render();
}

export function onFinished(event) {
  runs.delete(event.run_id);
  render();
}

function percent(p) {
  if (!p) return null;
  if (p.percent != null) return p.percent;
  return p.total ? (100 * p.done) / p.total : null;
}

function row(run) {
  const pct = percent(run.progress);
  const bar = h("progress", { max: 100, value: pct ?? undefined });
  const since = run.progress ? time(run.progress.updated_at, run.task) : time(run.scheduled_for, run.task);
  return h("li", { dataset: { run: run.run_id } },
    h("div", { class: "row" }, h("strong", {}, run.task), h("span", { class: "muted small" }, run.state), since),
    h("div", { class: "row" }, bar, h("span", { class: "small" }, pct == null ? "" : `${Math.round(pct)}%`),
      h("span", { class: "muted small" }, (run.progress && run.progress.note) || "")));
}

function render() {
  fill(document.getElementById("running-list"), [...runs.values()].map(row), "nothing running");
}
