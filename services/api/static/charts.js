// Small inline SVG charts: result strips and duration sparklines per task, and gauges.

import { tone } from "./dom.js";

const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}) {
  const el = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, value);
  return el;
}

function titled(el, text) {
  const t = svg("title");
  t.textContent = text;
  el.append(t);
  return el;
}

// One bar per result, coloured by outcome; the title gives the success rate.
export function resultStrip(points, width = 120, height = 18) {
  const root = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "spark" });
  const ran = points.filter((p) => tone(p.status) !== "neutral");
  const ok = ran.filter((p) => p.status === "succeeded").length;
  titled(root, ran.length ? `success ${Math.round((100 * ok) / ran.length)}% of ${ran.length} runs`
    : "no completed runs");
  const step = width / Math.max(points.length, 10);
  points.forEach((p, i) => {
    root.append(titled(svg("rect", { x: i * step + 1, y: 2, width: Math.max(step - 2, 1),
      height: height - 4, rx: 1, class: `bar ${tone(p.status)}` }), p.status));
  });
  return root;
}

// Duration of each run as a line, scaled to the slowest shown.
export function durationLine(points, width = 120, height = 18) {
  const root = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "spark" });
  const values = points.map((p) => p.duration_s || 0);
  const max = Math.max(...values, 0.001);
  titled(root, values.length ? `last ${values[values.length - 1].toFixed(2)} s, max ${max.toFixed(2)} s`
    : "no runs");
  if (!values.length) return root;
  const step = (width - 4) / Math.max(values.length - 1, 1);
  const offset = values.length > 1 ? 2 : width - 2; // a lone run sits where the latest goes
  const coords = values.map((v, i) => [offset + i * step, height - 2 - (v / max) * (height - 4)]);
  root.append(svg("polyline", { points: coords.map((c) => c.join(",")).join(" "), class: "line" }));
  const [x, y] = coords[coords.length - 1];
  root.append(svg("circle", { cx: x, cy: y, r: 2, class: "dot" })); // the latest run
  return root;
}

// A half-ring gauge for a 0–100 value; `bad` when at or over the threshold.
export function gauge(label, value, threshold) {
  const r = 36;
  const arc = Math.PI * r;
  const shown = Math.max(0, Math.min(100, value ?? 0));
  const state = value == null ? "neutral" : value >= threshold ? "bad" : value >= threshold - 10 ? "warn" : "ok";
  const root = svg("svg", { width: 84, height: 56, viewBox: "0 0 96 64", class: `gauge ${state}`,
    role: "img", "aria-label": `${label} ${Math.round(shown)}` });
  const path = `M 12 52 A ${r} ${r} 0 0 1 84 52`;
  root.append(svg("path", { d: path, class: "track" }));
  root.append(svg("path", { d: path, class: "value", "stroke-dasharray": `${(arc * shown) / 100} ${arc}` }));
  const num = svg("text", { x: 48, y: 46, class: "num" });
  num.textContent = value == null ? "—" : `${Math.round(value)}`;
  const name = svg("text", { x: 48, y: 62, class: "label" });
  name.textContent = label;
  root.append(num, name);
  return titled(root, `${label}: ${value == null ? "unknown" : value.toFixed(1)} (threshold ${threshold})`);
}
