"""The SDK's exceptions.

Every failure of a call is a :class:`PaddockError`. Its subclass says the
category (switch with ``except NotFoundError:``); ``code`` is the server's
stable code (``"SESSION_CLOSED"``, ``"BAD_LANGUAGE"``, ...; see the API's
docs/api.md) and never changes for a given failure, ``status`` the HTTP
status (0 when no answer came), ``request_id`` the ``x-request-id`` the
server logged the call under.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Type

__all__ = [
    "PaddockError",
    "AgentjailError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "RateLimitError",
    "ServerError",
    "UnavailableError",
    "InsufficientStorageError",
    "APITimeoutError",
    "APIConnectionError",
    "ProtocolError",
]


class PaddockError(Exception):
    """A failed call: an error answer, a timeout, no answer, or an answer
    the SDK cannot read.

    Attributes:
        message: what went wrong, for people (the server's own words when
            it sent some).
        code: the server's stable code (``"NOT_FOUND"``, ``"SESSION_CLOSED"``);
            for failures without an answer the SDK's own (``"TIMEOUT"``,
            ``"NETWORK"``, ``"BAD_RESPONSE"``).
        status: the HTTP status, 0 without an answer.
        request_id: the answer's ``x-request-id`` (or the one the SDK sent).
        retry_after: seconds the server asked to wait (``Retry-After``).
        method, path: the call.
        body: the parsed error body (JSON, or text).
    """

    #: The stable category of this class (agentjail's and the TypeScript SDK's codes).
    category: str = "SERVER_ERROR"

    def __init__(
        self,
        message: str,
        *,
        code: Optional[str] = None,
        status: int = 0,
        request_id: Optional[str] = None,
        retry_after: Optional[float] = None,
        method: Optional[str] = None,
        path: Optional[str] = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.category
        self.status = status
        self.request_id = request_id
        self.retry_after = retry_after
        self.method = method
        self.path = path
        self.body = body

    def __str__(self) -> str:
        where = f" ({self.method} {self.path})" if self.method and self.path else ""
        status = f"{self.status} " if self.status else ""
        rid = f" [request {self.request_id}]" if self.request_id else ""
        return f"{status}{self.code}: {self.message}{where}{rid}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, status={self.status!r}, "
            f"message={self.message!r}, request_id={self.request_id!r})"
        )


#: agentjail's name for :class:`PaddockError`.
AgentjailError = PaddockError


class BadRequestError(PaddockError):
    """400, and other 4xx without a class of their own (413, 415, 422)."""

    category = "BAD_REQUEST"


class AuthenticationError(PaddockError):
    """401: no API key, or an unknown or revoked one."""

    category = "UNAUTHORIZED"


class PermissionDeniedError(PaddockError):
    """403: the key's role may not do this."""

    category = "FORBIDDEN"


class NotFoundError(PaddockError):
    """404: missing, or outside the key's tenant."""

    category = "NOT_FOUND"


class ConflictError(PaddockError):
    """409: the object's state forbids it (a finished run, a busy workspace, ...)."""

    category = "CONFLICT"


class RateLimitError(PaddockError):
    """429: the server runs its limit of jails; ``retry_after`` says when to retry."""

    category = "RATE_LIMITED"


class ServerError(PaddockError):
    """5xx."""

    category = "SERVER_ERROR"


class UnavailableError(ServerError):
    """503: the server cannot serve now (``DATABASE_UNAVAILABLE``, ``SHUTTING_DOWN``, ...)."""

    category = "UNAVAILABLE"


class InsufficientStorageError(ServerError):
    """507: the server's state disk is below its free-space watermark
    (``INSUFFICIENT_STORAGE``), or the tenant's snapshots and workspaces hold
    its storage budget (``STORAGE_BUDGET``)."""

    category = "INSUFFICIENT_STORAGE"


class APITimeoutError(PaddockError, TimeoutError):
    """The call's deadline passed before the answer came (status 0), or 408/504."""

    category = "TIMEOUT"


class APIConnectionError(PaddockError, ConnectionError):
    """No HTTP answer at all: connection refused or reset, DNS failure (status 0)."""

    category = "NETWORK"


class ProtocolError(PaddockError):
    """An answer the SDK cannot read (bad JSON, a stream that ends early)."""

    category = "BAD_RESPONSE"


_BY_STATUS: Dict[int, Type[PaddockError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: APITimeoutError,
    409: ConflictError,
    429: RateLimitError,
    503: UnavailableError,
    504: APITimeoutError,
    507: InsufficientStorageError,
}


def error_class(status: int) -> Type[PaddockError]:
    """The exception class of an HTTP error status."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if 400 <= status < 500:
        return BadRequestError
    return ServerError


#: The HTTP status of each of the server's codes (its ``ErrorCode``): the
#: class of an error that arrives inside a stream, after a 200.
CODE_STATUS: Dict[str, int] = {
    "BAD_REQUEST": 400, "BAD_JSON": 400, "BAD_BODY": 422, "BODY_TOO_LARGE": 413,
    "UNSUPPORTED_MEDIA_TYPE": 415, "BAD_QUERY": 400, "UNAUTHORIZED": 401, "FORBIDDEN": 403,
    "NOT_FOUND": 404, "METHOD_NOT_ALLOWED": 405, "TOO_MANY_REQUESTS": 429, "INTERNAL": 500,
    "UNAVAILABLE": 503, "DATABASE_UNAVAILABLE": 503, "DATABASE_CONNECTION_LOST": 503,
    "SHUTTING_DOWN": 503,
    "INSUFFICIENT_STORAGE": 507, "UNSUPPORTED": 501, "COMMAND_NOT_FOUND": 400, "BAD_TENANT": 400,
    "BAD_LABEL": 400, "BAD_LIMIT": 400, "BAD_SECCOMP": 400, "BAD_NETWORK": 400, "BAD_LANGUAGE": 400,
    "CODE_TOO_LARGE": 413, "BAD_CMD": 400, "BAD_ENV": 400, "BAD_FORK": 400, "BAD_STATUS": 400,
    "BAD_KIND": 400, "RUN_FINISHED": 409, "NO_SERVICES": 400, "UNKNOWN_SERVICE": 400,
    "DUPLICATE_SERVICE": 400, "NO_CREDENTIAL": 400, "BAD_SCOPE": 400, "BAD_TTL": 400,
    "BAD_BUDGET": 400, "SESSION_CLOSED": 409, "SESSION_EXPIRED": 400, "EMPTY_SECRET": 400,
    "BAD_SECRET": 400, "BAD_GIT": 400, "GIT_CLONE_FAILED": 400, "GIT_CLONE_TIMEOUT": 400,
    "UNKNOWN_FLAVOR": 400, "DUPLICATE_FLAVOR": 400, "DOMAINS_UNSUPPORTED": 400, "DOMAIN_TAKEN": 409,
    "BAD_COUNT": 400, "TREE_TOO_LARGE": 400, "SNAPSHOT_DAMAGED": 422, "SNAPSHOT_IN_USE": 409,
    "WORKSPACE_BUSY": 409, "WORKSPACE_NOT_RUNNING": 409, "PROCESS_CONFLICT": 409, "BAD_PATH": 400,
    "PATH_NOT_FOUND": 400, "PATH_EXISTS": 400, "BAD_ARCHIVE": 400, "STREAM_ERROR": 502,
    "BAD_PORT": 400, "PREVIEW_UNREACHABLE": 502, "STORAGE_BUDGET": 507,
    "KERNEL_FAILED": 502, "KERNEL_NOT_FOUND": 404,
    "SCOPED_TOKEN_REFUSED": 403, "MISSING_CAPABILITY": 403, "BAD_CAPABILITIES": 400,
}


def error_for_code(code: Optional[str], message: str, **fields: Any) -> PaddockError:
    """The exception of an ``error`` event in a stream (the answer was a
    200): the class of the code's HTTP status (``SHUTTING_DOWN`` is an
    :class:`UnavailableError`, ``INTERNAL`` a :class:`ServerError`,
    ``BAD_LIMIT`` a :class:`BadRequestError`); an unknown code is a
    :class:`ServerError`."""
    cls = error_class(CODE_STATUS[code]) if code in CODE_STATUS else ServerError
    return cls(message, code=code or "STREAM_ERROR", **fields)
