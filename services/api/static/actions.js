// Operator actions: run, pause (asks for a reason), resume — per task or for the ticked
// tasks — and run all. Enabled only for a token with the operator role (or an open API).

import { post } from "./api.js";

const OPERATOR = new Set(["operator", "admin"]);
let reload = async () => {};

export function notify(text, tone = "info") {
  const el = document.getElementById("notice");
  el.textContent = text;
  el.dataset.tone = tone;
  el.hidden = !text;
}

let role = null;

// Whether the caller may use the operator buttons (rendered disabled otherwise).
export function canOperate() {
  return OPERATOR.has(role);
}

export function setRole(value) {
  role = value;
  const allowed = canOperate();
  document.body.dataset.role = value || "none";
  document.body.classList.toggle("read-only", !allowed);
  for (const b of document.querySelectorAll("[data-bulk], [data-act]")) b.disabled = !allowed;
}

function askReason(what) {
  const dialog = document.getElementById("pause-dialog");
  const input = document.getElementById("pause-reason");
  document.getElementById("pause-what").textContent = what;
  input.value = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok" && input.value.trim() ? input.value.trim() : null);
    }, { once: true });
  });
}

const ACTS = {
  run: (task) => post("/api/v1/runs", { task, reason: "run from the dashboard" }),
  pause: (task, reason) => post(`/api/v1/tasks/${encodeURIComponent(task)}/pause`, { reason }),
  resume: (task) => post(`/api/v1/tasks/${encodeURIComponent(task)}/resume`),
};

async function act(action, tasks) {
  if (!tasks.length) return notify("tick one or more tasks first", "warn");
  let reason;
  if (action === "pause") {
    reason = await askReason(tasks.length === 1 ? tasks[0] : `${tasks.length} tasks`);
    if (reason == null) return;
  }
  const outcomes = await Promise.allSettled(tasks.map((t) => ACTS[action](t, reason)));
  const failed = outcomes.filter((o) => o.status === "rejected");
  if (failed.length) notify(`${action}: ${failed[0].reason.message}`, "bad");
  else notify(`${action} requested for ${tasks.join(", ")}`, "ok");
  await settle(action === "run" ? null : { tasks, paused: action === "pause" });
}

// Pause and resume are applied by the scheduler a moment after the 202: reload until the
// tasks show the new state (or SETTLE_TRIES reloads have passed).
const SETTLE_TRIES = 20;
const SETTLE_MS = 250;
async function settle(expect) {
  for (let i = 0; i < SETTLE_TRIES; i++) {
    const tasks = await reload();
    if (!expect || expect.tasks.every((n) => (tasks.find((t) => t.name === n) || {}).paused === expect.paused)) return;
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  }
}

async function runAll() {
  try {
    const reply = await post("/api/v1/runs/all", { reason: "run-all from the dashboard" });
    notify(`run requested for ${reply.requested.length} tasks`, "ok");
  } catch (err) {
    notify(`run all: ${err.message}`, "bad");
  }
}

export function bindActions(onChange) {
  reload = onChange;
  const table = document.getElementById("task-table");
  table.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-act]");
    if (button) act(button.dataset.act, [button.dataset.task]);
  });
  document.getElementById("select-all").addEventListener("change", (e) => {
    for (const box of table.querySelectorAll("tbody input[type=checkbox]")) box.checked = e.target.checked;
  });
  for (const button of document.querySelectorAll("[data-bulk]")) {
    button.addEventListener("click", () => {
      if (button.dataset.bulk === "run-all") return runAll();
      const ticked = [...table.querySelectorAll("tbody input:checked")].map((i) => i.value);
      return act(button.dataset.bulk, ticked);
    });
  }
}
