"""The target adapter: how peakops talks to an OMS, in one small, documented interface.

Shopper journeys build their requests with it (sent by the load generator's own HTTP
client, so the hot path stays Locust's) and read outcomes with it; stock probes and
the end-of-run resolution of unknown outcomes call it directly. To test another OMS,
implement ``OmsAdapter`` (docs/adapters.md); ``ReferenceOmsAdapter`` is the default.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

__all__ = [
    "HttpCall",
    "OmsAdapter",
    "Outcome",
    "ReferenceOmsAdapter",
    "StockRow",
]


@dataclass(frozen=True)
class HttpCall:
    """A request a journey sends: ``method`` and ``path`` (relative to the OMS URL)."""

    method: str
    path: str
    json: dict[str, Any] | None = None


@dataclass(frozen=True)
class Outcome:
    """What became of an order operation: ``ok`` applied, ``fail`` not, ``info`` unknown."""

    phase: str
    order_id: str | None = None
    location: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class StockRow:
    """One stock reading for a SKU at a location (from the truth or a channel view)."""

    sku: str
    location: str
    available: int
    on_hand: int | None = None
    reserved: int | None = None
    committed: int | None = None


class OmsAdapter(Protocol):
    """Everything peakops needs from an OMS."""

    def place_call(
        self, key: str, channel: str, sku: str, qty: int, location: str | None
    ) -> HttpCall: ...
    def place_outcome(self, status: int, body: dict[str, Any] | None) -> Outcome: ...
    def cancel_call(self, order_id: str) -> HttpCall: ...
    def cancel_outcome(self, status: int, body: dict[str, Any] | None) -> Outcome: ...
    def stock_check_call(self, sku: str, channel: str) -> HttpCall: ...
    def order_by_key(self, key: str) -> Outcome: ...
    def order_cancelled(self, order_id: str) -> Outcome: ...
    def read_truth(self, sku: str) -> list[StockRow]: ...
    def read_all_truth(self) -> list[StockRow]: ...
    def read_view(self, sku: str, channel: str) -> list[StockRow]: ...
    def list_skus(self) -> list[str]: ...


def _transport_unknown(status: int) -> bool:
    """Status 0 is a transport failure (timeout, reset); 5xx may have been applied."""
    return status == 0 or status >= 500


class ReferenceOmsAdapter:
    """The embedded reference OMS: orders on one URL, the inventory (truth) on another."""

    def __init__(self, orders_url: str, inventory_url: str | None, *, timeout_s: float = 5.0):
        self._orders = httpx.Client(base_url=orders_url, timeout=timeout_s, trust_env=False)
        self._inventory = (
            httpx.Client(base_url=inventory_url, timeout=timeout_s, trust_env=False)
            if inventory_url
            else None
        )

    def close(self) -> None:
        self._orders.close()
        if self._inventory is not None:
            self._inventory.close()

    # -- requests the journeys send -------------------------------------------------

    def place_call(
        self, key: str, channel: str, sku: str, qty: int, location: str | None
    ) -> HttpCall:
        body = {"idempotency_key": key, "channel": channel, "location": location,
                "lines": [{"sku": sku, "qty": qty}]}  # fmt: skip
        return HttpCall("POST", "/orders", body)

    def place_outcome(self, status: int, body: dict[str, Any] | None) -> Outcome:
        body = body or {}
        if status in (200, 201) and body.get("status") == "confirmed":
            return Outcome("ok", body.get("order_id"), body.get("location"))
        if status == 409:
            return Outcome("fail", body.get("order_id"), reason=str(body.get("reason", "rejected")))
        if _transport_unknown(status):
            return Outcome(
                "info", body.get("order_id"), reason=f"http {status}" if status else "transport"
            )
        return Outcome("fail", reason=f"http {status}")

    def cancel_call(self, order_id: str) -> HttpCall:
        return HttpCall("POST", f"/orders/{order_id}/cancel")

    def cancel_outcome(self, status: int, body: dict[str, Any] | None) -> Outcome:
        if status == 200:
            return Outcome("ok", (body or {}).get("order_id"))
        if _transport_unknown(status):
            return Outcome("info", reason=f"http {status}" if status else "transport")
        return Outcome("fail", reason=f"http {status}")

    def stock_check_call(self, sku: str, channel: str) -> HttpCall:
        return HttpCall("GET", f"/stock/{sku}?channel={channel}")

    # -- what probes and the resolution call ------------------------------------------

    def order_by_key(self, key: str) -> Outcome:
        """Was the order with this idempotency key applied? (resolving an unknown place)"""
        resp = self._orders.get("/orders", params={"idempotency_key": key})
        if resp.status_code == 404:
            return Outcome("fail", reason="no such order")
        if resp.status_code != 200:
            return Outcome("info", reason=f"http {resp.status_code}")
        order = resp.json()
        status = order.get("status")
        if status in ("confirmed", "cancelled"):  # cancelled: it was placed, then cancelled
            return Outcome("ok", order.get("order_id"), order.get("location"))
        if status == "rejected":
            return Outcome("fail", order.get("order_id"), reason="out_of_stock")
        return Outcome("info", order.get("order_id"), reason=f"order {status}")

    def order_cancelled(self, order_id: str) -> Outcome:
        """Was this order cancelled? (resolving an unknown cancel)"""
        resp = self._orders.get(f"/orders/{order_id}")
        if resp.status_code != 200:
            return Outcome("info", order_id, reason=f"http {resp.status_code}")
        status = resp.json().get("status")
        return Outcome("ok" if status == "cancelled" else "fail", order_id, reason=status)

    def read_truth(self, sku: str) -> list[StockRow]:
        if self._inventory is None:
            return []
        data = self._inventory.get(f"/stock/{sku}").raise_for_status().json()
        return [_truth_row(sku, loc, counts) for loc, counts in sorted(data["locations"].items())]

    def read_all_truth(self) -> list[StockRow]:
        if self._inventory is None:
            return []
        data = self._inventory.get("/stock").raise_for_status().json()
        return [
            _truth_row(sku, loc, counts)
            for sku, locations in sorted(data["stock"].items())
            for loc, counts in sorted(locations.items())
        ]

    def read_view(self, sku: str, channel: str) -> list[StockRow]:
        resp = self._orders.get(f"/stock/{sku}", params={"channel": channel})
        data = resp.raise_for_status().json()
        return [StockRow(sku, loc, int(n)) for loc, n in sorted(data["locations"].items())]

    def list_skus(self) -> list[str]:
        if self._inventory is None:
            return []
        return list(self._inventory.get("/skus").raise_for_status().json()["skus"])


def _truth_row(sku: str, location: str, counts: dict[str, Any]) -> StockRow:
    return StockRow(
        sku, location, int(counts["available"]), int(counts["on_hand"]),
        int(counts["reserved"]), int(counts["committed"]),
    )  # fmt: skip


def timed(call: Any, *args: Any) -> tuple[float, float, Any]:
    """Run ``call`` and return (sent, received, result) in Unix seconds."""
    t0 = time.time()
    result = call(*args)
    return t0, time.time(), result
