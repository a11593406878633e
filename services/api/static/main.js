// Wiring: who the caller is, the first load of every panel, the live feed, the view
// switches (time zone, theme, filters) and a slow refresh for what only time changes.

import { bindActions, notify, setRole } from "./actions.js";
import { loadAlerts } from "./alerts.js";
import { ApiError, get, setToken, token } from "./api.js";
import { HEALTH_HANDLER, loadHealth } from "./health.js";
import { bindHistory, initHistory, loadHistory, onFinished as historyFinished } from "./history.js";
import { follow } from "./live.js";
import * as running from "./running.js";
import { allTasks, loadTasks, onFinished as taskFinished, renderTasks } from "./tasks.js";
import { setMode } from "./time.js";
import { loadUpcoming } from "./upcoming.js";
import { param, setParams } from "./url.js";

const SLOW_REFRESH_MS = 30000;
const THEME_KEY = "watchkeeper.theme";

async function guarded(what, load) {
  try {
    await load();
  } catch (err) {
    notify(`${what}: ${err.message}`, "bad");
  }
}

async function loadAll() {
  await guarded("tasks", async () => {
    const tasks = await loadTasks();
    initHistory(tasks);
    await loadHealth(tasks);
  });
  await Promise.all([guarded("history", loadHistory), guarded("running", running.loadRunning),
    guarded("upcoming", loadUpcoming), guarded("alerts", loadAlerts)]);
}

function onEvent(name, data) {
  if (name === "run.queued") running.onQueued(data);
  else if (name === "run.progress") running.onProgress(data);
  else if (name === "run.finished") {
    running.onFinished(data);
    taskFinished(data);
    historyFinished(data);
    const task = allTasks().find((t) => t.name === data.task);
    if (task && task.handler === HEALTH_HANDLER) guarded("health", () => loadHealth(allTasks()));
  } else if (name.startsWith("alert.")) guarded("alerts", loadAlerts);
}

let wasLive = false;
function onState(state) {
  const pill = document.getElementById("live");
  pill.dataset.state = state;
  pill.textContent = state === "live" ? "live" : "reconnecting…";
  document.body.dataset.live = state === "live" ? "1" : "0";
  if (state === "live" && wasLive) loadAll(); // events sent while away are not replayed
  if (state === "live") wasLive = true;
}

function bindView() {
  const tz = document.getElementById("tz");
  tz.value = setMode(param("tz", "utc"));
  tz.addEventListener("change", () => { setParams({ tz: tz.value === "utc" ? "" : tz.value }); setMode(tz.value); });
  const filter = document.getElementById("task-filter");
  filter.value = param("q");
  filter.addEventListener("input", () => { setParams({ q: filter.value }); renderTasks(); });
  const saved = localStorage.getItem(THEME_KEY);
  if (saved) document.documentElement.dataset.theme = saved;
  document.getElementById("theme-btn").addEventListener("click", () => {
    const dark = document.documentElement.dataset.theme
      ? document.documentElement.dataset.theme === "dark"
      : matchMedia("(prefers-color-scheme: dark)").matches;
    document.documentElement.dataset.theme = dark ? "light" : "dark";
    localStorage.setItem(THEME_KEY, document.documentElement.dataset.theme);
  });
  const dialog = document.getElementById("token-dialog");
  document.getElementById("token-btn").addEventListener("click", () => {
    document.getElementById("token-input").value = token();
    dialog.showModal();
  });
  dialog.addEventListener("close", () => {
    if (dialog.returnValue === "ok") setToken(document.getElementById("token-input").value.trim());
    else if (dialog.returnValue === "clear") setToken("");
    else return;
    location.reload(); // the live feed reconnects with the new token
  });
}

async function whoami() {
  try {
    return await get("/api/v1/whoami");
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) return null;
    throw err;
  }
}

async function start() {
  bindView();
  bindActions(async () => { const tasks = await loadTasks(); await loadUpcoming(); return tasks; });
  bindHistory();
  const who = await whoami();
  const label = document.getElementById("who");
  if (who === null) {
    setRole(null);
    label.textContent = token() ? "token refused" : "no token";
    notify("This API needs a bearer token: use the Token button (a viewer token is read-only).", "warn");
    return;
  }
  setRole(who.role);
  label.textContent = who.role === "viewer" ? `${who.name}: viewer mode` : `${who.name}: ${who.role}`;
  await loadAll();
  follow(onEvent, onState);
  setInterval(() => { guarded("tasks", loadTasks); guarded("upcoming", loadUpcoming); }, SLOW_REFRESH_MS);
}

start().catch((err) => notify(err.message, "bad"));
