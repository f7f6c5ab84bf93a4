"""Workspaces: lifecycle, exec, streams, snapshots, forks, run state, context managers."""

from __future__ import annotations

import pytest

import paddock
from paddock import ConflictError, NotFoundError


def test_lifecycle_exec_and_update(client: paddock.Paddock) -> None:
    ws = client.workspaces.create(label="life", memory_mb=128, timeout_secs=60, network={"mode": "none"})
    try:
        assert ws.id.startswith("wrk_") and ws.config.memory_mb == 128 and ws.config.network_mode == "none"
        assert ws.id in [w.id for w in client.workspaces.list(q="life").rows]
        result = client.workspaces.exec(ws.id, cmd="sh", args=["-c", "echo $GREETING > hello; cat hello"], env={"GREETING": "hi"})
        assert result.ok and result.stdout == "hi\n"
        again = client.workspaces.exec(ws.id, cmd="cat", args=["hello"], env=[("X", "1")], timeout_secs=10, memory_mb=64)
        assert again.stdout == "hi\n", "the tree persists between execs"
        updated = client.workspaces.update(ws.id, label="renamed")
        assert updated.label == "renamed" and client.workspaces.get(ws.id).label == "renamed"
        cleared = client.workspaces.update(ws.id, label=None)
        assert cleared.label is None
        events = list(client.workspaces.exec_stream(ws.id, cmd="sh", args=["-c", "echo s1; echo s2 >&2"]))
        # Two pipes: their lines may arrive in either order.
        lines = sorted((e.type, e.line) for e in events if e.type in ("stdout", "stderr"))
        assert lines == [("stderr", "s2"), ("stdout", "s1")]
        chunked = client.workspaces.exec_stream(ws.id, cmd="printf", args=["a\\nb"], output="chunks").collect()
        assert chunked.stdout == "a\nb"
    finally:
        client.workspaces.delete(ws.id)
    with pytest.raises(NotFoundError):
        client.workspaces.get(ws.id)


def test_snapshots_restore_and_fork(client: paddock.Paddock) -> None:
    with client.workspace(label="snap-src") as ws:
        ws.exec("sh", ["-c", "mkdir -p d && echo v1 > d/f"])
        snap = ws.snapshot("first")
        assert snap.name == "first" and snap.workspace_id == ws.id and snap.file_count == 1
        assert client.snapshots.get(snap.id).id == snap.id
        assert snap.id in [s.id for s in client.snapshots.list(workspace_id=ws.id).rows]
        manifest = client.snapshots.manifest(snap.id)
        assert [(e.path, e.size) for e in manifest.entries] == [("d/f", 3)]
        ws.exec("sh", ["-c", "echo v2 > d/f"])
        restored = client.snapshots.create_workspace_from(snap.id, label="restored")
        try:
            assert client.workspaces.exec(restored.id, cmd="cat", args=["d/f"]).stdout == "v1\n"
        finally:
            client.workspaces.delete(restored.id)
        explicit = client.workspaces.from_snapshot(snap.id, parent_workspace_id=ws.id)
        client.workspaces.delete(explicit.id)
        forks = ws.fork(2, label="fork")
        try:
            assert len(forks) == 2
            for fork in forks:
                assert fork.exec("cat", ["d/f"]).stdout == "v2\n"
                assert fork.info is not None and fork.info.label is not None
        finally:
            for fork in forks:
                fork.delete()
        client.snapshots.delete(snap.id)
        with pytest.raises(NotFoundError):
            client.snapshots.get(snap.id)


def test_run_state_start_stop_pause_resume(client: paddock.Paddock) -> None:
    with client.workspace(label="state") as ws:
        assert ws.state().state == "stopped"
        with pytest.raises(ConflictError) as err:
            ws.pause()
        assert err.value.code == "WORKSPACE_NOT_RUNNING"
        started = ws.start()
        assert started.state == "running" and started.started_at
        assert ws.start().state == "running", "start is idempotent"
        assert ws.pause().state == "paused"
        assert ws.resume().state == "running"
        assert ws.stop().state == "stopped"
        assert ws.stop().state == "stopped"


def test_context_manager_deletes_or_stops(client: paddock.Paddock) -> None:
    with client.workspace(label="ctx-delete") as ws:
        ws.start()
        wid = ws.id
    with pytest.raises(NotFoundError):
        client.workspaces.get(wid)

    with client.workspace(label="ctx-stop", on_exit="stop") as ws:
        ws.start()
        wid = ws.id
    try:
        assert client.workspaces.state(wid).state == "stopped"
        assert client.workspaces.get(wid).id == wid
    finally:
        client.workspaces.delete(wid)

    # An exception inside the block still deletes it, and propagates.
    with pytest.raises(RuntimeError):
        with client.workspace(label="ctx-error") as ws:
            wid = ws.id
            raise RuntimeError("boom")
    with pytest.raises(NotFoundError):
        client.workspaces.get(wid)
    with pytest.raises(ValueError):
        client.workspace(on_exit="explode")


def test_handles_for_existing_workspaces(client: paddock.Paddock) -> None:
    ws = client.workspaces.create(label="handle")
    handle = client.workspaces.handle(ws.id)
    try:
        assert repr(handle) == f"WorkspaceHandle(id={ws.id!r})"
        assert handle.refresh().label == "handle"
        assert handle.exec("true").ok
        assert client.workspaces.sandbox_agent_base_url(ws.id) == f"{client.base_url}/v1/workspaces/{ws.id}/runtime"
        assert handle.runtime.base_url == client.workspaces.sandbox_agent_base_url(ws.id)
    finally:
        handle.delete()
