// Every time on the page is a <time data-t="epoch seconds" data-task="name">, written in
// the zone the switch says: UTC, the browser's, or the task's own schedule zone.

import { h } from "./dom.js";

const DEFAULT_ZONE = document.querySelector('meta[name="wk-timezone"]').content || "UTC";
const taskZones = new Map();
let mode = "utc";
const formats = new Map();

export function setMode(value) {
  mode = ["utc", "local", "task"].includes(value) ? value : "utc";
  refreshTimes();
  return mode;
}

export function setTaskZones(tasks) {
  for (const t of tasks) taskZones.set(t.name, t.timezone);
}

function zoneFor(task) {
  if (mode === "utc") return "UTC";
  if (mode === "local") return undefined; // the browser's own zone
  return taskZones.get(task) || DEFAULT_ZONE;
}

function formatter(zone) {
  const key = zone || "";
  if (!formats.has(key)) {
    formats.set(key, new Intl.DateTimeFormat("en-GB", {
      timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
      timeZoneName: "short",
    }));
  }
  return formats.get(key);
}

export function format(epoch, task) {
  const parts = Object.fromEntries(
    formatter(zoneFor(task)).formatToParts(new Date(epoch * 1000)).map((p) => [p.type, p.value]));
  const zone = mode === "task" ? taskZones.get(task) || DEFAULT_ZONE : parts.timeZoneName;
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second} ${zone}`;
}

export function time(epoch, task = "") {
  if (epoch == null) return h("span", { class: "muted" }, "—");
  const el = h("time", { datetime: new Date(epoch * 1000).toISOString(), dataset: { t: epoch, task } });
  el.textContent = format(epoch, task);
  return el;
}

export function refreshTimes(root = document) {
  for (const el of root.querySelectorAll("time[data-t]")) {
    el.textContent = format(Number(el.dataset.t), el.dataset.task);
  }
}
