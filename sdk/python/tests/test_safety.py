"""download_dir keeps to its folder (with and without tarfile.data_filter),
calls keep the client's deadline, and other review fixes."""

from __future__ import annotations

import io
import os
import secrets
import tarfile
from pathlib import Path
from typing import Callable, Iterator

import pytest

import paddock
from paddock import ProtocolError
from paddock._shared import safe_extract


@pytest.fixture(params=["data_filter", "fallback"])
def tar_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "fallback":
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    elif not hasattr(tarfile, "data_filter"):
        pytest.skip("this Python has no tarfile.data_filter")
    return str(request.param)


def _tar(*members: tarfile.TarInfo, data: bytes = b"x") -> tarfile.TarFile:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for info in members:
            if info.isfile():
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    buffer.seek(0)
    return tarfile.open(fileobj=buffer, mode="r")


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def test_download_dir_refuses_links_out_of_the_folder(
    workspace: paddock.WorkspaceHandle, tmp_path: Path, tar_mode: str
) -> None:
    victim = f"/tmp/victim-{secrets.token_hex(4)}"
    folder = f"escape-{secrets.token_hex(4)}"
    workspace.processes.run("sh", ["-c", f"mkdir -p {folder}/out && echo ok > {folder}/out/ok.txt && ln -s {victim} {folder}/out/d"])
    out = tmp_path / "out"
    # The first download refuses the archive before writing anything.
    with pytest.raises(ProtocolError, match="'d'"):
        workspace.files.download_dir(f"{folder}/out", out)
    assert not os.path.lexists(out / "d") and not (out / "ok.txt").exists()
    assert not os.path.lexists(victim)
    workspace.processes.run("sh", ["-c", f"mkdir -p {victim} && echo planted > {folder}/out/d/planted"])
    with pytest.raises(ProtocolError):
        workspace.files.download_dir(f"{folder}/out", out)
    assert not os.path.lexists(victim) and not os.path.lexists(out / "d")


def test_safe_extract_refuses_escapes(tmp_path: Path, tar_mode: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    file_through_link = tarfile.TarInfo("d/planted")
    attacks = [
        [_link("d", str(outside)), file_through_link],
        [_link("d", "../outside"), file_through_link],
        [_link("h", str(outside / "x"), tarfile.LNKTYPE)],
        [tarfile.TarInfo("../up.txt")],
        [tarfile.TarInfo("/abs.txt")],
    ]
    for members in attacks:
        with _tar(*members) as archive, pytest.raises(ProtocolError):
            safe_extract(archive, str(dest))
        assert list(outside.iterdir()) == [] and not (tmp_path / "up.txt").exists()
        assert not dest.exists() or list(dest.iterdir()) == []
    # A link that escapes only through links written before it.
    chained = [_link("a", "."), _link("a/b", ".."), _link("a/b/c", "outside"), tarfile.TarInfo("a/b/c/z")]
    with _tar(*chained) as archive, pytest.raises(ProtocolError):
        safe_extract(archive, str(tmp_path / "chained"))
    assert list(outside.iterdir()) == []
    # A link already in the destination is never written through.
    os.symlink(outside, dest / "d")
    with _tar(tarfile.TarInfo("d/planted")) as archive, pytest.raises(ProtocolError):
        safe_extract(archive, str(dest))
    assert list(outside.iterdir()) == []
    # Plain files and directories extract.
    plain = tmp_path / "plain"
    with _tar(tarfile.TarInfo("a/b.txt")) as archive:
        assert safe_extract(archive, str(plain)) == ["a/b.txt"]
    assert (plain / "a" / "b.txt").read_bytes() == b"x"
    # Links inside the folder: kept with data_filter, refused without it.
    inner = tmp_path / "inner"
    with _tar(tarfile.TarInfo("f.txt"), _link("l", "f.txt")) as archive:
        if tar_mode == "data_filter":
            safe_extract(archive, str(inner))
            assert (inner / "l").read_bytes() == b"x"
        else:
            with pytest.raises(ProtocolError, match="links are refused"):
                safe_extract(archive, str(inner))


class StallingServer:
    """A TCP server that accepts connections, reads, and never answers."""

    def __init__(self) -> None:
        import socket
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def stalling() -> "Iterator[StallingServer]":
    server = StallingServer()
    yield server
    server.close()


def test_calls_keep_the_client_deadline(stalling: StallingServer) -> None:
    import time

    client = paddock.Paddock(stalling.url, "k" * 20, timeout=0.5)
    ws = client.workspaces.handle("wrk_1")
    rt = client.workspaces.runtime("wrk_1")
    fixed = client.with_options(timeout=0.5)
    calls: "list[Callable[[], object]]" = [
        lambda: client.workspaces.delete("wrk_1"),
        ws.start, ws.stop, ws.pause, ws.resume,
        rt.health,
        lambda: rt.processes.create("sleep", ["1"]),
        rt.processes.list,
        lambda: rt.processes.input("proc_1", "x"),
        lambda: rt.files.list("."),
        lambda: rt.files.read("a.txt"),
        lambda: rt.files.write("a.txt", "data"),
        lambda: rt.files.upload_tar("d", b"\0" * 1024),
        # Slow but bounded work waits 300 s by default; with_options keeps exactly its deadline.
        lambda: fixed.workspaces.snapshot("wrk_1"),
        lambda: fixed.workspaces.fork("wrk_1", count=1),
        lambda: fixed.workspaces.create(label="x"),
    ]
    try:
        for call in calls:
            started = time.monotonic()
            with pytest.raises(paddock.APITimeoutError):
                call()
            assert time.monotonic() - started < 3
    finally:
        client.close()


async def test_async_calls_keep_the_client_deadline(stalling: StallingServer) -> None:
    import time

    async with paddock.AsyncPaddock(stalling.url, "k" * 20, timeout=0.5) as client:
        started = time.monotonic()
        with pytest.raises(paddock.APITimeoutError):
            await client.workspaces.runtime("wrk_1").processes.list()
        assert time.monotonic() - started < 3


def test_terminal_failures_are_paddock_errors(workspace: paddock.WorkspaceHandle, stalling: StallingServer) -> None:
    import socket
    import threading

    from websockets.sync.server import ServerConnection, serve

    # A read that sees nothing in time: APITimeoutError (also a TimeoutError).
    shell = workspace.processes.create("sh", tty=True, interactive=True)
    with workspace.processes.terminal(shell.id) as term:
        with pytest.raises(paddock.APITimeoutError):
            term.read_until("never-printed-marker", timeout=0.5)
        with pytest.raises(paddock.APITimeoutError):
            term.recv(timeout=0.2)
    workspace.processes.kill(shell.id)
    # A server that never completes the handshake: APITimeoutError.
    rt = paddock.Paddock(stalling.url, "k" * 20).workspaces.runtime("wrk_1")
    with pytest.raises(paddock.APITimeoutError):
        rt.processes.terminal("proc_1", open_timeout=0.5).connect()
    # Nothing listening: APIConnectionError.
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    with pytest.raises(paddock.APIConnectionError):
        paddock.Paddock(f"http://127.0.0.1:{port}", "k" * 20).workspaces.runtime("w").processes.terminal("p").connect()

    # A socket dropped without a close frame is an error, not the end.
    def handler(conn: ServerConnection) -> None:
        conn.send('{"type": "ready"}')
        conn.socket.shutdown(socket.SHUT_RDWR)
        conn.socket.close()

    with serve(handler, "127.0.0.1", 0) as ws_server:
        threading.Thread(target=ws_server.serve_forever, daemon=True).start()
        ws_port = ws_server.socket.getsockname()[1]
        rt = paddock.Paddock(f"http://127.0.0.1:{ws_port}", "k" * 20).workspaces.runtime("w")
        with rt.processes.terminal("p") as dropped:
            with pytest.raises(paddock.APIConnectionError, match="abnormally"):
                dropped.recv(timeout=5)
        ws_server.shutdown()


def test_workspace_block_ignores_a_workspace_already_deleted(client: paddock.Paddock) -> None:
    with client.workspace(label="deleted-inside") as ws:
        client.workspaces.delete(ws.id)
    with client.workspace(label="stopped-deleted", on_exit="stop") as ws:
        client.workspaces.delete(ws.id)


async def test_async_workspace_block_ignores_a_workspace_already_deleted(aclient: paddock.AsyncPaddock) -> None:
    async with aclient.workspace(label="deleted-inside-async") as ws:
        await aclient.workspaces.delete(ws.id)


async def test_dropped_streams_close_in_kept_tasks(aclient: paddock.AsyncPaddock) -> None:
    import asyncio
    import gc

    from paddock import _io

    stream = aclient.runs.stream(language="bash", code="echo one; sleep 30")
    async for event in stream:
        if event.type == "started":
            break
    del stream, event
    gc.collect()
    assert _io._CLOSING, "the closing task is kept until it is done"
    for _ in range(100):
        if not _io._CLOSING:
            break
        await asyncio.sleep(0.05)
    assert not _io._CLOSING
