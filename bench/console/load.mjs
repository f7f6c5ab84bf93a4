// How fast the web console loads in Chromium, next to sandbox-agent 0.4.2's
// inspector (its /ui/) measured in the same run on the same machine.
//
//   node bench/console/load.mjs [--runs N]      (bench/run.sh --console-only)
//
// Each cold load is a fresh browser context (empty cache); a warm load is
// a reload in the same context (the browser revalidates what it holds).
// Reported per page: first contentful paint, DOMContentLoaded and the load
// event (p50 and p95 over the runs), the bytes moved and the requests
// made, and how many requests left the machine's origin (a console that
// needs a CDN does not work offline).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(join(ROOT, 'tests/console/package.json'));
const { chromium } = require('playwright-core');
const args = process.argv.slice(2);
const RUNS = Number(args[args.indexOf('--runs') + 1]) || 20;
const PADDOCK = resolve(process.env.PADDOCK_BIN || join(ROOT, 'target/release/paddock'));
const SANDBOX_AGENT = resolve(process.env.SANDBOX_AGENT_BIN || join(ROOT, 'bench/.peers/node_modules/@sandbox-agent/cli-linux-x64/bin/sandbox-agent'));
const CHROMIUM = process.env.PADDOCK_CHROMIUM || '/usr/bin/chromium';

/** Ends `child` and waits for it (its state directory goes next). */
function stopper(child) {
  return () => new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) { done(); return; }
    child.once('exit', done);
    child.kill('SIGTERM');
  });
}

function start(bin, argv, ready) {
  const child = spawn(bin, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let log = '';
  return new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`${bin} not ready:\n${log}`)), 30_000);
    const seen = (chunk) => {
      log += chunk;
      const url = ready(log);
      if (url) { clearTimeout(timer); done({ url, stop: stopper(child) }); }
    };
    child.stdout.on('data', seen);
    child.stderr.on('data', seen);
    child.once('exit', (code) => fail(new Error(`${bin} exited (${code}):\n${log}`)));
  });
}

async function waitHttp(url) {
  for (let i = 0; i < 300; i += 1) {
    try { if ((await fetch(url)).ok) return; } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} never answered`);
}

const pct = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};

async function measure(browser, url) {
  const samples = { cold: [], warm: [] };
  for (let run = 0; run < RUNS; run += 1) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const origin = new URL(url).origin;
    let offOrigin = 0;
    page.on('request', (r) => { if (!r.url().startsWith(origin) && !r.url().startsWith('data:')) offOrigin += 1; });
    for (const kind of ['cold', 'warm']) {
      offOrigin = 0;
      if (kind === 'cold') await page.goto(url, { waitUntil: 'load' }); else await page.reload({ waitUntil: 'load' });
      await page.waitForTimeout(50);
      const timing = await page.evaluate(() => {
        const nav = performance.getEntriesByType('navigation')[0];
        const resources = performance.getEntriesByType('resource');
        const paint = performance.getEntriesByName('first-contentful-paint')[0];
        return {
          fcp: paint ? paint.startTime : NaN,
          dcl: nav.domContentLoadedEventEnd,
          load: nav.loadEventEnd,
          bytes: nav.transferSize + resources.reduce((sum, r) => sum + r.transferSize, 0),
          requests: 1 + resources.length,
        };
      });
      samples[kind].push({ ...timing, offOrigin });
    }
    await context.close();
  }
  return samples;
}

const work = mkdtempSync(join(tmpdir(), 'paddock-console-bench-'));
const servers = [];
try {
  if (!existsSync(PADDOCK)) throw new Error(`no paddock binary at ${PADDOCK} (cargo build --release -p paddock)`);
  const paddock = await start(PADDOCK, ['serve', '--listen', '127.0.0.1:0', '--proxy-listen', '127.0.0.1:0', '--state-dir', join(work, 'state')],
    (log) => log.match(/paddock console: (\S+)/)?.[1]);
  servers.push(paddock);
  const targets = [['paddock console (/ui/)', paddock.url]];
  if (existsSync(SANDBOX_AGENT)) {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const agentUrl = `http://127.0.0.1:${port}/ui/`;
    const child = spawn(SANDBOX_AGENT, ['server', '-H', '127.0.0.1', '-p', String(port), '-t', 'bench-token', '--no-telemetry'],
      { stdio: 'ignore', cwd: work, env: { ...process.env, HOME: work } });
    servers.push({ stop: stopper(child) });
    await waitHttp(agentUrl);
    targets.push(['sandbox-agent 0.4.2 inspector (/ui/)', agentUrl]);
  } else {
    console.log(`(sandbox-agent not found at ${SANDBOX_AGENT}: bench/run.sh installs it)`);
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  console.log(`\n${RUNS} loads each, Chromium ${browser.version()}, headless, loopback\n`);
  console.log('| page | load | FCP p50 | DOMContentLoaded p50 | load event p50 / p95 | bytes moved | requests | off-origin requests |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const [name, url] of targets) {
    const samples = await measure(browser, url);
    for (const kind of ['cold', 'warm']) {
      const s = samples[kind];
      const f = (key) => { const v = pct(s.map((x) => x[key]), 50); return Number.isNaN(v) ? '—' : v.toFixed(0); };
      const offOrigin = Math.max(...s.map((x) => x.offOrigin));
      console.log(`| ${name} | ${kind} | ${f('fcp')} ms | ${f('dcl')} ms | ${f('load')} / ${pct(s.map((x) => x.load), 95).toFixed(0)} ms | ${(pct(s.map((x) => x.bytes), 50) / 1024).toFixed(1)} KiB | ${f('requests')} | ${offOrigin} |`);
    }
  }
  await browser.close();
} finally {
  for (const server of servers) await server.stop();
  rmSync(work, { recursive: true, force: true });
}
