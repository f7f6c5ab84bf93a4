"""The same SDK against a server on PostgreSQL (a fresh database on the
server ``PADDOCK_TEST_POSTGRES_URL`` names; scripts/test starts one).

Without that variable the test fails: set ``PADDOCK_TEST_SKIP_POSTGRES=1``
to leave it out on purpose (it is then reported as skipped, with why)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from typing import Iterator

import pytest

import paddock
from support import ADMIN_TOKEN, Server


def _psql(url: str, sql: str) -> None:
    psql = shutil.which("psql")
    assert psql, "psql (the PostgreSQL client) is needed to make the test database"
    done = subprocess.run([psql, url, "-v", "ON_ERROR_STOP=1", "-qc", sql], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def pg_server() -> Iterator[Server]:
    admin_url = os.environ.get("PADDOCK_TEST_POSTGRES_URL")
    if not admin_url:
        if os.environ.get("PADDOCK_TEST_SKIP_POSTGRES") == "1":
            pytest.skip("PADDOCK_TEST_SKIP_POSTGRES=1: the PostgreSQL run was left out on purpose")
        pytest.fail(
            "PADDOCK_TEST_POSTGRES_URL is not set: the PostgreSQL run needs a server "
            "(bash scripts/test starts one; PADDOCK_TEST_SKIP_POSTGRES=1 leaves it out)"
        )
    name = f"paddock_pysdk_{os.getpid()}"
    _psql(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    _psql(admin_url, f"CREATE DATABASE {name}")
    base = admin_url.rsplit("/", 1)[0]
    try:
        srv = Server(database_url=f"{base}/{name}")
        try:
            yield srv
        finally:
            srv.stop()
    finally:
        _psql(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_everything_once_on_postgres(pg_server: Server) -> None:
    with paddock.Paddock(pg_server.url, ADMIN_TOKEN) as client:
        assert client.ready().checks.database.backend == "postgres"
        assert client.config().database == "postgres"
        client.credentials.put(service="openai", secret="sk-pg")
        with client.session(services=["openai"], ttl_secs=60) as session:
            assert client.sessions.get(session.id).env == session.env
        result = client.runs.create(language="python", code="print('pg')")
        assert result.stdout == "pg\n" and client.jails.get(result.id).status == "completed"
        stream = client.runs.stream(language="bash", code="echo s; sleep 60")
        for event in stream:
            if event.type == "stdout":
                break
        assert stream.cancel().cancelled
        stream.close()
        with client.workspace(label="pg") as ws:
            ws.files.write("a.txt", "on postgres")
            assert ws.exec("cat", ["a.txt"]).stdout == "on postgres"
            proc = ws.processes.create("sh", ["-c", "echo managed"])
            assert b"managed" in b"".join(c.data for c in ws.processes.follow(proc.id))
            snap = ws.snapshot("pg")
            restored = client.snapshots.create_workspace_from(snap.id)
            assert client.workspaces.exec(restored.id, cmd="cat", args=["a.txt"]).stdout == "on postgres"
            client.workspaces.delete(restored.id)
            preview = ws.preview(8080)
            assert [p.id for p in ws.previews()] == [preview.id]
        assert client.audit.actions(limit=100).total > 0
        key = client.keys.create(tenant="pg", role="operator")
        client.keys.revoke(key.id)

    async def concurrent() -> None:
        async with paddock.AsyncPaddock(pg_server.url, ADMIN_TOKEN) as aclient:
            results = await asyncio.gather(*(aclient.runs.create(language="bash", code=f"echo {i}") for i in range(6)))
            assert [r.stdout for r in results] == [f"{i}\n" for i in range(6)]

    asyncio.run(concurrent())
