import { compact, limitFields, segment } from "../encode.js";
import { jailDeadline, type HttpClient } from "../http.js";
import type {
  CallOptions,
  SessionCreateRequest,
  SessionExecRequest,
  SessionExecStreamRequest,
  SessionListParams,
} from "../options.js";
import type { ExecResult, Session, StreamEvent, StreamOutput } from "../wire.js";
import { streamEvents } from "./stream.js";

function execBody(request: SessionExecRequest): Record<string, unknown> {
  return compact({ cmd: request.cmd, args: request.args, ...limitFields(request) });
}

/** A page of sessions, as older paddock servers answered `GET /v1/sessions`. */
interface SessionPage {
  rows: Session[];
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
   * `GET /v1/sessions`: your sessions, newest first, with their `env`, as
   * an array. Closed sessions are left out unless `includeClosed`.
   */
  async list(params: SessionListParams = {}, call?: CallOptions): Promise<Session[]> {
    const answer = await this.http.json<Session[] | SessionPage>({
      method: "GET",
      path: "/v1/sessions",
      query: { limit: params.limit, offset: params.offset, include_closed: params.includeClosed },
      call,
    });
    return Array.isArray(answer) ? answer : answer.rows;
  }

  /** `GET /v1/sessions/:id`: one open session, with its `env`; a closed one is `NOT_FOUND`. */
  async get(id: string, call?: CallOptions): Promise<Session> {
    return this.http.json({ method: "GET", path: `/v1/sessions/${segment(id)}`, call });
  }

  /** `DELETE /v1/sessions/:id`: closes the session and revokes its tokens at once. */
  async close(id: string, call?: CallOptions): Promise<void> {
    await this.http.json<void>({ method: "DELETE", path: `/v1/sessions/${segment(id)}`, call });
  }

  /**
   * `POST /v1/sessions/:id/exec`: runs a command in a fresh jail with the
   * session's environment (fresh phantom tokens; the phantom proxy is
   * reachable even with network `none`). A closed session is
   * `NOT_FOUND`; an expired one `BAD_REQUEST` (`SESSION_EXPIRED`).
   */
  async exec(id: string, request: SessionExecRequest, call?: CallOptions): Promise<ExecResult> {
    return this.http.json({
      method: "POST",
      path: `/v1/sessions/${segment(id)}/exec`,
      body: execBody(request),
      minTimeoutMs: jailDeadline(request.timeoutSecs),
      call,
    });
  }

  /**
   * `POST /v1/sessions/:id/exec/stream` (paddock): `exec`, yielding the
   * same events as `runs.stream` as they happen (`started`, `stdout`,
   * `stderr`, `stats`, `egress`, then one `completed` or `error`).
   * `output` and `signal` work as for `runs.stream`: aborting, or leaving
   * the loop early, aborts the request and the server ends the jail.
   */
  execStream(
    id: string,
    request: SessionExecStreamRequest & { output: "chunks" },
    call?: CallOptions,
  ): AsyncGenerator<StreamEvent<"chunks">, void, undefined>;
  execStream(
    id: string,
    request: SessionExecStreamRequest & { output?: "lines" | undefined },
    call?: CallOptions,
  ): AsyncGenerator<StreamEvent, void, undefined>;
  execStream(id: string, request: SessionExecStreamRequest, call?: CallOptions): AsyncGenerator<StreamEvent<StreamOutput>, void, undefined>;
  async *execStream(
    id: string,
    request: SessionExecStreamRequest,
    call?: CallOptions,
  ): AsyncGenerator<StreamEvent<StreamOutput>, void, undefined> {
    const { signal, output, ...exec } = request;
    yield* streamEvents(
      this.http,
      "sessions.execStream",
      `/v1/sessions/${segment(id)}/exec/stream`,
      execBody(exec),
      jailDeadline(exec.timeoutSecs),
      { signal, output },
      call,
    );
  }
}
