"""How an order is placed: v1 asks inventory atomically; v2 is the realistic regression.

v2 decides on the replica's (possibly stale) channel view, waits on a slow step, then
tells inventory to decrement unconditionally, so concurrent orders on a hot SKU
oversell and placement p99 rises well above 250 ms.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from .inventory_client import InventoryClient
from .schemas import Line
from .stock_view import StockView

__all__ = ["V2_DELAY_SECONDS", "Placement", "Placer", "V1Placer", "V2Placer"]

V2_DELAY_SECONDS = (0.2, 0.45)


@dataclass(frozen=True)
class Placement:
    """The outcome of placing one order."""

    status: Literal["confirmed", "rejected", "error"]
    reason: str | None = None
    sku: str | None = None
    detail: str = ""


class Placer(Protocol):
    """Places one already-claimed order at a known location."""

    async def place(
        self, order_id: str, location: str, lines: Sequence[Line], view: StockView
    ) -> Placement: ...


def _from_reply(kind: str, sku: str | None, detail: str) -> Placement:
    if kind == "reserved":
        return Placement("confirmed")
    if kind == "out_of_stock":
        return Placement("rejected", "out_of_stock", sku)
    return Placement("error", "inventory_unavailable", None, detail)


class V1Placer:
    """Correct: inventory checks and commits every line in one transaction."""

    def __init__(self, inventory: InventoryClient) -> None:
        self.inventory = inventory

    async def place(
        self, order_id: str, location: str, lines: Sequence[Line], view: StockView
    ) -> Placement:
        reply = await self.inventory.reserve(order_id, location, lines, atomic=True)
        return _from_reply(reply.kind, reply.body.get("sku"), reply.detail)


class V2Placer:
    """Buggy on purpose: check-then-act on the channel view, plus a slow step."""

    def __init__(
        self,
        inventory: InventoryClient,
        rng: random.Random,
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self.inventory = inventory
        self.rng = rng
        self.sleep = sleep

    async def place(
        self, order_id: str, location: str, lines: Sequence[Line], view: StockView
    ) -> Placement:
        wanted = Counter[str]()
        for line in lines:
            wanted[line.sku] += line.qty
        short = next((s for s, q in wanted.items() if view.available(s, location) < q), None)
        await self.sleep(self.rng.uniform(*V2_DELAY_SECONDS))
        if short is not None:
            return Placement("rejected", "out_of_stock", short)
        reply = await self.inventory.reserve(order_id, location, lines, atomic=False)
        if reply.kind == "out_of_stock":  # cannot happen with atomic=False; be explicit
            return Placement("error", "inventory_refused", None, reply.detail)
        return _from_reply(reply.kind, None, reply.detail)
