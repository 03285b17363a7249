"""An OMS that answers at once: the reference API's shopper calls, constant latency.

For sizing the load generator (``loadgen.py``'s orders-per-minute figure): a target so
cheap that the generator, not the OMS, is the bottleneck. It speaks the three calls a
shopper journey makes, in the reference OMS's shapes (``collectors.adapter``'s
``ReferenceOmsAdapter`` reads them):

- ``GET /stock/{sku}?channel=C``: ``200`` with the SKU's stock at one location;
- ``POST /orders`` (any JSON body): ``201`` ``{"status": "confirmed", ...}`` with a
  fresh order id;
- ``POST /orders/{id}/cancel``: ``200`` ``{"status": "cancelled", ...}``;

anything else gets ``404``. Every answer waits ``--latency-ms`` (default 0: at once).
A raw asyncio protocol with minimal HTTP/1.1 keep-alive parsing (request line, then
``Content-Length`` for the body), so the target itself costs next to nothing; nothing
is stored. Started by ``loadgen.py`` in its own process::

    .venv/bin/python benchmarks/stub_oms.py [--port 0] [--latency-ms 0]

It prints ``listening <port>`` once bound on 127.0.0.1 and serves until SIGTERM or
SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import signal

__all__ = ["answer", "serve"]

END_OF_HEAD = b"\r\n\r\n"
MAX_HEAD = 64 * 1024
LOCATION = "loc-1"
_REASONS = {200: b"OK", 201: b"Created", 404: b"Not Found"}
_order_ids = itertools.count(1)


def _response(status: int, body: dict[str, object]) -> bytes:
    payload = json.dumps(body, separators=(",", ":")).encode()
    return (
        b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
        b"Connection: keep-alive\r\n\r\n" % (status, _REASONS[status], len(payload))
    ) + payload


def answer(method: bytes, target: bytes) -> bytes:
    """The whole HTTP response to ``method`` ``target`` (path and query)."""
    path = target.split(b"?", 1)[0].decode("latin-1")
    parts = path.strip("/").split("/")
    if method == b"GET" and len(parts) == 2 and parts[0] == "stock":
        return _response(200, {"sku": parts[1], "locations": {LOCATION: 1000}, "seq": 1})
    if method == b"POST" and parts == ["orders"]:
        order_id = f"stub-{next(_order_ids)}"
        return _response(201, {"status": "confirmed", "order_id": order_id,
                               "location": LOCATION})  # fmt: skip
    if method == b"POST" and len(parts) == 3 and parts[0] == "orders" and parts[2] == "cancel":
        return _response(200, {"status": "cancelled", "order_id": parts[1]})
    return _response(404, {"status": "not_found", "path": path})


class StubProtocol(asyncio.Protocol):
    """One keep-alive connection; answers leave in request order."""

    def __init__(self, latency_s: float) -> None:
        self.latency_s = latency_s
        self.transport: asyncio.Transport | None = None
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        out: list[bytes] = []
        while True:
            request = self._next_request()
            if request is None:
                break
            out.append(answer(*request))
        if len(self.buffer) > MAX_HEAD:
            self._close()
        elif out:
            self._send(b"".join(out))

    def _next_request(self) -> tuple[bytes, bytes] | None:
        """Take one whole request off the buffer: (method, target), or None if partial."""
        end = self.buffer.find(END_OF_HEAD)
        if end < 0:
            return None
        head = self.buffer[:end]
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip() or 0)
        total = end + len(END_OF_HEAD) + length
        if len(self.buffer) < total:
            return None
        self.buffer = self.buffer[total:]
        method, target, *_ = [*head.split(b"\r\n", 1)[0].split(b" "), b"", b""]
        return method, target

    def _send(self, data: bytes) -> None:
        if self.latency_s <= 0:
            self._write(data)
        else:  # constant latency: a timer per batch keeps the order (same delay each)
            asyncio.get_running_loop().call_later(self.latency_s, self._write, data)

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(port: int, latency_s: float) -> None:
    """Serve on 127.0.0.1:``port`` (0: a free one, printed) until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    stop: asyncio.Future[None] = loop.create_future()

    def request_stop() -> None:
        if not stop.done():
            stop.set_result(None)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, request_stop)
    server = await loop.create_server(
        lambda: StubProtocol(latency_s), "127.0.0.1", port, backlog=1024
    )
    bound = server.sockets[0].getsockname()[1]
    print(f"listening {bound}", flush=True)
    async with server:
        await stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0: a free port (printed)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="every answer's delay")
    args = parser.parse_args()
    asyncio.run(serve(args.port, max(args.latency_ms, 0.0) / 1000))


if __name__ == "__main__":
    main()
