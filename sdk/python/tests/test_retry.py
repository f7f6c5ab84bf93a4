"""429 with Retry-After, and opt-in retries honouring it (a server allowed
one jail at a time)."""

from __future__ import annotations

import threading
import time
from typing import Iterator, List

import httpx
import pytest

import paddock
from paddock import RateLimitError, Retry
from support import ADMIN_TOKEN, Server


@pytest.fixture(scope="module")
def one_slot() -> Iterator[Server]:
    srv = Server(args=["--max-concurrent", "1"])
    try:
        yield srv
    finally:
        srv.stop()


def _occupy(client: paddock.Paddock, seconds: int) -> paddock.EventStream:
    # The previous test's jail may still be ending: wait for the slot.
    patient = client.with_options(retry=Retry(retries=100, max_delay=1.0, base_delay=0.05))
    stream = patient.runs.stream(language="bash", code=f"sleep {seconds}")
    first = next(iter(stream))
    assert first.type == "started"
    return stream


def test_429_carries_retry_after_and_no_retry_by_default(one_slot: Server) -> None:
    with paddock.Paddock(one_slot.url, ADMIN_TOKEN) as client:
        busy = _occupy(client, 30)
        try:
            with pytest.raises(RateLimitError) as err:
                client.runs.create(language="bash", code="true")
            assert (err.value.status, err.value.code, err.value.category) == (429, "TOO_MANY_REQUESTS", "RATE_LIMITED")
            assert err.value.retry_after is not None and err.value.retry_after > 0
        finally:
            busy.close()


def test_opt_in_retries_wait_for_the_slot(one_slot: Server) -> None:
    attempts: List[str] = []

    def count(request: httpx.Request) -> None:
        if request.url.path == "/v1/runs":
            attempts.append(request.headers["x-request-id"])

    with httpx.Client(event_hooks={"request": [count]}) as http_client:
        with paddock.Paddock(one_slot.url, ADMIN_TOKEN, http_client=http_client) as client:
            busy = _occupy(client, 30)
            releaser = threading.Timer(1.5, busy.close)
            releaser.start()
            started = time.monotonic()
            retrying = client.with_options(retry=Retry(retries=20, max_delay=1.0, base_delay=0.05))
            result = retrying.runs.create(language="bash", code="echo finally")
            releaser.join()
    assert result.stdout == "finally\n"
    assert len(attempts) >= 3, "it was refused, then retried"
    assert len(set(attempts)) == 1, "one call, one request id across its attempts"
    assert time.monotonic() - started >= 1.0


async def test_async_retries(one_slot: Server) -> None:
    with paddock.Paddock(one_slot.url, ADMIN_TOKEN) as sync_client:
        busy = _occupy(sync_client, 30)
        threading.Timer(1.0, busy.close).start()
        async with paddock.AsyncPaddock(one_slot.url, ADMIN_TOKEN, retry=Retry(retries=30, max_delay=1.0)) as client:
            result = await client.runs.create(language="bash", code="echo async-retry")
    assert result.stdout == "async-retry\n"


def test_retries_wait_what_retry_after_says(one_slot: Server) -> None:
    times: List[float] = []

    def stamp(request: httpx.Request) -> None:
        if request.url.path == "/v1/runs":
            times.append(time.monotonic())

    with httpx.Client(event_hooks={"request": [stamp]}) as http_client:
        with paddock.Paddock(one_slot.url, ADMIN_TOKEN, http_client=http_client) as client:
            busy = _occupy(client, 30)
            try:
                with pytest.raises(RateLimitError) as refused:
                    client.runs.create(language="bash", code="true")
                wait = refused.value.retry_after
                assert wait is not None and 0 < wait <= 10
                times.clear()
                threading.Timer(wait * 1.5, busy.close).start()
                result = client.with_options(retry=Retry(retries=5, max_delay=30)).runs.create(
                    language="bash", code="echo waited"
                )
            finally:
                busy.close()
    assert result.stdout == "waited\n"
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert gaps and all(gap >= wait * 0.9 for gap in gaps), (wait, gaps)


def test_a_retry_after_beyond_max_delay_is_raised_not_retried_early(one_slot: Server) -> None:
    attempts: List[float] = []

    def count(request: httpx.Request) -> None:
        if request.url.path == "/v1/runs":
            attempts.append(time.monotonic())

    with httpx.Client(event_hooks={"request": [count]}) as http_client:
        with paddock.Paddock(one_slot.url, ADMIN_TOKEN, http_client=http_client) as client:
            busy = _occupy(client, 30)
            try:
                impatient = client.with_options(retry=Retry(retries=5, max_delay=0.1))
                with pytest.raises(RateLimitError) as err:
                    impatient.runs.create(language="bash", code="true")
            finally:
                busy.close()
    assert err.value.retry_after is not None and err.value.retry_after > 0.1
    assert len(attempts) == 1, "raised at once: the server asked for longer than max_delay"
