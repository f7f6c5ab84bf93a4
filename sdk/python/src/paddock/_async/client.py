"""The client, :class:`AsyncPaddock`, and its resources.

The sync client is written from the async source by ``scripts/unasync.py``
(``async``/``await`` removed, ``Async`` names without their prefix), so
both have the same surface.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import tarfile
import tempfile
import time
from types import TracebackType
from typing import IO, Any, AsyncIterator, Callable, Dict, Generic, List, Mapping, Optional, Sequence, Tuple, Type, TypeVar, Union

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK, InvalidHandshake, InvalidStatus

from .. import _io
from .._io import (
    Content,
    PathLike,
    aclose_on_collect,
    aiter_content,
    arecv_frame,
    asend_json,
    asleep,
    awrite_chunk,
)
from .._shared import (
    DEFAULT_TIMEOUT,
    JAIL_GRACE,
    MAX_RUN_TIMEOUT,
    SLOW_TIMEOUT,
    JsonDict,
    Query,
    Retry,
    SseParser,
    api_error,
    body,
    check_output,
    clean,
    code_body,
    code_timeout,
    idempotent,
    input_body,
    jail_opts,
    jail_timeout,
    new_request_id,
    resolve_api_key,
    resolve_base_url,
    resolve_retry,
    safe_extract,
    seg,
    should_retry,
    to_code_event,
    to_event,
    to_log_chunk,
    ws_url,
)
from .._version import __version__
from ..errors import APIConnectionError, APITimeoutError, PaddockError, ProtocolError, error_class, error_for_code
from ..events import AcpMessage, CodeEvent, LogChunk, ProcessLogs, StreamEvent
from ..models import (
    AcpEventList,
    AcpServerInfo,
    AcpServerListResponse,
    ActionList,
    AgentInfo,
    AgentInstallResponse,
    AgentListResponse,
    AgentSession,
    AgentSessionList,
    AgentTurn,
    AgentTurnList,
    AuditList,
    BrowserCommandResponse,
    CancelResponse,
    CodeExecutionResult,
    CreatedKey,
    CreatedScopedToken,
    CredentialRecord,
    DesktopActionResponse,
    DesktopClipboardResponse,
    DesktopDisplayInfoResponse,
    DesktopLaunchResponse,
    DesktopMousePositionResponse,
    DesktopOpenResponse,
    DesktopRecordingInfo,
    DesktopRecordingListResponse,
    DesktopStatusResponse,
    DesktopStreamStatusResponse,
    DesktopWindowInfo,
    DesktopWindowListResponse,
    ExecResult,
    Flavor,
    ForkResponse,
    FsActionResponse,
    FsEntry,
    FsMoveResponse,
    FsStat,
    FsUploadBatchResponse,
    FsWriteResponse,
    Health,
    JailRecord,
    JailsList,
    KernelInfo,
    KernelList,
    KeyRecord,
    McpConfig,
    Preview,
    PreviewList,
    ProcessConfig,
    ProcessInfo,
    ProcessInputResponse,
    ProcessListResponse,
    ProcessRunResponse,
    ProcessTerminalSize,
    PublicStats,
    Readiness,
    RuntimeHealth,
    ScopedTokenList,
    ScopedTokenRecord,
    Session,
    Settings,
    SkillsConfig,
    SnapshotList,
    SnapshotManifest,
    SnapshotRecord,
    Whoami,
    Workspace,
    WorkspaceForkResponse,
    WorkspaceList,
    WorkspaceRunState,
)

Network = Union[str, Mapping[str, Any], Any]
Env = Union[Mapping[str, str], Sequence[Tuple[str, str]], Sequence[Sequence[str]]]


# ====================================================================== HTTP


class AsyncHTTP:
    """The transport: URLs, headers, deadlines, errors and retries."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: Optional[str],
        timeout: float,
        retry: Optional[Retry],
        headers: Optional[Mapping[str, str]],
        transport: Optional[httpx.AsyncBaseTransport],
        http_client: Optional[httpx.AsyncClient],
    ) -> None:
        self.base_url = base_url
        self.api_key = api_key
        self.timeout = timeout
        self.retry = retry
        self.headers: Dict[str, str] = {"user-agent": f"paddock-python/{__version__}"}
        self.headers.update(headers or {})
        #: Set by ``with_options(timeout=...)``: every call keeps exactly this deadline.
        self.fixed = False
        self._own_client = http_client is None
        self.client = http_client or httpx.AsyncClient(transport=transport, timeout=None)

    def auth_headers(self) -> Dict[str, str]:
        return {"authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def jail_timeout(self, timeout_secs: Optional[int]) -> float:
        """The deadline of a call that runs a jail: the jail's own plus 30 s."""
        return self.timeout if self.fixed else jail_timeout(timeout_secs, self.timeout)

    def slow_timeout(self) -> float:
        """The deadline of slow but bounded server work (snapshot, fork,
        restore, create): the client's, at least ``SLOW_TIMEOUT`` (300 s)."""
        return self.timeout if self.fixed else max(self.timeout, SLOW_TIMEOUT)

    def _timeout(self, timeout: Optional[float]) -> httpx.Timeout:
        seconds = self.timeout if timeout is None or self.fixed else timeout
        if seconds is None or seconds <= 0:
            return httpx.Timeout(None, connect=30.0)
        return httpx.Timeout(seconds, connect=min(seconds, 30.0))

    async def send(
        self,
        method: str,
        path: str,
        *,
        query: Optional[Query] = None,
        json: Any = None,
        content: Optional[Content] = None,
        content_type: Optional[str] = None,
        accept: Optional[str] = None,
        timeout: Optional[float] = None,
        auth: bool = True,
        stream: bool = False,
    ) -> httpx.Response:
        """Sends one call (retrying as configured); raises :class:`PaddockError`
        for an error answer. With ``stream`` the body is left unread."""
        headers = dict(self.headers)
        if auth:
            headers.update(self.auth_headers())
        if accept:
            headers["accept"] = accept
        if content_type:
            headers["content-type"] = content_type
        request_id = headers.get("x-request-id") or new_request_id()
        headers["x-request-id"] = request_id
        sent: Union[bytes, AsyncIterator[bytes], None] = None
        if content is not None:
            sent = aiter_content(content)
        replayable = not (sent is not None and not isinstance(sent, bytes))
        attempt = 0
        while True:
            try:
                request = self.client.build_request(
                    method,
                    self.base_url + path,
                    params=clean(query),
                    json=json,
                    content=sent,
                    headers=headers,
                    timeout=self._timeout(timeout),
                )
                response = await self.client.send(request, stream=True)
            except httpx.TimeoutException as err:
                failure: PaddockError = APITimeoutError(
                    f"no answer within the deadline ({err.__class__.__name__})",
                    status=0,
                    request_id=request_id,
                    method=method,
                    path=path,
                )
                failure.__cause__ = err
            except httpx.TransportError as err:
                failure = APIConnectionError(
                    f"cannot reach {self.base_url}: {err}",
                    status=0,
                    request_id=request_id,
                    method=method,
                    path=path,
                )
                failure.__cause__ = err
                # No connection was made: the request never left, any method may go again.
                never_sent = isinstance(err, httpx.ConnectError)
                if self.retry is not None and attempt < self.retry.retries and replayable and never_sent:
                    await asleep(self.retry.delay(attempt, None) or 0.0)
                    attempt += 1
                    continue
            else:
                if response.status_code < 400:
                    if not stream:
                        try:
                            await response.aread()
                        except httpx.TimeoutException as err:
                            raise APITimeoutError(
                                "the answer's body did not arrive within the deadline",
                                request_id=request_id,
                                method=method,
                                path=path,
                            ) from err
                        except httpx.TransportError as err:
                            raise APIConnectionError(
                                f"the connection broke while reading the answer: {err}",
                                request_id=request_id,
                                method=method,
                                path=path,
                            ) from err
                        finally:
                            await response.aclose()
                    return response
                try:
                    raw = await response.aread()
                except httpx.HTTPError:
                    raw = b""
                finally:
                    await response.aclose()
                failure = api_error(response, raw, method, path)
                if failure.request_id is None:
                    failure.request_id = request_id
                if (
                    self.retry is not None
                    and attempt < self.retry.retries
                    and replayable
                    and should_retry(method, failure.status, failure.code)
                ):
                    wait = self.retry.delay(attempt, failure.retry_after)
                    if wait is None:  # the server asked for longer than max_delay
                        raise failure
                    await asleep(wait)
                    attempt += 1
                    continue
                raise failure
            if self.retry is not None and attempt < self.retry.retries and replayable and idempotent(method):
                await asleep(self.retry.delay(attempt, None) or 0.0)
                attempt += 1
                continue
            raise failure

    async def json(
        self,
        method: str,
        path: str,
        *,
        query: Optional[Query] = None,
        json: Any = None,
        content: Optional[Content] = None,
        content_type: Optional[str] = None,
        timeout: Optional[float] = None,
        auth: bool = True,
    ) -> Any:
        """A call whose answer is JSON (``None`` for 204)."""
        response = await self.send(
            method,
            path,
            query=query,
            json=json,
            content=content,
            content_type=content_type,
            accept="application/json",
            timeout=timeout,
            auth=auth,
        )
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as err:
            raise ProtocolError(
                f"{method} {path}: the answer is not JSON",
                status=response.status_code,
                request_id=response.headers.get("x-request-id"),
                method=method,
                path=path,
                body=response.text[:500],
            ) from err

    async def aclose(self) -> None:
        if self._own_client:
            await self.client.aclose()


# ================================================================== streams

#: A stream's event type, and its result's.
E = TypeVar("E", StreamEvent, CodeEvent)
R = TypeVar("R")
#: The stream itself, in its own class.
S = TypeVar("S", bound="AsyncSseStream[Any, Any]")
T = TypeVar("T")
F = TypeVar("F", bound="AsyncFollowStream[Any]")


class AsyncSseStream(Generic[E, R]):
    """What the streamed calls share: one POST answered with Server-Sent
    Events, read until exactly one ``completed`` or ``error`` event."""

    def __init__(
        self, http: AsyncHTTP, path: str, payload: JsonDict, what: str, timeout: float, query: Optional[Query] = None
    ) -> None:
        self._http = http
        self._path = path
        self._payload = payload
        self._what = what
        self._timeout = timeout
        self._query = query
        self._response: Optional[httpx.Response] = None
        self._chunks: Optional[AsyncIterator[str]] = None
        self._parser = SseParser()
        self._pending: List[E] = []
        self._done = False
        self._terminal = False
        #: The ``completed`` event's result, once it arrived.
        self.result: Optional[R] = None

    def _event(self, name: str, data: str) -> Optional[E]:
        """The typed event of one message (``None``: not one to yield)."""
        raise NotImplementedError

    def _take(self, event: E) -> None:
        """Notes what an event says before it is yielded."""

    def _opened(self, response: httpx.Response) -> None:
        """Notes what the answer's headers say."""

    async def _open(self) -> None:
        self._response = await self._http.send(
            "POST",
            self._path,
            query=self._query,
            json=self._payload,
            accept="text/event-stream",
            timeout=self._timeout,
            stream=True,
        )
        self._opened(self._response)
        self._chunks = self._response.aiter_text()

    def __aiter__(self: S) -> S:
        return self

    async def __anext__(self) -> E:
        if self._response is None and not self._done:
            await self._open()
        while not self._pending:
            if self._done or self._chunks is None:
                await self.aclose()
                raise StopAsyncIteration
            try:
                text = await self._chunks.__anext__()
            except StopAsyncIteration:
                self._done = True
                text = "\n"
                if not self._terminal:
                    await self.aclose()
                    raise ProtocolError(
                        f"{self._what}: the stream ended without a completed or error event",
                        status=200,
                        path=self._path,
                        method="POST",
                    ) from None
            except httpx.TimeoutException as err:
                await self.aclose()
                raise APITimeoutError(f"{self._what}: no event within the deadline", path=self._path) from err
            except httpx.TransportError as err:
                await self.aclose()
                raise APIConnectionError(f"{self._what}: the stream broke: {err}", path=self._path) from err
            for name, data, _ in self._parser.push(text):
                event = self._event(name, data)
                if event is None:
                    continue
                if event.type in ("completed", "error"):
                    self._terminal = True
                self._take(event)
                self._pending.append(event)
        return self._pending.pop(0)

    async def collect(self) -> R:
        """Reads every event; returns the result of ``completed``, or raises
        for an ``error`` event: the class of its code (``SHUTTING_DOWN`` is an
        :class:`UnavailableError`), with ``code``, ``request_id`` and ``path``."""
        async for event in self:
            if event.type == "error":
                raise error_for_code(
                    event.code,
                    event.message or f"{self._what} failed",
                    status=200,
                    request_id=self._response.headers.get("x-request-id") if self._response is not None else None,
                    method="POST",
                    path=self._path,
                    body=event.to_dict(),
                )
        if self.result is None:
            raise ProtocolError(f"{self._what}: no completed event", status=200)
        return self.result

    async def aclose(self) -> None:
        """Closes the connection."""
        self._done = True
        if self._response is not None:
            await self._response.aclose()

    def __del__(self) -> None:
        response = getattr(self, "_response", None)
        if response is not None and not getattr(self, "_done", True):
            aclose_on_collect(response)

    async def __aenter__(self: S) -> S:
        if self._response is None:
            await self._open()
        return self

    async def __aexit__(
        self, kind: Optional[Type[BaseException]], value: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        await self.aclose()


class AsyncEventStream(AsyncSseStream[StreamEvent, ExecResult]):
    """The events of a run or exec stream: iterate it, then it is closed.

    ``async for event in stream``; ``await stream.collect()`` returns the
    run's result. Leaving it early (``aclose()``, the ``with`` block's end,
    or the stream object dropped) closes the connection, and the server
    cancels the run. ``run_id`` is the run's ledger id once the stream is open.
    """

    def __init__(self, http: AsyncHTTP, path: str, payload: JsonDict, output: str, what: str, timeout: float) -> None:
        super().__init__(http, path, payload, what, timeout, {"output": output} if output != "lines" else None)
        self._output = output
        self._out: Dict[str, List[bytes]] = {"stdout": [], "stderr": []}
        #: The run's ledger id (``x-paddock-run-id``), once open.
        self.run_id: Optional[int] = None

    def _opened(self, response: httpx.Response) -> None:
        run_id = response.headers.get("x-paddock-run-id")
        if run_id and run_id.isdigit():
            self.run_id = int(run_id)

    def _event(self, name: str, data: str) -> Optional[StreamEvent]:
        return to_event(name, data, self._output, self._what)

    def _take(self, event: StreamEvent) -> None:
        if event.type == "started" and event.id is not None and self.run_id is None:
            self.run_id = event.id
        if event.type in ("stdout", "stderr"):
            if event.data is not None:
                self._out[event.type].append(event.data)
            elif event.line is not None:
                self._out[event.type].append(event.line.encode("utf-8") + b"\n")
        if event.type == "completed":
            self.result = event.result(
                stdout=b"".join(self._out["stdout"]).decode("utf-8", "replace"),
                stderr=b"".join(self._out["stderr"]).decode("utf-8", "replace"),
            )

    async def cancel(self) -> CancelResponse:
        """Cancels the run on the server (``POST /v1/runs/{id}/cancel``)."""
        if self.run_id is None:
            raise ValueError("the stream is not open yet: no run id")
        answer = await self._http.json("POST", f"/v1/runs/{self.run_id}/cancel")
        return CancelResponse.model_validate(answer)


class AsyncCodeStream(AsyncSseStream[CodeEvent, CodeExecutionResult]):
    """The events of a streamed code call (see :class:`CodeEvent`): iterate
    it, or ``await stream.collect()`` for the result. Leaving it early closes
    the connection; the call still runs to its end on the server (its result
    is kept for its idempotency key)."""

    def _event(self, name: str, data: str) -> Optional[CodeEvent]:
        return to_code_event(name, data, self._what)

    def _take(self, event: CodeEvent) -> None:
        if event.type == "completed":
            self.result = event.result


class AsyncFollowStream(Generic[T]):
    """A followed Server-Sent Events stream that ends when the server ends it
    (or the caller closes it): each message named ``event``, converted."""

    def __init__(
        self, http: AsyncHTTP, path: str, query: Query, what: str, event: str, convert: Callable[[str, str], T]
    ) -> None:
        self._http = http
        self._path = path
        self._query = query
        self._what = what
        self._event = event
        self._convert = convert
        self._response: Optional[httpx.Response] = None
        self._chunks: Optional[AsyncIterator[str]] = None
        self._parser = SseParser()
        self._pending: List[T] = []
        self._done = False

    async def _open(self) -> None:
        self._response = await self._http.send(
            "GET", self._path, query=self._query, accept="text/event-stream", timeout=0, stream=True
        )
        kind = self._response.headers.get("content-type", "")
        if "text/event-stream" not in kind:
            await self.aclose()
            raise ProtocolError(f"{self._what}: expected text/event-stream, got {kind or 'nothing'}", status=200)
        self._chunks = self._response.aiter_text()

    def __aiter__(self: F) -> F:
        return self

    async def __anext__(self) -> T:
        if self._response is None and not self._done:
            await self._open()
        while not self._pending:
            if self._done or self._chunks is None:
                await self.aclose()
                raise StopAsyncIteration
            try:
                text = await self._chunks.__anext__()
            except StopAsyncIteration:
                self._done = True
                text = "\n"
            except httpx.TransportError as err:
                await self.aclose()
                raise APIConnectionError(f"{self._what}: the stream broke: {err}", path=self._path) from err
            for name, data, event_id in self._parser.push(text):
                if name == self._event:
                    self._pending.append(self._convert(data, event_id))
        return self._pending.pop(0)

    async def aclose(self) -> None:
        self._done = True
        if self._response is not None:
            await self._response.aclose()

    def __del__(self) -> None:
        response = getattr(self, "_response", None)
        if response is not None and not getattr(self, "_done", True):
            aclose_on_collect(response)

    async def __aenter__(self: F) -> F:
        return self

    async def __aexit__(
        self, kind: Optional[Type[BaseException]], value: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        await self.aclose()


def _log_chunk(data: str, _id: str) -> LogChunk:
    try:
        entry = json.loads(data)
    except ValueError:
        entry = None
    return to_log_chunk(entry, "processes.follow")


class AsyncLogStream(AsyncFollowStream[LogChunk]):
    """A followed process log (``processes.follow``): chunks as they are
    written, until the process has ended and its output is sent."""

    def __init__(self, http: AsyncHTTP, path: str, query: Query) -> None:
        super().__init__(http, path, query, "processes.follow", "log", _log_chunk)


def _acp_message(data: str, event_id: str) -> AcpMessage:
    try:
        envelope = json.loads(data)
    except ValueError:
        envelope = None
    if not isinstance(envelope, dict):
        raise ProtocolError("agents.follow: a message is not a JSON-RPC envelope", status=200, body=data)
    return AcpMessage(index=int(event_id or 0), envelope=envelope)


class AsyncAcpStream(AsyncFollowStream[AcpMessage]):
    """A followed ACP server (``agents.follow``): the agent's messages from
    the stored ones on, then live ones, until closed."""

    def __init__(self, http: AsyncHTTP, path: str, query: Query) -> None:
        super().__init__(http, path, query, "agents.follow", "message", _acp_message)


# ================================================================= resources


class AsyncCredentials:
    """Upstream keys the phantom proxy puts in (``/v1/credentials``); never returned."""

    def __init__(self, http: AsyncHTTP) -> None:
        self._http = http

    async def put(self, *, service: str, secret: str, tenant: Optional[str] = None) -> CredentialRecord:
        """Stores (or rotates) the tenant's key for ``service``."""
        answer = await self._http.json(
            "POST", "/v1/credentials", query={"tenant": tenant}, json={"service": service, "secret": secret}
        )
        return CredentialRecord.model_validate(answer)

    async def list(self, *, tenant: Optional[str] = None) -> List[CredentialRecord]:
        answer = await self._http.json("GET", "/v1/credentials", query={"tenant": tenant})
        return [CredentialRecord.model_validate(row) for row in answer]

    async def delete(self, service: str, *, tenant: Optional[str] = None) -> None:
        await self._http.json("DELETE", f"/v1/credentials/{seg(service)}", query={"tenant": tenant})


class AsyncSessions:
    """Phantom-token sessions (``/v1/sessions``)."""

    def __init__(self, http: AsyncHTTP) -> None:
        self._http = http

    async def create(
        self,
        *,
        services: Sequence[str],
        ttl_secs: Optional[int] = None,
        scopes: Optional[Mapping[str, Sequence[str]]] = None,
        max_requests: Optional[int] = None,
        tenant: Optional[str] = None,
    ) -> Session:
        """A session handing out phantom tokens for ``services``; its ``env``
        holds them with their base URLs (``session.subprocess_env()`` for
        ``subprocess``)."""
        payload = body(
            services=list(services),
            ttl_secs=ttl_secs,
            scopes={k: list(v) for k, v in scopes.items()} if scopes is not None else None,
            max_requests=max_requests,
        )
        answer = await self._http.json("POST", "/v1/sessions", query={"tenant": tenant}, json=payload)
        return Session.model_validate(answer)

    async def list(
        self,
        *,
        limit: Optional[int] = None,
        offset: Optional[int] = None,
        include_closed: Optional[bool] = None,
        tenant: Optional[str] = None,
    ) -> List[Session]:
        answer = await self._http.json(
            "GET",
            "/v1/sessions",
            query={"limit": limit, "offset": offset, "include_closed": include_closed, "tenant": tenant},
        )
        return [Session.model_validate(row) for row in answer]

    async def get(self, session_id: str) -> Session:
        return Session.model_validate(await self._http.json("GET", f"/v1/sessions/{seg(session_id)}"))

    async def close(self, session_id: str) -> None:
        """Closes the session: its tokens stop working at once."""
        await self._http.json("DELETE", f"/v1/sessions/{seg(session_id)}")

    delete = close

    async def exec(
        self,
        session_id: str,
        *,
        cmd: str,
        args: Optional[Sequence[str]] = None,
        timeout_secs: Optional[int] = None,
        memory_mb: Optional[int] = None,
        network: Optional[Network] = None,
        seccomp: Optional[str] = None,
        cpu_percent: Optional[int] = None,
        max_pids: Optional[int] = None,
    ) -> ExecResult:
        """Runs ``cmd`` in a jail with the session's environment (fresh tokens,
        the proxy on the jail's own 127.0.0.1)."""
        payload = {
            "cmd": cmd,
            **body(args=list(args) if args is not None else None),
            **jail_opts(timeout_secs, memory_mb, network, seccomp, cpu_percent, max_pids),
        }
        answer = await self._http.json(
            "POST",
            f"/v1/sessions/{seg(session_id)}/exec",
            json=payload,
            timeout=self._http.jail_timeout(timeout_secs),
        )
        return ExecResult.model_validate(answer)

    def exec_stream(
        self,
        session_id: str,
        *,
        cmd: str,
        args: Optional[Sequence[str]] = None,
        output: Optional[str] = None,
        timeout_secs: Optional[int] = None,
        memory_mb: Optional[int] = None,
        network: Optional[Network] = None,
        seccomp: Optional[str] = None,
        cpu_percent: Optional[int] = None,
        max_pids: Optional[int] = None,
    ) -> AsyncEventStream:
        """As :meth:`exec`, streaming its events (see :class:`AsyncEventStream`)."""
        payload = {
            "cmd": cmd,
            **body(args=list(args) if args is not None else None),
            **jail_opts(timeout_secs, memory_mb, network, seccomp, cpu_percent, max_pids),
        }
        return AsyncEventStream(
            self._http,
            f"/v1/sessions/{seg(session_id)}/exec/stream",
            payload,
            check_output(output),
            "sessions.exec_stream",
            self._http.jail_timeout(timeout_secs),
        )


class AsyncRuns:
    """One-off code runs in fresh jails (``/v1/runs``)."""

    def __init__(self, http: AsyncHTTP) -> None:
        self._http = http

    async def create(
        self,
        *,
        code: str,
        language: Optional[str] = None,
        timeout_secs: Optional[int] = None,
        memory_mb: Optional[int] = None,
        network: Optional[Network] = None,
        seccomp: Optional[str] = None,
        cpu_percent: Optional[int] = None,
        max_pids: Optional[int] = None,
        tenant: Optional[str] = None,
    ) -> ExecResult:
        """Runs ``code`` (``python``, ``bash`` or ``javascript``, the default)
        and returns its result. Cancelling the call (a task cancelled, a
        timeout) ends the jail on the server."""
        payload = {
            "code": code,
            **body(language=language),
            **jail_opts(timeout_secs, memory_mb, network, seccomp, cpu_percent, max_pids),
        }
        answer = await self._http.json(
            "POST",
            "/v1/runs",
            query={"tenant": tenant},
            json=payload,
            timeout=self._http.jail_timeout(timeout_secs),
        )
        return ExecResult.model_validate(answer)

    run = create

    def stream(
        self,
        *,
        code: str,
        language: Optional[str] = None,
        output: Optional[str] = None,
        timeout_secs: Optional[int] = None,
        memory_mb: Optional[int] = None,
        network: Optional[Network] = None,
        seccomp: Optional[str] = None,
        cpu_percent: Optional[int] = None,
        max_pids: Optional[int] = None,
    ) -> AsyncEventStream:
        """Runs ``code``, streaming its events: ``started``, ``stdout`` /
        ``stderr`` (``output="lines"``, or byte-exact ``"chunks"``),
        ``stats``, then ``completed`` or ``error``."""
        payload = {
            "code": code,
            **body(language=language),
            **jail_opts(timeout_secs, memory_mb, network, seccomp, cpu_percent, max_pids),
        }
        return AsyncEventStream(
            self._http,
            "/v1/runs/stream",
            payload,
            check_output(output),
            "runs.stream",
            self._http.jail_timeout(timeout_secs),
        )

    async def fork(
        self,
        *,
        parent_code: str,
        child_code: Optional[str] = None,
        children: Optional[Sequence[Mapping[str, Any]]] = None,
        language: Optional[str] = None,
        fork_after_ms: Optional[int] = None,
        timeout_secs: Optional[int] = None,
        memory_mb: Optional[int] = None,
        network: Optional[Network] = None,
        seccomp: Optional[str] = None,
        cpu_percent: Optional[int] = None,
        max_pids: Optional[int] = None,
    ) -> ForkResponse:
        """Runs the parent until ``fork_after_ms``, then each child on a copy
        of its ``/output``: ``child_code`` (one) or ``children``
        (``[{"code": ..., "memory_mb": ...}]``)."""
        if not child_code and not children:
            raise ValueError("fork: give child_code or children")
        if child_code and children:
            raise ValueError("fork: child_code and children exclude each other")
        payload = {
            "parent_code": parent_code,
            **body(
                child_code=child_code,
                children=[dict(c) for c in children] if children else None,
                language=language,
                fork_after_ms=fork_after_ms,
            ),
            **jail_opts(timeout_secs, memory_mb, network, seccomp, cpu_percent, max_pids),
        }
        answer = await self._http.json(
            "POST", "/v1/runs/fork", json=payload, timeout=2 * self._http.jail_timeout(timeout_secs)
        )
        return ForkResponse.model_validate(answer)

    async def cancel(self, run_id: int) -> CancelResponse:
        """Cancels a running jail of the ledger (a run, a stream, an exec)."""
        return CancelResponse.model_validate(await self._http.json("POST", f"/v1/runs/{seg(run_id)}/cancel"))

    async def get(self, run_id: int) -> JailRecord:
        """The run's ledger row."""
        return JailRecord.model_validate(await self._http.json("GET", f"/v1/jails/{seg(run_id)}"))


class AsyncJails:
    """The jail ledger (``/v1/jails``): every run, exec and workspace jail."""

    def __init__(self, http: AsyncHTTP) -> None:
        self._http = http

    async def list(
        self,
        *,
        limit: Optional[int] = None,
        offset: Optional[int] = None,
        status: Optional[str] = None,
        kind: Optional[str] = None,
        q: Optional[str] = None,
        tenant: Optional[str] = None,
    ) -> JailsList:
        answer = await self._http.json(
            "GET",
            "/v1/jails",
            query={"limit": limit, "offset": offset, "status": status, "kind": kind, "q": q, "tenant": tenant},
        )
        return JailsList.model_validate(answer)

    async def get(self, jail_id: int) -> JailRecord:
        return JailRecord.model_validate(await self._http.json("GET", f"/v1/jails/{seg(jail_id)}"))

    async def cancel(self, jail_id: int) -> CancelResponse:
        return CancelResponse.model_validate(await self._http.json("POST", f"/v1/runs/{seg(jail_id)}/cancel"))


class AsyncAudit:
    """The phantom proxy's requests (``/v1/audit``) and control-plane actions."""

    def __init__(self, http: AsyncHTTP) -> None:
        self._http = http

    async def list(
        self,
        *,
        limit: Optional[int] = None,
        offset: Optional[int] = None,
        q: Optional[str] = None,
        tenant: Optional[str] = None,
    ) -> AuditList:
        answer = await self._http.json(
            "GET", "/v1/audit", query={"limit": limit, "offset": offset, "q": q, "tenant": tenant}
        )
        return AuditList.model_validate(answer)

    async def recent(self, limit: Optional[int] = None) -> AuditList:
        """The newest proxy requests (agentjail's name)."""
        return await self.list(limit=limit)

    async def actions(
        self,
        *,
        limit: Optional[int] = None,
        offset: Optional[int] = None,
        q: Optional[str] = None,
        tenant: Optional[str] = None,
    ) -> ActionList:
        """Control-plane actions: who created, closed, stored or revoked what."""
        answer = await self._http.json(
            "GET", "/v1/audit/actions", query={"limit": limit, "offset": offset, "q": q, "tenant": tenant}
        )
        return ActionList.model_validate(answer)


class AsyncKeys:
    """API keys (``/v1/keys``, admins)."""

    def __init__(self, http: AsyncHTTP) -> None:
        self._http = http

    async def list(self, *, tenant: Optional[str] = None) -> List[KeyRecord]:
        answer = await self._http.json("GET", "/v1/keys", query={"tenant": tenant})
        return [KeyRecord.model_validate(row) for row in answer]

    async def create(self, *, tenant: str, role: str, label: Optional[str] = None) -> CreatedKey:
        """A new key; its ``token`` is in this answer only."""
        answer = await self._http.json("POST", "/v1/keys", json=body(tenant=tenant, role=role, label=label))
        return CreatedKey.model_validate(answer)

    async def revoke(self, key_id: str) -> None:
        await self._http.json("DELETE", f"/v1/keys/{seg(key_id)}")

    delete = revoke


class AsyncTokens:
    """Scoped tokens: short-lived bearer tokens bound to one workspace and a
    set of capabilities (``processes``, ``files:read``, ``files:write``,
    ``code``, ``agents``, ``previews``, ``desktop``, ``mcp``). A token works as the
    ``api_key`` of a client for its workspace's routes that its
    capabilities open, and is refused everywhere else."""

    def __init__(self, http: AsyncHTTP) -> None:
        self._http = http

    async def create(
        self,
        workspace_id: str,
        *,
        capabilities: Sequence[str],
        ttl_secs: Optional[int] = None,
        label: Optional[str] = None,
    ) -> CreatedScopedToken:
        """A new token (``pdt_…``); its secret is in this answer only."""
        answer = await self._http.json(
            "POST",
            f"/v1/workspaces/{seg(workspace_id)}/tokens",
            json=body(capabilities=list(capabilities), ttl_secs=ttl_secs, label=label),
        )
        return CreatedScopedToken.model_validate(answer)

    async def list(self, workspace_id: str) -> List[ScopedTokenRecord]:
        """Active, expired and revoked tokens, newest first (never secrets)."""
        answer = await self._http.json("GET", f"/v1/workspaces/{seg(workspace_id)}/tokens")
        return ScopedTokenList.model_validate(answer).tokens

    async def revoke(self, workspace_id: str, token_id: str) -> None:
        """The token stops working at once."""
        await self._http.json("DELETE", f"/v1/workspaces/{seg(workspace_id)}/tokens/{seg(token_id)}")

    delete = revoke

    async def mcp_config(
        self,
        workspace_id: str,
        *,
        capabilities: Optional[Sequence[str]] = None,
        ttl_secs: Optional[int] = None,
        server_name: Optional[str] = None,
    ) -> McpConfig:
        """A paste-able ``.mcp.json`` (``.config``) for the workspace's MCP
        endpoint with a freshly minted token (``mcp`` is always added)."""
        answer = await self._http.json(
            "GET",
            f"/v1/workspaces/{seg(workspace_id)}/mcp-config",
            query={
                "capabilities": ",".join(capabilities) if capabilities is not None else None,
                "ttl_secs": ttl_secs,
                "server_name": server_name,
            },
        )
        return McpConfig.model_validate(answer)


class AsyncPreviews:
    """Previews of ports served in running workspaces."""

    def __init__(self, http: AsyncHTTP) -> None:
        self._http = http

    async def create(
        self, workspace_id: str, *, port: int, public: Optional[bool] = None, ttl_secs: Optional[int] = None
    ) -> Preview:
        """Exposes ``port``; a private preview's ``access_url`` (with its
        secret) is in this answer only."""
        answer = await self._http.json(
            "POST",
            f"/v1/workspaces/{seg(workspace_id)}/previews",
            json=body(port=port, public=public, ttl_secs=ttl_secs),
        )
        return Preview.model_validate(answer)

    async def list(self, workspace_id: str) -> List[Preview]:
        answer = await self._http.json("GET", f"/v1/workspaces/{seg(workspace_id)}/previews")
        return PreviewList.model_validate(answer).previews

    async def revoke(self, workspace_id: str, preview_id: str) -> None:
        await self._http.json("DELETE", f"/v1/workspaces/{seg(workspace_id)}/previews/{seg(preview_id)}")

    delete = revoke

    async def request(
        self,
        workspace_id: str,
        port: int,
        path: str = "/",
        *,
        method: str = "GET",
        content: Optional[Content] = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> httpx.Response:
        """A request to the jailed server through the path-based relay, with
        the client's key. The answer is returned whatever its status."""
        url = f"{self._http.base_url}/v1/workspaces/{seg(workspace_id)}/previews/{int(port)}/proxy/{path.lstrip('/')}"
        sent = aiter_content(content) if content is not None else None
        all_headers = {**self._http.auth_headers(), **(headers or {})}
        try:
            return await self._http.client.request(
                method, url, content=sent, headers=all_headers, timeout=self._http._timeout(None)
            )
        except httpx.TimeoutException as err:
            raise APITimeoutError("previews.request: no answer within the deadline", method=method, path=url) from err
        except httpx.TransportError as err:
            raise APIConnectionError(f"previews.request: cannot reach {url}: {err}", method=method, path=url) from err


class AsyncSnapshots:
    """Snapshots of workspace trees (``/v1/snapshots``)."""

    def __init__(self, http: AsyncHTTP) -> None:
        self._http = http

    async def create(self, workspace_id: str, *, name: Optional[str] = None) -> SnapshotRecord:
        answer = await self._http.json(
            "POST",
            f"/v1/workspaces/{seg(workspace_id)}/snapshot",
            json=body(name=name),
            timeout=self._http.slow_timeout(),
        )
        return SnapshotRecord.model_validate(answer)

    async def list(
        self,
        *,
        workspace_id: Optional[str] = None,
        limit: Optional[int] = None,
        offset: Optional[int] = None,
        q: Optional[str] = None,
        tenant: Optional[str] = None,
    ) -> SnapshotList:
        answer = await self._http.json(
            "GET",
            "/v1/snapshots",
            query={"workspace_id": workspace_id, "limit": limit, "offset": offset, "q": q, "tenant": tenant},
        )
        return SnapshotList.model_validate(answer)

    async def get(self, snapshot_id: str) -> SnapshotRecord:
        return SnapshotRecord.model_validate(await self._http.json("GET", f"/v1/snapshots/{seg(snapshot_id)}"))

    async def manifest(self, snapshot_id: str) -> SnapshotManifest:
        answer = await self._http.json("GET", f"/v1/snapshots/{seg(snapshot_id)}/manifest")
        return SnapshotManifest.model_validate(answer)

    async def delete(self, snapshot_id: str) -> None:
        await self._http.json("DELETE", f"/v1/snapshots/{seg(snapshot_id)}")

    async def create_workspace_from(
        self, snapshot_id: str, *, parent_workspace_id: Optional[str] = None, label: Optional[str] = None
    ) -> Workspace:
        """A new workspace from a snapshot. ``parent_workspace_id`` (the
        snapshot's workspace, proof of ownership) is looked up when not given."""
        if parent_workspace_id is None:
            parent_workspace_id = (await self.get(snapshot_id)).workspace_id
            if parent_workspace_id is None:
                raise ValueError(f"snapshot {snapshot_id} names no workspace; pass parent_workspace_id")
        answer = await self._http.json(
            "POST",
            "/v1/workspaces/from-snapshot",
            json=body(snapshot_id=snapshot_id, parent_workspace_id=parent_workspace_id, label=label),
            timeout=self._http.slow_timeout(),
        )
        return Workspace.model_validate(answer)


class AsyncCode:
    """Code without a workspace (``POST /v1/code``): each call runs in a
    workspace the server keeps warm and deletes after it; with
    ``session_id`` the session keeps its workspace and variables (until it
    has been idle 15 minutes). ``result.workspace_id`` says where it ran."""

    def __init__(self, http: AsyncHTTP) -> None:
        self._http = http

    async def run(
        self,
        language: str,
        code: str,
        *,
        session_id: Optional[str] = None,
        timeout_ms: Optional[int] = None,
        env: Optional[Mapping[str, str]] = None,
        cwd: Optional[str] = None,
        idempotency_key: Optional[str] = None,
    ) -> CodeExecutionResult:
        """Tangle's ``runCode`` without a workspace (see the class)."""
        answer = await self._http.json(
            "POST",
            "/v1/code",
            json=code_body(language, code, session_id, timeout_ms, env, cwd, idempotency_key),
            timeout=code_timeout(timeout_ms, self._http.timeout),
        )
        return CodeExecutionResult.model_validate(answer)

    def stream(
        self,
        language: str,
        code: str,
        *,
        session_id: Optional[str] = None,
        timeout_ms: Optional[int] = None,
        env: Optional[Mapping[str, str]] = None,
        cwd: Optional[str] = None,
        idempotency_key: Optional[str] = None,
    ) -> AsyncCodeStream:
        """As :meth:`run`, with output and rich results as they come."""
        return AsyncCodeStream(
            self._http,
            "/v1/code/stream",
            code_body(language, code, session_id, timeout_ms, env, cwd, idempotency_key),
            "code.stream",
            code_timeout(timeout_ms, self._http.timeout),
        )

    async def end_session(self, session_id: str) -> None:
        """Ends a session now: its workspace and variables are deleted
        (sessions also end after 15 minutes without a call)."""
        await self._http.json("DELETE", f"/v1/code/sessions/{seg(session_id)}")


class AsyncKernels:
    """The code kernels of running workspaces (started by
    :meth:`AsyncWorkspaces.run_code`)."""

    def __init__(self, http: AsyncHTTP) -> None:
        self._http = http

    async def list(self, workspace_id: str) -> List[KernelInfo]:
        answer = await self._http.json("GET", f"/v1/workspaces/{seg(workspace_id)}/kernels")
        return KernelList.model_validate(answer).kernels

    async def interrupt(self, workspace_id: str, kernel_id: str) -> None:
        """Interrupts what the kernel runs; it and its variables live on."""
        await self._http.json("POST", f"/v1/workspaces/{seg(workspace_id)}/kernels/{seg(kernel_id)}/interrupt")

    async def restart(self, workspace_id: str, kernel_id: str) -> KernelInfo:
        """A new kernel in its place (its variables are gone)."""
        answer = await self._http.json("POST", f"/v1/workspaces/{seg(workspace_id)}/kernels/{seg(kernel_id)}/restart")
        return KernelInfo.model_validate(answer)

    async def shutdown(self, workspace_id: str, kernel_id: str) -> None:
        await self._http.json("DELETE", f"/v1/workspaces/{seg(workspace_id)}/kernels/{seg(kernel_id)}")


class AsyncAgentSessions:
    """Agent sessions (``/v1/workspaces/{id}/agent-sessions``): a coding
    agent's ACP session driven by paddock, with durable turns. Each turn is
    stored with its marker (``streaming``, ``completed``, ``interrupted``
    with ``interrupt_reason``); a ``turn_id`` the session has seen never runs
    again (the stored turn comes back with ``replayed``); a detached turn is
    read later with :meth:`turn`."""

    def __init__(self, http: AsyncHTTP) -> None:
        self._http = http

    @staticmethod
    def _path(workspace_id: str, session: Optional[str] = None) -> str:
        base = f"/v1/workspaces/{seg(workspace_id)}/agent-sessions"
        return base if session is None else f"{base}/{seg(session)}"

    async def create(
        self,
        workspace_id: str,
        agent: str,
        *,
        id: Optional[str] = None,
        cwd: Optional[str] = None,
        mode: Optional[str] = None,
        permissions: Optional[str] = None,
    ) -> AgentSession:
        """Starts ``agent`` in the workspace and opens its ACP session;
        ``permissions`` is ``ask`` (the default: kept for
        :meth:`answer_permission`), ``allow`` or ``reject``."""
        answer = await self._http.json(
            "POST",
            self._path(workspace_id),
            json=body(agent=agent, id=id, cwd=cwd, mode=mode, permissions=permissions),
        )
        return AgentSession.model_validate(answer)

    async def list(self, workspace_id: str) -> List[AgentSession]:
        answer = await self._http.json("GET", self._path(workspace_id))
        return AgentSessionList.model_validate(answer).sessions

    async def get(self, workspace_id: str, session: str) -> AgentSession:
        answer = await self._http.json("GET", self._path(workspace_id, session))
        return AgentSession.model_validate(answer)

    async def delete(self, workspace_id: str, session: str) -> None:
        """Ends the session's agent; the session and its turns are removed."""
        await self._http.json("DELETE", self._path(workspace_id, session))

    async def prompt(
        self,
        workspace_id: str,
        session: str,
        prompt: Union[str, Sequence[Mapping[str, Any]]],
        *,
        turn_id: Optional[str] = None,
        detach: Optional[bool] = None,
        timeout: Optional[float] = None,
    ) -> AgentTurn:
        """A turn: answered once it has ended (``timeout`` seconds for the
        call, none by default), or at once with ``detach``."""
        blocks = prompt if isinstance(prompt, str) else [dict(block) for block in prompt]
        answer = await self._http.json(
            "POST",
            f"{self._path(workspace_id, session)}/turns",
            json=body(prompt=blocks, turnId=turn_id, detach=detach),
            timeout=timeout if timeout is not None else (None if detach else 3600.0),
        )
        return AgentTurn.model_validate(answer)

    async def turns(self, workspace_id: str, session: str) -> List[AgentTurn]:
        answer = await self._http.json("GET", f"{self._path(workspace_id, session)}/turns")
        return AgentTurnList.model_validate(answer).turns

    async def turn(self, workspace_id: str, session: str, turn_id: str, *, wait_ms: Optional[int] = None) -> AgentTurn:
        """One turn (Tangle's ``findCompletedTurn``); ``wait_ms`` waits for a
        streaming turn to end."""
        answer = await self._http.json(
            "GET",
            f"{self._path(workspace_id, session)}/turns/{seg(turn_id)}",
            query=body(waitMs=wait_ms),
            timeout=None if wait_ms is None else wait_ms / 1000 + 30,
        )
        return AgentTurn.model_validate(answer)

    async def cancel(self, workspace_id: str, session: str, turn_id: str) -> AgentTurn:
        """ACP's ``session/cancel``; the turn as the agent left it."""
        answer = await self._http.json("POST", f"{self._path(workspace_id, session)}/turns/{seg(turn_id)}/cancel")
        return AgentTurn.model_validate(answer)

    async def answer_permission(self, workspace_id: str, session: str, request: str, reply: str) -> None:
        """Answers a waiting permission request: ``once``, ``always`` or ``reject``."""
        await self._http.json(
            "POST",
            f"{self._path(workspace_id, session)}/permissions/{seg(request)}",
            json={"reply": reply},
        )


class AsyncWorkspaces:
    """Persistent workspaces (``/v1/workspaces``): lifecycle, execs, forks,
    and their runtime (:meth:`runtime`)."""

    def __init__(self, http: AsyncHTTP, snapshots: AsyncSnapshots, previews: AsyncPreviews) -> None:
        self._http = http
        self._snapshots = snapshots
        self._previews = previews

    async def create(
        self,
        *,
        git: Optional[Mapping[str, Any]] = None,
        label: Optional[str] = None,
        idle_timeout_secs: Optional[int] = None,
        flavors: Optional[Sequence[str]] = None,
        domains: Optional[Sequence[Mapping[str, Any]]] = None,
        timeout_secs: Optional[int] = None,
        memory_mb: Optional[int] = None,
        network: Optional[Network] = None,
        seccomp: Optional[str] = None,
        cpu_percent: Optional[int] = None,
        max_pids: Optional[int] = None,
        tenant: Optional[str] = None,
    ) -> Workspace:
        """A new workspace: empty, or cloned from ``git`` (``{"repo", "ref"}``
        or ``{"repos": [...]}``)."""
        payload = {
            **body(
                git=dict(git) if git is not None else None,
                label=label,
                idle_timeout_secs=idle_timeout_secs,
                flavors=list(flavors) if flavors is not None else None,
                domains=[dict(d) for d in domains] if domains is not None else None,
            ),
            **jail_opts(timeout_secs, memory_mb, network, seccomp, cpu_percent, max_pids),
        }
        answer = await self._http.json(
            "POST", "/v1/workspaces", query={"tenant": tenant}, json=payload, timeout=self._http.slow_timeout()
        )
        return Workspace.model_validate(answer)

    async def list(
        self,
        *,
        limit: Optional[int] = None,
        offset: Optional[int] = None,
        q: Optional[str] = None,
        tenant: Optional[str] = None,
    ) -> WorkspaceList:
        answer = await self._http.json(
            "GET", "/v1/workspaces", query={"limit": limit, "offset": offset, "q": q, "tenant": tenant}
        )
        return WorkspaceList.model_validate(answer)

    async def get(self, workspace_id: str) -> Workspace:
        return Workspace.model_validate(await self._http.json("GET", f"/v1/workspaces/{seg(workspace_id)}"))

    async def update(self, workspace_id: str, *, label: Optional[str]) -> Workspace:
        """Sets (``None``: clears) the label."""
        answer = await self._http.json("PATCH", f"/v1/workspaces/{seg(workspace_id)}", json={"label": label})
        return Workspace.model_validate(answer)

    async def delete(self, workspace_id: str) -> None:
        """Stops it and removes its tree (409 ``WORKSPACE_BUSY`` while an exec runs)."""
        await self._http.json("DELETE", f"/v1/workspaces/{seg(workspace_id)}")

    async def run_code(
        self,
        workspace_id: str,
        language: str,
        code: str,
        *,
        session_id: Optional[str] = None,
        timeout_ms: Optional[int] = None,
        env: Optional[Mapping[str, str]] = None,
        cwd: Optional[str] = None,
        idempotency_key: Optional[str] = None,
    ) -> CodeExecutionResult:
        """Tangle's ``runCode``: runs ``code`` on the workspace's Jupyter
        kernel of ``language`` (one per ``session_id``, keeping its
        variables). A raised error is a result (``exit_code`` 1), not an
        exception; a timeout interrupts the code and keeps the kernel."""
        answer = await self._http.json(
            "POST",
            f"/v1/workspaces/{seg(workspace_id)}/code",
            json=code_body(language, code, session_id, timeout_ms, env, cwd, idempotency_key),
            timeout=code_timeout(timeout_ms, self._http.timeout),
        )
        return CodeExecutionResult.model_validate(answer)

    def run_code_stream(
        self,
        workspace_id: str,
        language: str,
        code: str,
        *,
        session_id: Optional[str] = None,
        timeout_ms: Optional[int] = None,
        env: Optional[Mapping[str, str]] = None,
        cwd: Optional[str] = None,
        idempotency_key: Optional[str] = None,
    ) -> AsyncCodeStream:
        """As :meth:`run_code`, with output and rich results as they come
        (see :class:`AsyncCodeStream`)."""
        return AsyncCodeStream(
            self._http,
            f"/v1/workspaces/{seg(workspace_id)}/code/stream",
            code_body(language, code, session_id, timeout_ms, env, cwd, idempotency_key),
            "workspaces.run_code_stream",
            code_timeout(timeout_ms, self._http.timeout),
        )

    async def exec(
        self,
        workspace_id: str,
        *,
        cmd: str,
        args: Optional[Sequence[str]] = None,
        env: Optional[Env] = None,
        timeout_secs: Optional[int] = None,
        memory_mb: Optional[int] = None,
    ) -> ExecResult:
        """Runs ``cmd`` in a jail on the workspace's tree (``/workspace``)."""
        payload = _exec_body(cmd, args, env, timeout_secs, memory_mb)
        answer = await self._http.json(
            "POST",
            f"/v1/workspaces/{seg(workspace_id)}/exec",
            json=payload,
            timeout=self._http.jail_timeout(timeout_secs),
        )
        return ExecResult.model_validate(answer)

    def exec_stream(
        self,
        workspace_id: str,
        *,
        cmd: str,
        args: Optional[Sequence[str]] = None,
        env: Optional[Env] = None,
        output: Optional[str] = None,
        timeout_secs: Optional[int] = None,
        memory_mb: Optional[int] = None,
    ) -> AsyncEventStream:
        """As :meth:`exec`, streaming its events."""
        return AsyncEventStream(
            self._http,
            f"/v1/workspaces/{seg(workspace_id)}/exec/stream",
            _exec_body(cmd, args, env, timeout_secs, memory_mb),
            check_output(output),
            "workspaces.exec_stream",
            self._http.jail_timeout(timeout_secs),
        )

    async def fork(self, workspace_id: str, *, count: int, label: Optional[str] = None) -> WorkspaceForkResponse:
        """``count`` independent copies (1..=16)."""
        answer = await self._http.json(
            "POST",
            f"/v1/workspaces/{seg(workspace_id)}/fork",
            json=body(count=count, label=label),
            timeout=self._http.slow_timeout(),
        )
        return WorkspaceForkResponse.model_validate(answer)

    async def snapshot(self, workspace_id: str, *, name: Optional[str] = None) -> SnapshotRecord:
        return await self._snapshots.create(workspace_id, name=name)

    async def from_snapshot(
        self, snapshot_id: str, *, parent_workspace_id: Optional[str] = None, label: Optional[str] = None
    ) -> Workspace:
        return await self._snapshots.create_workspace_from(
            snapshot_id, parent_workspace_id=parent_workspace_id, label=label
        )

    async def _run_state(self, workspace_id: str, action: str) -> WorkspaceRunState:
        answer = await self._http.json("POST", f"/v1/workspaces/{seg(workspace_id)}/{action}")
        return WorkspaceRunState.model_validate(answer)

    async def start(self, workspace_id: str) -> WorkspaceRunState:
        """Starts its runtime jail (idempotent)."""
        return await self._run_state(workspace_id, "start")

    async def stop(self, workspace_id: str) -> WorkspaceRunState:
        """Ends its runtime jail and every process; the tree stays."""
        return await self._run_state(workspace_id, "stop")

    async def pause(self, workspace_id: str) -> WorkspaceRunState:
        """Freezes its processes (409 ``WORKSPACE_NOT_RUNNING`` when stopped)."""
        return await self._run_state(workspace_id, "pause")

    async def resume(self, workspace_id: str) -> WorkspaceRunState:
        return await self._run_state(workspace_id, "resume")

    async def state(self, workspace_id: str) -> WorkspaceRunState:
        answer = await self._http.json("GET", f"/v1/workspaces/{seg(workspace_id)}/state")
        return WorkspaceRunState.model_validate(answer)

    def runtime(self, workspace_id: str) -> "AsyncRuntime":
        """The workspace's runtime API: processes, files, terminals."""
        return AsyncRuntime(self._http, workspace_id)

    def handle(self, workspace: Union[str, Workspace]) -> "AsyncWorkspaceHandle":
        """A handle on an existing workspace, with its methods bound."""
        return AsyncWorkspaceHandle(self, workspace)

    def sandbox_agent_base_url(self, workspace_id: str) -> str:
        """The base URL sandbox-agent's own SDK takes for this workspace."""
        return self._http.base_url + _runtime_prefix(workspace_id)


def _exec_body(
    cmd: str,
    args: Optional[Sequence[str]],
    env: Optional[Env],
    timeout_secs: Optional[int],
    memory_mb: Optional[int],
) -> JsonDict:
    pairs: Optional[List[List[str]]] = None
    if env is not None:
        if isinstance(env, Mapping):
            pairs = [[str(k), str(v)] for k, v in env.items()]
        else:
            pairs = [[str(pair[0]), str(pair[1])] for pair in env]
    return {
        "cmd": cmd,
        **body(
            args=list(args) if args is not None else None, env=pairs, timeout_secs=timeout_secs, memory_mb=memory_mb
        ),
    }


def _runtime_prefix(workspace_id: str) -> str:
    return f"/v1/workspaces/{seg(workspace_id)}/runtime"


# =================================================================== runtime


class AsyncRuntime:
    """A workspace's runtime (sandbox-agent's API under
    ``/v1/workspaces/{id}/runtime``). Every call starts a stopped workspace."""

    def __init__(self, http: AsyncHTTP, workspace_id: str) -> None:
        self.workspace_id = workspace_id
        self._http = http
        prefix = _runtime_prefix(workspace_id)
        self._prefix = prefix
        self.processes = AsyncProcesses(http, prefix)
        self.files = AsyncFiles(http, prefix)
        self.agents = AsyncAgents(http, prefix)
        self.desktop = AsyncDesktop(http, prefix)
        self.browser = AsyncBrowser(http, prefix)

    @property
    def base_url(self) -> str:
        """The runtime's base URL (what sandbox-agent's SDK takes)."""
        return self._http.base_url + self._prefix

    async def health(self) -> RuntimeHealth:
        return RuntimeHealth.model_validate(await self._http.json("GET", f"{self._prefix}/v1/health"))


class AsyncBrowser:
    """A workspace's browser (``…/runtime/v1/browser``): agent-browser's
    commands run by the real ``agent-browser`` in the workspace, driving
    Debian's Chromium there (it needs the ``browser`` flavor)."""

    def __init__(self, http: AsyncHTTP, prefix: str) -> None:
        self._http = http
        self._path = f"{prefix}/v1/browser"

    async def run(
        self,
        command: str,
        *args: str,
        session: Optional[str] = None,
        timeout_ms: Optional[int] = None,
    ) -> BrowserCommandResponse:
        """Runs one command with its arguments as on agent-browser's command
        line: ``run("snapshot", "-i")``, ``run("fill", "@e2", "a@b.c")``. A
        screenshot taken without a path answers its PNG in ``image``."""
        request = body(command=command, args=list(args), session=session, timeoutMs=timeout_ms)
        return BrowserCommandResponse.model_validate(await self._http.json("POST", self._path, json=request))

    async def open(self, url: str, *, session: Optional[str] = None) -> BrowserCommandResponse:
        """``open URL`` (403 ``BROWSER_URL_REFUSED`` when the workspace's network cannot reach it)."""
        return await self.run("open", url, session=session)

    async def snapshot(self, *args: str, session: Optional[str] = None) -> BrowserCommandResponse:
        """``snapshot`` (``-i`` when no flags are given): the tree is ``data["snapshot"]``."""
        return await self.run("snapshot", *(args or ("-i",)), session=session)

    async def screenshot(self, *args: str, session: Optional[str] = None) -> bytes:
        """``screenshot`` (flags: ``--full``, ``--annotate``): the PNG's bytes."""
        answer = await self.run("screenshot", *args, session=session)
        if answer.image is None:
            raise ValueError("the screenshot answered no image")
        return base64.b64decode(answer.image.data)


class AsyncDesktop:
    """A workspace's desktop (``…/runtime/v1/desktop``, sandbox-agent's
    shapes): Xvfb and openbox in the workspace (it needs the ``desktop``
    flavor), screenshots, mouse, keyboard, windows, clipboard, programs and
    recordings."""

    def __init__(self, http: AsyncHTTP, prefix: str) -> None:
        self._http = http
        self._base = f"{prefix}/v1/desktop"

    async def _post(self, path: str, json: Any = None) -> Any:
        return await self._http.json("POST", f"{self._base}/{path}", json=json)

    async def start(
        self,
        *,
        width: Optional[int] = None,
        height: Optional[int] = None,
        dpi: Optional[int] = None,
        display_num: Optional[int] = None,
        recording_fps: Optional[int] = None,
    ) -> DesktopStatusResponse:
        """Starts the desktop (and the workspace); an active one answers as it is."""
        request = body(width=width, height=height, dpi=dpi, displayNum=display_num, recordingFps=recording_fps)
        return DesktopStatusResponse.model_validate(await self._post("start", request))

    async def stop(self) -> DesktopStatusResponse:
        return DesktopStatusResponse.model_validate(await self._post("stop"))

    async def status(self) -> DesktopStatusResponse:
        """``install_required`` names what is missing; starts nothing."""
        return DesktopStatusResponse.model_validate(await self._http.json("GET", f"{self._base}/status"))

    def vnc_url(self) -> str:
        """The live view's WebSocket URL (view-only VNC, websockify's
        framing) for noVNC or another WebSocket VNC viewer. Send the API key
        with the handshake (``Authorization: Bearer``, or the subprotocols
        ``binary`` and ``paddock.bearer.<base64url key>`` from a browser)."""
        return ws_url(self._http.base_url, f"{self._base}/vnc")

    async def display_info(self) -> DesktopDisplayInfoResponse:
        return DesktopDisplayInfoResponse.model_validate(await self._http.json("GET", f"{self._base}/display/info"))

    async def screenshot(
        self,
        *,
        format: Optional[str] = None,
        quality: Optional[int] = None,
        scale: Optional[float] = None,
        show_cursor: Optional[bool] = None,
        region: Optional[Tuple[int, int, int, int]] = None,
    ) -> bytes:
        """The screen (or ``region=(x, y, width, height)``) as PNG, JPEG or WebP bytes."""
        query: Dict[str, Any] = {"format": format, "quality": quality, "scale": scale, "showCursor": show_cursor}
        path = f"{self._base}/screenshot"
        if region is not None:
            path += "/region"
            query.update(zip(("x", "y", "width", "height"), region))
        response = await self._http.send("GET", path, query=query, accept="image/*")
        return response.content

    async def mouse_position(self) -> DesktopMousePositionResponse:
        return DesktopMousePositionResponse.model_validate(await self._http.json("GET", f"{self._base}/mouse/position"))

    async def move_mouse(self, x: int, y: int) -> DesktopMousePositionResponse:
        return DesktopMousePositionResponse.model_validate(await self._post("mouse/move", {"x": x, "y": y}))

    async def click(
        self, x: int, y: int, *, button: Optional[str] = None, click_count: Optional[int] = None
    ) -> DesktopMousePositionResponse:
        request = body(x=x, y=y, button=button, clickCount=click_count)
        return DesktopMousePositionResponse.model_validate(await self._post("mouse/click", request))

    async def mouse_down(
        self, *, x: Optional[int] = None, y: Optional[int] = None, button: Optional[str] = None
    ) -> DesktopMousePositionResponse:
        return DesktopMousePositionResponse.model_validate(await self._post("mouse/down", body(x=x, y=y, button=button)))

    async def mouse_up(
        self, *, x: Optional[int] = None, y: Optional[int] = None, button: Optional[str] = None
    ) -> DesktopMousePositionResponse:
        return DesktopMousePositionResponse.model_validate(await self._post("mouse/up", body(x=x, y=y, button=button)))

    async def drag(
        self, start: Tuple[int, int], end: Tuple[int, int], *, button: Optional[str] = None
    ) -> DesktopMousePositionResponse:
        request = body(startX=start[0], startY=start[1], endX=end[0], endY=end[1], button=button)
        return DesktopMousePositionResponse.model_validate(await self._post("mouse/drag", request))

    async def scroll(
        self, x: int, y: int, *, delta_x: Optional[int] = None, delta_y: Optional[int] = None
    ) -> DesktopMousePositionResponse:
        request = body(x=x, y=y, deltaX=delta_x, deltaY=delta_y)
        return DesktopMousePositionResponse.model_validate(await self._post("mouse/scroll", request))

    async def type(self, text: str, *, delay_ms: Optional[int] = None) -> DesktopActionResponse:
        return DesktopActionResponse.model_validate(await self._post("keyboard/type", body(text=text, delayMs=delay_ms)))

    async def press(self, key: str, *, modifiers: Optional[Mapping[str, bool]] = None) -> DesktopActionResponse:
        """A key or chord: ``Return``, ``ctrl+shift+t``."""
        request = body(key=key, modifiers=dict(modifiers) if modifiers is not None else None)
        return DesktopActionResponse.model_validate(await self._post("keyboard/press", request))

    async def key_down(self, key: str) -> DesktopActionResponse:
        return DesktopActionResponse.model_validate(await self._post("keyboard/down", {"key": key}))

    async def key_up(self, key: str) -> DesktopActionResponse:
        return DesktopActionResponse.model_validate(await self._post("keyboard/up", {"key": key}))

    async def windows(self) -> List[DesktopWindowInfo]:
        answer = await self._http.json("GET", f"{self._base}/windows")
        return DesktopWindowListResponse.model_validate(answer).windows

    async def focused_window(self) -> DesktopWindowInfo:
        return DesktopWindowInfo.model_validate(await self._http.json("GET", f"{self._base}/windows/focused"))

    async def focus_window(self, window_id: str) -> DesktopWindowInfo:
        return DesktopWindowInfo.model_validate(await self._post(f"windows/{seg(window_id)}/focus"))

    async def move_window(self, window_id: str, x: int, y: int) -> DesktopWindowInfo:
        return DesktopWindowInfo.model_validate(await self._post(f"windows/{seg(window_id)}/move", {"x": x, "y": y}))

    async def resize_window(self, window_id: str, width: int, height: int) -> DesktopWindowInfo:
        request = {"width": width, "height": height}
        return DesktopWindowInfo.model_validate(await self._post(f"windows/{seg(window_id)}/resize", request))

    async def clipboard(self, selection: Optional[str] = None) -> DesktopClipboardResponse:
        answer = await self._http.json("GET", f"{self._base}/clipboard", query={"selection": selection})
        return DesktopClipboardResponse.model_validate(answer)

    async def set_clipboard(self, text: str, selection: Optional[str] = None) -> DesktopActionResponse:
        return DesktopActionResponse.model_validate(await self._post("clipboard", body(text=text, selection=selection)))

    async def launch(
        self, app: str, args: Optional[Sequence[str]] = None, *, wait: Optional[bool] = None
    ) -> DesktopLaunchResponse:
        """A program with ``DISPLAY`` set; ``wait=True`` answers its first window."""
        request = body(app=app, args=list(args) if args is not None else None, wait=wait)
        return DesktopLaunchResponse.model_validate(await self._post("launch", request))

    async def open(self, target: str) -> DesktopOpenResponse:
        return DesktopOpenResponse.model_validate(await self._post("open", {"target": target}))

    async def start_recording(self, *, fps: Optional[int] = None) -> DesktopRecordingInfo:
        return DesktopRecordingInfo.model_validate(await self._post("recording/start", body(fps=fps)))

    async def stop_recording(self) -> DesktopRecordingInfo:
        return DesktopRecordingInfo.model_validate(await self._post("recording/stop"))

    async def recordings(self) -> List[DesktopRecordingInfo]:
        answer = await self._http.json("GET", f"{self._base}/recordings")
        return DesktopRecordingListResponse.model_validate(answer).recordings

    async def recording(self, recording_id: str) -> DesktopRecordingInfo:
        answer = await self._http.json("GET", f"{self._base}/recordings/{seg(recording_id)}")
        return DesktopRecordingInfo.model_validate(answer)

    async def download_recording(self, recording_id: str) -> bytes:
        """The MP4's bytes."""
        path = f"{self._base}/recordings/{seg(recording_id)}/download"
        return (await self._http.send("GET", path, accept="video/mp4")).content

    async def delete_recording(self, recording_id: str) -> None:
        await self._http.json("DELETE", f"{self._base}/recordings/{seg(recording_id)}")

    async def stream_status(self) -> DesktopStreamStatusResponse:
        """Never active: paddock serves no WebRTC stream."""
        return DesktopStreamStatusResponse.model_validate(await self._http.json("GET", f"{self._base}/stream/status"))

    async def start_stream(self) -> DesktopStreamStatusResponse:
        """Raises (501): paddock serves no WebRTC stream."""
        return DesktopStreamStatusResponse.model_validate(await self._post("stream/start"))

    async def stop_stream(self) -> DesktopStreamStatusResponse:
        return DesktopStreamStatusResponse.model_validate(await self._post("stream/stop"))


class AsyncAgents:
    """Coding agents of a workspace (``…/runtime/v1/agents``) and their ACP
    servers (``…/runtime/v1/acp``): agent processes in the workspace spoken
    to in JSON-RPC 2.0 envelopes. ``send`` posts one (the first names the
    agent); ``follow`` yields the agent's messages from the stored ones on;
    ``transcript`` reads both directions as stored."""

    def __init__(self, http: AsyncHTTP, prefix: str) -> None:
        self._http = http
        self._agents = f"{prefix}/v1/agents"
        self._acp = f"{prefix}/v1/acp"

    async def list(self, *, config: Optional[bool] = None) -> List[AgentInfo]:
        """Every agent, installed or not (``config=True`` adds its options)."""
        answer = await self._http.json("GET", self._agents, query={"config": config})
        return AgentListResponse.model_validate(answer).agents

    async def get(self, agent: str, *, config: Optional[bool] = None) -> AgentInfo:
        return AgentInfo.model_validate(
            await self._http.json("GET", f"{self._agents}/{seg(agent)}", query={"config": config})
        )

    async def install(self, agent: str, *, reinstall: Optional[bool] = None) -> AgentInstallResponse:
        """Installs the agent's pinned npm packages on the server's host
        (answers when done; up to 15 minutes)."""
        answer = await self._http.json(
            "POST", f"{self._agents}/{seg(agent)}/install", json={"reinstall": reinstall}, timeout=15 * 60
        )
        return AgentInstallResponse.model_validate(answer)

    async def servers(self) -> List[AcpServerInfo]:
        """The workspace's ACP servers, oldest first."""
        return AcpServerListResponse.model_validate(await self._http.json("GET", self._acp)).servers

    async def send(
        self, server_id: str, envelope: Mapping[str, Any], *, agent: Optional[str] = None
    ) -> Optional[Dict[str, Any]]:
        """Sends a JSON-RPC envelope to the server's agent (``agent`` starts it
        on the first). A request returns the agent's response (a prompt's
        when its turn ends: no deadline); anything else ``None``."""
        answer = await self._http.json(
            "POST", f"{self._acp}/{seg(server_id)}", query={"agent": agent}, json=dict(envelope), timeout=0
        )
        return answer if isinstance(answer, dict) else None

    def follow(self, server_id: str, *, since: Optional[int] = None) -> AsyncAcpStream:
        """The agent's messages after ``since`` (from the first without it),
        then live ones, until the stream is closed."""
        return AsyncAcpStream(self._http, f"{self._acp}/{seg(server_id)}", {"since": since})

    async def transcript(
        self, server_id: str, *, since: Optional[int] = None, limit: Optional[int] = None
    ) -> AcpEventList:
        """The stored envelopes, both directions, after ``since``."""
        answer = await self._http.json(
            "GET", f"{self._acp}/{seg(server_id)}/events", query={"since": since, "limit": limit}
        )
        return AcpEventList.model_validate(answer)

    async def delete_server(self, server_id: str) -> None:
        """Ends the agent; its transcript stays readable until the id is reused."""
        await self._http.json("DELETE", f"{self._acp}/{seg(server_id)}")

    def _config(self, kind: str) -> str:
        return f"{self._acp[: -len('/acp')]}/config/{kind}"

    async def get_mcp_config(self, directory: str, mcp_name: str) -> Dict[str, Any]:
        """The MCP server ``mcp_name`` of ``directory``'s agents (sandbox-agent's
        ``McpServerConfig``: ``{"type": "local", "command", ...}`` or
        ``{"type": "remote", "url", ...}``). Agents opening a session with the
        directory as ``cwd`` get it in ``mcpServers``."""
        answer: Dict[str, Any] = await self._http.json(
            "GET", self._config("mcp"), query={"directory": directory, "mcpName": mcp_name}
        )
        return answer

    async def set_mcp_config(self, directory: str, mcp_name: str, config: Mapping[str, Any]) -> None:
        await self._http.json(
            "PUT", self._config("mcp"), query={"directory": directory, "mcpName": mcp_name}, json=dict(config)
        )

    async def delete_mcp_config(self, directory: str, mcp_name: str) -> None:
        await self._http.json("DELETE", self._config("mcp"), query={"directory": directory, "mcpName": mcp_name})

    async def get_skills_config(self, directory: str, skill_name: str) -> SkillsConfig:
        """The skills entry ``skill_name`` of ``directory``'s agents; copied where
        an agent reads a project's skills when it opens a session there."""
        answer = await self._http.json(
            "GET", self._config("skills"), query={"directory": directory, "skillName": skill_name}
        )
        return SkillsConfig.model_validate(answer)

    async def set_skills_config(self, directory: str, skill_name: str, sources: Sequence[Mapping[str, Any]]) -> None:
        """``sources``: ``{"type": "local" | "git" | "github", "source", "skills"?, "ref"?, "subpath"?}``."""
        await self._http.json(
            "PUT",
            self._config("skills"),
            query={"directory": directory, "skillName": skill_name},
            json={"sources": [dict(source) for source in sources]},
        )

    async def delete_skills_config(self, directory: str, skill_name: str) -> None:
        await self._http.json(
            "DELETE", self._config("skills"), query={"directory": directory, "skillName": skill_name}
        )


class AsyncProcesses:
    """Processes of a running workspace."""

    def __init__(self, http: AsyncHTTP, prefix: str) -> None:
        self._http = http
        self._base = f"{prefix}/v1/processes"

    async def run(
        self,
        command: str,
        args: Optional[Sequence[str]] = None,
        *,
        cwd: Optional[str] = None,
        env: Optional[Mapping[str, str]] = None,
        timeout_ms: Optional[int] = None,
        max_output_bytes: Optional[int] = None,
    ) -> ProcessRunResponse:
        """Runs ``command`` to its end and returns its output."""
        payload = {
            "command": command,
            **body(
                args=list(args) if args is not None else None,
                cwd=cwd,
                env=dict(env) if env is not None else None,
                timeoutMs=timeout_ms,
                maxOutputBytes=max_output_bytes,
            ),
        }
        deadline = (timeout_ms / 1000 if timeout_ms else MAX_RUN_TIMEOUT) + JAIL_GRACE
        answer = await self._http.json("POST", f"{self._base}/run", json=payload, timeout=deadline)
        return ProcessRunResponse.model_validate(answer)

    async def create(
        self,
        command: str,
        args: Optional[Sequence[str]] = None,
        *,
        cwd: Optional[str] = None,
        env: Optional[Mapping[str, str]] = None,
        interactive: Optional[bool] = None,
        tty: Optional[bool] = None,
    ) -> ProcessInfo:
        """Starts ``command`` as a managed process that outlives this call."""
        payload = {
            "command": command,
            **body(
                args=list(args) if args is not None else None,
                cwd=cwd,
                env=dict(env) if env is not None else None,
                interactive=interactive,
                tty=tty,
            ),
        }
        answer = await self._http.json("POST", self._base, json=payload)
        return ProcessInfo.model_validate(answer)

    start = create

    async def list(self, *, owner: Optional[str] = None) -> List[ProcessInfo]:
        answer = await self._http.json("GET", self._base, query={"owner": owner})
        return ProcessListResponse.model_validate(answer).processes

    async def get(self, process_id: str) -> ProcessInfo:
        return ProcessInfo.model_validate(await self._http.json("GET", f"{self._base}/{seg(process_id)}"))

    async def stop(self, process_id: str, *, wait_ms: Optional[int] = None) -> ProcessInfo:
        """SIGTERM to its process group; waits up to ``wait_ms`` (server default 2000)."""
        return await self._signal(process_id, "stop", wait_ms)

    async def kill(self, process_id: str, *, wait_ms: Optional[int] = None) -> ProcessInfo:
        """SIGKILL to its process group."""
        return await self._signal(process_id, "kill", wait_ms)

    async def _signal(self, process_id: str, action: str, wait_ms: Optional[int]) -> ProcessInfo:
        deadline = (wait_ms or 2000) / 1000 + JAIL_GRACE
        answer = await self._http.json(
            "POST", f"{self._base}/{seg(process_id)}/{action}", query={"waitMs": wait_ms}, timeout=deadline
        )
        return ProcessInfo.model_validate(answer)

    async def delete(self, process_id: str) -> None:
        """Forgets an exited process (409 while it runs)."""
        await self._http.json("DELETE", f"{self._base}/{seg(process_id)}")

    async def logs(
        self,
        process_id: str,
        *,
        stream: Optional[str] = None,
        tail: Optional[int] = None,
        since: Optional[int] = None,
    ) -> ProcessLogs:
        """The retained output (``stream``: ``combined``, ``stdout``, ``stderr``, ``pty``)."""
        answer = await self._http.json(
            "GET",
            f"{self._base}/{seg(process_id)}/logs",
            query={"stream": stream, "tail": tail, "since": since},
        )
        if not isinstance(answer, dict) or not isinstance(answer.get("entries"), list):
            raise ProtocolError("processes.logs: the answer has no entries", status=200, body=answer)
        return ProcessLogs(
            process_id=str(answer.get("processId", process_id)),
            stream=str(answer.get("stream", "")),
            entries=[to_log_chunk(entry, "processes.logs") for entry in answer["entries"]],
        )

    def follow(
        self,
        process_id: str,
        *,
        stream: Optional[str] = None,
        tail: Optional[int] = None,
        since: Optional[int] = None,
    ) -> AsyncLogStream:
        """Its output as it is written (Server-Sent Events), from the retained
        chunks on, until the process ends."""
        return AsyncLogStream(
            self._http,
            f"{self._base}/{seg(process_id)}/logs",
            {"stream": stream, "tail": tail, "since": since, "follow": True},
        )

    async def input(
        self, process_id: str, data: Union[str, bytes], *, eof: Optional[bool] = None
    ) -> ProcessInputResponse:
        """Writes ``data`` to its standard input; ``eof=True`` closes it after."""
        answer = await self._http.json(
            "POST", f"{self._base}/{seg(process_id)}/input", json=input_body(data, eof)
        )
        return ProcessInputResponse.model_validate(answer)

    async def resize(self, process_id: str, *, cols: int, rows: int) -> ProcessTerminalSize:
        """Sets a terminal process's window size."""
        answer = await self._http.json(
            "POST", f"{self._base}/{seg(process_id)}/terminal/resize", json={"cols": cols, "rows": rows}
        )
        return ProcessTerminalSize.model_validate(answer)

    def terminal(self, process_id: str, *, open_timeout: float = 30.0) -> "AsyncTerminal":
        """The terminal of a ``tty`` process over a WebSocket; use it as a
        context manager (``async with ... as term``)."""
        url = ws_url(self._http.base_url, f"{self._base}/{seg(process_id)}/terminal/ws")
        headers = {**self._http.auth_headers(), "x-request-id": new_request_id()}
        return AsyncTerminal(url, headers, process_id, open_timeout)

    async def config(self) -> ProcessConfig:
        return ProcessConfig.model_validate(await self._http.json("GET", f"{self._base}/config"))

    async def set_config(
        self,
        *,
        max_concurrent_processes: int,
        default_run_timeout_ms: int,
        max_run_timeout_ms: int,
        max_output_bytes: int,
        max_log_bytes_per_process: int,
        max_input_bytes_per_request: int,
    ) -> ProcessConfig:
        """Lowers the workspace's process limits (never above the server's)."""
        payload = {
            "maxConcurrentProcesses": max_concurrent_processes,
            "defaultRunTimeoutMs": default_run_timeout_ms,
            "maxRunTimeoutMs": max_run_timeout_ms,
            "maxOutputBytes": max_output_bytes,
            "maxLogBytesPerProcess": max_log_bytes_per_process,
            "maxInputBytesPerRequest": max_input_bytes_per_request,
        }
        return ProcessConfig.model_validate(await self._http.json("POST", f"{self._base}/config", json=payload))


class AsyncTerminal:
    """A process's terminal over a WebSocket.

    ``send`` types, ``resize`` sets the window, ``recv`` returns the next
    output bytes (``None`` once the process exited: ``exit_code`` is set).
    Closing it leaves the process running.
    """

    def __init__(self, url: str, headers: Mapping[str, str], process_id: str, open_timeout: float) -> None:
        self.process_id = process_id
        self._url = url
        self._headers = dict(headers)
        self._open_timeout = open_timeout
        self._ws: Optional[ClientConnection] = None
        self._closed = False
        #: The exit code, once the process ended (``None`` before, or when a signal ended it).
        self.exit_code: Optional[int] = None
        #: Whether the process has exited.
        self.exited = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(process_id={self.process_id!r}, exited={self.exited!r})"

    async def connect(self) -> "AsyncTerminal":
        """Opens the WebSocket and waits for the server's ``ready``."""
        if self._ws is not None:
            return self
        try:
            self._ws = await connect(
                self._url, additional_headers=self._headers, open_timeout=self._open_timeout, max_size=None
            )
        except InvalidStatus as err:  # the server answered, but not with a WebSocket
            status = err.response.status_code
            raw = bytes(err.response.body or b"")
            code = _json_object(raw.decode("utf-8", "replace")).get("code")
            raise error_class(status)(
                f"terminal: the server refused the WebSocket ({status})",
                code=code if isinstance(code, str) else None,
                status=status,
                request_id=err.response.headers.get("x-request-id") or self._headers.get("x-request-id"),
                method="GET",
                path=self._url,
            ) from err
        except (asyncio.TimeoutError, TimeoutError) as err:
            raise APITimeoutError(
                f"terminal: the WebSocket did not open within {self._open_timeout} s", method="GET", path=self._url
            ) from err
        except (InvalidHandshake, OSError) as err:  # refused, reset, not a WebSocket answer
            raise APIConnectionError(
                f"terminal: cannot open the WebSocket: {err}", method="GET", path=self._url
            ) from err
        while True:
            frame = await arecv_frame(self._ws, self._open_timeout)
            if isinstance(frame, str):
                message = _json_object(frame)
                if message.get("type") == "ready":
                    return self
                if message.get("type") == "error":
                    raise ProtocolError(f"terminal: {message.get('message')}", status=101)
                if message.get("type") == "exit":
                    self._exit(message)
                    return self

    def _exit(self, message: Mapping[str, Any]) -> None:
        self.exited = True
        code = message.get("exitCode")
        self.exit_code = code if isinstance(code, int) else None

    def _socket(self) -> ClientConnection:
        if self._ws is None:
            raise RuntimeError("the terminal is not connected: use it as a context manager or call connect()")
        return self._ws

    async def send(self, data: Union[str, bytes]) -> None:
        """Types ``data`` (text, or bytes sent as base64)."""
        if isinstance(data, str):
            message = {"type": "input", "data": data, "encoding": "utf8"}
        else:
            message = input_body(data, None)
            message["type"] = "input"
        await asend_json(self._socket(), message)

    async def resize(self, cols: int, rows: int) -> None:
        await asend_json(self._socket(), {"type": "resize", "cols": cols, "rows": rows})

    async def recv(self, timeout: Optional[float] = None) -> Optional[bytes]:
        """The next output bytes; ``None`` when the process has exited (or the
        socket closed normally). Raises :class:`APITimeoutError` (a
        ``TimeoutError``) after ``timeout`` seconds and
        :class:`APIConnectionError` when the socket closed abnormally."""
        if self.exited or self._closed:
            return None
        ws = self._socket()
        while True:
            try:
                frame = await arecv_frame(ws, timeout)  # APITimeoutError after timeout
            except ConnectionClosedOK:  # a normal close
                self._closed = True
                return None
            except ConnectionClosedError as err:  # closed abnormally (1006, 1011, ...)
                self._closed = True
                raise APIConnectionError(
                    f"terminal: the WebSocket closed abnormally ({err})", method="GET", path=self._url
                ) from err
            if isinstance(frame, bytes):
                return frame
            message = _json_object(frame)
            kind = message.get("type")
            if kind == "exit":
                self._exit(message)
                return None
            if kind == "error":
                raise ProtocolError(f"terminal: {message.get('message')}", status=101)

    async def read_until(self, marker: Union[str, bytes], timeout: float = 30.0) -> bytes:
        """Output until ``marker`` appears (returned with everything before it)."""
        needle = marker.encode("utf-8") if isinstance(marker, str) else marker
        seen = b""
        deadline = time.monotonic() + timeout
        while needle not in seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise APITimeoutError(
                    f"terminal: {marker!r} did not appear within {timeout} s; got {seen[-500:]!r}",
                    method="GET",
                    path=self._url,
                )
            chunk = await self.recv(timeout=left)
            if chunk is None:
                raise ProtocolError(
                    f"terminal: the process exited before {marker!r} appeared; got {seen[-500:]!r}", status=101
                )
            seen += chunk
        return seen

    def __aiter__(self) -> "AsyncTerminal":
        return self

    async def __anext__(self) -> bytes:
        chunk = await self.recv()
        if chunk is None:
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        """Closes the socket; the process keeps running."""
        if self._ws is not None and not self._closed:
            self._closed = True
            try:
                await asend_json(self._ws, {"type": "close"})
            except Exception:
                pass
            await self._ws.close()

    async def __aenter__(self) -> "AsyncTerminal":
        return await self.connect()

    async def __aexit__(
        self, kind: Optional[Type[BaseException]], value: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        await self.aclose()


def _json_object(text: str) -> Dict[str, Any]:
    try:
        parsed = json.loads(text)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


class AsyncFiles:
    """Files of a workspace, beneath ``/workspace`` (relative paths are from there)."""

    def __init__(self, http: AsyncHTTP, prefix: str) -> None:
        self._http = http
        self._base = f"{prefix}/v1/fs"

    async def list(self, path: Optional[str] = None) -> List[FsEntry]:
        """The entries of a directory (``/workspace`` by default), sorted by name."""
        answer = await self._http.json("GET", f"{self._base}/entries", query={"path": path})
        return [FsEntry.model_validate(entry) for entry in answer]

    entries = list

    async def read(self, path: str) -> bytes:
        """A file's bytes."""
        response = await self._http.send("GET", f"{self._base}/file", query={"path": _path(path)})
        return response.content

    async def read_text(self, path: str, encoding: str = "utf-8") -> str:
        return (await self.read(path)).decode(encoding)

    async def stream(self, path: str) -> AsyncIterator[bytes]:
        """A file's bytes as they arrive (for big files)."""
        response = await self._http.send(
            "GET", f"{self._base}/file", query={"path": _path(path)}, timeout=0, stream=True
        )
        try:
            async for chunk in response.aiter_bytes():
                yield chunk
        finally:
            await response.aclose()

    async def download(self, path: str, dest: Union[PathLike, IO[bytes]]) -> int:
        """Streams a file to ``dest``, a local path or a binary file object;
        returns the bytes written."""
        return await self._download(f"{self._base}/file", {"path": _path(path)}, dest)

    async def _download(self, route: str, query: Query, dest: Union[PathLike, IO[bytes]]) -> int:
        response = await self._http.send("GET", route, query=query, timeout=0, stream=True)
        written = 0
        try:
            if _io.is_file(dest):
                target: IO[bytes] = dest  # type: ignore[assignment]
                async for chunk in response.aiter_bytes():
                    await awrite_chunk(target, chunk)
                    written += len(chunk)
            else:
                with open(os.fspath(dest), "wb") as handle:  # type: ignore[arg-type]
                    async for chunk in response.aiter_bytes():
                        await awrite_chunk(handle, chunk)
                        written += len(chunk)
        finally:
            await response.aclose()
        return written

    async def write(self, path: str, data: Content) -> FsWriteResponse:
        """Writes a file (parents made as needed): ``data`` is bytes, text
        (UTF-8), a binary file object or an iterable of bytes, streamed."""
        answer = await self._http.json(
            "PUT",
            f"{self._base}/file",
            query={"path": _path(path)},
            content=data,
            content_type="application/octet-stream",
        )
        return FsWriteResponse.model_validate(answer)

    async def upload(self, source: Union[PathLike, IO[bytes]], path: str) -> FsWriteResponse:
        """Streams a local file (a path or a binary file object) to ``path``."""
        if _io.is_file(source):
            return await self.write(path, source)  # type: ignore[arg-type]
        with open(os.fspath(source), "rb") as handle:  # type: ignore[arg-type]
            return await self.write(path, handle)

    async def delete(self, path: str, *, recursive: Optional[bool] = None) -> FsActionResponse:
        answer = await self._http.json(
            "DELETE", f"{self._base}/entry", query={"path": _path(path), "recursive": recursive}
        )
        return FsActionResponse.model_validate(answer)

    async def mkdir(self, path: str) -> FsActionResponse:
        answer = await self._http.json("POST", f"{self._base}/mkdir", query={"path": _path(path)})
        return FsActionResponse.model_validate(answer)

    async def move(self, source: str, dest: str, *, overwrite: Optional[bool] = None) -> FsMoveResponse:
        answer = await self._http.json(
            "POST", f"{self._base}/move", json=body(**{"from": _path(source), "to": _path(dest), "overwrite": overwrite})
        )
        return FsMoveResponse.model_validate(answer)

    async def stat(self, path: str) -> FsStat:
        return FsStat.model_validate(await self._http.json("GET", f"{self._base}/stat", query={"path": _path(path)}))

    async def exists(self, path: str) -> bool:
        """Whether anything is at ``path``."""
        try:
            await self.stat(path)
        except PaddockError as err:
            if err.code == "PATH_NOT_FOUND":
                return False
            raise
        return True

    async def upload_tar(self, path: str, tar: Union[Content, "os.PathLike[str]"]) -> FsUploadBatchResponse:
        """Extracts a tar (bytes, a binary file object, a local path, or an
        iterable of bytes) into the directory ``path``, streamed."""
        if isinstance(tar, os.PathLike):
            with open(os.fspath(tar), "rb") as handle:
                return await self.upload_tar(path, handle)
        answer = await self._http.json(
            "POST",
            f"{self._base}/upload-batch",
            query={"path": _path(path)},
            content=tar,
            content_type="application/x-tar",
        )
        return FsUploadBatchResponse.model_validate(answer)

    async def upload_dir(self, local_dir: PathLike, path: str) -> FsUploadBatchResponse:
        """Uploads a local directory's contents into ``path`` (as one tar)."""
        with tempfile.SpooledTemporaryFile(max_size=8 << 20) as spool:
            with tarfile.open(fileobj=spool, mode="w") as archive:
                for name in sorted(os.listdir(local_dir)):
                    archive.add(os.path.join(os.fspath(local_dir), name), arcname=name)
            spool.seek(0)
            return await self.upload_tar(path, spool)

    async def download_tar(
        self, path: Optional[str] = None, dest: Union[PathLike, IO[bytes], None] = None
    ) -> Union[bytes, int]:
        """A directory (``/workspace`` by default) as a tar: its bytes, or
        streamed to ``dest`` (a path or file object; returns the bytes written)."""
        if dest is None:
            response = await self._http.send("GET", f"{self._base}/archive", query={"path": path}, timeout=0)
            return response.content
        return await self._download(f"{self._base}/archive", {"path": path}, dest)

    archive = download_tar

    async def download_dir(self, path: Optional[str], local_dir: PathLike) -> List[str]:
        """Extracts a workspace directory into ``local_dir``; returns the names.

        Raises :class:`ProtocolError` when an entry would land outside
        ``local_dir``: an absolute name, ``..``, a link whose target is
        outside (every link on a Python without ``tarfile.data_filter``), or
        a path through a link already there. The entries are checked before
        anything is written, and again as each is written."""
        with tempfile.TemporaryFile() as spool:
            await self._download(f"{self._base}/archive", {"path": path}, spool)
            spool.seek(0)
            with tarfile.open(fileobj=spool, mode="r") as archive:
                return safe_extract(archive, os.fspath(local_dir))


def _path(path: str) -> str:
    if not isinstance(path, str) or not path:
        raise ValueError("a path is required")
    return path


class AsyncPublic:
    """The routes without authentication (agentjail's ``public``)."""

    def __init__(self, http: AsyncHTTP) -> None:
        self._http = http

    async def health(self) -> str:
        """``/healthz``: ``"ok"`` while the process serves."""
        response = await self._http.send("GET", "/healthz", auth=False)
        return response.text.strip()

    async def ready(self) -> Readiness:
        """``/readyz``: whether the server can take work (also when it cannot: 503)."""
        try:
            answer = await self._http.json("GET", "/readyz", auth=False)
        except PaddockError as err:
            if err.status == 503 and isinstance(err.body, dict) and "ready" in err.body:
                return Readiness.model_validate(err.body)
            raise
        return Readiness.model_validate(answer)

    async def stats(self) -> PublicStats:
        return PublicStats.model_validate(await self._http.json("GET", "/v1/stats", auth=False))

    async def version(self) -> Health:
        return Health.model_validate(await self._http.json("GET", "/v1/health", auth=False))


class AsyncSettingsAPI:
    """``/v1/config`` (agentjail's ``settings``)."""

    def __init__(self, http: AsyncHTTP) -> None:
        self._http = http

    async def get(self) -> Settings:
        return Settings.model_validate(await self._http.json("GET", "/v1/config"))


# ================================================================== handles


class AsyncWorkspaceHandle:
    """A workspace with its methods bound: ``ws.exec(...)``,
    ``ws.processes.run(...)``, ``ws.files.write(...)``, ``ws.snapshot()``."""

    def __init__(self, workspaces: AsyncWorkspaces, workspace: Union[str, Workspace]) -> None:
        self._workspaces = workspaces
        self.id: str = workspace if isinstance(workspace, str) else workspace.id
        #: The record as last read (``None`` until :meth:`refresh` for a handle made from an id).
        self.info: Optional[Workspace] = None if isinstance(workspace, str) else workspace
        self.runtime = workspaces.runtime(self.id)
        self.processes = self.runtime.processes
        self.files = self.runtime.files

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r})"

    async def refresh(self) -> Workspace:
        self.info = await self._workspaces.get(self.id)
        return self.info

    async def exec(
        self,
        cmd: str,
        args: Optional[Sequence[str]] = None,
        *,
        env: Optional[Env] = None,
        timeout_secs: Optional[int] = None,
        memory_mb: Optional[int] = None,
    ) -> ExecResult:
        return await self._workspaces.exec(
            self.id, cmd=cmd, args=args, env=env, timeout_secs=timeout_secs, memory_mb=memory_mb
        )

    def exec_stream(
        self,
        cmd: str,
        args: Optional[Sequence[str]] = None,
        *,
        env: Optional[Env] = None,
        output: Optional[str] = None,
        timeout_secs: Optional[int] = None,
        memory_mb: Optional[int] = None,
    ) -> AsyncEventStream:
        return self._workspaces.exec_stream(
            self.id, cmd=cmd, args=args, env=env, output=output, timeout_secs=timeout_secs, memory_mb=memory_mb
        )

    async def snapshot(self, name: Optional[str] = None) -> SnapshotRecord:
        return await self._workspaces.snapshot(self.id, name=name)

    async def fork(self, count: int = 1, *, label: Optional[str] = None) -> List["AsyncWorkspaceHandle"]:
        answer = await self._workspaces.fork(self.id, count=count, label=label)
        return [AsyncWorkspaceHandle(self._workspaces, fork) for fork in answer.forks]

    async def start(self) -> WorkspaceRunState:
        return await self._workspaces.start(self.id)

    async def stop(self) -> WorkspaceRunState:
        return await self._workspaces.stop(self.id)

    async def pause(self) -> WorkspaceRunState:
        return await self._workspaces.pause(self.id)

    async def resume(self) -> WorkspaceRunState:
        return await self._workspaces.resume(self.id)

    async def state(self) -> WorkspaceRunState:
        return await self._workspaces.state(self.id)

    async def update(self, *, label: Optional[str]) -> Workspace:
        self.info = await self._workspaces.update(self.id, label=label)
        return self.info

    async def delete(self) -> None:
        await self._workspaces.delete(self.id)

    async def preview(self, port: int, *, public: Optional[bool] = None, ttl_secs: Optional[int] = None) -> Preview:
        return await self._workspaces._previews.create(self.id, port=port, public=public, ttl_secs=ttl_secs)

    async def previews(self) -> List[Preview]:
        return await self._workspaces._previews.list(self.id)


class AsyncWorkspaceContext:
    """``async with client.workspace(...) as ws``: creates a workspace, and on
    exit deletes it (``on_exit="delete"``), stops it (``"stop"``) or leaves
    it (``"keep"``)."""

    def __init__(self, workspaces: AsyncWorkspaces, on_exit: str, create: Dict[str, Any]) -> None:
        if on_exit not in ("delete", "stop", "keep"):
            raise ValueError('on_exit must be "delete", "stop" or "keep"')
        self._workspaces = workspaces
        self._on_exit = on_exit
        self._create = create
        self.workspace: Optional[AsyncWorkspaceHandle] = None

    async def __aenter__(self) -> AsyncWorkspaceHandle:
        created = await self._workspaces.create(**self._create)
        self.workspace = AsyncWorkspaceHandle(self._workspaces, created)
        return self.workspace

    async def __aexit__(
        self, kind: Optional[Type[BaseException]], value: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        if self.workspace is None:
            return
        try:
            if self._on_exit == "delete":
                await self._workspaces.delete(self.workspace.id)
            elif self._on_exit == "stop":
                await self._workspaces.stop(self.workspace.id)
        except PaddockError as err:
            if err.status != 404:  # already deleted inside the block
                raise


class AsyncSessionContext:
    """``async with client.session(...) as s``: creates a session and closes it on exit."""

    def __init__(self, sessions: AsyncSessions, create: Dict[str, Any]) -> None:
        self._sessions = sessions
        self._create = create
        self.session: Optional[Session] = None

    async def __aenter__(self) -> Session:
        self.session = await self._sessions.create(**self._create)
        return self.session

    async def __aexit__(
        self, kind: Optional[Type[BaseException]], value: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        if self.session is not None:
            try:
                await self._sessions.close(self.session.id)
            except PaddockError as err:
                if err.status != 404:
                    raise


# =================================================================== client


class AsyncPaddock:
    """The paddock control plane, from ``asyncio``.

    ``base_url`` defaults to ``$PADDOCK_URL`` (else ``http://127.0.0.1:7000``),
    ``api_key`` to ``$PADDOCK_API_KEY`` (else ``$AGENTJAIL_API_KEY``).
    ``timeout`` is the deadline in seconds for the connection and each read
    (calls that run a jail wait for the jail's own deadline plus 30 s;
    0: none). ``retry`` opts in to retries (``True``, a count, or a
    :class:`paddock.Retry`). ``transport`` / ``http_client`` replace httpx's.
    """

    def __init__(
        self,
        base_url: Optional[str] = None,
        api_key: Optional[str] = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: Union[bool, int, Retry, None] = None,
        headers: Optional[Mapping[str, str]] = None,
        transport: Optional[httpx.AsyncBaseTransport] = None,
        http_client: Optional[httpx.AsyncClient] = None,
    ) -> None:
        self._http = AsyncHTTP(
            base_url=resolve_base_url(base_url),
            api_key=resolve_api_key(api_key),
            timeout=timeout,
            retry=resolve_retry(retry),
            headers=headers,
            transport=transport,
            http_client=http_client,
        )
        self.credentials = AsyncCredentials(self._http)
        self.sessions = AsyncSessions(self._http)
        self.runs = AsyncRuns(self._http)
        self.jails = AsyncJails(self._http)
        #: The jail ledger (``jails``).
        self.ledger = self.jails
        self.audit = AsyncAudit(self._http)
        self.keys = AsyncKeys(self._http)
        self.snapshots = AsyncSnapshots(self._http)
        self.previews = AsyncPreviews(self._http)
        #: Scoped tokens and MCP client configuration.
        self.tokens = AsyncTokens(self._http)
        self.workspaces = AsyncWorkspaces(self._http, self.snapshots, self.previews)
        #: Code kernels of running workspaces.
        self.kernels = AsyncKernels(self._http)
        #: Coding agents' sessions with durable turns.
        self.agent_sessions = AsyncAgentSessions(self._http)
        #: Code without a workspace (`POST /v1/code`).
        self.code = AsyncCode(self._http)
        self.public = AsyncPublic(self._http)
        self.settings = AsyncSettingsAPI(self._http)

    @property
    def base_url(self) -> str:
        return self._http.base_url

    def with_options(
        self,
        *,
        timeout: Optional[float] = None,
        retry: Union[bool, int, Retry, None] = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> "AsyncPaddock":
        """A client sharing this one's connections with other options.
        ``timeout`` given here is kept by every call, also those that run a
        jail (``client.with_options(timeout=5).runs.create(...)``)."""
        clone = AsyncPaddock(
            self._http.base_url,
            self._http.api_key,
            timeout=self._http.timeout if timeout is None else timeout,
            retry=self._http.retry if retry is None else retry,
            headers={**self._http.headers, **(headers or {})},
            http_client=self._http.client,
        )
        clone._http.fixed = timeout is not None or self._http.fixed
        return clone

    def __repr__(self) -> str:
        key = "***" if self._http.api_key else None
        return f"{type(self).__name__}(base_url={self._http.base_url!r}, api_key={key!r})"

    # ---------------------------------------------------------------- server

    async def health(self) -> Health:
        """``/v1/health``: ``{status, version}``."""
        return await self.public.version()

    async def healthz(self) -> str:
        """``/healthz``: ``"ok"`` while the process serves."""
        return await self.public.health()

    async def ready(self) -> Readiness:
        """``/readyz``: ``ready`` and each check (never raises for 503)."""
        return await self.public.ready()

    async def stats(self) -> PublicStats:
        return await self.public.stats()

    async def metrics(self) -> str:
        """``/metrics`` (Prometheus text). Its counters span every tenant, so
        it needs an admin key (403 otherwise); ``paddock serve
        --metrics-listen`` serves it without one on a listener of its own."""
        return (await self._http.send("GET", "/metrics")).text

    async def whoami(self) -> Whoami:
        return Whoami.model_validate(await self._http.json("GET", "/v1/whoami"))

    async def flavors(self) -> List[Flavor]:
        return [Flavor.model_validate(row) for row in await self._http.json("GET", "/v1/flavors")]

    async def config(self) -> Settings:
        """``/v1/config``: the server's settings."""
        return await self.settings.get()

    async def openapi(self) -> Dict[str, Any]:
        """The server's OpenAPI document."""
        answer = await self._http.json("GET", "/openapi.json", auth=False)
        if not isinstance(answer, dict):
            raise ProtocolError("/openapi.json is not an object", status=200)
        return answer

    # --------------------------------------------------------------- helpers

    def workspace(
        self,
        *,
        on_exit: str = "delete",
        git: Optional[Mapping[str, Any]] = None,
        label: Optional[str] = None,
        idle_timeout_secs: Optional[int] = None,
        flavors: Optional[Sequence[str]] = None,
        domains: Optional[Sequence[Mapping[str, Any]]] = None,
        timeout_secs: Optional[int] = None,
        memory_mb: Optional[int] = None,
        network: Optional[Network] = None,
        seccomp: Optional[str] = None,
        cpu_percent: Optional[int] = None,
        max_pids: Optional[int] = None,
    ) -> AsyncWorkspaceContext:
        """A new workspace for an ``async with`` block, deleted (``on_exit``:
        ``"delete"``), stopped (``"stop"``) or kept (``"keep"``) at its end."""
        create = dict(
            git=git,
            label=label,
            idle_timeout_secs=idle_timeout_secs,
            flavors=flavors,
            domains=domains,
            timeout_secs=timeout_secs,
            memory_mb=memory_mb,
            network=network,
            seccomp=seccomp,
            cpu_percent=cpu_percent,
            max_pids=max_pids,
        )
        return AsyncWorkspaceContext(self.workspaces, on_exit, create)

    def session(
        self,
        *,
        services: Sequence[str],
        ttl_secs: Optional[int] = None,
        scopes: Optional[Mapping[str, Sequence[str]]] = None,
        max_requests: Optional[int] = None,
    ) -> AsyncSessionContext:
        """A new session for an ``async with`` block, closed at its end."""
        create = dict(services=services, ttl_secs=ttl_secs, scopes=scopes, max_requests=max_requests)
        return AsyncSessionContext(self.sessions, create)

    async def aclose(self) -> None:
        """Closes the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> "AsyncPaddock":
        return self

    async def __aexit__(
        self, kind: Optional[Type[BaseException]], value: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        await self.aclose()

