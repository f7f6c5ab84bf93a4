"""Coding agents through the SDK (sync and async) with paddock's built-in
mock ACP agent: the agent list, an ACP server started by its first
envelope, a permission request answered while the prompt runs, the file
read back, the transcript, resuming ``follow`` and deletion."""

from __future__ import annotations

import threading
import time
from typing import Any, Dict, List

import pytest

import paddock
from paddock import BadRequestError


def test_agents_sync(client: paddock.Paddock) -> None:
    with client.workspace(label="py-agents") as ws:
        agents = client.workspaces.runtime(ws.id).agents
        listed = agents.list()
        assert [a.id for a in listed] == ["claude", "codex", "opencode", "amp", "pi", "cursor", "mock"]
        assert agents.get("mock").installed
        assert "npm" in (agents.get("cursor").config_error or "")

        init = agents.send("s1", {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": 1}}, agent="mock")
        assert init is not None and init["result"]["protocolVersion"] == 1
        created = agents.send("s1", {"jsonrpc": "2.0", "id": 2, "method": "session/new", "params": {"cwd": "/workspace", "mcpServers": []}})
        assert created is not None
        session_id = created["result"]["sessionId"]
        assert [(s.server_id, s.agent, s.status) for s in agents.servers()] == [("s1", "mock", "running")]

        seen: List[paddock.AcpMessage] = []
        stream = agents.follow("s1")

        def answer_permissions() -> None:
            for message in stream:
                seen.append(message)
                envelope = message.envelope
                if envelope.get("method") == "session/request_permission":
                    agents.send("s1", {"jsonrpc": "2.0", "id": envelope["id"], "result": {"outcome": {"outcome": "selected", "optionId": "allow-once"}}})
                if envelope.get("id") == 3:
                    return

        follower = threading.Thread(target=answer_permissions)
        follower.start()
        done = agents.send(
            "s1",
            {"jsonrpc": "2.0", "id": 3, "method": "session/prompt", "params": {"sessionId": session_id, "prompt": [{"type": "text", "text": "write py.txt: from Python"}]}},
        )
        follower.join(timeout=30)
        stream.close()
        assert done is not None and done["result"]["stopReason"] == "end_turn"
        assert ws.files.read_text("py.txt") == "from Python"
        methods = [m.envelope.get("method") for m in seen]
        assert "session/request_permission" in methods
        assert all(b.index > a.index for a, b in zip(seen, seen[1:]))

        transcript = agents.transcript("s1")
        assert not transcript.has_more
        outbound: List[Dict[str, Any]] = [e.envelope for e in transcript.events if e.direction == "outbound"]
        assert any(e.get("method") == "session/prompt" for e in outbound)

        cut = seen[2].index
        with agents.follow("s1", since=cut) as resumed:
            first = next(iter(resumed))
        assert first.index == seen[3].index

        agents.delete_server("s1")
        assert agents.servers() == []
        with pytest.raises(BadRequestError) as refused:
            agents.send("s2", {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}, agent="nope")
        assert refused.value.code == "UNSUPPORTED_AGENT"


async def test_agents_async(aclient: paddock.AsyncPaddock) -> None:
    ws = await aclient.workspaces.create(label="py-agents-async")
    try:
        agents = aclient.workspaces.runtime(ws.id).agents
        assert (await agents.get("mock", config=True)).config_options
        await agents.send("a1", {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": 1}}, agent="mock")
        created = await agents.send("a1", {"jsonrpc": "2.0", "id": 2, "method": "session/new", "params": {"cwd": "/workspace", "mcpServers": []}})
        assert created is not None
        answer = await agents.send(
            "a1",
            {"jsonrpc": "2.0", "id": 3, "method": "session/prompt", "params": {"sessionId": created["result"]["sessionId"], "prompt": [{"type": "text", "text": "hello"}]}},
        )
        assert answer is not None and answer["result"]["stopReason"] == "end_turn"
        text = ""
        async with agents.follow("a1") as stream:
            async for message in stream:
                update = message.envelope.get("params", {}).get("update", {})
                if update.get("sessionUpdate") == "agent_message_chunk":
                    text += update["content"]["text"]
                if update.get("sessionUpdate") == "usage_update":
                    break
        assert text == "You said: hello"
        await agents.delete_server("a1")
    finally:
        await aclient.workspaces.delete(ws.id)


def test_agent_sessions_sync(client: paddock.Paddock) -> None:
    """A permission answered through the API, a turn id that runs once, a
    detached turn read later, a cancel, one turn at a time."""
    with client.workspace(label="py-agent-sessions") as ws:
        sessions = client.agent_sessions
        created = sessions.create(ws.id, "mock", id="py")
        assert (created.permissions, created.status) == ("ask", "idle")
        detached = sessions.prompt(ws.id, "py", "write py.txt: from python", turn_id="w1", detach=True)
        assert detached.status == "streaming"
        waiting: List[Any] = []
        for _ in range(100):
            waiting = sessions.get(ws.id, "py").pending_permissions
            if waiting:
                break
            time.sleep(0.1)
        assert len(waiting) == 1 and waiting[0].turn_id == "w1"
        sessions.answer_permission(ws.id, "py", waiting[0].id, "once")
        done = sessions.turn(ws.id, "py", "w1", wait_ms=20000)
        assert (done.status, done.text, done.stop_reason) == ("completed", "I wrote py.txt.", "end_turn")
        assert client.workspaces.runtime(ws.id).files.read_text("/workspace/py.txt") == "from python"
        again = sessions.prompt(ws.id, "py", "write py.txt: from python", turn_id="w1")
        assert again.replayed and again.completed_at == done.completed_at
        with pytest.raises(paddock.ConflictError) as conflict:
            sessions.prompt(ws.id, "py", "something else", turn_id="w1")
        assert conflict.value.code == "TURN_CONFLICT"
        sessions.prompt(ws.id, "py", [{"type": "text", "text": "sleep 60000"}], turn_id="slow", detach=True)
        with pytest.raises(paddock.ConflictError) as busy:
            sessions.prompt(ws.id, "py", "hello")
        assert busy.value.code == "AGENT_SESSION_BUSY"
        cancelled = sessions.cancel(ws.id, "py", "slow")
        assert (cancelled.status, cancelled.interrupt_reason) == ("interrupted", "cancelled")
        assert [(t.turn_id, t.status) for t in sessions.turns(ws.id, "py")] == [("w1", "completed"), ("slow", "interrupted")]
        sessions.delete(ws.id, "py")
        with pytest.raises(paddock.NotFoundError):
            sessions.get(ws.id, "py")


async def test_agent_sessions_async(aclient: paddock.AsyncPaddock) -> None:
    ws = await aclient.workspaces.create(label="py-agent-sessions-async")
    try:
        sessions = aclient.agent_sessions
        await sessions.create(ws.id, "mock", id="apy", permissions="allow")
        turn = await sessions.prompt(ws.id, "apy", "write apy.txt: allowed", turn_id="t1")
        assert (turn.status, turn.text) == ("completed", "I wrote apy.txt.")
        assert [c.status for c in turn.tool_calls] == ["completed"]
        assert [s.id for s in await sessions.list(ws.id)] == ["apy"]
        assert (await sessions.turn(ws.id, "apy", "t1")).text == turn.text
    finally:
        await aclient.workspaces.delete(ws.id)
