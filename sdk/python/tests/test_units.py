"""The pieces without a server: SSE parsing, events, error mapping, retries,
models. (Everything else runs against a real server.)"""

from __future__ import annotations

import httpx
import pytest

import paddock
from paddock import errors
from paddock._shared import Retry, SseParser, api_error, clean, resolve_retry, retry_after, should_retry, to_event
from paddock.models import ExecResult, Session


def test_sse_parser_handles_any_line_ends_and_splits() -> None:
    text = "event: stdout\r\ndata: a\r\n\r\n: keep-alive\n\nevent: stdout\ndata\n\nevent: x\rdata: 1\rdata: 2\r\r"
    for size in (1, 2, 3, 7, len(text)):
        parser = SseParser()
        out = []
        for i in range(0, len(text), size):
            out += parser.push(text[i : i + size])
        assert [(e, d) for e, d, _ in out] == [("stdout", "a"), ("stdout", ""), ("x", "1\n2")], size
    parser = SseParser()
    assert parser.push("id: 7\nevent: log\ndata: {}\n\n") == [("log", "{}", "7")]
    assert parser.push("data: unterminated") == []


def test_events_lines_chunks_and_json() -> None:
    assert to_event("stdout", "hi", "lines", "t") == paddock.StreamEvent(type="stdout", line="hi")
    chunk = to_event("stderr", '{"base64": "/w=="}', "chunks", "t")
    assert chunk is not None and chunk.data == b"\xff" and chunk.output == "\ufffd"
    text = to_event("stdout", '{"text": "é"}', "chunks", "t")
    assert text is not None and text.data == "é".encode() and text.text == "é"
    with pytest.raises(errors.ProtocolError):
        to_event("stdout", "not json", "chunks", "t")
    done = to_event("completed", '{"id": 3, "exit_code": 0, "duration_ms": 5, "timed_out": false, "oom_killed": false,'
                    ' "stdout_truncated": false, "stderr_truncated": false, "cancelled": false}', "lines", "t")
    assert done is not None and done.exit_code == 0 and done["duration_ms"] == 5
    assert done.result(stdout="x\n").stdout == "x\n"
    failed = to_event("error", '{"message": "killed", "code": "SHUTTING_DOWN"}', "lines", "t")
    assert failed is not None and failed.code == "SHUTTING_DOWN"
    assert to_event("future-event", "{}", "lines", "t") is None


def test_error_answers_become_typed_exceptions() -> None:
    request = httpx.Request("GET", "http://x/v1/sessions/s")
    cases = [
        (400, errors.BadRequestError), (401, errors.AuthenticationError), (403, errors.PermissionDeniedError),
        (404, errors.NotFoundError), (409, errors.ConflictError), (413, errors.BadRequestError),
        (422, errors.BadRequestError), (429, errors.RateLimitError), (500, errors.ServerError),
        (502, errors.ServerError), (503, errors.UnavailableError), (504, errors.APITimeoutError),
        (507, errors.InsufficientStorageError),
    ]
    for status, cls in cases:
        response = httpx.Response(status, json={"error": "why", "code": "SOME_CODE"}, request=request,
                                  headers={"x-request-id": "req_1", "retry-after": "2"})
        err = api_error(response, response.content, "GET", "/v1/sessions/s")
        assert type(err) is cls and err.status == status and err.code == "SOME_CODE"
        assert err.message == "why" and err.request_id == "req_1" and err.retry_after == 2.0
    problem = httpx.Response(400, json={"type": "urn:sandbox-agent:error:invalid_request", "title": "Invalid",
                                        "status": 400, "detail": "path not found", "code": "PATH_NOT_FOUND"},
                             request=request)
    err = api_error(problem, problem.content, "GET", "/p")
    assert err.code == "PATH_NOT_FOUND" and err.message == "path not found"
    plain = httpx.Response(502, text="bad gateway", request=request)
    err = api_error(plain, plain.content, "GET", "/p")
    assert err.code == "SERVER_ERROR" and err.message == "bad gateway"
    assert "SERVER_ERROR" in repr(err)


def test_retry_policy() -> None:
    assert resolve_retry(None) is None and resolve_retry(False) is None and resolve_retry(0) is None
    assert resolve_retry(True) == Retry() and resolve_retry(2) == Retry(retries=2)
    policy = Retry(base_delay=1, max_delay=5, jitter=False)
    assert [policy.delay(i, None) for i in range(4)] == [1, 2, 4, 5]
    assert policy.delay(0, 30) is None and policy.delay(0, 5) == 5 and policy.delay(0, 0.5) == 0.5
    assert should_retry("POST", 429, "TOO_MANY_REQUESTS")
    assert should_retry("POST", 503, "DATABASE_UNAVAILABLE")
    assert not should_retry("POST", 503, "UNAVAILABLE") and should_retry("GET", 503, "UNAVAILABLE")
    assert not should_retry("GET", 503, "SHUTTING_DOWN") and not should_retry("GET", 500, "INTERNAL")
    when = httpx.Response(429, headers={"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert retry_after(when) == 0.0
    assert clean({"a": None, "b": True, "c": 0}) == {"b": "true", "c": "0"}


def test_models_read_like_dicts_and_hide_secrets() -> None:
    result = ExecResult(id=1, stdout="o", stderr="", exit_code=0, duration_ms=1, timed_out=False, oom_killed=False,
                        stdout_truncated=False, stderr_truncated=False, cancelled=False, future_field="kept")
    assert result["exit_code"] == 0 and result.get("future_field") == "kept" and "stdout" in result
    assert result.ok and result.to_dict()["future_field"] == "kept"
    with pytest.raises(KeyError):
        result["nope"]
    session = Session(id="s", created_at="c", expires_at="e", services=["openai"], tenant_id="t", status="active",
                      scopes={}, requests_used=0,
                      env={"OPENAI_API_KEY": "phm_" + "a" * 64, "OPENAI_BASE_URL": "http://proxy/v1/openai/v1"})
    assert "phm_" not in repr(session) and "http://proxy" in repr(session)
    env = session.subprocess_env({"PATH": "/bin"})
    assert env["PATH"] == "/bin" and env["OPENAI_API_KEY"].startswith("phm_")


def test_agentjail_exports_exist() -> None:
    # What agentjail's Python package exports; `from agentjail import X` becomes `from paddock import X`.
    names = (
        "Agentjail AgentjailError Audit Credentials Jails Public Runs Sessions Snapshots Workspaces AuditList "
        "AuditRow CredentialRecord ExecResult ForkChild ForkMeta ForkResult JailKind JailRecord JailsList JailStatus "
        "NetworkSpec PublicStats ResourceStats SeccompSpec ServiceId Session SnapshotList SnapshotRecord StreamEvent "
        "Workspace WorkspaceDomain WorkspaceList WorkspaceSpec"
    ).split()
    missing = [name for name in names if not hasattr(paddock, name)]
    assert missing == []
    assert paddock.Workspace is paddock.models.Workspace and paddock.Agentjail is paddock.Paddock


def test_to_dict_serializes_bytes_as_base64() -> None:
    import base64
    import json

    chunk = paddock.LogChunk(sequence=1, stream="stdout", timestamp_ms=5, data=b"\xff\x00a")
    as_dict = chunk.to_dict()
    assert as_dict["data"] == base64.b64encode(b"\xff\x00a").decode() == "/wBh"
    assert json.loads(json.dumps(as_dict)) == as_dict
    event = to_event("stdout", '{"base64": "/w=="}', "chunks", "t")
    assert event is not None and event.to_dict()["data"] == "/w=="
    logs = paddock.ProcessLogs(process_id="p", stream="stdout", entries=[chunk])
    assert logs.to_dict()["entries"][0]["data"] == "/wBh"


def test_stream_error_events_raise_the_class_of_their_code() -> None:
    cases = [("SHUTTING_DOWN", errors.UnavailableError), ("INTERNAL", errors.ServerError),
             ("BAD_LIMIT", errors.BadRequestError), ("NOT_FOUND", errors.NotFoundError),
             ("TOO_MANY_REQUESTS", errors.RateLimitError), ("SOMETHING_NEW", errors.ServerError)]
    for code, cls in cases:
        err = errors.error_for_code(code, "m", status=200, request_id="r", path="/v1/runs/stream")
        assert type(err) is cls and err.code == code and err.request_id == "r" and err.path == "/v1/runs/stream"
