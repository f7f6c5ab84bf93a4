"""Drift between the SDK and the server's OpenAPI description, against the
committed contract (``openapi.json`` at the repository root) and the document
a real ``paddock serve`` publishes.

1. Models: every component schema that is an object has a model of the same
   name in ``paddock.models``, and they agree both ways: the same fields
   (wire names), the same optionality (always present and non-null on one
   side iff on the other), and compatible kinds (string, number, boolean,
   array, object).
2. Requests: every call the SDK makes (recorded by an httpx transport) goes
   to a documented route and method, uses only declared query parameters,
   sends every required body field and no undeclared one, with the declared
   content type; and every route of the document is reached by some SDK call.
3. The generated files are current (models from the committed contract, the
   sync client from the async one).
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any, Callable, Dict, List, Set, Tuple

import httpx
import pytest
from pydantic import BaseModel

import paddock
from paddock import models
from support import ADMIN_TOKEN, REPO, Server

SDK = Path(__file__).resolve().parents[1]
CONTRACT = REPO / "openapi.json"

# ------------------------------------------------------------------ models


def _kinds_of_annotation(annotation: Any) -> Tuple[Set[str], bool]:
    """(kinds, nullable) of a Python annotation."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union:
        kinds: Set[str] = set()
        nullable = False
        for arg in typing.get_args(annotation):
            if arg is type(None):
                nullable = True
                continue
            k, n = _kinds_of_annotation(arg)
            kinds |= k
            nullable = nullable or n
        return kinds, nullable
    if annotation is Any:
        return {"any"}, True
    if origin in (list, List):
        return {"array"}, False
    if origin in (dict, Dict):
        return {"object"}, False
    if annotation is str or annotation is bytes:
        return {"string"}, False
    if annotation is bool:
        return {"boolean"}, False
    if annotation in (int, float):
        return {"number"}, False
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {"object"}, False
    return {"any"}, False


class OpenApi:
    def __init__(self, doc: Dict[str, Any]) -> None:
        self.doc = doc
        self.schemas: Dict[str, Any] = doc.get("components", {}).get("schemas", {})

    def deref(self, schema: Dict[str, Any]) -> Dict[str, Any]:
        seen = set()
        while "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[1]
            assert name not in seen, f"circular {name}"
            seen.add(name)
            schema = self.schemas[name]
        return schema

    def object(self, schema: Dict[str, Any]) -> Tuple[Dict[str, Any], Set[str], Any]:
        s = self.deref(schema)
        props = dict(s.get("properties", {}))
        required = set(s.get("required", []))
        extra = s.get("additionalProperties")
        for part in s.get("allOf", []):
            p, r, e = self.object(part)
            props.update(p)
            required |= r
            extra = extra if extra is not None else e
        return props, required, extra

    def describe(self, schema: Dict[str, Any]) -> Tuple[Set[str], bool]:
        s = self.deref(schema) if "$ref" in schema else schema
        kinds: Set[str] = set()
        nullable = False
        for branch in s.get("oneOf", []) + s.get("anyOf", []):
            k, n = self.describe(branch)
            kinds |= k
            nullable = nullable or n or branch.get("type") == "null"
        if "allOf" in s:
            kinds.add("object")
        raw = s.get("type")
        for t in raw if isinstance(raw, list) else ([raw] if raw else []):
            if t == "null":
                nullable = True
            else:
                kinds.add("number" if t == "integer" else t)
        for v in s.get("enum", []):
            if v is None:
                nullable = True
            else:
                kinds.add({str: "string", bool: "boolean", int: "number", float: "number"}.get(type(v), "any"))
        if not kinds and ("properties" in s or "additionalProperties" in s):
            kinds.add("object")
        return kinds or {"any"}, nullable

    def is_object(self, name: str) -> bool:
        s = self.schemas[name]
        return s.get("type") == "object" or "allOf" in s or "properties" in s


def compare_models(doc: Dict[str, Any]) -> Tuple[List[str], List[str]]:
    """(problems, checked model names)."""
    api = OpenApi(doc)
    problems: List[str] = []
    checked: List[str] = []

    def always(yes: bool) -> str:
        return "always present and non-null" if yes else "optional or nullable"

    for name in api.schemas:
        if not api.is_object(name):
            continue
        model = getattr(models, name, None)
        if model is None or not (isinstance(model, type) and issubclass(model, BaseModel)):
            problems.append(f"{name}: a server schema without an SDK model")
            continue
        checked.append(name)
        props, required, _ = api.object(api.schemas[name])
        hints = typing.get_type_hints(model)
        wire_fields = {(info.alias or attr): attr for attr, info in model.model_fields.items()}
        for wire, attr in wire_fields.items():
            if wire not in props:
                problems.append(f"{name}.{wire}: in the SDK but not in the server's schema")
                continue
            sdk_kinds, sdk_nullable = _kinds_of_annotation(hints[attr])
            sdk_guaranteed = model.model_fields[attr].is_required() and not sdk_nullable
            wire_kinds, wire_nullable = api.describe(props[wire])
            guaranteed = wire in required and not wire_nullable
            if sdk_guaranteed != guaranteed:
                problems.append(f"{name}.{wire}: the server says {always(guaranteed)}, the SDK {always(sdk_guaranteed)}")
            if "any" not in sdk_kinds and "any" not in wire_kinds and not (sdk_kinds & wire_kinds):
                problems.append(f"{name}.{wire}: the server says {sorted(wire_kinds)}, the SDK {sorted(sdk_kinds)}")
        for wire in props:
            if wire not in wire_fields:
                problems.append(f"{name}.{wire}: in the server's schema but not in the SDK")
    for name in models.__all__:
        value = getattr(models, name)
        if isinstance(value, type) and issubclass(value, BaseModel) and name not in api.schemas:
            problems.append(f"{name}: an SDK model the server does not describe")
    return problems, checked


# ---------------------------------------------------------------- requests

Call = Dict[str, Any]
#: Routes the SDK calls that the document leaves out of itself.
UNDESCRIBED = {"GET /openapi.json"}


class Recorder(httpx.BaseTransport):
    """Sends each request to the real server and records it with the answer's
    status (and, for 404 and 405, its code and message)."""

    def __init__(self) -> None:
        # A connection per call: answers refused before the body was read
        # (401) may leave the server closing the connection.
        self.inner = httpx.HTTPTransport(limits=httpx.Limits(max_keepalive_connections=0))
        self.calls: List[Call] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        raw = request.read()
        kind = request.headers.get("content-type")
        parsed: Any = None
        if raw and kind == "application/json":
            parsed = json.loads(raw)
        call: Call = {
            "method": request.method,
            "path": request.url.path,
            "query": dict(request.url.params),
            "body": parsed,
            "raw": raw if raw and kind != "application/json" else None,
            "content_type": kind,
        }
        self.calls.append(call)
        response = self.inner.handle_request(request)
        call["status"] = response.status_code
        if response.status_code in (404, 405):
            response.read()
            call["answer"] = response.content.decode("utf-8", "replace")
        return response

    def close(self) -> None:
        self.inner.close()


def routing_failures(calls: List[Call]) -> List[str]:
    """The calls the server's router did not know: a 404 for the route (not
    for the object) or a 405."""
    out = []
    for call in calls:
        status, answer = call.get("status"), call.get("answer", "")
        if status == 405 or (status == 404 and ("route not found" in answer or not answer.strip())):
            out.append(f"{call['method']} {call['path']}: {status} {answer[:200]}")
    return out


def record_requests(base_url: str) -> List[Call]:
    """One call of every SDK method against the real server, recorded with
    the answers' statuses. The key is unknown to the server, so a route
    answers 401 (or 400/404 for its arguments) and does nothing; a path the
    router does not know answers 404 "route not found" and a wrong method 405."""
    recorder = Recorder()
    calls = recorder.calls
    client = paddock.Paddock(base_url, "k" * 20, transport=recorder)
    ws = client.workspaces.handle("wrk_1")
    rt = client.workspaces.runtime("wrk_1")
    limits: Dict[str, Any] = dict(
        timeout_secs=30, memory_mb=256, network={"mode": "allowlist", "domains": ["api.example.com"]},
        seccomp="strict", cpu_percent=150, max_pids=64,
    )
    tar = io.BytesIO()
    import tarfile

    with tarfile.open(fileobj=tar, mode="w"):
        pass
    actions: List[Callable[[], Any]] = [
        client.health, client.healthz, client.ready, client.stats, client.metrics, client.whoami, client.flavors,
        client.config, client.openapi,
        lambda: client.credentials.list(tenant="t"),
        lambda: client.credentials.put(service="openai", secret="s", tenant="t"),
        lambda: client.credentials.delete("openai", tenant="t"),
        lambda: client.sessions.create(services=["openai"], ttl_secs=60, scopes={"openai": ["/v1/*"]}, max_requests=5, tenant="t"),
        lambda: client.sessions.list(limit=1, offset=0, include_closed=True, tenant="t"),
        lambda: client.sessions.get("sess_1"),
        lambda: client.sessions.close("sess_1"),
        lambda: client.sessions.exec("sess_1", cmd="true", args=["x"], **limits),
        lambda: list(client.sessions.exec_stream("sess_1", cmd="true", args=["x"], output="chunks", **limits)),
        lambda: client.runs.create(code="1", language="bash", tenant="t", **limits),
        lambda: list(client.runs.stream(code="1", language="bash", **limits)),
        lambda: list(client.runs.stream(code="1", output="chunks")),
        lambda: client.runs.fork(parent_code="1", child_code="2", language="bash", fork_after_ms=10, **limits),
        lambda: client.runs.fork(parent_code="1", children=[{"code": "2", "memory_mb": 64}]),
        lambda: client.runs.cancel(1),
        lambda: client.runs.get(1),
        lambda: client.jails.list(limit=1, offset=0, status="completed", kind="run", q="x", tenant="t"),
        lambda: client.jails.get(1),
        lambda: client.audit.list(limit=5, offset=0, q="x", tenant="t"),
        lambda: client.audit.recent(5),
        lambda: client.audit.actions(limit=5, offset=0, q="x", tenant="t"),
        lambda: client.keys.list(tenant="t"),
        lambda: client.keys.create(tenant="t", role="operator", label="l"),
        lambda: client.keys.revoke("key_1"),
        lambda: client.workspaces.create(
            git={"repo": "https://example.com/r", "ref": "main"}, label="l", idle_timeout_secs=60, flavors=["n"],
            domains=[{"domain": "a.localhost", "vm_port": 3000}], tenant="t", **limits,
        ),
        lambda: client.workspaces.create(git={"repos": [{"repo": "https://example.com/r", "ref": "v1", "dir": "d"}]}),
        lambda: client.workspaces.list(limit=1, offset=0, q="x", tenant="t"),
        lambda: client.workspaces.get("wrk_1"),
        lambda: client.workspaces.update("wrk_1", label="x"),
        lambda: client.workspaces.delete("wrk_1"),
        lambda: ws.exec("true", ["x"], env={"A": "1"}, timeout_secs=5, memory_mb=64),
        lambda: list(ws.exec_stream("true", ["x"], env=[("A", "1")], output="chunks", timeout_secs=5, memory_mb=64)),
        lambda: client.workspaces.fork("wrk_1", count=2, label="f"),
        lambda: ws.snapshot("n"),
        lambda: client.snapshots.list(workspace_id="wrk_1", limit=1, offset=0, q="x", tenant="t"),
        lambda: client.snapshots.get("snap_1"),
        lambda: client.snapshots.manifest("snap_1"),
        lambda: client.snapshots.delete("snap_1"),
        lambda: client.snapshots.create_workspace_from("snap_1", parent_workspace_id="wrk_1", label="l"),
        ws.start, ws.stop, ws.pause, ws.resume, ws.state,
        lambda: client.previews.create("wrk_1", port=3000, public=True, ttl_secs=60),
        lambda: client.previews.list("wrk_1"),
        lambda: client.previews.revoke("wrk_1", "prv_1"),
        lambda: client.tokens.create("wrk_1", capabilities=["files:read", "mcp"], ttl_secs=60, label="l"),
        lambda: client.tokens.list("wrk_1"),
        lambda: client.tokens.revoke("wrk_1", "tok_1"),
        lambda: client.tokens.mcp_config("wrk_1", capabilities=["processes"], ttl_secs=60, server_name="box"),
        lambda: client.previews.request("wrk_1", 3000, "/x/y"),
        lambda: client.workspaces.run_code(
            "wrk_1", "python", "1", session_id="s", timeout_ms=10, env={"A": "1"}, cwd="/workspace", idempotency_key="k"
        ),
        lambda: list(
            client.workspaces.run_code_stream(
                "wrk_1", "python", "1", session_id="s", timeout_ms=10, env={"A": "1"}, cwd="/w", idempotency_key="k"
            )
        ),
        lambda: client.code.run("python", "1", session_id="s", timeout_ms=10, env={"A": "1"}, cwd="/w", idempotency_key="k"),
        lambda: list(client.code.stream("python", "1", session_id="s", timeout_ms=10, env={"A": "1"}, idempotency_key="k")),
        lambda: client.code.end_session("s"),
        lambda: client.kernels.list("wrk_1"),
        lambda: client.kernels.interrupt("wrk_1", "kern_1"),
        lambda: client.kernels.restart("wrk_1", "kern_1"),
        lambda: client.kernels.shutdown("wrk_1", "kern_1"),
        lambda: client.agent_sessions.create("wrk_1", "mock", id="s1", cwd="/workspace", mode="default", permissions="allow"),
        lambda: client.agent_sessions.list("wrk_1"),
        lambda: client.agent_sessions.get("wrk_1", "s1"),
        lambda: client.agent_sessions.delete("wrk_1", "s1"),
        lambda: client.agent_sessions.prompt("wrk_1", "s1", "hi", turn_id="t1", detach=True),
        lambda: client.agent_sessions.turns("wrk_1", "s1"),
        lambda: client.agent_sessions.turn("wrk_1", "s1", "t1", wait_ms=1000),
        lambda: client.agent_sessions.cancel("wrk_1", "s1", "t1"),
        lambda: client.agent_sessions.answer_permission("wrk_1", "s1", "mock-1", "once"),
        rt.health,
        lambda: rt.processes.run("sh", ["-c", "true"], cwd="/workspace", env={"A": "1"}, timeout_ms=1000, max_output_bytes=10),
        lambda: rt.processes.create("sh", ["-i"], cwd="/workspace", env={"A": "1"}, interactive=True, tty=True),
        lambda: rt.processes.list(owner="user"),
        lambda: rt.processes.get("proc_1"),
        lambda: rt.processes.stop("proc_1", wait_ms=10),
        lambda: rt.processes.kill("proc_1", wait_ms=10),
        lambda: rt.processes.delete("proc_1"),
        lambda: rt.processes.logs("proc_1", stream="stdout", tail=1, since=0),
        lambda: list(rt.processes.follow("proc_1", stream="pty", tail=1, since=0)),
        lambda: rt.processes.input("proc_1", "text"),
        lambda: rt.processes.input("proc_1", b"\x01", eof=True),
        lambda: rt.processes.resize("proc_1", cols=80, rows=24),
        rt.processes.config,
        lambda: rt.processes.set_config(
            max_concurrent_processes=1, default_run_timeout_ms=1, max_run_timeout_ms=1, max_output_bytes=1,
            max_log_bytes_per_process=1, max_input_bytes_per_request=1,
        ),
        lambda: rt.files.list("src"),
        lambda: rt.files.read("a.txt"),
        lambda: list(rt.files.stream("a.txt")),
        lambda: rt.files.download("a.txt", io.BytesIO()),
        lambda: rt.files.write("a.txt", "data"),
        lambda: rt.files.write("a.txt", io.BytesIO(b"data")),
        lambda: rt.files.stat("a.txt"),
        lambda: rt.files.mkdir("d"),
        lambda: rt.files.move("a.txt", "b.txt", overwrite=True),
        lambda: rt.files.delete("d", recursive=True),
        lambda: rt.files.upload_tar("d", tar.getvalue()),
        lambda: rt.files.download_tar("d"),
        lambda: rt.files.download_tar(None, io.BytesIO()),
        lambda: rt.agents.list(config=True),
        lambda: rt.agents.get("claude", config=True),
        lambda: rt.agents.install("claude", reinstall=True),
        lambda: rt.agents.servers(),
        lambda: rt.agents.send("s1", {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}, agent="mock"),
        lambda: list(rt.agents.follow("s1", since=3)),
        lambda: rt.agents.transcript("s1", since=0, limit=10),
        lambda: rt.agents.delete_server("s1"),
        lambda: rt.agents.get_mcp_config("/workspace", "echo"),
        lambda: rt.agents.set_mcp_config("/workspace", "echo", {"type": "local", "command": "node", "args": ["x.js"]}),
        lambda: rt.agents.delete_mcp_config("/workspace", "echo"),
        lambda: rt.agents.get_skills_config("/workspace", "team"),
        lambda: rt.agents.set_skills_config("/workspace", "team", [{"type": "local", "source": "/workspace/skills"}]),
        lambda: rt.agents.delete_skills_config("/workspace", "team"),
        lambda: rt.desktop.start(width=1280, height=720, dpi=96, display_num=99, recording_fps=30),
        lambda: rt.desktop.stop(),
        lambda: rt.browser.run("snapshot", "-i", session="s1", timeout_ms=1000),
        lambda: rt.desktop.status(),
        lambda: rt.desktop.display_info(),
        lambda: rt.desktop.screenshot(format="jpeg", quality=80, scale=0.5, show_cursor=False),
        lambda: rt.desktop.screenshot(region=(0, 0, 10, 10), format="png"),
        lambda: rt.desktop.mouse_position(),
        lambda: rt.desktop.move_mouse(1, 2),
        lambda: rt.desktop.click(1, 2, button="right", click_count=2),
        lambda: rt.desktop.mouse_down(x=1, y=2, button="left"),
        lambda: rt.desktop.mouse_up(button="left"),
        lambda: rt.desktop.drag((1, 2), (3, 4), button="left"),
        lambda: rt.desktop.scroll(1, 2, delta_x=0, delta_y=3),
        lambda: rt.desktop.type("hi", delay_ms=5),
        lambda: rt.desktop.press("s", modifiers={"ctrl": True}),
        lambda: rt.desktop.key_down("Shift_L"),
        lambda: rt.desktop.key_up("Shift_L"),
        lambda: rt.desktop.windows(),
        lambda: rt.desktop.focused_window(),
        lambda: rt.desktop.focus_window("0x1"),
        lambda: rt.desktop.move_window("0x1", 1, 2),
        lambda: rt.desktop.resize_window("0x1", 100, 200),
        lambda: rt.desktop.clipboard("primary"),
        lambda: rt.desktop.set_clipboard("x", "both"),
        lambda: rt.desktop.launch("xterm", ["-e", "true"], wait=True),
        lambda: rt.desktop.open("/workspace/a.txt"),
        lambda: rt.desktop.start_recording(fps=10),
        lambda: rt.desktop.stop_recording(),
        lambda: rt.desktop.recordings(),
        lambda: rt.desktop.recording("rec_1"),
        lambda: rt.desktop.download_recording("rec_1"),
        lambda: rt.desktop.delete_recording("rec_1"),
        lambda: rt.desktop.stream_status(),
        lambda: rt.desktop.start_stream(),
        lambda: rt.desktop.stop_stream(),
    ]
    for action in actions:
        try:
            action()
        except paddock.PaddockError as err:
            assert 400 <= err.status < 500 or err.status == 503, (err, calls[-1])
    # The terminal is a WebSocket: its URL is what the handshake requests
    # (a plain GET of it reaches the route, which wants an upgrade).
    term = rt.processes.terminal("proc_1")
    url = httpx.URL(term._url)
    with httpx.Client(transport=recorder) as plain:
        plain.get(url.copy_with(scheme="http" if url.scheme == "ws" else "https"), headers=term._headers)
        vnc = httpx.URL(rt.desktop.vnc_url())
        plain.get(vnc.copy_with(scheme="http" if vnc.scheme == "ws" else "https"), headers=term._headers)
    client.close()
    return calls


def _templates(doc: Dict[str, Any]) -> List[Tuple[str, "re.Pattern[str]", int]]:
    out = []
    for path in doc.get("paths", {}):
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", path)
        if path.endswith("/{path}"):  # the relay's trailing {path} takes the rest
            pattern = pattern[: -len("[^/]+")] + ".+"
        regex = re.compile("^" + pattern + "$")
        out.append((path, regex, path.count("{")))
    out.sort(key=lambda t: t[2])
    return out


def _check_value(api: OpenApi, value: Any, schema: Dict[str, Any], where: str, problems: List[str]) -> None:
    s = api.deref(schema)
    branches = s.get("oneOf", []) + s.get("anyOf", [])
    if branches:
        results = []
        for branch in branches:
            local: List[str] = []
            _check_value(api, value, branch, where, local)
            results.append(local)
        if not any(not r for r in results):
            problems.extend(results[0])
        return
    kinds, nullable = api.describe(s)
    if value is None:
        if not nullable:
            problems.append(f"{where}: null is not allowed")
        return
    actual = (
        "boolean" if isinstance(value, bool) else "number" if isinstance(value, (int, float))
        else "string" if isinstance(value, str) else "array" if isinstance(value, list)
        else "object" if isinstance(value, dict) else "any"
    )
    if "any" not in kinds and actual not in kinds:
        problems.append(f"{where}: the SDK sends {actual}, the schema says {sorted(kinds)}")
        return
    if isinstance(value, list):
        items = s.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                _check_value(api, item, items, f"{where}[{i}]", problems)
        return
    if not isinstance(value, dict):
        return
    props, required, extra = api.object(s)
    for key, item in value.items():
        if key in props:
            _check_value(api, item, props[key], f"{where}.{key}", problems)
        elif isinstance(extra, dict):
            _check_value(api, item, extra, f"{where}.{key}", problems)
        elif props or extra is False:
            problems.append(f"{where}.{key}: sent by the SDK, not in the schema")
    for key in required:
        if key not in value:
            problems.append(f"{where}.{key}: required by the schema, not sent by the SDK")


def check_requests(calls: List[Call], doc: Dict[str, Any]) -> Tuple[List[str], List[str]]:
    """(problems, operations of the document no call reached)."""
    api = OpenApi(doc)
    templates = _templates(doc)
    problems: List[str] = []
    reached: Set[Tuple[str, str]] = set()
    for call in calls:
        route = f"{call['method']} {call['path']}"
        if route in UNDESCRIBED:
            continue
        template = next((t for t in templates if t[1].match(call["path"])
                         and call["method"].lower() in doc["paths"][t[0]]), None)
        if template is None:
            problems.append(f"{route}: not in the document")
            continue
        op = doc["paths"][template[0]][call["method"].lower()]
        reached.add((call["method"].lower(), template[0]))
        declared = {
            (api.deref(p) if "$ref" in p else p)["name"]
            for p in op.get("parameters", [])
            if (api.deref(p) if "$ref" in p else p).get("in") == "query"
        }
        for key in call["query"]:
            if key not in declared:
                problems.append(f"{route}: query parameter {key} is not declared")
        content = op.get("requestBody", {}).get("content", {})
        if call["raw"] is not None:
            if call["content_type"] not in content:
                problems.append(f"{route}: the SDK sends {call['content_type']}, the route takes {sorted(content) or 'no body'}")
        elif call["body"] is not None:
            schema = content.get("application/json", {}).get("schema")
            if schema is None:
                problems.append(f"{route}: the SDK sends a JSON body, the route declares none")
            else:
                _check_value(api, call["body"], schema, f"{route} body", problems)
        elif op.get("requestBody", {}).get("required"):
            problems.append(f"{route}: the route requires a body, the SDK sends none")
    unreached = [
        f"{method.upper()} {path}"
        for path, ops in doc.get("paths", {}).items()
        for method in ops
        if method in ("get", "post", "put", "patch", "delete") and (method, path) not in reached
    ]
    return problems, unreached


# ------------------------------------------------------------------- tests


def _committed() -> Dict[str, Any]:
    assert CONTRACT.is_file(), f"the committed contract {CONTRACT} is missing"
    doc: Dict[str, Any] = json.loads(CONTRACT.read_text())
    assert doc["openapi"].startswith("3.") and len(doc["paths"]) > 10
    return doc


@pytest.fixture(scope="module")
def live(server: Server) -> Dict[str, Any]:
    with paddock.Paddock(server.url, ADMIN_TOKEN) as client:
        return client.openapi()


@pytest.fixture(scope="module")
def calls(server: Server) -> List[Call]:
    return record_requests(server.url)


def test_every_sdk_call_reaches_a_route_of_the_real_server(server: Server, calls: List[Call]) -> None:
    assert len(calls) > 80 and all("status" in call for call in calls)
    assert routing_failures(calls) == [], "calls the server's router does not know:\n  " + "\n  ".join(
        routing_failures(calls)
    )
    # The check sees an unknown path and a wrong method.
    probe = Recorder()
    with httpx.Client(transport=probe, base_url=server.url) as plain:
        plain.get("/v1/no-such-route")
        plain.delete("/v1/whoami")
    assert len(routing_failures(probe.calls)) == 2, probe.calls


@pytest.mark.parametrize("which", ["committed", "live"])
def test_models_match_the_schemas(which: str, live: Dict[str, Any]) -> None:
    doc = _committed() if which == "committed" else live
    problems, checked = compare_models(doc)
    assert len(checked) > 50
    assert problems == [], "the SDK and the server disagree:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("which", ["committed", "live"])
def test_requests_are_declared_and_every_route_is_reached(which: str, live: Dict[str, Any], calls: List[Call]) -> None:
    doc = _committed() if which == "committed" else live
    problems, unreached = check_requests(calls, doc)
    assert problems == [], "requests the server does not declare:\n  " + "\n  ".join(problems)
    assert unreached == [], "routes without an SDK method:\n  " + "\n  ".join(unreached)


def test_the_drift_checks_catch_drift(calls: List[Call]) -> None:
    doc = _committed()
    mutated = json.loads(json.dumps(doc))
    mutated["components"]["schemas"]["Workspace"]["properties"]["new_field"] = {"type": "string"}
    mutated["components"]["schemas"]["ExecResult"]["properties"]["exit_code"] = {"type": "string"}
    mutated["components"]["schemas"]["Session"]["required"].remove("env")
    problems, _ = compare_models(mutated)
    assert any("Workspace.new_field" in p for p in problems)
    assert any("ExecResult.exit_code" in p for p in problems)
    assert any("Session.env" in p for p in problems)
    del mutated["components"]["schemas"]["RunRequest"]["allOf"][1]["properties"]["language"]
    mutated["paths"]["/v1/runs"]["post"]["parameters"] = []
    mutated["paths"]["/v1/whoami"]["post"] = mutated["paths"]["/v1/whoami"].pop("get")
    problems, unreached = check_requests(calls, mutated)
    assert any("language: sent by the SDK" in p for p in problems)
    assert any("query parameter tenant" in p for p in problems)
    assert any(p.startswith("GET /v1/whoami") for p in problems)
    assert "POST /v1/whoami" in unreached


def test_generated_files_are_current() -> None:
    for script in ("gen_models.py", "unasync.py"):
        done = subprocess.run([sys.executable, str(SDK / "scripts" / script), "--check"], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
