// The phantom proxy end to end (waits for `paddock serve --service`):
// a local upstream records what it receives; the test calls it through
// the session's OPENAI_BASE_URL with the phantom token, and the upstream
// must see the real secret, never the phantom token.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, describe, it } from "node:test";

import { Paddock } from "../../dist/esm/index.js";
import { ADMIN_TOKEN, startServer } from "../helpers/server.mjs";

const SECRET = "sk-real-upstream-secret-for-the-sdk-test";
let upstream;
let upstreamUrl;
const seen = [];
let server;
let paddock;

before(async () => {
  upstream = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      seen.push({ method: req.method, url: req.url, headers: { ...req.headers }, body });
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ id: "chatcmpl-test", object: "chat.completion" }));
    });
  });
  await new Promise((resolve) => upstream.listen(0, "127.0.0.1", resolve));
  upstreamUrl = `http://127.0.0.1:${upstream.address().port}`;
  server = await startServer({ args: ["--service", `openai=${upstreamUrl}`] });
  paddock = new Paddock({ baseUrl: server.url, apiKey: ADMIN_TOKEN });
});

after(async () => {
  await server?.stop();
  await new Promise((resolve) => (upstream ? upstream.close(resolve) : resolve()));
});

describe("phantom proxy", () => {
  it("swaps the phantom token for the real key", async () => {
    await paddock.credentials.put({ service: "openai", secret: SECRET });
    const session = await paddock.sessions.create({ services: ["openai"], ttlSecs: 300 });
    const phantom = session.env.OPENAI_API_KEY;
    assert.match(phantom, /^phm_[0-9a-f]{64}$/);

    const response = await fetch(`${session.env.OPENAI_BASE_URL}/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${phantom}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-test", messages: [{ role: "user", content: "hi" }] }),
    });
    const text = await response.text();
    assert.equal(response.status, 200, text);
    assert.deepEqual(JSON.parse(text), { id: "chatcmpl-test", object: "chat.completion" });

    assert.equal(seen.length, 1, "the upstream was called once");
    const request = seen[0];
    assert.equal(request.method, "POST");
    assert.match(request.url, /\/chat\/completions$/);
    assert.equal(request.headers.authorization, `Bearer ${SECRET}`);
    assert.equal(JSON.parse(request.body).model, "gpt-test", "the body is forwarded");
    for (const [name, value] of Object.entries(request.headers)) {
      assert.ok(!String(value).includes(phantom), `the phantom token leaked upstream in ${name}`);
      assert.ok(!String(value).includes("phm_"), `a phantom token reached the upstream in ${name}`);
    }

    // After close the token is refused at the proxy; the upstream is not contacted.
    await paddock.sessions.close(session.id);
    const refused = await fetch(`${session.env.OPENAI_BASE_URL}/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${phantom}`, "content-type": "application/json" },
      body: "{}",
    });
    await refused.text();
    assert.equal(refused.status, 401);
    assert.equal(seen.length, 1);
  });
});
