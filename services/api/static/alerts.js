// Active alerts with acknowledge and silence (operator). The panel says "alerts not
// available" when this API has no alert routes.

import { ApiError, get, post } from "./api.js";
import { fill, h } from "./dom.js";
import { canOperate, notify } from "./actions.js";
import { time } from "./time.js";

const SILENCE_FOR = "1h";

export async function loadAlerts() {
  const list = document.getElementById("alerts-list");
  let data;
  try {
    data = await get("/api/v1/alerts");
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      return fill(list, [], "alerts not available");
    }
    throw err;
  }
  fill(list, data.items.map(row), "no active alerts");
}

function row(a) {
  const key = encodeURIComponent(a.key);
  const acked = a.acked_at ? h("span", { class: "badge neutral" }, `acked by ${a.acked_by || "?"}`) : null;
  const silenced = a.silenced_until ? [h("span", { class: "badge neutral" }, "silenced until "), time(a.silenced_until)] : [];
  return h("li", { class: `alert ${a.severity}`, dataset: { key: a.key } },
    h("div", { class: "row" }, h("span", { class: `badge ${a.severity === "critical" ? "bad" : "warn"}` }, a.severity),
      h("strong", {}, a.title), acked, ...silenced),
    h("div", { class: "muted small" }, a.message, " · since ", time(a.first_seen), a.count > 1 ? ` · ×${a.count}` : ""),
    h("div", { class: "row ops" },
      h("button", { type: "button", disabled: !canOperate(), dataset: { alert: "ack" }, onclick: () => change(`/api/v1/alerts/${key}/ack`, {}) }, "Acknowledge"),
      h("button", { type: "button", disabled: !canOperate(), dataset: { alert: "silence" },
        onclick: () => change(`/api/v1/alerts/${key}/silence`, { for: SILENCE_FOR }) }, `Silence ${SILENCE_FOR}`)));
}

async function change(path, body) {
  try {
    await post(path, body);
    await loadAlerts();
  } catch (err) {
    notify(err.message, "bad");
  }
}
