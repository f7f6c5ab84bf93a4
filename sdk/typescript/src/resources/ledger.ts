import { segment } from "../encode.js";
import type { HttpClient } from "../http.js";
import type { AuditActionsParams, CallOptions, JailListParams } from "../options.js";
import type { ActionList, AuditList, CancelResponse, JailRecord, JailsList } from "../wire.js";

/** The jail ledger: one row per jail the server started. */
export class Jails {
  /** @internal */
  constructor(private readonly http: HttpClient) {}

  /** `GET /v1/jails`: a page of ledger rows, newest first, filtered by `status`, `kind` and `q`. */
  async list(params: JailListParams = {}, call?: CallOptions): Promise<JailsList> {
    return this.http.json({
      method: "GET",
      path: "/v1/jails",
      query: { limit: params.limit, offset: params.offset, status: params.status, kind: params.kind, q: params.q },
      call,
    });
  }

  /** `GET /v1/jails/:id`: one row (output capped at 16 KiB). */
  async get(id: number | string, call?: CallOptions): Promise<JailRecord> {
    return this.http.json({ method: "GET", path: `/v1/jails/${segment(id)}`, call });
  }

  /**
   * `POST /v1/runs/:id/cancel` (paddock): the same as `runs.cancel(id)`,
   * named for the ledger, since any running jail can be cancelled by its
   * row's id (a run, a stream, a session exec or a workspace exec).
   */
  async cancel(id: number | string, call?: CallOptions): Promise<CancelResponse> {
    return this.http.json({ method: "POST", path: `/v1/runs/${segment(id)}/cancel`, call });
  }
}

/** The audit log: phantom-proxy requests (`recent`) and control-plane actions (`actions`). */
export class Audit {
  /** @internal */
  constructor(private readonly http: HttpClient) {}

  /** `GET /v1/audit`: the most recent phantom-proxy requests (server default 100, at most 1000). */
  async recent(limit?: number, call?: CallOptions): Promise<AuditList> {
    return this.http.json({ method: "GET", path: "/v1/audit", query: { limit }, call });
  }

  /** `GET /v1/audit/actions` (paddock): control-plane actions (who created, closed, stored, revoked or deleted what), newest first. */
  async actions(params: AuditActionsParams = {}, call?: CallOptions): Promise<ActionList> {
    return this.http.json({
      method: "GET",
      path: "/v1/audit/actions",
      query: { limit: params.limit, offset: params.offset, q: params.q },
      call,
    });
  }
}
