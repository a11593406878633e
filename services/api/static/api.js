// Requests to the API: the base URL (api.base_url) before every path, the bearer token
// (kept in sessionStorage, this tab only) on every request, errors as exceptions.

const TOKEN_KEY = "watchkeeper.token";
export const BASE = document.querySelector('meta[name="wk-base"]').content;

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || "http_error";
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export function url(path) {
  return BASE + path;
}

export function headers() {
  const t = token();
  return t ? { Authorization: `Bearer ${t}` } : {};
}

export async function get(path, params) {
  const query = params ? "?" + new URLSearchParams(clean(params)) : "";
  return send("GET", path + query);
}

export async function post(path, body) {
  return send("POST", path, body || {});
}

async function send(method, path, body) {
  const init = { method, headers: headers(), cache: "no-store" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(url(path), init);
  const isJson = (resp.headers.get("Content-Type") || "").startsWith("application/json");
  const data = isJson ? await resp.json() : await resp.text();
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

function clean(params) {
  return Object.fromEntries(Object.entries(params).filter(([, v]) => v !== "" && v != null));
}
