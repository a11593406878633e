// Run history from /api/v1/runs: filters (task, status) and the page cursor (before) live
// in the URL, so a reload or a shared link shows the same page. New results arrive live
// on the first page.

import { get } from "./api.js";
import { badge, h, seconds } from "./dom.js";
import { time } from "./time.js";
import { param, setParams } from "./url.js";

const PAGE = 25;
let next = null;

export function initHistory(tasks) {
  const taskSelect = document.getElementById("history-task");
  const current = param("task");
  const names = new Set(tasks.map((t) => t.name));
  if (current) names.add(current);
  taskSelect.replaceChildren(h("option", { value: "" }, "all"),
    ...[...names].sort().map((n) => h("option", { value: n }, n)));
  taskSelect.value = current;
  document.getElementById("history-status").value = param("status");
}

export function bindHistory() {
  const change = (name) => (e) => { setParams({ [name]: e.target.value, before: "" }); loadHistory(); };
  document.getElementById("history-task").addEventListener("change", change("task"));
  document.getElementById("history-status").addEventListener("change", change("status"));
  document.getElementById("history-newest").addEventListener("click", () => { setParams({ before: "" }); loadHistory(); });
  document.getElementById("history-older").addEventListener("click", () => {
    if (next) { setParams({ before: next }); loadHistory(); }
  });
}

export async function loadHistory() {
  const page = await get("/api/v1/runs", {
    task: param("task"), status: param("status"), before: param("before"), limit: PAGE,
  });
  next = page.next;
  document.getElementById("history-older").disabled = !next;
  document.getElementById("history-newest").disabled = !param("before");
  document.querySelector("#history-table tbody").replaceChildren(...page.items.map(row));
}

export function onFinished(event) {
  if (param("before")) return; // an older page stays as it is
  if ((param("task") && param("task") !== event.task) || (param("status") && param("status") !== event.status)) return;
  const body = document.querySelector("#history-table tbody");
  if (body.querySelector(`tr[data-run="${CSS.escape(event.run_id)}"][data-attempt="${event.attempt}"]`)) return;
  body.prepend(row(event));
  while (body.children.length > PAGE) body.lastElementChild.remove();
}

function row(r) {
  return h("tr", { dataset: { run: r.run_id, attempt: String(r.attempt), status: r.status } },
    h("td", {}, time(r.finished_at, r.task)), h("td", {}, r.task), h("td", {}, badge(r.status)),
    h("td", {}, seconds(r.duration_s)), h("td", {}, r.trigger || ""), h("td", { class: "msg" }, r.message || ""));
}
