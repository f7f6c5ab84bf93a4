// Workspaces and snapshots end to end: create, exec twice with a file
// persisting, snapshot, manifest, a workspace from the snapshot, fork,
// execs side by side, delete.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { Paddock } from "../../dist/esm/index.js";
import { ADMIN_TOKEN, OTHER_TOKEN, failure, startServer } from "../helpers/server.mjs";

let server;
let paddock;

before(async () => {
  server = await startServer();
  paddock = new Paddock({ baseUrl: server.url, apiKey: ADMIN_TOKEN });
});

after(async () => {
  await server?.stop();
});

const sh = (script) => ({ cmd: "sh", args: ["-c", script], timeoutSecs: 30 });

describe("workspaces and snapshots", () => {
  it("the whole life of a workspace", async () => {
    const ws = await paddock.workspaces.create({ label: "sdk-test", memoryMb: 256, timeoutSecs: 60 });
    assert.match(ws.id, /^wrk_[0-9a-f]{24}$/);
    assert.equal(ws.label, "sdk-test");
    assert.equal(ws.deleted_at, null);
    assert.equal(ws.config.memory_mb, 256);
    assert.equal(ws.config.timeout_secs, 60);
    assert.equal(ws.config.network_mode, "none");
    assert.ok(Array.isArray(ws.domains));

    // State written under /workspace persists from one exec to the next.
    const first = await paddock.workspaces.exec(ws.id, sh("echo persisted > /workspace/state.txt && echo wrote"));
    assert.equal(first.exit_code, 0, first.stderr);
    assert.equal(first.stdout, "wrote\n");
    const second = await paddock.workspaces.exec(ws.id, {
      ...sh('cat /workspace/state.txt; echo "$GREETING"'),
      env: [["GREETING", "hello"]],
    });
    assert.equal(second.stdout, "persisted\nhello\n", second.stderr);
    assert.notEqual((await paddock.workspaces.get(ws.id)).last_exec_at, null);

    // get, list (with search), update.
    assert.equal((await paddock.workspaces.get(ws.id)).id, ws.id);
    const listed = await paddock.workspaces.list({ q: "sdk-test", limit: 10 });
    assert.ok(listed.rows.some((w) => w.id === ws.id));
    assert.equal(listed.limit, 10);
    assert.equal(listed.offset, 0);
    assert.ok(listed.total >= 1);
    const renamed = await paddock.workspaces.update(ws.id, { label: "sdk-test-renamed" });
    assert.equal(renamed.label, "sdk-test-renamed");

    // Snapshot and its manifest.
    const snap = await paddock.snapshots.create(ws.id, { name: "baseline" });
    assert.match(snap.id, /^snap_[0-9a-f]{24}$/);
    assert.equal(snap.workspace_id, ws.id);
    assert.equal(snap.name, "baseline");
    assert.equal(typeof snap.size_bytes, "number");
    assert.equal((await paddock.snapshots.get(snap.id)).id, snap.id);
    const snaps = await paddock.snapshots.list({ workspaceId: ws.id });
    assert.ok(snaps.rows.some((s) => s.id === snap.id));
    assert.ok(snaps.rows.every((s) => s.workspace_id === ws.id));
    const manifest = await paddock.snapshots.manifest(snap.id);
    assert.ok(["incremental", "classic"].includes(manifest.kind));
    assert.ok(Array.isArray(manifest.entries));
    if (manifest.kind === "incremental") {
      const entry = manifest.entries.find((e) => e.path.endsWith("state.txt"));
      assert.ok(entry, JSON.stringify(manifest.entries));
      assert.match(entry.hash, /^[0-9a-f]{64}$/);
      assert.equal(entry.size, "persisted\n".length);
      assert.equal(typeof entry.mode, "number");
    }

    // Changes after the snapshot do not reach a workspace made from it.
    await paddock.workspaces.exec(ws.id, sh("echo changed > /workspace/state.txt"));
    const restored = await paddock.snapshots.createWorkspaceFrom(snap.id, {
      parentWorkspaceId: ws.id,
      label: "restored",
    });
    assert.notEqual(restored.id, ws.id);
    assert.equal(restored.label, "restored");
    assert.equal((await paddock.workspaces.exec(restored.id, sh("cat /workspace/state.txt"))).stdout, "persisted\n");

    // The parent id is the proof of ownership.
    const stranger = await paddock.workspaces.create({ label: "stranger" });
    const wrongParent = await failure(
      paddock.snapshots.createWorkspaceFrom(snap.id, { parentWorkspaceId: stranger.id }),
    );
    assert.ok(["NOT_FOUND", "BAD_REQUEST"].includes(wrongParent.code), wrongParent.code);

    // Fork into two independent workspaces.
    const forked = await paddock.workspaces.fork(ws.id, { count: 2, label: "fork" });
    assert.equal(forked.parent.id, ws.id);
    assert.equal(forked.forks.length, 2);
    assert.match(forked.snapshot_id, /^snap_/);
    const [a, b] = forked.forks;
    assert.notEqual(a.id, b.id);
    await paddock.workspaces.exec(a.id, sh("echo only-a > /workspace/state.txt"));
    assert.equal((await paddock.workspaces.exec(a.id, sh("cat /workspace/state.txt"))).stdout, "only-a\n");
    assert.equal((await paddock.workspaces.exec(b.id, sh("cat /workspace/state.txt"))).stdout, "changed\n");

    // Other tenants see none of it.
    const other = new Paddock({ baseUrl: server.url, apiKey: OTHER_TOKEN });
    assert.equal((await failure(other.workspaces.get(ws.id))).code, "NOT_FOUND");
    assert.equal((await failure(other.snapshots.get(snap.id))).code, "NOT_FOUND");

    // Delete: workspaces and snapshots answer 404 afterwards.
    for (const w of [ws, restored, stranger, a, b]) {
      assert.equal(await paddock.workspaces.delete(w.id), undefined);
      assert.equal((await failure(paddock.workspaces.get(w.id))).code, "NOT_FOUND");
    }
    assert.equal(await paddock.snapshots.delete(snap.id), undefined);
    assert.equal((await failure(paddock.snapshots.get(snap.id))).code, "NOT_FOUND");
  });

  it("execs run side by side; deleting while one runs is CONFLICT", async () => {
    const ws = await paddock.workspaces.create({ label: "busy" });
    const slow = paddock.workspaces.exec(ws.id, sh("sleep 2; echo slow"));
    await new Promise((r) => setTimeout(r, 500));
    const fast = await paddock.workspaces.exec(ws.id, sh("echo fast"));
    assert.equal(fast.stdout, "fast\n");
    const err = await failure(paddock.workspaces.delete(ws.id));
    assert.equal(err.code, "CONFLICT");
    assert.equal(err.status, 409);
    assert.equal(err.serverCode, "WORKSPACE_BUSY");
    assert.equal((await slow).stdout, "slow\n");
    await paddock.workspaces.delete(ws.id);
  });

  it("bad input is BAD_REQUEST, unknown ids NOT_FOUND", async () => {
    assert.equal((await failure(paddock.workspaces.create({ flavors: ["no-such-flavor"] }))).code, "BAD_REQUEST");
    assert.equal(
      (await failure(paddock.workspaces.create({ git: { repo: "http://insecure.example/repo" } }))).code,
      "BAD_REQUEST",
    );
    assert.equal((await failure(paddock.workspaces.fork("wrk_000000000000000000000000", { count: 2 }))).code, "NOT_FOUND");
    const ws = await paddock.workspaces.create();
    assert.equal((await failure(paddock.workspaces.fork(ws.id, { count: 17 }))).code, "BAD_REQUEST");
    await paddock.workspaces.delete(ws.id);
    assert.equal((await failure(paddock.workspaces.get("wrk_000000000000000000000000"))).code, "NOT_FOUND");
    assert.equal((await failure(paddock.snapshots.manifest("snap_000000000000000000000000"))).code, "NOT_FOUND");
  });
});
