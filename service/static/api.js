// Thin client for the TechScore API; the key lives in sessionStorage only.
const KEY_STORE = "techscore.apiKey";

export const session = {
  get key() { return sessionStorage.getItem(KEY_STORE); },
  set key(v) { if (v) sessionStorage.setItem(KEY_STORE, v); else sessionStorage.removeItem(KEY_STORE); },
};

/** An HTTP error carrying the RFC 9457 problem document (or a synthetic one). */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
  /** Per-field errors [{field, rule, value, message}] when the API named the fields. */
  get fieldErrors() { return Array.isArray(this.problem.errors) ? this.problem.errors : []; }
}

async function parse(resp) {
  const type = resp.headers.get("content-type") || "";
  const body = type.includes("json") ? await resp.json() : await resp.text();
  if (!resp.ok) {
    const problem = typeof body === "object" && body ? body : { title: resp.statusText, detail: String(body) };
    throw new ApiError(resp.status, problem);
  }
  return body;
}

export async function request(path, { method = "GET", json } = {}) {
  const headers = { Accept: "application/json" };
  if (session.key) headers["X-API-Key"] = session.key;
  if (json !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: json === undefined ? undefined : JSON.stringify(json) });
  return parse(resp);
}

export const getForm = () => request("/v1/form");
export const getExamples = () => request("/v1/examples");
export const scoreProfile = (profile) => request("/v1/scores", { method: "POST", json: profile });
export const whatIf = (profile, changes) =>
  request("/v1/scores/what-if", { method: "POST", json: { profile, changes } });
export const nextGrade = (profile) => request("/v1/scores/next-grade", { method: "POST", json: { profile } });
export const recentAssessments = () => request("/v1/me/assessments");
export const firmAssessments = (firmId) => request(`/v1/assessments?firm_id=${encodeURIComponent(firmId)}`);
export const getAssessment = (id) => request(`/v1/assessments/${encodeURIComponent(id)}`);

/**
 * Upload a CSV for batch scoring with progress callbacks (XHR: fetch reports no upload progress).
 * onProgress(stage, fraction) with stage "upload" | "process" | "download".
 */
export function scoreCsv(file, onProgress, mapping = null) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/scores/csv");
    xhr.setRequestHeader("X-API-Key", session.key || "");
    xhr.responseType = "blob";
    xhr.upload.onprogress = (e) => onProgress("upload", e.lengthComputable ? e.loaded / e.total : null);
    xhr.upload.onload = () => onProgress("process", null);
    xhr.onprogress = (e) => onProgress("download", e.lengthComputable ? e.loaded / e.total : null);
    xhr.onerror = () => reject(new ApiError(0, { title: "network error" }));
    xhr.onload = async () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve({ blob: xhr.response, headers: (name) => xhr.getResponseHeader(name) });
        return;
      }
      let problem;
      try { problem = JSON.parse(await xhr.response.text()); } catch { problem = { title: xhr.statusText }; }
      reject(new ApiError(xhr.status, problem));
    };
    const data = new FormData();
    data.append("file", file, file.name);
    if (mapping) data.append("mapping", mapping, mapping.name);  // the bank's headers → our fields (YAML)
    xhr.send(data);
  });
}
