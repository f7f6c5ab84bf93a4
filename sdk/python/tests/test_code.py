"""Code kernels through the SDK, sync and async, against the session's real
server and a real ipykernel (the ``python-data`` flavor, built into the
server's state directory with ``paddock flavors install``)."""

from __future__ import annotations

import os
import subprocess

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
