"""The orders service's HTTP API (Starlette), built by `create_orders_app`.

Every replica runs this app; they share the orders database, and each keeps its own
channel views fed from inventory's change stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal

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
from .inventory_client import InventoryClient
from .order_flow import OrderFlow, online_sellable
from .orders_store import OrdersStore
from .placement import Placer, V1Placer, V2Placer
from .replies import invalid_response, order_or_404, orders_counter
from .schemas import Channel
from .stock_feed import FeedMetrics, follow_inventory, refresh_marketplace_forever
from .stock_view import ChannelViews
from .tracing import tracer_of

__all__ = ["OrdersSettings", "create_orders_app"]

SERVICE = "orders"
INVENTORY_TIMEOUT_SECONDS = 2.0
FEED_READ_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class OrdersSettings:
    """One replica's configuration."""

    inventory_url: str
    db_path: str
    version: Literal["v1", "v2"] = "v1"
    replica_id: int = 1
    marketplace_sync_seconds: float = 0.5
    ship_from_store: bool = False


class _Orders:
    """Endpoint handlers plus the resources that live for the app's lifespan."""

    def __init__(
        self,
        settings: OrdersSettings,
        registry: CollectorRegistry,
        transport: httpx.AsyncBaseTransport | None,
        tracer: Tracer | None,
    ) -> None:
        self.settings = settings
        self.transport = transport
        self.tracer = tracer
        self.views = ChannelViews(settings.marketplace_sync_seconds)
        self.sellable = online_sellable(settings.ship_from_store)
        self.feed_metrics = FeedMetrics(registry)
        self.orders_total = orders_counter(registry)
        self._flow: OrderFlow | None = None

    @property
    def flow(self) -> OrderFlow:
        if self._flow is None:
            raise RuntimeError("orders flow used outside the app lifespan")
        return self._flow

    def _client(self, read_timeout: float) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.settings.inventory_url,
            timeout=httpx.Timeout(INVENTORY_TIMEOUT_SECONDS, read=read_timeout),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            transport=self.transport,
            trust_env=False,  # never route through a proxy taken from the environment
        )

    def _placer(self, inventory: InventoryClient) -> Placer:
        if self.settings.version == "v2":
            return V2Placer(inventory, random.Random(self.settings.replica_id), asyncio.sleep)
        return V1Placer(inventory)

    @asynccontextmanager
    async def lifespan(self, _: Starlette) -> AsyncIterator[None]:
        store = await run_in_threadpool(OrdersStore, self.settings.db_path)
        async with (
            self._client(INVENTORY_TIMEOUT_SECONDS) as api,
            self._client(FEED_READ_TIMEOUT_SECONDS) as feed,
        ):
            inventory = InventoryClient(api, self.tracer)
            self._flow = OrderFlow(
                store,
                inventory,
                self._placer(inventory),
                self.views,
                self.settings.version,
                self.settings.replica_id,
                self.orders_total,
                self.sellable,
            )
            tasks = [
                asyncio.create_task(follow_inventory(feed, self.views, self.feed_metrics)),
                asyncio.create_task(refresh_marketplace_forever(self.views, self.feed_metrics)),
            ]
            try:
                yield
            finally:
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                await run_in_threadpool(store.close)

    async def healthz(self, _: Request) -> Response:
        loaded = self.views.live.loaded
        return JSONResponse(
            {
                "status": "ok" if loaded else "starting",
                "service": SERVICE,
                "version": self.settings.version,
                "replica": self.settings.replica_id,
                "view_seq": self.views.live.seq,
            },
            status_code=200 if loaded else 503,
        )

    async def stock(self, request: Request) -> Response:
        sku = request.path_params["sku"]
        raw_channel = request.query_params.get("channel", Channel.WEB.value)
        try:
            channel = Channel(raw_channel)
        except ValueError:
            return invalid_response(
                f"unknown channel {raw_channel!r}; expected one of {[c.value for c in Channel]}"
            )
        view = self.views.for_channel(channel)
        if not view.loaded:
            return JSONResponse({"status": "starting"}, status_code=503)
        levels = view.locations(sku)
        if levels is None:
            return JSONResponse({"status": "not_found", "sku": sku}, status_code=404)
        return JSONResponse(
            {
                "sku": sku,
                "channel": channel.value,
                "locations": {loc: n for loc, n in levels.items() if self.sellable(loc)},
                "seq": view.seq,
                "as_of": view.as_of,
                "replica": self.settings.replica_id,
            }
        )

    async def create_order(self, request: Request) -> Response:
        code, body = await self.flow.create(request)
        return JSONResponse(body, status_code=code)

    async def cancel_order(self, request: Request) -> Response:
        code, body = await self.flow.cancel(request.path_params["order_id"])
        return JSONResponse(body, status_code=code)

    async def get_order(self, request: Request) -> Response:
        order = await run_in_threadpool(self.flow.store.get, request.path_params["order_id"])
        return order_or_404(order, request.path_params["order_id"])

    async def find_order(self, request: Request) -> Response:
        key = request.query_params.get("idempotency_key")
        if not key:
            return invalid_response("query parameter 'idempotency_key' is required")
        return order_or_404(await run_in_threadpool(self.flow.store.get_by_key, key), key)


def create_orders_app(
    settings: OrdersSettings,
    transport: httpx.AsyncBaseTransport | None = None,
    tracer_provider: TracerProvider | None = None,
) -> Starlette:
    """Build one orders replica's app with its own metrics registry.

    `transport` replaces the network for calls to inventory (tests pass a fake). With
    `tracer_provider` every request gets a SERVER span and every call to inventory a
    CLIENT span carrying the trace on; spans are flushed when the lifespan ends.
    """
    registry = CollectorRegistry()
    api = _Orders(settings, registry, transport, tracer_of(tracer_provider))
    routes = [
        Route("/healthz", api.healthz, methods=["GET"]),
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
