"""The inventory service's HTTP API (Starlette), built by `create_inventory_app`."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .assembly import assemble_app
from .catalog import CatalogSpec
from .change_feed import ChangeNotifier, event_stream
from .inventory_store import InventoryStore, UnknownItemError
from .schemas import BadRequest, ReservationRequest, parse_body

__all__ = ["InventorySettings", "create_inventory_app"]

SERVICE = "inventory"


@dataclass(frozen=True)
class InventorySettings:
    """Where the inventory database lives and what to seed it with on first start."""

    db_path: str
    catalog: CatalogSpec = field(default_factory=CatalogSpec)


class _Inventory:
    """Endpoint handlers; `store` and `notifier` exist only while the app is running."""

    def __init__(self, settings: InventorySettings, shutdown: threading.Event) -> None:
        self.settings = settings
        self.shutdown = shutdown
        self._store: InventoryStore | None = None
        self._notifier: ChangeNotifier | None = None

    @property
    def store(self) -> InventoryStore:
        if self._store is None:
            raise RuntimeError("inventory store used outside the app lifespan")
        return self._store

    @asynccontextmanager
    async def lifespan(self, _: Starlette) -> AsyncIterator[None]:
        self._store = await run_in_threadpool(
            InventoryStore, self.settings.db_path, self.settings.catalog
        )
        self._notifier = ChangeNotifier()
        self.shutdown.clear()
        try:
            yield
        finally:
            self.shutdown.set()
            await run_in_threadpool(self._store.close)

    async def healthz(self, _: Request) -> Response:
        return JSONResponse({"status": "ok", "service": SERVICE})

    async def skus(self, _: Request) -> Response:
        return JSONResponse({"skus": self.store.skus, "locations": self.store.locations})

    async def stock_one(self, request: Request) -> Response:
        sku = request.path_params["sku"]
        if not self.store.has_sku(sku):
            return JSONResponse({"status": "not_found", "sku": sku}, status_code=404)
        table, seq = await run_in_threadpool(self.store.stock, sku)
        return JSONResponse({"sku": sku, "locations": table[sku], "seq": seq})

    async def stock_all(self, _: Request) -> Response:
        table, seq = await run_in_threadpool(self.store.stock)
        return JSONResponse({"stock": table, "seq": seq})

    async def reserve(self, request: Request) -> Response:
        try:
            body = await parse_body(request, ReservationRequest)
        except BadRequest as bad:
            return JSONResponse(bad.body, status_code=422)
        lines = [(line.sku, line.qty) for line in body.lines]
        try:
            outcome = await run_in_threadpool(
                self.store.reserve, body.order_id, body.location, lines, body.atomic
            )
        except UnknownItemError as err:
            return JSONResponse({"status": "invalid", "error": str(err)}, status_code=422)
        self._changed()
        return JSONResponse(outcome.body, status_code=outcome.code)

    async def reservation(self, request: Request) -> Response:
        outcome = await run_in_threadpool(self.store.reservation, request.path_params["order_id"])
        return JSONResponse(outcome.body, status_code=outcome.code)

    async def release(self, request: Request) -> Response:
        outcome = await run_in_threadpool(self.store.release, request.path_params["order_id"])
        self._changed()
        return JSONResponse(outcome.body, status_code=outcome.code)

    async def events(self, request: Request) -> Response:
        try:
            after = int(request.query_params.get("after", "0"))
        except ValueError:
            return JSONResponse(
                {"status": "invalid", "error": "query parameter 'after' must be an integer"},
                status_code=422,
            )
        assert self._notifier is not None
        stream = event_stream(self.store.changes_after, self._notifier, after, self.shutdown)
        return StreamingResponse(
            stream,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    def _changed(self) -> None:
        if self._notifier is not None:
            self._notifier.notify()


def create_inventory_app(
    settings: InventorySettings,
    shutdown: threading.Event | None = None,
    tracer_provider: TracerProvider | None = None,
) -> Starlette:
    """Build the inventory app with its own metrics registry.

    `shutdown` is set by the server on SIGTERM/SIGINT so open event streams end promptly
    instead of holding graceful shutdown open. With `tracer_provider` every request
    gets a SERVER span, flushed when the lifespan ends.
    """
    registry = CollectorRegistry()
    api = _Inventory(settings, shutdown or threading.Event())
    routes = [
        Route("/healthz", api.healthz, methods=["GET"]),
        Route("/skus", api.skus, methods=["GET"]),
        Route("/stock", api.stock_all, methods=["GET"]),
        Route("/stock/{sku}", api.stock_one, methods=["GET"]),
        Route("/reservations", api.reserve, methods=["POST"]),
        Route("/reservations/{order_id}", api.reservation, methods=["GET"]),
        Route("/reservations/{order_id}/release", api.release, methods=["POST"]),
        Route("/events", api.events, methods=["GET"]),
    ]
    return assemble_app(
        routes, registry=registry, service=SERVICE, lifespan=api.lifespan,
        tracer_provider=tracer_provider,
    )  # fmt: skip
