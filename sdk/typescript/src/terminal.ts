/**
 * A process's terminal over a WebSocket (`…/processes/{id}/terminal/ws`).
 *
 * @module
 */

import { asBytes, toBase64 } from "./bytes.js";
import { codeForStatus, PaddockError } from "./errors.js";
import type { ProcessTerminalSize, TerminalExitFrame, TerminalReadyFrame } from "./wire.js";

/**
 * What the SDK needs of a WebSocket: the standard browser API, which the
 * `ws` package's class also has (`addEventListener`, `send`, `close`,
 * `readyState`, `binaryType`).
 */
export interface WebSocketLike {
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
  /** Set to `"arraybuffer"` by the SDK. */
  binaryType: string;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: "open" | "message" | "error" | "close", listener: (event: any) => void): void;
}

/**
 * A `WebSocket` class: `globalThis.WebSocket` (browsers, Deno, Bun,
 * Node 22+) or the `ws` package's default export (Node 18 and 20).
 */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** How a terminal's socket closed. */
export interface TerminalCloseInfo {
  /** The close code (1005 when the server sent none, as paddock's does after `exit`). */
  code: number;
  /** The close reason. */
  reason: string;
}

const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

/**
 * An interactive terminal of a `tty` process, over a WebSocket. Get one
 * from `runtime.processes.terminal(id)`.
 *
 * The server first sends `ready`, then the terminal's output as binary
 * frames, from the connection on (earlier output is in
 * `processes.logs`), then `exit` with the exit code when the process
 * ends, and closes. Input
 * and resizes go the other way.
 *
 * ```ts
 * const term = runtime.processes.terminal(proc.id);
 * term.onData((bytes) => process.stdout.write(bytes));
 * term.onExit(({ exitCode }) => console.log("exit", exitCode));
 * await term.ready;
 * term.resize({ cols: 120, rows: 40 });
 * term.sendInput("ls -la\n");
 * await term.closed;
 * ```
 *
 * Listeners run in the order frames arrive. Input and resizes sent
 * before the socket is open are queued; after it closed, they are
 * dropped. Closing the terminal leaves the process running (kill it with
 * `processes.kill`).
 */
export class TerminalSession {
  /** The underlying WebSocket. */
  readonly socket: WebSocketLike;
  /** The process this is the terminal of. */
  readonly processId: string;
  /**
   * Resolves with the server's `ready` frame. Rejects with a
   * `PaddockError` when the socket fails or closes first: the upgrade
   * was refused (`NOT_FOUND` for an unknown process, `BAD_REQUEST` for
   * one without a terminal, `UNAUTHORIZED`, when the WebSocket
   * implementation tells the status, as `ws` does) or the server is
   * unreachable (`NETWORK`).
   */
  readonly ready: Promise<TerminalReadyFrame>;
  /** Resolves once the socket has closed (never rejects). */
  readonly closed: Promise<TerminalCloseInfo>;
  /** Resolves with the process's exit code (`null` after a signal) when the server sends `exit`. */
  readonly exited: Promise<number | null>;

  private readonly readyListeners = new Set<(frame: TerminalReadyFrame) => void>();
  private readonly dataListeners = new Set<(data: Uint8Array) => void>();
  private readonly exitListeners = new Set<(frame: TerminalExitFrame) => void>();
  private readonly errorListeners = new Set<(error: PaddockError) => void>();
  private readonly closeListeners = new Set<(info: TerminalCloseInfo) => void>();
  private readonly pending: string[] = [];
  private chain: Promise<void> = Promise.resolve();
  private isReady = false;
  private closeSent = false;
  private resolveReady!: (frame: TerminalReadyFrame) => void;
  private rejectReady!: (error: PaddockError) => void;
  private resolveClosed!: (info: TerminalCloseInfo) => void;
  private resolveExited!: (code: number | null) => void;

  /** @internal Wraps `socket`; use `processes.terminal(id)`. */
  constructor(socket: WebSocketLike, processId: string) {
    this.socket = socket;
    this.processId = processId;
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // Nobody may be waiting for `ready`: a failure must not be an unhandled rejection.
    this.ready.catch(() => undefined);
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.exited = new Promise((resolve) => (this.resolveExited = resolve));
    try {
      socket.binaryType = "arraybuffer";
    } catch {
      // Some implementations fix it; Blob and Buffer data are handled too.
    }
    // Every event goes through one chain, so listeners see frames in
    // order even when a frame must be read asynchronously (a Blob).
    const queue = (work: () => void | Promise<void>) => {
      this.chain = this.chain.then(work).catch((err) => this.emitError(toError(err, "terminal: a listener failed")));
    };
    socket.addEventListener("open", () => queue(() => this.flush()));
    socket.addEventListener("message", (event: { data: unknown }) => queue(() => this.message(event.data)));
    socket.addEventListener("error", (event: unknown) => queue(() => this.failed(event)));
    socket.addEventListener("close", (event: { code?: number; reason?: string }) =>
      queue(() => this.onSocketClose({ code: event?.code ?? 1005, reason: event?.reason ?? "" })),
    );
  }

  /** Calls `listener` with the `ready` frame. Returns a function that removes it. */
  onReady(listener: (frame: TerminalReadyFrame) => void): () => void {
    return add(this.readyListeners, listener);
  }

  /** Calls `listener` with each piece of the terminal's output, as bytes. Returns a function that removes it. */
  onData(listener: (data: Uint8Array) => void): () => void {
    return add(this.dataListeners, listener);
  }

  /** Calls `listener` when the process ends (`exitCode` is `null` after a signal). Returns a function that removes it. */
  onExit(listener: (frame: TerminalExitFrame) => void): () => void {
    return add(this.exitListeners, listener);
  }

  /**
   * Calls `listener` with every failure: an `error` frame from the server
   * (a bad resize, input the process could not take), a socket error, a
   * frame the SDK cannot read. Returns a function that removes it.
   */
  onError(listener: (error: PaddockError) => void): () => void {
    return add(this.errorListeners, listener);
  }

  /** Calls `listener` once the socket has closed. Returns a function that removes it. */
  onClose(listener: (info: TerminalCloseInfo) => void): () => void {
    return add(this.closeListeners, listener);
  }

  /** Types `data` on the terminal: text is sent as UTF-8, bytes as they are. */
  sendInput(data: string | Uint8Array | ArrayBuffer): void {
    if (typeof data === "string") {
      this.send({ type: "input", data, encoding: "utf8" });
      return;
    }
    const bytes = asBytes(data);
    if (!bytes) throw new TypeError("terminal.sendInput: data must be a string, a Uint8Array or an ArrayBuffer");
    this.send({ type: "input", data: toBase64(bytes), encoding: "base64" });
  }

  /** Resizes the terminal (the process gets `SIGWINCH`). */
  resize(size: ProcessTerminalSize): void {
    this.send({ type: "resize", cols: size.cols, rows: size.rows });
  }

  /** Asks the server to close, and closes the socket; the process keeps running. */
  close(): void {
    const state = this.socket.readyState;
    if (state === CLOSING || state === CLOSED) return;
    if (state === OPEN && !this.closeSent) {
      this.closeSent = true;
      this.socket.send(JSON.stringify({ type: "close" }));
    }
    this.socket.close();
  }

  private send(frame: Record<string, unknown>): void {
    const text = JSON.stringify(frame);
    const state = this.socket.readyState;
    if (state === OPEN && this.pending.length === 0) this.socket.send(text);
    else if (state < CLOSING) this.pending.push(text);
  }

  private flush(): void {
    while (this.pending.length > 0 && this.socket.readyState === OPEN) this.socket.send(this.pending.shift()!);
  }

  private async message(data: unknown): Promise<void> {
    if (typeof data === "string") {
      this.control(data);
      return;
    }
    let bytes = asBytes(data);
    if (!bytes && Array.isArray(data)) bytes = concat(data.map((part) => asBytes(part) ?? new Uint8Array()));
    if (!bytes && typeof (data as Blob | null)?.arrayBuffer === "function") {
      bytes = new Uint8Array(await (data as Blob).arrayBuffer());
    }
    if (!bytes) {
      this.emitError(new PaddockError({ status: 0, code: "SERVER_ERROR", message: "terminal: a frame the SDK cannot read", body: data }));
      return;
    }
    for (const listener of this.dataListeners) listener(bytes);
  }

  private control(text: string): void {
    let frame: { type?: unknown; [key: string]: unknown } | undefined;
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === "object" && parsed !== null) frame = parsed as typeof frame;
    } catch {
      // reported below
    }
    switch (frame?.type) {
      case "ready": {
        const ready = frame as unknown as TerminalReadyFrame;
        this.isReady = true;
        this.resolveReady(ready);
        for (const listener of this.readyListeners) listener(ready);
        return;
      }
      case "exit": {
        const exit = { ...frame, exitCode: typeof frame.exitCode === "number" ? frame.exitCode : null } as TerminalExitFrame;
        this.resolveExited(exit.exitCode);
        for (const listener of this.exitListeners) listener(exit);
        return;
      }
      case "error":
        this.emitError(
          new PaddockError({
            status: 0,
            code: "BAD_REQUEST",
            message: typeof frame.message === "string" ? frame.message : "terminal: the server sent an error",
            body: frame,
          }),
        );
        return;
      default:
        this.emitError(new PaddockError({ status: 0, code: "SERVER_ERROR", message: "terminal: a control frame the SDK cannot read", body: text }));
    }
  }

  private failed(event: unknown): void {
    const error = socketError(event, this.isReady);
    if (!this.isReady) this.rejectReady(error);
    this.emitError(error);
  }

  private onSocketClose(info: TerminalCloseInfo): void {
    if (!this.isReady) {
      this.rejectReady(
        new PaddockError({
          status: 0,
          code: "NETWORK",
          message: `terminal: the socket closed before the server was ready (code ${info.code}${info.reason ? `, ${info.reason}` : ""})`,
        }),
      );
    }
    this.pending.length = 0;
    this.resolveClosed(info);
    for (const listener of this.closeListeners) listener(info);
  }

  private emitError(error: PaddockError): void {
    for (const listener of this.errorListeners) listener(error);
  }
}

function add<T>(set: Set<T>, listener: T): () => void {
  set.add(listener);
  return () => {
    set.delete(listener);
  };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function toError(err: unknown, message: string): PaddockError {
  if (PaddockError.is(err)) return err;
  return new PaddockError({ status: 0, code: "SERVER_ERROR", message: `${message}: ${err instanceof Error ? err.message : String(err)}`, cause: err });
}

/**
 * The error of a socket `error` event. The `ws` package names the
 * status of a refused upgrade (`Unexpected server response: 404`);
 * browsers tell nothing.
 */
function socketError(event: unknown, ready: boolean): PaddockError {
  const fields = (event ?? {}) as { message?: unknown; error?: unknown };
  const cause = fields.error ?? event;
  const text =
    typeof fields.message === "string" && fields.message
      ? fields.message
      : fields.error instanceof Error
        ? fields.error.message
        : "";
  const status = Number(/Unexpected server response: (\d{3})/.exec(text)?.[1] ?? 0);
  if (status >= 400) {
    return new PaddockError({
      status,
      code: codeForStatus(status),
      message: `terminal: the server refused the WebSocket (HTTP ${status})`,
      cause,
    });
  }
  return new PaddockError({
    status: 0,
    code: "NETWORK",
    message: `terminal: ${ready ? "the WebSocket failed" : "cannot open the WebSocket"}${text ? `: ${text}` : ""}`,
    cause,
  });
}
