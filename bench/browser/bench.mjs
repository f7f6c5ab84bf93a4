// The browser through the API next to agent-browser outside any jail, in
// the same run, on the same page: `open` of a local form page plus
// `snapshot -i`, sequential. paddock runs agent-browser and Chromium in a
// workspace's jail (the page is served inside the workspace), each command
// a full HTTP round trip; the peer is the same agent-browser binary and
// Chromium on the host, unsandboxed, each command one CLI process (how an
// agent runs it), the page served on the host.
//
//   PADDOCK_BIN=target/release/paddock node bench/browser/bench.mjs [--quick]
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, percentile, start } from '../common.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PADDOCK = resolve(process.env.PADDOCK_BIN || join(ROOT, 'target/release/paddock'));
const N = process.argv.includes('--quick') ? 10 : 50;
const KEY = 'bench-browser-key-0123456789abcdef';
const FORM = `<!doctype html><html><head><title>Sign up</title></head><body>
<h1>Sign up</h1><label for="email">Email</label> <input id="email" type="email">
<select id="plan" aria-label="Plan"><option value="free">Free</option><option value="pro">Pro</option></select>
<button id="go">Go</button><p id="r"></p>
${Array.from({ length: 40 }, (_, i) => `<p>Paragraph ${i} with a <a href="#s${i}">link ${i}</a>.</p>`).join('\n')}
</body></html>`;

async function call(url, method, path, body) {
  const response = await fetch(url + path, {
    method,
    headers: { authorization: `Bearer ${KEY}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Times `n` rounds of `open` then `snapshot` (after 3 unmeasured ones). */
async function measure(open, snapshot) {
  for (let i = 0; i < 3; i++) { await open(); await snapshot(); }
  const both = [], opens = [], snaps = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    await open();
    const t1 = performance.now();
    const tree = await snapshot();
    const t2 = performance.now();
    if (!tree.includes('textbox "Email"')) throw new Error(`a snapshot without the form: ${tree.slice(0, 200)}`);
    opens.push(t1 - t0); snaps.push(t2 - t1); both.push(t2 - t0);
  }
  const row = (xs) => ({ p50: percentile(xs, 0.5), p95: percentile(xs, 0.95) });
  return { both: row(both), open: row(opens), snapshot: row(snaps) };
}

const work = mkdtempSync(join(tmpdir(), 'paddock-bench-browser-'));
const rows = [];
const stops = [];
try {
  const state = join(work, 'state');
  execFileSync(PADDOCK, ['flavors', 'install', 'browser', '--state-dir', state], { stdio: 'ignore' });

  // paddock: the page served inside a loopback workspace, the browser there.
  const paddock = start(PADDOCK, ['serve', '--listen', '127.0.0.1:0', '--proxy-listen', '127.0.0.1:0', '--state-dir', state],
    { PADDOCK_API_KEYS: `${KEY}@bench:operator` }, /paddock console: (http:\/\/\S+)\/ui\//);
  stops.push(paddock.stop);
  const url = (await paddock.up)[1];
  const ws = (await call(url, 'POST', '/v1/workspaces', { flavors: ['browser'], network: { mode: 'loopback' }, memory_mb: 1024 })).id;
  const runtime = `/v1/workspaces/${ws}/runtime/v1`;
  await call(url, 'PUT', `${runtime}/fs/file?path=site/form.html`, FORM);
  await call(url, 'POST', `${runtime}/processes`, { command: 'python3', args: ['-m', 'http.server', '8000', '--bind', '127.0.0.1', '--directory', '/workspace/site'] });
  const page = 'http://127.0.0.1:8000/form.html';
  const browser = (command, args) => call(url, 'POST', `${runtime}/browser`, { command, args });
  for (let i = 0; ; i++) {
    try { await browser('open', [page]); break; } catch (err) { if (i > 50) throw err; await new Promise((r) => setTimeout(r, 200)); }
  }
  rows.push(['paddock (API, agent-browser and Chromium in the workspace jail)',
    await measure(() => browser('open', [page]), async () => (await browser('snapshot', ['-i'])).data.snapshot)]);
  await paddock.stop();

  // agent-browser on the host, outside any jail, the same binary and Chromium.
  const port = await freePort();
  mkdirSync(join(work, 'site'));
  writeFileSync(join(work, 'site', 'form.html'), FORM);
  const site = start('python3', ['-m', 'http.server', String(port), '--bind', '127.0.0.1', '--directory', join(work, 'site')], {}, /Serving HTTP/);
  stops.push(site.stop);
  await site.up;
  const binary = join(state, 'flavors/browser/lib/agent-browser/bin/agent-browser-linux-x64');
  const env = {
    ...process.env,
    AGENT_BROWSER_EXECUTABLE_PATH: '/usr/lib/chromium/chromium',
    AGENT_BROWSER_ARGS: '--no-sandbox,--disable-dev-shm-usage',
    AGENT_BROWSER_NO_VERSION_CHECK: '1',
    AGENT_BROWSER_SOCKET_DIR: join(work, 'ab'),
    AGENT_BROWSER_SESSION: 'bench',
  };
  const cli = (args) => new Promise((done, fail) => {
    const child = spawn(binary, ['--json', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => { out += c; });
    child.once('exit', (code) => (code === 0 ? done(JSON.parse(out)) : fail(new Error(`agent-browser ${args.join(' ')}: ${code} ${out}`))));
  });
  stops.push(() => cli(['close']).catch(() => {}));
  const hostPage = `http://127.0.0.1:${port}/form.html`;
  rows.push(['agent-browser 0.41.2 (host CLI, no sandbox)',
    await measure(() => cli(['open', hostPage]), async () => (await cli(['snapshot', '-i'])).data.snapshot)]);
} finally {
  // A failed measurement still stops the servers and the browsers.
  for (const stop of stops.reverse()) await stop();
  rmSync(work, { recursive: true, force: true });
}

const f = (x) => x.toFixed(1);
console.log(`\nbrowser: open of a local page + snapshot -i, ${N} sequential rounds (p50 / p95 ms)`);
console.log('| runner | open + snapshot -i | open | snapshot -i |');
console.log('|---|---|---|---|');
for (const [name, r] of rows) {
  console.log(`| ${name} | ${f(r.both.p50)} / ${f(r.both.p95)} | ${f(r.open.p50)} / ${f(r.open.p95)} | ${f(r.snapshot.p50)} / ${f(r.snapshot.p95)} |`);
}
