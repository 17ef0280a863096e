// The REST API client: session cookie + CSRF header on changes, one error shape (ApiError).

export class ApiError extends Error {
  constructor(body) {
    super(body.message || "request failed");
    this.status = body.status;
    this.code = body.code;
    this.hint = body.hint;
    this.errors = body.errors || [];
  }
}

function cookie(name) {
  const found = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
  return found ? decodeURIComponent(found.slice(name.length + 1)) : null;
}

export function query(params) {
  const usp = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value === null || value === undefined || value === "") continue;
    if (Array.isArray(value)) value.forEach((v) => usp.append(key, v));
    else usp.append(key, String(value));
  }
  const text = usp.toString();
  return text ? "?" + text : "";
}

export async function request(method, path, { params, json, form, raw } = {}) {
  const headers = {};
  let body;
  if (json !== undefined) { headers["Content-Type"] = "application/json"; body = JSON.stringify(json); }
  if (form !== undefined) body = form;
  if (!["GET", "HEAD"].includes(method)) {
    const csrf = cookie("crmscore_csrf");
    if (csrf) headers["X-CSRF-Token"] = csrf;
  }
  let response;
  try {
    response = await fetch(path + query(params), { method, headers, body, credentials: "same-origin" });
  } catch (exc) {
    throw new ApiError({ status: 0, code: "network", message: String(exc), hint: "is the server running?" });
  }
  if (!response.ok) {
    let errBody;
    try { errBody = await response.json(); } catch { errBody = { status: response.status, message: response.statusText }; }
    if (!errBody.status) errBody.status = response.status;
    const error = new ApiError(errBody);
    if (response.status === 401 && !path.startsWith("/api/auth/login")) {
      window.dispatchEvent(new CustomEvent("crmscore:unauthenticated", { detail: error }));
    }
    throw error;
  }
  if (raw) return response;
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response.text();
}

export const api = {
  get: (path, params) => request("GET", path, { params }),
  post: (path, json, params) => request("POST", path, { json, params }),
  patch: (path, json) => request("PATCH", path, { json }),
  del: (path) => request("DELETE", path),
  upload: (path, form, params) => request("POST", path, { form, params }),
  raw: (path, params) => request("GET", path, { params, raw: true }),
};

// Whether an API route exists (some arrive later than the dashboard): a 404/405 from the router itself.
export function missingRoute(error) {
  return error instanceof ApiError && (error.status === 405 || (error.status === 404 && error.hint === "see the API reference at /docs"));
}
