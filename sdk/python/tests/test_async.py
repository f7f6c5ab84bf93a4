"""The async client: the same surface, under concurrency, with cancellation."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

import paddock
from paddock import NotFoundError
from support import ADMIN_TOKEN, Server


async def _status(client: paddock.AsyncPaddock, run_id: int, want: str, seconds: float = 20) -> str:
    deadline = time.monotonic() + seconds
    status = (await client.jails.get(run_id)).status
    while status != want and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        status = (await client.jails.get(run_id)).status
    return status


async def test_async_basics_and_streams(aclient: paddock.AsyncPaddock) -> None:
    assert (await aclient.health()).status == "ok"
    assert (await aclient.whoami()).tenant == "acme"
    assert (await aclient.ready()).ready
    assert "***" in repr(aclient) and ADMIN_TOKEN not in repr(aclient)
    result = await aclient.runs.create(language="python", code="print('async')")
    assert result.stdout == "async\n"
    lines = [e.line async for e in aclient.runs.stream(language="bash", code="echo x; echo y") if e.type == "stdout"]
    assert lines == ["x", "y"]
    async with aclient.runs.stream(language="bash", code="echo z", output="chunks") as stream:
        collected = await stream.collect()
    assert collected.stdout == "z\n" and stream.run_id == collected.id
    async with aclient.session(services=["openai"], ttl_secs=60) as session:
        assert (await aclient.sessions.get(session.id)).id == session.id
        out = await aclient.sessions.exec(session.id, cmd="sh", args=["-c", "echo ${OPENAI_API_KEY%%_*}"])
        assert out.stdout == "phm\n"
    with pytest.raises(NotFoundError):
        await aclient.sessions.get(session.id)


async def test_many_runs_at_once(aclient: paddock.AsyncPaddock) -> None:
    started = time.monotonic()
    results = await asyncio.gather(
        *(aclient.runs.create(language="bash", code=f"sleep 0.5; echo {i}") for i in range(8))
    )
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(8)]
    assert len({r.id for r in results}) == 8
    assert time.monotonic() - started < 8, "the runs ran side by side"


async def test_workspaces_and_runtime_concurrently(aclient: paddock.AsyncPaddock, tmp_path: Path) -> None:
    async with aclient.workspace(label="async-ws") as ws:
        assert isinstance(ws, paddock.AsyncWorkspaceHandle)
        await asyncio.gather(*(ws.files.write(f"f{i}.txt", f"{i}" * (i + 1)) for i in range(10)))
        names = [e.name for e in await ws.files.list()]
        assert names == sorted(f"f{i}.txt" for i in range(10))
        outputs = await asyncio.gather(*(ws.processes.run("cat", [f"f{i}.txt"]) for i in range(10)))
        assert [o.stdout for o in outputs] == [f"{i}" * (i + 1) for i in range(10)]
        execs = await asyncio.gather(*(ws.exec("sh", ["-c", f"echo {i} >> log"]) for i in range(4)))
        assert all(r.ok for r in execs)
        assert sorted((await ws.files.read_text("log")).split()) == ["0", "1", "2", "3"]

        proc = await ws.processes.create("sh", ["-c", "for i in 1 2 3; do echo n$i; sleep 0.1; done"])
        chunks = [c async for c in ws.processes.follow(proc.id)]
        assert b"".join(c.data for c in chunks) == b"n1\nn2\nn3\n"
        assert (await ws.processes.logs(proc.id)).text == "n1\nn2\nn3\n"

        shell = await ws.processes.create("sh", tty=True)
        async with ws.processes.terminal(shell.id) as term:
            await term.send("echo async-$((2*21))\n")
            await term.read_until("async-42", timeout=20)
            await term.send("exit 3\n")
            async for _ in term:
                pass
            assert term.exit_code == 3

        big = bytes(range(256)) * 4096
        await ws.files.write("big.bin", big)
        parts = [chunk async for chunk in ws.files.stream("big.bin")]
        assert b"".join(parts) == big
        local = tmp_path / "big.bin"
        await ws.files.download("big.bin", local)
        assert local.read_bytes() == big
        await ws.files.upload(local, "copy.bin")

        async def gen() -> "paddock._io.AsyncIterator[bytes]":  # type: ignore[name-defined]
            for i in range(3):
                yield bytes([65 + i]) * 3

        await ws.files.write("gen.txt", gen())
        assert await ws.files.read_text("gen.txt") == "AAABBBCCC"
        snap = await ws.snapshot("async")
        forks = await ws.fork(2)
        for fork in forks:
            assert (await fork.exec("cat", ["gen.txt"])).stdout == "AAABBBCCC"
            await fork.delete()
        await aclient.snapshots.delete(snap.id)
        assert (await ws.state()).state == "running"
    with pytest.raises(NotFoundError):
        await aclient.workspaces.get(ws.id)


async def test_cancelling_a_task_ends_its_run(aclient: paddock.AsyncPaddock) -> None:
    stream = aclient.runs.stream(language="bash", code="echo up; sleep 60")
    async for event in stream:
        if event.type == "stdout":
            break
    await stream.aclose()
    assert stream.run_id is not None
    assert await _status(aclient, stream.run_id, "cancelled") == "cancelled"

    dropped = None
    async for event in aclient.runs.stream(language="bash", code="echo up; sleep 60"):
        if event.type == "started":
            dropped = event.id
        if event.type == "stdout":
            break  # the stream object is dropped here
    assert dropped is not None
    assert await _status(aclient, dropped, "cancelled") == "cancelled"

    baseline = (await aclient.jails.list(limit=1)).rows[0].id
    task = asyncio.create_task(aclient.runs.create(language="bash", code="sleep 60"))
    deadline = time.monotonic() + 20
    row = None
    while row is None and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        rows = (await aclient.jails.list(kind="run", status="running", limit=5)).rows
        row = next((r for r in rows if r.id > baseline), None)
    assert row is not None, "the run started"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _status(aclient, row.id, "cancelled") == "cancelled"


async def test_async_clients_share_nothing_but_the_server(server: Server) -> None:
    async def one(i: int) -> str:
        async with paddock.AsyncPaddock(server.url, ADMIN_TOKEN) as c:
            return (await c.runs.create(language="bash", code=f"echo c{i}")).stdout

    assert await asyncio.gather(*(one(i) for i in range(4))) == [f"c{i}\n" for i in range(4)]
