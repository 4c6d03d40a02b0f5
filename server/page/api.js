// Calls to the server's HTTP API: the API key from sessionStorage in the Authorization header (never in a URL),
// and every failure turned into an ApiError carrying the server's own error code and message.

const KEY_NAME = "graphrag.apiKey";

export class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

export function storedKey() {
  return sessionStorage.getItem(KEY_NAME) || "";
}

export function storeKey(key) {
  if (key) sessionStorage.setItem(KEY_NAME, key);
  else sessionStorage.removeItem(KEY_NAME);
}

/** One API call; ``json`` is sent as a JSON body, ``form`` as multipart. Resolves to {status, body}. */
export async function call(method, path, { json, form, query } = {}) {
  const headers = { Accept: "application/json" };
  const key = storedKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form;
  }
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(query || {})) url.searchParams.set(name, String(value));
  let response;
  try {
    response = await fetch(url, { method, headers, body, credentials: "same-origin", cache: "no-store" });
  } catch (error) {
    throw new ApiError(0, "unreachable", `the server did not answer (${error.message})`, null);
  }
  let data = null;
  if (response.status !== 204) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const detail = (data && data.error) || {};
    throw new ApiError(
      response.status,
      detail.code || `http_${response.status}`,
      detail.message || response.statusText || "request failed",
      response.headers.get("Retry-After"),
    );
  }
  return { status: response.status, body: data };
}

/** A sentence for a person: what went wrong and what to do about it. */
export function explain(error) {
  if (!(error instanceof ApiError)) return `Something went wrong in the page: ${error.message}`;
  const wait = error.retryAfter ? ` Try again in ${error.retryAfter} s.` : " Try again shortly.";
  switch (error.status) {
    case 0:
      return `The server could not be reached: ${error.message}.`;
    case 401:
      return `The server refused the request: ${error.message}. Enter a valid API key.`;
    case 413:
      return `Too large for this server: ${error.message}.`;
    case 429:
      return `Too many requests: ${error.message}.${wait}`;
    case 503:
      return `The server is busy or its store is unavailable: ${error.message}.${wait}`;
    default:
      return `${error.message} (HTTP ${error.status}, ${error.code}).`;
  }
}
