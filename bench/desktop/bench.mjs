// The desktop through the API, paddock next to sandbox-agent 0.4.2 in the
// same run, with the same full-screen window of text on each: a 1280x720
// screenshot (PNG), a click and a key press, each a
// full HTTP round trip, sequential. paddock's desktop runs in a workspace's
// jail and is driven over X11 from the server; sandbox-agent's runs on the
// host, unsandboxed, and drives it with xdotool and ImageMagick's import.
//
//   PADDOCK_BIN=target/release/paddock SANDBOX_AGENT_BIN=… node bench/desktop/bench.mjs [--quick]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, percentile, start } from '../common.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PADDOCK = resolve(process.env.PADDOCK_BIN || join(ROOT, 'target/release/paddock'));
const SANDBOX_AGENT = resolve(process.env.SANDBOX_AGENT_BIN || join(ROOT, 'bench/.peers/node_modules/@sandbox-agent/cli-linux-x64/bin/sandbox-agent'));
const N = process.argv.includes('--quick') ? 20 : 100;
const KEY = 'bench-desktop-key-0123456789abcdef';

async function call(base, token, method, path, body) {
  const response = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${new TextDecoder().decode(bytes)}`);
  return bytes;
}

/** Times `n` sequential calls of `fn`. */
async function timed(n, fn) {
  for (let i = 0; i < 3; i++) await fn(i);
  const ms = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn(i);
    ms.push(performance.now() - t);
  }
  return { p50: percentile(ms, 0.5), p95: percentile(ms, 0.95) };
}

/** A screenful of text (what a screenshot of real work holds), shown by xmessage. */
const BUSY = Array.from({ length: 45 }, (_, i) =>
  `${String(i).padStart(3)}  fn screenshot_${i}(display: &X11Desktop) -> Result<RgbImage, Error> { /* ${'lorem ipsum '.repeat(i % 9)} */ }`).join('\n');

/** The three rows for a desktop API at `base` (sandbox-agent's paths),
 * with `busyPath` (where BUSY is) on the screen; the desktop is stopped
 * after, measured or not. */
async function measure(base, token, busyPath) {
  try {
    return await measureStarted(base, token, busyPath);
  } finally {
    await call(base, token, 'POST', '/v1/desktop/stop').catch(() => {});
  }
}

async function measureStarted(base, token, busyPath) {
  await call(base, token, 'POST', '/v1/desktop/start', { width: 1280, height: 720 });
  await call(base, token, 'POST', '/v1/desktop/launch', { app: 'xmessage', args: ['-geometry', '1280x720+0+0', '-file', busyPath], wait: true });
  await new Promise((r) => setTimeout(r, 1500));
  const first = await call(base, token, 'GET', '/v1/desktop/screenshot');
  if (first.length < 20_000) throw new Error(`the text window did not show (a ${first.length}-byte screenshot)`);
  let bytes = 0;
  const shot = await timed(N, async () => { bytes = (await call(base, token, 'GET', '/v1/desktop/screenshot')).length; });
  const click = await timed(N, (i) => call(base, token, 'POST', '/v1/desktop/mouse/click', { x: 100 + (i % 50), y: 100 }));
  const key = await timed(N, () => call(base, token, 'POST', '/v1/desktop/keyboard/press', { key: 'shift' }));
  return { shot, click, key, bytes };
}

const work = mkdtempSync(join(tmpdir(), 'paddock-bench-desktop-'));
const rows = [];
const stops = [];
try {
  execFileSync(PADDOCK, ['flavors', 'install', 'desktop', '--state-dir', join(work, 'state')], { stdio: 'ignore' });
  const paddock = start(PADDOCK, ['serve', '--listen', '127.0.0.1:0', '--proxy-listen', '127.0.0.1:0', '--state-dir', join(work, 'state')],
    { PADDOCK_API_KEYS: `${KEY}@bench:operator` }, /paddock console: (http:\/\/\S+)\/ui\//);
  const url = (await paddock.up)[1];
  stops.push(paddock.stop);
  const created = await fetch(`${url}/v1/workspaces`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ flavors: ['desktop'] }) });
  const ws = (await created.json()).id;
  const put = await fetch(`${url}/v1/workspaces/${ws}/runtime/v1/fs/file?path=/workspace/busy.txt`, { method: 'PUT', headers: { authorization: `Bearer ${KEY}` }, body: BUSY });
  if (put.status !== 200) throw new Error(`writing busy.txt: ${put.status} ${await put.text()}`);
  rows.push(['paddock (workspace jail, X11 from the server)', await measure(`${url}/v1/workspaces/${ws}/runtime`, KEY, '/workspace/busy.txt')]);
  await paddock.stop();

  const port = await freePort();
  const agent = start(SANDBOX_AGENT, ['server', '-H', '127.0.0.1', '-p', String(port), '-t', 'bench-token', '--no-telemetry'], {}, /listening|Listening|started|http:\/\/127/);
  stops.push(agent.stop);
  await agent.up.catch(() => null);
  for (let i = 0; i < 100; i++) {
    if (await fetch(`http://127.0.0.1:${port}/v1/health`).then(() => true, () => false)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  try {
    writeFileSync(join(work, 'busy.txt'), BUSY);
    rows.push(['sandbox-agent 0.4.2 (host, no sandbox)', await measure(`http://127.0.0.1:${port}`, 'bench-token', join(work, 'busy.txt'))]);
  } catch (err) {
    rows.push(['sandbox-agent 0.4.2 (host, no sandbox)', { error: String(err.message).slice(0, 200) }]);
  }
  await agent.stop();
} finally {
  // A failed measurement still stops both servers (and their desktops).
  for (const stop of stops) await stop();
  rmSync(work, { recursive: true, force: true });
}

const f = (x) => x.toFixed(1);
console.log(`\ndesktop through the API, 1280x720, ${N} sequential calls each (p50 / p95 ms)`);
console.log('| server | screenshot (PNG) | PNG bytes | click | key press |');
console.log('|---|---|---|---|---|');
for (const [name, r] of rows) {
  if (r.error) console.log(`| ${name} | failed: ${r.error} | | | |`);
  else console.log(`| ${name} | ${f(r.shot.p50)} / ${f(r.shot.p95)} | ${r.bytes} | ${f(r.click.p50)} / ${f(r.click.p95)} | ${f(r.key.p50)} / ${f(r.key.p95)} |`);
}
