"""A replica's in-memory view of available stock, and the lagging marketplace copy of it."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from .schemas import Channel

__all__ = ["ChannelViews", "StockView", "choose_location"]


class StockView:
    """Available units per sku and location, as of change-log position `seq`.

    Changes carry absolute levels, not deltas, so applying one twice is harmless;
    only changes newer than `seq` are applied.
    """

    def __init__(self) -> None:
        self.levels: dict[str, dict[str, int]] = {}
        self.seq = 0
        self.as_of = 0.0
        self.loaded = False

    def load(self, stock: Mapping[str, Mapping[str, Mapping[str, int]]], seq: int) -> None:
        """Replace everything with an inventory snapshot (`GET /stock`) taken at `seq`."""
        self.levels = {
            sku: {loc: int(counts["available"]) for loc, counts in locs.items()}
            for sku, locs in stock.items()
        }
        self.seq = seq
        self.as_of = time.time()
        self.loaded = True

    def apply(self, change: Mapping[str, Any]) -> bool:
        """Apply one change event; return False if it is not newer than the view."""
        seq = int(change["seq"])
        if seq <= self.seq:
            return False
        self.levels.setdefault(change["sku"], {})[change["location"]] = int(change["available"])
        self.seq = seq
        self.as_of = time.time()
        return True

    def locations(self, sku: str) -> dict[str, int] | None:
        """Available units per location for `sku`, or None if the sku is unknown."""
        levels = self.levels.get(sku)
        return None if levels is None else dict(levels)

    def available(self, sku: str, location: str) -> int:
        """Available units of `sku` at `location` (0 when unknown)."""
        return self.levels.get(sku, {}).get(location, 0)

    def copy(self) -> StockView:
        """A frozen copy stamped with the time it was taken."""
        other = StockView()
        other.levels = {sku: dict(locs) for sku, locs in self.levels.items()}
        other.seq = self.seq
        other.as_of = time.time()
        other.loaded = self.loaded
        return other


class ChannelViews:
    """The live view for web, app and store; a periodically refreshed copy for marketplace."""

    def __init__(self, marketplace_sync_seconds: float) -> None:
        self.marketplace_sync_seconds = marketplace_sync_seconds
        self.live = StockView()
        self.marketplace = StockView()

    def for_channel(self, channel: Channel) -> StockView:
        """The view a channel reads; marketplace reads live data only when sync is 0."""
        if channel is Channel.MARKETPLACE and self.marketplace_sync_seconds > 0:
            return self.marketplace
        return self.live

    def refresh_marketplace(self) -> None:
        """Publish the live view to the marketplace feed."""
        self.marketplace = self.live.copy()


def choose_location(
    view: StockView, sku: str, eligible: Callable[[str], bool] = lambda _: True
) -> str | None:
    """The `eligible` location with the most available units of `sku` (ties: lowest name)."""
    levels = {loc: n for loc, n in (view.locations(sku) or {}).items() if eligible(loc)}
    if not levels:
        return None
    return min(levels, key=lambda loc: (-levels[loc], loc))
