"""A store node's HTTP API (Starlette), built by `create_store_app`: a till that sells offline too.

The store sells only its own location, on channel `store`. Its stock view is fed by
inventory's change stream like an orders replica's; its sales and outbox live in its
own SQLite file (see `store_sales`, `store_forwarder`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .assembly import assemble_app
from .catalog import is_store_location
from .inventory_client import InventoryClient
from .replies import invalid_response, order_or_404
from .schemas import Channel
from .stock_feed import FeedMetrics, follow_inventory
from .stock_view import ChannelViews
from .store_db import StoreDb
from .store_forwarder import Forwarder
from .store_sales import StoreSales
from .store_state import StoreMetrics, StoreState
from .tracing import tracer_of

__all__ = ["StoreSettings", "create_store_app"]

SERVICE = "store"
FEED_READ_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class StoreSettings:
    """One store node's configuration."""

    inventory_url: str
    db_path: str
    location: str
    inventory_timeout_seconds: float = 0.5
    retry_interval_seconds: float = 0.25

    def __post_init__(self) -> None:
        if not is_store_location(self.location):
            raise ValueError(f"a store sells a store location (store-N), got {self.location!r}")
        if self.inventory_timeout_seconds <= 0 or self.retry_interval_seconds <= 0:
            raise ValueError("the inventory timeout and the retry interval must be > 0")


@dataclass(frozen=True)
class _Running:
    """What exists only while the app is running."""

    db: StoreDb
    state: StoreState
    sales: StoreSales


class _Store:
    """Endpoint handlers plus the resources that live for the app's lifespan."""

    def __init__(
        self,
        settings: StoreSettings,
        registry: CollectorRegistry,
        transport: httpx.AsyncBaseTransport | None,
        tracer: Tracer | None,
    ) -> None:
        self.settings = settings
        self.transport = transport
        self.tracer = tracer
        self.views = ChannelViews(0)  # a till reads live stock only
        self.feed_metrics = FeedMetrics(registry)
        self.metrics = StoreMetrics(registry)
        self._running: _Running | None = None

    @property
    def running(self) -> _Running:
        if self._running is None:
            raise RuntimeError("store used outside the app lifespan")
        return self._running

    def _client(self, read_timeout: float) -> httpx.AsyncClient:
        timeout = self.settings.inventory_timeout_seconds
        return httpx.AsyncClient(
            base_url=self.settings.inventory_url,
            timeout=httpx.Timeout(timeout, read=read_timeout),
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=10),
            transport=self.transport,
            trust_env=False,  # never route through a proxy taken from the environment
        )

    @asynccontextmanager
    async def lifespan(self, _: Starlette) -> AsyncIterator[None]:
        db = await run_in_threadpool(StoreDb, self.settings.db_path)
        pending = await run_in_threadpool(db.pending_ops)
        state = StoreState(self.settings.location, pending, time.time)
        self.metrics.state = state
        async with (
            self._client(self.settings.inventory_timeout_seconds) as api,
            self._client(FEED_READ_TIMEOUT_SECONDS) as feed,
        ):
            inventory = InventoryClient(api, self.tracer)
            view = self.views.live
            self._running = _Running(
                db, state, StoreSales(state, db, inventory, view, self.metrics)
            )
            forwarder = Forwarder(
                state, db, inventory, self.metrics, self.settings.retry_interval_seconds
            )
            tasks = [
                asyncio.create_task(follow_inventory(feed, self.views, self.feed_metrics)),
                asyncio.create_task(forwarder.forward_forever()),
            ]
            try:
                yield
            finally:
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                await run_in_threadpool(db.close)

    async def healthz(self, _: Request) -> Response:
        loaded = self.views.live.loaded
        state = self.running.state
        body = {
            "status": "ok" if loaded else "starting",
            "service": SERVICE,
            "location": state.location,
            "online": state.online,
            "outbox": len(state.ops),
        }
        return JSONResponse(body, status_code=200 if loaded else 503)

    async def outbox(self, _: Request) -> Response:
        state = self.running.state
        return JSONResponse({"store": state.location, **state.summary()})

    async def stock(self, request: Request) -> Response:
        sku = request.path_params["sku"]
        channel = request.query_params.get("channel", Channel.STORE.value)
        if channel != Channel.STORE.value:
            return invalid_response(f"a store answers only for channel 'store', got {channel!r}")
        view = self.views.live
        if not view.loaded:
            return JSONResponse({"status": "starting"}, status_code=503)
        if sku not in view.levels:
            return JSONResponse({"status": "not_found", "sku": sku}, status_code=404)
        state = self.running.state
        return JSONResponse(
            {
                "sku": sku,
                "channel": channel,
                "locations": {state.location: state.available(view, sku, settled=True)},
                "seq": view.seq,
                "as_of": view.as_of,
                "online": state.online,
            }
        )

    async def create_order(self, request: Request) -> Response:
        code, body = await self.running.sales.create(request)
        return JSONResponse(body, status_code=code)

    async def cancel_order(self, request: Request) -> Response:
        code, body = await self.running.sales.cancel(request.path_params["order_id"])
        return JSONResponse(body, status_code=code)

    async def get_order(self, request: Request) -> Response:
        wanted = request.path_params["order_id"]
        return order_or_404(await run_in_threadpool(self.running.db.get, wanted), wanted)

    async def find_order(self, request: Request) -> Response:
        key = request.query_params.get("idempotency_key")
        if not key:
            return invalid_response("query parameter 'idempotency_key' is required")
        return order_or_404(await run_in_threadpool(self.running.db.get_by_key, key), key)


def create_store_app(
    settings: StoreSettings,
    transport: httpx.AsyncBaseTransport | None = None,
    tracer_provider: TracerProvider | None = None,
) -> Starlette:
    """Build one store node's app with its own metrics registry.

    `transport` replaces the network for calls to inventory (tests pass a fake or an
    in-process inventory app). With `tracer_provider`, requests and calls to inventory
    are traced as for orders.
    """
    registry = CollectorRegistry()
    api = _Store(settings, registry, transport, tracer_of(tracer_provider))
    routes = [
        Route("/healthz", api.healthz, methods=["GET"]),
        Route("/outbox", api.outbox, methods=["GET"]),
        Route("/orders", api.create_order, methods=["POST"]),
        Route("/orders", api.find_order, methods=["GET"]),
        Route("/orders/{order_id}", api.get_order, methods=["GET"]),
        Route("/orders/{order_id}/cancel", api.cancel_order, methods=["POST"]),
        Route("/stock/{sku}", api.stock, methods=["GET"]),
    ]
    return assemble_app(
        routes, registry=registry, service=SERVICE, lifespan=api.lifespan,
        tracer_provider=tracer_provider,
    )  # fmt: skip
