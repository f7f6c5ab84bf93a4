/**
 * A workspace's browser (`runtime(id).browser`): agent-browser's commands
 * run by the real `agent-browser` in the workspace's jail, driving
 * Debian's Chromium there (the workspace needs the `browser` flavor).
 */
import { fromBase64 } from "../bytes.js";
import { compact } from "../encode.js";
import type { HttpClient } from "../http.js";
import type { CallOptions } from "../options.js";
import type { BrowserCommandResponse } from "../wire.js";

/** Options of one browser command. */
export interface BrowserCommandOptions {
  /** The browser session (its own browser, cookies and tabs; default `default`). */
  session?: string;
  /** Deadline in milliseconds (default 30000, at most 120000). */
  timeoutMs?: number;
}

export class RuntimeBrowser {
  private readonly path: string;

  /** @internal */
  constructor(
    private readonly http: HttpClient,
    prefix: string,
  ) {
    this.path = `${prefix}/v1/browser`;
  }

  /**
   * `POST …/v1/browser`: runs one command (`open`, `snapshot`, `click`,
   * `fill`, `get`, `screenshot`, `tab`, `eval`, `diff`, `cookies`,
   * `state`, …) with its arguments as on agent-browser's command line,
   * e.g. `run("snapshot", ["-i"])`, `run("fill", ["@e2", "a@b.c"])`. A
   * screenshot taken without a path answers its PNG in `image` (base64).
   */
  async run(command: string, args: string[] = [], options: BrowserCommandOptions = {}, call?: CallOptions): Promise<BrowserCommandResponse> {
    return this.http.json({
      method: "POST",
      path: this.path,
      body: compact({ command, args, session: options.session, timeoutMs: options.timeoutMs }),
      call,
    });
  }

  /** `open URL` (a URL the workspace's network cannot reach is refused, 403 `BROWSER_URL_REFUSED`). */
  async open(url: string, options: BrowserCommandOptions = {}, call?: CallOptions): Promise<BrowserCommandResponse> {
    return this.run("open", [url], options, call);
  }

  /** `snapshot` (`-i` by default: the interactive elements and their `@eN` refs); the tree is `data.snapshot`. */
  async snapshot(args: string[] = ["-i"], options: BrowserCommandOptions = {}, call?: CallOptions): Promise<BrowserCommandResponse> {
    return this.run("snapshot", args, options, call);
  }

  /** `screenshot` (extra flags: `--full`, `--annotate`): the PNG's bytes. */
  async screenshot(args: string[] = [], options: BrowserCommandOptions = {}, call?: CallOptions): Promise<Uint8Array> {
    const answer = await this.run("screenshot", args, options, call);
    const bytes = answer.image ? fromBase64(answer.image.data) : undefined;
    if (bytes === undefined) throw new Error("the screenshot answered no image");
    return bytes;
  }
}
