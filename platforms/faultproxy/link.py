"""One proxied TCP connection, with the active toxics applied to it live.

Each direction is a feeder (reads chunks, stamps their arrival time) and a drain (holds
each chunk for latency and bandwidth, drops it while blackholed, then writes it); a
watcher closes or resets the connection when a toxic says so. Every wait re-evaluates
the toxics whenever they change (:class:`Board`), so adding or removing a fault acts on
connections that already exist, within one event-loop turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import struct
from collections.abc import Callable
from functools import partial

from platforms.faultproxy.toxics import Toxic, ToxicSet

__all__ = ["CONNECT_TIMEOUT_S", "Board", "Link", "shut"]

CONNECT_TIMEOUT_S = 5.0
"""How long a new connection waits for the upstream to accept it."""

_CHUNK = 65536
_QUEUE_CHUNKS = 16  # read-ahead per direction while chunks are held: bounds memory
_SLICE_S = 0.05  # bandwidth releases bytes in slices this many seconds' worth
_MAX_WAKEUPS = 100_000  # re-evaluations of one wait: far more than toxic changes in a run

_log = logging.getLogger("platforms.faultproxy")

_Item = tuple[float, bytes] | OSError | None  # (arrival, chunk), a read error, or EOF


class Board:
    """The toxics as connections see them: the set, a change signal, and seeded dice.

    ``seed`` makes toxicity draws (which connections a flaky toxic hits) and jitter
    reproducible; they use separate generators so jitter does not shift the draws.
    """

    def __init__(self, toxics: ToxicSet, *, seed: int | None = None) -> None:
        self.toxics = toxics
        self._changed = asyncio.Event()
        self._dice = random.Random(seed)
        self._jitter = random.Random(None if seed is None else seed + 1)

    @property
    def clock(self) -> Callable[[], float]:
        """The toxic set's monotonic clock."""
        return self.toxics.clock

    @property
    def changed(self) -> asyncio.Event:
        """The event set at the next change (take it before looking at the toxics)."""
        return self._changed

    def notify(self) -> None:
        """Wake every waiter: the toxics changed."""
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def draw(self) -> float:
        """A uniform number in [0, 1) for a toxicity draw."""
        return self._dice.random()

    def jitter_ms(self, jitter_ms: float) -> float:
        """A uniform offset in [-jitter_ms, +jitter_ms]."""
        return self._jitter.uniform(-jitter_ms, jitter_ms) if jitter_ms else 0.0

    async def wait_until(self, deadline: Callable[[], float | None]) -> None:
        """Wait until ``deadline()`` (None: no wait) passes, re-asking it on every change."""
        for _ in range(_MAX_WAKEUPS):
            changed = self._changed  # taken before asking, so no change slips between
            when = deadline()
            if when is None:
                return
            remaining = when - self.clock()
            if remaining <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)


def shut(writer: asyncio.StreamWriter, *, reset: bool) -> None:
    """Close a connection: gracefully (FIN after buffered data), or with a TCP reset."""
    if not reset:
        writer.close()
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):  # linger 0: close() sends RST, drops the buffer
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class Link:
    """One client connection and its upstream connection, forwarded both ways."""

    def __init__(
        self, board: Board, number: int, client: tuple[asyncio.StreamReader, asyncio.StreamWriter]
    ) -> None:
        self.number = number
        self.started_at = board.clock()
        self._board = board
        self._client_r, self._client_w = client
        self._upstream_w: asyncio.StreamWriter | None = None
        self._hits: dict[int, bool] = {}

    async def run(self, upstream: tuple[str, int]) -> None:
        """Connect upstream and forward until both sides are done or a toxic ends it."""
        try:
            connecting = asyncio.open_connection(*upstream)
            up_r, up_w = await asyncio.wait_for(connecting, CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as err:
            _log.warning("link %d: upstream %s:%d unreachable: %r", self.number, *upstream, err)
            shut(self._client_w, reset=True)
            return
        self._upstream_w = up_w
        pipes = {
            asyncio.create_task(self._pipe(self._client_r, up_w, "upstream")),
            asyncio.create_task(self._pipe(up_r, self._client_w, "downstream")),
        }
        watcher = asyncio.create_task(self._watch())
        fate = "close"
        try:
            pending: set[asyncio.Task[object]] = {*pipes, watcher}
            while pipes & pending:  # each round finishes at least one of three tasks
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if watcher in done:
                    fate = str(watcher.result())
                    break
                if any(not t.cancelled() and t.exception() is not None for t in done):
                    fate = "reset"  # a peer reset or broke the pipe: pass it on
                    break
        finally:
            for task in (*pipes, watcher):
                task.cancel()
            await asyncio.gather(*pipes, watcher, return_exceptions=True)
            self.close(reset=fate == "reset")

    def close(self, *, reset: bool) -> None:
        """Close both sides, with a TCP reset if ``reset``."""
        for writer in (self._client_w, self._upstream_w):
            if writer is not None:
                shut(writer, reset=reset)

    # -- which toxics this connection meets ------------------------------------

    def _meets(self, kinds: tuple[str, ...], direction: str | None) -> list[Toxic]:
        """Active toxics of ``kinds`` on ``direction`` (None: any) that hit this link."""
        return [
            toxic
            for toxic in self._board.toxics.active()
            if toxic.spec.type in kinds
            and (direction is None or toxic.spec.applies_to(direction))
            and self._hit(toxic)
        ]

    def _hit(self, toxic: Toxic) -> bool:
        """Whether ``toxic`` affects this connection: drawn once, then remembered."""
        hit = self._hits.get(toxic.id)
        if hit is None:
            hit = toxic.spec.toxicity >= 1.0 or self._board.draw() < toxic.spec.toxicity
            self._hits[toxic.id] = hit
        return hit

    def _latency_until(self, direction: str, arrival: float) -> float | None:
        toxics = self._meets(("latency",), direction)
        if not toxics:
            return None
        delays = (t.attr("latency_ms") + self._board.jitter_ms(t.attr("jitter_ms")) for t in toxics)
        return arrival + sum(max(0.0, d) for d in delays) / 1000

    def _rate(self, direction: str) -> float | None:
        """Bytes per second allowed on ``direction`` (None: unlimited)."""
        rates = [t.attr("rate_kbps") * 1000 for t in self._meets(("bandwidth",), direction)]
        return min(rates) if rates else None

    def _bandwidth_until(self, direction: str, start: float, size: int) -> float | None:
        rate = self._rate(direction)
        return None if rate is None else start + size / rate

    def _fate(self, now: float) -> tuple[float, str] | None:
        """When this connection must end and how (close or reset), if a toxic says so."""
        fates = []
        for toxic in self._meets(("down", "timeout", "reset_peer"), None):
            if toxic.spec.type == "down":
                fates.append((now, "close"))
            elif toxic.spec.type == "reset_peer" or toxic.attr("timeout_ms") > 0:
                # a toxic added to a live connection starts its timer when it is added
                since = max(toxic.added_at, self.started_at)
                how = "reset" if toxic.spec.type == "reset_peer" else "close"
                fates.append((since + toxic.attr("timeout_ms") / 1000, how))
        return min(fates) if fates else None

    # -- moving bytes --------------------------------------------------------------

    async def _watch(self) -> str:
        """Return how to end the connection once a toxic's time has come."""
        for _ in range(_MAX_WAKEUPS):
            changed = self._board.changed
            now = self._board.clock()
            fate = self._fate(now)
            if fate is not None and fate[0] <= now:
                return fate[1]
            timeout = None if fate is None else fate[0] - now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout)
        return "close"

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, direction: str
    ) -> None:
        queue: asyncio.Queue[_Item] = asyncio.Queue(_QUEUE_CHUNKS)
        feeder = asyncio.create_task(self._feed(reader, queue))
        try:
            while (item := await queue.get()) is not None:  # ends at the peer's EOF
                if isinstance(item, OSError):
                    raise item
                arrival, chunk = item
                await self._board.wait_until(partial(self._latency_until, direction, arrival))
                await self._send(writer, direction, chunk)
            with contextlib.suppress(OSError):  # half-close: pass the EOF on
                if writer.can_write_eof():
                    writer.write_eof()
        finally:
            feeder.cancel()

    async def _feed(self, reader: asyncio.StreamReader, queue: asyncio.Queue[_Item]) -> None:
        try:
            while chunk := await reader.read(_CHUNK):  # ends at the peer's EOF
                await queue.put((self._board.clock(), chunk))
        except OSError as err:
            await queue.put(err)
            return
        await queue.put(None)

    async def _send(self, writer: asyncio.StreamWriter, direction: str, chunk: bytes) -> None:
        view = memoryview(chunk)
        while view:  # each round writes at least one byte or returns
            rate = self._rate(direction)
            piece = view if rate is None else view[: max(1, int(rate * _SLICE_S))]
            if rate is not None:
                start = self._board.clock()
                until = partial(self._bandwidth_until, direction, start, len(piece))
                await self._board.wait_until(until)
            if self._meets(("timeout",), direction):
                return  # blackholed (or timing out): the bytes are dropped, as in Toxiproxy
            writer.write(piece)
            await writer.drain()
            view = view[len(piece) :]
