import type { HttpClient } from "../http.js";
import type { CallOptions } from "../options.js";
import { PaddockError } from "../errors.js";
import type { Health, PublicStats, Readiness } from "../wire.js";

/** Routes that need no API key (none is sent). */
export class Public {
  /** @internal */
  constructor(private readonly http: HttpClient) {}

  /** `GET /v1/health`: `{status: "ok", version}`. */
  async health(call?: CallOptions): Promise<Health> {
    return this.http.json({ method: "GET", path: "/v1/health", auth: false, call });
  }

  /**
   * `GET /readyz`: whether the server can take work now (database, state
   * disk, jail engine). A not-ready server's answer (503) is returned, not
   * thrown, so the failing check can be read.
   */
  async ready(call?: CallOptions): Promise<Readiness> {
    try {
      return await this.http.json<Readiness>({ method: "GET", path: "/readyz", auth: false, call });
    } catch (error) {
      if (PaddockError.is(error) && error.status === 503 && isReadiness(error.body)) return error.body;
      throw error;
    }
  }

  /** `GET /v1/stats`: live counters. */
  async stats(call?: CallOptions): Promise<PublicStats> {
    return this.http.json({ method: "GET", path: "/v1/stats", auth: false, call });
  }
}

function isReadiness(body: unknown): body is Readiness {
  return typeof body === "object" && body !== null && "ready" in body && "checks" in body;
}
