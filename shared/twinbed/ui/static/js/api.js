// The controller's REST API, same origin. The token is asked for once and kept in
// sessionStorage (gone when the tab closes); without it the dashboard is read-only.

const TOKEN_KEY = "twinbed-token";

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY) || "",
  set: (t) => (t ? sessionStorage.setItem(TOKEN_KEY, t) : sessionStorage.removeItem(TOKEN_KEY)),
};

/** An HTTP error with the server's one-line detail and, for a 422, the per-field errors. */
export class ApiError extends Error {
  constructor(status, detail, errors = []) {
    super(detail);
    this.status = status;
    this.errors = errors;
  }
}

/** Every page of a paginated list (`X-Next-Cursor` names the next page's `cursor`). */
export async function apiAll(path) {
  const out = [];
  let cursor = "0";
  while (cursor !== null) {
    const sep = path.includes("?") ? "&" : "?";
    const { data, headers } = await request(`${path}${sep}cursor=${cursor}`);
    out.push(...data);
    cursor = headers.get("X-Next-Cursor");
  }
  return out;
}

export async function api(path, options = {}) {
  return (await request(path, options)).data;
}

async function request(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET" && token.get()) headers.Authorization = `Bearer ${token.get()}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, `the controller does not answer (${e.message}); is the stack up?`);
  }
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!resp.ok) {
    const detail = (data && typeof data.detail === "string") ? data.detail : `${resp.status} ${resp.statusText}`;
    throw new ApiError(resp.status, detail, (data && data.errors) || []);
  }
  return { data, headers: resp.headers };
}
