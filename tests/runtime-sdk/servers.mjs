// Starting the two servers the suite compares: the real sandbox-agent
// 0.4.2 binary (from @sandbox-agent/cli-linux-x64) and `paddock serve`.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, realpathSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

function collectLines(stream, lines, onLine = () => {}) {
  let pending = "";
  stream.setEncoding("utf8");
  stream.on("data", (text) => {
    pending += text;
    let at;
    while ((at = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, at);
      pending = pending.slice(at + 1);
      lines.push(line);
      onLine(line);
    }
  });
}

async function stopChild(child, exited, graceMs = 5000) {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  }
}

/** Path of the sandbox-agent 0.4.2 binary installed by npm. */
export function sandboxAgentBinary() {
  const pkg = require.resolve("@sandbox-agent/cli-linux-x64/package.json");
  return join(dirname(pkg), "bin", "sandbox-agent");
}

/**
 * Starts the real binary with HOME and cwd in a fresh temp directory (so
 * relative fs paths and the default process cwd are both that directory).
 * Returns `{baseUrl, token, workdir, logs(), stop()}`.
 */
export async function startOracle({ token = "compat-oracle-token-0123456789" } = {}) {
  const bin = sandboxAgentBinary();
  const workdir = realpathSync(mkdtempSync(join(tmpdir(), "sa-oracle-")));
  const port = await freePort();
  const child = spawn(bin, ["server", "-H", "127.0.0.1", "-p", String(port), "-t", token, "--no-telemetry"], {
    cwd: workdir,
    env: { ...process.env, HOME: workdir, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines = [];
  collectLines(child.stdout, lines);
  collectLines(child.stderr, lines);
  const exited = new Promise((r) => child.once("exit", (code, signal) => r({ code, signal })));
  let spawnError;
  child.once("error", (e) => {
    spawnError = e;
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15000;
  for (;;) {
    if (spawnError || child.exitCode !== null) {
      throw new Error(`sandbox-agent (${bin}) did not start: ${spawnError?.message ?? `exit ${child.exitCode}`}\n${lines.join("\n")}`);
    }
    try {
      const r = await fetch(`${baseUrl}/v1/health`, { headers: { authorization: `Bearer ${token}` } });
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stopChild(child, exited);
      throw new Error(`sandbox-agent did not answer /v1/health in 15 s:\n${lines.join("\n")}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    name: "oracle",
    baseUrl,
    token,
    workdir,
    logs: () => lines.join("\n"),
    async stop() {
      await stopChild(child, exited);
      rmSync(workdir, { recursive: true, force: true });
    },
  };
}

/** Path of the paddock binary: $PADDOCK_BIN, else ../../target/debug/paddock. */
export function paddockBinary() {
  const bin = resolve(HERE, process.env.PADDOCK_BIN ?? "../../target/debug/paddock");
  if (!existsSync(bin)) {
    throw new Error(`paddock binary ${bin} does not exist: run \`cargo build -p paddock\` in the repo or set PADDOCK_BIN`);
  }
  return bin;
}

/**
 * Starts `paddock serve` on a temp state dir (as sdk/typescript's
 * integration tests do), creates a workspace with `POST /v1/workspaces {}`
 * and returns `{baseUrl, token, workdir: "/workspace", workspaceId, url, logs(), stop()}`.
 * With `stateDir` the server keeps its state there (a restart passes the same
 * one, and the `workspaceId` it made, instead of creating another).
 */
export async function startPaddock({
  token = "compat-paddock-admin-token-0123456789",
  readyTimeoutMs = 60000,
  stateDir: keptStateDir,
  workspaceId: existingWorkspace,
  extraArgs = [],
} = {}) {
  const bin = paddockBinary();
  // A given state dir is the caller's (kept across restarts); a fresh one is removed at stop.
  const stateDir = keptStateDir ?? mkdtempSync(join(tmpdir(), "paddock-compat-"));
  const env = { ...process.env };
  for (const name of ["PADDOCK_API_KEYS", "AGENTJAIL_API_KEY", "DATABASE_URL", "LOG_FORMAT", "PADDOCK_LISTEN", "PADDOCK_SERVICES", "PADDOCK_STATE_DIR"]) {
    delete env[name];
  }
  Object.assign(env, { PADDOCK_API_KEYS: `${token}@compat:admin`, RUST_LOG: "info", NO_COLOR: "1" });
  const child = spawn(
    bin,
    ["serve", "--listen", "127.0.0.1:0", "--proxy-listen", "127.0.0.1:0", "--warm-pool", "1", "--state-dir", join(stateDir, "state"), ...extraArgs],
    { env, stdio: ["ignore", "ignore", "pipe"] },
  );
  const lines = [];
  const exited = new Promise((r) => child.once("exit", (code, signal) => r({ code, signal })));
  let spawnError;
  child.once("error", (e) => {
    spawnError = e;
  });
  const cleanup = () => keptStateDir || rmSync(stateDir, { recursive: true, force: true });
  let url;
  try {
    url = await new Promise((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`paddock serve was not ready in ${readyTimeoutMs} ms:\n${lines.join("\n")}`)), readyTimeoutMs);
      const check = (line) => {
        if (!line.includes("paddock serve ready")) return;
        let addr = line.match(/(?:^|\s)listen=(\S+)/)?.[1]?.replace(/^"|"$/g, "");
        if (!addr) {
          try {
            addr = JSON.parse(line).fields?.listen;
          } catch {
            // not JSON
          }
        }
        if (addr) {
          clearTimeout(timer);
          res(`http://${addr}`);
        }
      };
      collectLines(child.stderr, lines, check);
      exited.then(({ code, signal }) => {
        clearTimeout(timer);
        rej(new Error(`paddock serve (${bin}) exited before ready (code ${code}, signal ${signal}${spawnError ? `, ${spawnError.message}` : ""}):\n${lines.join("\n")}`));
      });
    });
  } catch (err) {
    await stopChild(child, exited);
    cleanup();
    throw err;
  }
  // paddock ends its jails (and removes their cgroups) before it exits;
  // a kill before then would leave them behind.
  const stop = async () => {
    await stopChild(child, exited, 60000);
    cleanup();
  };
  if (existingWorkspace) {
    return {
      name: "paddock",
      url,
      workspaceId: existingWorkspace,
      baseUrl: `${url}/v1/workspaces/${existingWorkspace}/runtime`,
      token,
      workdir: "/workspace",
      logs: () => lines.join("\n"),
      stop,
    };
  }
  try {
    const r = await fetch(`${url}/v1/workspaces`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: "{}",
    });
    const text = await r.text();
    if (r.status !== 201) throw new Error(`POST /v1/workspaces answered ${r.status}: ${text}`);
    const ws = JSON.parse(text);
    if (typeof ws.id !== "string") throw new Error(`POST /v1/workspaces: no id in ${text}`);
    return {
      name: "paddock",
      url,
      workspaceId: ws.id,
      baseUrl: `${url}/v1/workspaces/${ws.id}/runtime`,
      token,
      workdir: "/workspace",
      logs: () => lines.join("\n"),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
