// System health: the latest result of a system_health_check task — its 0–100 score and
// CPU, memory and disk gauges against the thresholds that run used.

import { get } from "./api.js";
import { gauge } from "./charts.js";
import { h } from "./dom.js";
import { time } from "./time.js";

export const HEALTH_HANDLER = "system_health_check";

export async function loadHealth(tasks) {
  const checks = tasks.filter((t) => t.handler === HEALTH_HANDLER)
    .sort((a, b) => (b.last_run_at || 0) - (a.last_run_at || 0));
  const target = document.getElementById("gauges");
  const meta = document.getElementById("health-meta");
  if (!checks.length) {
    target.replaceChildren(h("p", { class: "muted" }, "no system_health_check task configured"));
    meta.textContent = "";
    return;
  }
  const page = await get("/api/v1/runs", { task: checks[0].name, limit: 1 });
  const last = page.items[0];
  if (!last || !last.metrics || last.metrics.health_score == null) {
    target.replaceChildren(h("p", { class: "muted" }, "no health check result yet"));
    meta.textContent = "";
    return;
  }
  render(target, meta, last);
}

function render(target, meta, result) {
  const m = result.metrics;
  const limits = (result.details && result.details.thresholds) || {};
  const score = m.health_score;
  const tone = score >= 70 ? "ok" : score >= 40 ? "warn" : "bad";
  target.replaceChildren(
    h("div", { class: `score ${tone}`, id: "health-score" },
      h("span", { class: "num" }, String(Math.round(score))), h("span", { class: "label" }, "score / 100")),
    gauge("CPU", m.cpu_percent, limits.cpu ?? 80),
    gauge("Memory", m.memory_percent, limits.memory ?? 85),
    gauge("Disk", m.disk_percent, limits.disk ?? 90),
  );
  meta.replaceChildren(`${result.task}: ${result.message} · `, time(result.finished_at, result.task));
}
