// The console's client of paddock's HTTP API: the key lives in this tab's
// sessionStorage (never in a URL, a cookie or a log), every call carries it
// as a Bearer header, and every error keeps its code and request id.

const KEY = 'paddock.key';
const TENANT = 'paddock.tenant';

export const auth = {
  get key() { return sessionStorage.getItem(KEY); },
  set key(value) { value ? sessionStorage.setItem(KEY, value) : sessionStorage.removeItem(KEY); },
  /** The tenant an admin acts for ('' = every tenant). */
  get tenant() { return sessionStorage.getItem(TENANT) || ''; },
  set tenant(value) { value ? sessionStorage.setItem(TENANT, value) : sessionStorage.removeItem(TENANT); },
  signOut() { sessionStorage.removeItem(KEY); sessionStorage.removeItem(TENANT); },
};

/** An error answer of the API: what the server said, for people. */
export class ApiError extends Error {
  constructor(status, code, message, requestId) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

/** Listeners told when the key stops working (revoked, expired). */
const unauthorizedListeners = new Set();
export function onUnauthorized(listener) {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

/** `path` with `query`'s defined values appended. */
export function withQuery(path, query = {}) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(name, String(value));
  }
  const text = params.toString();
  if (!text) return path;
  return path + (path.includes('?') ? '&' : '?') + text;
}

/** `path` with the admin's chosen tenant, for routes that take `?tenant=`. */
export function scoped(path, query = {}) {
  return withQuery(path, { ...query, tenant: auth.tenant || undefined });
}

async function failure(response) {
  const requestId = response.headers.get('x-request-id') || '';
  let code = `HTTP_${response.status}`;
  let message = response.statusText || 'request failed';
  try {
    const body = await response.json();
    // The control plane's {error, code}; the runtime's Problem Details.
    code = body.code || body.type || code;
    message = body.error || body.detail || body.title || message;
  } catch { /* not JSON: keep the status line */ }
  if (response.status === 401) unauthorizedListeners.forEach((listener) => listener(message));
  return new ApiError(response.status, code, message, requestId);
}

/**
 * One call. `body` is sent as JSON unless it is a Blob, File or string
 * (sent as is). Answers the parsed JSON, or the Response with `raw`.
 */
export async function api(method, path, { body, raw = false, signal, headers = {} } = {}) {
  const init = { method, signal, headers: { ...headers } };
  if (auth.key) init.headers.authorization = `Bearer ${auth.key}`;
  if (body instanceof Blob || typeof body === 'string') {
    init.body = body;
    init.headers['content-type'] ||= 'application/octet-stream';
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['content-type'] = 'application/json';
  }
  const response = await fetch(path, init);
  if (!response.ok) throw await failure(response);
  if (raw) return response;
  if (response.status === 204) return null;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

/**
 * Reads a Server-Sent Events response, calling `onEvent(name, data)` for
 * each event until the stream ends or `signal` aborts.
 */
export async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
      let name = 'message';
      const data = [];
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith('event:')) name = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length) onEvent(name, data.join('\n'));
    }
  }
}

/** A POST or GET whose answer is an SSE stream, read to its end. */
export async function stream(method, path, body, onEvent, signal) {
  const response = await api(method, path, {
    body, raw: true, signal, headers: { accept: 'text/event-stream' },
  });
  await readEvents(response, onEvent);
}

/** Saves a response body as a file in the browser's downloads. */
export async function download(path, name) {
  const response = await api('GET', path, { raw: true });
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** base64url of a UTF-8 string (the terminal's subprotocol carries the key so). */
export function base64url(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** A workspace's path in the API. */
export const workspacePath = (workspace) => `/v1/workspaces/${encodeURIComponent(workspace)}`;

/** The workspace's runtime base path. */
export const runtime = (workspace) => `${workspacePath(workspace)}/runtime/v1`;
