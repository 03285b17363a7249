"""Server-sent-events stream of the inventory change log, resumable from any seq."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool

__all__ = ["ChangeNotifier", "event_stream", "format_event"]

BATCH = 500
POLL_SECONDS = 0.25
PING_SECONDS = 1.0


class ChangeNotifier:
    """Wakes open streams when a write commits, so they need not wait for the next poll.

    Take `current()` *before* reading the table and wait on it after: a notify that lands
    in between has already set that event, so no wake-up is lost.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def current(self) -> asyncio.Event:
        """The event the next `notify()` will set."""
        return self._event

    def notify(self) -> None:
        """Wake everyone waiting on the current event and start a new one."""
        self._event.set()
        self._event = asyncio.Event()

    @staticmethod
    async def wait(event: asyncio.Event, timeout: float) -> None:
        """Wait until `event` is set or `timeout` passes, whichever comes first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)


def format_event(change: dict[str, Any]) -> str:
    """Render one change row as an SSE message whose id is its seq."""
    return f"id: {change['seq']}\ndata: {json.dumps(change, separators=(',', ':'))}\n\n"


async def event_stream(
    read_after: Callable[[int, int], list[dict[str, Any]]],
    notifier: ChangeNotifier,
    after: int,
    shutdown: threading.Event,
) -> AsyncIterator[str]:
    """Yield every change with seq > `after` in seq order, then follow new ones until shutdown.

    `read_after(seq, limit)` is the blocking table read; it runs in a worker thread.
    Comment lines (`: ping`) keep idle connections alive so dead peers are noticed.
    """
    last = after
    last_sent = time.monotonic()
    yield ": stream open\n\n"
    while not shutdown.is_set():
        wake = notifier.current()
        rows = await run_in_threadpool(read_after, last, BATCH)
        if rows:
            last = rows[-1]["seq"]
            last_sent = time.monotonic()
            yield "".join(format_event(row) for row in rows)
            if len(rows) == BATCH:
                continue
        elif time.monotonic() - last_sent >= PING_SECONDS:
            last_sent = time.monotonic()
            yield ": ping\n\n"
        await notifier.wait(wake, POLL_SECONDS)
