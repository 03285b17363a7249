"""Running an app under uvicorn on sockets we bind ourselves (SO_REUSEPORT for replicas)."""

from __future__ import annotations

import socket
import threading
from types import FrameType

import uvicorn
from starlette.types import ASGIApp

__all__ = ["listen_socket", "serve"]

GRACEFUL_SHUTDOWN_SECONDS = 3


def listen_socket(host: str, port: int, reuse_port: bool = False) -> socket.socket:
    """Bind and listen on `host:port`; with `reuse_port`, other processes may bind it too.

    The kernel then spreads incoming connections across every process listening on
    the port, which is how several orders replicas share one public port.
    """
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose
    # proto says TCP; with proto 0 every response waits ~40 ms on Nagle + delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(1024)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class _Server(uvicorn.Server):
    """A uvicorn server that also raises `stopping` when asked to exit.

    Open event streams watch `stopping`, so they end at once instead of keeping
    uvicorn's graceful shutdown waiting for its timeout.
    """

    def __init__(self, config: uvicorn.Config, stopping: threading.Event) -> None:
        super().__init__(config)
        self.stopping = stopping

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.stopping.set()
        super().handle_exit(sig, frame)


def serve(app: ASGIApp, sockets: list[socket.socket], stopping: threading.Event) -> None:
    """Serve `app` on `sockets` until SIGINT/SIGTERM, logging only warnings and errors."""
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    _Server(config, stopping).run(sockets=sockets)
