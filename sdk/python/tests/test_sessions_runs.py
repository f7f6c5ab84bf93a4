"""Sessions (env for subprocess, exec, streams), runs (create, stream, fork,
cancel), the ledger and the audit log."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

import paddock
from paddock import ConflictError, NotFoundError
from support import UPSTREAM_SECRET, FakeModel

CALL_MODEL = """
import json, os, urllib.request
req = urllib.request.Request(
    os.environ["OPENAI_BASE_URL"] + "/chat/completions",
    data=json.dumps({"model": "gpt-fake", "messages": [{"role": "user", "content": "hi"}]}).encode(),
    headers={"authorization": "Bearer " + os.environ["OPENAI_API_KEY"], "content-type": "application/json"},
)
print(json.load(urllib.request.urlopen(req))["choices"][0]["message"]["content"])
"""


def _wait_status(client: paddock.Paddock, run_id: int, want: str, seconds: float = 20) -> str:
    deadline = time.monotonic() + seconds
    status = client.jails.get(run_id).status
    while status != want and time.monotonic() < deadline:
        time.sleep(0.1)
        status = client.jails.get(run_id).status
    return status


def test_session_env_drives_a_subprocess_through_the_phantom_proxy(
    client: paddock.Paddock, fake_model: FakeModel
) -> None:
    with client.session(services=["openai"], ttl_secs=300, scopes={"openai": ["/v1/chat/*"]}, max_requests=10) as session:
        assert session.env["OPENAI_API_KEY"].startswith("phm_")
        assert session.max_requests == 10 and session.scopes == {"openai": ["/v1/chat/*"]}
        before = len(fake_model.requests)
        done = subprocess.run(
            [sys.executable, "-c", CALL_MODEL], env=session.subprocess_env(), capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        assert "hello from the fake model" in done.stdout
        seen = fake_model.requests[before:]
        assert len(seen) == 1
        assert seen[0]["headers"]["authorization"] == f"Bearer {UPSTREAM_SECRET}"
        assert all("phm_" not in v for v in seen[0]["headers"].values())
        got = client.sessions.get(session.id)
        assert got.requests_used == 1 and got.status == "active"
        assert session.id in [s.id for s in client.sessions.list()]
        # Jailed code reaches the model through the proxy on the jail's own loopback.
        result = client.sessions.exec(session.id, cmd="python3", args=["-c", CALL_MODEL], network="none")
        assert result.exit_code == 0, result.stderr
        assert "hello from the fake model" in result.stdout
        assert fake_model.requests[-1]["headers"]["authorization"] == f"Bearer {UPSTREAM_SECRET}"
        events = list(client.sessions.exec_stream(session.id, cmd="sh", args=["-c", "echo one; echo two"]))
        assert [e.line for e in events if e.type == "stdout"] == ["one", "two"]
        assert events[-1].type == "completed"
    # Closed at the end of the block: gone.
    with pytest.raises(NotFoundError):
        client.sessions.get(session.id)
    assert session.id in [s.id for s in client.sessions.list(include_closed=True)]
    audit = client.audit.recent(limit=20)
    assert any(row.session_id == session.id and row.status == 200 for row in audit.rows)
    actions = client.audit.actions(limit=50)
    assert any(a.action == "session.create" and a.target == session.id for a in actions.rows)


def test_runs_create_and_ledger(client: paddock.Paddock) -> None:
    result = client.runs.create(language="python", code="import sys; print(6*7); print('err', file=sys.stderr)")
    assert result.ok and result.stdout == "42\n" and result.stderr == "err\n"
    assert result["exit_code"] == 0 and result.get("nope", "x") == "x"
    failed = client.runs.create(language="bash", code="exit 3", memory_mb=64, timeout_secs=10, network="loopback")
    assert failed.exit_code == 3 and not failed.ok
    row = client.runs.get(failed.id)
    assert row.status == "completed" and row.exit_code == 3
    assert row.config["memory_mb"] == 64 and row.config["network_mode"] == "loopback"
    listed = client.ledger.list(limit=5, kind="run")
    assert failed.id in [r.id for r in listed.rows] and listed.total >= 2
    assert client.jails.get(result.id).id == result.id


def test_runs_stream_lines_and_chunks(client: paddock.Paddock) -> None:
    with client.runs.stream(language="bash", code="echo a; printf 'b\\r50%%\\n'; echo c >&2; echo") as stream:
        events = list(stream)
    assert stream.run_id is not None and events[0].type == "started" and events[0].id == stream.run_id
    assert [e.line for e in events if e.type == "stdout"] == ["a", "b\n50%", ""]
    assert [e.line for e in events if e.type == "stderr"] == ["c"]
    assert events[-1].type == "completed" and events[-1].exit_code == 0
    assert stream.result is not None and stream.result.id == stream.run_id

    raw = "printf 'x\\xff\\xfey'; printf 'caf\\xc3\\xa9'"
    chunks = client.runs.stream(language="bash", code=raw, output="chunks")
    result = chunks.collect()
    assert result.ok and result.stdout == b"x\xff\xfeycaf\xc3\xa9".decode("utf-8", "replace")
    stream2 = client.runs.stream(language="bash", code=raw, output="chunks")
    data = b"".join(e.data for e in stream2 if e.type == "stdout" and e.data is not None)
    assert data == b"x\xff\xfeycaf\xc3\xa9"
    with pytest.raises(ValueError):
        client.runs.stream(code="1", output="bytes")


def test_closing_a_stream_cancels_the_run(client: paddock.Paddock) -> None:
    stream = client.runs.stream(language="bash", code="echo go; sleep 60")
    for event in stream:
        if event.type == "stdout":
            break
    stream.close()
    assert stream.run_id is not None
    assert _wait_status(client, stream.run_id, "cancelled") == "cancelled"


def test_a_dropped_stream_cancels_the_run(client: paddock.Paddock) -> None:
    run_id = None
    for event in client.runs.stream(language="bash", code="echo go; sleep 60"):
        if event.type == "started":
            run_id = event.id
        if event.type == "stdout":
            break  # the stream object is dropped here
    assert run_id is not None
    assert _wait_status(client, run_id, "cancelled") == "cancelled"


def test_cancel_by_id_returns_the_output_so_far(client: paddock.Paddock) -> None:
    stream = client.runs.stream(language="bash", code="echo before; sleep 60; echo after")
    events = iter(stream)
    first = next(events)
    assert first.type == "started"
    # Cancel once the first line is out (cancelling right after `started`
    # can come before bash printed it).
    before = []
    for event in events:
        before.append(event)
        if event.type == "stdout":
            break
    answer = stream.cancel()
    assert answer.cancelled and answer.id == stream.run_id
    rest = list(events)
    assert rest[-1].type == "completed" and rest[-1].get("cancelled") is True
    assert [e.line for e in before + rest if e.type == "stdout"] == ["before"]
    with pytest.raises(ConflictError) as again:
        client.runs.cancel(answer.id)
    assert again.value.code == "RUN_FINISHED"


def test_fork(client: paddock.Paddock) -> None:
    parent = "mkdir -p /output; echo base > /output/state; sleep 1"
    one = client.runs.fork(parent_code=parent, child_code="cat /output/state", language="bash", fork_after_ms=300)
    assert one.child.stdout == "base\n" and len(one.children) == 1
    many = client.runs.fork(
        parent_code=parent,
        children=[{"code": "echo a; cat /output/state"}, {"code": "echo b", "memory_mb": 64}],
        language="bash",
        fork_after_ms=300,
    )
    assert [c.stdout for c in many.children] == ["a\nbase\n", "b\n"]
    assert len(many.forks) == 2 and many.fork.method in ("reflink", "copy", "empty")
    with pytest.raises(ValueError):
        client.runs.fork(parent_code="1")


def test_agentjail_names_work(server_url_and_key: tuple) -> None:  # type: ignore[type-arg]
    url, key = server_url_and_key
    from paddock import Agentjail, AgentjailError

    aj = Agentjail(base_url=url, api_key=key)
    try:
        assert aj.public.health() == "ok"
        assert aj.public.stats()["total_execs"] >= 0
        session = aj.sessions.create(services=["openai"], ttl_secs=60)
        assert session["id"].startswith("sess_") and "OPENAI_API_KEY" in session["env"]
        aj.sessions.close(session["id"])
        events = list(aj.runs.stream(code="print(1)", language="python"))
        assert [e["line"] for e in events if e["type"] == "stdout"] == ["1"]
        assert events[-1]["type"] == "completed" and events[-1]["exit_code"] == 0
        ws = aj.workspaces.create(label="aj")
        aj.workspaces.exec(ws["id"], cmd="sh", args=["-c", "echo x > f"], env=[("A", "1")])
        snap = aj.snapshots.create(ws["id"], name="s")
        restored = aj.snapshots.create_workspace_from(snap["id"], label="restored")
        assert restored["label"] == "restored"
        assert aj.snapshots.manifest(snap["id"])["entries"][0]["path"] == "f"
        assert aj.audit.recent(5)["total"] >= 0
        assert aj.settings.get()["proxy"]["providers"]
        assert aj.jails.list(limit=1)["rows"]
        for wid in (restored["id"], ws["id"]):
            aj.workspaces.delete(wid)
        with pytest.raises(AgentjailError) as err:
            aj.workspaces.get(ws["id"])
        assert err.value.status == 404
    finally:
        aj.close()


@pytest.fixture
def server_url_and_key(client: paddock.Paddock) -> tuple:  # type: ignore[type-arg]
    return client.base_url, client._http.api_key



def test_a_server_shutting_down_ends_streams_with_an_error_event() -> None:
    from support import ADMIN_TOKEN, Server

    srv = Server(args=["--shutdown-grace", "2s"])
    try:
        with paddock.Paddock(srv.url, ADMIN_TOKEN) as short_lived:
            stream = short_lived.runs.stream(language="bash", code="echo up; sleep 60")
            events = iter(stream)
            assert next(events).type == "started"
            srv.proc.terminate()
            with pytest.raises(paddock.UnavailableError) as err:
                stream.collect()
            assert err.value.code == "SHUTTING_DOWN" and err.value.message
            assert err.value.status == 200 and err.value.path == "/v1/runs/stream" and err.value.method == "POST"
            assert err.value.request_id and err.value.request_id.startswith("py_")
            assert isinstance(err.value.body, dict) and err.value.body["code"] == "SHUTTING_DOWN"
    finally:
        srv.stop()


def test_one_sync_client_from_many_threads(client: paddock.Paddock) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda i: client.runs.create(language="bash", code=f"echo t{i}"), range(6)))
    assert [r.stdout for r in results] == [f"t{i}\n" for i in range(6)]
