// Building elements without innerHTML: every value from the API is set as text.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(name, value === true ? "" : value);
  }
  el.append(...children.flat().filter((c) => c != null));
  return el;
}

const BAD = new Set(["failed", "timed_out", "dead_lettered", "rolled_back"]);
const NEUTRAL = new Set(["skipped", "cancelled"]);

// ok | bad | neutral: a run skipped by a calendar or window is neutral, never a failure.
export function tone(status) {
  if (status === "succeeded") return "ok";
  if (BAD.has(status)) return "bad";
  if (NEUTRAL.has(status)) return "neutral";
  return "info";
}

export function badge(status) {
  return h("span", { class: `badge ${tone(status)}`, dataset: { status } }, status || "never run");
}

export function fill(parent, children, empty) {
  parent.replaceChildren(...(children.length ? children : [h("li", { class: "muted" }, empty)]));
}

export function seconds(s) {
  if (s == null) return "";
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 120) return `${s.toFixed(1)} s`;
  return `${Math.round(s / 60)} min`;
}
