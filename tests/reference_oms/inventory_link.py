"""The real inventory app in-process, behind a link a test can cut (for store node tests).

httpx's ASGI transport waits for a whole response, so it cannot carry the endless
`/events` stream; the link serves that route itself from inventory's change table,
formatted by inventory's own `format_event`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from starlette.applications import Starlette

from reference_oms.catalog import CatalogSpec
from reference_oms.change_feed import format_event
from reference_oms.inventory_store import InventoryStore

__all__ = ["InventoryLink"]

POLL_SECONDS = 0.01


class InventoryLink(httpx.AsyncBaseTransport):
    """Forwards to `app` while up; while cut every call (and open stream) fails at once.

    With `lose_replies`, calls reach inventory but their answers are lost (a timeout).
    """

    def __init__(self, app: Starlette, db_path: Path, spec: CatalogSpec) -> None:
        self._asgi = httpx.ASGITransport(app=app)
        self._db_path = db_path
        self._spec = spec
        self._changes: InventoryStore | None = None
        self.up = True
        self.lose_replies = False
        self.calls: list[str] = []

    def cut(self) -> None:
        self.up = False

    def heal(self) -> None:
        self.up = True

    def posts(self) -> list[str]:
        """The POST calls that got through, as `POST /path`."""
        return [call for call in self.calls if call.startswith("POST")]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.up:
            raise httpx.ConnectError("link cut", request=request)
        self.calls.append(f"{request.method} {request.url.path}")
        if request.url.path == "/events":
            after = int(request.url.params.get("after", "0"))
            return httpx.Response(
                200,
                headers={"content-type": "text/event-stream"},
                content=self._events(after, request),
            )
        response = await self._asgi.handle_async_request(request)
        if self.lose_replies:
            raise httpx.ReadTimeout("reply lost", request=request)
        return response

    async def aclose(self) -> None:
        if self._changes is not None:
            self._changes.close()
            self._changes = None

    async def _events(self, after: int, request: httpx.Request) -> AsyncIterator[bytes]:
        if self._changes is None:  # the app has seeded the file by now; this only reads
            self._changes = InventoryStore(str(self._db_path), self._spec)
        yield b": stream open\n\n"
        while True:
            if not self.up:
                raise httpx.ReadError("link cut", request=request)
            rows = self._changes.changes_after(after, 500)
            if rows:
                after = rows[-1]["seq"]
                yield "".join(format_event(row) for row in rows).encode()
            await asyncio.sleep(POLL_SECONDS)
