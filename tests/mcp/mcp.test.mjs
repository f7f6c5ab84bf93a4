// A workspace's MCP endpoint driven by the official MCP TypeScript SDK
// (@modelcontextprotocol/sdk) against a real `paddock serve`: the client is
// configured from `GET /v1/workspaces/{id}/mcp-config` exactly as a user
// pastes it into `.mcp.json`, lists the tools its token opens, runs a
// command, writes and reads files, runs Python on the workspace's kernel
// and gets a matplotlib plot back as image content, takes screenshots and
// drives the desktop with Anthropic's and OpenAI's computer-use action sets
// (each answering a screenshot); then the refusals: a
// token without a capability, a tenant API key, an expired token.
//
//   PADDOCK_BIN=target/debug/paddock node --test mcp.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '../..');
const BIN = resolve(process.env.PADDOCK_BIN || join(ROOT, 'target/debug/paddock'));
const KEY = 'mcp-operator-key-0123456789abcdef';

/** Starts `paddock serve` on free ports; answers {url, stop}. */
async function startServer(stateDir) {
  const env = { ...process.env, PADDOCK_API_KEYS: `${KEY}@acme:operator`, NO_COLOR: '1' };
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
  return { url, stop };
}

async function call(base, method, path, body) {
  const response = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/** An MCP client connected as one `.mcp.json` server entry says. */
async function connect(entry) {
  assert.equal(entry.type, 'http');
  const client = new Client({ name: 'paddock-mcp-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(entry.url), { requestInit: { headers: entry.headers } });
  await client.connect(transport);
  return client;
}

const text = (result) => result.content.filter((c) => c.type === 'text').map((c) => c.text).join('\n');

test('the official MCP client uses a workspace through its scoped token', { timeout: 600_000 }, async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'paddock-mcp-'));
  const stateDir = join(work, 'state');
  // run_code needs the kernel and matplotlib of the python-data flavor;
  // the computer-use tools the desktop flavor (its Debian packages); the
  // browser tool the browser flavor (Chromium and agent-browser).
  for (const flavor of ['python-data', 'desktop', 'browser']) {
    execFileSync(BIN, ['flavors', 'install', flavor, '--state-dir', stateDir], { stdio: 'inherit' });
  }
  const server = await startServer(stateDir);
  const clients = [];
  t.after(async () => {
    for (const client of clients) await client.close().catch(() => {});
    await server.stop();
    rmSync(work, { recursive: true, force: true });
  });
  const base = server.url;
  const created = await call(base, 'POST', '/v1/workspaces', { flavors: ['python-data', 'desktop', 'browser'] });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const ws = created.body.id;

  // The configuration a user pastes: everything but agents and previews
  // (desktop and browser too, as the workspace has those flavors).
  const config = await call(base, 'GET', `/v1/workspaces/${ws}/mcp-config`);
  assert.equal(config.status, 200, JSON.stringify(config.body));
  assert.deepEqual(config.body.capabilities, ['processes', 'files:read', 'files:write', 'code', 'desktop', 'browser', 'mcp']);
  const entry = config.body.config.mcpServers.paddock;
  assert.equal(entry.url, `${base}/v1/workspaces/${ws}/mcp`);
  const client = await connect(entry);
  clients.push(client);
  assert.equal(client.getServerVersion().name, 'paddock');

  const { tools } = await client.listTools();
  assert.deepEqual(tools.map((tool) => tool.name).sort(), ['browser', 'computer', 'computer_call', 'exec', 'list_files', 'read_file', 'run_code', 'screenshot', 'write_file']);
  for (const tool of tools) {
    assert.equal(tool.inputSchema.type, 'object', tool.name);
    assert.ok(tool.description.length > 20, tool.name);
  }

  const ran = await client.callTool({ name: 'exec', arguments: { command: 'echo "mcp $((6*7))" && id -u && pwd' } });
  assert.equal(ran.isError, false, text(ran));
  assert.match(text(ran), /^mcp 42\n0\n\/workspace\n/);
  const failing = await client.callTool({ name: 'exec', arguments: { command: 'echo oops >&2; exit 3' } });
  assert.equal(failing.isError, true);
  assert.match(text(failing), /oops[\s\S]*exit code 3/);

  const wrote = await client.callTool({ name: 'write_file', arguments: { path: 'src/hello.py', content: 'print("hello from mcp")\n' } });
  assert.equal(wrote.isError, false, text(wrote));
  const listed = await client.callTool({ name: 'list_files', arguments: { path: '/workspace/src' } });
  assert.match(text(listed), /\/workspace\/src\/hello\.py\t24/);
  const read = await client.callTool({ name: 'read_file', arguments: { path: 'src/hello.py' } });
  assert.equal(text(read), 'print("hello from mcp")\n');
  const executed = await client.callTool({ name: 'exec', arguments: { command: 'python3 src/hello.py' } });
  assert.match(text(executed), /^hello from mcp\n/);

  // The browser: a page, its refs, a click by ref, and a screenshot image.
  const page = 'data:text/html,<title>MCP</title><button onclick="document.title=\'clicked\'">Go</button>';
  const opened = await client.callTool({ name: 'browser', arguments: { command: 'open', args: [page] } });
  assert.equal(opened.isError, false, text(opened));
  const tree = await client.callTool({ name: 'browser', arguments: { command: 'snapshot', args: ['-i'] } });
  const ref = text(tree).match(/button "Go" \[ref=(e\d+)\]/);
  assert.ok(ref, text(tree));
  const clicked = await client.callTool({ name: 'browser', arguments: { command: 'click', args: [`@${ref[1]}`] } });
  assert.equal(clicked.isError, false, text(clicked));
  const title = await client.callTool({ name: 'browser', arguments: { command: 'get', args: ['title'] } });
  assert.match(text(title), /"title":"clicked"/);
  const pageShot = await client.callTool({ name: 'browser', arguments: { command: 'screenshot' } });
  const pageImage = pageShot.content.find((c) => c.type === 'image');
  assert.ok(pageImage, JSON.stringify(pageShot.content).slice(0, 400));
  assert.equal(Buffer.from(pageImage.data, 'base64').subarray(0, 8).toString('hex'), '89504e470d0a1a0a');
  const offline = await client.callTool({ name: 'browser', arguments: { command: 'open', args: ['https://example.com/'] } });
  assert.equal(offline.isError, true);
  assert.match(text(offline), /BROWSER_URL_REFUSED: .*network is none/);

  // The kernel keeps its variables, and a plot is an image.
  const first = await client.callTool({ name: 'run_code', arguments: { code: 'xs = list(range(10))\nprint(sum(xs))' } });
  assert.equal(first.isError, false, text(first));
  assert.match(text(first), /^45/);
  const plotted = await client.callTool({
    name: 'run_code',
    arguments: { code: 'import matplotlib.pyplot as plt\nplt.plot(xs, [x * x for x in xs])\nplt.show()' },
  });
  assert.equal(plotted.isError, false, text(plotted));
  const image = plotted.content.find((c) => c.type === 'image');
  assert.ok(image, JSON.stringify(plotted.content).slice(0, 400));
  assert.equal(image.mimeType, 'image/png');
  const png = Buffer.from(image.data, 'base64');
  assert.equal(png.subarray(0, 8).toString('hex'), '89504e470d0a1a0a', 'a PNG signature');
  assert.ok(png.readUInt32BE(16) > 100 && png.readUInt32BE(20) > 100, 'a real plot, not a speck');
  const raised = await client.callTool({ name: 'run_code', arguments: { code: '1/0' } });
  assert.equal(raised.isError, true);
  assert.match(text(raised), /ZeroDivisionError/);

  // Computer use: the desktop starts on first use; screenshots are images.
  const pngOf = (result) => {
    const block = result.content.find((c) => c.type === 'image');
    assert.ok(block, JSON.stringify(result.content).slice(0, 300));
    assert.equal(block.mimeType, 'image/png');
    const bytes = Buffer.from(block.data, 'base64');
    assert.equal(bytes.subarray(0, 8).toString('hex'), '89504e470d0a1a0a');
    return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
  };
  const shot = await client.callTool({ name: 'screenshot', arguments: {} });
  assert.equal(shot.isError, false, text(shot));
  assert.deepEqual(pngOf(shot), { width: 1280, height: 720 });
  assert.deepEqual(pngOf(await client.callTool({ name: 'screenshot', arguments: { scale: 0.5 } })), { width: 640, height: 360 });
  // Anthropic's action set: each action answers a screenshot.
  const moved = await client.callTool({ name: 'computer', arguments: { action: 'mouse_move', coordinate: [321, 123] } });
  assert.deepEqual(pngOf(moved), { width: 1280, height: 720 });
  const where = await client.callTool({ name: 'computer', arguments: { action: 'cursor_position' } });
  assert.equal(text(where), 'X=321,Y=123');
  for (const args of [{ action: 'left_click', coordinate: [400, 300] }, { action: 'type', text: 'hi' }, { action: 'key', text: 'ctrl+a' },
    { action: 'scroll', coordinate: [400, 300], scroll_direction: 'down', scroll_amount: 2 }, { action: 'left_click_drag', start_coordinate: [10, 10], coordinate: [50, 60] }]) {
    const result = await client.callTool({ name: 'computer', arguments: args });
    assert.equal(result.isError, false, `${JSON.stringify(args)}: ${text(result)}`);
    pngOf(result);
  }
  assert.deepEqual((await client.callTool({ name: 'computer', arguments: { action: 'cursor_position' } })).content[0].text, 'X=50,Y=60');
  const noCoordinate = await client.callTool({ name: 'computer', arguments: { action: 'mouse_move' } });
  assert.equal(noCoordinate.isError, true);
  assert.match(text(noCoordinate), /^BAD_REQUEST: MouseMove needs coordinate/);
  // OpenAI's action set, as the model writes a computer_call's action.
  const call1 = await client.callTool({ name: 'computer_call', arguments: { action: { type: 'move', x: 640, y: 360 } } });
  pngOf(call1);
  assert.equal(text(await client.callTool({ name: 'computer', arguments: { action: 'cursor_position' } })), 'X=640,Y=360');
  for (const action of [{ type: 'click', x: 10, y: 10, button: 'right' }, { type: 'keypress', keys: ['CTRL', 'L'] }, { type: 'type', text: 'abc' },
    { type: 'scroll', x: 100, y: 100, scroll_x: 0, scroll_y: 250 }, { type: 'drag', path: [{ x: 1, y: 1 }, { x: 30, y: 40 }] }, { type: 'screenshot' }]) {
    const result = await client.callTool({ name: 'computer_call', arguments: { action } });
    assert.equal(result.isError, false, `${JSON.stringify(action)}: ${text(result)}`);
    pngOf(result);
  }

  // What the actions do reaches a program: a Tk probe logs its events.
  const probe = [
    'import tkinter as tk',
    'log = open("/workspace/events.log", "a", buffering=1)',
    'root = tk.Tk(); root.geometry("600x400+0+0")',
    'entry = tk.Entry(root); entry.pack(fill="x")',
    'root.bind_all("<ButtonPress>", lambda e: log.write(f"button {e.num} {e.x_root} {e.y_root}\\n"))',
    'root.bind_all("<KeyPress>", lambda e: log.write(f"key {e.keysym}\\n"))',
    'root.after(200, lambda: (entry.focus_force(), log.write("ready\\n")))',
    'root.mainloop()',
  ].join('\n');
  await client.callTool({ name: 'write_file', arguments: { path: 'probe.py', content: probe } });
  await client.callTool({ name: 'exec', arguments: { command: 'DISPLAY=:99 nohup python3 probe.py >/dev/null 2>&1 &' } });
  const events = async (until) => {
    for (let i = 0; i < 100; i++) {
      const log = text(await client.callTool({ name: 'read_file', arguments: { path: 'events.log' } }));
      if (log.includes(until)) return log;
      await new Promise((r) => setTimeout(r, 50));
    }
    return text(await client.callTool({ name: 'read_file', arguments: { path: 'events.log' } }));
  };
  assert.match(await events('ready'), /ready/);
  await client.callTool({ name: 'computer', arguments: { action: 'left_click', coordinate: [200, 150] } });
  await client.callTool({ name: 'computer', arguments: { action: 'type', text: 'Ok' } });
  await client.callTool({ name: 'computer', arguments: { action: 'key', text: 'Return' } });
  await client.callTool({ name: 'computer', arguments: { action: 'scroll', coordinate: [200, 150], scroll_direction: 'up', scroll_amount: 1 } });
  await client.callTool({ name: 'computer_call', arguments: { action: { type: 'click', x: 210, y: 160, button: 'right' } } });
  await client.callTool({ name: 'computer_call', arguments: { action: { type: 'keypress', keys: ['CTRL', 'A'] } } });
  await client.callTool({ name: 'computer_call', arguments: { action: { type: 'scroll', x: 210, y: 160, scroll_x: 0, scroll_y: 150 } } });
  const log = await events('button 5');
  // `O` is typed with Shift held, as a person would.
  assert.match(log, /button 1 200 150\nkey Shift_L\nkey O\nkey k\nkey Return\nbutton 4 200 150\nbutton 3 210 160\nkey Control_L\nkey a\n/, log);
  assert.deepEqual([...log.matchAll(/^button 5 /gm)].length, 2, `150 px is two wheel clicks down:\n${log}`);

  // A read-only token: its list has only the reading tools, and a call to
  // another tool is refused and does nothing.
  const readOnly = await call(base, 'GET', `/v1/workspaces/${ws}/mcp-config?capabilities=files:read&server_name=reader`);
  assert.equal(readOnly.status, 200);
  const reader = await connect(readOnly.body.config.mcpServers.reader);
  clients.push(reader);
  assert.deepEqual((await reader.listTools()).tools.map((tool) => tool.name).sort(), ['list_files', 'read_file']);
  const refused = await reader.callTool({ name: 'write_file', arguments: { path: 'src/hello.py', content: 'pwned' } });
  assert.equal(refused.isError, true);
  assert.match(text(refused), /^MISSING_CAPABILITY/);
  const refusedExec = await reader.callTool({ name: 'exec', arguments: { command: 'touch /workspace/pwned' } });
  assert.match(text(refusedExec), /^MISSING_CAPABILITY/);
  const refusedShot = await reader.callTool({ name: 'screenshot', arguments: {} });
  assert.equal(refusedShot.isError, true);
  assert.match(text(refusedShot), /^MISSING_CAPABILITY/);
  assert.equal(refusedShot.content.some((c) => c.type === 'image'), false);
  assert.equal(text(await client.callTool({ name: 'read_file', arguments: { path: 'src/hello.py' } })), 'print("hello from mcp")\n');
  assert.doesNotMatch(text(await client.callTool({ name: 'list_files', arguments: {} })), /pwned/);

  // A tenant API key is refused at the endpoint, whatever client uses it.
  await assert.rejects(connect({ type: 'http', url: entry.url, headers: { Authorization: `Bearer ${KEY}` } }), /403|scoped token/);

  // An expired token: the client that worked a moment ago is refused.
  const brief = await call(base, 'GET', `/v1/workspaces/${ws}/mcp-config?capabilities=files:read&ttl_secs=2&server_name=brief`);
  const briefClient = await connect(brief.body.config.mcpServers.brief);
  clients.push(briefClient);
  assert.equal((await briefClient.listTools()).tools.length, 2);
  await new Promise((done) => setTimeout(done, 2_300));
  await assert.rejects(briefClient.listTools(), /401|expired/);
});
