/**
 * The one error type of the SDK.
 *
 * @module
 */

/**
 * What went wrong, as a stable category you can `switch` on without
 * matching messages.
 *
 * | code | when |
 * |---|---|
 * | `BAD_REQUEST` | 400, and other 4xx without a category of their own (413, 415, 422) |
 * | `UNAUTHORIZED` | 401: no key, or an unknown or revoked key |
 * | `FORBIDDEN` | 403: the key's role may not do this |
 * | `NOT_FOUND` | 404: missing, or outside the key's tenant |
 * | `CONFLICT` | 409: e.g. cancelling a run that ended, deleting a workspace while an exec runs in it |
 * | `RATE_LIMITED` | 429: the server is at its concurrency or rate limit |
 * | `TIMEOUT` | the client's `timeoutMs` passed (status 0), or 408 / 504 |
 * | `SERVER_ERROR` | 5xx, or an answer the SDK cannot read (bad JSON, a stream that ends early) |
 * | `NETWORK` | no HTTP answer at all: refused, reset, DNS failure (status 0) |
 */
export type PaddockErrorCode =
  | "BAD_REQUEST"
  | "UNAUTHORIZED"
  | "FORBIDDEN"
  | "NOT_FOUND"
  | "CONFLICT"
  | "RATE_LIMITED"
  | "TIMEOUT"
  | "SERVER_ERROR"
  | "NETWORK";

/** The agentjail SDK's name for {@link PaddockErrorCode}. */
export type AgentjailErrorCode = PaddockErrorCode;

/** Fields of a {@link PaddockError}; `message` and `code` are required. */
export interface PaddockErrorInit {
  /** HTTP status, or 0 when there was no answer. */
  status: number;
  /** Stable category. */
  code: PaddockErrorCode;
  /** Human-readable message (the server's own when it sent one). */
  message: string;
  /** The server's machine-readable code (`"SESSION_CLOSED"`, `"BAD_LANGUAGE"`, ...). */
  serverCode?: string | undefined;
  /** The parsed response body (JSON when it was JSON, else the text). */
  body?: unknown;
  /** HTTP method of the call. */
  method?: string | undefined;
  /** Path of the call, without the base URL and query. */
  path?: string | undefined;
  /** What the server's `Retry-After` header asked for, in milliseconds. */
  retryAfterMs?: number | undefined;
  /** The underlying error (a fetch failure, an abort reason). */
  cause?: unknown;
}

const BRAND = Symbol.for("@paddock/sdk.PaddockError");

/**
 * Every failure of an SDK call: an error answer from the server, a
 * timeout, a network failure, or an answer the SDK cannot read.
 *
 * ```ts
 * try {
 *   await paddock.sessions.exec(id, { cmd: "true" });
 * } catch (err) {
 *   if (PaddockError.is(err) && err.code === "CONFLICT") {
 *     // err.serverCode === "SESSION_CLOSED"
 *   }
 * }
 * ```
 *
 * Cancelling a call with your own `AbortSignal` is not a `PaddockError`:
 * the call rejects with the signal's reason, as `fetch` does.
 */
export class PaddockError extends Error {
  /** Always `"PaddockError"`. */
  override readonly name = "PaddockError";
  /** HTTP status, or 0 when there was no answer (network failure, client timeout). */
  readonly status: number;
  /** Stable category of the failure. */
  readonly code: PaddockErrorCode;
  /** The server's own code from `{"error", "code"}`, when it sent one. */
  readonly serverCode: string | undefined;
  /** The parsed response body: JSON when it was JSON, else its text; `undefined` without an answer. */
  readonly body: unknown;
  /** HTTP method of the failed call. */
  readonly method: string | undefined;
  /** Path of the failed call (no base URL, no query). */
  readonly path: string | undefined;
  /** Delay the server asked for with `Retry-After`, in milliseconds. */
  readonly retryAfterMs: number | undefined;

  /** Builds an error; the SDK does this for you. */
  constructor(init: PaddockErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.status = init.status;
    this.code = init.code;
    this.serverCode = init.serverCode;
    this.body = init.body;
    this.method = init.method;
    this.path = init.path;
    this.retryAfterMs = init.retryAfterMs;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /**
   * Whether `value` is a `PaddockError`, also when it comes from another
   * copy of the SDK (the ESM and the CommonJS build loaded side by side).
   */
  static is(value: unknown): value is PaddockError {
    return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }
}

/**
 * The category of an HTTP error status.
 *
 * @internal
 */
export function codeForStatus(status: number): PaddockErrorCode {
  switch (status) {
    case 400:
      return "BAD_REQUEST";
    case 401:
      return "UNAUTHORIZED";
    case 403:
      return "FORBIDDEN";
    case 404:
      return "NOT_FOUND";
    case 409:
      return "CONFLICT";
    case 429:
      return "RATE_LIMITED";
    case 408:
    case 504:
      return "TIMEOUT";
  }
  if (status >= 400 && status < 500) return "BAD_REQUEST";
  return "SERVER_ERROR";
}
