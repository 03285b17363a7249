"""A TCP fault proxy with a small Toxiproxy-like HTTP control API, where every fault is leased.

``python -m platforms.faultproxy --listen 127.0.0.1:P --upstream 127.0.0.1:U
--control 127.0.0.1:C [--name orders-inventory] [--seed N]`` forwards bytes between
clients of P and the upstream U, applying the active toxics (latency, bandwidth,
timeout, reset_peer, down) to every connection, live ones included. Each toxic has a
lease: unless renewed it is removed after ``lease_s`` seconds (checked every 50 ms), so
a fault outlives a killed injector by at most its lease. The kernel here has no netem:
a userspace proxy is how latency and network faults are made. See docs/faults.md.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from types import TracebackType
from urllib.parse import unquote

from platforms.faultproxy.control import serve_http
from platforms.faultproxy.link import Board, Link, shut
from platforms.faultproxy.toxics import ToxicError, ToxicSet, parse_lease, parse_spec

__all__ = ["LOOPBACK", "FaultProxy", "ProxyThread", "main", "parse_address"]

LOOPBACK = "127.0.0.1"
"""The only address the proxy listens on or connects to."""

Address = tuple[str, int]

_log = logging.getLogger("platforms.faultproxy")


def parse_address(text: str) -> Address:
    """``127.0.0.1:PORT`` to a tuple; ValueError for anything not on 127.0.0.1."""
    host, sep, port = text.rpartition(":")
    if not sep or host != LOOPBACK or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"address must be {LOOPBACK}:PORT (loopback only), got {text!r}")
    return host, int(port)


class FaultProxy:
    """Forwards ``listen`` to ``upstream`` through the active toxics; control API on ``control``.

    Port 0 picks a free port; :attr:`listen_port` and :attr:`control_port` say which
    once started. Run it on one event loop (:meth:`start`, :meth:`stop`), or in a
    thread with :class:`ProxyThread`.
    """

    def __init__(
        self,
        *,
        listen: Address,
        upstream: Address,
        control: Address,
        name: str = "faultproxy",
        seed: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        check_interval_s: float = 0.05,
    ) -> None:
        for address in (listen, upstream, control):
            parse_address(f"{address[0]}:{address[1]}")
        self.name = name
        self.listen_port = listen[1]
        self.control_port = control[1]
        self._upstream = upstream
        self._check_interval_s = check_interval_s
        self._toxics = ToxicSet(clock)
        self._board = Board(self._toxics, seed=seed)
        self._numbers = itertools.count(1)
        self._links: dict[int, asyncio.Task[None]] = {}
        self._server: asyncio.Server | None = None
        self._control: asyncio.Server | None = None
        self._reaper: asyncio.Task[None] | None = None

    @property
    def control_url(self) -> str:
        """``http://127.0.0.1:CONTROL_PORT``."""
        return f"http://{LOOPBACK}:{self.control_port}"

    async def start(self) -> None:
        """Listen for clients, then serve the control API (so healthy means forwarding)."""
        await self._listen()
        self._control = await asyncio.start_server(
            partial(serve_http, self._route), LOOPBACK, self.control_port
        )
        self.control_port = int(self._control.sockets[0].getsockname()[1])
        self._reaper = asyncio.create_task(self._reap())
        _log.info(
            "%s: forwarding %s:%d -> %s:%d, control %s",
            self.name,
            LOOPBACK,
            self.listen_port,
            *self._upstream,
            self.control_url,
        )

    async def stop(self) -> None:
        """Stop serving and close every connection."""
        for server in (self._server, self._control):
            if server is not None:
                server.close()
        self._server = self._control = None
        tasks = [*self._links.values(), *([self._reaper] if self._reaper else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        _log.info("%s: stopped", self.name)

    def state(self) -> dict[str, object]:
        """What ``GET /proxy`` answers."""
        return {
            "name": self.name,
            "listen": f"{LOOPBACK}:{self.listen_port}",
            "upstream": f"{self._upstream[0]}:{self._upstream[1]}",
            "enabled": not self._down(),
            "listening": self._server is not None,
            "connections": len(self._links),
            "toxics": self._toxics.describe(),
        }

    # -- clients -------------------------------------------------------------------

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._server is None:  # went down between accept and now
            shut(writer, reset=True)
            return
        number = next(self._numbers)
        task = asyncio.current_task()
        assert task is not None
        self._links[number] = task
        try:
            await Link(self._board, number, (reader, writer)).run(self._upstream)
        except asyncio.CancelledError:
            pass  # stop() cancelled us; the link closed itself. (Re-raising makes asyncio's
            # stream callback log a traceback per connection on Python 3.11.)
        finally:
            self._links.pop(number, None)

    def _down(self) -> bool:
        return any(toxic.spec.type == "down" for toxic in self._toxics.active())

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._on_client, LOOPBACK, self.listen_port, reuse_address=True
        )
        self.listen_port = int(self._server.sockets[0].getsockname()[1])

    async def _sync_listener(self) -> None:
        """Stop listening while a ``down`` toxic is active (refused); listen again after."""
        down = self._down()
        if down and self._server is not None:
            self._server.close()  # live connections are closed by their watchers
            self._server = None
            _log.warning("%s: down: refusing connections on port %d", self.name, self.listen_port)
        elif not down and self._server is None:
            try:
                await self._listen()
            except OSError as err:  # retried at the next check
                _log.error("%s: cannot listen again on %d: %s", self.name, self.listen_port, err)
            else:
                _log.info("%s: up: listening again on port %d", self.name, self.listen_port)

    async def _changed(self) -> None:
        self._board.notify()
        await self._sync_listener()

    async def _reap(self) -> None:
        """Remove toxics whose lease lapsed (the dead-man's switch); runs until stop()."""
        while True:
            await asyncio.sleep(self._check_interval_s)
            lapsed = self._toxics.expire()
            for toxic in lapsed:
                _log.warning(
                    "%s: lease of toxic %r (%s) lapsed unrenewed after %.1fs: removed it",
                    self.name,
                    toxic.name,
                    toxic.spec.type,
                    self._toxics.clock() - toxic.added_at,
                )
            if lapsed:
                self._board.notify()
            await self._sync_listener()

    # -- control API -------------------------------------------------------------------

    async def _route(self, method: str, target: str, body: object) -> tuple[int, object]:
        parts = [unquote(p) for p in target.split("?", 1)[0].split("/") if p]
        try:
            return await self._dispatch(method, parts, body)
        except ToxicError as err:
            return err.status, {"error": str(err)}

    async def _dispatch(self, method: str, parts: list[str], body: object) -> tuple[int, object]:
        toxics = self._toxics
        match (method, parts):
            case ("GET", ["healthz"]):
                return 200, {"status": "ok", "name": self.name}
            case ("GET", ["proxy"]):
                return 200, self.state()
            case ("GET", ["toxics"]):
                return 200, toxics.describe()
            case ("POST", ["toxics"]):
                toxic = toxics.add(parse_spec(body))
                _log.info("%s: added toxic %s", self.name, toxic.describe(toxic.added_at))
                await self._changed()
                return 201, toxic.describe(toxics.clock())
            case ("DELETE", ["toxics", name]):
                toxics.remove(name)
                _log.info("%s: removed toxic %r", self.name, name)
                await self._changed()
                return 204, None
            case ("POST", ["toxics", name, "renew"]):
                given = body.get("lease_s") if isinstance(body, dict) else None
                lease_s = toxics.get(name).spec.lease_s if given is None else parse_lease(given)
                toxic = toxics.renew(name, lease_s)
                _log.debug("%s: renewed toxic %r for %gs", self.name, name, lease_s)
                return 200, toxic.describe(toxics.clock())
            case ("POST", ["reset"]):
                removed = [toxic.name for toxic in toxics.clear()]
                _log.info("%s: reset: removed %s", self.name, removed or "nothing")
                await self._changed()
                return 200, {"removed": removed}
            case (_, ["healthz" | "proxy" | "reset"] | ["toxics", *_]):
                return 405, {"error": f"method {method} not allowed on /{'/'.join(parts)}"}
        return 404, {"error": f"no route /{'/'.join(parts)}"}


class ProxyThread:
    """Runs a :class:`FaultProxy` on its own event loop in a daemon thread (tests, embedding)."""

    def __init__(self, proxy: FaultProxy, timeout_s: float = 10.0) -> None:
        self.proxy = proxy
        self._timeout_s = timeout_s
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"faultproxy-{proxy.name}", daemon=True
        )

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.proxy.start(), self._loop).result(self._timeout_s)
        except BaseException:
            self._close()
            raise
        return self.proxy

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self.proxy.stop(), self._loop).result(self._timeout_s)
        finally:
            self._close()

    def _close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(self._timeout_s)
        self._loop.close()


async def _serve(proxy: FaultProxy) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await proxy.start()
    try:
        await stopping.wait()
    finally:
        await proxy.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the proxy until SIGTERM or SIGINT; exit 2 on bad flags, 3 if it cannot listen."""
    parser = argparse.ArgumentParser(prog="python -m platforms.faultproxy", description=__doc__)
    for flag in ("--listen", "--upstream", "--control"):
        parser.add_argument(flag, required=True, metavar=f"{LOOPBACK}:PORT")
    parser.add_argument("--name", default="faultproxy", help="shown in logs and GET /proxy")
    parser.add_argument("--seed", type=int, help="seed for toxicity draws and jitter")
    args = parser.parse_args(argv)
    try:
        listen, upstream, control = (
            parse_address(text) for text in (args.listen, args.upstream, args.control)
        )
    except ValueError as err:
        parser.error(str(err))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr
    )
    proxy = FaultProxy(
        listen=listen, upstream=upstream, control=control, name=args.name, seed=args.seed
    )
    try:
        asyncio.run(_serve(proxy))
    except OSError as err:
        _log.error("%s: cannot start: %s", args.name, err)
        return 3
    return 0
