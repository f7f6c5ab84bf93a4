"""Events of the streaming routes and chunks of process logs."""

from __future__ import annotations

from typing import List, Optional

from typing import Any, Dict

from ._base import PaddockModel
from .models import CodeExecutionResult, ExecResult, KernelRef


class StreamEvent(PaddockModel):
    """One event of a run, session exec or workspace exec stream.

    ``type`` is ``started`` (``pid``, ``id``), ``stdout`` / ``stderr``,
    ``stats`` (the cgroup counters, every 500 ms), ``egress`` (allowlist
    mode), then exactly one ``completed`` (the result's fields) or ``error``
    (``message``, ``code``). Output events carry ``line`` (``output="lines"``,
    the default) or ``text`` and ``data`` (``output="chunks"``: the exact
    bytes, and their text when they are UTF-8). The JSON events' other fields
    are kept: ``event["exit_code"]``, ``event.get("memory_peak_bytes")``.
    """

    type: str
    #: Output line without its newline (``output="lines"``).
    line: Optional[str] = None
    #: Output text (``output="chunks"``), when it is UTF-8.
    text: Optional[str] = None
    #: Output bytes, exactly as written (``output="chunks"``).
    data: Optional[bytes] = None
    #: The run's ledger id (``started``, ``completed``).
    id: Optional[int] = None
    #: The jail's pid (``started``).
    pid: Optional[int] = None
    #: Exit code (``completed``).
    exit_code: Optional[int] = None
    #: What went wrong (``error``).
    message: Optional[str] = None
    #: The server's error code (``error``).
    code: Optional[str] = None

    @property
    def output(self) -> Optional[str]:
        """The output text of a ``stdout`` / ``stderr`` event (line or chunk)."""
        if self.line is not None:
            return self.line
        if self.text is not None:
            return self.text
        if self.data is not None:
            return self.data.decode("utf-8", "replace")
        return None

    def result(self, stdout: str = "", stderr: str = "") -> ExecResult:
        """The run's result, from a ``completed`` event (which carries no
        output: ``stdout`` / ``stderr`` fill it when it has none)."""
        if self.type != "completed":
            raise ValueError(f"a {self.type} event carries no result")
        fields = self.to_dict()
        for key in ("line", "text", "data", "message", "code"):
            fields.pop(key, None)
        fields.pop("type", None)
        if fields.get("stdout") is None:
            fields["stdout"] = stdout
        if fields.get("stderr") is None:
            fields["stderr"] = stderr
        return ExecResult.model_validate(fields)


class CodeEvent(PaddockModel):
    """One event of a streamed code call (``workspaces.run_code_stream``,
    ``code.stream``).

    ``type`` is ``started`` (``kernel``: the kernel, once it is ready),
    ``stdout`` / ``stderr`` (``text``, as the kernel sends it), ``result``
    (``part``: a rich result part as it comes, ``{"type": "image", ...}``),
    then exactly one ``completed`` (``result``: the whole
    :class:`CodeExecutionResult`) or ``error`` (``message``, ``code``).
    """

    type: str
    #: The kernel (``started``).
    kernel: Optional[KernelRef] = None
    #: Output text (``stdout``, ``stderr``).
    text: Optional[str] = None
    #: A rich result part (``result``).
    part: Optional[Dict[str, Any]] = None
    #: The call's result (``completed``).
    result: Optional[CodeExecutionResult] = None
    #: What went wrong (``error``).
    message: Optional[str] = None
    #: The server's error code (``error``).
    code: Optional[str] = None


class LogChunk(PaddockModel):
    """One chunk of a process's output (``processes.logs`` and ``follow``)."""

    sequence: int
    stream: str
    timestamp_ms: int
    #: The bytes, decoded from the wire's base64.
    data: bytes

    @property
    def text(self) -> str:
        """The bytes as UTF-8 (invalid bytes replaced)."""
        return self.data.decode("utf-8", "replace")


class AcpMessage(PaddockModel):
    """One message of a coding agent (``agents.follow``): its transcript
    index (pass the last as ``since`` to resume) and the JSON-RPC envelope."""

    index: int
    envelope: Dict[str, Any]


class ProcessLogs(PaddockModel):
    """A process's retained output (``processes.logs``)."""

    process_id: str
    stream: str
    entries: List[LogChunk]

    @property
    def data(self) -> bytes:
        """Every chunk's bytes, joined."""
        return b"".join(chunk.data for chunk in self.entries)

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")
