// Compile-only checks of the emitted declarations (dist/esm/*.d.ts) in a
// Node project without the DOM lib: the README's examples type-check,
// results are typed as on the wire, and misuse is refused.
import {
  API_KEY_ENV,
  Agentjail,
  AgentjailError,
  Paddock,
  PaddockError,
  URL_ENV,
  type CancelResponse,
  type ChunkStreamEvent,
  type ExecResult,
  type ForkResult,
  type PaddockErrorCode,
  type Session,
  type StreamEvent,
  type Workspace,
} from "../../dist/esm/index.js";

export function fromEnvironment(): string {
  // No options at all: PADDOCK_URL and PADDOCK_API_KEY.
  const paddock = new Paddock();
  const names: readonly ("PADDOCK_API_KEY" | "AGENTJAIL_API_KEY")[] = API_KEY_ENV;
  const url: "PADDOCK_URL" = URL_ENV;
  return `${paddock.baseUrl} ${url} ${names.join(",")}`;
}

declare function spawn(cmd: string, args: string[], options: { env: Record<string, string | undefined> }): void;

export async function readmeFlow(): Promise<void> {
  const aj = new Agentjail({ baseUrl: "http://localhost:7000", apiKey: process.env.AGENTJAIL_API_KEY! });
  await aj.credentials.put({ service: "openai", secret: "sk-real" });
  const session: Session = await aj.sessions.create({ services: ["openai"], ttlSecs: 600 });
  spawn("node", ["my-agent.js"], { env: { ...process.env, ...session.env } });
  await aj.sessions.create({ services: ["github"], scopes: { github: ["/repos/my-org/*/issues*"] } });

  const ws: Workspace = await aj.workspaces.create({
    git: { repo: "https://github.com/my-org/app", ref: "main" },
    flavors: ["nodejs", "python"],
    label: "ci",
  });
  await aj.workspaces.exec(ws.id, { cmd: "bun", args: ["install"] });
  const baseline = await aj.snapshots.create(ws.id, { name: "deps-ready" });
  const lint = await aj.workspaces.exec(ws.id, { cmd: "bun", args: ["run", "lint"] });
  if (lint.exit_code !== 0) {
    const clean = await aj.snapshots.createWorkspaceFrom(baseline.id, { parentWorkspaceId: ws.id, label: "recovered" });
    const id: string = clean.id;
    void id;
  }
  const manifest = await aj.snapshots.manifest(baseline.id);
  const hashes: string[] = manifest.entries.map((e) => e.hash);
  void hashes;
}

export async function typedResults(paddock: Paddock): Promise<void> {
  const run: ExecResult = await paddock.runs.create({ code: "print(1)", language: "python", timeoutSecs: 5 });
  const exit: number = run.exit_code;
  const peak: number | undefined = run.stats?.memory_peak_bytes;
  void exit, peak;

  const fork: ForkResult = await paddock.runs.fork({ parentCode: "a", childCode: "b", forkAfterMs: 100 });
  const many = await paddock.runs.fork({ parentCode: "a", children: [{ code: "b", memoryMb: 64 }] });
  const method: string = many.forks[0]!.method;
  void fork, method;

  for await (const event of paddock.runs.stream({ code: "echo hi", language: "bash", signal: AbortSignal.timeout(1000) })) {
    switch (event.type) {
      case "started":
        event.pid satisfies number;
        break;
      case "stdout":
      case "stderr":
        event.line satisfies string;
        break;
      case "stats":
        event.cpu_usage_usec satisfies number;
        break;
      case "egress":
        event.outcome satisfies "allowed" | "denied" | "failed";
        break;
      case "completed":
        event.exit_code satisfies number;
        break;
      case "error":
        event.message satisfies string;
        break;
      default:
        event satisfies never;
    }
  }

  // Chunk framing: output events carry bytes (always) and text (when UTF-8).
  const decoder = new TextDecoder();
  for await (const event of paddock.runs.stream({ code: "x", output: "chunks" })) {
    if (event.type === "stdout" || event.type === "stderr") {
      event.bytes satisfies Uint8Array;
      event.text satisfies string | undefined;
      decoder.decode(event.bytes, { stream: true });
      // @ts-expect-error chunks have no line
      void event.line;
    }
    if (event.type === "started") event.id satisfies number;
    event satisfies ChunkStreamEvent;
  }
  // An output framing only known at run time: either shape.
  const framing: "lines" | "chunks" = Math.random() > 0.5 ? "lines" : "chunks";
  for await (const event of paddock.runs.stream({ code: "x", output: framing })) {
    if (event.type === "stdout") {
      const text: string | undefined = "line" in event ? event.line : event.text;
      void text;
    }
  }
  for await (const event of paddock.sessions.execStream("sess_1", { cmd: "ls", output: "lines", signal: AbortSignal.timeout(1000) })) {
    if (event.type === "stdout") event.line satisfies string;
    if (event.type === "completed") event.cancelled satisfies boolean;
  }
  for await (const event of paddock.workspaces.execStream("wrk_1", { cmd: "ls", env: [["A", "1"]], output: "chunks" })) {
    if (event.type === "stderr") event.bytes satisfies Uint8Array;
  }

  // Cancellation by run id.
  const cancelled: CancelResponse = await paddock.runs.cancel(run.id);
  cancelled.cancelled satisfies boolean;
  (await paddock.jails.cancel(run.id)).id satisfies number;
  const actions = await paddock.audit.actions({ limit: 10 });
  actions.rows[0]?.action satisfies string | undefined;

  const jails = await paddock.jails.list({ status: "cancelled", kind: "run", limit: 5 });
  const firstId: number | undefined = jails.rows[0]?.id;
  void firstId;
  const who = await paddock.whoami({ timeoutMs: 1000 });
  who.role satisfies "admin" | "operator";
  const stats = await paddock.public.stats();
  stats.active_execs satisfies number;
  const sessions = await paddock.sessions.list();
  sessions[0]?.status satisfies "active" | "closed" | "expired" | undefined;
  const audit = await paddock.audit.recent(10);
  audit.rows[0]?.reject_reason satisfies string | null | undefined;
  await paddock.workspaces.update("wrk_1", { label: "x" });
  await paddock.workspaces.fork("wrk_1", { count: 2 });
  await paddock.snapshots.list({ workspaceId: "wrk_1", q: "deps" });
}

export function errors(err: unknown): PaddockErrorCode | undefined {
  if (err instanceof AgentjailError) return err.code;
  if (PaddockError.is(err)) {
    const server: string | undefined = err.serverCode;
    void server;
    return err.code;
  }
  return undefined;
}

export async function misuse(paddock: Paddock): Promise<void> {
  // @ts-expect-error childCode and children are exclusive
  await paddock.runs.fork({ parentCode: "a", childCode: "b", children: [{ code: "c" }] });
  // @ts-expect-error a fork needs a child
  await paddock.runs.fork({ parentCode: "a" });
  // @ts-expect-error options are camelCase
  await paddock.runs.create({ code: "1", timeout_secs: 5 });
  // @ts-expect-error unknown language
  await paddock.runs.create({ code: "1", language: "cobol" });
  // @ts-expect-error allowlist needs domains
  await paddock.runs.create({ code: "1", network: { mode: "allowlist" } });
  // @ts-expect-error parentWorkspaceId is required
  await paddock.snapshots.createWorkspaceFrom("snap_1", { label: "x" });
  // @ts-expect-error no such code
  const code: PaddockErrorCode = "UNKNOWN";
  void code;
  // @ts-expect-error timeoutMs is a number
  new Paddock({ timeoutMs: "5s" });
  // @ts-expect-error unknown output framing
  paddock.runs.stream({ code: "1", output: "bytes" });
  // @ts-expect-error workspace execs take no network setting
  paddock.workspaces.execStream("wrk_1", { cmd: "ls", network: { mode: "none" } });
}
