// The web console, driven in Debian's Chromium (playwright-core) against a
// real `paddock serve`: sign in, a workspace's terminal, files, processes,
// previews, snapshots, notebook and agent session, a streamed run followed
// into the ledger, credentials, and a key revoked while a tab uses it.
// Screenshots of every page (1280x800) go to $PADDOCK_CONSOLE_SHOTS
// (default docs/console/), which docs/console.md shows.
//
//   PADDOCK_BIN=target/debug/paddock node --test console.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '../..');
const BIN = resolve(process.env.PADDOCK_BIN || join(ROOT, 'target/debug/paddock'));
const CHROMIUM = process.env.PADDOCK_CHROMIUM || '/usr/bin/chromium';
const SHOTS = resolve(process.env.PADDOCK_CONSOLE_SHOTS || join(ROOT, 'docs/console'));
const ADMIN = 'console-admin-key-0123456789abcdef';
const OPERATOR = 'console-operator-key-0123456789abcdef';

/** Starts `paddock serve` on free ports; answers {url, stop, log}. */
async function startServer(stateDir) {
  const env = { ...process.env, PADDOCK_API_KEYS: `${ADMIN}@ops:admin,${OPERATOR}@acme:operator`, NO_COLOR: '1', RUST_LOG: 'info' };
  for (const name of ['DATABASE_URL', 'LOG_FORMAT', 'PADDOCK_LISTEN', 'PADDOCK_STATE_DIR', 'AGENTJAIL_API_KEY']) delete env[name];
  const child = spawn(BIN, ['serve', '--listen', '127.0.0.1:0', '--proxy-listen', '127.0.0.1:0', '--state-dir', stateDir, '--shutdown-grace', '5s'],
    { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const url = await new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`paddock serve was not ready in 60 s:\n${log}`)), 60_000);
    child.stderr.on('data', (chunk) => {
      log += chunk;
      const found = log.match(/paddock console: (http:\/\/\S+)\/ui\//);
      if (found) { clearTimeout(timer); done(found[1]); }
    });
    child.once('exit', (code) => { clearTimeout(timer); fail(new Error(`paddock serve exited (${code}):\n${log}`)); });
  });
  const stop = () => new Promise((done) => {
    if (child.exitCode !== null) { done(); return; }
    child.once('exit', done);
    child.kill('SIGTERM');
  });
  return { url, stop, log: () => log };
}

async function call(base, method, path, key, body) {
  const response = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (() => { try { return JSON.parse(text); } catch { return text; } })() : null };
}

test('the console drives paddock in a real Chromium', { timeout: 900_000 }, async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'paddock-console-'));
  const stateDir = join(work, 'state');
  mkdirSync(SHOTS, { recursive: true });
  // The notebook needs the kernels of the python-data flavor (pip, from the registry).
  execFileSync(BIN, ['flavors', 'install', 'python-data', '--state-dir', stateDir], { stdio: 'inherit' });
  const server = await startServer(stateDir);
  const base = server.url;
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const urls = [];
  const problems = [];
  let page;
  t.after(async () => {
    if (problems.length) console.log(`page problems:\n${problems.join('\n')}`);
    if (page && !page.isClosed()) {
      // What the page showed when the test stopped, for a failure's reader.
      const last = join(tmpdir(), 'paddock-console-last-state.png');
      await page.screenshot({ path: last }).then(() => console.log(`last page state: ${last}`), () => {});
    }
    await browser.close().catch(() => {});
    await server.stop();
    const log = join(tmpdir(), 'paddock-console-serve.log');
    writeFileSync(log, server.log());
    console.log(`paddock serve's log: ${log}`);
    rmSync(work, { recursive: true, force: true });
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  page = await context.newPage();
  page.on('request', (r) => urls.push(r.url()));
  page.on('websocket', (ws) => urls.push(ws.url()));
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error' && !/status of (401|403|404|409)/.test(m.text())) problems.push(`console: ${m.text()}`); });
  // Every page is shot without an error box showing (the sign-in page's
  // refusal of a wrong key is the one expected error).
  const shot = async (name) => {
    if (name !== 'sign-in') {
      const alerts = await page.locator('[role=alert]').allInnerTexts();
      assert.deepEqual(alerts, [], `an error on the ${name} page`);
    }
    await page.screenshot({ path: join(SHOTS, `${name}.png`) });
  };
  const go = async (hash, text) => { await page.goto(`${base}/ui/#/${hash}`); if (text) await page.getByText(text).first().waitFor(); };

  // The console's own answers carry the browser protections.
  const index = await fetch(`${base}/ui/`);
  assert.equal(index.status, 200);
  assert.match(index.headers.get('content-security-policy'), /frame-ancestors 'none'/);
  assert.match(index.headers.get('content-security-policy'), /script-src 'self'(;|$)/);
  assert.equal(index.headers.get('x-frame-options'), 'DENY');
  assert.equal(index.headers.get('x-content-type-options'), 'nosniff');
  const root = await fetch(`${base}/`, { redirect: 'manual' });
  assert.equal(root.headers.get('location'), '/ui/');
  assert.equal((await fetch(`${base}/ui/no-such-file.js`)).status, 404);
  assert.equal((await fetch(`${base}/ui/vendor/update.sh`)).status, 404, 'the vendoring script is not served');
  const xterm = await fetch(`${base}/ui/vendor/xterm.js`, { headers: { 'accept-encoding': 'gzip' } });
  assert.equal(xterm.headers.get('content-encoding'), 'gzip');
  const cached = await fetch(`${base}/ui/app.js`, { headers: { 'if-none-match': xterm.headers.get('etag') } });
  assert.equal(cached.status, 200, 'another file\'s ETag must not match');
  const etag = cached.headers.get('etag');
  assert.equal((await fetch(`${base}/ui/app.js`, { headers: { 'if-none-match': etag } })).status, 304);

  // Sign-in: a wrong key is refused with the server's message; the right one
  // reaches the overview. (Load time is measured in bench/console/load.mjs.)
  await page.goto(`${base}/ui/`);
  await page.locator('input[name=key]').waitFor();
  await page.fill('input[name=key]', 'not-a-key-0123456789');
  await page.click('button[type=submit]');
  await page.getByRole('alert').getByText('UNAUTHORIZED').waitFor();
  await shot('sign-in');
  await page.fill('input[name=key]', OPERATOR);
  await page.click('button[type=submit]');
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  await page.getByText('tenant acme').waitFor();

  // A workspace with the python-data flavor, created from the console.
  await go('workspaces', 'New workspace');
  await page.getByText('No workspaces yet').waitFor();
  await page.fill('[data-testid=ws-label]', 'console-e2e');
  await page.check('[data-testid=flavor-python-data]');
  await page.click('[data-testid=ws-create]');
  await page.waitForURL(/#\/workspaces\/wrk_/);
  const workspace = decodeURIComponent(page.url().match(/#\/workspaces\/([^/]+)/)[1]);

  // Terminal: type in the shell and read the echo back from xterm.js.
  await page.getByTestId('terminal-status').getByText('connected').waitFor({ timeout: 60_000 });
  await page.locator('[data-testid=terminal] .xterm-screen').click();
  await page.keyboard.type('echo console-$((6*7)) && stty size\n');
  await page.locator('.xterm-rows').getByText('console-42').waitFor();
  const size = (await page.locator('.xterm-rows').innerText()).match(/console-42\s+(\d+) (\d+)/);
  assert.ok(size, 'stty size answered');
  assert.ok(Number(size[2]) > 100, `the terminal took the page's width (stty size: ${size[1]} ${size[2]})`);
  await shot('workspace-terminal');

  // The shell ends with its panel and leaves no record behind.
  const shellGone = async () => {
    for (let i = 0; i < 50; i += 1) {
      const { body } = await call(base, 'GET', `/v1/workspaces/${workspace}/runtime/v1/processes`, OPERATOR);
      if (!body.processes.some((p) => p.tty)) return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  };

  // Files: upload with the picker, see it, read it back through the API,
  // download it through the browser, edit and save it.
  await go(`workspaces/${workspace}/files`);
  await page.getByText('This folder is empty').waitFor();
  assert.ok(await shellGone(), 'the terminal\'s shell outlived its panel');
  const upload = join(work, 'hello.txt');
  writeFileSync(upload, 'uploaded from the console\n');
  await page.setInputFiles('[data-testid=file-input]', upload);
  await page.getByTestId('entry-hello.txt').waitFor();
  const stored = await call(base, 'GET', `/v1/workspaces/${workspace}/runtime/v1/fs/file?path=hello.txt`, OPERATOR);
  assert.equal(stored.body, 'uploaded from the console\n');
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-hello.txt').click()]);
  assert.equal(download.suggestedFilename(), 'hello.txt');
  assert.equal(readFileSync(await download.path(), 'utf8'), 'uploaded from the console\n');
  await page.getByTestId('entry-hello.txt').getByRole('button', { name: /hello\.txt/ }).click();
  await page.fill('[data-testid=file-editor]', 'edited in the console\n');
  await page.click('[data-testid=file-save]');
  await page.locator('[data-testid=file-save]:disabled').waitFor();
  const edited = await call(base, 'GET', `/v1/workspaces/${workspace}/runtime/v1/fs/file?path=hello.txt`, OPERATOR);
  assert.equal(edited.body, 'edited in the console\n');
  await shot('workspace-files');

  // Processes: a server started from the console, its live log.
  await go(`workspaces/${workspace}/processes`);
  await page.fill('[data-testid=process-command]', 'echo serving; python3 -m http.server 8000 --bind 127.0.0.1');
  await page.click('[data-testid=process-start]');
  await page.getByTestId('process-logs').getByText('serving').waitFor();
  await page.getByRole('cell', { name: 'running' }).first().waitFor();
  await shot('workspace-processes');

  // Previews: expose the server's port; the access link answers.
  await go(`workspaces/${workspace}/previews`);
  await page.getByRole('button', { name: 'Expose port' }).click();
  const link = page.getByRole('link', { name: 'open it in a new tab' });
  await link.waitFor();
  const href = await link.getAttribute('href');
  assert.match(href, /^http:\/\/8000--wrk_[0-9a-f]+\.localhost:\d+\/\?paddock_token=/);
  await shot('workspace-previews');
  // The link opens the workspace's server on the preview's own origin.
  const [preview] = await Promise.all([context.waitForEvent('page'), link.click()]);
  await preview.getByText('Directory listing for /').waitFor();
  assert.ok((await preview.content()).includes('hello.txt'), 'the preview served the workspace');
  assert.notEqual(new URL(preview.url()).origin, new URL(base).origin);
  await preview.close();

  // Snapshots.
  await go(`workspaces/${workspace}/snapshots`);
  await page.getByText('No snapshots of this workspace').waitFor();
  await page.getByRole('button', { name: 'Take snapshot' }).click();
  await page.getByRole('button', { name: 'New workspace from it' }).waitFor();
  await shot('workspace-snapshots');

  // Notebook: state kept between cells, a plot as an image, a table.
  await go(`workspaces/${workspace}/notebook`);
  await page.getByTestId('cell-run').first().click();
  await page.getByTestId('cell-output').first().getByText('the answer is 42').waitFor({ timeout: 120_000 });
  await page.click('[data-testid=cell-add]');
  await page.getByTestId('cell-code').nth(1).fill([
    'import matplotlib.pyplot as plt, pandas as pd',
    'plt.plot([1, 4, 2, x]); plt.title("from the console"); plt.show()',
    'pd.DataFrame({"n": [1, 2, 3], "square": [1, 4, 9]})',
  ].join('\n'));
  await page.getByTestId('cell-run').nth(1).click();
  await page.getByTestId('cell-image').waitFor({ timeout: 120_000 });
  assert.ok(await page.getByRole('columnheader', { name: 'square' }).isVisible());
  const natural = await page.getByTestId('cell-image').evaluate((img) => img.naturalWidth);
  assert.ok(natural > 100, `the plot decoded as an image (${natural} px wide)`);
  await shot('workspace-notebook');

  // Agents: the built-in mock agent asks before writing; the answer is given on the page.
  await go(`workspaces/${workspace}/agents`);
  await page.locator('[data-testid=agent-choice] option[value=mock]').waitFor({ state: 'attached' });
  await page.click('[data-testid=agent-start]');
  await page.getByTestId('agent-prompt').waitFor({ timeout: 60_000 });
  await page.fill('[data-testid=agent-prompt]', 'write agent.txt: written after a yes');
  await page.click('[data-testid=agent-send]');
  await page.getByTestId('permission-request').waitFor({ timeout: 60_000 });
  await shot('workspace-agents');
  await page.click('[data-testid=permission-allow]');
  await page.getByTestId('agent-transcript').locator('.badge-completed').first().waitFor({ timeout: 60_000 });
  const written = await call(base, 'GET', `/v1/workspaces/${workspace}/runtime/v1/fs/file?path=agent.txt`, OPERATOR);
  assert.equal(written.status, 200, `the agent wrote its file: ${JSON.stringify(written.body)}`);
  assert.match(written.body, /written after a yes/);

  // Workspaces list with the new one running.
  await go('workspaces', 'console-e2e');
  await page.getByTestId(`ws-row-${workspace}`).locator('.badge-running').waitFor();
  await shot('workspaces');

  // Run code with streamed output and an allowlist, then follow it into
  // the ledger, whose row keeps the refused connection.
  await go('runs', 'Run code');
  await page.selectOption('[data-testid=run-network]', 'allowlist');
  await page.fill('[data-testid=run-domains]', 'allowed.example');
  await page.fill('[data-testid=run-code]', [
    'for i in 1 2 3; do echo "tick $i"; sleep 0.3; done',
    'curl -s -m 10 -o /dev/null https://not-allowed.example/ || echo refused',
    'echo run-$((2+3))',
  ].join('\n'));
  await page.click('[data-testid=run-submit]');
  await page.getByTestId('run-output').getByText('tick 1').waitFor();
  await page.getByTestId('run-done').getByText('exit code').waitFor();
  const output = await page.getByTestId('run-output').innerText();
  assert.match(output, /tick 3[\s\S]*refused[\s\S]*run-5/);
  assert.match(output, /egress: CONNECT not-allowed\.example:443 denied \(host_not_allowed\)/);
  await shot('runs');
  await page.click('[data-testid=run-ledger-link]');
  await page.getByTestId('jail-stdout').getByText('run-5').waitFor();
  assert.equal(await page.getByTestId('jail-exit').innerText(), '0');
  const egress = await page.getByTestId('jail-egress').innerText();
  assert.match(egress, /CONNECT not-allowed\.example:443[\s\S]*denied[\s\S]*host_not_allowed/);
  await shot('ledger-detail');

  // Stop ends a run: the page is ready for the next, the jail is cancelled.
  await go('runs', 'Run code');
  await page.selectOption('[data-testid=run-language]', 'python');
  await page.fill('[data-testid=run-code]', 'import time\nprint("started", flush=True)\ntime.sleep(60)');
  await page.click('[data-testid=run-submit]');
  await page.getByTestId('run-output').getByText('started').waitFor();
  await page.click('[data-testid=run-stop]');
  await page.getByTestId('run-stopped').waitFor();
  assert.ok(await page.locator('[data-testid=run-submit]').isEnabled(), 'Run is usable again after Stop');
  const stoppedId = (await page.getByTestId('run-ledger-link').innerText()).match(/#(\d+)/)[1];
  let stoppedRow;
  for (let i = 0; i < 50; i += 1) {
    stoppedRow = (await call(base, 'GET', `/v1/jails/${stoppedId}`, OPERATOR)).body;
    if (stoppedRow.status !== 'running') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(stoppedRow.status, 'cancelled', JSON.stringify(stoppedRow));
  assert.equal(stoppedRow.config.language, 'python');
  await go('ledger', 'Jail ledger');
  await page.selectOption('[data-testid=ledger-status]', 'cancelled');
  await page.getByRole('cell', { name: 'cancelled' }).first().waitFor();
  await page.waitForTimeout(300);
  assert.deepEqual([...new Set(await page.locator('table.grid td .badge').allInnerTexts())], ['cancelled'], 'the filter left other rows');
  await page.selectOption('[data-testid=ledger-status]', 'completed');
  await page.getByRole('cell', { name: 'completed' }).first().waitFor();
  await page.waitForTimeout(300);
  assert.deepEqual([...new Set(await page.locator('table.grid td .badge').allInnerTexts())], ['completed'], 'the filter left other rows');
  await shot('ledger');

  // Credentials: stored, listed by fingerprint, the secret never shown.
  const secret = 'sk-console-secret-never-shown-4242';
  await go('credentials', 'Credentials');
  await page.fill('[data-testid=credential-service]', 'openai');
  await page.fill('[data-testid=credential-secret]', secret);
  await page.click('[data-testid=credential-save]');
  await page.getByTestId('credential-openai').waitFor();
  assert.equal(await page.inputValue('[data-testid=credential-secret]'), '', 'the secret stayed in the form');
  assert.ok(!(await page.content()).includes(secret), 'the secret is on the page');
  await shot('credentials');
  await go('sessions', 'Sessions');
  await page.getByRole('checkbox').first().check();
  await page.getByRole('button', { name: 'Open session' }).click();
  await page.getByText('opened').waitFor();
  await shot('sessions');
  await go('audit', 'Audit');
  await page.getByRole('button', { name: 'Control-plane actions' }).click();
  await page.getByRole('cell', { name: 'workspace.create' }).first().waitFor();
  await shot('audit');
  await go('overview', 'Running jails');
  await page.getByText('Jails per hour').waitFor();
  await shot('overview');

  // Keys: an operator is told keys need an admin; the admin mints one, a
  // second tab signs in with it, the admin revokes it, and the console in
  // that tab refuses it at its next call.
  await go('keys', 'API keys');
  await page.getByText('Keys are managed with an admin key').waitFor();
  await page.click('[data-testid=sign-out]');
  await page.fill('input[name=key]', ADMIN);
  await page.click('button[type=submit]');
  await go('keys', 'API keys');
  await page.fill('[data-testid=key-tenant]', 'acme');
  await page.fill('[data-testid=key-label]', 'second tab');
  await page.click('[data-testid=key-create]');
  const token = (await page.getByTestId('key-token').innerText()).trim();
  const keyId = (await page.locator('.notice b').first().innerText()).trim();
  const other = await context.newPage();
  other.on('request', (r) => urls.push(r.url()));
  other.on('websocket', (ws) => urls.push(ws.url()));
  await other.goto(`${base}/ui/#/workspaces`);
  await other.fill('input[name=key]', token);
  await other.click('button[type=submit]');
  await other.getByText('console-e2e').first().waitFor();
  await page.selectOption('[data-testid=tenant-switch]', 'acme');
  await go('keys', 'API keys');
  await shot('keys');
  page.once('dialog', (dialog) => dialog.accept());
  await page.click(`[data-testid=revoke-${keyId}]`);
  await page.getByTestId(`revoke-${keyId}`).waitFor({ state: 'detached' });
  assert.equal((await call(base, 'GET', '/v1/whoami', token)).status, 401);
  // The second tab's list polls every 5 s: its next call is refused.
  await other.getByText(/Signed out: /).waitFor({ timeout: 15_000 });
  await other.locator('input[name=key]').waitFor();

  // The keys never travelled in a URL (the terminal's WebSocket included).
  for (const url of urls) {
    for (const key of [OPERATOR, ADMIN, token]) assert.ok(!url.includes(key), `a key in a URL: ${url}`);
  }
  assert.ok(urls.some((u) => u.startsWith('ws://') && u.includes('/terminal/ws')), 'the terminal used its WebSocket');
  // Nor anywhere but the tab's sessionStorage: no cookie for the console's
  // origin, nothing in localStorage.
  assert.deepEqual(await context.cookies(base), []);
  assert.equal(await page.evaluate(() => localStorage.length), 0);
  assert.deepEqual(problems, []);
});
