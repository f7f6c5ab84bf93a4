import { compact, limitFields, segment } from "../encode.js";
import { jailDeadline, type HttpClient } from "../http.js";
import type { CallOptions, SessionCreateRequest, SessionExecRequest, SessionListParams } from "../options.js";
import type { ExecResult, Session, SessionRecord } from "../wire.js";

/** A page of sessions, as paddock's `GET /v1/sessions` answers. */
interface SessionPage {
  rows: SessionRecord[];
}

/**
 * Sessions: a set of services whose phantom tokens a sandbox may use,
 * with a lifetime and optional path scopes. Closing one revokes its tokens.
 */
export class Sessions {
  /** @internal */
  constructor(private readonly http: HttpClient) {}

  /**
   * `POST /v1/sessions`: mints phantom tokens for `services` (each needs a
   * stored credential). The answer's `env` holds the tokens and the proxy
   * base URLs; it is shown only here.
   */
  async create(request: SessionCreateRequest, call?: CallOptions): Promise<Session> {
    return this.http.json({
      method: "POST",
      path: "/v1/sessions",
      body: compact({
        services: request.services,
        ttl_secs: request.ttlSecs,
        scopes: request.scopes,
        max_requests: request.maxRequests,
      }),
      call,
    });
  }

  /**
   * `GET /v1/sessions`: your sessions, newest first (without tokens).
   * paddock answers one page (`limit` default 50, `offset`); agentjail
   * answers every session as a bare array. Both come back as an array.
   */
  async list(params: SessionListParams = {}, call?: CallOptions): Promise<SessionRecord[]> {
    const answer = await this.http.json<SessionRecord[] | SessionPage>({
      method: "GET",
      path: "/v1/sessions",
      query: { limit: params.limit, offset: params.offset },
      call,
    });
    return Array.isArray(answer) ? answer : answer.rows;
  }

  /** `GET /v1/sessions/:id`: one session (without tokens). */
  async get(id: string, call?: CallOptions): Promise<SessionRecord> {
    return this.http.json({ method: "GET", path: `/v1/sessions/${segment(id)}`, call });
  }

  /** `DELETE /v1/sessions/:id`: closes the session and revokes its tokens at once. */
  async close(id: string, call?: CallOptions): Promise<void> {
    await this.http.json<void>({ method: "DELETE", path: `/v1/sessions/${segment(id)}`, call });
  }

  /**
   * `POST /v1/sessions/:id/exec`: runs a command in a fresh jail with the
   * session's environment (fresh phantom tokens; the phantom proxy is
   * reachable even with network `none`). A closed or expired session
   * answers 409 (`CONFLICT`).
   */
  async exec(id: string, request: SessionExecRequest, call?: CallOptions): Promise<ExecResult> {
    return this.http.json({
      method: "POST",
      path: `/v1/sessions/${segment(id)}/exec`,
      body: compact({ cmd: request.cmd, args: request.args, ...limitFields(request) }),
      minTimeoutMs: jailDeadline(request.timeoutSecs),
      call,
    });
  }
}
