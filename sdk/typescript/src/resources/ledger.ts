import { segment } from "../encode.js";
import type { HttpClient } from "../http.js";
import type { CallOptions, JailListParams } from "../options.js";
import type { AuditList, JailRecord, JailsList } from "../wire.js";

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
}

/** The audit log: phantom-proxy requests and control-plane actions. */
export class Audit {
  /** @internal */
  constructor(private readonly http: HttpClient) {}

  /** `GET /v1/audit`: the most recent rows (server default 100, at most 1000). */
  async recent(limit?: number, call?: CallOptions): Promise<AuditList> {
    return this.http.json({ method: "GET", path: "/v1/audit", query: { limit }, call });
  }
}
