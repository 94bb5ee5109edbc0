// The API client: the session (token in sessionStorage), JSON requests with their errors as one
// message, and images fetched and shown from blob: URLs (an <img> cannot send the Authorization header
// that camera snapshots need; sightings' media come as the signed, short-lived links the API returns).

const KEY = "skynet.session";

/** An API failure: `message` is the server's explanation, `status` the HTTP status (0: no answer). */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** The stored session {token, user, role, permissions}, or null. */
export function session() {
  const raw = sessionStorage.getItem(KEY);
  return raw ? JSON.parse(raw) : null;
}

/** Whether the signed-in user's role has `permission` (the server still checks every call). */
export function may(permission) {
  return Boolean(session()?.permissions.includes(permission));
}

function saveSession(value) {
  if (value) sessionStorage.setItem(KEY, JSON.stringify(value));
  else sessionStorage.removeItem(KEY);
}

/** The message of an error body: its `detail` followed by its `hint` (the fix, when there is one), or
 * FastAPI's list of validation errors. */
export function describe(status, body) {
  const detail = body && body.detail;
  if (typeof detail === "string") return body.hint ? `${detail} (${body.hint})` : detail;
  if (Array.isArray(detail)) {
    return detail.map((d) => `${(d.loc || []).filter((p) => p !== "body" && p !== "query").join(".")}: ${d.msg}`)
      .join("; ");
  }
  return `the server answered ${status}`;
}

let onUnauthorized = () => {};

/** Called (once per failure) when the server no longer accepts the session's token. */
export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

/**
 * A request to the API. `body`: a FormData, URLSearchParams or plain object (sent as JSON).
 * `params`: query parameters (arrays repeat the key; null and "" are left out).
 * Resolves to the parsed JSON (null for 204); rejects with an ApiError.
 */
export async function request(method, path, options = {}) {
  const response = await send(method, path, options);
  return response.status === 204 ? null : readJson(response);
}

/** The response's JSON body, or null when it is not JSON. A read cut by the request's abort signal (the
 * user left the page) rejects with the AbortError, so no caller goes on with a null it did not expect. */
function readJson(response) {
  return response.json().catch((error) => {
    if (error.name === "AbortError") throw error;
    return null;
  });
}

/**
 * POSTs `body` (a plain object, as JSON) and saves the answer as a file through the browser's
 * download, named as the server's Content-Disposition says (else `fallback`). Rejects with an ApiError.
 */
export async function download(path, body, fallback, { signal } = {}) {
  const response = await send("POST", path, { body, signal });
  const disposition = response.headers.get("Content-Disposition") || "";
  const name = (disposition.match(/filename="([^"]+)"/) || [])[1] || fallback;
  const url = URL.createObjectURL(await response.blob());
  const link = Object.assign(document.createElement("a"), { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return name;
}

async function send(method, path, { params, body, token, signal } = {}) {
  const headers = {};
  const bearer = token ?? session()?.token;
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  let payload = body;
  if (body && !(body instanceof FormData) && !(body instanceof URLSearchParams)) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(withParams(path, params), { method, headers, body: payload, signal });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "the server cannot be reached; check that skynet serve is running");
  }
  if (!response.ok) {
    const json = await readJson(response);
    const error = new ApiError(response.status, describe(response.status, json));
    if (response.status === 401 && bearer && !token) onUnauthorized(error);
    throw error;
  }
  return response;
}

/** `path` with `params` as its query string. */
export function withParams(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item !== null && item !== undefined && item !== "") query.append(key, item);
    }
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

/**
 * A single-use ticket (valid for 30 s) that opens the stream at `path` (/api/live, or a camera's preview)
 * as `?ticket=`, for what cannot send the Authorization header: a WebSocket, an <img>. Asked for with
 * `token` (default: the session's), so no token is ever put in a URL.
 */
export async function streamTicket(path, token) {
  return (await request("POST", "/api/stream-tickets", { body: { path }, token })).ticket;
}

/** Signs in with a user name and password, or with an API token; stores the session. */
export async function signIn({ user, password, token }) {
  let bearer = token;
  if (!bearer) bearer = (await request("POST", "/api/login", { body: { user, password } })).token;
  const me = await request("GET", "/ui/session", { token: bearer });
  saveSession({ token: bearer, ...me });
  return session();
}

/** Revokes the token on the server (best effort) and forgets the session. */
export async function signOut() {
  const current = session();
  saveSession(null);
  imageCache.clear();
  if (current) await request("POST", "/api/logout", { token: current.token }).catch(() => {});
}

/** Checks the stored token is still accepted (refreshing the role); forgets it when not. */
export async function resume() {
  const current = session();
  if (!current) return null;
  try {
    saveSession({ token: current.token, ...(await request("GET", "/ui/session", { token: current.token })) });
    return session();
  } catch (error) {
    if (error.status === 401) saveSession(null);
    throw error;
  }
}

const imageCache = new Map();
const IMAGE_CACHE_SIZE = 400;

/** A blob: URL of an authenticated image (cached: sighting media never changes). */
export function image(path) {
  if (!imageCache.has(path)) {
    const loading = fetchImage(path).catch((error) => {
      imageCache.delete(path);
      throw error;
    });
    imageCache.set(path, loading);
    if (imageCache.size > IMAGE_CACHE_SIZE) {
      const [oldest, url] = imageCache.entries().next().value;
      imageCache.delete(oldest);
      url.then((blobUrl) => URL.revokeObjectURL(blobUrl), () => {});
    }
  }
  return imageCache.get(path);
}

/** A new blob: URL of the authenticated image at `path`, uncached (the caller revokes it). */
export async function fetchImage(path) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${session()?.token}` } });
  if (!response.ok) {
    throw new ApiError(response.status, describe(response.status, await response.json().catch(() => null)));
  }
  return URL.createObjectURL(await response.blob());
}

/** Whether a media link from the API (its `expires` is Unix seconds) no longer opens its image. */
export function linkExpired(link) {
  const expires = Number(new URL(link, location.href).searchParams.get("expires"));
  return !expires || expires * 1000 <= Date.now();
}

/** Sets `img`'s source to the authenticated image at `path`; on failure shows its message as alt text. */
export function showImage(img, path) {
  img.alt = img.alt || "";
  image(path).then((url) => { img.src = url; }, (error) => {
    img.alt = error.message;
    img.classList.add("broken");
  });
}
