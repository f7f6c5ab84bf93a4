"""Blocking and non-blocking helpers the generated sync client swaps in.

The async client (``_async/client.py``) is the source; ``scripts/unasync.py``
writes the sync one, replacing each ``a``-prefixed helper here with its
blocking twin.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import IO, Any, AsyncIterable, AsyncIterator, Iterable, Iterator, Optional, Set, Union

from ._shared import CHUNK
from .errors import APITimeoutError

Bytes = Union[bytes, bytearray, memoryview]
#: What a file write or tar upload accepts: bytes, text (UTF-8), a binary
#: file object, or an iterable of bytes (async iterables for the async client).
Content = Union[Bytes, str, IO[bytes], Iterable[bytes], AsyncIterable[bytes]]
PathLike = Union[str, "os.PathLike[str]"]


def is_file(value: Any) -> bool:
    return hasattr(value, "read") and callable(value.read)


# ------------------------------------------------------------------ blocking


def sleep(seconds: float) -> None:
    time.sleep(seconds)


def write_chunk(f: IO[bytes], chunk: bytes) -> None:
    f.write(chunk)


def iter_file(f: IO[bytes]) -> Iterator[bytes]:
    while True:
        chunk = f.read(CHUNK)
        if not chunk:
            return
        yield chunk


def iter_content(data: Content) -> Union[bytes, Iterator[bytes]]:
    """``data`` as httpx's sync ``content``."""
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if is_file(data):
        return iter_file(data)  # type: ignore[arg-type]
    if hasattr(data, "__aiter__"):
        raise TypeError("the sync client cannot send an async iterable; use AsyncPaddock")
    return (bytes(chunk) for chunk in data)


def recv_frame(ws: Any, timeout: Optional[float]) -> Union[str, bytes]:
    try:
        frame: Union[str, bytes] = ws.recv(timeout=timeout)
    except TimeoutError:
        raise APITimeoutError(f"no terminal frame within {timeout} s", method="GET") from None
    return frame


def send_json(ws: Any, message: Any) -> None:
    ws.send(json.dumps(message))


def close_on_collect(response: Any) -> None:
    """Closes a response whose stream object was dropped unread."""
    try:
        response.close()
    except Exception:
        pass


# --------------------------------------------------------------- non-blocking


async def asleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


async def awrite_chunk(f: IO[bytes], chunk: bytes) -> None:
    await asyncio.to_thread(f.write, chunk)


async def aiter_file(f: IO[bytes]) -> AsyncIterator[bytes]:
    while True:
        chunk = await asyncio.to_thread(f.read, CHUNK)
        if not chunk:
            return
        yield chunk


async def _aiter_sync(items: Iterable[bytes]) -> AsyncIterator[bytes]:
    for chunk in items:
        yield bytes(chunk)


async def _aiter_async(items: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    async for chunk in items:
        yield bytes(chunk)


def aiter_content(data: Content) -> Union[bytes, AsyncIterator[bytes]]:
    """``data`` as httpx's async ``content``."""
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if is_file(data):
        return aiter_file(data)  # type: ignore[arg-type]
    if hasattr(data, "__aiter__"):
        return _aiter_async(data)  # type: ignore[arg-type]
    return _aiter_sync(data)


async def arecv_frame(ws: Any, timeout: Optional[float]) -> Union[str, bytes]:
    try:
        frame: Union[str, bytes] = await asyncio.wait_for(ws.recv(), timeout)
    except asyncio.TimeoutError:
        raise APITimeoutError(f"no terminal frame within {timeout} s", method="GET") from None
    return frame


async def asend_json(ws: Any, message: Any) -> None:
    await ws.send(json.dumps(message))


#: The tasks closing dropped responses, kept until they are done.
_CLOSING: "Set[asyncio.Task[None]]" = set()


def aclose_on_collect(response: Any) -> None:
    """Closes a response whose stream object was dropped unread (on the
    running event loop; without one, the connection pool reclaims it)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    if not loop.is_closed():
        task = loop.create_task(response.aclose())
        _CLOSING.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(_CLOSING.discard)
