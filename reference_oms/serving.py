"""Running an app under uvicorn on sockets we bind ourselves (SO_REUSEPORT for replicas).

Replicas share their public port, so two things matter when one is replaced:

* **Ready before traffic.** A shared socket joins the port's SO_REUSEPORT group at
  ``listen()``, not at ``bind()``, and from then on the kernel hands it a share of new
  connections. ``listen_socket(reuse_port=True)`` therefore only binds; ``serve`` starts
  listening on such a socket once the app answers ``GET /healthz`` with 200, so a
  starting replica never answers public traffic with 503.
* **Nothing left in the accept queue.** Each socket of the group has its own accept
  queue, and closing a listener resets the connections still queued on it (unless the
  ``net.ipv4.tcp_migrate_req`` sysctl moves them to another listener). On SIGTERM every
  listener is drained (accepted until empty) and closed in one step of the event loop,
  so only a connection completing its handshake in those microseconds can be reset;
  then uvicorn finishes the requests in flight (at most ``GRACEFUL_SHUTDOWN_SECONDS``).
* **No idle keep-alive connection closed under a client's request.** uvicorn closes
  idle connections at once when it shuts down, racing a request the client may be
  sending on one. While draining, every request is answered with ``Connection:
  close`` and an idle connection is closed only after ``IDLE_GRACE_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Coroutine
from types import FrameType
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Message
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

__all__ = ["READY_PATH", "listen_socket", "serve"]

GRACEFUL_SHUTDOWN_SECONDS = 3
READY_PATH = "/healthz"
"""Every app of the reference OMS answers 200 here once it can serve."""
READY_POLL_S = 0.02
IDLE_GRACE_S = 1.0
"""How long a draining server keeps an idle keep-alive connection open for one more
request (answered with ``Connection: close``) before closing it."""


def listen_socket(host: str, port: int, reuse_port: bool = False) -> socket.socket:
    """Bind `host:port` and listen; with `reuse_port`, other processes may bind it too.

    The kernel then spreads incoming connections across every process listening on
    the port, which is how several orders replicas share one public port. A
    `reuse_port` socket is only bound: :func:`serve` listens on it once the app is ready.
    """
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose
    # proto says TCP; with proto 0 every response waits ~40 ms on Nagle + delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        if not reuse_port:
            sock.listen(1024)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class _DrainState(ServerState):
    """uvicorn's state shared by every connection, plus whether the server drains."""

    def __init__(self) -> None:
        super().__init__()
        self.draining = False


class _DrainingH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing each connection after its next response while
    the server drains, and an idle one after ``IDLE_GRACE_S``."""

    def handle_events(self) -> None:
        super().handle_events()
        cycle = self.cycle
        if _draining(self.server_state) and cycle is not None and not cycle.response_complete:
            cycle.keep_alive = False

    def shutdown(self) -> None:
        if self.cycle is None or self.cycle.response_complete:
            self.loop.call_later(IDLE_GRACE_S, self._close_if_idle)
        else:
            super().shutdown()

    def _close_if_idle(self) -> None:
        if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
            super().shutdown()


def _draining(state: ServerState) -> bool:
    return isinstance(state, _DrainState) and state.draining


def _listening(sock: socket.socket) -> bool:
    return bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))


class _Server(uvicorn.Server):
    """A uvicorn server that listens on shared sockets once ready and drains on exit.

    It also raises `stopping` when asked to exit: open event streams watch it, so they
    end at once instead of keeping uvicorn's graceful shutdown waiting for its timeout.
    """

    def __init__(self, config: uvicorn.Config, stopping: threading.Event) -> None:
        super().__init__(config)
        self.server_state = self._drain_state = _DrainState()
        self.stopping = stopping
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sockets: list[socket.socket] = []
        self._tasks: set[asyncio.Task[object]] = set()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.stopping.set()
        if self._loop is not None:  # stop taking connections now, not at the next tick
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                self._loop.call_soon_threadsafe(self._drain_and_close)
        super().handle_exit(sig, frame)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._sockets = list(sockets or [])
        await super().startup(sockets=[s for s in self._sockets if _listening(s)])
        gated = [s for s in self._sockets if not _listening(s)]
        if gated and not self.should_exit:
            self._spawn(self._listen_when_ready(gated))

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._drain_and_close()
        for task in self._tasks:
            task.cancel()
        await super().shutdown(sockets=sockets)

    def _protocol(self) -> asyncio.Protocol:
        # What uvicorn's own `startup` builds for each accepted connection.
        return self.config.http_protocol_class(  # type: ignore[call-arg]
            config=self.config, server_state=self.server_state, app_state=self.lifespan.state
        )

    def _spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        task: asyncio.Task[object] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _listen_when_ready(self, gated: list[socket.socket]) -> None:
        while not self.should_exit and not await self._ready():
            await asyncio.sleep(READY_POLL_S)
        if self.should_exit:
            return
        loop = asyncio.get_running_loop()
        for sock in gated:
            server = await loop.create_server(
                self._protocol, sock=sock, backlog=self.config.backlog
            )
            self.servers.append(server)

    async def _ready(self) -> bool:
        """Whether the app answers ``GET READY_PATH`` with 200 (asked in-process)."""
        status = 0

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])

        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": READY_PATH,
            "raw_path": READY_PATH.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"localhost")],
            "client": None,
            "server": None,
            "state": self.lifespan.state.copy(),
        }
        try:
            await self.config.loaded_app(scope, receive, send)
        except Exception:  # not ready yet; the app logs its own errors
            return False
        return status == 200

    def _drain_and_close(self) -> None:
        """Accept whatever waits in each listener's queue, then close it, in one step.

        Nothing runs on the loop in between, so the queue cannot refill but for
        handshakes completing in the microseconds before ``close``.
        """
        self._drain_state.draining = True
        loop = asyncio.get_running_loop()
        for sock in self._sockets:
            if sock.fileno() < 0 or not _listening(sock):
                continue  # closed already, or never opened (not ready yet)
            while True:
                try:
                    conn, _ = sock.accept()
                except OSError:  # BlockingIOError: the queue is empty
                    break
                conn.setblocking(False)
                self._spawn(loop.connect_accepted_socket(self._protocol, sock=conn))
        for server in self.servers:
            server.close()


def serve(app: ASGIApp, sockets: list[socket.socket], stopping: threading.Event) -> None:
    """Serve `app` on `sockets` until SIGINT/SIGTERM, logging only warnings and errors.

    Sockets that are bound but not listening yet (shared ones, see :func:`listen_socket`)
    start listening once the app is ready.
    """
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        http=_DrainingH11Protocol,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    _Server(config, stopping).run(sockets=sockets)
