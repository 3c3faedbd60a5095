// The API, called with the signed-in key. The key lives in sessionStorage (this tab only, gone when it
// closes) and travels in the Authorization header; it is never put in a URL.

const KEY = "orchestrator.apiKey";

export const session = {
  get key() {
    return sessionStorage.getItem(KEY);
  },
  signIn(key) {
    sessionStorage.setItem(KEY, key);
  },
  signOut() {
    sessionStorage.removeItem(KEY);
  },
};

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

export function authHeaders(extra = {}) {
  return { Authorization: `Bearer ${session.key}`, ...extra };
}

export async function request(method, path, body, signal, extra = {}) {
  const headers = authHeaders(body === undefined ? extra : { "Content-Type": "application/json", ...extra });
  const init = { method, headers, signal, cache: "no-store" };
  if (body !== undefined) init.body = JSON.stringify(body);
  return fetch(path, init);
}

export async function api(method, path, body, signal) {
  const resp = await request(method, path, body, signal);
  if (resp.status === 204) return null;
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { message: text.slice(0, 300) };
  }
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

export const get = (path, signal) => api("GET", path, undefined, signal);
export const post = (path, body, signal) => api("POST", path, body, signal);
export const del = (path) => api("DELETE", path);

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") q.set(k, v);
  const text = q.toString();
  return text ? `?${text}` : "";
}

export const depPath = (id, rest = "") => `/v1/deployments/${encodeURIComponent(id)}${rest}`;
