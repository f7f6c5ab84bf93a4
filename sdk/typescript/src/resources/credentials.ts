import { segment } from "../encode.js";
import type { HttpClient } from "../http.js";
import type { CallOptions, CredentialPutRequest } from "../options.js";
import type { CredentialRecord, ServiceId } from "../wire.js";

/** Upstream API keys of your tenant: stored encrypted, never returned. */
export class Credentials {
  /** @internal */
  constructor(private readonly http: HttpClient) {}

  /** `GET /v1/credentials`: the stored credentials (without secrets). */
  async list(call?: CallOptions): Promise<CredentialRecord[]> {
    return this.http.json({ method: "GET", path: "/v1/credentials", call });
  }

  /** `POST /v1/credentials`: stores or replaces the key of a service. */
  async put(request: CredentialPutRequest, call?: CallOptions): Promise<CredentialRecord> {
    return this.http.json({
      method: "POST",
      path: "/v1/credentials",
      body: { service: request.service, secret: request.secret },
      call,
    });
  }

  /** `DELETE /v1/credentials/:service`: removes a service's key (404 if none is stored). */
  async delete(service: ServiceId, call?: CallOptions): Promise<void> {
    await this.http.json<void>({ method: "DELETE", path: `/v1/credentials/${segment(service)}`, call });
  }
}
