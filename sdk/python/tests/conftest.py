"""Fixtures: one real ``paddock serve`` (SQLite) for the session, a fake
OpenAI-compatible upstream behind its phantom proxy, and clients."""

from __future__ import annotations

from typing import AsyncIterator, Iterator

import pytest

import paddock
from support import ADMIN_TOKEN, OTHER_TOKEN, UPSTREAM_SECRET, FakeModel, Server, stop_all


@pytest.fixture(scope="session")
def fake_model() -> Iterator[FakeModel]:
    model = FakeModel()
    yield model
    model.stop()


@pytest.fixture(scope="session")
def server(fake_model: FakeModel) -> Iterator[Server]:
    srv = Server(args=["--service", f"openai={fake_model.url}"])
    try:
        client = paddock.Paddock(srv.url, ADMIN_TOKEN)
        client.credentials.put(service="openai", secret=UPSTREAM_SECRET)
        client.close()
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def client(server: Server) -> Iterator[paddock.Paddock]:
    with paddock.Paddock(server.url, ADMIN_TOKEN) as c:
        yield c


@pytest.fixture(scope="session")
def other(server: Server) -> Iterator[paddock.Paddock]:
    with paddock.Paddock(server.url, OTHER_TOKEN) as c:
        yield c


@pytest.fixture
async def aclient(server: Server) -> AsyncIterator[paddock.AsyncPaddock]:
    async with paddock.AsyncPaddock(server.url, ADMIN_TOKEN) as c:
        yield c


@pytest.fixture(scope="session")
def workspace(client: paddock.Paddock) -> Iterator[paddock.WorkspaceHandle]:
    """One workspace shared by the runtime tests (deleted at the end)."""
    with client.workspace(label="py-sdk-shared") as ws:
        yield ws


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    stop_all()


