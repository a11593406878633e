// Upcoming: maintenance windows (open now, next open/close) and the next fires.

import { get } from "./api.js";
import { fill, h } from "./dom.js";
import { time } from "./time.js";

const FIRES_SHOWN = 8;

export async function loadUpcoming() {
  const [windows, upcoming] = await Promise.all([
    get("/api/v1/windows"), get("/api/v1/schedule/upcoming", { hours: 24, limit: FIRES_SHOWN }),
  ]);
  fill(document.getElementById("windows-list"), windows.windows.map(windowRow), "no windows configured");
  fill(document.getElementById("fires-list"), upcoming.fires.map(fireRow), "nothing in the next 24 h");
}

function epoch(iso) {
  return iso ? Date.parse(iso) / 1000 : null;
}

function windowRow(w) {
  const state = w.open_now
    ? [h("span", { class: "badge ok" }, "open"), " closes ", time(epoch(w.closes_at))]
    : [h("span", { class: "badge neutral" }, "closed"), " opens ", time(epoch(w.next_open))];
  const load = w.max_concurrent ? ` · ${w.running}/${w.max_concurrent} running` : "";
  return h("li", {}, h("strong", {}, w.name), " ", ...state, load);
}

function fireRow(f) {
  const note = f.in_window === false ? h("span", { class: "muted small" }, " (outside window)") : null;
  return h("li", {}, time(epoch(f.utc), f.task), " ", h("strong", {}, f.task), note);
}
