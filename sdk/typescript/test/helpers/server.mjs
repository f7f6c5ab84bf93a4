// Starts a real `paddock serve` for the integration tests: a temporary
// state directory, a control plane on 127.0.0.1:0 (the address is read
// from the "paddock serve ready" log line), the phantom proxy on
// 127.0.0.1:0 (its URL from the same line), API keys from PADDOCK_API_KEYS.
//
// The binary is $PADDOCK_BIN, else ../../target/debug/paddock (built with
// `cargo build -p paddock` when missing). Anything that keeps the server
// from starting throws, so the tests fail (never skip).
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { PaddockError } from "../../dist/esm/index.js";

const SDK_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const REPO_DIR = resolve(SDK_DIR, "../..");

/** Admin of tenant `acme` (tokens must be 16+ characters). */
export const ADMIN_TOKEN = "sdk-test-admin-token-0123456789";
/** Operator of another tenant, to check tenant scoping. */
export const OTHER_TOKEN = "sdk-test-other-token-0123456789";

let built = false;

/** Path of the paddock binary, building it if it is missing. */
export function paddockBinary() {
  if (process.env.PADDOCK_BIN) {
    const bin = resolve(process.env.PADDOCK_BIN);
    if (!existsSync(bin)) throw new Error(`PADDOCK_BIN=${process.env.PADDOCK_BIN} does not exist`);
    return bin;
  }
  const bin = join(REPO_DIR, "target/debug/paddock");
  if (existsSync(bin) || built) return bin;
  const cargo = [process.env.CARGO, "cargo", join(homedir(), ".cargo/bin/cargo")].find(Boolean);
  const run = (command) =>
    spawnSync(command, ["build", "-p", "paddock"], { cwd: REPO_DIR, encoding: "utf8", maxBuffer: 64 << 20 });
  let result = run(cargo);
  if (result.error && existsSync(join(homedir(), ".cargo/bin/cargo"))) result = run(join(homedir(), ".cargo/bin/cargo"));
  if (result.error || result.status !== 0 || !existsSync(bin)) {
    const tail = `${result.stderr ?? ""}`.split("\n").slice(-40).join("\n");
    throw new Error(
      `the paddock binary is missing and \`cargo build -p paddock\` in ${REPO_DIR} failed ` +
        `(${result.error?.message ?? `exit ${result.status}`}); set PADDOCK_BIN or build it first.\n${tail}`,
    );
  }
  built = true;
  return bin;
}

/**
 * Starts `paddock serve`. Returns `{url, proxyUrl, stateDir,
 * logs(), stop()}`. `args` are extra flags, `env` extra variables.
 */
export async function startServer({ args = [], env = {}, readyTimeoutMs = 60_000 } = {}) {
  const bin = paddockBinary();
  const stateDir = mkdtempSync(join(tmpdir(), "paddock-sdk-test-"));
  const childEnv = { ...process.env };
  for (const name of ["PADDOCK_API_KEYS", "AGENTJAIL_API_KEY", "DATABASE_URL", "LOG_FORMAT", "PADDOCK_LISTEN", "PADDOCK_SERVICES"]) {
    delete childEnv[name];
  }
  Object.assign(childEnv, {
    PADDOCK_API_KEYS: `${ADMIN_TOKEN}@acme:admin,${OTHER_TOKEN}@other:operator`,
    RUST_LOG: "info",
    NO_COLOR: "1",
    ...env,
  });
  const child = spawn(
    bin,
    [
      "serve",
      "--listen",
      "127.0.0.1:0",
      "--proxy-listen",
      "127.0.0.1:0",
      "--warm-pool",
      "1",
      "--state-dir",
      join(stateDir, "state"),
      ...args,
    ],
    { env: childEnv, stdio: ["ignore", "ignore", "pipe"] },
  );
  const lines = [];
  let pending = "";
  let onLine = () => {};
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (text) => {
    pending += text;
    let at;
    while ((at = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, at);
      pending = pending.slice(at + 1);
      lines.push(line);
      onLine(line);
    }
  });
  const exited = new Promise((resolveExit) => child.once("exit", (code, signal) => resolveExit({ code, signal })));
  let spawnError;
  child.once("error", (err) => {
    spawnError = err;
  });

  const cleanup = () => rmSync(stateDir, { recursive: true, force: true });
  let proxyUrl;
  const url = await new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`paddock serve did not become ready in ${readyTimeoutMs} ms:\n${lines.join("\n")}`));
    }, readyTimeoutMs);
    const check = (line) => {
      if (!line.includes("paddock serve ready")) return;
      // Text logs: `... listen=127.0.0.1:PORT proxy_listen=ADDR proxy_url=URL ...`;
      // JSON logs: the same in `fields`.
      const field = (name) => {
        const text = line.match(new RegExp(`(?:^|\\s)${name}=(\\S+)`))?.[1];
        if (text) return text.replace(/^"|"$/g, "");
        try {
          return JSON.parse(line).fields?.[name];
        } catch {
          return undefined;
        }
      };
      const addr = field("listen");
      proxyUrl = field("proxy_url") ?? (field("proxy_listen") && `http://${field("proxy_listen")}`);
      if (addr) {
        clearTimeout(timer);
        resolveUrl(`http://${addr}`);
      }
    };
    onLine = check;
    lines.forEach(check);
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(
        new Error(
          `paddock serve (${bin}) exited before it was ready (code ${code}, signal ${signal}` +
            `${spawnError ? `, ${spawnError.message}` : ""}):\n${lines.join("\n")}${pending}`,
        ),
      );
    });
  }).catch((err) => {
    cleanup();
    throw err;
  });
  onLine = () => {};

  return {
    url,
    proxyUrl,
    stateDir,
    logs: () => lines.join("\n"),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(timer);
      }
      cleanup();
    },
  };
}

/** Awaits `promise`, which must reject with a PaddockError; returns the error. */
export async function failure(promise) {
  try {
    await promise;
  } catch (err) {
    assert.ok(PaddockError.is(err), `expected a PaddockError, got ${err}`);
    return err;
  }
  assert.fail("the call did not fail");
}
