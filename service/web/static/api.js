// Thin client for the TechScore API; the key lives in sessionStorage only.
const KEY_STORE = "techscore.apiKey";
export const TIMEOUT_MS = 30_000;           // one firm, what-if, history: answered in well under a second
export const UPLOAD_TIMEOUT_MS = 600_000;   // a CSV of many thousand rows

export const session = {
  get key() { return sessionStorage.getItem(KEY_STORE); },
  set key(v) { if (v) sessionStorage.setItem(KEY_STORE, v); else sessionStorage.removeItem(KEY_STORE); },
};

/**
 * A failed request: `kind` is "network" (no answer at all), "timeout" or "http" (an answer with an
 * error status and, from this API, an RFC 9457 problem document).
 */
export class ApiError extends Error {
  constructor(status, problem, { kind = "http", retryAfter = null, timeoutMs = null } = {}) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.kind = kind;
    this.retryAfter = retryAfter;
    this.timeoutMs = timeoutMs;
  }
  /** Per-field errors [{field, rule, value, problem}] when the API named the fields. */
  get fieldErrors() { return Array.isArray(this.problem?.errors) ? this.problem.errors : []; }
}

const networkError = () => new ApiError(0, { title: "network error" }, { kind: "network" });
const timeoutError = (ms) => new ApiError(0, { title: "timeout" }, { kind: "timeout", timeoutMs: ms });

async function parse(resp) {
  const type = resp.headers.get("content-type") || "";
  let body;
  try {
    body = type.includes("json") ? await resp.json() : await resp.text();
  } catch {
    body = null; // a proxy's HTML page or a cut-off body: the status still says what happened
  }
  if (!resp.ok) {
    const problem = body && typeof body === "object" ? body : { title: resp.statusText, detail: typeof body === "string" ? body.slice(0, 300) : "" };
    throw new ApiError(resp.status, problem, { retryAfter: resp.headers.get("retry-after") });
  }
  return body;
}

/** fetch with the key, a timeout, and every failure turned into an ApiError. */
export async function request(path, { method = "GET", json, timeoutMs = TIMEOUT_MS, withHeaders = false } = {}) {
  const headers = { Accept: "application/json" };
  if (session.key) headers["X-API-Key"] = session.key;
  if (json !== undefined) headers["Content-Type"] = "application/json";
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  let resp;
  try {
    resp = await fetch(path, { method, headers, signal: abort.signal, cache: "no-store",
      body: json === undefined ? undefined : JSON.stringify(json) });
    const body = await parse(resp);
    return withHeaders ? { body, headers: resp.headers } : body;
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw abort.signal.aborted ? timeoutError(timeoutMs) : networkError();
  } finally {
    clearTimeout(timer);
  }
}

export const getForm = () => request("/v1/form");
export const getExamples = () => request("/v1/examples");
export const scoreProfile = (profile) => request("/v1/scores", { method: "POST", json: profile });
export const whatIf = (profile, changes) =>
  request("/v1/scores/what-if", { method: "POST", json: { profile, changes } });
export const nextGrade = (profile) => request("/v1/scores/next-grade", { method: "POST", json: { profile } });
/** One page of the officer's history: {items, total}. */
export async function history({ q = "", offset = 0, limit = 20 } = {}) {
  const qs = new URLSearchParams({ q, offset: String(offset), limit: String(limit) });
  const { body, headers } = await request(`/v1/me/assessments?${qs}`, { withHeaders: true });
  return { items: body, total: Number(headers.get("x-total-count") ?? body.length) };
}
export const getAssessment = (id) => request(`/v1/assessments/${encodeURIComponent(id)}`);

/**
 * Upload a CSV for batch scoring with progress callbacks (XHR: fetch reports no upload progress).
 * onProgress(stage, fraction) with stage "upload" | "process" | "download".
 */
export function scoreCsv(file, onProgress, mapping = null, timeoutMs = UPLOAD_TIMEOUT_MS) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/scores/csv");
    xhr.setRequestHeader("X-API-Key", session.key || "");
    xhr.responseType = "blob";
    xhr.timeout = timeoutMs;
    xhr.upload.onprogress = (e) => onProgress("upload", e.lengthComputable ? e.loaded / e.total : null);
    xhr.upload.onload = () => onProgress("process", null);
    xhr.onprogress = (e) => onProgress("download", e.lengthComputable ? e.loaded / e.total : null);
    xhr.onerror = () => reject(networkError());
    xhr.ontimeout = () => reject(timeoutError(timeoutMs));
    xhr.onload = async () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve({ blob: xhr.response, headers: (name) => xhr.getResponseHeader(name) });
        return;
      }
      let problem;
      try { problem = JSON.parse(await xhr.response.text()); } catch { problem = { title: xhr.statusText }; }
      reject(new ApiError(xhr.status, problem, { retryAfter: xhr.getResponseHeader("retry-after") }));
    };
    const data = new FormData();
    data.append("file", file, file.name);
    if (mapping) data.append("mapping", mapping, mapping.name);  // the bank's headers → our fields (YAML)
    xhr.send(data);
  });
}
