"""A minimal HTTP/1.1 JSON server for the fault proxy's control API (one request a connection).

Small on purpose: the control API has six routes and a handful of clients, all on
127.0.0.1, so a full ASGI stack would only add start-up time to the proxy process.
Bodies must carry ``Content-Length`` (no chunked encoding) and be JSON.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus

__all__ = ["Handler", "serve_http"]

Handler = Callable[[str, str, object], Awaitable[tuple[int, object]]]
"""``(method, path, json body or None) -> (status, json payload or None)``."""

_MAX_BODY = 65536
_MAX_HEADERS = 100
_READ_TIMEOUT_S = 5.0

_log = logging.getLogger("platforms.faultproxy")


class _BadRequest(Exception):
    pass


async def serve_http(
    handler: Handler, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Answer one request on this connection, then close it."""
    status: int
    payload: object
    try:
        try:
            method, path, body = await asyncio.wait_for(_read_request(reader), _READ_TIMEOUT_S)
        except _BadRequest as err:
            status, payload = 400, {"error": str(err)}
        else:
            try:
                status, payload = await handler(method, path, body)
            except Exception as err:  # answered, and logged: never a silent hang
                _log.exception("control %s %s failed", method, path)
                status, payload = 500, {"error": f"{type(err).__name__}: {err}"}
        writer.write(_response(status, payload))
        await writer.drain()
    except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
        pass  # the client went away or stalled: nothing to answer
    finally:
        writer.close()


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, object]:
    try:
        line = (await reader.readline()).decode("latin-1")
        parts = line.split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            raise _BadRequest(f"bad request line {line[:100]!r}")
        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADERS):
            raw = await reader.readline()
            if raw in (b"\r\n", b"\n", b""):
                break
            key, _, value = raw.decode("latin-1").partition(":")
            headers[key.strip().lower()] = value.strip()
        else:
            raise _BadRequest(f"more than {_MAX_HEADERS} headers")
    except ValueError as err:  # a line longer than the stream's limit
        raise _BadRequest(f"request head too long: {err}") from err
    return parts[0].upper(), parts[1], await _read_body(reader, headers)


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> object:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise _BadRequest("chunked bodies are not supported: send content-length")
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError as err:
        raise _BadRequest(f"bad content-length {headers['content-length']!r}") from err
    if not 0 <= length <= _MAX_BODY:
        raise _BadRequest(f"body must be 0 to {_MAX_BODY} bytes, got {length}")
    raw = await reader.readexactly(length) if length else b""
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as err:
        raise _BadRequest(f"body is not json: {err}") from err


def _response(status: int, payload: object) -> bytes:
    body = b"" if payload is None or status == 204 else json.dumps(payload).encode()
    head = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
        f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    if body:
        head.append("Content-Type: application/json")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
