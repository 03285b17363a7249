"""A target that freezes: HTTP/1.1 keep-alive on 127.0.0.1, stalled 1 s in every 5 s.

Answers ``200 ok`` at once, except that a request arriving while the server is frozen
(the last ``--freeze`` seconds of every ``--cycle`` seconds, counted from the server's
start) is answered when the freeze ends: a request arriving at phase ``p`` in [4, 5)
waits ``5 - p`` seconds. A raw asyncio protocol with minimal parsing (every request is
a GET without a body; each blank line ends one), so the target itself costs nothing.

Used by ``coordinated_omission.py``, which starts it in its own process::

    .venv/bin/python benchmarks/stalling_server.py [--port 0] [--cycle 5] [--freeze 1]

It prints ``listening <port>`` once bound and serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
    b"Connection: keep-alive\r\n\r\nok\n"
)
END_OF_HEAD = b"\r\n\r\n"
MAX_HEAD = 64 * 1024


class Freezer:
    """When the server is frozen, from the event loop's clock and the start time."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, cycle_s: float, freeze_s: float):
        self.loop = loop
        self.cycle_s = cycle_s
        self.freeze_s = freeze_s
        self.started = loop.time()

    def release_at(self) -> float | None:
        """The loop time the current freeze ends, or None when not frozen."""
        now = self.loop.time()
        phase = (now - self.started) % self.cycle_s
        if phase < self.cycle_s - self.freeze_s:
            return None
        return now + (self.cycle_s - phase)


class StallingProtocol(asyncio.Protocol):
    """One keep-alive connection; responses leave in request order."""

    def __init__(self, freezer: Freezer) -> None:
        self.freezer = freezer
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.pending = 0  # requests held back by a freeze
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        count = self.buffer.count(END_OF_HEAD)
        if count:
            self.buffer = self.buffer[self.buffer.rindex(END_OF_HEAD) + len(END_OF_HEAD) :]
        elif len(self.buffer) > MAX_HEAD:
            self.close()
            return
        if not count:
            return
        release = self.freezer.release_at()
        if release is None and not self.pending:
            assert self.transport is not None
            self.transport.write(RESPONSE * count)
            return
        # Frozen, or earlier requests still held: answer after them, in order.
        self.pending += count
        if self.timer is None:
            when = release if release is not None else self.freezer.loop.time()
            self.timer = self.freezer.loop.call_at(when, self.release)

    def release(self) -> None:
        self.timer = None
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(RESPONSE * self.pending)
        self.pending = 0

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.transport = None


async def serve(port: int, cycle_s: float, freeze_s: float) -> None:
    loop = asyncio.get_running_loop()
    stop: asyncio.Future[None] = loop.create_future()

    def request_stop() -> None:
        if not stop.done():
            stop.set_result(None)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, request_stop)
    freezer = Freezer(loop, cycle_s=cycle_s, freeze_s=freeze_s)
    server = await loop.create_server(
        lambda: StallingProtocol(freezer), "127.0.0.1", port, backlog=1024
    )
    freezer.started = loop.time()  # the cycle counts from the moment we listen
    bound = server.sockets[0].getsockname()[1]
    print(f"listening {bound}", flush=True)
    async with server:
        await stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0: a free port (printed)")
    parser.add_argument("--cycle", type=float, default=5.0, help="seconds per cycle")
    parser.add_argument("--freeze", type=float, default=1.0, help="frozen seconds per cycle")
    args = parser.parse_args()
    if not 0 < args.freeze < args.cycle:
        sys.exit("stalling_server: --freeze must be within (0, --cycle)")
    asyncio.run(serve(args.port, args.cycle, args.freeze))


if __name__ == "__main__":
    main()
