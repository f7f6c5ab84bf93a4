// Code kernels through the SDK against a real `paddock serve` with real
// ipykernel (the python-data flavor, built with `paddock flavors
// install`): state between calls, a dataframe, an error that is a result,
// a timeout that keeps the kernel, the kernel routes, a streamed call, and
// code without a workspace (`code.run`, `code.stream`, `code.endSession`).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";

import { Paddock } from "../../dist/esm/index.js";
import { ADMIN_TOKEN, paddockBinary, startServer } from "../helpers/server.mjs";

let server;
let paddock;

before(async () => {
  server = await startServer();
  // Flavors are read when a workspace is created: installing it now is enough.
  execFileSync(paddockBinary(), ["flavors", "install", "python-data", "--state-dir", join(server.stateDir, "state")], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  paddock = new Paddock({ baseUrl: server.url, apiKey: ADMIN_TOKEN });
});

after(async () => {
  await server?.stop();
});

describe("code kernels", () => {
  it("runCode keeps state, gives tables and errors, and survives a timeout", async () => {
    const ws = await paddock.workspaces.create({ flavors: ["python-data"] });
    const set = await paddock.workspaces.runCode(ws.id, "python", "import pandas as pd\nx = 41");
    assert.equal(set.exitCode, 0, set.stderr);
    assert.equal(set.kernel.started, true);

    const { results } = await paddock.workspaces.runCode(ws.id, "python", "x + 1");
    assert.deepEqual(results, [{ type: "text", value: "42" }]);

    const described = await paddock.workspaces.runCode(ws.id, "python", "pd.DataFrame({'a': [1, 2, 3]}).describe()");
    const [frame] = described.results;
    assert.equal(frame.type, "dataframe");
    assert.equal(frame.rows.length, 8);
    assert.deepEqual(frame.columns.map((c) => c.name), ["index", "a"]);

    const raised = await paddock.workspaces.runCode(ws.id, "python", "1/0");
    assert.equal(raised.exitCode, 1);
    assert.equal(raised.error?.name, "ZeroDivisionError");

    const spun = await paddock.workspaces.runCode(ws.id, "python", "while True: pass", { timeoutMs: 500 });
    assert.equal(spun.exitCode, 124);
    assert.equal(spun.error?.name, "TimeoutError");

    const other = await paddock.workspaces.runCode(ws.id, "python", "x", { sessionId: "elsewhere" });
    assert.equal(other.error?.name, "NameError");

    const { kernels } = await paddock.workspaces.kernels.list(ws.id);
    assert.equal(kernels.length, 2);
    const shared = kernels.find((k) => k.sessionId === null);
    assert.equal(shared?.id, set.kernel.id);
    assert.equal(shared?.language, "python");
    const restarted = await paddock.workspaces.kernels.restart(ws.id, set.kernel.id);
    assert.notEqual(restarted.id, set.kernel.id);
    const gone = await paddock.workspaces.runCode(ws.id, "python", "x");
    assert.equal(gone.error?.name, "NameError");
    await paddock.workspaces.kernels.shutdown(ws.id, restarted.id);
    assert.equal((await paddock.workspaces.kernels.list(ws.id)).kernels.length, 1);
  });

  it("streams a call's events, and runs code without a workspace", async () => {
    const ws = await paddock.workspaces.create({ flavors: ["python-data"] });
    const events = [];
    for await (const event of paddock.workspaces.runCodeStream(
      ws.id,
      "python",
      "print('a', flush=True)\nfrom IPython.display import HTML\nHTML('<b>b</b>')",
    )) {
      events.push(event);
    }
    assert.deepEqual(
      events.map((e) => e.type),
      ["started", "stdout", "result", "completed"],
    );
    assert.equal(events[0].kernel.started, true);
    assert.equal(events[1].text, "a\n");
    assert.deepEqual(events[2].part, { type: "html", value: "<b>b</b>" });
    assert.equal(events[3].result.stdout, "a\n");
    await paddock.workspaces.delete(ws.id);

    const once = await paddock.code.run("python", "y = 2\ny * 21");
    assert.deepEqual(once.results, [{ type: "text", value: "42" }]);
    // Deleted right after the answer.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const gone = await paddock.workspaces.get(once.workspaceId).then(
        () => false,
        (err) => err.status === 404,
      );
      if (gone) break;
      assert.ok(Date.now() < deadline, "a one-call workspace outlived its call");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await paddock.code.run("python", "z = 5", { sessionId: "ts-sdk" });
    const streamed = [];
    for await (const event of paddock.code.stream("python", "print(z + 1)", { sessionId: "ts-sdk" })) streamed.push(event);
    assert.equal(streamed.at(-1).type, "completed");
    assert.equal(streamed.at(-1).result.stdout, "6\n");
    await paddock.code.endSession("ts-sdk");
    await assert.rejects(paddock.code.endSession("ts-sdk"), { status: 404 });
  });
});
