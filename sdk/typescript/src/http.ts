/**
 * The HTTP layer: URLs, headers, JSON, deadlines, error mapping and the
 * retry policy. Uses only `fetch`, `AbortController` and timers.
 *
 * @module
 */

import { codeForStatus, PaddockError } from "./errors.js";
import type { CallOptions } from "./options.js";
import type { WebSocketConstructor } from "./terminal.js";

/**
 * A `fetch` implementation: the global one by default; pass your own to
 * add a proxy agent, logging, or a fake in tests.
 */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

/** When and how idempotent calls are retried. */
export interface RetryOptions {
  /** Retries after the first attempt (default 3). */
  retries?: number;
  /** Delay before the first retry, ms; doubles on each further one (default 250). */
  baseDelayMs?: number;
  /** Longest delay, ms, also for a server's `Retry-After` (default 10000). */
  maxDelayMs?: number;
  /** Randomize each backoff delay between 50% and 100% (default true). */
  jitter?: boolean;
}

/**
 * Options of {@link Paddock | `new Paddock(...)`}. `baseUrl` and `apiKey`
 * fall back to the environment (`PADDOCK_URL`, `PADDOCK_API_KEY`) when
 * they are not given; an empty value counts as not given.
 */
export interface PaddockOptions {
  /**
   * Control-plane URL, e.g. `http://127.0.0.1:7000`. A path prefix is kept.
   * Default: `$PADDOCK_URL`, else `http://127.0.0.1:7000`.
   */
  baseUrl?: string;
  /**
   * API key, sent as `Authorization: Bearer <key>`; only the public routes
   * work without one. Default: `$PADDOCK_API_KEY`, else `$AGENTJAIL_API_KEY`.
   */
  apiKey?: string;
  /**
   * Deadline of each call in milliseconds (default 60000; 0: none). Calls
   * that run a jail (runs, execs, streams) wait at least the jail's own
   * deadline plus 30 s. Any call can override it with `{ timeoutMs }`.
   */
  timeoutMs?: number;
  /** `fetch` to use (default: the global `fetch`). */
  fetch?: FetchLike;
  /**
   * Retry `GET`s that answer 429 or 503, with exponential backoff and
   * the server's `Retry-After` when present. Off by default; `true` uses
   * the {@link RetryOptions} defaults. Calls that change state are never retried.
   */
  retry?: boolean | RetryOptions;
  /** Extra headers sent with every call. */
  headers?: Record<string, string>;
  /**
   * (paddock) The `WebSocket` class for workspace terminals
   * (`processes.terminal`). Default: `globalThis.WebSocket` where there
   * is one (browsers, Deno, Bun, Node 22+). On Node 18 and 20, pass the
   * `ws` package's: `new Paddock({ WebSocket: (await import("ws")).default })`.
   */
  WebSocket?: WebSocketConstructor;
}

/** The agentjail SDK's name for {@link PaddockOptions}. */
export type HttpConfig = PaddockOptions;

/** Default control-plane address, when neither `baseUrl` nor `$PADDOCK_URL` gives one. */
export const DEFAULT_BASE_URL = "http://127.0.0.1:7000";
/** The variable read when `baseUrl` is not given. */
export const URL_ENV = "PADDOCK_URL";
/**
 * The variables read, in order, when `apiKey` is not given
 * (`AGENTJAIL_API_KEY` is the name the agentjail SDK's examples use).
 */
export const API_KEY_ENV = ["PADDOCK_API_KEY", "AGENTJAIL_API_KEY"] as const;
/** Default deadline of a call, ms. */
export const DEFAULT_TIMEOUT_MS = 60_000;
/** Time a jail-running call waits beyond the jail's own deadline, ms. */
export const JAIL_GRACE_MS = 30_000;

type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
type Query = Record<string, string | number | boolean | undefined>;

/** @internal One call. */
export interface CallSpec {
  method: Method;
  path: string;
  query?: Query;
  body?: unknown;
  /** Send the API key (default true). */
  auth?: boolean;
  /** The call's own minimum deadline (jail-running calls), ms. */
  minTimeoutMs?: number;
  /** The caller's options. */
  call?: CallOptions | undefined;
  /** A body sent as it is (bytes, text, a stream), instead of `body` as JSON. */
  raw?: RawBody;
  /** The content type of `raw`. */
  contentType?: string;
}

/**
 * @internal A body sent as it is: what `fetch` takes, and async
 * iterables of bytes (Node streams), which are turned into a stream.
 */
export type RawBody = string | Uint8Array | ArrayBuffer | Blob | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>;

/** @internal A response whose body the caller reads, with its deadline. */
export interface OpenResponse {
  response: Response;
  /** Ends the call's deadline (timer and signal listener). */
  close(): void;
  /** Aborts the request (closes the connection of an unread body). */
  abort(): void;
  /**
   * Ends the call's deadline timer but keeps the caller's signal: for a
   * body handed to the caller, who may read it for as long as it takes.
   */
  disarm(): void;
  /** Aborted when the call is cancelled, times out or is closed. */
  signal: AbortSignal;
  /** The error for a failure while reading the body. */
  failure(err: unknown): unknown;
}

interface Resolved {
  retries: number;
  baseDelayMs: number;
  maxDelayMs: number;
  jitter: boolean;
}

/**
 * A deadline and the caller's signal, joined into one signal for fetch.
 */
class Deadline {
  readonly controller = new AbortController();
  readonly expiresAt: number | undefined;
  timedOut = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly onAbort: (() => void) | undefined;

  constructor(
    private readonly user: AbortSignal | undefined,
    readonly timeoutMs: number,
  ) {
    if (user) {
      if (user.aborted) {
        this.controller.abort(user.reason);
      } else {
        this.onAbort = () => this.controller.abort(user.reason);
        user.addEventListener("abort", this.onAbort, { once: true });
      }
    }
    if (timeoutMs > 0 && Number.isFinite(timeoutMs)) {
      this.expiresAt = Date.now() + timeoutMs;
      this.timer = setTimeout(() => {
        this.timedOut = true;
        this.controller.abort(new Error(`timed out after ${timeoutMs} ms`));
      }, timeoutMs);
    }
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Whether the caller's own signal cancelled the call. */
  get cancelled(): boolean {
    return !this.timedOut && this.user?.aborted === true;
  }

  /** Stops the timer only. */
  disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  dispose(): void {
    this.disarm();
    if (this.user && this.onAbort) this.user.removeEventListener("abort", this.onAbort);
  }
}

/** @internal The client's transport. */
export class HttpClient {
  readonly baseUrl: string;
  /** Where the base URL came from: the option, `$PADDOCK_URL`, or the default. */
  private readonly baseUrlFrom: "option" | typeof URL_ENV | "default";
  private readonly apiKey: string | undefined;
  private readonly timeoutMs: number;
  private readonly fetchImpl: FetchLike;
  private readonly retry: Resolved | undefined;
  private readonly headers: Record<string, string>;
  /** The `WebSocket` class given in the options, if any. */
  readonly webSocket: WebSocketConstructor | undefined;

  constructor(options: PaddockOptions) {
    const envUrl = options.baseUrl ? undefined : fromEnv(URL_ENV);
    this.baseUrlFrom = options.baseUrl ? "option" : envUrl ? URL_ENV : "default";
    const url = options.baseUrl || envUrl || DEFAULT_BASE_URL;
    this.baseUrl = url.replace(/\/+$/, "");
    if (!/^https?:\/\//i.test(this.baseUrl)) {
      const name = this.baseUrlFrom === URL_ENV ? URL_ENV : "baseUrl";
      throw new TypeError(`${name} must be an http:// or https:// URL, got ${JSON.stringify(url)}`);
    }
    this.apiKey = options.apiKey || API_KEY_ENV.map(fromEnv).find(Boolean);
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const impl = options.fetch ?? (globalThis.fetch as FetchLike | undefined);
    if (typeof impl !== "function") {
      throw new TypeError("no fetch implementation: this runtime has no global fetch; pass one as options.fetch");
    }
    // The global fetch must be called with globalThis as `this` in browsers.
    this.fetchImpl = options.fetch ? options.fetch : (url, init) => impl.call(globalThis, url, init);
    this.retry = resolveRetry(options.retry);
    this.headers = { ...(options.headers ?? {}) };
    this.webSocket = options.WebSocket;
  }

  /**
   * The `ws://` or `wss://` URL of `path`, with the API key as
   * `?access_token=` (WebSockets cannot send an `Authorization` header
   * from a browser).
   */
  webSocketUrl(path: string, query: Query = {}): string {
    const url = this.url(path, { ...query, access_token: this.apiKey });
    return url.replace(/^http/i, "ws");
  }

  /** Makes a call and returns its body as bytes. */
  async bytes(spec: CallSpec, accept = "application/octet-stream"): Promise<Uint8Array> {
    const open = await this.send(spec, accept);
    try {
      try {
        return new Uint8Array(await open.response.arrayBuffer());
      } catch (err) {
        throw open.failure(err);
      }
    } finally {
      open.close();
    }
  }

  /** Makes a call and returns its JSON (`undefined` for 204 or an empty body). */
  async json<T>(spec: CallSpec): Promise<T> {
    const open = await this.send(spec, "application/json");
    try {
      let text: string;
      try {
        text = await open.response.text();
      } catch (err) {
        throw open.failure(err);
      }
      if (open.response.status === 204 || text.length === 0) return undefined as T;
      try {
        return JSON.parse(text) as T;
      } catch (err) {
        throw new PaddockError({
          status: open.response.status,
          code: "SERVER_ERROR",
          message: `${spec.method} ${spec.path}: the server's answer is not JSON`,
          body: text,
          method: spec.method,
          path: spec.path,
          cause: err,
        });
      }
    } finally {
      open.close();
    }
  }

  /**
   * Makes a call and hands back the response for the caller to read (SSE).
   * Error statuses are thrown as for {@link json}.
   */
  async open(spec: CallSpec, accept: string): Promise<OpenResponse> {
    return this.send(spec, accept);
  }

  private url(path: string, query: Query | undefined): string {
    let url = this.baseUrl + path;
    if (query) {
      const params = new URLSearchParams();
      for (const [key, value] of Object.entries(query)) {
        if (value !== undefined) params.set(key, String(value));
      }
      const text = params.toString();
      if (text) url += `?${text}`;
    }
    return url;
  }

  private async send(spec: CallSpec, accept: string): Promise<OpenResponse> {
    const url = this.url(spec.path, spec.query);
    const headers: Record<string, string> = { ...this.headers, accept };
    if (spec.auth !== false && this.apiKey) headers.authorization = `Bearer ${this.apiKey}`;
    const sentKey = Object.keys(headers).some((name) => name.toLowerCase() === "authorization");
    const init: RequestInit = { method: spec.method, headers };
    if (spec.raw !== undefined) {
      headers["content-type"] = spec.contentType ?? "application/octet-stream";
      const raw = toBodyInit(spec.raw);
      init.body = raw;
      // A stream body needs half duplex in Node's fetch (and the standard).
      if (isReadableStream(raw)) (init as RequestInit & { duplex?: string }).duplex = "half";
    } else if (spec.body !== undefined) {
      headers["content-type"] = "application/json";
      init.body = JSON.stringify(spec.body);
    }
    const base = spec.call?.timeoutMs ?? Math.max(this.timeoutMs, spec.minTimeoutMs ?? 0);
    const timeoutMs = spec.call?.timeoutMs === undefined && this.timeoutMs === 0 ? 0 : base;
    const deadline = new Deadline(spec.call?.signal, timeoutMs);
    init.signal = deadline.signal;
    const failure = (err: unknown): unknown => this.failure(err, deadline, spec);
    try {
      for (let attempt = 0; ; attempt++) {
        if (deadline.signal.aborted) throw failure(deadline.signal.reason);
        let response: Response;
        try {
          response = await this.fetchImpl(url, init);
        } catch (err) {
          throw failure(err);
        }
        if (response.ok) {
          return {
            response,
            close: () => deadline.dispose(),
            abort: () => {
              if (!deadline.signal.aborted) deadline.controller.abort(new Error("the SDK closed the response"));
            },
            disarm: () => deadline.disarm(),
            signal: deadline.signal,
            failure,
          };
        }
        const error = await this.errorFrom(response, spec, deadline, sentKey);
        const delay = this.retryDelay(spec, error, attempt, deadline);
        if (delay === undefined) throw error;
        try {
          await sleep(delay, deadline.signal);
        } catch (err) {
          throw failure(err);
        }
      }
    } catch (err) {
      deadline.dispose();
      throw err;
    }
  }

  /** The error for a call that got no (readable) answer. */
  private failure(err: unknown, deadline: Deadline, spec: CallSpec): unknown {
    if (PaddockError.is(err)) return err;
    if (deadline.timedOut) {
      return new PaddockError({
        status: 0,
        code: "TIMEOUT",
        message: `${spec.method} ${spec.path}: no answer within ${deadline.timeoutMs} ms`,
        method: spec.method,
        path: spec.path,
        cause: err,
      });
    }
    // Cancelled by the caller: reject as fetch does, with the signal's reason.
    if (deadline.cancelled) return deadline.signal.reason;
    return new PaddockError({
      status: 0,
      code: "NETWORK",
      message:
        `${spec.method} ${spec.path}: cannot reach ${this.baseUrl}: ${describe(err)}` +
        (this.baseUrlFrom === "default"
          ? `; no baseUrl was given and ${URL_ENV} is not set, so the default was used: set ${URL_ENV} or pass baseUrl`
          : ""),
      method: spec.method,
      path: spec.path,
      cause: err,
    });
  }

  private async errorFrom(response: Response, spec: CallSpec, deadline: Deadline, sentKey: boolean): Promise<unknown> {
    let text = "";
    try {
      text = await response.text();
    } catch (err) {
      if (deadline.signal.aborted) return this.failure(err, deadline, spec);
    }
    let body: unknown = text.length > 0 ? text : undefined;
    let message: string | undefined;
    let serverCode: string | undefined;
    if (text.length > 0) {
      try {
        body = JSON.parse(text);
      } catch {
        // Not JSON: keep the text.
      }
    }
    if (typeof body === "object" && body !== null) {
      // `{error, code}`, or (the runtime API) RFC 9457 Problem Details:
      // `{type, title, status, detail, code?, details?: {code?}}`.
      const fields = body as Record<string, unknown>;
      const details = fields.details;
      if (typeof fields.error === "string") message = fields.error;
      else if (typeof fields.detail === "string" && fields.detail) message = fields.detail;
      else if (typeof fields.message === "string") message = fields.message;
      else if (typeof fields.title === "string" && fields.title) message = fields.title;
      if (typeof fields.code === "string") serverCode = fields.code;
      else if (typeof details === "object" && details !== null && typeof (details as Record<string, unknown>).code === "string") {
        serverCode = (details as Record<string, string>).code;
      }
    } else if (typeof body === "string" && body.trim()) {
      message = body.trim().slice(0, 500);
    }
    message ??= `${spec.method} ${spec.path}: HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ""}`;
    if (response.status === 401 && !sentKey) {
      message += `; no API key was sent: pass apiKey to new Paddock() or set ${API_KEY_ENV[0]}`;
    }
    return new PaddockError({
      status: response.status,
      code: codeForStatus(response.status),
      message,
      serverCode,
      body,
      method: spec.method,
      path: spec.path,
      retryAfterMs: retryAfter(response.headers.get("retry-after")),
    });
  }

  /** How long to wait before retrying, or `undefined` not to retry. */
  private retryDelay(spec: CallSpec, error: unknown, attempt: number, deadline: Deadline): number | undefined {
    const policy = this.retry;
    if (!policy || spec.method !== "GET" || attempt >= policy.retries) return undefined;
    if (!PaddockError.is(error) || (error.status !== 429 && error.status !== 503)) return undefined;
    let delay = policy.baseDelayMs * 2 ** attempt;
    if (policy.jitter) delay *= 0.5 + Math.random() * 0.5;
    if (error.retryAfterMs !== undefined) delay = error.retryAfterMs;
    delay = Math.min(delay, policy.maxDelayMs);
    // Waiting past the deadline only turns a clear answer into a timeout.
    if (deadline.expiresAt !== undefined && Date.now() + delay >= deadline.expiresAt) return undefined;
    return delay;
  }
}

function isReadableStream(value: unknown): value is ReadableStream<Uint8Array> {
  return typeof (value as { getReader?: unknown } | null)?.getReader === "function";
}

/** A {@link RawBody} as `fetch` takes it: async iterables become a stream. */
function toBodyInit(raw: RawBody): BodyInit {
  if (
    typeof raw === "string" ||
    raw instanceof Uint8Array ||
    raw instanceof ArrayBuffer ||
    isReadableStream(raw) ||
    typeof (raw as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] !== "function"
  ) {
    return raw as BodyInit;
  }
  const iterator = (raw as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await iterator.next();
      if (next.done) controller.close();
      else controller.enqueue(typeof next.value === "string" ? new TextEncoder().encode(next.value) : next.value);
    },
    async cancel(reason) {
      await iterator.return?.(reason);
    },
  });
}

function resolveRetry(retry: boolean | RetryOptions | undefined): Resolved | undefined {
  if (!retry) return undefined;
  const options = retry === true ? {} : retry;
  return {
    retries: Math.max(0, options.retries ?? 3),
    baseDelayMs: Math.max(0, options.baseDelayMs ?? 250),
    maxDelayMs: Math.max(0, options.maxDelayMs ?? 10_000),
    jitter: options.jitter ?? true,
  };
}

/** `Retry-After` (seconds or an HTTP date) in milliseconds. */
function retryAfter(value: string | null): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - Date.now());
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * A non-empty environment variable from `process.env`, where there is one
 * (Node, Bun, Deno's Node mode); `undefined` elsewhere (browsers, workers).
 */
function fromEnv(name: string): string | undefined {
  try {
    return (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name] || undefined;
  } catch {
    // A runtime that forbids reading the environment (Deno without --allow-env).
    return undefined;
  }
}

/** A fetch failure's message with its cause (`fetch failed: connect ECONNREFUSED ...`). */
function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    if (cause instanceof Error && cause.message && !err.message.includes(cause.message)) {
      return `${err.message}: ${cause.message}`;
    }
    return err.message;
  }
  return String(err);
}

/**
 * The minimum deadline of a call that runs a jail with `timeoutSecs`
 * (server default 300 s), in ms.
 *
 * @internal
 */
export function jailDeadline(timeoutSecs: number | undefined, extraMs = 0): number {
  const secs = timeoutSecs === undefined ? 300 : Math.min(Math.max(timeoutSecs, 1), 3600);
  return secs * 1000 + extraMs + JAIL_GRACE_MS;
}
