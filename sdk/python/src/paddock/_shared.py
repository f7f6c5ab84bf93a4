"""What the sync and async clients share: URLs, bodies, errors, SSE, retries."""

from __future__ import annotations

import base64
import binascii
import email.utils
import json
import os
import random
import secrets
import tarfile
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union
from urllib.parse import quote

import httpx

from .errors import PaddockError, ProtocolError, error_class
from .events import CodeEvent, LogChunk, StreamEvent

DEFAULT_BASE_URL = "http://127.0.0.1:7000"
URL_ENV = "PADDOCK_URL"
API_KEY_ENVS = ("PADDOCK_API_KEY", "AGENTJAIL_API_KEY")
#: Deadline of a call, seconds.
DEFAULT_TIMEOUT = 60.0
#: How long a jail-running call waits beyond the jail's own deadline, seconds.
JAIL_GRACE = 30.0
#: The server's default jail deadline, seconds (runs without ``timeout_secs``).
DEFAULT_JAIL_TIMEOUT = 300.0
#: The longest runtime run (processes.run without ``timeout_ms``), seconds.
MAX_RUN_TIMEOUT = 3600.0
#: The least deadline of slow but bounded server work (workspace create,
#: snapshot, fork, restore from a snapshot), seconds.
SLOW_TIMEOUT = 300.0
CHUNK = 64 * 1024

JsonDict = Dict[str, Any]
Query = Mapping[str, Union[str, int, bool, None]]


@dataclass(frozen=True)
class Retry:
    """Opt-in retries (``Paddock(retry=Retry(...))`` or ``retry=True``).

    Retried: 429 (every method: the server refused before it started
    anything), 503 ``DATABASE_UNAVAILABLE`` (every method: nothing was
    stored), a connection that could not be made (every method: nothing
    was sent), and for idempotent methods (GET, PUT, DELETE) also other
    503s (``DATABASE_CONNECTION_LOST``: a write may have been stored) and
    broken connections and timeouts. The wait is the server's
    ``Retry-After`` when it sent one, else an exponential backoff capped by
    ``max_delay``. When the server's ``Retry-After`` is longer than
    ``max_delay`` the error is raised at once (with ``retry_after`` set)
    rather than retried before the server is ready. Streamed request bodies
    are never retried.
    """

    retries: int = 3
    base_delay: float = 0.25
    max_delay: float = 10.0
    jitter: bool = True

    def delay(self, attempt: int, retry_after: Optional[float]) -> Optional[float]:
        """Seconds to wait before the next attempt; ``None`` (do not retry)
        when the server asked for longer than ``max_delay``."""
        if retry_after is not None:
            return max(0.0, retry_after) if retry_after <= self.max_delay else None
        delay = min(self.base_delay * (2.0 ** attempt), self.max_delay)
        if self.jitter:
            delay *= 0.5 + random.random() / 2
        return delay


def resolve_retry(retry: Union[bool, int, Retry, None]) -> Optional[Retry]:
    if retry is None or retry is False:
        return None
    if retry is True:
        return Retry()
    if isinstance(retry, Retry):
        return retry
    if isinstance(retry, int):
        return Retry(retries=retry) if retry > 0 else None
    raise TypeError("retry must be a bool, an int or a paddock.Retry")


def resolve_base_url(base_url: Optional[str]) -> str:
    url = base_url or os.environ.get(URL_ENV) or DEFAULT_BASE_URL
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"base_url must start with http:// or https://, got {url!r}")
    return url.rstrip("/")


def resolve_api_key(api_key: Optional[str]) -> Optional[str]:
    if api_key:
        return api_key
    for name in API_KEY_ENVS:
        value = os.environ.get(name)
        if value:
            return value
    return None


def seg(value: Union[str, int]) -> str:
    """One path segment, percent-encoded."""
    text = str(value)
    if not text:
        raise ValueError("an id must not be empty")
    return quote(text, safe="")


def clean(query: Optional[Query]) -> Dict[str, str]:
    """A query without ``None`` values; booleans as ``true`` / ``false``."""
    out: Dict[str, str] = {}
    for key, value in (query or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        else:
            out[key] = str(value)
    return out


def body(**fields: Any) -> JsonDict:
    """A JSON body without the fields left ``None``."""
    return {k: v for k, v in fields.items() if v is not None}


def jail_opts(
    timeout_secs: Optional[int],
    memory_mb: Optional[int],
    network: Any,
    seccomp: Optional[str],
    cpu_percent: Optional[int],
    max_pids: Optional[int],
) -> JsonDict:
    net: Any = network
    if isinstance(network, str):
        net = {"mode": network}
    elif network is not None and hasattr(network, "model_dump"):
        net = network.model_dump(by_alias=True, exclude_none=True)
    return body(
        timeout_secs=timeout_secs,
        memory_mb=memory_mb,
        network=net,
        seccomp=seccomp,
        cpu_percent=cpu_percent,
        max_pids=max_pids,
    )


def jail_timeout(timeout_secs: Optional[int], default: float) -> float:
    """The client deadline of a call that runs a jail."""
    jail = float(timeout_secs) if timeout_secs else DEFAULT_JAIL_TIMEOUT
    return max(default, jail + JAIL_GRACE) if default > 0 else 0.0


def new_request_id() -> str:
    return "py_" + secrets.token_hex(12)


def retry_after(response: httpx.Response) -> Optional[float]:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def parse_json(response: httpx.Response, content: bytes) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return content.decode("utf-8", "replace")


def api_error(response: httpx.Response, content: bytes, method: str, path: str) -> PaddockError:
    """The exception of an error answer (JSON ``{error, code}`` or Problem Details)."""
    parsed = parse_json(response, content)
    code: Optional[str] = None
    message = response.reason_phrase or f"HTTP {response.status_code}"
    if isinstance(parsed, dict):
        if isinstance(parsed.get("code"), str):
            code = parsed["code"]
        for key in ("error", "detail", "title", "message"):
            if isinstance(parsed.get(key), str) and parsed[key]:
                message = parsed[key]
                break
    elif isinstance(parsed, str) and parsed.strip():
        message = parsed.strip()[:500]
    cls = error_class(response.status_code)
    return cls(
        message,
        code=code,
        status=response.status_code,
        request_id=response.headers.get("x-request-id"),
        retry_after=retry_after(response),
        method=method,
        path=path,
        body=parsed,
    )


def should_retry(method: str, status: int, code: Optional[str]) -> bool:
    if status == 429:
        return True
    if status == 503 and code == "DATABASE_UNAVAILABLE":
        return True
    return status == 503 and method in ("GET", "HEAD", "PUT", "DELETE") and code != "SHUTTING_DOWN"


def idempotent(method: str) -> bool:
    return method in ("GET", "HEAD", "PUT", "DELETE")


# --------------------------------------------------------------------- SSE


class SseParser:
    """Incremental ``text/event-stream`` parser (WHATWG rules, plus: an event
    with a name and no ``data:`` line is dispatched with empty data, which is
    how the server frames a blank output line)."""

    def __init__(self) -> None:
        self._buffer = ""
        self._skip_lf = False
        self._event = ""
        self._data: List[str] = []
        self.last_id = ""

    def push(self, text: str) -> List[Tuple[str, str, str]]:
        """Feeds text; returns the completed ``(event, data, id)`` messages."""
        out: List[Tuple[str, str, str]] = []
        if self._skip_lf and text:
            if text[0] == "\n":
                text = text[1:]
            self._skip_lf = False
        buffer = self._buffer + text
        start = 0
        i = 0
        n = len(buffer)
        while i < n:
            c = buffer[i]
            if c == "\n" or c == "\r":
                self._line(buffer[start:i], out)
                if c == "\r":
                    if i + 1 < n:
                        if buffer[i + 1] == "\n":
                            i += 1
                    else:
                        self._skip_lf = True
                start = i + 1
            i += 1
        self._buffer = buffer[start:]
        return out

    def _line(self, line: str, out: List[Tuple[str, str, str]]) -> None:
        if not line:
            if self._data or self._event:
                out.append((self._event or "message", "\n".join(self._data), self.last_id))
            self._event = ""
            self._data = []
            return
        if line[0] == ":":
            return
        field, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if field == "event":
            self._event = value
        elif field == "data":
            self._data.append(value)
        elif field == "id" and "\0" not in value:
            self.last_id = value


JSON_EVENTS = {"started", "stats", "completed", "egress", "error"}


def code_body(
    language: str,
    code: str,
    session_id: Optional[str],
    timeout_ms: Optional[int],
    env: Optional[Mapping[str, str]],
    cwd: Optional[str],
    idempotency_key: Optional[str],
) -> JsonDict:
    """The body of a code call (Tangle's ``CodeExecutionOptions``)."""
    return body(
        language=language,
        code=code,
        sessionId=session_id,
        timeoutMs=timeout_ms,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        idempotencyKey=idempotency_key,
    )


def code_timeout(timeout_ms: Optional[int], floor: float) -> float:
    """How long a code call may take: its own timeout, and time for the
    workspace and kernel to start."""
    budget = 24 * 3600.0 if timeout_ms == 0 else (timeout_ms if timeout_ms is not None else 60_000) / 1000 + 120
    return max(floor, budget)


def to_code_event(name: str, data: str, what: str) -> Optional[CodeEvent]:
    """The typed event of one SSE message of a code stream; ``None`` for
    unknown events."""
    parsed = _loads(data)
    if not isinstance(parsed, dict):
        if name == "error":
            return CodeEvent(type=name, message=data)
        raise ProtocolError(f"{what}: the {name} event's data is not a JSON object", status=200, body=data)
    if name in ("stdout", "stderr"):
        return CodeEvent(type=name, text=parsed.get("text"))
    if name == "started":
        return CodeEvent.model_validate({"type": name, "kernel": parsed})
    if name == "result":
        return CodeEvent(type=name, part=parsed)
    if name == "completed":
        return CodeEvent.model_validate({"type": name, "result": parsed})
    if name == "error":
        return CodeEvent(type=name, message=parsed.get("message"), code=parsed.get("code"))
    return None


def to_event(name: str, data: str, output: str, what: str) -> Optional[StreamEvent]:
    """The typed event of one SSE message; ``None`` for unknown events."""
    if name in ("stdout", "stderr"):
        if output == "chunks":
            chunk = _loads(data)
            if isinstance(chunk, dict):
                if isinstance(chunk.get("text"), str):
                    text = chunk["text"]
                    return StreamEvent(type=name, text=text, data=text.encode("utf-8"))
                if isinstance(chunk.get("base64"), str):
                    try:
                        raw = base64.b64decode(chunk["base64"], validate=True)
                    except (binascii.Error, ValueError):
                        raw = None
                    if raw is not None:
                        return StreamEvent(type=name, data=raw)
            raise ProtocolError(
                f"{what}: the {name} event's data is not a chunk ({{text}} or {{base64}})",
                status=200,
                body=data,
            )
        return StreamEvent(type=name, line=data)
    if name not in JSON_EVENTS:
        return None
    parsed = _loads(data)
    if not isinstance(parsed, dict):
        if name == "error":
            return StreamEvent(type=name, message=data)
        raise ProtocolError(f"{what}: the {name} event's data is not a JSON object", status=200, body=data)
    parsed.pop("type", None)
    return StreamEvent.model_validate({**parsed, "type": name})


def to_log_chunk(entry: Any, what: str) -> LogChunk:
    if not isinstance(entry, dict) or not isinstance(entry.get("data"), str):
        raise ProtocolError(f"{what}: a log entry is not an object with data", status=200, body=entry)
    encoding = entry.get("encoding") or "base64"
    text = entry["data"]
    if encoding == "base64":
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolError(f"{what}: a log entry's data is not base64", status=200, body=entry) from None
    elif encoding in ("utf8", "text"):
        raw = text.encode("utf-8")
    else:
        raise ProtocolError(f"{what}: unknown log encoding {encoding!r}", status=200, body=entry)
    return LogChunk(
        sequence=int(entry.get("sequence", 0)),
        stream=str(entry.get("stream", "")),
        timestamp_ms=int(entry.get("timestampMs", 0)),
        data=raw,
    )


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def input_body(data: Union[str, bytes, bytearray, memoryview], eof: Optional[bool]) -> JsonDict:
    if isinstance(data, str):
        return body(data=data, encoding="utf8", eof=eof)
    if isinstance(data, (bytes, bytearray, memoryview)):
        return body(data=base64.b64encode(bytes(data)).decode("ascii"), encoding="base64", eof=eof)
    raise TypeError("input data must be str or bytes")


def ws_url(base_url: str, path: str) -> str:
    if base_url.startswith("https://"):
        return "wss://" + base_url[len("https://") :] + path
    return "ws://" + base_url[len("http://") :] + path


def check_output(output: Optional[str]) -> str:
    if output is None:
        return "lines"
    if output not in ("lines", "chunks"):
        raise ValueError(f'output must be "lines" or "chunks", got {output!r}')
    return output


def _inside(root: str, target: str) -> bool:
    return target == root or target.startswith(root.rstrip(os.sep) + os.sep)


def _check_member(member: "tarfile.TarInfo", root: str) -> None:
    """Without ``tarfile.data_filter``: refuses what could write outside ``root``."""
    name = member.name
    if name.startswith("/") or os.path.isabs(name) or ".." in name.replace("\\", "/").split("/"):
        raise ProtocolError(f"download_dir: unsafe tar entry {name!r}", status=200)
    if member.issym() or member.islnk():
        # Without the standard library's filter, links are refused rather
        # than judged: a link is how an archive writes outside its folder.
        raise ProtocolError(
            f"download_dir: tar entry {name!r} is a link ({member.linkname!r}); this Python has no "
            "tarfile.data_filter, so links are refused",
            status=200,
        )
    if not (member.isfile() or member.isdir()):
        raise ProtocolError(f"download_dir: tar entry {name!r} is not a file or directory", status=200)
    # Never through a link already in the destination.
    if not _inside(root, os.path.realpath(os.path.join(root, name))):
        raise ProtocolError(f"download_dir: tar entry {name!r} would be written outside the folder", status=200)


def safe_extract(archive: "tarfile.TarFile", local_dir: str) -> List[str]:
    """Extracts ``archive`` into ``local_dir``, refusing (:class:`ProtocolError`)
    any entry that would land outside it: absolute names, ``..``, links whose
    target is outside (all links when this Python has no
    ``tarfile.data_filter``), devices, and paths through a link that is
    already in ``local_dir``. Every entry is checked before anything is
    written, and again as it is written (a link may escape only through
    links earlier in the same archive). Returns the names."""
    os.makedirs(local_dir, exist_ok=True)
    root = os.path.realpath(local_dir)
    members = archive.getmembers()
    data_filter = getattr(tarfile, "data_filter", None)
    for member in members:
        name = member.name
        if name.startswith("/") or os.path.isabs(name) or ".." in name.replace("\\", "/").split("/"):
            raise ProtocolError(f"download_dir: unsafe tar entry {name!r}", status=200)
        if data_filter is not None:
            try:
                data_filter(member, root)
            except tarfile.FilterError as err:
                raise ProtocolError(f"download_dir: unsafe tar entry {member.name!r}: {err}", status=200) from err
        else:
            _check_member(member, root)
    if data_filter is not None:
        try:  # checked again as each entry is written (earlier entries may be links)
            archive.extractall(root, filter="data")
        except tarfile.FilterError as err:
            raise ProtocolError(f"download_dir: unsafe tar entry: {err}", status=200) from err
    else:
        for member in members:
            _check_member(member, root)  # again: earlier entries may have made directories
            member.mode &= 0o755
            archive.extract(member, root, set_attrs=member.isfile())
    return [member.name for member in members]
