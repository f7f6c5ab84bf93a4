"""Test support: a real ``paddock serve`` and a fake OpenAI-compatible model.

The server binary is ``$PADDOCK_BIN`` (else ``target/debug/paddock`` of the
repository). Anything that keeps the server from starting fails the test;
nothing is skipped.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

REPO = Path(__file__).resolve().parents[3]
ADMIN_TOKEN = "py-sdk-test-admin-token-0123456789"
OTHER_TOKEN = "py-sdk-test-other-token-0123456789"
UPSTREAM_SECRET = "sk-real-upstream-secret-for-the-python-sdk"


def paddock_binary() -> str:
    explicit = os.environ.get("PADDOCK_BIN")
    path = Path(explicit) if explicit else REPO / "target" / "debug" / "paddock"
    if not path.is_file():
        raise RuntimeError(
            f"the paddock binary {path} does not exist: build it with `cargo build -p paddock` "
            "or set PADDOCK_BIN"
        )
    return str(path.resolve())


_running: List["Server"] = []


def _die_with_parent() -> None:
    """In the child: SIGTERM when the test process dies, so no server outlives
    a killed test run (Linux's PR_SET_PDEATHSIG)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Server:
    """A ``paddock serve`` on 127.0.0.1:0 with a temporary state directory."""

    def __init__(
        self,
        *,
        args: Sequence[str] = (),
        env: Optional[Dict[str, str]] = None,
        database_url: Optional[str] = None,
    ) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="paddock-py-sdk-")
        child_env = dict(os.environ)
        for name in ("PADDOCK_API_KEYS", "AGENTJAIL_API_KEY", "DATABASE_URL", "LOG_FORMAT", "PADDOCK_LISTEN",
                     "PADDOCK_SERVICES", "PADDOCK_URL", "PADDOCK_API_KEY"):
            child_env.pop(name, None)
        child_env.update(
            {
                "PADDOCK_API_KEYS": f"{ADMIN_TOKEN}@acme:admin,{OTHER_TOKEN}@other:operator",
                "RUST_LOG": "info",
                "NO_COLOR": "1",
            }
        )
        child_env.update(env or {})
        command = [
            paddock_binary(),
            "serve",
            "--listen", "127.0.0.1:0",
            "--proxy-listen", "127.0.0.1:0",
            "--warm-pool", "1",
            # No warm code workspaces: they would hold jails of the tenant's
            # concurrency budget, which the thread test uses whole (the pool
            # is tested in crates/cli/tests/code_kernels.rs).
            "--code-pool", "0",
            "--state-dir", os.path.join(self.tmp.name, "state"),
            *args,
        ]
        if "--shutdown-grace" not in args:
            command += ["--shutdown-grace", "5s"]
        if database_url:
            command += ["--database-url", database_url]
        self.lines: List[str] = []
        self.proc = subprocess.Popen(
            command, env=child_env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True, errors="replace", preexec_fn=_die_with_parent,
        )
        _running.append(self)
        ready = threading.Event()
        fields: Dict[str, str] = {}

        def pump() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                line = line.rstrip("\n")
                self.lines.append(line)
                if "paddock serve ready" in line and not ready.is_set():
                    for key in ("listen", "proxy_url"):
                        match = re.search(rf"(?:^|\s){key}=(\S+)", line)
                        if match:
                            fields[key] = match.group(1).strip('"')
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + 60
        while not ready.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"paddock serve did not start (exit {self.proc.returncode}):\n{self.logs()}")
        if "listen" not in fields:
            self.stop()
            raise RuntimeError(f"no listen address in the ready line:\n{self.logs()}")
        self.url = f"http://{fields['listen']}"
        self.proxy_url = fields.get("proxy_url", "")

    def logs(self) -> str:
        return "\n".join(self.lines[-200:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self in _running:
            _running.remove(self)
        self.tmp.cleanup()


def stop_all() -> None:
    for server in list(_running):
        server.stop()


# ------------------------------------------------------------ a fake model


class FakeModel:
    """An OpenAI-compatible upstream on 127.0.0.1 that answers like a model
    that calls the first tool it is offered once, then answers with what the
    tool returned. Speaks the chat completions and the Responses API (JSON
    and SSE). ``requests`` records what arrived (headers included)."""

    def __init__(self) -> None:
        self.requests: List[Dict[str, Any]] = []
        self.code = "print(6 * 7)"
        model = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802
                self._json(200, {"object": "list", "data": [{"id": "gpt-fake", "object": "model"}]})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    payload = json.loads(raw or b"{}")
                except ValueError:
                    payload = {}
                model.requests.append(
                    {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": payload}
                )
                if self.path.rstrip("/").endswith("/chat/completions"):
                    answer = model.chat(payload)
                    if payload.get("stream"):
                        return self._sse_chat(answer)
                    return self._json(200, answer)
                if self.path.rstrip("/").endswith("/responses"):
                    answer = model.responses(payload)
                    if payload.get("stream"):
                        return self._sse_responses(answer)
                    return self._json(200, answer)
                self._json(404, {"error": {"message": f"no route {self.path}"}})

            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _sse(self, events: List[str]) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("connection", "close")
                self.end_headers()
                for event in events:
                    self.wfile.write(event.encode())
                    self.wfile.flush()
                self.close_connection = True

            def _sse_chat(self, answer: Dict[str, Any]) -> None:
                message = answer["choices"][0]["message"]
                delta: Dict[str, Any] = {"role": "assistant", "content": message.get("content")}
                if message.get("tool_calls"):
                    delta["tool_calls"] = [dict(call, index=i) for i, call in enumerate(message["tool_calls"])]
                base = {k: answer[k] for k in ("id", "object", "created", "model")}
                base["object"] = "chat.completion.chunk"
                first = dict(base, choices=[{"index": 0, "delta": delta, "finish_reason": None}])
                last = dict(base, choices=[{"index": 0, "delta": {}, "finish_reason": answer["choices"][0]["finish_reason"]}])
                self._sse([f"data: {json.dumps(first)}\n\n", f"data: {json.dumps(last)}\n\n", "data: [DONE]\n\n"])

            def _sse_responses(self, answer: Dict[str, Any]) -> None:
                events = []
                created = dict(answer, status="in_progress", output=[])
                events.append(("response.created", {"type": "response.created", "response": created, "sequence_number": 0}))
                for i, item in enumerate(answer["output"]):
                    events.append(("response.output_item.added", {"type": "response.output_item.added", "output_index": i, "item": item, "sequence_number": len(events)}))
                    events.append(("response.output_item.done", {"type": "response.output_item.done", "output_index": i, "item": item, "sequence_number": len(events)}))
                events.append(("response.completed", {"type": "response.completed", "response": answer, "sequence_number": len(events)}))
                self._sse([f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events])

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @staticmethod
    def _argument(parameters: Any, code: str) -> str:
        props = (parameters or {}).get("properties") or {}
        name = next(iter(props), "code")
        return json.dumps({name: code})

    def chat(self, payload: Dict[str, Any]) -> Dict[str, Any]:
        messages = payload.get("messages") or []
        tools = payload.get("tools") or []
        tool_results = [m for m in messages if m.get("role") == "tool"]
        if tools and not tool_results:
            function = tools[0].get("function", {})
            message: Dict[str, Any] = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_" + uuid.uuid4().hex[:12],
                        "type": "function",
                        "function": {"name": function.get("name"), "arguments": self._argument(function.get("parameters"), self.code)},
                    }
                ],
            }
            finish = "tool_calls"
        else:
            content = tool_results[-1].get("content") if tool_results else "hello from the fake model"
            if isinstance(content, list):
                content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
            message = {"role": "assistant", "content": f"The tool said: {str(content).strip()}"}
            finish = "stop"
        return {
            "id": "chatcmpl-" + uuid.uuid4().hex[:12],
            "object": "chat.completion",
            "created": int(time.time()),
            "model": payload.get("model", "gpt-fake"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }

    def responses(self, payload: Dict[str, Any]) -> Dict[str, Any]:
        items = payload.get("input")
        items = items if isinstance(items, list) else [{"role": "user", "content": items}]
        outputs = [i for i in items if isinstance(i, dict) and i.get("type") == "function_call_output"]
        tools = [t for t in payload.get("tools") or [] if t.get("type") == "function"]
        if tools and not outputs:
            output: Dict[str, Any] = {
                "type": "function_call",
                "id": "fc_" + uuid.uuid4().hex[:12],
                "call_id": "call_" + uuid.uuid4().hex[:12],
                "name": tools[0]["name"],
                "arguments": self._argument(tools[0].get("parameters"), self.code),
                "status": "completed",
            }
        else:
            said = outputs[-1].get("output") if outputs else "hello from the fake model"
            if isinstance(said, list):
                said = "".join(part.get("text", "") for part in said if isinstance(part, dict))
            output = {
                "type": "message",
                "id": "msg_" + uuid.uuid4().hex[:12],
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": f"The tool said: {str(said).strip()}", "annotations": []}],
            }
        return {
            "id": "resp_" + uuid.uuid4().hex[:12],
            "object": "response",
            "created_at": int(time.time()),
            "status": "completed",
            "model": payload.get("model", "gpt-fake"),
            "output": [output],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": payload.get("tools") or [],
            "usage": {
                "input_tokens": 10,
                "output_tokens": 5,
                "total_tokens": 15,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens_details": {"reasoning_tokens": 0},
            },
        }
