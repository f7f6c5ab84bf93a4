"""Health, identity, keys, credentials, errors, timeouts, environment, repr."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

import paddock
from paddock import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PaddockError,
    PermissionDeniedError,
)
from support import ADMIN_TOKEN, OTHER_TOKEN, Server


def test_health_readiness_stats_and_identity(client: paddock.Paddock) -> None:
    health = client.health()
    assert health.status == "ok" and health.version
    assert client.healthz() == "ok"
    ready = client.ready()
    assert ready.ready is True
    assert ready.checks.database.ok and ready.checks.database.backend == "sqlite"
    assert ready.checks.jail_engine.ok
    stats = client.stats()
    assert stats.total_execs >= 0
    assert "paddock_" in client.metrics()  # an admin key
    who = client.whoami()
    assert (who.tenant, who.role) == ("acme", "admin")
    assert isinstance(client.flavors(), list)
    settings = client.config()
    assert any(p.service_id == "openai" for p in settings.proxy.providers)
    assert settings.database == "sqlite"
    assert client.settings.get().proxy.base_url == settings.proxy.base_url
    doc = client.openapi()
    assert doc["openapi"].startswith("3.")


def test_metrics_need_an_admin_key(other: paddock.Paddock) -> None:
    # Counters of every tenant: an operator's key is refused.
    with pytest.raises(PermissionDeniedError):
        other.metrics()


def test_environment_variables_configure_the_client(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PADDOCK_URL", server.url)
    monkeypatch.setenv("PADDOCK_API_KEY", OTHER_TOKEN)
    with paddock.Paddock() as env_client:
        assert env_client.base_url == server.url
        assert env_client.whoami().tenant == "other"
    monkeypatch.delenv("PADDOCK_API_KEY")
    monkeypatch.setenv("AGENTJAIL_API_KEY", ADMIN_TOKEN)
    with paddock.Paddock() as env_client:
        assert env_client.whoami().tenant == "acme"
    with pytest.raises(ValueError):
        paddock.Paddock("ftp://nope")


def test_reprs_never_show_secrets(client: paddock.Paddock) -> None:
    text = repr(client) + str(client)
    assert ADMIN_TOKEN not in text and "***" in text
    session = client.sessions.create(services=["openai"], ttl_secs=60)
    try:
        token = session.env["OPENAI_API_KEY"]
        assert token.startswith("phm_")
        for shown in (repr(session), str(session), f"{session}", repr([session])):
            assert token not in shown
        assert session.env["OPENAI_BASE_URL"] in repr(session)
    finally:
        client.sessions.close(session.id)
    key = client.keys.create(tenant="acme", role="operator", label="repr")
    try:
        assert key.token not in repr(key) and key.token not in str(key)
        assert key.token and key["token"] == key.token
    finally:
        client.keys.revoke(key.id)


def test_keys_create_list_revoke(client: paddock.Paddock, server: Server) -> None:
    key = client.keys.create(tenant="keys-test", role="operator", label="ci")
    assert key.role == "operator" and key.tenant == "keys-test"
    with paddock.Paddock(server.url, key.token) as scoped:
        assert scoped.whoami().tenant == "keys-test"
        with pytest.raises(PermissionDeniedError) as denied:
            scoped.keys.create(tenant="keys-test", role="admin")
        assert denied.value.status == 403 and denied.value.code == "FORBIDDEN"
        listed = [k.id for k in client.keys.list()]
        assert key.id in listed
        client.keys.revoke(key.id)
        with pytest.raises(AuthenticationError) as revoked:
            scoped.whoami()
        assert revoked.value.status == 401 and revoked.value.code == "UNAUTHORIZED"


def test_credentials_put_list_delete(client: paddock.Paddock) -> None:
    record = client.credentials.put(service="anthropic", secret="sk-ant-test-secret")
    assert record.service == "anthropic" and record.fingerprint
    assert "sk-ant-test-secret" not in repr(record)
    assert "anthropic" in [c.service for c in client.credentials.list()]
    client.credentials.delete("anthropic")
    assert "anthropic" not in [c.service for c in client.credentials.list()]
    with pytest.raises(BadRequestError) as err:
        client.credentials.put(service="openai", secret="")
    assert err.value.code == "EMPTY_SECRET"


def test_errors_carry_code_status_and_request_id(client: paddock.Paddock, other: paddock.Paddock) -> None:
    with pytest.raises(NotFoundError) as missing:
        client.workspaces.get("wrk_doesnotexist")
    err = missing.value
    assert (err.status, err.code, err.category) == (404, "NOT_FOUND", "NOT_FOUND")
    assert err.request_id and err.request_id.startswith("py_")
    assert err.method == "GET" and err.path == "/v1/workspaces/wrk_doesnotexist"
    assert "NOT_FOUND" in str(err)
    assert isinstance(err, PaddockError) and isinstance(err, paddock.AgentjailError)

    with pytest.raises(BadRequestError) as lang:
        client.runs.create(language="cobol", code="x")
    assert (lang.value.status, lang.value.code) == (400, "BAD_LANGUAGE")

    with pytest.raises(BadRequestError) as shape:
        client.sessions.create(services=[])
    assert shape.value.code == "NO_SERVICES"

    with pytest.raises(ConflictError) as finished:
        run = client.runs.create(language="bash", code="true")
        client.runs.cancel(run.id)
    assert (finished.value.status, finished.value.code) == (409, "RUN_FINISHED")

    # Another tenant's objects are not found.
    ws = client.workspaces.create(label="tenant-check")
    try:
        with pytest.raises(NotFoundError):
            other.workspaces.get(ws.id)
    finally:
        client.workspaces.delete(ws.id)

    with pytest.raises(AuthenticationError) as bad_key:
        with paddock.Paddock(client.base_url, "not-a-key-but-long-enough") as anon:
            anon.whoami()
    assert bad_key.value.code == "UNAUTHORIZED"


def test_a_client_timeout_raises_and_ends_the_run(client: paddock.Paddock, server: Server) -> None:
    # A jail call waits for the jail's deadline + 30 s; with_options(timeout) is kept exactly.
    short = client.with_options(timeout=1.0)
    started = time.monotonic()
    with pytest.raises(APITimeoutError) as err:
        short.runs.create(language="bash", code="sleep 30", timeout_secs=40)
    assert time.monotonic() - started < 10
    assert err.value.status == 0 and err.value.code == "TIMEOUT"
    assert isinstance(err.value, TimeoutError)
    assert client.whoami().tenant == "acme", "the shared connection pool still works"
    # The server notices the closed connection and cancels the jail.
    deadline = time.monotonic() + 20
    while True:
        rows = client.jails.list(q="bash", limit=5).rows
        row = next(r for r in rows if r.config.get("language") == "bash")
        if row.status != "running" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert row.status == "cancelled"


def test_no_server_is_a_connection_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with paddock.Paddock(f"http://127.0.0.1:{port}", "k" * 20, timeout=5) as nowhere:
        with pytest.raises(APIConnectionError) as err:
            nowhere.whoami()
    assert err.value.status == 0 and err.value.code == "NETWORK"
    assert isinstance(err.value, ConnectionError)


def test_custom_transport_and_headers(server: Server) -> None:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> None:
        seen.append(request)

    with httpx.Client(event_hooks={"request": [record]}) as http_client:
        with paddock.Paddock(server.url, ADMIN_TOKEN, http_client=http_client, headers={"x-request-id": "mine-1"}) as c:
            assert c.whoami().tenant == "acme"
    assert seen and seen[0].headers["x-request-id"] == "mine-1"
    assert seen[0].headers["authorization"] == f"Bearer {ADMIN_TOKEN}"
    assert seen[0].headers["user-agent"].startswith("paddock-python/")


def test_connections_that_cannot_be_made_are_retried() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    attempts: list[str] = []
    with httpx.Client(event_hooks={"request": [lambda r: attempts.append(r.method)]}) as http_client:
        retrying = paddock.Paddock(
            f"http://127.0.0.1:{port}", "k" * 20, http_client=http_client,
            retry=paddock.Retry(retries=2, base_delay=0.01, jitter=False),
        )
        with pytest.raises(APIConnectionError):
            retrying.whoami()
        assert attempts == ["GET", "GET", "GET"]
        attempts.clear()
        with pytest.raises(APIConnectionError):
            retrying.runs.create(code="1")
        assert attempts == ["POST"] * 3, "nothing was sent: a POST may go again"
        attempts.clear()
        with pytest.raises(APIConnectionError):
            retrying.with_options(retry=False).whoami()
        assert attempts == ["GET"], "retry=False turns it off"
