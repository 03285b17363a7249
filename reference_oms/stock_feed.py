"""Keeping a replica's channel views in step with inventory: snapshot, then follow the SSE feed."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, Gauge, Histogram

from .stock_view import ChannelViews

__all__ = ["FeedMetrics", "follow_inventory", "parse_sse", "refresh_marketplace_forever"]

log = logging.getLogger(__name__)

LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BACKOFF_START = 0.05
BACKOFF_MAX = 1.0


class FeedGapError(RuntimeError):
    """The feed skipped a seq; the view can no longer be trusted and is reloaded."""


class FeedMetrics:
    """How far behind inventory this replica's view is."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.lag = Histogram(
            "oms_stock_view_lag_seconds",
            "Seconds from an inventory change to this replica applying it to its view.",
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        self.seq = Gauge(
            "oms_stock_view_seq", "Change-log seq the live view has applied.", registry=registry
        )
        self.marketplace_seq = Gauge(
            "oms_marketplace_view_seq",
            "Change-log seq the marketplace copy was refreshed at.",
            registry=registry,
        )


async def parse_sse(lines: AsyncIterator[str]) -> AsyncIterator[dict[str, Any]]:
    """Yield the JSON payload of each server-sent event; comments and ids are skipped."""
    data: list[str] = []
    async for line in lines:
        if line == "":
            if data:
                yield json.loads("\n".join(data))
                data = []
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))


async def _load_snapshot(
    client: httpx.AsyncClient, views: ChannelViews, metrics: FeedMetrics
) -> None:
    response = await client.get("/stock")
    response.raise_for_status()
    body = response.json()
    views.live.load(body["stock"], int(body["seq"]))
    views.refresh_marketplace()
    metrics.seq.set(views.live.seq)
    metrics.marketplace_seq.set(views.marketplace.seq)


async def _stream_changes(
    client: httpx.AsyncClient, views: ChannelViews, metrics: FeedMetrics
) -> None:
    params = {"after": views.live.seq}
    async with client.stream("GET", "/events", params=params) as response:
        response.raise_for_status()
        async for change in parse_sse(response.aiter_lines()):
            if int(change["seq"]) > views.live.seq + 1:
                raise FeedGapError(f"feed jumped from seq {views.live.seq} to {change['seq']}")
            if views.live.apply(change):
                metrics.lag.observe(max(0.0, time.time() - float(change["ts"])))
                metrics.seq.set(views.live.seq)


async def follow_inventory(
    client: httpx.AsyncClient, views: ChannelViews, metrics: FeedMetrics
) -> None:
    """Run until cancelled: load the snapshot once, then apply every change in seq order.

    On any error it waits a short, growing backoff and resumes from the last applied
    seq; a gap in the feed forces a fresh snapshot.
    """
    backoff = BACKOFF_START
    need_snapshot = True
    while True:
        started = time.monotonic()
        try:
            if need_snapshot:
                await _load_snapshot(client, views, metrics)
                need_snapshot = False
            await _stream_changes(client, views, metrics)
        except FeedGapError as err:
            log.warning("%s; reloading the snapshot", err)
            need_snapshot = True
        except (httpx.HTTPError, ValueError, KeyError) as err:
            log.debug("inventory feed interrupted: %r", err)
        except Exception:  # a bug must not silently freeze the view: log it and retry
            log.exception("unexpected error following the inventory feed; retrying")
        if time.monotonic() - started > 2 * BACKOFF_MAX:
            backoff = BACKOFF_START  # the stream was healthy for a while: reconnect fast
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, BACKOFF_MAX)


async def refresh_marketplace_forever(views: ChannelViews, metrics: FeedMetrics) -> None:
    """Run until cancelled: copy the live view to the marketplace every sync interval."""
    if views.marketplace_sync_seconds <= 0:
        return
    while True:
        await asyncio.sleep(views.marketplace_sync_seconds)
        if views.live.loaded:
            views.refresh_marketplace()
            metrics.marketplace_seq.set(views.marketplace.seq)
