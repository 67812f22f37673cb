// Talking to the API: the key, the Authorization header, and errors the UI can show.

const KEY = "crm.console.key";

// sessionStorage, not localStorage: the key goes away with the tab.
export const session = {
  key: () => sessionStorage.getItem(KEY),
  save: (key) => sessionStorage.setItem(KEY, key),
  clear: () => sessionStorage.removeItem(KEY),
};

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

// Called on any 401: the key was revoked or mistyped, so the console goes back to sign-in.
let onUnauthorized = () => {};
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

// Errors are RFC 9457 problem documents (application/problem+json): `detail` is the
// sentence for people (a validation problem's names each field that failed), `type` the
// kind of problem, `title` its words.
function describe(body, status) {
  const detail = body && body.detail;
  if (typeof detail === "string" && detail) return detail;
  if (body && typeof body.title === "string") return body.title;
  return `HTTP ${status}`;
}

/**
 * Call the API and return its JSON. Parameters that are null, undefined or "" are left out,
 * so filter forms can pass their raw values. `key` overrides the stored key (sign-in).
 */
export async function call(path, { method = "GET", params = {}, body, key } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") url.searchParams.set(name, value);
  }
  const headers = { Accept: "application/json, application/problem+json" };
  const token = key ?? session.key();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError(0, `the service could not be reached (${error.message})`);
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = new ApiError(response.status, describe(data, response.status));
    // A sign-in attempt handles its own 401; anywhere else it ends the session.
    if (response.status === 401 && key === undefined) onUnauthorized(error);
    throw error;
  }
  return data;
}

/** A message for people: 403 names the role the API asked for. */
export function explain(error) {
  if (error.status === 403) return `Not allowed: ${error.message}.`;
  if (error.status === 404) return `Not found: ${error.message}.`;
  return `Something went wrong: ${error.message}.`;
}
