"""Code kernels through the SDK, sync and async, against the session's real
server and a real ipykernel (the ``python-data`` flavor, built into the
server's state directory with ``paddock flavors install``)."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

import paddock
from support import Server, paddock_binary


@pytest.fixture(scope="module")
def flavored(server: Server) -> Server:
    subprocess.run(
        [paddock_binary(), "flavors", "install", "python-data", "--state-dir", os.path.join(server.tmp.name, "state")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return server


def test_run_code_keeps_state_and_gives_tables_and_errors(flavored: Server, client: paddock.Paddock) -> None:
    ws = client.workspaces.create(flavors=["python-data"])
    try:
        first = client.workspaces.run_code(ws.id, "python", "import pandas as pd\nx = 41", env={"A": "1"})
        assert first.exit_code == 0 and first.kernel.started
        second = client.workspaces.run_code(ws.id, "python", "x + 1")
        assert second.results == [{"type": "text", "value": "42"}]
        frame = client.workspaces.run_code(ws.id, "python", "pd.DataFrame({'a': [1, 2]}).describe()").results[0]
        assert frame["type"] == "dataframe" and len(frame["rows"]) == 8
        raised = client.workspaces.run_code(ws.id, "python", "1/0")
        assert raised.exit_code == 1 and raised.error is not None and raised.error.name == "ZeroDivisionError"
        spun = client.workspaces.run_code(ws.id, "python", "while True: pass", timeout_ms=500)
        assert spun.exit_code == 124
        kernels = client.kernels.list(ws.id)
        assert [k.id for k in kernels] == [first.kernel.id]
        fresh = client.kernels.restart(ws.id, first.kernel.id)
        assert fresh.id != first.kernel.id
        assert client.workspaces.run_code(ws.id, "python", "'x' in dir()").results == [{"type": "text", "value": "False"}]
        client.kernels.interrupt(ws.id, fresh.id)
        client.kernels.shutdown(ws.id, fresh.id)
        assert client.kernels.list(ws.id) == []
    finally:
        client.workspaces.delete(ws.id)


async def test_run_code_async(flavored: Server, aclient: paddock.AsyncPaddock) -> None:
    ws = await aclient.workspaces.create(flavors=["python-data"])
    try:
        result = await aclient.workspaces.run_code(ws.id, "bash", "echo $((6 * 7))", session_id="async")
        assert (result.exit_code, result.stdout) == (0, "42\n")
    finally:
        await aclient.workspaces.delete(ws.id)


def test_streams_and_calls_without_a_workspace(flavored: Server, client: paddock.Paddock) -> None:
    ws = client.workspaces.create(flavors=["python-data"])
    try:
        stream = client.workspaces.run_code_stream(
            ws.id, "python", "print('a', flush=True)\nfrom IPython.display import HTML\nHTML('<b>b</b>')"
        )
        events = list(stream)
        assert [e.type for e in events] == ["started", "stdout", "result", "completed"]
        assert events[0].kernel is not None and events[0].kernel.started
        assert events[1].text == "a\n"
        assert events[2].part == {"type": "html", "value": "<b>b</b>"}
        assert stream.result is not None and stream.result.stdout == "a\n"
        bad = client.workspaces.run_code_stream(ws.id, "python", "1/0").collect()
        assert bad.exit_code == 1 and bad.error is not None and bad.error.name == "ZeroDivisionError"
    finally:
        client.workspaces.delete(ws.id)
    once = client.code.run("python", "y = 2\ny * 21")
    assert once.results == [{"type": "text", "value": "42"}] and once.workspace_id
    # Deleted right after the answer.
    deadline = time.monotonic() + 10
    while True:
        try:
            client.workspaces.get(once.workspace_id)
        except paddock.NotFoundError:
            break
        assert time.monotonic() < deadline, "a one-call workspace outlived its call"
        time.sleep(0.05)
    client.code.run("python", "z = 5", session_id="py-sdk")
    again = client.code.stream("python", "z + 1", session_id="py-sdk").collect()
    assert again.results == [{"type": "text", "value": "6"}]
    client.code.end_session("py-sdk")
    with pytest.raises(paddock.NotFoundError):
        client.workspaces.get(again.workspace_id or "")


async def test_code_without_a_workspace_async(flavored: Server, aclient: paddock.AsyncPaddock) -> None:
    result = await aclient.code.run("bash", "echo $((6 * 7))")
    assert (result.exit_code, result.stdout) == (0, "42\n")
    events = [event async for event in aclient.code.stream("bash", "echo hi")]
    assert [e.type for e in events] == ["started", "stdout", "completed"]
