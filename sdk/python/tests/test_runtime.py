"""The runtime of a running workspace: processes, logs, input, terminals,
files and previews."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import time
from pathlib import Path

import pytest

import paddock
from paddock import BadRequestError, ConflictError, NotFoundError, PaddockError


def _wait_exit(ws: paddock.WorkspaceHandle, pid: str, seconds: float = 20) -> paddock.models.ProcessInfo:
    deadline = time.monotonic() + seconds
    info = ws.processes.get(pid)
    while info.status != "exited" and time.monotonic() < deadline:
        time.sleep(0.05)
        info = ws.processes.get(pid)
    return info


def test_process_run_and_config(workspace: paddock.WorkspaceHandle) -> None:
    assert workspace.runtime.health().status == "ok"
    done = workspace.processes.run("sh", ["-c", "echo out; echo err >&2; exit 4"], env={"A": "1"}, cwd="/workspace")
    assert (done.exit_code, done.stdout, done.stderr, done.timed_out) == (4, "out\n", "err\n", False)
    slow = workspace.processes.run("sleep", ["10"], timeout_ms=300)
    assert slow.timed_out and slow.exit_code is None
    cut = workspace.processes.run("sh", ["-c", "head -c 5000 /dev/zero | tr '\\0' x"], max_output_bytes=100)
    assert cut.stdout_truncated and len(cut.stdout) == 100
    config = workspace.processes.config()
    assert config.max_concurrent_processes >= 1
    lowered = workspace.processes.set_config(
        max_concurrent_processes=32,
        default_run_timeout_ms=config.default_run_timeout_ms,
        max_run_timeout_ms=config.max_run_timeout_ms,
        max_output_bytes=config.max_output_bytes,
        max_log_bytes_per_process=config.max_log_bytes_per_process,
        max_input_bytes_per_request=config.max_input_bytes_per_request,
    )
    assert lowered.max_concurrent_processes == 32
    with pytest.raises(PaddockError) as err:
        workspace.processes.run("no-such-program-here")
    assert (err.value.status, err.value.code) == (502, "STREAM_ERROR")


def test_managed_processes_logs_follow_input_stop_kill(workspace: paddock.WorkspaceHandle) -> None:
    proc = workspace.processes.create("sh", ["-c", "for i in 1 2 3; do echo line$i; sleep 0.1; done; echo bad >&2"])
    assert proc.id.startswith("proc_") and proc.status == "running"
    chunks = list(workspace.processes.follow(proc.id))
    assert b"".join(c.data for c in chunks) .count(b"line") == 3
    assert [c.sequence for c in chunks] == sorted(c.sequence for c in chunks)
    info = _wait_exit(workspace, proc.id)
    assert info.exit_code == 0 and info.exited_at_ms is not None
    logs = workspace.processes.logs(proc.id, stream="stdout")
    assert logs.text == "line1\nline2\nline3\n" and logs.process_id == proc.id
    assert workspace.processes.logs(proc.id, stream="stderr").text == "bad\n"
    assert len(workspace.processes.logs(proc.id, tail=1).entries) == 1
    since = workspace.processes.logs(proc.id, since=chunks[0].sequence)
    assert all(c.sequence > chunks[0].sequence for c in since.entries)
    assert proc.id in [p.id for p in workspace.processes.list()]
    workspace.processes.delete(proc.id)
    with pytest.raises(NotFoundError):
        workspace.processes.get(proc.id)

    cat = workspace.processes.create("cat", interactive=True)
    assert workspace.processes.input(cat.id, "hello ").bytes_written == 6
    assert workspace.processes.input(cat.id, b"\x00bytes\n", eof=True).bytes_written == 7
    assert _wait_exit(workspace, cat.id).exit_code == 0
    assert workspace.processes.logs(cat.id).data == b"hello \x00bytes\n"
    with pytest.raises(ConflictError) as exited:
        workspace.processes.input(cat.id, "late")
    assert exited.value.code == "PROCESS_CONFLICT"

    sleeper = workspace.processes.start("sh", ["-c", "sleep 600"])
    with pytest.raises(ConflictError):
        workspace.processes.delete(sleeper.id)
    stopped = workspace.processes.stop(sleeper.id, wait_ms=5000)
    assert stopped.status == "exited"
    killer = workspace.processes.create("sh", ["-c", "trap '' TERM; sleep 600"])
    killed = workspace.processes.kill(killer.id, wait_ms=5000)
    assert killed.status == "exited" and killed.exit_code is None


def test_terminal_over_websocket(workspace: paddock.WorkspaceHandle) -> None:
    shell = workspace.processes.create("sh", tty=True, interactive=True)
    assert shell.tty
    with workspace.processes.terminal(shell.id) as term:
        term.send("stty size; echo ready-$((40+2))\n")
        assert b"ready-42" in term.read_until("ready-42")
        term.resize(100, 30)
        term.send("stty size\n")
        assert b"30 100" in term.read_until("30 100")
        size = workspace.processes.resize(shell.id, cols=120, rows=40)
        assert (size.cols, size.rows) == (120, 40)
        term.send(b"stty size\n")
        assert b"40 120" in term.read_until("40 120")
        term.send("exit 7\n")
        rest = b"".join(term)
        assert isinstance(rest, bytes)
        assert term.exited and term.exit_code == 7
    assert _wait_exit(workspace, shell.id).exit_code == 7
    assert b"ready-42" in workspace.processes.logs(shell.id).data
    with pytest.raises(NotFoundError) as missing:
        with workspace.processes.terminal("proc_999999"):
            pass
    assert missing.value.status == 404 and missing.value.code == "NOT_FOUND"


def test_files_roundtrip(workspace: paddock.WorkspaceHandle, tmp_path: Path) -> None:
    files = workspace.files
    assert files.write("docs/a.txt", "text é").bytes_written == len("text é".encode())
    assert files.read_text("docs/a.txt") == "text é"
    big = os.urandom(3 * 1024 * 1024 + 17)
    assert files.write("docs/big.bin", io.BytesIO(big)).bytes_written == len(big)
    assert files.read("/workspace/docs/big.bin") == big
    assert b"".join(files.stream("docs/big.bin")) == big
    local = tmp_path / "local.bin"
    local.write_bytes(big[:1000])
    assert files.upload(local, "docs/up.bin").path == "/workspace/docs/up.bin"
    with open(local, "rb") as handle:
        files.upload(handle, "docs/up2.bin")
    files.write("docs/gen.bin", (bytes([i]) * 10 for i in range(5)))
    assert files.read("docs/gen.bin") == b"".join(bytes([i]) * 10 for i in range(5))
    out = tmp_path / "down.bin"
    assert files.download("docs/big.bin", out) == len(big) and out.read_bytes() == big
    sink = io.BytesIO()
    files.download("docs/up2.bin", sink)
    assert sink.getvalue() == big[:1000]

    entries = files.list("docs")
    assert [e.name for e in entries] == sorted(["a.txt", "big.bin", "up.bin", "up2.bin", "gen.bin"])
    assert files.entries("/workspace/docs") == entries
    stat = files.stat("docs/big.bin")
    assert stat.entry_type == "file" and stat.size == len(big) and stat["entryType"] == "file"
    assert files.mkdir("docs/sub").path == "/workspace/docs/sub"
    assert files.stat("docs/sub").entry_type == "directory"
    moved = files.move("docs/a.txt", "docs/sub/a.txt")
    assert (moved.from_, moved.to) == ("/workspace/docs/a.txt", "/workspace/docs/sub/a.txt")
    files.write("docs/other.txt", "x")
    with pytest.raises(BadRequestError) as exists:
        files.move("docs/other.txt", "docs/sub/a.txt")
    assert exists.value.code == "PATH_EXISTS"
    files.move("docs/other.txt", "docs/sub/a.txt", overwrite=True)
    assert files.read_text("docs/sub/a.txt") == "x"
    assert files.exists("docs/sub/a.txt") and not files.exists("docs/nothing")
    with pytest.raises(BadRequestError) as missing:
        files.read("docs/nothing")
    assert (missing.value.status, missing.value.code) == (400, "PATH_NOT_FOUND")
    with pytest.raises(BadRequestError) as outside:
        files.read("/etc/passwd")
    assert outside.value.code == "BAD_PATH"
    with pytest.raises(PaddockError) as not_empty:
        files.delete("docs/sub")
    assert (not_empty.value.status, not_empty.value.code) == (502, "STREAM_ERROR")
    assert files.delete("docs/sub", recursive=True).path == "/workspace/docs/sub"
    assert not files.exists("docs/sub")
    # The files are the workspace's: an exec sees them.
    digest = workspace.exec("sha256sum", ["docs/up.bin"]).stdout.split()[0]
    assert digest == hashlib.sha256(big[:1000]).hexdigest()


def test_tar_upload_and_download(workspace: paddock.WorkspaceHandle, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in (("t/one.txt", b"1"), ("t/two/three.txt", b"33")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    uploaded = workspace.files.upload_tar("tars", buffer.getvalue())
    assert "/workspace/tars/t/two/three.txt" in uploaded.paths and not uploaded.truncated
    buffer.seek(0)
    workspace.files.upload_tar("tars2", buffer)
    assert workspace.files.read_text("tars2/t/one.txt") == "1"

    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "mod.py").write_text("print('from a dir')\n")
    (src / "top.txt").write_text("top")
    workspace.files.upload_dir(src, "project")
    assert workspace.processes.run("python3", ["project/pkg/mod.py"]).stdout == "from a dir\n"

    archive = workspace.files.download_tar("project")
    assert isinstance(archive, bytes)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        assert sorted(m.name for m in tar.getmembers() if m.isfile()) == ["pkg/mod.py", "top.txt"]
    target = tmp_path / "project.tar"
    assert workspace.files.download_tar("project", target) == target.stat().st_size
    out = tmp_path / "out"
    out.mkdir()
    names = workspace.files.download_dir("project", out)
    assert "pkg/mod.py" in names and (out / "top.txt").read_text() == "top"
    with pytest.raises(BadRequestError) as bad:
        workspace.files.upload_tar("x", b"not a tar at all" * 64)
    assert bad.value.code == "BAD_ARCHIVE"


def test_previews(client: paddock.Paddock, workspace: paddock.WorkspaceHandle) -> None:
    workspace.files.write("site/index.html", "<h1>preview works</h1>")
    server = workspace.processes.create("python3", ["-m", "http.server", "8123", "--bind", "127.0.0.1", "-d", "site"])
    try:
        preview = workspace.preview(8123)
        assert preview.id.startswith("prv_") and preview.port == 8123 and preview.state == "active"
        assert preview.access_url and "paddock_token=" in preview.access_url
        assert "paddock_token" not in repr(preview)
        deadline = time.monotonic() + 20
        while True:
            answer = client.previews.request(workspace.id, 8123, "/index.html")
            if answer.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert answer.status_code == 200 and "preview works" in answer.text
        public = client.previews.create(workspace.id, port=8123, public=True, ttl_secs=600)
        assert public.public and public.expires_at and public.access_url is None
        listed = workspace.previews()
        assert [p.id for p in listed][:2] == [public.id, preview.id]
        assert {p.id: p.state for p in listed}[preview.id] == "revoked", "one active preview per port"
        client.previews.revoke(workspace.id, public.id)
        assert {p.id: p.state for p in client.previews.list(workspace.id)}[public.id] == "revoked"
        with pytest.raises(BadRequestError) as bad_port:
            client.previews.create(workspace.id, port=70000)
        assert bad_port.value.code == "BAD_PORT"
    finally:
        workspace.processes.kill(server.id)
