import type { HttpClient } from "../http.js";
import type { CallOptions } from "../options.js";
import type { Health, PublicStats } from "../wire.js";

/** Routes that need no API key (none is sent). */
export class Public {
  /** @internal */
  constructor(private readonly http: HttpClient) {}

  /** `GET /v1/health`: `{status: "ok", version}`. */
  async health(call?: CallOptions): Promise<Health> {
    return this.http.json({ method: "GET", path: "/v1/health", auth: false, call });
  }

  /** `GET /v1/stats`: live counters. */
  async stats(call?: CallOptions): Promise<PublicStats> {
    return this.http.json({ method: "GET", path: "/v1/stats", auth: false, call });
  }
}
