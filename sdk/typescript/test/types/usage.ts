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
  type FsEntry,
  type ProcessInfo,
  type ProcessLogChunk,
  type ProcessRunResponse,
  type TerminalSession,
  type Workspace,
  type WorkspaceRunState,
} from "../../dist/esm/index.js";
import WebSocket from "ws";

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

export async function runtime(): Promise<void> {
  // The ws package's class is a WebSocket the SDK takes (Node 18 and 20).
  const paddock = new Paddock({ baseUrl: "http://127.0.0.1:7000", apiKey: "k", WebSocket });
  const ws = await paddock.workspaces.create({ label: "dev" });
  const state: WorkspaceRunState = await paddock.workspaces.start(ws.id);
  state.state satisfies string;
  state.started_at satisfies string | null | undefined;
  (await paddock.workspaces.stop(ws.id)).processes satisfies number;
  await paddock.workspaces.state(ws.id);
  const base: string = paddock.workspaces.sandboxAgentBaseUrl(ws.id);
  void base;

  const rt = paddock.workspaces.runtime(ws.id);
  rt.baseUrl satisfies string;
  (await rt.health()).status satisfies string;
  const run: ProcessRunResponse = await rt.processes.run({ command: "ls", args: ["-la"], env: { A: "1" }, timeoutMs: 1000 });
  run.exitCode satisfies number | null | undefined;
  run.stdoutTruncated satisfies boolean;
  const proc: ProcessInfo = await rt.processes.create({ command: "bash", tty: true, interactive: true });
  proc.status satisfies "running" | "exited";
  const all: ProcessInfo[] = await rt.processes.list({ owner: "user" });
  void all;
  await rt.processes.stop(proc.id, { waitMs: 1000 });
  await rt.processes.kill(proc.id);
  await rt.processes.delete(proc.id);
  const logs = await rt.processes.logs(proc.id, { stream: "pty", tail: 10, since: 0 });
  logs.entries[0]?.bytes satisfies Uint8Array | undefined;
  for await (const chunk of rt.processes.follow(proc.id, { stream: "stdout", signal: AbortSignal.timeout(1000) })) {
    chunk satisfies ProcessLogChunk;
    chunk.bytes satisfies Uint8Array;
    chunk.sequence satisfies number;
  }
  (await rt.processes.input(proc.id, "ls\n")).bytesWritten satisfies number;
  await rt.processes.input(proc.id, new Uint8Array([3]));
  (await rt.processes.resize(proc.id, { cols: 80, rows: 24 })).cols satisfies number;

  const term: TerminalSession = rt.processes.terminal(proc.id);
  const off = term.onData((bytes) => bytes satisfies Uint8Array);
  off();
  term.onExit((frame) => frame.exitCode satisfies number | null);
  term.onError((err) => err.code satisfies PaddockErrorCode);
  (await term.ready).processId satisfies string;
  term.sendInput("exit\n");
  term.sendInput(new Uint8Array([4]));
  term.resize({ cols: 100, rows: 30 });
  term.close();
  (await term.closed).code satisfies number;
  (await term.exited) satisfies number | null;
  rt.processes.terminal(proc.id, { WebSocket, protocols: ["x"] });

  const entries: FsEntry[] = await rt.files.list("src");
  entries[0]?.entryType satisfies "file" | "directory" | undefined;
  (await rt.files.read("a.bin")) satisfies Uint8Array;
  (await rt.files.readText("a.txt")) satisfies string;
  const stream: ReadableStream<Uint8Array> = await rt.files.readStream("big.bin");
  void stream;
  (await rt.files.write("a.txt", "text")).bytesWritten satisfies number;
  await rt.files.write("a.bin", new Uint8Array([1]));
  await rt.files.write("b.bin", stream);
  (await rt.files.stat("a.txt")).size satisfies number;
  await rt.files.mkdir("d");
  (await rt.files.move("a.txt", "b.txt", { overwrite: true })).to satisfies string;
  await rt.files.delete("d", { recursive: true });
  (await rt.files.uploadTar("d", new Uint8Array(512))).paths satisfies string[];
  (await rt.files.downloadTar("d")) satisfies Uint8Array;
  await rt.files.downloadTarStream();

  // @ts-expect-error the runtime's options are sandbox-agent's: command, not cmd
  await rt.processes.run({ cmd: "ls" });
  // @ts-expect-error env is a record
  await rt.processes.create({ command: "ls", env: [["A", "1"]] });
  // @ts-expect-error unknown log stream
  await rt.processes.logs(proc.id, { stream: "both" });
  // @ts-expect-error input is text or bytes
  await rt.processes.input(proc.id, 42);
  // @ts-expect-error not a WebSocket class
  new Paddock({ WebSocket: class {} });
}
