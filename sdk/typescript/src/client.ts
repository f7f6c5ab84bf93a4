import { HttpClient, type PaddockOptions } from "./http.js";
import type { CallOptions } from "./options.js";
import { Credentials } from "./resources/credentials.js";
import { Audit, Jails } from "./resources/ledger.js";
import { Public } from "./resources/public.js";
import { Runs } from "./resources/runs.js";
import { Sessions } from "./resources/sessions.js";
import { Snapshots } from "./resources/snapshots.js";
import { Workspaces } from "./resources/workspaces.js";
import { Code } from "./resources/code.js";
import type { Whoami } from "./wire.js";

/**
 * Client of a paddock control plane.
 *
 * ```ts
 * const paddock = new Paddock({ baseUrl: "http://127.0.0.1:7000", apiKey: "…" });
 * // or, from PADDOCK_URL and PADDOCK_API_KEY:
 * const fromEnv = new Paddock();
 * const result = await paddock.runs.create({ language: "python", code: "print(6*7)" });
 * ```
 *
 * Every method that makes a request takes an optional last argument {@link CallOptions}
 * (`signal`, `timeoutMs`) and rejects with a `PaddockError` on failure.
 */
export class Paddock {
  /** Upstream API keys (`/v1/credentials`). */
  readonly credentials: Credentials;
  /** Sessions with phantom tokens, and execs in them (`/v1/sessions`). */
  readonly sessions: Sessions;
  /** One-shot runs, forks and streams (`/v1/runs`). */
  readonly runs: Runs;
  /** Long-lived workspaces (`/v1/workspaces`) and their runtime (`workspaces.runtime(id)`). */
  readonly workspaces: Workspaces;
  /** (paddock) Code without a workspace (`/v1/code`). */
  readonly code: Code;
  /** Workspace snapshots (`/v1/snapshots`). */
  readonly snapshots: Snapshots;
  /** The audit log (`/v1/audit`). */
  readonly audit: Audit;
  /** The jail ledger (`/v1/jails`). */
  readonly jails: Jails;
  /** Health and counters, without an API key. */
  readonly public: Public;
  private readonly http: HttpClient;

  /**
   * A client. `baseUrl` and `apiKey` default to `$PADDOCK_URL` and
   * `$PADDOCK_API_KEY` (else `$AGENTJAIL_API_KEY`). Throws a `TypeError`
   * for a bad `baseUrl` (or `$PADDOCK_URL`) or when no `fetch` is available.
   */
  constructor(options: PaddockOptions = {}) {
    this.http = new HttpClient(options);
    this.credentials = new Credentials(this.http);
    this.sessions = new Sessions(this.http);
    this.runs = new Runs(this.http);
    this.workspaces = new Workspaces(this.http);
    this.code = new Code(this.http);
    this.snapshots = new Snapshots(this.http);
    this.audit = new Audit(this.http);
    this.jails = new Jails(this.http);
    this.public = new Public(this.http);
  }

  /** The control-plane URL this client talks to (without a trailing slash). */
  get baseUrl(): string {
    return this.http.baseUrl;
  }

  /** `GET /v1/whoami`: the tenant and role of the API key. */
  async whoami(call?: CallOptions): Promise<Whoami> {
    return this.http.json({ method: "GET", path: "/v1/whoami", call });
  }
}
